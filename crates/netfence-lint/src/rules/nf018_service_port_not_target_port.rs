//! A Service port used where the pod's port (targetPort) is meant.
//!
//! # Why it matters
//!
//! Policies are evaluated after the Service translates the connection: they see
//! the backend pod and its container port (the Service's `targetPort`), never the
//! Service's own `port`. A rule that opens the Service port (80) for a backend
//! listening on 8080 opens nothing useful, and the connection through the
//! Service is denied.
//!
//! # Bad
//!
//! ```yaml
//! # Service web: port 80 -> targetPort 8080
//! ingress:
//!   - from:
//!       - podSelector: {matchLabels: {app: frontend}}
//!     ports:
//!       - port: 80
//! ```
//!
//! # Good
//!
//! ```yaml
//! ingress:
//!   - from:
//!       - podSelector: {matchLabels: {app: frontend}}
//!     ports:
//!       - port: 8080            # or the container port's name, e.g. http
//! ```
//!
//! # Fix
//!
//! Write the container port (the Service's targetPort), or its name.

use std::collections::BTreeSet;

use netfence_model::PortRef;

use crate::context::LintContext;
use crate::finding::{Finding, Level};
use crate::rules::Rule;

pub static RULE: Rule = Rule {
    id: "NF018",
    name: "service-port-not-target-port",
    severity: Level::Warning,
    check,
    source: include_str!("nf018_service_port_not_target_port.rs"),
};

fn check(ctx: &LintContext, out: &mut Vec<Finding>) {
    let engine = ctx.engine;
    let cluster = ctx.cluster();
    for at in ctx.rules() {
        for spec in at.rule.ports.iter().flatten() {
            let Some(PortRef::Range { lo, hi }) = spec.port else {
                continue;
            };
            if lo != hi {
                continue;
            }
            let mut services = BTreeSet::new();
            let mut targets = BTreeSet::new();
            let mut pods = Vec::new();
            for dst in ctx.rule_destinations(at.policy, at.dir, at.index) {
                let Some(m) = engine
                    .endpoint(dst)
                    .model_index
                    .map(|i| &cluster.endpoints[i])
                else {
                    continue;
                };
                if m.ports
                    .iter()
                    .any(|p| p.port == lo && p.protocol == spec.protocol)
                {
                    continue;
                }
                let opened = engine.rule_ports_for(at.rule.ports.as_deref(), dst);
                for svc in cluster
                    .services
                    .iter()
                    .filter(|s| s.namespace == m.namespace && s.selects(&m.labels))
                {
                    for sp in svc
                        .ports
                        .iter()
                        .filter(|sp| sp.port == lo && sp.protocol == spec.protocol)
                    {
                        let target = match &sp.target {
                            PortRef::Range { lo, .. } => Some(*lo),
                            PortRef::Named(n) => m
                                .ports
                                .iter()
                                .find(|p| p.name.as_deref() == Some(n) && p.protocol == sp.protocol)
                                .map(|p| p.port),
                        };
                        if let Some(t) = target
                            && t != lo
                            && !opened.allows(spec.protocol, t)
                        {
                            services.insert(format!("{}/{}", svc.namespace, svc.name));
                            targets.insert(t);
                            pods.push(dst);
                        }
                    }
                }
            }
            if pods.is_empty() {
                continue;
            }
            pods.sort_unstable();
            pods.dedup();
            let targets: Vec<String> = targets.iter().map(u16::to_string).collect();
            let services: Vec<String> = services.into_iter().collect();
            out.push(
                Finding::new(
                    &RULE,
                    format!(
                        "{lo} is the port of Service {}, which sends it to port {} of {}; policies see the pod's port, so this entry opens nothing those pods serve",
                        services.join(", "),
                        targets.join(", "),
                        netfence_text::short_list(&ctx.ids(&pods))
                    ),
                )
                .at(spec.loc.key("port"))
                .object(ctx.policy_ref(at.policy))
                .help(format!(
                    "write the container port: `port: {}` (or the container port's name)",
                    targets.first().map(String::as_str).unwrap_or("TARGET")
                ))
                .related(ctx.ids(&pods)),
            );
        }
    }
}
