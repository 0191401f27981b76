//! What each admin rule does in the tiered decision (semantics.md §2.2), over
//! every pair it could judge: whether it ever decides, what decides first where
//! it does not, where a Pass ends up, and which pods it decides about through
//! which peer entry. Lint's admin rules read it; the tiers are run here once per
//! pair, not per rule.

use std::collections::{BTreeMap, BTreeSet};

use netfence_model::{AdminAction, AdminPeerKind, AdminPolicy, AdminTier, Direction};
use serde::Serialize;

use crate::classes::{ClassId, dir_index};
use crate::eval::{Engine, Tiered};
use crate::portset::ConnSet;
use crate::universe::EpId;

/// One admin rule (`policy`, `dir`, `rule`) over every pair it could judge.
#[derive(Clone, Debug, Serialize)]
pub struct AdminRuleUse {
    /// Index into `Cluster::admin_policies`.
    pub policy: usize,
    pub dir: Direction,
    pub rule: usize,
    /// Its peers and ports match some connection of some subject.
    pub matches: bool,
    /// It decides some connection (earlier rules left it undecided).
    pub decides: bool,
    /// Where it matches but does not decide, every matched connection was
    /// decided by earlier admin rules (and never by the NetworkPolicy tier).
    pub shadowed: bool,
    /// The earlier admin rules, `(policy, rule)` of the same direction, that
    /// decided what this one matches, in evaluation order.
    pub decided_first_by: Vec<(usize, usize)>,
    /// For an Admin-tier Pass that decides: everything it passed reached no
    /// tier that decides (no NetworkPolicy isolates the subject, no Baseline
    /// rule matches), so it was allowed by default.
    pub passes_to_default: bool,
    /// For an Admin-tier Deny: the pod-like peers of the connections it
    /// decided through a `networks` entry, by that entry (the peer is the
    /// destination: `networks` is egress only). Empty for other rules.
    pub pods_decided_by_networks: BTreeMap<usize, BTreeSet<EpId>>,
}

impl Engine<'_> {
    /// [`AdminRuleUse`] of every admin rule: per policy in
    /// `Cluster::admin_policies` order, per direction in `Direction::BOTH`
    /// order, per rule in written order.
    pub fn admin_rule_uses(&self) -> Vec<AdminRuleUse> {
        let policies = &self.cluster.admin_policies;
        let mut uses: Vec<AdminRuleUse> = Vec::new();
        // `first[a][d]`: the index in `uses` of policy a's first rule of direction d.
        let mut first: Vec<[usize; 2]> = Vec::with_capacity(policies.len());
        for (a, policy) in policies.iter().enumerate() {
            let mut starts = [0; 2];
            for dir in Direction::BOTH {
                starts[dir_index(dir)] = uses.len();
                for r in 0..policy.rules(dir).len() {
                    uses.push(AdminRuleUse {
                        policy: a,
                        dir,
                        rule: r,
                        matches: false,
                        decides: false,
                        shadowed: false,
                        decided_first_by: Vec::new(),
                        passes_to_default: false,
                        pods_decided_by_networks: BTreeMap::new(),
                    });
                }
            }
            first.push(starts);
        }
        // Set where a rule matches something that the NetworkPolicy tier (or a
        // Pass handing over) took before it: then it is not shadowed by rules.
        let mut not_only_rules = vec![false; uses.len()];
        let mut pass_reaches_a_tier = vec![false; uses.len()];
        // A rule whose answer no further pair can change is settled, and a
        // pair where every matching rule is settled is not decided at all: at
        // scale most rules settle on their first pairs, and running the tiers
        // for every pair an admin rule can match would be quadratic.
        let mut settled = vec![false; uses.len()];
        let networks_deny: Vec<bool> = uses
            .iter()
            .map(|u| {
                let policy = &policies[u.policy];
                let rule = &policy.rules(u.dir)[u.rule];
                policy.tier == AdminTier::Admin
                    && rule.action == AdminAction::Deny
                    && rule
                        .peers
                        .iter()
                        .any(|p| matches!(p.kind, AdminPeerKind::Networks(_)))
            })
            .collect();
        for dir in Direction::BOTH {
            for (s, class) in self.classes.iter().enumerate() {
                if class.admin_subject_of.is_empty() {
                    continue;
                }
                let rep = self.endpoint(class.rep);
                if !rep.selectable || !rep.is_pod_like() {
                    continue;
                }
                for p in self.admin_peer_classes(dir, s) {
                    // A lone pod with itself is no pair: it can always reach
                    // itself through its own IP.
                    if p == s && class.members.len() == 1 {
                        continue;
                    }
                    let mut pending: Vec<(usize, usize, usize, ConnSet)> = Vec::new();
                    for &a in &class.admin_subject_of {
                        for r in 0..policies[a].rules(dir).len() {
                            let u = first[a][dir_index(dir)] + r;
                            if settled[u] {
                                continue;
                            }
                            if let Some((_, conns)) = self.admin_rule_match(a, dir, r, s, p)
                                && !conns.is_empty()
                            {
                                pending.push((u, a, r, conns));
                            }
                        }
                    }
                    if pending.is_empty() {
                        continue;
                    }
                    let t = self.tiers(dir, s, p, false);
                    for (u, a, r, conns) in pending {
                        uses[u].matches = true;
                        let own = t.steps.iter().find(|st| st.policy == a && st.rule == r);
                        if let Some(step) = own {
                            uses[u].decides = true;
                            let rule = &policies[a].rules(dir)[r];
                            let by_networks = matches!(
                                rule.peers.get(step.peer).map(|p| &p.kind),
                                Some(AdminPeerKind::Networks(_))
                            );
                            if by_networks && networks_deny[u] {
                                uses[u]
                                    .pods_decided_by_networks
                                    .entry(step.peer)
                                    .or_default()
                                    .extend(
                                        self.classes[p]
                                            .members
                                            .iter()
                                            .copied()
                                            .filter(|&e| self.endpoint(e).is_pod_like()),
                                    );
                            }
                            if step.action == AdminAction::Pass
                                && step.tier == AdminTier::Admin
                                && !step.conns.difference(&t.default).is_empty()
                            {
                                pass_reaches_a_tier[u] = true;
                            }
                        } else {
                            record_shadow(&t, a, r, &conns, &mut uses[u], &mut not_only_rules[u]);
                        }
                        settled[u] = match rule_action(policies, &uses[u]) {
                            _ if networks_deny[u] => false,
                            Some(AdminAction::Pass) if policies[a].tier == AdminTier::Admin => {
                                pass_reaches_a_tier[u]
                            }
                            _ => uses[u].decides || not_only_rules[u],
                        };
                    }
                }
            }
        }
        for (u, rule_use) in uses.iter_mut().enumerate() {
            let action = rule_action(policies, rule_use);
            rule_use.shadowed = rule_use.matches && !rule_use.decides && !not_only_rules[u];
            rule_use.passes_to_default = rule_use.decides
                && action == Some(AdminAction::Pass)
                && policies[rule_use.policy].tier == AdminTier::Admin
                && !pass_reaches_a_tier[u];
            if !rule_use.shadowed {
                rule_use.decided_first_by.clear();
            }
        }
        uses
    }

    /// The classes some admin rule of `subject`'s policies can match in `dir`,
    /// ascending: towards any other class no admin rule decides anything.
    fn admin_peer_classes(&self, dir: Direction, subject: ClassId) -> Vec<ClassId> {
        // Marked rather than collected and sorted: with many policies whose
        // peers match most classes, the list would hold every class many times.
        let mut seen = vec![false; self.classes.len()];
        for &a in &self.classes[subject].admin_subject_of {
            for entries in &self.resolved.admin_peer_refs[a][dir_index(dir)] {
                for refs in entries {
                    for &r in refs {
                        for &c in self.classes_matching(r) {
                            seen[c] = true;
                        }
                    }
                }
            }
        }
        (0..seen.len()).filter(|&c| seen[c]).collect()
    }
}

fn rule_action(policies: &[AdminPolicy], u: &AdminRuleUse) -> Option<AdminAction> {
    policies[u.policy]
        .rules(u.dir)
        .get(u.rule)
        .map(|r| r.action)
}

/// For rule `r` of policy `a`, which matched `conns` on a pair and decided
/// none of it: the earlier rules that did, or `not_only_rules` when part of it
/// was left to the NetworkPolicy tier (or a Pass handed it over).
fn record_shadow(
    t: &Tiered,
    a: usize,
    r: usize,
    conns: &ConnSet,
    rule_use: &mut AdminRuleUse,
    not_only_rules: &mut bool,
) {
    let mut covered = ConnSet::none();
    for step in &t.steps {
        // Steps are in evaluation order, and `admin_policies` is sorted by it.
        if (step.policy, step.rule) >= (a, r) {
            break;
        }
        if step.conns.intersect(conns).is_empty() {
            continue;
        }
        covered.union_with(&step.conns);
        if !rule_use
            .decided_first_by
            .contains(&(step.policy, step.rule))
        {
            rule_use.decided_first_by.push((step.policy, step.rule));
        }
    }
    if !conns.difference(&covered).is_empty() {
        *not_only_rules = true;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use netfence_model::{Direction, LoadOptions, load_texts};

    use crate::eval::Engine;

    const PODS: &str = "
apiVersion: v1
kind: Namespace
metadata: {name: a, labels: {kubernetes.io/metadata.name: a}}
---
apiVersion: v1
kind: Namespace
metadata: {name: b, labels: {kubernetes.io/metadata.name: b}}
---
apiVersion: v1
kind: Pod
metadata: {name: x, namespace: a, labels: {app: x}}
spec: {containers: [{name: c, image: i}]}
status: {podIP: 10.0.0.1}
---
apiVersion: v1
kind: Pod
metadata: {name: w, namespace: b, labels: {app: w}}
spec: {containers: [{name: c, image: i}]}
status: {podIP: 10.0.0.2}
";

    const ADMIN: &str = "
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: first}
spec:
  tier: Admin
  priority: 10
  subject: {namespaces: {}}
  egress:
    - name: deny-all-pods
      action: Deny
      to: [{namespaces: {}}]
    - name: shadowed
      action: Accept
      to: [{namespaces: {matchLabels: {kubernetes.io/metadata.name: b}}}]
    - name: pass-external
      action: Pass
      to: [{networks: [192.0.2.0/24]}]
    - name: deny-everything
      action: Deny
      to: [{networks: [0.0.0.0/0]}]
---
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: later}
spec:
  tier: Admin
  priority: 20
  subject: {namespaces: {}}
  egress:
    - name: never
      action: Accept
      to: [{pods: {podSelector: {matchLabels: {app: w}}}}]
";

    /// (rule name, decides, shadowed, passes to default, decided first by).
    type Row = (String, bool, bool, bool, Vec<(usize, usize)>);

    fn uses(texts: &[(&str, &str)]) -> Vec<Row> {
        let (_, loaded) = load_texts(texts, &LoadOptions::default());
        let loaded = loaded.unwrap();
        let engine = Engine::new(&loaded.cluster);
        engine
            .admin_rule_uses()
            .into_iter()
            .filter(|u| u.dir == Direction::Egress)
            .map(|u| {
                let p = &loaded.cluster.admin_policies[u.policy];
                let name = p.egress[u.rule].name.clone().unwrap_or_default();
                (
                    name,
                    u.decides,
                    u.shadowed,
                    u.passes_to_default,
                    u.decided_first_by,
                )
            })
            .collect()
    }

    #[test]
    fn rules_decided_first_by_earlier_rules_are_shadowed() {
        let got = uses(&[("pods.yaml", PODS), ("admin.yaml", ADMIN)]);
        assert_eq!(
            got,
            [
                ("deny-all-pods".into(), true, false, false, vec![]),
                // Every pod of b is a pod of some namespace: denied first.
                ("shadowed".into(), false, true, false, vec![(0, 0)]),
                // Passes to no NetworkPolicy and no Baseline: default allow.
                ("pass-external".into(), true, false, true, vec![]),
                ("deny-everything".into(), true, false, false, vec![]),
                ("never".into(), false, true, false, vec![(0, 0)]),
            ]
        );
    }

    #[test]
    fn a_pass_that_a_network_policy_decides_hands_over() {
        let np = "
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: iso, namespace: a}
spec: {podSelector: {}, policyTypes: [Egress]}
";
        let got = uses(&[("pods.yaml", PODS), ("admin.yaml", ADMIN), ("np.yaml", np)]);
        // Pod a/x is egress-isolated: what the Pass hands over is denied there.
        assert!(!got[2].3, "{got:?}");
        assert!(got[2].1);
    }

    #[test]
    fn pods_decided_through_networks_are_listed_by_entry() {
        let admin = "
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: no-internet}
spec:
  tier: Admin
  priority: 10
  subject: {namespaces: {matchLabels: {kubernetes.io/metadata.name: a}}}
  egress:
    - action: Deny
      to: [{networks: [0.0.0.0/0]}]
";
        let (_, loaded) = load_texts(
            &[("pods.yaml", PODS), ("admin.yaml", admin)],
            &LoadOptions::default(),
        );
        let loaded = loaded.unwrap();
        let engine = Engine::new(&loaded.cluster);
        let uses = engine.admin_rule_uses();
        let pods: Vec<String> = uses[0].pods_decided_by_networks[&0]
            .iter()
            .map(|&e| engine.endpoint(e).id.clone())
            .collect();
        assert!(pods.contains(&"b/w".to_string()), "{pods:?}");
        assert!(!pods.contains(&"a/x".to_string()), "{pods:?}");
    }
}
