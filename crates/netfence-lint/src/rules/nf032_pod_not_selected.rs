//! A workload or pod that no NetworkPolicy selects.
//!
//! # Why it matters
//!
//! A pod no policy selects is isolated in neither direction: it accepts every
//! connection and may open any. That may be deliberate (a namespace left
//! unmanaged), but it should be a decision, visible in review. Reported once per
//! workload (or bare pod), as information.
//!
//! # Bad
//!
//! ```yaml
//! # Deployment batch/reporter, and no policy in batch selects app: reporter
//! ```
//!
//! # Good
//!
//! ```yaml
//! kind: NetworkPolicy
//! metadata: {name: default-deny-all, namespace: batch}
//! spec:
//!   podSelector: {}
//!   policyTypes: [Ingress, Egress]
//! ```
//!
//! # Fix
//!
//! Cover the namespace with a default-deny (NF030, NF031), or a policy for the
//! workload.

use std::collections::BTreeMap;

use netfence_model::Direction;

use crate::context::LintContext;
use crate::finding::{Finding, Level};
use crate::rules::Rule;

pub static RULE: Rule = Rule {
    id: "NF032",
    name: "pod-not-selected",
    severity: Level::Info,
    check,
    source: include_str!("nf032_pod_not_selected.rs"),
};

fn check(ctx: &LintContext, out: &mut Vec<Finding>) {
    let engine = ctx.engine;
    let mut groups: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for ep in ctx.real_pods() {
        let e = engine.endpoint(ep);
        let unselected = Direction::BOTH
            .into_iter()
            .all(|d| engine.isolating(ep, d).is_empty());
        // Admin policies judge it: "accepts every connection" would be false
        // (rules for admin policies come later, issue 13).
        if !e.selectable || !unselected || !engine.admin_policies_of(ep).is_empty() {
            continue;
        }
        if let Some(i) = e.model_index {
            groups
                .entry(ctx.cluster().endpoints[i].group())
                .or_default()
                .push(ep);
        }
    }
    for (group, pods) in groups {
        let Some(object) = ctx.endpoint_ref(pods[0]) else {
            continue;
        };
        out.push(
            Finding::new(
            &RULE,
            format!("{group} is selected by no NetworkPolicy: it accepts every connection and may open any"),
        )
            .on_object(object)
        .help("cover its namespace with a default-deny (NF030, NF031) or write a policy for it")
        .related(ctx.ids(&pods)),
        );
    }
}
