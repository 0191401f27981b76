//! The cluster DNS: when the input has no DNS pods, a synthetic endpoint stands
//! for them, so that "can this pod resolve names" has an answer.

use super::ClusterBuilder;
use crate::diag::{Anchor, Diagnostic};
use crate::labels::{Labels, Selector};
use crate::model::*;

impl ClusterBuilder<'_> {
    pub(super) fn add_cluster_dns(&mut self, diags: &mut Vec<Diagnostic>) {
        let spec = self
            .opts
            .cluster_dns
            .clone()
            .unwrap_or_else(|| "kube-system/k8s-app=kube-dns".into());
        let (ns, selector) = match spec.split_once('/') {
            Some((ns, sel)) => (ns.to_string(), sel.to_string()),
            None => ("kube-system".to_string(), spec.clone()),
        };
        let selector = match Selector::parse_kubectl(&selector) {
            Ok(s) => s,
            Err(e) => {
                diags.push(
                    Diagnostic::error(format!("--cluster-dns `{spec}`: {e}"), Anchor::None)
                        .with_help("write NAMESPACE/SELECTOR, e.g. `kube-system/k8s-app=kube-dns`"),
                );
                return;
            }
        };
        let found = self
            .cluster
            .endpoints
            .iter()
            .any(|e| e.namespace == ns && !e.host_network && selector.matches(&e.labels));
        if found {
            return;
        }
        if !self.cluster.namespaces.iter().any(|n| n.name == ns) {
            self.implicit_namespace(&ns);
        }
        let labels: Labels = selector
            .requirements
            .iter()
            .filter(|r| r.operator == crate::labels::Operator::In)
            .filter_map(|r| r.values.iter().next().map(|v| (r.key.clone(), v.clone())))
            .collect();
        diags.push(Diagnostic::note(
            format!("no cluster DNS pods in the input ({ns}/{}); assuming a synthetic cluster-DNS endpoint serving 53/UDP and 53/TCP", selector.to_kubectl()),
            Anchor::None,
        ));
        self.cluster.endpoints.push(Endpoint {
            id: format!("{ns}/synthetic/cluster-dns"),
            namespace: ns,
            name: "cluster-dns".into(),
            source: EndpointSource::SyntheticDns,
            labels,
            ips: Vec::new(),
            node: None,
            ports: vec![
                ContainerPort {
                    name: Some("dns".into()),
                    port: 53,
                    protocol: Protocol::Udp,
                },
                ContainerPort {
                    name: Some("dns-tcp".into()),
                    port: 53,
                    protocol: Protocol::Tcp,
                },
            ],
            host_network: false,
            workload: None,
            origin: None,
        });
    }
}
