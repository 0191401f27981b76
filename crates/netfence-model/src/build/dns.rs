//! The cluster DNS: where it runs (`--cluster-dns`, kept in the cluster so every
//! surface asks the same question) and, when the input has no DNS pods, a
//! synthetic endpoint standing for them, so that "can this pod resolve names"
//! has an answer.

use super::ClusterBuilder;
use crate::diag::{Anchor, Diagnostic};
use crate::model::*;

impl ClusterBuilder<'_> {
    pub(super) fn add_cluster_dns(&mut self, diags: &mut Vec<Diagnostic>) {
        if let Some(spec) = &self.opts.cluster_dns {
            match ClusterDns::parse(spec) {
                Ok(dns) => self.cluster.cluster_dns = dns,
                Err(e) => {
                    diags.push(
                        Diagnostic::error(format!("--cluster-dns `{spec}`: {e}"), Anchor::None)
                            .with_help(
                                "write NAMESPACE/SELECTOR, e.g. `kube-system/k8s-app=kube-dns`",
                            ),
                    );
                    return;
                }
            }
        }
        let cluster = &self.cluster;
        if cluster.endpoints.iter().any(|e| cluster.is_cluster_dns(e)) {
            return;
        }
        let ns = cluster.cluster_dns.namespace.clone();
        if !self.cluster.namespaces.iter().any(|n| n.name == ns) {
            self.implicit_namespace(&ns);
        }
        let labels = self.cluster.cluster_dns.synthetic_labels.clone();
        diags.push(Diagnostic::note(
            format!("no cluster DNS pods in the input ({}); assuming a synthetic cluster-DNS endpoint serving 53/UDP and 53/TCP", self.cluster.cluster_dns.display()),
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
