//! Egress isolation without DNS: every name lookup times out.
//!
//! # Why it matters
//!
//! A default-deny egress (or any policy isolating egress) blocks everything its
//! rules do not allow, cluster DNS included. Pods then fail on the first lookup
//! with `i/o timeout`, which looks like a network outage rather than a policy.
//! This is the mistake the NetworkPolicy guide opens with. netfence names every
//! pod that cannot reach the cluster DNS pods on UDP 53, the policies that
//! isolate them, and the allow-dns policy that fixes it.
//!
//! # Bad
//!
//! ```yaml
//! kind: NetworkPolicy
//! metadata: {name: default-deny-all, namespace: app}
//! spec:
//!   podSelector: {}
//!   policyTypes: [Ingress, Egress]    # nothing allows DNS
//! ```
//!
//! # Good
//!
//! ```yaml
//! kind: NetworkPolicy
//! metadata: {name: allow-dns, namespace: app}
//! spec:
//!   podSelector: {}
//!   policyTypes: [Egress]
//!   egress:
//!     - to:
//!         - namespaceSelector:
//!             matchLabels:
//!               kubernetes.io/metadata.name: kube-system
//!           podSelector:
//!             matchLabels:
//!               k8s-app: kube-dns
//!       ports:
//!         - protocol: UDP
//!           port: 53
//!         - protocol: TCP
//!           port: 53
//! ```
//!
//! # Fix
//!
//! Add the allow-dns policy of the help to every namespace with egress isolation,
//! in the same change as the default-deny.

use std::collections::BTreeMap;

use netfence_model::Direction;

use crate::context::LintContext;
use crate::finding::{Finding, Level};
use crate::rules::Rule;

pub static RULE: Rule = Rule {
    id: "NF012",
    name: "dns-blocked",
    severity: Level::Error,
    check,
    source: include_str!("nf012_dns_blocked.rs"),
};

fn check(ctx: &LintContext, out: &mut Vec<Finding>) {
    let engine = ctx.engine;
    let Some(&dns) = ctx.dns_endpoints().first() else {
        return;
    };
    let mut by_namespace: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for problem in ctx.dns_problems().iter().filter(|d| !d.udp) {
        if let Ok(ep) = engine.find(&problem.pod)
            && let Some(ns) = &engine.endpoint(ep).namespace
        {
            by_namespace.entry(ns.clone()).or_default().push(ep);
        }
    }
    for (ns, pods) in by_namespace {
        let mut isolating: Vec<usize> = pods
            .iter()
            .flat_map(|&e| engine.isolating(e, Direction::Egress).iter().copied())
            .collect();
        isolating.sort_unstable();
        isolating.dedup();
        // Point at the namespace-wide policy when there is one: that is the
        // default-deny the allow-dns policy belongs next to.
        let Some(&anchor) = isolating
            .iter()
            .find(|&&p| ctx.cluster().policies[p].pod_selector.is_empty())
            .or(isolating.first())
        else {
            continue;
        };
        let names: Vec<String> = isolating
            .iter()
            .map(|&p| ctx.cluster().policies[p].id())
            .collect();
        let fix = netfence_fix::allow_dns_change(engine, &ns, dns);
        out.push(
            Finding::new(
                &RULE,
                format!(
                    "{} in {ns} {} egress-isolated (by {}) and cannot reach cluster DNS {} on UDP 53: every name lookup times out",
                    netfence_text::count(pods.len(), "pod"),
                    netfence_text::agree(pods.len(), "is", "are"),
                    names.join(", "),
                    engine.endpoint(dns).id
                ),
            )
            .at_field(ctx.policy_type_loc(anchor, Direction::Egress))
            .object(ctx.policy_ref(anchor))
            .help(format!("{}:\n---\n{}", fix.why, fix.yaml))
            .related(ctx.ids(&pods)),
        );
    }
}
