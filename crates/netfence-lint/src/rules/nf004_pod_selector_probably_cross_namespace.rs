//! A podSelector alone that matches pods only in other namespaces.
//!
//! # Why it matters
//!
//! A peer with only `podSelector` means pods of the policy's own namespace. When
//! no pod there matches, but pods of another namespace do, the author almost
//! certainly meant those pods and forgot the `namespaceSelector`: the rule
//! allows nothing and the flow is blocked.
//!
//! # Bad
//!
//! ```yaml
//! metadata:
//!   namespace: data
//! spec:
//!   ingress:
//!     - from:
//!         - podSelector:          # looks in namespace data only
//!             matchLabels:
//!               app: checkout     # checkout runs in storefront
//! ```
//!
//! # Good
//!
//! ```yaml
//! spec:
//!   ingress:
//!     - from:
//!         - namespaceSelector:
//!             matchLabels:
//!               kubernetes.io/metadata.name: storefront
//!           podSelector:
//!             matchLabels:
//!               app: checkout
//! ```
//!
//! # Fix
//!
//! Add a `namespaceSelector` on `kubernetes.io/metadata.name` in the same item.

use std::collections::BTreeSet;

use netfence_model::{NAMESPACE_NAME_LABEL, PeerKind, Selector};
use serde_json::{Value, json};

use crate::context::LintContext;
use crate::finding::{Finding, Level};
use crate::rules::Rule;

pub static RULE: Rule = Rule {
    id: "NF004",
    name: "pod-selector-probably-cross-namespace",
    severity: Level::Warning,
    check,
    source: include_str!("nf004_pod_selector_probably_cross_namespace.rs"),
};

fn check(ctx: &LintContext, out: &mut Vec<Finding>) {
    let engine = ctx.engine;
    for at in ctx.rules() {
        let policy = &ctx.cluster().policies[at.policy];
        if !ctx.namespace_has_pods(&policy.namespace) {
            continue;
        }
        for (k, peer) in at.rule.peers.iter().flatten().enumerate() {
            let PeerKind::Pods {
                namespace_selector: None,
                pod_selector: Some(sel),
            } = &peer.kind
            else {
                continue;
            };
            if sel.is_empty()
                || !engine
                    .peer_members(at.policy, at.dir, at.index, k)
                    .is_empty()
            {
                continue;
            }
            let elsewhere: Vec<_> = engine
                .pods_matching(&policy.namespace, Some(&Selector::everything()), Some(sel))
                .into_iter()
                .filter(|&e| ctx.is_real_pod(e))
                .collect();
            let namespaces: BTreeSet<String> = elsewhere
                .iter()
                .filter_map(|&e| engine.endpoint(e).namespace.clone())
                .collect();
            let Some(first_ns) = namespaces.iter().next() else {
                continue;
            };
            let pod_json = ctx
                .sources
                .node(&peer.loc.key("podSelector"))
                .map(|n| n.to_json())
                .unwrap_or(Value::Null);
            let yaml = netfence_text::yaml::to_yaml(&json!([{
                "namespaceSelector": {"matchLabels": {NAMESPACE_NAME_LABEL: first_ns}},
                "podSelector": pod_json,
            }]));
            let names: Vec<String> = namespaces.iter().cloned().collect();
            out.push(
                Finding::new(
                    &RULE,
                    format!(
                        "podSelector {} alone only looks in the policy's namespace {}, where no pod matches; it matches {} in {} {}",
                        sel.to_kubectl(),
                        policy.namespace,
                        netfence_text::short_list(&ctx.ids(&elsewhere)),
                        netfence_text::noun_for(names.len(), "namespace"),
                        names.join(", ")
                    ),
                )
                .at_key(peer.loc.key("podSelector"))
                .object(ctx.policy_ref(at.policy))
                .help(format!(
                    "to select those pods, add a namespaceSelector in the same item:\n{yaml}"
                ))
                .related(ctx.ids(&elsewhere)),
            );
        }
    }
}
