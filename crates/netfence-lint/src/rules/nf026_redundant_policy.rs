//! A policy whose removal would change no connection.
//!
//! # Why it matters
//!
//! When every rule of a policy is covered by other policies' rules and every pod
//! it isolates is isolated by another policy too, the policy does nothing.
//! Duplicated policies drift apart over time, and reviewers read allowances that
//! have no effect. netfence proves it with the engine. Policies without rules
//! (default-deny) are never reported: making the isolation explicit is their
//! purpose even when other policies isolate the same pods.
//!
//! # Bad
//!
//! ```yaml
//! kind: NetworkPolicy
//! metadata: {name: allow-web-from-frontend}
//! spec:
//!   podSelector: {matchLabels: {app: web}}
//!   ingress:
//!     - from:
//!         - podSelector: {matchLabels: {app: frontend}}
//! ---
//! kind: NetworkPolicy
//! metadata: {name: web}             # allows the same and more
//! spec:
//!   podSelector: {matchLabels: {app: web}}
//!   ingress:
//!     - from:
//!         - podSelector: {}
//! ```
//!
//! # Good
//!
//! ```yaml
//! kind: NetworkPolicy
//! metadata: {name: web}
//! spec:
//!   podSelector: {matchLabels: {app: web}}
//!   ingress:
//!     - from:
//!         - podSelector: {}
//! ```
//!
//! # Fix
//!
//! Delete the policy (or merge what it was meant to say into the covering one).

use crate::analysis::redundant_policies;
use crate::context::LintContext;
use crate::finding::{Finding, Level};
use crate::rules::Rule;

pub static RULE: Rule = Rule {
    id: "NF026",
    name: "redundant-policy",
    severity: Level::Info,
    check,
    source: include_str!("nf026_redundant_policy.rs"),
};

fn check(ctx: &LintContext, out: &mut Vec<Finding>) {
    let r = &ctx.flows().redundancy;
    for (p, by) in redundant_policies(ctx, r) {
        let by: Vec<String> = by.iter().map(|&(q, d, j)| ctx.rule_name(q, d, j)).collect();
        out.push(
            Finding::new(
                &RULE,
                format!(
                    "removing this policy changes no connection: its rules are covered by {}, and other policies isolate its pods too",
                    netfence_text::short_list(&by)
                ),
            )
            .on_object(ctx.policy_ref(p))
            .help("delete the policy, or merge what it is meant to say into the covering policy"),
        );
    }
}
