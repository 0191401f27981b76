//! A policy in a namespace that has no pods in the input.
//!
//! # Why it matters
//!
//! A policy only acts on pods of its own namespace. When the input has pods, but
//! none in the policy's namespace, either the policy was applied to the wrong
//! namespace (a missing or mistyped `metadata.namespace`, or `kubectl apply -n`
//! to the wrong place), or the namespace's workloads are missing from the input.
//! Reported as information.
//!
//! # Bad
//!
//! ```yaml
//! metadata:
//!   name: allow-frontend
//!   namespace: frontend        # the pods run in namespace web
//! ```
//!
//! # Good
//!
//! ```yaml
//! metadata:
//!   name: allow-frontend
//!   namespace: web
//! ```
//!
//! # Fix
//!
//! Correct `metadata.namespace`, or add the namespace's workloads to the input.

use crate::context::LintContext;
use crate::finding::{Finding, Level};
use crate::rules::Rule;

pub static RULE: Rule = Rule {
    id: "NF033",
    name: "policy-in-empty-namespace",
    severity: Level::Info,
    check,
    source: include_str!("nf033_policy_in_empty_namespace.rs"),
};

fn check(ctx: &LintContext, out: &mut Vec<Finding>) {
    if !ctx.has_pods() {
        return;
    }
    for (p, policy) in ctx.cluster().policies.iter().enumerate() {
        if ctx.namespace_has_pods(&policy.namespace) {
            continue;
        }
        let meta = ctx.policy_root(p).key("metadata");
        let at = if ctx.written(&meta.key("namespace")) {
            meta.key("namespace")
        } else {
            meta.key("name")
        };
        out.push(
            Finding::new(
                &RULE,
                format!(
                    "namespace {} has no pods in the input: this policy selects nothing there",
                    policy.namespace
                ),
            )
            .at(at)
            .object(ctx.policy_ref(p))
            .help("check `metadata.namespace` (or the namespace given with -n), or add the namespace's workloads to the input"),
        );
    }
}
