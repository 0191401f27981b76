//! An egress rule allows a flow that the destination's ingress denies.
//!
//! # Why it matters
//!
//! A connection between two isolated pods needs both ends: the client's egress
//! **and** the server's ingress. An egress rule naming specific pods that the
//! destination's policies do not admit is half a change: the connection is still
//! denied, at the destination. netfence reports rules whose peer names pods with
//! a podSelector and whose every granted connection the destination's ingress
//! denies (whole namespaces and ipBlocks are ranges, not intents, and are not
//! reported).
//!
//! # Bad
//!
//! ```yaml
//! # checkout may send to cart...
//! kind: NetworkPolicy
//! metadata: {name: checkout}
//! spec:
//!   podSelector: {matchLabels: {app: checkout}}
//!   policyTypes: [Egress]
//!   egress:
//!     - to:
//!         - podSelector: {matchLabels: {app: cart}}
//!       ports:
//!         - port: 8080
//! # ...but cart's ingress policy only admits web
//! ```
//!
//! # Good
//!
//! ```yaml
//! kind: NetworkPolicy
//! metadata: {name: cart}
//! spec:
//!   podSelector: {matchLabels: {app: cart}}
//!   ingress:
//!     - from:
//!         - podSelector: {matchLabels: {app: web}}
//!         - podSelector: {matchLabels: {app: checkout}}
//!       ports:
//!         - port: 8080
//! ```
//!
//! # Fix
//!
//! Allow the flow at the destination too (the help shows the change netfence
//! verified), or delete the egress rule if the flow is not wanted.

use netfence_model::Direction;

use crate::analysis::{one_sided, verified_fix};
use crate::context::LintContext;
use crate::finding::{Finding, Level};
use crate::rules::Rule;

pub static RULE: Rule = Rule {
    id: "NF028",
    name: "egress-without-ingress",
    severity: Level::Warning,
    check,
    source: include_str!("nf028_egress_without_ingress.rs"),
};

fn check(ctx: &LintContext, out: &mut Vec<Finding>) {
    report(ctx, &RULE, Direction::Egress, out);
}

/// Verifying a fix re-runs the engine on the changed input; the first findings
/// get one, the others the `netfence check` command that computes it.
const VERIFIED_FIXES: usize = 3;

/// Shared with NF029, which is the same check seen from the other end.
pub fn report(ctx: &LintContext, rule: &Rule, dir: Direction, out: &mut Vec<Finding>) {
    let engine = ctx.engine;
    for (i, o) in one_sided(ctx, dir).iter().enumerate() {
        let Some(&(src, dst)) = o.pairs.first() else {
            continue;
        };
        let pairs: Vec<String> = o
            .pairs
            .iter()
            .map(|&(a, b)| format!("{} -> {}", engine.endpoint(a).id, engine.endpoint(b).id))
            .collect();
        let blocked: Vec<String> = o
            .blocked_by
            .iter()
            .map(|&p| ctx.cluster().policies[p].id())
            .collect();
        let (granted, other_end) = match dir {
            Direction::Egress => ("allows", "the destination's ingress"),
            Direction::Ingress => ("admits", "the source's egress"),
        };
        let policy = &ctx.cluster().policies[o.policy];
        let peer_loc = policy.rules(dir)[o.rule]
            .peers
            .as_ref()
            .and_then(|peers| peers.get(o.peer))
            .map(|p| ctx.peer_key_loc(p));
        let mut finding = Finding::new(
            rule,
            format!(
                "this peer {granted} {} on {}, but {other_end} denies it (isolated by {}, no rule there allows it): the connection is denied",
                netfence_text::short_list(&pairs),
                o.conns,
                blocked.join(", ")
            ),
        )
        .object(ctx.policy_ref(o.policy))
        .help(
            (i < VERIFIED_FIXES)
                .then(|| verified_fix(ctx, src, dst, &o.conns))
                .flatten()
                .unwrap_or_else(|| {
                    format!(
                        "allow the flow in {other_end} too (`netfence check {} {}` proposes a verified change), or delete this rule if the flow is not wanted",
                        engine.endpoint(src).id,
                        engine.endpoint(dst).id
                    )
                }),
        )
        .related(pairs);
        if let Some(loc) = peer_loc {
            finding = finding.at_key(loc);
        }
        out.push(finding);
    }
}
