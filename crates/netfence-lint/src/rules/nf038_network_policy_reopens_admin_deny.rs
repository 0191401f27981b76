//! A NetworkPolicy rule that tries to allow what an Admin Deny denies: it
//! cannot.
//!
//! # Why it matters
//!
//! The Admin tier is evaluated before any NetworkPolicy, and its Deny is final
//! (semantics.md §2.2). A namespace owner who writes a NetworkPolicy to open a
//! flow that a cluster administrator's Admin policy denies gets nothing: the
//! rule looks like it works in review and in `kubectl describe`, and the
//! connections are still dropped. netfence reports a rule when everything it
//! allows is denied first by Admin Deny rules, and names both.
//!
//! # Bad
//!
//! ```yaml
//! # ClusterNetworkPolicy, tier Admin: Deny ingress from namespace sandbox.
//! # NetworkPolicy in backend:
//! ingress:
//!   - from:
//!       - namespaceSelector:
//!           matchLabels: {kubernetes.io/metadata.name: sandbox}
//! ```
//!
//! # Good
//!
//! ```yaml
//! # The administrator hands the decision down with a Pass before the Deny:
//! ingress:
//!   - name: backend-decides
//!     action: Pass
//!     from:
//!       - namespaces:
//!           matchLabels: {kubernetes.io/metadata.name: sandbox}
//! ```
//!
//! # Fix
//!
//! Delete the NetworkPolicy rule, or ask the owner of the admin policy for a
//! Pass (or Accept) rule before the Deny.

use std::collections::BTreeMap;

use netfence_model::{AdminAction, AdminTier, Direction};

use crate::context::LintContext;
use crate::finding::{Finding, Level};
use crate::rules::Rule;

pub static RULE: Rule = Rule {
    id: "NF038",
    name: "network-policy-reopens-admin-deny",
    severity: Level::Warning,
    check,
    source: include_str!("nf038_network_policy_reopens_admin_deny.rs"),
};

/// What one NetworkPolicy rule achieves across every pair it grants on.
#[derive(Default)]
struct Reach {
    /// Some of its grant reaches the NetworkPolicy tier on some pair.
    effective: bool,
    /// The Admin Deny rules (`(policy, rule)`) that decided its grants first.
    denied_by: Vec<(usize, usize)>,
}

fn check(ctx: &LintContext, out: &mut Vec<Finding>) {
    if ctx.cluster().admin_policies.is_empty() {
        return;
    }
    let engine = ctx.engine;
    let mut reach: BTreeMap<(usize, Direction, usize), Reach> = BTreeMap::new();
    ctx.for_each_flow(|side| {
        let judged = !engine.classes[side.subject].admin_subject_of.is_empty();
        let tiers = judged.then(|| engine.tiers(side.dir, side.subject, side.peer, false));
        for g in &side.grants {
            let r = reach.entry((g.policy, side.dir, g.rule)).or_default();
            let Some(t) = &tiers else {
                r.effective = true;
                continue;
            };
            if !g.conns.intersect(&t.to_network_policy).is_empty() {
                r.effective = true;
            }
            for step in &t.steps {
                if step.tier == AdminTier::Admin
                    && step.action == AdminAction::Deny
                    && !step.conns.intersect(&g.conns).is_empty()
                    && !r.denied_by.contains(&(step.policy, step.rule))
                {
                    r.denied_by.push((step.policy, step.rule));
                }
            }
        }
    });
    for ((p, dir, i), r) in reach {
        if r.effective || r.denied_by.is_empty() {
            continue;
        }
        let by: Vec<String> = r
            .denied_by
            .iter()
            .map(|&(a, j)| {
                format!(
                    "{} at {}",
                    ctx.admin_rule_name(a, dir, j),
                    netfence_text::admin_policy_location(
                        ctx.sources,
                        ctx.cluster(),
                        a,
                        &format!("spec.{}[{j}]", dir.as_str())
                    )
                )
            })
            .collect();
        let mut admins: Vec<String> = r
            .denied_by
            .iter()
            .map(|&(a, _)| ctx.cluster().admin_policies[a].id())
            .collect();
        admins.dedup();
        out.push(
            Finding::new(
                &RULE,
                format!(
                    "this rule allows nothing: everything it allows is denied first by {}, and an Admin Deny is final: no NetworkPolicy can re-open it",
                    netfence_text::short_list(&by)
                ),
            )
            .at_key(ctx.rule_key_loc(&ctx.cluster().policies[p].rules(dir)[i], dir))
            .object(ctx.policy_ref(p))
            .help("delete the rule, or ask the owner of the admin policy for a Pass (or Accept) rule before the Deny")
            .related(admins),
        );
    }
}
