//! A rule with no peers and no ports allows everything.
//!
//! # Why it matters
//!
//! A rule without `from`/`to` matches every peer (every pod, node and external
//! address) and a rule without `ports` every port and protocol, so `- {}` allows
//! all traffic in its direction. It is easily confused with the deny-all forms:
//! `ingress: []` (or no `ingress` key with `Ingress` in policyTypes) denies all
//! ingress, while `ingress: [{}]` allows all of it.
//!
//! # Bad
//!
//! ```yaml
//! spec:
//!   podSelector: {}
//!   policyTypes:
//!     - Ingress
//!   ingress:
//!     - {}                  # allows every source on every port
//! ```
//!
//! # Good
//!
//! ```yaml
//! spec:
//!   podSelector: {}
//!   policyTypes:
//!     - Ingress             # no rules: denies all ingress
//! ```
//!
//! # Fix
//!
//! To deny, leave the rules out. To allow specific traffic, list the peers under
//! `from`/`to` and the `ports`. If allowing everything is really intended,
//! silence the finding with `netfence.io/lint-ignore: NF010`.

use netfence_model::Direction;

use crate::context::LintContext;
use crate::finding::{Finding, Level};
use crate::rules::Rule;

pub static RULE: Rule = Rule {
    id: "NF010",
    name: "allow-all-rule",
    severity: Level::Warning,
    check,
    source: include_str!("nf010_allow_all_rule.rs"),
};

fn check(ctx: &LintContext, out: &mut Vec<Finding>) {
    for at in ctx.rules() {
        if at.rule.peers.is_some() || at.rule.ports.is_some() {
            continue;
        }
        let (what, deny) = match at.dir {
            Direction::Ingress => (
                "admits every source (every pod, node and external address)",
                "`ingress: []`",
            ),
            Direction::Egress => (
                "allows every destination (every pod, node and external address)",
                "`egress: []`",
            ),
        };
        let pods = ctx.selected_pods(at.policy);
        out.push(
            Finding::new(
                &RULE,
                format!(
                    "this rule has no `{}` and no `ports`: it {what} on every port and protocol",
                    at.dir.peer_field()
                ),
            )
            .at(at.rule.loc.clone())
            .object(ctx.policy_ref(at.policy))
            .help(format!(
                "to deny all {}, remove the rule ({deny} with {} in policyTypes denies everything); to allow specific traffic, list the peers under `{}` and the `ports`",
                at.dir.as_str(),
                at.dir.policy_type(),
                at.dir.peer_field()
            ))
            .related(ctx.ids(&pods)),
        );
    }
}
