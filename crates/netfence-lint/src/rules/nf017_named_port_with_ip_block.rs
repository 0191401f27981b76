//! A named port towards an ipBlock peer never matches.
//!
//! # Why it matters
//!
//! Named ports resolve on the destination pod's container ports. Addresses
//! outside the cluster (and nodes) have no named ports, so an egress rule that
//! combines an `ipBlock` peer with `port: https` opens nothing towards that
//! block, while reading as if it allowed HTTPS to it.
//!
//! # Bad
//!
//! ```yaml
//! egress:
//!   - to:
//!       - ipBlock:
//!           cidr: 203.0.113.0/24
//!     ports:
//!       - port: https
//! ```
//!
//! # Good
//!
//! ```yaml
//! egress:
//!   - to:
//!       - ipBlock:
//!           cidr: 203.0.113.0/24
//!     ports:
//!       - port: 443
//! ```
//!
//! # Fix
//!
//! Use the port number for ipBlock peers (in a rule of their own if pod peers of
//! the same rule need the name).

use netfence_model::{Direction, PeerKind, PortRef};

use crate::context::LintContext;
use crate::finding::{Finding, Level};
use crate::rules::Rule;

pub static RULE: Rule = Rule {
    id: "NF017",
    name: "named-port-with-ip-block",
    severity: Level::Warning,
    check,
    source: include_str!("nf017_named_port_with_ip_block.rs"),
};

fn check(ctx: &LintContext, out: &mut Vec<Finding>) {
    let engine = ctx.engine;
    for at in ctx.rules() {
        if at.dir != Direction::Egress {
            continue;
        }
        let Some(peers) = &at.rule.peers else {
            continue;
        };
        for spec in at.rule.ports.iter().flatten() {
            let Some(PortRef::Named(name)) = &spec.port else {
                continue;
            };
            let blocked = peers.iter().enumerate().find_map(|(k, peer)| {
                let PeerKind::IpBlock { cidr, .. } = &peer.kind else {
                    return None;
                };
                let outside: Vec<_> = engine
                    .peer_members(at.policy, at.dir, at.index, k)
                    .into_iter()
                    .filter(|&e| !engine.endpoint(e).is_pod_like())
                    .collect();
                let never = !outside.is_empty()
                    && outside.iter().all(|&e| {
                        engine
                            .rule_ports_for(Some(std::slice::from_ref(spec)), e)
                            .is_empty()
                    });
                never.then_some(*cidr)
            });
            let Some(cidr) = blocked else {
                continue;
            };
            out.push(
                Finding::new(
                    &RULE,
                    format!(
                        "named port `{name}` cannot match ipBlock {cidr}: names resolve on destination pods, and addresses outside the cluster have none"
                    ),
                )
                .at(spec.loc.key("port"))
                .object(ctx.policy_ref(at.policy))
                .help("write the port number for the ipBlock peer (in a rule of its own if the rule's pod peers need the name)"),
            );
        }
    }
}
