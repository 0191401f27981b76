//! A policy whose podSelector selects no pod.
//!
//! # Why it matters
//!
//! A policy applies only to the pods its `spec.podSelector` selects in its own
//! namespace. When it selects none, it isolates nothing and allows nothing: the
//! protection or the allowance it was written for does not exist. Typical causes
//! are a label typo, labels on the Deployment instead of its pod template, or a
//! policy applied to the wrong namespace.
//!
//! Reported only when the policy's namespace has pods in the input (NF033 covers
//! policies in namespaces without pods).
//!
//! # Bad
//!
//! ```yaml
//! metadata:
//!   namespace: app
//! spec:
//!   podSelector:
//!     matchLabels:
//!       app: backend        # the pods are labelled app: api
//! ```
//!
//! # Good
//!
//! ```yaml
//! spec:
//!   podSelector:
//!     matchLabels:
//!       app: api
//! ```
//!
//! # Fix
//!
//! Select labels the pods carry (the help lists them), or delete the policy.

use crate::context::LintContext;
use crate::finding::{Finding, Level};
use crate::rules::Rule;

pub static RULE: Rule = Rule {
    id: "NF007",
    name: "policy-selects-no-pods",
    severity: Level::Warning,
    check,
    source: include_str!("nf007_policy_selects_no_pods.rs"),
};

fn check(ctx: &LintContext, out: &mut Vec<Finding>) {
    for (p, policy) in ctx.cluster().policies.iter().enumerate() {
        if !ctx.namespace_has_pods(&policy.namespace) || !ctx.selected_pods(p).is_empty() {
            continue;
        }
        let in_namespace: Vec<_> = ctx
            .real_pods()
            .filter(|&e| ctx.engine.endpoint(e).namespace.as_deref() == Some(&policy.namespace))
            .collect();
        out.push(
            Finding::new(
                &RULE,
                format!(
                    "spec.podSelector {} selects no pod in namespace {}: the policy has no effect",
                    policy.pod_selector.to_kubectl(),
                    policy.namespace
                ),
            )
            .at_key(ctx.policy_root(p).key("spec").key("podSelector"))
            .object(ctx.policy_ref(p))
            .help(format!(
                "the pods of {} carry {}; select one of those label sets, or delete the policy",
                policy.namespace,
                ctx.label_sets(&in_namespace)
            )),
        );
    }
}
