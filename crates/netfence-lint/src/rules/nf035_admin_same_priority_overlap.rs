//! Two admin policies of one tier with the same priority that judge some
//! connection differently.
//!
//! # Why it matters
//!
//! Upstream leaves the order of same-priority policies to the implementation
//! (semantics.md §2.6): one CNI may apply the Accept and another the Deny, and
//! an upgrade may change which. Where two such policies match the same
//! connection with different actions, what the cluster does is unspecified.
//! netfence applies them in name order and shows one connection where the
//! choice decides.
//!
//! # Bad
//!
//! ```yaml
//! metadata: {name: allow-monitoring}
//! spec: {tier: Admin, priority: 10, ...}     # Accept from monitoring
//! ---
//! metadata: {name: deny-cross-namespace}
//! spec: {tier: Admin, priority: 10, ...}     # Deny from every namespace
//! ```
//!
//! # Good
//!
//! ```yaml
//! metadata: {name: allow-monitoring}
//! spec: {tier: Admin, priority: 10, ...}
//! ---
//! metadata: {name: deny-cross-namespace}
//! spec: {tier: Admin, priority: 20, ...}
//! ```
//!
//! # Fix
//!
//! Give the policy that must win the lower priority number.

use crate::context::LintContext;
use crate::finding::{Finding, Level};
use crate::rules::Rule;

pub static RULE: Rule = Rule {
    id: "NF035",
    name: "admin-same-priority-overlap",
    severity: Level::Warning,
    check,
    source: include_str!("nf035_admin_same_priority_overlap.rs"),
};

fn check(ctx: &LintContext, out: &mut Vec<Finding>) {
    let policies = &ctx.cluster().admin_policies;
    for o in ctx.engine.same_priority_overlaps() {
        let (first, second) = (&policies[o.first], &policies[o.second]);
        let subject = &ctx.engine.endpoint(o.subject).id;
        let peer = &ctx.engine.endpoint(o.peer).id;
        let pair = match o.direction {
            netfence_model::Direction::Egress => format!("{subject} -> {peer}"),
            netfence_model::Direction::Ingress => format!("{peer} -> {subject}"),
        };
        let conns = if o.conns.is_all() {
            "every connection".to_string()
        } else {
            o.conns.to_string()
        };
        out.push(
            Finding::new(
                &RULE,
                format!(
                    "{} and {} are both {} tier, priority {}, and give {conns} of {pair} ({}) different verdicts: which one applies is left to the implementation (netfence applies {} first, by name)",
                    first.id(),
                    second.id(),
                    o.tier.as_str(),
                    o.priority,
                    o.direction.as_str(),
                    first.id(),
                ),
            )
            .at(second.loc.key("priority"))
            .object(ctx.admin_ref(o.second))
            .help(format!(
                "give the policy that must win the lower priority number (e.g. `priority: {}` here if {} must win)",
                o.priority.saturating_add(1).min(1000),
                first.id()
            ))
            .related([first.id(), subject.clone(), peer.clone()]),
        );
    }
}
