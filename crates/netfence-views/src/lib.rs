//! What netfence shows. Each view is computed as data (serialised as the stable
//! JSON documented in docs/json.md) and rendered as text; the CLI only picks one.
//! Views ask the engine; they never decide reachability themselves.

pub mod check;
pub mod describe;
pub mod matrix;
pub mod report;
pub mod yaml;

use netfence_model::{Cluster, FieldLoc, Sources};
use netfence_yaml::PathSegment;

/// `file:line:col` of a policy field such as `spec.ingress[0]`.
pub fn policy_location(sources: &Sources, cluster: &Cluster, policy: usize, path: &str) -> String {
    let p = &cluster.policies[policy];
    let mut segs = Vec::new();
    for part in path.split('.') {
        match part.split_once('[') {
            Some((key, rest)) => {
                segs.push(PathSegment::Key(key.to_string()));
                if let Ok(i) = rest.trim_end_matches(']').parse::<usize>() {
                    segs.push(PathSegment::Index(i));
                }
            }
            None => segs.push(PathSegment::Key(part.to_string())),
        }
    }
    let loc = FieldLoc {
        origin: p.origin.clone(),
        path: segs,
    };
    match sources.locate(&loc, false) {
        Some(l) => format!("{}:{}:{}", sources.name(l.file), l.span.line, l.span.col),
        None => sources.name(p.origin.file).to_string(),
    }
}

/// At most six ids, then `... (N in all)`: lists stay readable at scale.
pub fn short_list(ids: &[String]) -> String {
    if ids.len() <= 6 {
        ids.join(", ")
    } else {
        format!("{}, ... ({} in all)", ids[..5].join(", "), ids.len())
    }
}

/// Why a pair exception lets traffic through, for people.
pub fn exception_text(e: netfence_engine::Exception) -> &'static str {
    match e {
        netfence_engine::Exception::SelfTraffic => "a pod can always reach itself",
        netfence_engine::Exception::FromOwnNode => {
            "traffic from a pod's own node (kubelet probes) is always allowed"
        }
        netfence_engine::Exception::ToOwnNode => {
            "a pod may always reach its own node (--egress-to-own-node)"
        }
    }
}

/// The group an endpoint is shown under: its workload (`ns/kind/name`) when
/// known, else its own id. Outputs list workloads, not pod replicas.
pub fn group_of(engine: &netfence_engine::Engine, ep: netfence_engine::EpId) -> String {
    let e = engine.endpoint(ep);
    match e.model_index.filter(|_| e.is_pod_like()) {
        Some(i) => engine.cluster.endpoints[i].group(),
        None => e.id.clone(),
    }
}

/// The policies that make a namespace default-deny in `dir`: those selecting
/// every pod there (`podSelector: {}`) and isolating that direction.
pub fn default_deny_policies(
    cluster: &Cluster,
    namespace: &str,
    dir: netfence_model::Direction,
) -> Vec<usize> {
    cluster
        .policies
        .iter()
        .enumerate()
        .filter(|(_, p)| p.namespace == namespace && makes_default_deny(p, dir))
        .map(|(i, _)| i)
        .collect()
}

/// Whether a policy makes its namespace default-deny in `dir` (see
/// [`default_deny_policies`]).
pub fn makes_default_deny(policy: &netfence_model::Policy, dir: netfence_model::Direction) -> bool {
    policy.pod_selector.is_empty() && policy.isolates(dir)
}

/// [`default_deny_policies`] of every namespace at once, for views that ask
/// about all of them: namespace → (ingress, egress) policies.
pub fn default_deny_by_namespace(
    cluster: &Cluster,
) -> std::collections::HashMap<&str, [Vec<usize>; 2]> {
    let mut out: std::collections::HashMap<&str, [Vec<usize>; 2]> = Default::default();
    for (i, p) in cluster.policies.iter().enumerate() {
        for (d, dir) in [
            netfence_model::Direction::Ingress,
            netfence_model::Direction::Egress,
        ]
        .into_iter()
        .enumerate()
        {
            if makes_default_deny(p, dir) {
                out.entry(p.namespace.as_str()).or_default()[d].push(i);
            }
        }
    }
    out
}

/// Whether a pod reaches cluster DNS on port 53, per protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DnsReach {
    pub udp: bool,
    pub tcp: bool,
}

/// Every cluster DNS endpoint of the input (see [`is_cluster_dns`]).
pub fn cluster_dns_endpoints(engine: &netfence_engine::Engine) -> Vec<netfence_engine::EpId> {
    engine
        .pods()
        .filter(|&p| is_cluster_dns(engine, p))
        .collect()
}

/// Whether `pod` may open port 53 to some endpoint of `dns`, over UDP and over TCP.
pub fn dns_reach(
    engine: &netfence_engine::Engine,
    pod: netfence_engine::EpId,
    dns: &[netfence_engine::EpId],
) -> DnsReach {
    use netfence_model::Protocol;
    DnsReach {
        udp: dns
            .iter()
            .any(|&d| engine.allows(pod, d, Protocol::Udp, 53)),
        tcp: dns
            .iter()
            .any(|&d| engine.allows(pod, d, Protocol::Tcp, 53)),
    }
}

/// Whether an endpoint is cluster DNS: the synthetic one, or kube-system pods
/// labelled `k8s-app: kube-dns` (or `coredns`). One definition for every view.
pub fn is_cluster_dns(engine: &netfence_engine::Engine, ep: netfence_engine::EpId) -> bool {
    let e = engine.endpoint(ep);
    e.kind == netfence_engine::EndpointKind::SyntheticDns
        || (e.namespace.as_deref() == Some("kube-system")
            && e.model_index.is_some_and(|i| {
                let l = &engine.cluster.endpoints[i].labels;
                l.get("k8s-app")
                    .is_some_and(|v| v == "kube-dns" || v == "coredns")
            }))
}
