//! Policies that, all together, restrict nothing.
//!
//! # Why it matters
//!
//! If no connection between any two endpoints of the input is denied, the
//! policies have no effect: every policy selects no pod, or allows everything
//! for the pods it isolates. That is almost always a deployment bug (wrong
//! namespace, labels on the wrong object) or a debugging allow-all left behind,
//! and the cluster is as open as without NetworkPolicy.
//!
//! # Bad
//!
//! ```yaml
//! spec:
//!   podSelector: {}
//!   ingress:
//!     - {}
//!   egress:
//!     - {}
//! ```
//!
//! # Good
//!
//! ```yaml
//! spec:
//!   podSelector: {}
//!   policyTypes: [Ingress]
//! ```
//!
//! # Fix
//!
//! Check the policies' namespaces and selectors (NF007), and remove allow-all
//! rules (NF010).

use netfence_model::Direction;

use crate::context::LintContext;
use crate::finding::{Finding, Level};
use crate::rules::Rule;

pub static RULE: Rule = Rule {
    id: "NF027",
    name: "vacuous-policy-set",
    severity: Level::Warning,
    check,
    source: include_str!("nf027_vacuous_policy_set.rs"),
};

fn check(ctx: &LintContext, out: &mut Vec<Finding>) {
    let policies = &ctx.cluster().policies;
    if policies.is_empty() || !ctx.has_pods() {
        return;
    }
    // Every isolated side allows everything: each isolated pod class is open
    // towards (from) every class.
    let engine = ctx.engine;
    for dir in Direction::BOTH {
        for (class, c) in engine.classes.iter().enumerate() {
            let rep = engine.endpoint(c.rep);
            let isolated = rep.is_pod_like()
                && rep.selectable
                && !c.isolating[netfence_engine::classes::dir_index(dir)].is_empty();
            if isolated && ctx.open_to_every_peer(dir, class).is_none() {
                return;
            }
        }
    }
    out.push(
        Finding::new(
            &RULE,
            format!(
                "none of the {} policies restricts any connection: every pod is either selected by no policy or allowed everything",
                policies.len()
            ),
        )
        .at_key(ctx.policy_root(0).key("spec").key("podSelector"))
        .object(ctx.policy_ref(0))
        .help("check the policies' namespaces and podSelectors (NF007) and remove allow-all rules (NF010)"),
    );
}
