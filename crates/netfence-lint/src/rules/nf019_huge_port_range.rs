//! A port range of 10,000 ports or more.
//!
//! # Why it matters
//!
//! Services listen on a handful of ports. A range such as `1024-65535` is an
//! allow-all with extra steps, often written to "let the replies through" or to
//! cover ephemeral ports; but NetworkPolicy is stateful, replies of an allowed
//! connection always pass, and ephemeral ports are source ports, which policies
//! never look at.
//!
//! # Bad
//!
//! ```yaml
//! ports:
//!   - protocol: TCP
//!     port: 1024
//!     endPort: 65535
//! ```
//!
//! # Good
//!
//! ```yaml
//! ports:
//!   - protocol: TCP
//!     port: 8080
//!   - protocol: TCP
//!     port: 8443
//! ```
//!
//! # Fix
//!
//! List the ports the destination listens on.

use netfence_model::PortRef;

use crate::context::LintContext;
use crate::finding::{Finding, Level};
use crate::rules::Rule;

pub static RULE: Rule = Rule {
    id: "NF019",
    name: "huge-port-range",
    severity: Level::Warning,
    check,
    source: include_str!("nf019_huge_port_range.rs"),
};

/// Wider than this, a range is no longer a service's ports.
const HUGE: u32 = 10_000;

fn check(ctx: &LintContext, out: &mut Vec<Finding>) {
    for at in ctx.rules() {
        for spec in at.rule.ports.iter().flatten() {
            let Some(PortRef::Range { lo, hi }) = spec.port else {
                continue;
            };
            let count = u32::from(hi) - u32::from(lo) + 1;
            if count < HUGE {
                continue;
            }
            out.push(
                Finding::new(
                    &RULE,
                    format!(
                        "this entry opens {count} {} ports ({lo}-{hi}): replies of allowed connections always pass and source ports are never checked, so ranges this wide are rarely needed",
                        spec.protocol
                    ),
                )
                .at(spec.loc.key("endPort"))
                .object(ctx.policy_ref(at.policy))
                .help("list the ports the destination listens on"),
            );
        }
    }
}
