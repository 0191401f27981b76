//! DNS allowed on UDP only: the TCP fallback is blocked.
//!
//! # Why it matters
//!
//! Resolvers retry over TCP when an answer does not fit in a UDP datagram
//! (truncated responses: DNSSEC, many records, long names). With only UDP 53
//! allowed, those lookups fail intermittently, depending on the answer size,
//! which is hard to diagnose.
//!
//! # Bad
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
//! ```
//!
//! # Good
//!
//! ```yaml
//!     ports:
//!       - protocol: UDP
//!         port: 53
//!       - protocol: TCP
//!         port: 53
//! ```
//!
//! # Fix
//!
//! Allow TCP 53 next to UDP 53.

use std::collections::BTreeMap;

use netfence_model::{Direction, Protocol};

use crate::context::LintContext;
use crate::finding::{Finding, Level};
use crate::rules::Rule;

pub static RULE: Rule = Rule {
    id: "NF013",
    name: "dns-udp-only",
    severity: Level::Warning,
    check,
    source: include_str!("nf013_dns_udp_only.rs"),
};

fn check(ctx: &LintContext, out: &mut Vec<Finding>) {
    let engine = ctx.engine;
    let dns = ctx.dns_endpoints();
    let mut by_rule: BTreeMap<(usize, usize), Vec<usize>> = BTreeMap::new();
    for problem in ctx.dns_problems().iter().filter(|d| d.udp && !d.tcp) {
        let Ok(pod) = engine.find(&problem.pod) else {
            continue;
        };
        for &d in &dns {
            engine.side_classes(
                Direction::Egress,
                engine.class_of[pod],
                engine.class_of[d],
                |grant| {
                    if grant.conns.allows(Protocol::Udp, 53) {
                        by_rule
                            .entry((grant.policy, grant.rule))
                            .or_default()
                            .push(pod);
                    }
                },
            );
        }
    }
    for ((p, r), mut pods) in by_rule {
        pods.sort_unstable();
        pods.dedup();
        let rule = &ctx.cluster().policies[p].egress[r];
        out.push(
            Finding::new(
                &RULE,
                format!(
                    "this rule allows DNS on UDP 53 only, and nothing allows TCP 53 for {}: lookups whose answers need TCP (truncated, DNSSEC, many records) fail",
                    netfence_text::short_list(&ctx.ids(&pods))
                ),
            )
            .at_key(rule.loc.key("ports"))
            .object(ctx.policy_ref(p))
            .help("allow TCP next to UDP:\n  ports:\n    - protocol: UDP\n      port: 53\n    - protocol: TCP\n      port: 53")
            .related(ctx.ids(&pods)),
        );
    }
}
