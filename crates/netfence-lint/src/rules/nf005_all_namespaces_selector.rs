//! `namespaceSelector: {}`: every namespace, kube-system and future ones included.
//!
//! # Why it matters
//!
//! An empty namespaceSelector matches every namespace of the cluster: kube-system,
//! other teams' namespaces, and every namespace created later. Without a
//! podSelector beside it, the peer is every pod of the cluster. That is right for
//! a few cluster-wide services (Prometheus scraping every namespace) and wrong for
//! most application rules, where the author meant "my other namespaces".
//! It is reported as information so each use is a conscious choice.
//!
//! # Bad
//!
//! ```yaml
//! ingress:
//!   - from:
//!       - namespaceSelector: {}    # every pod of every namespace
//! ```
//!
//! # Good
//!
//! ```yaml
//! ingress:
//!   - from:
//!       - namespaceSelector:
//!           matchExpressions:
//!             - key: kubernetes.io/metadata.name
//!               operator: In
//!               values: [storefront, payments]
//! ```
//!
//! # Fix
//!
//! Name the namespaces with `kubernetes.io/metadata.name`, or add a podSelector
//! in the same item to narrow it to specific pods.

use netfence_model::PeerKind;

use crate::context::LintContext;
use crate::finding::{Finding, Level};
use crate::rules::Rule;

pub static RULE: Rule = Rule {
    id: "NF005",
    name: "all-namespaces-selector",
    severity: Level::Info,
    check,
    source: include_str!("nf005_all_namespaces_selector.rs"),
};

fn check(ctx: &LintContext, out: &mut Vec<Finding>) {
    let namespaces = ctx.cluster().namespaces.len();
    for at in ctx.rules() {
        for peer in at.rule.peers.iter().flatten() {
            let PeerKind::Pods {
                namespace_selector: Some(sel),
                pod_selector,
            } = &peer.kind
            else {
                continue;
            };
            if !sel.is_empty() {
                continue;
            }
            let what = match pod_selector {
                Some(p) if !p.is_empty() => {
                    format!("pods matching {} in any namespace", p.to_kubectl())
                }
                _ => "every pod of the cluster".to_string(),
            };
            out.push(
                Finding::new(
                    &RULE,
                    format!(
                        "`namespaceSelector: {{}}` matches every namespace ({namespaces} in the input, kube-system and namespaces created later included): this peer is {what}"
                    ),
                )
                .at_key(peer.loc.key("namespaceSelector"))
                .object(ctx.policy_ref(at.policy))
                .help("if only some namespaces are meant, name them: `namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: NAME}}` (matchExpressions `In` for several)"),
            );
        }
    }
}
