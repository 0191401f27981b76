//! Why a pair is allowed or denied: per direction, which policies isolate the
//! subject, which rule and peer granted what, and for every other rule why it
//! did not match; with admin policies, which admin or baseline rule decided
//! what, in tier order. The verdicts come from [`Engine::side_classes`] and
//! [`Engine::tiers`]; this module only adds the reasons.

use netfence_model::{AdminTier, Direction, PeerKind, Selector};
use serde::Serialize;

use crate::classes::{NsScope, dir_index};
use crate::eval::{Contribution, Engine, Exception, SideOutcome};
use crate::portset::ConnSet;
use crate::universe::EpId;

#[derive(Clone, Debug, Serialize)]
pub struct PeerCheck {
    pub index: usize,
    pub matched: bool,
    /// Human-readable: what the peer selects and why this endpoint is (not) in it.
    pub reason: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct RuleCheck {
    #[serde(skip)]
    pub policy_index: usize,
    pub policy: String,
    pub rule: usize,
    /// `spec.ingress[0]`.
    pub path: String,
    /// `None`: the rule has no `from`/`to` and matches every peer.
    pub peers: Option<Vec<PeerCheck>>,
    pub peer_matched: bool,
    /// What the rule's ports open towards the destination.
    pub ports: ConnSet,
    /// Why the ports give nothing (a named port not defined on the destination, ...).
    pub ports_note: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SideState {
    Exception,
    NotAPod,
    NotIsolated,
    Isolated,
}

#[derive(Clone, Debug, Serialize)]
pub struct SideExplanation {
    pub direction: Direction,
    /// The pod whose policies apply: the source for egress, the destination for ingress.
    pub subject: String,
    pub peer: String,
    pub state: SideState,
    pub exception: Option<Exception>,
    pub isolated_by: Vec<String>,
    #[serde(skip)]
    pub isolated_by_index: Vec<usize>,
    pub allowed: ConnSet,
    pub grants: Vec<Contribution>,
    pub rules: Vec<RuleCheck>,
    /// Present when admin policies judge the subject: the tiers in order
    /// (`state`, `isolated_by` and `rules` then describe the NetworkPolicy tier).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tiers: Option<TiersExplanation>,
}

/// An admin or baseline rule that decided part of a direction.
#[derive(Clone, Debug, Serialize)]
pub struct TierRuleCheck {
    pub tier: AdminTier,
    #[serde(skip)]
    pub policy_index: usize,
    /// `ClusterNetworkPolicy/NAME`.
    pub policy: String,
    /// None: a v1alpha1 BaselineAdminNetworkPolicy.
    pub priority: Option<u32>,
    pub rule: usize,
    pub rule_name: Option<String>,
    /// `spec.ingress[0]`.
    pub path: String,
    /// As the policy's API spells it: `Accept`/`Allow`, `Deny`, `Pass`.
    pub action: &'static str,
    /// The peer entry that matched, and what it selects.
    pub peer: usize,
    pub peer_text: String,
    /// What this rule decided (what earlier rules left and it matches).
    pub decided: ConnSet,
}

/// One direction through the tiers: Admin rules, what reached the
/// NetworkPolicy tier, Baseline rules, what the default allowed.
#[derive(Clone, Debug, Serialize)]
pub struct TiersExplanation {
    pub admin: Vec<TierRuleCheck>,
    /// No Admin rule decided these, or a Pass handed them over.
    pub to_network_policy: ConnSet,
    /// Left undecided by the NetworkPolicy tier (the subject is not isolated
    /// in this direction).
    pub to_baseline: ConnSet,
    pub baseline: Vec<TierRuleCheck>,
    /// Decided by no tier: allowed by default.
    pub default: ConnSet,
}

#[derive(Clone, Debug, Serialize)]
pub struct Explanation {
    pub src: String,
    pub dst: String,
    pub allowed: ConnSet,
    pub egress: SideExplanation,
    pub ingress: SideExplanation,
}

impl Engine<'_> {
    /// Explains the decision for `src` → `dst`.
    pub fn explain(&self, src: EpId, dst: EpId) -> Explanation {
        self.explain_pair(src, dst, false)
    }

    /// Explains `src` → a Service whose backend is `dst` ([`Engine::allowed_via_service`]).
    pub fn explain_via_service(&self, src: EpId, dst: EpId) -> Explanation {
        self.explain_pair(src, dst, true)
    }

    fn explain_pair(&self, src: EpId, dst: EpId, via_service: bool) -> Explanation {
        let (eg_exc, in_exc) = self.exceptions(src, dst);
        // A pod reaching itself through a Service is still judged by the admin
        // tiers (upstream's hairpin rule).
        let admin_self = via_service && src == dst;
        let egress = self.explain_side(Direction::Egress, src, dst, eg_exc, admin_self);
        let ingress = self.explain_side(Direction::Ingress, dst, src, in_exc, admin_self);
        let allowed = egress.allowed.intersect(&ingress.allowed);
        debug_assert_eq!(
            allowed,
            if via_service {
                self.allowed_via_service(src, dst)
            } else {
                self.allowed(src, dst)
            }
        );
        Explanation {
            src: self.endpoints[src].id.clone(),
            dst: self.endpoints[dst].id.clone(),
            allowed,
            egress,
            ingress,
        }
    }

    fn explain_side(
        &self,
        dir: Direction,
        subject: EpId,
        peer: EpId,
        exception: Option<Exception>,
        admin_self: bool,
    ) -> SideExplanation {
        let mut grants = Vec::new();
        let outcome = self.side_classes(dir, self.class_of[subject], self.class_of[peer], |c| {
            grants.push(c)
        });
        let isolated_by_index = match outcome {
            SideOutcome::Isolated(_) => self.isolating(subject, dir).to_vec(),
            _ => Vec::new(),
        };
        let sc = self.class_of[subject];
        let tiered = match exception {
            _ if self.classes[sc].admin_subject_of.is_empty() => None,
            Some(Exception::SelfTraffic) if admin_self => {
                Some(self.tiers(dir, sc, self.class_of[peer], true))
            }
            Some(Exception::SelfTraffic | Exception::FromOwnNode) => None,
            _ => Some(self.tiers(
                dir,
                sc,
                self.class_of[peer],
                exception == Some(Exception::ToOwnNode),
            )),
        };
        let (state, allowed) = match (&exception, &outcome) {
            (Some(_), _) => (SideState::Exception, ConnSet::all()),
            (None, SideOutcome::NotAPod) => (SideState::NotAPod, ConnSet::all()),
            (None, SideOutcome::NotIsolated) => (SideState::NotIsolated, ConnSet::all()),
            (None, SideOutcome::Isolated(c)) => (SideState::Isolated, c.clone()),
        };
        let dst = match dir {
            Direction::Ingress => subject,
            Direction::Egress => peer,
        };
        let mut rules = Vec::new();
        for &pi in &isolated_by_index {
            let policy = &self.cluster.policies[pi];
            for (ri, rule) in policy.effective_rules(dir).iter().enumerate() {
                let peers = rule.peers.as_ref().map(|list| {
                    list.iter()
                        .enumerate()
                        .map(|(k, p)| {
                            let r = self.resolved.peer_refs[pi][dir_index(dir)][ri][k];
                            let matched = self.peer_ref_matches(r, peer);
                            PeerCheck {
                                index: k,
                                matched,
                                reason: self.peer_reason(
                                    &p.kind,
                                    policy.namespace.as_str(),
                                    peer,
                                    matched,
                                ),
                            }
                        })
                        .collect::<Vec<_>>()
                });
                let peer_matched = peers.as_ref().is_none_or(|l| l.iter().any(|p| p.matched));
                let ports = self.rule_ports_for(rule.ports.as_deref(), dst);
                let ports_note = if ports.is_empty() {
                    Some(self.ports_note(rule.ports.as_deref().unwrap_or(&[]), dst))
                } else {
                    None
                };
                rules.push(RuleCheck {
                    policy_index: pi,
                    policy: policy.id(),
                    rule: ri,
                    path: format!("spec.{}[{ri}]", dir.as_str()),
                    peers,
                    peer_matched,
                    ports,
                    ports_note,
                });
            }
        }
        let allowed = match &tiered {
            Some(t) => t.allowed.clone(),
            None => allowed,
        };
        let tiers = tiered.map(|t| {
            let (admin, baseline): (Vec<_>, Vec<_>) = t
                .steps
                .iter()
                .map(|step| {
                    let policy = &self.cluster.admin_policies[step.policy];
                    let rule = &policy.rules(dir)[step.rule];
                    TierRuleCheck {
                        tier: step.tier,
                        policy_index: step.policy,
                        policy: policy.id(),
                        priority: policy.priority,
                        rule: step.rule,
                        rule_name: rule.name.clone(),
                        path: format!("spec.{}[{}]", dir.as_str(), step.rule),
                        action: step.action.spelled(policy.api),
                        peer: step.peer,
                        peer_text: rule
                            .peers
                            .get(step.peer)
                            .map(|p| p.kind.to_string())
                            .unwrap_or_default(),
                        decided: step.conns.clone(),
                    }
                })
                .partition(|c| c.tier == AdminTier::Admin);
            TiersExplanation {
                admin,
                to_network_policy: t.to_network_policy,
                to_baseline: t.to_baseline,
                baseline,
                default: t.default,
            }
        });
        SideExplanation {
            direction: dir,
            subject: self.endpoints[subject].id.clone(),
            peer: self.endpoints[peer].id.clone(),
            state,
            exception,
            tiers,
            isolated_by: isolated_by_index
                .iter()
                .map(|&i| self.cluster.policies[i].id())
                .collect(),
            isolated_by_index,
            allowed,
            grants,
            rules,
        }
    }

    fn ports_note(&self, specs: &[netfence_model::PortSpec], dst: EpId) -> String {
        let names: Vec<String> = specs
            .iter()
            .filter_map(|s| match &s.port {
                Some(netfence_model::PortRef::Named(n)) => Some(format!("`{n}` ({})", s.protocol)),
                _ => None,
            })
            .collect();
        let ep = &self.endpoints[dst];
        if !ep.is_pod_like() {
            format!(
                "named port {} cannot match {}: only pods have named ports",
                names.join(", "),
                ep.id
            )
        } else {
            format!(
                "named port {} is not defined (with that protocol) on {}",
                names.join(", "),
                ep.id
            )
        }
    }

    fn labels_of(&self, ep: EpId) -> String {
        let e = &self.endpoints[ep];
        match e.model_index.filter(|_| e.is_pod_like()) {
            Some(i) => labels_text(&self.cluster.endpoints[i].labels),
            None => "{}".into(),
        }
    }

    fn peer_reason(&self, kind: &PeerKind, policy_ns: &str, peer: EpId, matched: bool) -> String {
        let ep = &self.endpoints[peer];
        match kind {
            PeerKind::IpBlock { except, .. } => {
                let what = kind.to_string();
                let addr = match (ep.ip, ep.kind == crate::EndpointKind::External) {
                    (_, true) => format!("addresses {}", ep.id),
                    (Some(ip), _) => format!("IP {ip}"),
                    (None, _) => {
                        return format!(
                            "{what}: {} has no known IP, so no ipBlock can match it",
                            ep.id
                        );
                    }
                };
                if ep.is_pod_like() && ep.addr_group.is_none() {
                    return format!(
                        "{what}: ipBlock does not match pod IPs (--ip-block-matches-pods=false)"
                    );
                }
                if matched {
                    format!("{what} contains {addr}")
                } else if let Some(e) = ep.ip.and_then(|ip| except.iter().find(|e| e.contains(&ip)))
                {
                    format!("{what}: {addr} is in the except range {e}")
                } else {
                    format!("{what} does not contain {addr}")
                }
            }
            PeerKind::Pods {
                namespace_selector,
                pod_selector,
            } => {
                if !ep.is_pod_like() || !ep.selectable {
                    let why = if ep.is_pod_like() {
                        "a hostNetwork pod, which selectors never match (its traffic is node traffic)"
                    } else {
                        "not a pod; pod and namespace selectors never match IP addresses or nodes"
                    };
                    return format!("{} is {why}", ep.id);
                }
                let ns = ep.namespace.clone().unwrap_or_default();
                let ns_labels = self
                    .cluster
                    .namespace(&ns)
                    .map(|n| {
                        let all: Vec<String> =
                            n.labels.iter().map(|(k, v)| format!("{k}: {v}")).collect();
                        format!("{{{}}}", all.join(", "))
                    })
                    .unwrap_or_default();
                let scope = match namespace_selector {
                    None => NsScope::Own(policy_ns.to_string()),
                    Some(s) => NsScope::Selector(s.clone()),
                };
                let ns_part = match &scope {
                    NsScope::Own(own) if *own == ns => format!(
                        "podSelector alone means namespace {own}, which {} is in",
                        ep.id
                    ),
                    NsScope::Own(own) => {
                        return format!(
                            "podSelector alone only matches pods in the policy's namespace {own}; {} is in {ns} (add a namespaceSelector in the same list item to reach other namespaces)",
                            ep.id
                        );
                    }
                    NsScope::Selector(s) => {
                        let ok = self
                            .cluster
                            .namespace(&ns)
                            .is_some_and(|n| s.matches(&n.labels));
                        if !ok {
                            return format!(
                                "namespaceSelector {} did not match namespace {ns} (labels {ns_labels})",
                                sel_text(s)
                            );
                        }
                        format!("namespaceSelector {} matched namespace {ns}", sel_text(s))
                    }
                };
                match pod_selector {
                    None => format!("{ns_part}; no podSelector, so every pod there"),
                    Some(s) if matched => format!(
                        "{ns_part} and podSelector {} matched {}",
                        sel_text(s),
                        ep.id
                    ),
                    Some(s) => format!(
                        "{ns_part} but podSelector {} did not match labels {}",
                        sel_text(s),
                        self.labels_of(peer)
                    ),
                }
            }
        }
    }
}

fn sel_text(s: &Selector) -> String {
    s.to_kubectl()
}

pub fn labels_text(labels: &netfence_model::Labels) -> String {
    let parts: Vec<String> = labels
        .iter()
        .filter(|(k, _)| k.as_str() != netfence_model::NAMESPACE_NAME_LABEL)
        .map(|(k, v)| format!("{k}: {v}"))
        .collect();
    format!("{{{}}}", parts.join(", "))
}
