//! An admin rule that never decides anything: earlier rules decide first.
//!
//! # Why it matters
//!
//! Admin rules are evaluated in order: policies by priority (lower first),
//! rules in the order written, and the first rule that matches a connection
//! decides it. A rule whose every connection an earlier rule of the same policy,
//! or a rule of a higher-priority policy, has already decided never takes
//! effect: the Accept a reviewer reads there is dead, and reordering the rules
//! later silently changes what the policy does. netfence runs the tiers for
//! every subject and peer the rule can match and names the rules that decide
//! first.
//!
//! # Bad
//!
//! ```yaml
//! egress:
//!   - name: deny-all-pods
//!     action: Deny
//!     to:
//!       - namespaces: {}
//!   - name: allow-monitoring        # every pod was denied above
//!     action: Accept
//!     to:
//!       - namespaces:
//!           matchLabels: {kubernetes.io/metadata.name: monitoring}
//! ```
//!
//! # Good
//!
//! ```yaml
//! egress:
//!   - name: allow-monitoring
//!     action: Accept
//!     to:
//!       - namespaces:
//!           matchLabels: {kubernetes.io/metadata.name: monitoring}
//!   - name: deny-all-pods
//!     action: Deny
//!     to:
//!       - namespaces: {}
//! ```
//!
//! # Fix
//!
//! Move the rule before the rules that decide first (or give its policy a
//! lower priority number), or delete it if it is not meant to apply.

use crate::context::LintContext;
use crate::finding::{Finding, Level};
use crate::rules::Rule;

pub static RULE: Rule = Rule {
    id: "NF034",
    name: "admin-rule-shadowed",
    severity: Level::Warning,
    check,
    source: include_str!("nf034_admin_rule_shadowed.rs"),
};

fn check(ctx: &LintContext, out: &mut Vec<Finding>) {
    for u in ctx.admin_uses().iter().filter(|u| u.shadowed) {
        let by: Vec<String> = u
            .decided_first_by
            .iter()
            .map(|&(a, r)| ctx.admin_rule_name(a, u.dir, r))
            .collect();
        let action = ctx.cluster().admin_policies[u.policy].rules(u.dir)[u.rule]
            .action
            .spelled(ctx.cluster().admin_policies[u.policy].api);
        out.push(
            Finding::new(
                &RULE,
                format!(
                    "this {action} rule never decides anything: every connection it matches is decided first by {}",
                    netfence_text::short_list(&by)
                ),
            )
            .at(ctx.admin_action_loc(u.policy, u.dir, u.rule))
            .object(ctx.admin_ref(u.policy))
            .help("move the rule before the rules that decide first (or give its policy a lower priority number), or delete it")
            .related(related(ctx, &u.decided_first_by)),
        );
    }
}

/// The admin policies of some rules, once each.
fn related(ctx: &LintContext, rules: &[(usize, usize)]) -> Vec<String> {
    let mut ids: Vec<String> = rules
        .iter()
        .map(|&(a, _)| ctx.cluster().admin_policies[a].id())
        .collect();
    ids.dedup();
    ids
}
