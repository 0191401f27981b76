//! The admin tiers in a diff: which admin policies were added, removed, moved
//! to another tier or priority (and which policies that reorders), and the
//! callout for an Admin Deny that closes what NetworkPolicies allowed.

use std::collections::BTreeMap;

use netfence_model::{AdminPolicy, AdminTier, Cluster};
use netfence_text::admin_policy_location;

use crate::{AdminChangeKind, AdminPolicyChange, Callout, Change, Reason, Side};

/// What one policy decides, without where it is written: subject and rules.
fn content(p: &AdminPolicy) -> String {
    // Serialize skips locations, so two files with the same policy compare equal.
    serde_json::to_string(&(&p.subject, &p.ingress, &p.egress)).unwrap_or_default()
}

fn by_id(cluster: &Cluster) -> BTreeMap<String, usize> {
    cluster
        .admin_policies
        .iter()
        .enumerate()
        .map(|(i, p)| (p.id(), i))
        .collect()
}

/// Admin policies added, removed, moved or changed, in `Kind/name` order.
pub(crate) fn admin_policy_changes(before: &Side, after: &Side) -> Vec<AdminPolicyChange> {
    let (cb, ca) = (before.engine.cluster, after.engine.cluster);
    let (ib, ia) = (by_id(cb), by_id(ca));
    let mut ids: Vec<&String> = ib.keys().chain(ia.keys()).collect();
    ids.sort();
    ids.dedup();
    let mut out = Vec::new();
    for id in ids {
        let (b, a) = (
            ib.get(id).map(|&i| &cb.admin_policies[i]),
            ia.get(id).map(|&i| &ca.admin_policies[i]),
        );
        let change = match (b, a) {
            (None, Some(_)) => AdminChangeKind::Added,
            (Some(_), None) => AdminChangeKind::Removed,
            (Some(b), Some(a)) if content(b) != content(a) => AdminChangeKind::Changed,
            (Some(b), Some(a)) if b.tier != a.tier || b.priority != a.priority => {
                AdminChangeKind::Moved
            }
            _ => continue,
        };
        let location = match (a, ia.get(id), ib.get(id)) {
            (Some(_), Some(&i), _) => admin_policy_location(after.sources, ca, i, "spec"),
            (_, _, Some(&i)) => admin_policy_location(before.sources, cb, i, "spec"),
            _ => String::new(),
        };
        let (now_before, now_after) = match (b, a) {
            (Some(b), Some(a)) => reordering(cb, ca, &ib, &ia, b, a),
            _ => (Vec::new(), Vec::new()),
        };
        out.push(AdminPolicyChange {
            policy: id.clone(),
            change,
            tier_before: b.map(|b| b.tier),
            tier_after: a.map(|a| a.tier),
            priority_before: b.and_then(|b| b.priority),
            priority_after: a.and_then(|a| a.priority),
            now_before,
            now_after,
            location,
        });
    }
    out
}

/// The other policies present on both sides in the same tier as `a` whose
/// order relative to it flipped: (now after it, now before it).
fn reordering(
    cb: &Cluster,
    ca: &Cluster,
    ib: &BTreeMap<String, usize>,
    ia: &BTreeMap<String, usize>,
    b: &AdminPolicy,
    a: &AdminPolicy,
) -> (Vec<String>, Vec<String>) {
    let (mut now_before, mut now_after) = (Vec::new(), Vec::new());
    if b.tier != a.tier {
        return (now_before, now_after);
    }
    let id = a.id();
    let (Some(&me_b), Some(&me_a)) = (ib.get(&id), ia.get(&id)) else {
        return (now_before, now_after);
    };
    for (other, &ob) in ib {
        if *other == id {
            continue;
        }
        let Some(&oa) = ia.get(other) else { continue };
        if cb.admin_policies[ob].tier != b.tier || ca.admin_policies[oa].tier != a.tier {
            continue;
        }
        // `admin_policies` is in evaluation order on each side.
        match (ob < me_b, oa < me_a) {
            (true, false) => now_before.push(other.clone()),
            (false, true) => now_after.push(other.clone()),
            _ => {}
        }
    }
    (now_before, now_after)
}

/// An Admin-tier Deny after the change that decides connections removed from
/// pairs whose NetworkPolicies allowed them before: one callout per rule.
pub(crate) fn admin_deny_callouts(changes: &[Change]) -> Vec<Callout> {
    /// (policy, rule, location) of the Deny.
    type Key = (String, String, String);
    /// (pairs, NetworkPolicies that allowed them before, namespace).
    type Closed = (Vec<String>, Vec<String>, Option<String>);
    let mut found: BTreeMap<Key, Closed> = BTreeMap::new();
    for c in changes.iter().filter(|c| !c.removed.is_empty()) {
        let allowed_before: Vec<String> = c
            .why
            .before
            .iter()
            .filter_map(|r| match r {
                Reason::Allows { policy, .. } => Some(policy.clone()),
                _ => None,
            })
            .collect();
        if allowed_before.is_empty() {
            continue;
        }
        for r in &c.why.after {
            let Reason::Admin {
                policy,
                tier: AdminTier::Admin,
                rule,
                action,
                location,
                ..
            } = r
            else {
                continue;
            };
            // Deny is spelled alike in every generation.
            if action != "Deny" {
                continue;
            }
            let entry = found
                .entry((policy.clone(), rule.clone(), location.clone()))
                .or_insert_with(|| (Vec::new(), Vec::new(), c.section().map(str::to_string)));
            let pair = format!("{} -> {}", c.src_label, c.dst_label);
            if !entry.0.contains(&pair) {
                entry.0.push(pair);
            }
            for p in &allowed_before {
                if !entry.1.contains(p) {
                    entry.1.push(p.clone());
                }
            }
        }
    }
    found
        .into_iter()
        .map(
            |((policy, rule, location), (pairs, allowed_before_by, namespace))| {
                Callout::AdminDenyCloses {
                    policy,
                    rule,
                    location,
                    pairs,
                    allowed_before_by,
                    namespace,
                }
            },
        )
        .collect()
}
