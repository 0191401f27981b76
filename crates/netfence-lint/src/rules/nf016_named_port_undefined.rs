//! A named port that no pod the rule is about defines.
//!
//! # Why it matters
//!
//! A named port (`port: http`) resolves on the destination pod: for ingress the
//! selected pods, for egress the pods the rule's peers match. It matches only a
//! container port with that name **and** the rule's protocol (TCP by default).
//! When none of those pods defines it, the entry opens nothing, and the flow it
//! was written for stays blocked.
//!
//! # Bad
//!
//! ```yaml
//! egress:
//!   - to:
//!       - podSelector:
//!           matchLabels: {k8s-app: kube-dns}
//!     ports:
//!       - port: dns             # TCP; the container's `dns` port is UDP
//! ```
//!
//! # Good
//!
//! ```yaml
//!     ports:
//!       - protocol: UDP
//!         port: dns
//!       - protocol: TCP
//!         port: dns-tcp
//! ```
//!
//! # Fix
//!
//! Use a name the containers declare, with its protocol, or the port number.

use netfence_model::PortRef;

use crate::context::LintContext;
use crate::finding::{Finding, Level};
use crate::rules::Rule;

pub static RULE: Rule = Rule {
    id: "NF016",
    name: "named-port-undefined",
    severity: Level::Warning,
    check,
    source: include_str!("nf016_named_port_undefined.rs"),
};

fn check(ctx: &LintContext, out: &mut Vec<Finding>) {
    let engine = ctx.engine;
    for at in ctx.rules() {
        for spec in at.rule.ports.iter().flatten() {
            let Some(PortRef::Named(name)) = &spec.port else {
                continue;
            };
            let pods: Vec<_> = ctx
                .rule_destinations(at.policy, at.dir, at.index)
                .into_iter()
                .filter(|&e| ctx.is_real_pod(e))
                .collect();
            if pods.is_empty()
                || pods.iter().any(|&e| {
                    !engine
                        .rule_ports_for(Some(std::slice::from_ref(spec)), e)
                        .is_empty()
                })
            {
                continue;
            }
            let other_protocol: Vec<String> = pods
                .iter()
                .filter_map(|&e| engine.endpoint(e).model_index.map(|i| (e, i)))
                .flat_map(|(e, i)| {
                    ctx.cluster().endpoints[i]
                        .ports
                        .iter()
                        .filter(|p| p.name.as_deref() == Some(name.as_str()))
                        .map(move |p| (e, p.protocol))
                })
                .map(|(e, proto)| format!("{proto} on {}", engine.endpoint(e).id))
                .collect();
            let help = match other_protocol.first() {
                Some(first) => format!(
                    "`{name}` is {first}: write `protocol: {}` in this entry (the protocol must match the container port's)",
                    first.split(' ').next().unwrap_or("UDP")
                ),
                None => format!(
                    "use a port name the containers declare (their ports are named on {}), or the port number",
                    netfence_text::short_list(&ctx.ids(&pods))
                ),
            };
            out.push(
                Finding::new(
                    &RULE,
                    format!(
                        "named port `{name}` ({}) is defined on none of the pods this rule is about ({}): the entry opens nothing",
                        spec.protocol,
                        netfence_text::short_list(&ctx.ids(&pods))
                    ),
                )
                .at(spec.loc.key("port"))
                .object(ctx.policy_ref(at.policy))
                .help(help)
                .related(ctx.ids(&pods)),
            );
        }
    }
}
