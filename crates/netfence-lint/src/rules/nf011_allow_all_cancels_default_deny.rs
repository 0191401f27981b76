//! An allow-all policy cancels a default-deny.
//!
//! # Why it matters
//!
//! Policies only add allowances: a default-deny isolates pods, and any other
//! policy selecting them can allow traffic back. When another policy allows
//! every connection in that direction (a `- {}` rule, or peers and ports that
//! together cover everything), the default-deny protects those pods from
//! nothing, although the namespace looks locked down. netfence proves it with
//! the engine: for each reported pod, every peer is allowed every connection.
//!
//! # Bad
//!
//! ```yaml
//! kind: NetworkPolicy
//! metadata: {name: default-deny, namespace: app}
//! spec:
//!   podSelector: {}
//!   policyTypes: [Ingress]
//! ---
//! kind: NetworkPolicy
//! metadata: {name: debug, namespace: app}
//! spec:
//!   podSelector: {}
//!   ingress:
//!     - {}                  # everything is allowed again
//! ```
//!
//! # Good
//!
//! ```yaml
//! kind: NetworkPolicy
//! metadata: {name: allow-web, namespace: app}
//! spec:
//!   podSelector:
//!     matchLabels: {app: web}
//!   ingress:
//!     - from:
//!         - podSelector:
//!             matchLabels: {app: frontend}
//!       ports:
//!         - port: 8080
//! ```
//!
//! # Fix
//!
//! Narrow or delete the policy that allows everything.

use std::collections::BTreeSet;

use netfence_model::Direction;

use crate::context::LintContext;
use crate::finding::{Finding, Level};
use crate::rules::Rule;

pub static RULE: Rule = Rule {
    id: "NF011",
    name: "allow-all-cancels-default-deny",
    severity: Level::Warning,
    check,
    source: include_str!("nf011_allow_all_cancels_default_deny.rs"),
};

fn check(ctx: &LintContext, out: &mut Vec<Finding>) {
    let engine = ctx.engine;
    for (p, _) in ctx.cluster().policies.iter().enumerate() {
        for dir in Direction::BOTH {
            if !ctx.is_default_deny(p, dir) {
                continue;
            }
            let mut cancelled = Vec::new();
            let mut granting: BTreeSet<(usize, usize)> = BTreeSet::new();
            for (class, c) in engine.classes.iter().enumerate() {
                if !c.isolating[netfence_engine::classes::dir_index(dir)].contains(&p) {
                    continue;
                }
                let Some(grants) = ctx.open_to_every_peer(dir, class) else {
                    continue;
                };
                cancelled.extend(c.members.iter().copied().filter(|&e| ctx.is_real_pod(e)));
                granting.extend(grants.iter().map(|g| (g.policy, g.rule)));
            }
            if cancelled.is_empty() {
                continue;
            }
            cancelled.sort_unstable();
            let by: Vec<String> = granting
                .iter()
                .map(|&(gp, gr)| ctx.rule_name(gp, dir, gr))
                .collect();
            out.push(Finding::new(
                &RULE,
                format!(
                    "this default-deny {} has no effect on {}: every {} connection is allowed again by {}",
                    dir.as_str(),
                    netfence_text::short_list(&ctx.ids(&cancelled)),
                    dir.as_str(),
                    netfence_text::short_list(&by)
                ),
            )
            .at_field(ctx.policy_type_loc(p, dir))
            .object(ctx.policy_ref(p))
            .help("narrow the allowing rules to the peers and ports really needed, or delete them")
            .related(ctx.ids(&cancelled)));
        }
    }
}
