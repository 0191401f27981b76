//! namespaceSelector and podSelector in separate list items (OR), probably meant as one (AND).
//!
//! # Why it matters
//!
//! In a `from`/`to` list, each `-` starts a new peer and peers are OR-ed. A
//! `namespaceSelector` and a `podSelector` in the same item are AND-ed: "these pods
//! in those namespaces". One stray `-` turns "the monitoring pods of namespace
//! monitoring" into "every pod of namespace monitoring, or any pod labelled
//! `app: prometheus` in this namespace", the most common NetworkPolicy bug in
//! reviews. netfence shows both readings with the concrete pods each admits,
//! and reports the structure even when today's pods happen to make both
//! readings equal.
//!
//! # Bad
//!
//! ```yaml
//! ingress:
//!   - from:
//!       - namespaceSelector:
//!           matchLabels:
//!             kubernetes.io/metadata.name: monitoring
//!       - podSelector:            # a new item: OR
//!           matchLabels:
//!             app: prometheus
//! ```
//!
//! # Good
//!
//! ```yaml
//! ingress:
//!   - from:
//!       - namespaceSelector:
//!           matchLabels:
//!             kubernetes.io/metadata.name: monitoring
//!         podSelector:            # same item: AND
//!           matchLabels:
//!             app: prometheus
//! ```
//!
//! # Fix
//!
//! Remove the `-` before the second selector so both are keys of one item. If
//! the OR is really meant, silence the finding with the annotation
//! `netfence.io/lint-ignore: NF001` on the policy.

use netfence_engine::EpId;
use netfence_model::{PeerKind, Selector};
use serde_json::{Map, Value};

use crate::context::LintContext;
use crate::finding::{Finding, Level};
use crate::rules::Rule;

pub static RULE: Rule = Rule {
    id: "NF001",
    name: "and-or-peers",
    severity: Level::Warning,
    check,
    source: include_str!("nf001_and_or_peers.rs"),
};

fn selectors<'p>(a: &'p PeerKind, b: &'p PeerKind) -> Option<(&'p Selector, &'p Selector)> {
    match (a, b) {
        (
            PeerKind::Pods {
                namespace_selector: Some(ns),
                pod_selector: None,
            },
            PeerKind::Pods {
                namespace_selector: None,
                pod_selector: Some(pods),
            },
        )
        | (
            PeerKind::Pods {
                namespace_selector: None,
                pod_selector: Some(pods),
            },
            PeerKind::Pods {
                namespace_selector: Some(ns),
                pod_selector: None,
            },
        ) => Some((ns, pods)),
        _ => None,
    }
}

fn check(ctx: &LintContext, out: &mut Vec<Finding>) {
    let engine = ctx.engine;
    for at in ctx.rules() {
        let Some(peers) = &at.rule.peers else {
            continue;
        };
        let policy = &ctx.cluster().policies[at.policy];
        for k in 1..peers.len() {
            let (first, second) = (&peers[k - 1], &peers[k]);
            let Some((ns, pods)) = selectors(&first.kind, &second.kind) else {
                continue;
            };
            let mut as_written: Vec<EpId> = [k - 1, k]
                .into_iter()
                .flat_map(|i| engine.peer_members(at.policy, at.dir, at.index, i))
                .filter(|&e| ctx.is_real_pod(e))
                .collect();
            as_written.sort_unstable();
            as_written.dedup();
            let and_reading: Vec<EpId> = engine
                .pods_matching(&policy.namespace, Some(ns), Some(pods))
                .into_iter()
                .filter(|&e| ctx.is_real_pod(e))
                .collect();
            let field = at.dir.peer_field();
            let readings = if ctx.has_pods() && as_written == and_reading {
                format!(
                    "; today both readings {} the same pods ({}), but the next pod added changes that",
                    verb(at.dir),
                    list(ctx, &as_written)
                )
            } else if ctx.has_pods() {
                format!(
                    "; as written they {} {} ({}), as one item they would {} {} ({})",
                    verb(at.dir),
                    netfence_text::count(as_written.len(), "pod"),
                    list(ctx, &as_written),
                    verb(at.dir),
                    and_reading.len(),
                    list(ctx, &and_reading)
                )
            } else {
                String::new()
            };
            let mut merged = Map::new();
            for peer in [first, second] {
                if let Some(Value::Object(obj)) = ctx.sources.node(&peer.loc).map(|n| n.to_json()) {
                    merged.extend(obj);
                }
            }
            let yaml = netfence_text::yaml::to_yaml(&Value::Array(vec![Value::Object(merged)]));
            out.push(
                Finding::new(
                    &RULE,
                    format!(
                        "namespaceSelector {} and podSelector {} are separate items of `{field}`, so they are OR-ed{readings}",
                        ns.to_kubectl(),
                        pods.to_kubectl()
                    ),
                )
                .at_key(ctx.peer_key_loc(second))
                .object(ctx.policy_ref(at.policy))
                .help(format!(
                    "for pods matching the podSelector inside the selected namespaces, make them one item (no `-` before the second selector):\n{yaml}"
                ))
                .related(ctx.ids(&as_written)),
            );
        }
    }
}

fn verb(dir: netfence_model::Direction) -> &'static str {
    match dir {
        netfence_model::Direction::Ingress => "admit",
        netfence_model::Direction::Egress => "reach",
    }
}

fn list(ctx: &LintContext, eps: &[EpId]) -> String {
    if eps.is_empty() {
        return "none".into();
    }
    netfence_text::short_list(&ctx.ids(eps))
}
