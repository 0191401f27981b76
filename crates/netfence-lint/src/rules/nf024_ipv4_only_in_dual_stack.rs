//! `0.0.0.0/0` without `::/0` in a dual-stack input.
//!
//! # Why it matters
//!
//! An IPv4 CIDR never matches IPv6 traffic. In a dual-stack cluster, a rule
//! meant as "anywhere" written as `0.0.0.0/0` alone allows IPv4 only: the same
//! destinations reached over IPv6 (which many clients prefer) stay blocked.
//! netfence considers the input dual-stack when it has IPv6 pod or node
//! addresses, or IPv6 ipBlocks.
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
//!       - ipBlock:
//!           cidr: ::/0
//! ```
//!
//! # Fix
//!
//! Add `- ipBlock: {cidr: ::/0}` next to it.

use netfence_model::PeerKind;

use crate::context::LintContext;
use crate::finding::{Finding, Level};
use crate::rules::Rule;

pub static RULE: Rule = Rule {
    id: "NF024",
    name: "ipv4-only-in-dual-stack",
    severity: Level::Warning,
    check,
    source: include_str!("nf024_ipv4_only_in_dual_stack.rs"),
};

/// What makes the input dual-stack, for the message; `None` when it is not.
fn ipv6_evidence(ctx: &LintContext) -> Option<String> {
    let cluster = ctx.cluster();
    if let Some(e) = cluster
        .endpoints
        .iter()
        .find(|e| e.ips.iter().any(|ip| ip.is_ipv6()))
    {
        return Some(format!("{} has an IPv6 address", e.id));
    }
    if let Some(n) = cluster
        .nodes
        .iter()
        .find(|n| n.addresses.iter().any(|ip| ip.is_ipv6()))
    {
        return Some(format!("node {} has an IPv6 address", n.name));
    }
    ctx.rules().into_iter().find_map(|at| {
        at.rule.peers.iter().flatten().find_map(|p| match &p.kind {
            PeerKind::IpBlock { cidr, .. } if cidr.addr().is_ipv6() => Some(format!(
                "{} has the IPv6 ipBlock {cidr}",
                ctx.rule_name(at.policy, at.dir, at.index)
            )),
            _ => None,
        })
    })
}

fn check(ctx: &LintContext, out: &mut Vec<Finding>) {
    let Some(evidence) = ipv6_evidence(ctx) else {
        return;
    };
    for at in ctx.rules() {
        let Some(peers) = &at.rule.peers else {
            continue;
        };
        let whole = |v6: bool| {
            peers.iter().find(|p| {
                matches!(&p.kind, PeerKind::IpBlock { cidr, .. } if cidr.prefix_len() == 0 && cidr.addr().is_ipv6() == v6)
            })
        };
        let (Some(v4), None) = (whole(false), whole(true)) else {
            continue;
        };
        out.push(
            Finding::new(
                &RULE,
                format!("0.0.0.0/0 covers IPv4 only, and this input is dual-stack ({evidence}): the same destinations over IPv6 stay blocked"),
            )
            .at(v4.loc.key("ipBlock").key("cidr"))
            .object(ctx.policy_ref(at.policy))
            .help("add the IPv6 counterpart next to it:\n  - ipBlock:\n      cidr: \"::/0\""),
        );
    }
}
