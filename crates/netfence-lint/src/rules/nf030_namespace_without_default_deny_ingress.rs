//! A namespace with pods and no default-deny ingress.
//!
//! # Why it matters
//!
//! Pods are open to every connection until a policy selects them for ingress.
//! Without a namespace-wide default-deny (a policy with `podSelector: {}` and
//! `Ingress` in policyTypes), every new workload starts reachable from the whole
//! cluster and from outside, and stays so until someone remembers to write its
//! policy. Posture finding: reported as information.
//!
//! # Bad
//!
//! ```yaml
//! # namespace app: policies for some pods only
//! ```
//!
//! # Good
//!
//! ```yaml
//! apiVersion: networking.k8s.io/v1
//! kind: NetworkPolicy
//! metadata:
//!   name: default-deny-ingress
//!   namespace: app
//! spec:
//!   podSelector: {}
//!   policyTypes:
//!     - Ingress
//! ```
//!
//! # Fix
//!
//! Add a default-deny, then allow each flow explicitly.

use netfence_model::Direction;

use crate::context::LintContext;
use crate::finding::{Finding, Level};
use crate::rules::Rule;

pub static RULE: Rule = Rule {
    id: "NF030",
    name: "namespace-without-default-deny-ingress",
    severity: Level::Info,
    check,
    source: include_str!("nf030_namespace_without_default_deny_ingress.rs"),
};

fn check(ctx: &LintContext, out: &mut Vec<Finding>) {
    report(ctx, &RULE, Direction::Ingress, out);
}

/// Shared with NF031 (egress).
pub fn report(ctx: &LintContext, rule: &Rule, dir: Direction, out: &mut Vec<Finding>) {
    for posture in ctx.engine.namespace_postures() {
        let ns = &posture.namespace;
        let covered = match dir {
            Direction::Ingress => posture.default_deny_ingress,
            Direction::Egress => posture.default_deny_egress,
        };
        if covered || !ctx.namespace_has_pods(ns) {
            continue;
        }
        let open = match dir {
            Direction::Ingress => &posture.open_ingress,
            Direction::Egress => &posture.open_egress,
        };
        let open: Vec<String> = open
            .iter()
            .filter(|id| ctx.engine.find(id).is_ok_and(|e| ctx.is_real_pod(e)))
            .cloned()
            .collect();
        let policy = serde_json::json!({
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": format!("default-deny-{}", dir.as_str()), "namespace": ns},
            "spec": {"podSelector": {}, "policyTypes": [dir.policy_type()]},
        });
        let mut help = format!(
            "add a default-deny, then allow each flow explicitly:\n---\n{}",
            netfence_text::yaml::to_yaml(&policy)
        );
        if dir == Direction::Egress {
            help.push_str("and allow DNS in the same change (see NF012)");
        }
        let open_text = if open.is_empty() {
            String::new()
        } else {
            format!(
                "; not isolated for {} today: {}",
                dir.as_str(),
                netfence_text::short_list(&open)
            )
        };
        out.push(
            Finding::new(
                rule,
                format!(
                    "namespace {ns} has no default-deny {} (a policy with `podSelector: {{}}` and {} in policyTypes){open_text}",
                    dir.as_str(),
                    dir.policy_type()
                ),
            )
            .on_object(ctx.namespace_ref(ns))
            .help(help)
            .related(open),
        );
    }
}
