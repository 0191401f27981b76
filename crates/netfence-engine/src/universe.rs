//! Every endpoint the engine reasons about: pods (and workload stand-ins), nodes,
//! and external address groups.

use std::net::IpAddr;

use serde::Serialize;

use crate::addr::AddressSpace;
use netfence_model::{AdminPeerKind, Cluster, EndpointSource};

pub type EpId = usize;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EndpointKind {
    Pod,
    /// A workload whose pods are not in the input (one endpoint for all of them).
    Workload,
    /// Cluster DNS assumed because the input has none.
    SyntheticDns,
    Node,
    External,
}

#[derive(Clone, Debug)]
pub struct EngineEndpoint {
    /// `ns/pod`, `ns/kind/name`, `node:NAME`, or a comma-joined CIDR list.
    pub id: String,
    pub kind: EndpointKind,
    /// Index into `cluster.endpoints` (pods, workloads, synthetic) or `cluster.nodes`.
    pub model_index: Option<usize>,
    pub namespace: Option<String>,
    /// The address used for ipBlock matching: the pod's first IP, the node's first address.
    pub ip: Option<IpAddr>,
    pub ips: Vec<IpAddr>,
    /// Node the pod runs on, or the node itself.
    pub node: Option<String>,
    /// Pods that selectors can select (not hostNetwork pods treated as node traffic).
    pub selectable: bool,
    /// Traffic from it counts as "from node N" (nodes, hostNetwork pods on N).
    pub acts_as_node: Option<String>,
    /// Address group of `ip` (or the external group itself), for ipBlock matching.
    pub addr_group: Option<usize>,
    /// A domain endpoint (`dns:PATTERN`, an admin `domainNames` entry): the
    /// pattern, normalised (`domain_key`). Its addresses are unknown.
    pub domain: Option<String>,
}

/// A domain name or pattern as compared: lowercase, without a final dot.
pub fn domain_key(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// Whether every name `endpoint` (a normalised pattern, or `*` for any other
/// name) stands for matches `pattern` (normalised): the same pattern, or
/// `*.S` covering it (one or more whole labels before `.S`).
pub fn domain_covers(pattern: &str, endpoint: &str) -> bool {
    if pattern == endpoint {
        return true;
    }
    let Some(suffix) = pattern.strip_prefix("*.") else {
        return false;
    };
    let name = endpoint.strip_prefix("*.").unwrap_or(endpoint);
    name.len() > suffix.len() + 1 && name.ends_with(suffix) && {
        let cut = name.len() - suffix.len() - 1;
        name.as_bytes().get(cut) == Some(&b'.')
    }
}

/// The domain endpoints of the input: every pattern a `domainNames` peer
/// writes, then `*` for any name none of them covers. None without such peers.
pub fn domain_patterns(cluster: &Cluster) -> Vec<String> {
    let mut out: Vec<String> = cluster
        .admin_policies
        .iter()
        .flat_map(|a| &a.egress)
        .flat_map(|r| &r.peers)
        .filter_map(|p| match &p.kind {
            AdminPeerKind::DomainNames(names) => Some(names),
            _ => None,
        })
        .flatten()
        .map(|n| domain_key(n))
        .collect();
    out.sort();
    out.dedup();
    if !out.is_empty() {
        out.push("*".to_string());
    }
    out
}

impl EngineEndpoint {
    pub fn is_pod_like(&self) -> bool {
        matches!(
            self.kind,
            EndpointKind::Pod | EndpointKind::Workload | EndpointKind::SyntheticDns
        )
    }
}

/// Builds the endpoint list: model endpoints in model order, then nodes, then
/// external groups, then domain endpoints.
pub fn build(cluster: &Cluster, space: &AddressSpace) -> Vec<EngineEndpoint> {
    let sem = &cluster.semantics;
    let mut out =
        Vec::with_capacity(cluster.endpoints.len() + cluster.nodes.len() + space.groups.len());
    for (i, e) in cluster.endpoints.iter().enumerate() {
        let as_node = e.host_network && sem.host_network_as_node;
        let ip = e.ips.first().copied();
        let ip_matchable = as_node || sem.ip_block_matches_pods;
        out.push(EngineEndpoint {
            id: e.id.clone(),
            kind: match e.source {
                EndpointSource::Pod => EndpointKind::Pod,
                EndpointSource::Workload { .. } => EndpointKind::Workload,
                EndpointSource::SyntheticDns => EndpointKind::SyntheticDns,
            },
            model_index: Some(i),
            namespace: Some(e.namespace.clone()),
            ip,
            ips: e.ips.clone(),
            node: e.node.clone(),
            selectable: !as_node,
            acts_as_node: if as_node { e.node.clone() } else { None },
            addr_group: ip.filter(|_| ip_matchable).map(|ip| space.group_of(ip)),
            domain: None,
        });
    }
    for (i, n) in cluster.nodes.iter().enumerate() {
        let ip = n.addresses.first().copied();
        out.push(EngineEndpoint {
            id: format!("node:{}", n.name),
            kind: EndpointKind::Node,
            model_index: Some(i),
            namespace: None,
            ip,
            ips: n.addresses.clone(),
            node: Some(n.name.clone()),
            selectable: false,
            acts_as_node: Some(n.name.clone()),
            addr_group: ip.map(|ip| space.group_of(ip)),
            domain: None,
        });
    }
    for (g, group) in space.groups.iter().enumerate() {
        out.push(EngineEndpoint {
            id: group.id.clone(),
            kind: EndpointKind::External,
            model_index: None,
            namespace: None,
            ip: None,
            ips: Vec::new(),
            node: None,
            selectable: false,
            acts_as_node: None,
            addr_group: Some(g),
            domain: None,
        });
    }
    for pattern in domain_patterns(cluster) {
        out.push(EngineEndpoint {
            id: format!("dns:{pattern}"),
            kind: EndpointKind::External,
            model_index: None,
            namespace: None,
            ip: None,
            ips: Vec::new(),
            node: None,
            selectable: false,
            acts_as_node: None,
            addr_group: None,
            domain: Some(pattern),
        });
    }
    out
}
