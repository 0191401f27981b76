//! A peer selector that matches no pod of the input.
//!
//! # Why it matters
//!
//! A peer that matches nothing allows nothing: the flow it was written for stays
//! blocked, usually because of a typo in a label (`app: fronted`), a label the
//! pods never had, or a label that changed in a refactor. The policy still
//! applies and still isolates, so the break is silent.
//!
//! netfence only reports a peer when every namespace it looks in has pods in the
//! input (otherwise the pods may simply be missing from the input).
//! A namespaceSelector that matches no namespace is NF003; a podSelector alone
//! that matches pods of other namespaces is NF004.
//!
//! # Bad
//!
//! ```yaml
//! ingress:
//!   - from:
//!       - podSelector:
//!           matchLabels:
//!             app: fronted      # the pods are labelled app: frontend
//! ```
//!
//! # Good
//!
//! ```yaml
//! ingress:
//!   - from:
//!       - podSelector:
//!           matchLabels:
//!             app: frontend
//! ```
//!
//! # Fix
//!
//! Use labels the pods carry (the help lists them), or remove the peer.

use netfence_model::{PeerKind, Selector};

use crate::context::LintContext;
use crate::finding::{Finding, Level};
use crate::rules::Rule;

pub static RULE: Rule = Rule {
    id: "NF002",
    name: "peer-selects-nothing",
    severity: Level::Warning,
    check,
    source: include_str!("nf002_peer_selects_nothing.rs"),
};

fn check(ctx: &LintContext, out: &mut Vec<Finding>) {
    if !ctx.has_pods() {
        return;
    }
    let engine = ctx.engine;
    for at in ctx.rules() {
        let policy = &ctx.cluster().policies[at.policy];
        for (k, peer) in at.rule.peers.iter().flatten().enumerate() {
            let PeerKind::Pods {
                namespace_selector,
                pod_selector,
            } = &peer.kind
            else {
                continue;
            };
            if !engine
                .peer_members(at.policy, at.dir, at.index, k)
                .is_empty()
            {
                continue;
            }
            let scope: Vec<&str> = match namespace_selector {
                None => vec![policy.namespace.as_str()],
                Some(s) => engine.namespaces_matching(s),
            };
            if scope.is_empty() || !scope.iter().all(|ns| ctx.namespace_has_pods(ns)) {
                continue;
            }
            if namespace_selector.is_none()
                && let Some(sel) = pod_selector
                && !engine
                    .pods_matching(&policy.namespace, Some(&Selector::everything()), Some(sel))
                    .is_empty()
            {
                continue;
            }
            let candidates: Vec<_> = ctx
                .real_pods()
                .filter(|&e| {
                    engine
                        .endpoint(e)
                        .namespace
                        .as_deref()
                        .is_some_and(|ns| scope.contains(&ns))
                })
                .collect();
            let at_field = match pod_selector {
                Some(_) => peer.loc.key("podSelector"),
                None => peer.loc.key("namespaceSelector"),
            };
            out.push(
                Finding::new(
                    &RULE,
                    format!(
                        "{} matches no pod (it looks in {} {}), so this peer allows nothing",
                        peer.kind,
                        netfence_text::noun_for(scope.len(), "namespace"),
                        scope.join(", ")
                    ),
                )
                .at_key(at_field)
                .object(ctx.policy_ref(at.policy))
                .help(format!(
                    "the pods there are labelled {}; select one of those label sets or remove the peer",
                    ctx.label_sets(&candidates)
                )),
            );
        }
    }
}
