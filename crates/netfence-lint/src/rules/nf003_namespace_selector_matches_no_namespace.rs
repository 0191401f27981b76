//! A namespaceSelector on labels no namespace has.
//!
//! # Why it matters
//!
//! Namespaces carry few labels. Selectors such as `name: kube-system` or
//! `team: payments` often match nothing because nobody put that label on the
//! namespace, and the peer then allows nothing. Every namespace has the label
//! `kubernetes.io/metadata.name` (set by the apiserver since Kubernetes 1.22);
//! selecting by it cannot drift.
//!
//! netfence reports the selector when no namespace of the input matches and
//! either every namespace's labels are known (declared in the input) or a label
//! value names a namespace, in which case it proposes the name label. Selectors
//! on `kubernetes.io/metadata.name` alone are left alone: the namespace may exist
//! outside the input.
//!
//! # Bad
//!
//! ```yaml
//! egress:
//!   - to:
//!       - namespaceSelector:
//!           matchLabels:
//!             name: kube-system       # no namespace has this label
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
//! ```
//!
//! # Fix
//!
//! Select namespaces by `kubernetes.io/metadata.name`, or label the namespaces
//! (in their manifests, so the label is reviewed and kept).

use std::collections::BTreeSet;

use netfence_model::{NAMESPACE_NAME_LABEL, Operator, PeerKind, Selector};

use crate::context::LintContext;
use crate::finding::{Finding, Level};
use crate::rules::Rule;

pub static RULE: Rule = Rule {
    id: "NF003",
    name: "namespace-selector-matches-no-namespace",
    severity: Level::Warning,
    check,
    source: include_str!("nf003_namespace_selector_matches_no_namespace.rs"),
};

fn check(ctx: &LintContext, out: &mut Vec<Finding>) {
    let engine = ctx.engine;
    let cluster = ctx.cluster();
    for at in ctx.rules() {
        for peer in at.rule.peers.iter().flatten() {
            let PeerKind::Pods {
                namespace_selector: Some(sel),
                ..
            } = &peer.kind
            else {
                continue;
            };
            let Some(first_key) = sel.keys().find(|k| *k != NAMESPACE_NAME_LABEL) else {
                continue;
            };
            if !engine.namespaces_matching(sel).is_empty() {
                continue;
            }
            let named: BTreeSet<&str> = sel
                .requirements
                .iter()
                .filter(|r| r.key != NAMESPACE_NAME_LABEL && r.operator == Operator::In)
                .flat_map(|r| r.values.iter().map(String::as_str))
                .filter(|v| cluster.namespace(v).is_some())
                .collect();
            let all_known = cluster.namespaces.iter().all(|n| n.labels_known);
            let help = if !named.is_empty() {
                let names: Vec<String> = named.iter().map(|s| s.to_string()).collect();
                let suggested = Selector::parse_kubectl(&format!(
                    "{NAMESPACE_NAME_LABEL} in ({})",
                    names.join(",")
                ));
                let verified = suggested
                    .as_ref()
                    .map(|s| engine.namespaces_matching(s).len() == names.len())
                    .unwrap_or(false);
                if !verified {
                    continue;
                }
                if names.len() == 1 {
                    format!(
                        "select the namespace by the label every namespace has:\n  namespaceSelector:\n    matchLabels:\n      {NAMESPACE_NAME_LABEL}: {}",
                        names[0]
                    )
                } else {
                    format!(
                        "select the namespaces by the label every namespace has:\n  namespaceSelector:\n    matchExpressions:\n      - key: {NAMESPACE_NAME_LABEL}\n        operator: In\n        values: [{}]",
                        names.join(", ")
                    )
                }
            } else if all_known {
                let labels: Vec<String> = cluster
                    .namespaces
                    .iter()
                    .map(|n| {
                        let own: Vec<String> = n
                            .labels
                            .iter()
                            .filter(|(k, _)| k.as_str() != NAMESPACE_NAME_LABEL)
                            .map(|(k, v)| format!("{k}: {v}"))
                            .collect();
                        format!("{} {{{}}}", n.name, own.join(", "))
                    })
                    .collect();
                format!(
                    "the namespaces' labels are: {}; select by `{NAMESPACE_NAME_LABEL}: NAME` or label the namespace",
                    netfence_text::short_list(&labels)
                )
            } else {
                continue;
            };
            out.push(
                Finding::new(
                    &RULE,
                    format!(
                        "namespaceSelector {} matches no namespace of the input, so this peer allows nothing",
                        sel.to_kubectl()
                    ),
                )
                .at_key(ctx.selector_key_loc(&peer.loc.key("namespaceSelector"), first_key))
                .object(ctx.policy_ref(at.policy))
                .help(help),
            );
        }
    }
}
