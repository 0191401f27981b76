//! Facts derived from the decisions that several surfaces state: which endpoints
//! are cluster DNS and who reaches them, each namespace's posture, the group an
//! endpoint is shown under. Decided here once, so `report`, `check`, `diff` and
//! `lint` cannot disagree.

use std::collections::{BTreeSet, HashMap};

use netfence_model::{AdminAction, AdminSubject, AdminTier, Direction, Protocol};
use serde::Serialize;

use crate::{Engine, EpId};

/// Whether a pod reaches cluster DNS on port 53, per protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DnsReach {
    pub udp: bool,
    pub tcp: bool,
}

/// A namespace's posture: default-deny per direction and the pods no policy
/// isolates (no NetworkPolicy, and no admin policy judging that direction).
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

/// What one admin rule does across the cluster (semantics.md §2.2): which
/// namespaces it judges, and where NetworkPolicies decide first.
#[derive(Debug, Serialize)]
pub struct AdminRulePosture {
    /// Index into `Cluster::admin_policies`.
    #[serde(skip)]
    pub policy_index: usize,
    /// `Kind/name`.
    pub policy: String,
    pub tier: AdminTier,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<u32>,
    pub direction: Direction,
    pub rule: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule_name: Option<String>,
    pub action: AdminAction,
    /// Namespaces of the input whose pods the policy judges (all of a
    /// namespace's pods with a `namespaces` subject, some with `pods`), sorted.
    pub namespaces: Vec<String>,
    /// Namespaces of the input, for "for N of M namespaces".
    pub of_namespaces: usize,
    /// For Baseline rules and Admin Pass rules: the judged namespaces where a
    /// NetworkPolicy isolates some of the judged pods in `direction`, so it
    /// decides first (re-opens what it allows, denies the rest); sorted. Empty
    /// for Admin Accept and Deny, which no NetworkPolicy can change.
    pub network_policy_decides_in: Vec<String>,
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
                // Open: no NetworkPolicy isolates it and no admin policy
                // judging it can deny in that direction (a Baseline deny closes
                // a pod no NetworkPolicy selects; Accept and Pass alone close
                // nothing).
                let open = |d: Direction| {
                    in_ns
                        .iter()
                        .filter(|&&p| {
                            self.isolating(p, d).is_empty()
                                && self.admin_policies_of(p).iter().all(|&a| {
                                    cluster.admin_policies[a]
                                        .rules(d)
                                        .iter()
                                        .all(|r| r.action != AdminAction::Deny)
                                })
                        })
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

    /// Every admin rule's cluster-wide reach ([`AdminRulePosture`]), in
    /// evaluation order (policies by tier and priority, rules as written,
    /// ingress before egress).
    pub fn admin_postures(&self) -> Vec<AdminRulePosture> {
        let cluster = self.cluster;
        let mut out = Vec::new();
        for (a, policy) in cluster.admin_policies.iter().enumerate() {
            // The subject pods (hostNetwork pods never are), by namespace.
            let subjects: Vec<EpId> = self
                .pods()
                .filter(|&p| self.admin_policies_of(p).contains(&a))
                .collect();
            let mut namespaces: BTreeSet<String> = subjects
                .iter()
                .filter_map(|&p| self.endpoint(p).namespace.clone())
                .collect();
            if let AdminSubject::Namespaces(selector) = &policy.subject {
                // Every pod of these namespaces, including the ones without pods yet.
                namespaces.extend(
                    self.namespaces_matching(selector)
                        .into_iter()
                        .map(String::from),
                );
            }
            for dir in Direction::BOTH {
                let np_decides: BTreeSet<String> = subjects
                    .iter()
                    .filter(|&&p| self.network_policy_decides(p, dir))
                    .filter_map(|&p| self.endpoint(p).namespace.clone())
                    .collect();
                for (r, rule) in policy.rules(dir).iter().enumerate() {
                    let handed_down =
                        policy.tier == AdminTier::Baseline || rule.action == AdminAction::Pass;
                    out.push(AdminRulePosture {
                        policy_index: a,
                        policy: policy.id(),
                        tier: policy.tier,
                        priority: policy.priority,
                        direction: dir,
                        rule: r,
                        rule_name: rule.name.clone(),
                        action: rule.action,
                        namespaces: namespaces.iter().cloned().collect(),
                        of_namespaces: cluster.namespaces.len(),
                        network_policy_decides_in: if handed_down {
                            np_decides.iter().cloned().collect()
                        } else {
                            Vec::new()
                        },
                    });
                }
            }
        }
        out
    }

    /// Whether the NetworkPolicy tier decides for `pod` in `dir` (what reaches
    /// it goes no further): isolated in `dir`, or with `np_selected_is_final`
    /// selected by any NetworkPolicy.
    fn network_policy_decides(&self, pod: EpId, dir: Direction) -> bool {
        let class = &self.classes[self.class_of[pod]];
        !self.isolating(pod, dir).is_empty()
            || (self.cluster.semantics.np_selected_is_final && class.np_selected)
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use netfence_model::{AdminAction, AdminTier, Direction, LoadOptions, load_texts};

    use crate::Engine;

    fn example(file: &str) -> String {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../examples/cluster-default-deny")
            .join(file);
        std::fs::read_to_string(path).unwrap()
    }

    #[test]
    fn admin_postures_name_the_namespaces_that_re_open() {
        let files = [
            "namespaces.yaml",
            "workloads.yaml",
            "policies.yaml",
            "admin-policies.yaml",
        ];
        let texts: Vec<String> = files.iter().map(|f| example(f)).collect();
        let named: Vec<(&str, &str)> = files
            .iter()
            .copied()
            .zip(texts.iter().map(String::as_str))
            .collect();
        let (_, loaded) = load_texts(&named, &LoadOptions::default());
        let loaded = loaded.unwrap();
        let engine = Engine::new(&loaded.cluster);
        let got: Vec<(
            String,
            AdminTier,
            Direction,
            AdminAction,
            usize,
            Vec<String>,
        )> = engine
            .admin_postures()
            .into_iter()
            .map(|p| {
                (
                    p.policy,
                    p.tier,
                    p.direction,
                    p.action,
                    p.namespaces.len(),
                    p.network_policy_decides_in,
                )
            })
            .collect();
        let cnp = |n: &str| format!("ClusterNetworkPolicy/{n}");
        assert_eq!(
            got,
            [
                // An Admin Accept is final: no namespace decides it.
                (
                    cnp("allow-dns"),
                    AdminTier::Admin,
                    Direction::Egress,
                    AdminAction::Accept,
                    5,
                    vec![]
                ),
                // web (frontend) and api (backend) are ingress-isolated.
                (
                    cnp("default-deny"),
                    AdminTier::Baseline,
                    Direction::Ingress,
                    AdminAction::Deny,
                    4,
                    vec!["backend".to_string(), "frontend".to_string()]
                ),
                // Only web is egress-isolated.
                (
                    cnp("default-deny"),
                    AdminTier::Baseline,
                    Direction::Egress,
                    AdminAction::Deny,
                    4,
                    vec!["frontend".to_string()]
                ),
            ]
        );
    }
}
