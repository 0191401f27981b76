//! Facts derived from the decisions that several surfaces state: which endpoints
//! are cluster DNS and who reaches them, each namespace's posture, the group an
//! endpoint is shown under. Decided here once, so `report`, `check`, `diff` and
//! `lint` cannot disagree.

use std::collections::HashMap;

use netfence_model::{Direction, Protocol};
use serde::Serialize;

use crate::{Engine, EpId};

/// Whether a pod reaches cluster DNS on port 53, per protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DnsReach {
    pub udp: bool,
    pub tcp: bool,
}

/// A namespace's posture: default-deny per direction and the pods no policy
/// isolates.
#[derive(Debug, Serialize)]
pub struct NamespacePosture {
    pub namespace: String,
    pub default_deny_ingress: bool,
    pub default_deny_egress: bool,
    pub policies: usize,
    pub pods: usize,
    pub open_ingress: Vec<String>,
    pub open_egress: Vec<String>,
}

/// An egress-isolated pod that cannot reach cluster DNS on UDP or TCP 53.
#[derive(Debug, Serialize)]
pub struct DnsProblem {
    pub pod: String,
    pub isolated_by: Vec<String>,
    pub udp: bool,
    pub tcp: bool,
}

impl Engine<'_> {
    /// Whether an endpoint is cluster DNS, as the input (and `--cluster-dns`)
    /// defines it: [`netfence_model::Cluster::is_cluster_dns`].
    pub fn is_cluster_dns(&self, ep: EpId) -> bool {
        let e = self.endpoint(ep);
        e.model_index
            .filter(|_| e.is_pod_like())
            .is_some_and(|i| self.cluster.is_cluster_dns(&self.cluster.endpoints[i]))
    }

    /// Every cluster DNS endpoint of the input.
    pub fn cluster_dns_endpoints(&self) -> Vec<EpId> {
        self.pods().filter(|&p| self.is_cluster_dns(p)).collect()
    }

    /// Whether `pod` may open port 53 to some endpoint of `dns`, over UDP and TCP.
    pub fn dns_reach(&self, pod: EpId, dns: &[EpId]) -> DnsReach {
        DnsReach {
            udp: dns.iter().any(|&d| self.allows(pod, d, Protocol::Udp, 53)),
            tcp: dns.iter().any(|&d| self.allows(pod, d, Protocol::Tcp, 53)),
        }
    }

    /// Egress-isolated pods that cannot reach cluster DNS on UDP or TCP 53.
    pub fn dns_problems(&self) -> Vec<DnsProblem> {
        let dns_eps = self.cluster_dns_endpoints();
        let mut out = Vec::new();
        for p in self.pods() {
            let e = self.endpoint(p);
            let isolating = self.isolating(p, Direction::Egress);
            if self.is_cluster_dns(p) || !e.selectable || isolating.is_empty() {
                continue;
            }
            let DnsReach { udp, tcp } = self.dns_reach(p, &dns_eps);
            if !udp || !tcp {
                out.push(DnsProblem {
                    pod: e.id.clone(),
                    isolated_by: isolating
                        .iter()
                        .map(|&i| self.cluster.policies[i].id())
                        .collect(),
                    udp,
                    tcp,
                });
            }
        }
        out
    }

    /// Each namespace's posture, in namespace order.
    pub fn namespace_postures(&self) -> Vec<NamespacePosture> {
        let cluster = self.cluster;
        let mut pods: HashMap<&str, Vec<EpId>> = HashMap::new();
        for p in self.pods() {
            if let Some(ns) = self.endpoint(p).namespace.as_deref() {
                pods.entry(ns).or_default().push(p);
            }
        }
        let mut policies: HashMap<&str, usize> = HashMap::new();
        for p in &cluster.policies {
            *policies.entry(p.namespace.as_str()).or_default() += 1;
        }
        let default_deny = cluster.default_deny_by_namespace();
        cluster
            .namespaces
            .iter()
            .map(|ns| {
                let in_ns: &[EpId] = pods.get(ns.name.as_str()).map_or(&[], Vec::as_slice);
                let open = |d: Direction| {
                    in_ns
                        .iter()
                        .filter(|&&p| self.isolating(p, d).is_empty())
                        .map(|&p| self.endpoint(p).id.clone())
                        .collect::<Vec<_>>()
                };
                let deny = default_deny.get(ns.name.as_str());
                let default_deny = |d: usize| deny.is_some_and(|x| !x[d].is_empty());
                NamespacePosture {
                    namespace: ns.name.clone(),
                    default_deny_ingress: default_deny(0),
                    default_deny_egress: default_deny(1),
                    policies: policies.get(ns.name.as_str()).copied().unwrap_or(0),
                    pods: in_ns.len(),
                    open_ingress: open(Direction::Ingress),
                    open_egress: open(Direction::Egress),
                }
            })
            .collect()
    }

    /// The group an endpoint is shown under: its workload (`ns/kind/name`) when
    /// known, else its own id. Outputs list workloads, not pod replicas.
    pub fn group_of(&self, ep: EpId) -> String {
        let e = self.endpoint(ep);
        match e.model_index.filter(|_| e.is_pod_like()) {
            Some(i) => self.cluster.endpoints[i].group(),
            None => e.id.clone(),
        }
    }
}
