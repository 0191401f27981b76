//! Builders for the core kinds: Namespace, Node, Pod, Service.

use k8s_openapi::api::core::v1 as core;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::fields::{check_labels, container_ports, parse_protocol, port_number};
use super::{ClusterBuilder, root_loc};
use crate::diag::{Anchor, Diagnostic};
use crate::model::*;
use crate::objects::RawObject;
use crate::sources::FieldLoc;
use crate::validate;

impl ClusterBuilder<'_> {
    pub(super) fn add_namespace(
        &mut self,
        meta: ObjectMeta,
        obj: &RawObject,
        diags: &mut Vec<Diagnostic>,
    ) {
        if let Some(problem) = validate::dns1123_label_problem(&obj.name) {
            diags.push(Diagnostic::error(
                format!("invalid namespace name `{}`: {problem}", obj.name),
                Anchor::Field {
                    loc: root_loc(&obj.origin).key("metadata").key("name"),
                    key: false,
                },
            ));
        }
        let mut labels = meta.labels.unwrap_or_default();
        check_labels(
            &labels,
            &root_loc(&obj.origin).key("metadata").key("labels"),
            diags,
        );
        labels.insert(NAMESPACE_NAME_LABEL.into(), obj.name.clone());
        self.cluster.namespaces.push(Namespace {
            name: obj.name.clone(),
            labels,
            labels_known: true,
            origin: Some(obj.origin.clone()),
        });
    }

    pub(super) fn add_node(
        &mut self,
        node: core::Node,
        obj: &RawObject,
        diags: &mut Vec<Diagnostic>,
    ) {
        let mut addresses = Vec::new();
        let loc = root_loc(&obj.origin).key("status").key("addresses");
        for (i, a) in node
            .status
            .iter()
            .flat_map(|s| s.addresses.iter().flatten())
            .enumerate()
        {
            if a.type_ == "Hostname" || a.type_.ends_with("DNS") {
                continue;
            }
            match validate::parse_ip(&a.address) {
                Ok(ip) => addresses.push(ip),
                Err(e) => diags.push(Diagnostic::error(
                    format!("invalid node address: {e}"),
                    Anchor::Field {
                        loc: loc.index(i).key("address"),
                        key: false,
                    },
                )),
            }
        }
        addresses.sort();
        addresses.dedup();
        self.cluster.nodes.push(Node {
            name: obj.name.clone(),
            labels: node.metadata.labels.unwrap_or_default(),
            addresses,
            origin: Some(obj.origin.clone()),
        });
    }

    pub(super) fn add_pod(
        &mut self,
        pod: core::Pod,
        ns: &str,
        obj: &RawObject,
        diags: &mut Vec<Diagnostic>,
    ) {
        let root = root_loc(&obj.origin);
        let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
        if matches!(phase, Some("Succeeded" | "Failed")) {
            diags.push(Diagnostic::note(
                format!("Pod {ns}/{} is {}: it is not an endpoint (its IP may belong to another pod now)", obj.name, phase.unwrap_or_default()),
                Anchor::Field { loc: root.key("status").key("phase"), key: false },
            ));
            return;
        }
        let labels = pod.metadata.labels.clone().unwrap_or_default();
        check_labels(&labels, &root.key("metadata").key("labels"), diags);
        let mut ips = Vec::new();
        if let Some(status) = &pod.status {
            let sloc = root.key("status");
            let listed: Vec<(FieldLoc, &str)> = match &status.pod_ips {
                Some(list) if !list.is_empty() => list
                    .iter()
                    .enumerate()
                    .map(|(i, p)| (sloc.key("podIPs").index(i).key("ip"), p.ip.as_str()))
                    .collect(),
                _ => status
                    .pod_ip
                    .iter()
                    .map(|ip| (sloc.key("podIP"), ip.as_str()))
                    .collect(),
            };
            for (loc, text) in listed {
                match validate::parse_ip(text) {
                    Ok(ip) => {
                        if !ips.contains(&ip) {
                            ips.push(ip)
                        }
                    }
                    Err(e) => diags.push(Diagnostic::error(
                        format!("invalid pod IP: {e}"),
                        Anchor::Field { loc, key: false },
                    )),
                }
            }
        }
        let spec = pod.spec.unwrap_or_default();
        if let Some(node) = spec.node_name.as_deref().filter(|n| !n.is_empty())
            && let Some(problem) = validate::dns1123_subdomain_problem(node)
        {
            diags.push(
                Diagnostic::error(
                    format!("invalid node name `{}`: {problem}", node.escape_debug()),
                    Anchor::Field { loc: root.key("spec").key("nodeName"), key: false },
                )
                .with_help("a Node name is a DNS subdomain: at most 253 lowercase letters, digits, `-` and `.`, each part starting and ending with a letter or digit"),
            );
        }
        let ports = container_ports(&spec, &root.key("spec"), diags);
        self.reference(ns, &obj.origin);
        let owner = pod
            .metadata
            .owner_references
            .unwrap_or_default()
            .into_iter()
            .max_by_key(|o| o.controller.unwrap_or(false));
        self.cluster.endpoints.push(Endpoint {
            id: format!("{ns}/{}", obj.name),
            namespace: ns.to_string(),
            name: obj.name.clone(),
            source: EndpointSource::Pod,
            labels,
            ips,
            node: spec.node_name.clone(),
            ports,
            host_network: spec.host_network.unwrap_or(false),
            workload: None,
            origin: Some(obj.origin.clone()),
        });
        self.pod_owners.push(owner);
    }

    pub(super) fn add_service(
        &mut self,
        svc: core::Service,
        ns: &str,
        obj: &RawObject,
        diags: &mut Vec<Diagnostic>,
    ) {
        let root = root_loc(&obj.origin).key("spec");
        let spec = svc.spec.unwrap_or_default();
        let mut ports = Vec::new();
        for (i, p) in spec.ports.iter().flatten().enumerate() {
            let ploc = root.key("ports").index(i);
            let protocol = parse_protocol(p.protocol.as_deref(), &ploc.key("protocol"), diags);
            let Some(port) = port_number(p.port, &ploc.key("port"), diags) else {
                continue;
            };
            let target = match &p.target_port {
                None => PortRef::Range { lo: port, hi: port },
                Some(IntOrString::Int(n)) => {
                    match port_number(*n, &ploc.key("targetPort"), diags) {
                        Some(t) => PortRef::Range { lo: t, hi: t },
                        None => continue,
                    }
                }
                Some(IntOrString::String(s)) => PortRef::Named(s.clone()),
            };
            if let Some(protocol) = protocol {
                ports.push(ServicePort {
                    name: p.name.clone(),
                    port,
                    protocol,
                    target,
                });
            }
        }
        let mut cluster_ips = Vec::new();
        for ip in spec
            .cluster_ips
            .iter()
            .flatten()
            .chain(spec.cluster_ip.iter())
        {
            if let Ok(ip) = validate::parse_ip(ip)
                && !cluster_ips.contains(&ip)
            {
                cluster_ips.push(ip);
            }
        }
        self.reference(ns, &obj.origin);
        self.cluster.services.push(Service {
            namespace: ns.to_string(),
            name: obj.name.clone(),
            selector: spec.selector,
            ports,
            cluster_ips,
            origin: Some(obj.origin.clone()),
        });
    }
}
