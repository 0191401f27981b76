//! A rule whose every allowed connection other rules allow too.
//!
//! # Why it matters
//!
//! Policies are additive, so a rule that only re-allows what other rules already
//! allow changes nothing. It is dead weight for reviewers, and a trap: deleting
//! the *other* rule later silently changes what this one is thought to do.
//! netfence proves it with the engine: for every pair of pods the rule applies
//! to, its connections are contained in the union of the other rules' grants.
//!
//! # Bad
//!
//! ```yaml
//! ingress:
//!   - from:
//!       - podSelector: {}            # the whole namespace, every port
//!   - from:
//!       - podSelector:
//!           matchLabels: {app: web}  # already covered
//!     ports:
//!       - port: 8080
//! ```
//!
//! # Good
//!
//! ```yaml
//! ingress:
//!   - from:
//!       - podSelector: {}
//! ```
//!
//! # Fix
//!
//! Delete the redundant rule, or narrow the broader one if it allows too much.

use crate::analysis::redundant_policies;
use crate::context::LintContext;
use crate::finding::{Finding, Level};
use crate::rules::Rule;

pub static RULE: Rule = Rule {
    id: "NF025",
    name: "redundant-rule",
    severity: Level::Info,
    check,
    source: include_str!("nf025_redundant_rule.rs"),
};

fn check(ctx: &LintContext, out: &mut Vec<Finding>) {
    let r = &ctx.flows().redundancy;
    // A wholly redundant policy is reported once, by NF026.
    let policies = redundant_policies(ctx, r);
    for (&(p, dir, i), by) in &r.covered {
        if policies.contains_key(&p) {
            continue;
        }
        let by: Vec<String> = by.iter().map(|&(q, d, j)| ctx.rule_name(q, d, j)).collect();
        out.push(
            Finding::new(
                &RULE,
                format!(
                    "everything this rule allows is also allowed by {}: removing it changes nothing",
                    netfence_text::short_list(&by)
                ),
            )
            .at_key(ctx.rule_key_loc(&ctx.cluster().policies[p].rules(dir)[i], dir))
            .object(ctx.policy_ref(p))
            .help("delete the rule, or narrow the broader rule if it allows more than intended"),
        );
    }
}
