//! Port 53 allowed to any address.
//!
//! # Why it matters
//!
//! An egress rule that opens port 53 without `to` (or to `0.0.0.0/0`) lets pods
//! use any resolver on the internet: they bypass cluster DNS (its policies,
//! logging and split-horizon names), and DNS tunnelling to an attacker's server
//! becomes an exfiltration channel. The usual intent is "allow DNS", which means
//! the cluster DNS pods.
//!
//! # Bad
//!
//! ```yaml
//! egress:
//!   - ports:                # no `to`: any destination
//!       - protocol: UDP
//!         port: 53
//! ```
//!
//! # Good
//!
//! ```yaml
//! egress:
//!   - to:
//!       - namespaceSelector:
//!           matchLabels:
//!             kubernetes.io/metadata.name: kube-system
//!         podSelector:
//!           matchLabels:
//!             k8s-app: kube-dns
//!     ports:
//!       - protocol: UDP
//!         port: 53
//!       - protocol: TCP
//!         port: 53
//! ```
//!
//! # Fix
//!
//! Restrict the destination to the cluster DNS pods.

use netfence_engine::EndpointKind;
use netfence_model::{Direction, PeerKind, Protocol};

use crate::context::LintContext;
use crate::finding::{Finding, Level};
use crate::rules::Rule;

pub static RULE: Rule = Rule {
    id: "NF014",
    name: "dns-to-anywhere",
    severity: Level::Warning,
    check,
    source: include_str!("nf014_dns_to_anywhere.rs"),
};

fn check(ctx: &LintContext, out: &mut Vec<Finding>) {
    let engine = ctx.engine;
    for at in ctx.rules() {
        if at.dir != Direction::Egress || at.rule.ports.is_none() {
            continue;
        }
        // "Anywhere": no `to`, or an ipBlock spanning a whole address family.
        let external: Vec<usize> = match &at.rule.peers {
            None => (0..engine.endpoints.len()).collect(),
            Some(peers) => peers
                .iter()
                .enumerate()
                .filter(|(_, p)| matches!(&p.kind, PeerKind::IpBlock { cidr, .. } if cidr.prefix_len() == 0))
                .flat_map(|(k, _)| engine.peer_members(at.policy, at.dir, at.index, k))
                .collect(),
        };
        let Some(&outside) = external
            .iter()
            .find(|&&e| engine.endpoint(e).kind == EndpointKind::External)
        else {
            continue;
        };
        let conns = engine.rule_ports_for(at.rule.ports.as_deref(), outside);
        if !(conns.allows(Protocol::Udp, 53) || conns.allows(Protocol::Tcp, 53)) {
            continue;
        }
        let finding = Finding::new(
            &RULE,
            "port 53 is allowed to any address: pods can use any resolver on the internet, bypassing cluster DNS, and DNS tunnels can carry data out",
        )
        .at_key(ctx.rule_key_loc(at.rule, at.dir));
        out.push(
            finding
                .object(ctx.policy_ref(at.policy))
                .help("allow port 53 to the cluster DNS pods only:\n  to:\n    - namespaceSelector:\n        matchLabels:\n          kubernetes.io/metadata.name: kube-system\n      podSelector:\n        matchLabels:\n          k8s-app: kube-dns"),
        );
    }
}
