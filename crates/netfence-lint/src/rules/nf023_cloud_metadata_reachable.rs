//! Egress to an ipBlock that includes the cloud metadata endpoint 169.254.169.254.
//!
//! # Why it matters
//!
//! On AWS, GCP, Azure and most clouds, 169.254.169.254 serves instance metadata
//! over HTTP, including the node's cloud credentials. An egress rule to
//! `0.0.0.0/0` (or `169.254.0.0/16`) lets any compromised pod, or any SSRF in it,
//! fetch them. netfence reports rules whose ipBlock contains the address and
//! whose ports allow TCP 80 to it.
//!
//! # Bad
//!
//! ```yaml
//! egress:
//!   - to:
//!       - ipBlock:
//!           cidr: 0.0.0.0/0
//! ```
//!
//! # Good
//!
//! ```yaml
//! egress:
//!   - to:
//!       - ipBlock:
//!           cidr: 0.0.0.0/0
//!           except:
//!             - 169.254.169.254/32
//! ```
//!
//! # Fix
//!
//! Add `169.254.169.254/32` to the ipBlock's `except`, or limit the ports.

use std::net::{IpAddr, Ipv4Addr};

use netfence_model::{Direction, PeerKind, Protocol};

use crate::context::LintContext;
use crate::finding::{Finding, Level};
use crate::rules::Rule;

pub static RULE: Rule = Rule {
    id: "NF023",
    name: "cloud-metadata-reachable",
    severity: Level::Warning,
    check,
    source: include_str!("nf023_cloud_metadata_reachable.rs"),
};

const METADATA: IpAddr = IpAddr::V4(Ipv4Addr::new(169, 254, 169, 254));

fn check(ctx: &LintContext, out: &mut Vec<Finding>) {
    let engine = ctx.engine;
    let metadata = engine.endpoint_for_ip(METADATA);
    for at in ctx.rules() {
        if at.dir != Direction::Egress {
            continue;
        }
        for (k, peer) in at.rule.peers.iter().flatten().enumerate() {
            let PeerKind::IpBlock { cidr, .. } = &peer.kind else {
                continue;
            };
            if !engine
                .peer_members(at.policy, at.dir, at.index, k)
                .contains(&metadata)
                || !engine
                    .rule_ports_for(at.rule.ports.as_deref(), metadata)
                    .allows(Protocol::Tcp, 80)
            {
                continue;
            }
            out.push(
                Finding::new(
                    &RULE,
                    format!(
                        "ipBlock {cidr} includes 169.254.169.254, the cloud instance-metadata endpoint, and the rule allows TCP 80 to it: a compromised pod (or an SSRF) can read the node's cloud credentials"
                    ),
                )
                .at(peer.loc.key("ipBlock").key("cidr"))
                .object(ctx.policy_ref(at.policy))
                .help(format!("except the metadata address:\n  - ipBlock:\n      cidr: {cidr}\n      except:\n        - 169.254.169.254/32")),
            );
        }
    }
}
