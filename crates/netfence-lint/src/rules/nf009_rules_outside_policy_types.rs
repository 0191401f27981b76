//! Rules for a direction missing from policyTypes are ignored.
//!
//! # Why it matters
//!
//! A policy only acts on the directions listed in `policyTypes`. Ingress rules
//! in a policy with `policyTypes: [Egress]` (or the reverse) are silently
//! ignored: they neither isolate nor allow anything, while the YAML reads as if
//! they did.
//!
//! # Bad
//!
//! ```yaml
//! spec:
//!   podSelector: {}
//!   policyTypes:
//!     - Egress
//!   ingress:                # ignored
//!     - from:
//!         - podSelector: {}
//! ```
//!
//! # Good
//!
//! ```yaml
//! spec:
//!   podSelector: {}
//!   policyTypes:
//!     - Ingress
//!     - Egress
//!   ingress:
//!     - from:
//!         - podSelector: {}
//! ```
//!
//! # Fix
//!
//! Add the direction to `policyTypes` (which also isolates it), or delete the
//! rules.

use netfence_model::Direction;

use crate::context::LintContext;
use crate::finding::{Finding, Level};
use crate::rules::Rule;

pub static RULE: Rule = Rule {
    id: "NF009",
    name: "rules-outside-policy-types",
    severity: Level::Warning,
    check,
    source: include_str!("nf009_rules_outside_policy_types.rs"),
};

fn check(ctx: &LintContext, out: &mut Vec<Finding>) {
    for (p, policy) in ctx.cluster().policies.iter().enumerate() {
        for dir in Direction::BOTH {
            if !policy.policy_types_written || policy.isolates(dir) || policy.rules(dir).is_empty()
            {
                continue;
            }
            let listed: Vec<&str> = Direction::BOTH
                .into_iter()
                .filter(|&d| policy.isolates(d))
                .map(Direction::policy_type)
                .collect();
            out.push(
                Finding::new(
                    &RULE,
                    format!(
                        "policyTypes is [{}], so {} {} {} ignored",
                        listed.join(", "),
                        netfence_text::agree(policy.rules(dir).len(), "this", "these"),
                        netfence_text::count(policy.rules(dir).len(), &format!("{} rule", dir.as_str())),
                        netfence_text::agree(policy.rules(dir).len(), "is", "are")
                    ),
                )
                .at_key(ctx.policy_root(p).key("spec").key(dir.as_str()))
                .object(ctx.policy_ref(p))
                .help(format!(
                    "add `{}` to policyTypes (this also isolates the selected pods for {}), or delete the rules",
                    dir.policy_type(),
                    dir.as_str()
                )),
            );
        }
    }
}
