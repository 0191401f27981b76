//! An Admin-tier Pass that nothing below decides: it is the same as allowing.
//!
//! # Why it matters
//!
//! Pass hands a connection to the tiers below: the NetworkPolicies of the
//! subject's namespace, then the Baseline tier, then the default, which
//! allows. When no NetworkPolicy isolates the subjects in that direction and no
//! Baseline rule matches, everything the Pass hands over is allowed by default:
//! the Pass reads like "let the namespace decide", but nobody decides, and the
//! traffic flows as if the rule said Accept. netfence follows every connection
//! the Pass hands over through the tiers below.
//!
//! # Bad
//!
//! ```yaml
//! # No NetworkPolicy in the tenants' namespaces, no Baseline policy.
//! egress:
//!   - name: tenants-decide
//!     action: Pass
//!     to:
//!       - networks: ["203.0.113.0/24"]
//! ```
//!
//! # Good
//!
//! ```yaml
//! # A Baseline policy decides what the namespaces do not.
//! apiVersion: policy.networking.k8s.io/v1alpha2
//! kind: ClusterNetworkPolicy
//! metadata: {name: baseline-deny-partner}
//! spec:
//!   tier: Baseline
//!   priority: 10
//!   subject: {namespaces: {}}
//!   egress:
//!     - action: Deny
//!       to:
//!         - networks: ["203.0.113.0/24"]
//! ```
//!
//! # Fix
//!
//! Write Accept if allowing is meant; otherwise add the NetworkPolicies or the
//! Baseline rule that should decide what the Pass hands over.

use netfence_model::AdminAction;

use crate::context::LintContext;
use crate::finding::{Finding, Level};
use crate::rules::Rule;

pub static RULE: Rule = Rule {
    id: "NF036",
    name: "admin-pass-to-default",
    severity: Level::Warning,
    check,
    source: include_str!("nf036_admin_pass_to_default.rs"),
};

fn check(ctx: &LintContext, out: &mut Vec<Finding>) {
    let policies = &ctx.cluster().admin_policies;
    for u in ctx.admin_uses().iter().filter(|u| u.passes_to_default) {
        let accept = AdminAction::Accept.spelled(policies[u.policy].api);
        out.push(
            Finding::new(
                &RULE,
                format!(
                    "nothing below decides what this Pass hands over: no NetworkPolicy isolates its subjects for {} and no Baseline rule matches, so it is allowed by default, the same as {accept}",
                    u.dir.as_str()
                ),
            )
            .at(ctx.admin_action_loc(u.policy, u.dir, u.rule))
            .object(ctx.admin_ref(u.policy))
            .help(format!(
                "write `action: {accept}` if allowing is meant; otherwise add the NetworkPolicies (or a Baseline rule) that should decide it"
            )),
        );
    }
}
