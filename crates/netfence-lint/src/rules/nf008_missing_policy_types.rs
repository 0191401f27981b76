//! An egress policy without policyTypes also denies all ingress.
//!
//! # Why it matters
//!
//! When `policyTypes` is not written, the apiserver fills it in: `Ingress`
//! always, plus `Egress` when egress rules exist. A policy written only to
//! restrict egress therefore also isolates its pods for ingress, with no ingress
//! rule: every connection to them is denied unless another policy allows it.
//!
//! # Bad
//!
//! ```yaml
//! spec:
//!   podSelector:
//!     matchLabels:
//!       app: worker
//!   egress:                 # policyTypes defaults to [Ingress, Egress]
//!     - to:
//!         - ipBlock:
//!             cidr: 203.0.113.0/24
//! ```
//!
//! # Good
//!
//! ```yaml
//! spec:
//!   podSelector:
//!     matchLabels:
//!       app: worker
//!   policyTypes:
//!     - Egress
//!   egress:
//!     - to:
//!         - ipBlock:
//!             cidr: 203.0.113.0/24
//! ```
//!
//! # Fix
//!
//! Write `policyTypes: [Egress]`, or `[Ingress, Egress]` if denying ingress is
//! intended (then say so).

use netfence_model::Direction;

use crate::context::LintContext;
use crate::finding::{Finding, Level};
use crate::rules::Rule;

pub static RULE: Rule = Rule {
    id: "NF008",
    name: "missing-policy-types",
    severity: Level::Warning,
    check,
    source: include_str!("nf008_missing_policy_types.rs"),
};

fn check(ctx: &LintContext, out: &mut Vec<Finding>) {
    for (p, policy) in ctx.cluster().policies.iter().enumerate() {
        if policy.policy_types_written
            || policy.egress.is_empty()
            || !policy.ingress.is_empty()
            || !policy.isolates(Direction::Ingress)
        {
            continue;
        }
        let pods = ctx.selected_pods(p);
        let whom = if pods.is_empty() {
            "the pods it selects".to_string()
        } else {
            netfence_text::short_list(&ctx.ids(&pods))
        };
        out.push(
            Finding::new(
                &RULE,
                format!(
                    "policyTypes is not written and the policy has egress rules, so the apiserver defaults it to [Ingress, Egress]: the policy also denies all ingress to {whom}"
                ),
            )
            .at_key(ctx.policy_root(p).key("spec").key("egress"))
            .object(ctx.policy_ref(p))
            .help("write `policyTypes: [Egress]` for an egress-only policy (or `[Ingress, Egress]` if denying ingress is intended)")
            .related(ctx.ids(&pods)),
        );
    }
}
