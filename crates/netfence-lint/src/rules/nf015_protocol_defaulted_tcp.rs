//! A port without protocol means TCP, but the destination serves it on UDP.
//!
//! # Why it matters
//!
//! `protocol` defaults to TCP. An entry `port: 53` or `port: 514` written for a
//! UDP service (DNS, syslog, StatsD, QUIC) therefore opens TCP only, and the UDP
//! traffic it was meant for stays blocked. netfence compares the entry with the
//! container ports of the pods the rule is about.
//!
//! # Bad
//!
//! ```yaml
//! egress:
//!   - to:
//!       - podSelector:
//!           matchLabels: {app: statsd}
//!     ports:
//!       - port: 8125            # TCP; statsd listens on 8125/UDP
//! ```
//!
//! # Good
//!
//! ```yaml
//!     ports:
//!       - protocol: UDP
//!         port: 8125
//! ```
//!
//! # Fix
//!
//! Write `protocol: UDP` (and a second entry with TCP if both are meant).

use netfence_engine::EpId;
use netfence_model::{PortRef, Protocol};

use crate::context::LintContext;
use crate::finding::{Finding, Level};
use crate::rules::Rule;

pub static RULE: Rule = Rule {
    id: "NF015",
    name: "protocol-defaulted-tcp",
    severity: Level::Warning,
    check,
    source: include_str!("nf015_protocol_defaulted_tcp.rs"),
};

fn serving(ctx: &LintContext, pods: &[EpId], protocol: Protocol, lo: u16, hi: u16) -> Vec<EpId> {
    pods.iter()
        .copied()
        .filter(|&e| {
            ctx.engine.endpoint(e).model_index.is_some_and(|i| {
                ctx.cluster().endpoints[i]
                    .ports
                    .iter()
                    .any(|p| p.protocol == protocol && (lo..=hi).contains(&p.port))
            })
        })
        .collect()
}

fn check(ctx: &LintContext, out: &mut Vec<Finding>) {
    for at in ctx.rules() {
        for spec in at.rule.ports.iter().flatten() {
            let Some(PortRef::Range { lo, hi }) = spec.port else {
                continue;
            };
            if ctx.written(&spec.loc.key("protocol")) {
                continue;
            }
            let pods = ctx.rule_destinations(at.policy, at.dir, at.index);
            let udp = serving(ctx, &pods, Protocol::Udp, lo, hi);
            if udp.is_empty() || !serving(ctx, &pods, Protocol::Tcp, lo, hi).is_empty() {
                continue;
            }
            let port = if lo == hi {
                lo.to_string()
            } else {
                format!("{lo}-{hi}")
            };
            out.push(
                Finding::new(
                    &RULE,
                    format!(
                        "`protocol` is not written, so this entry opens TCP {port}; {} serve {port} on UDP only",
                        netfence_text::short_list(&ctx.ids(&udp))
                    ),
                )
                .at(spec.loc.key("port"))
                .object(ctx.policy_ref(at.policy))
                .help(format!("write `protocol: UDP` (and a second entry `protocol: TCP` with `port: {port}` if TCP is meant too)"))
                .related(ctx.ids(&udp)),
            );
        }
    }
}
