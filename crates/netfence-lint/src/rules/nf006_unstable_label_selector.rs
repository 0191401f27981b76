//! A selector on a label that controllers set per pod or per revision.
//!
//! # Why it matters
//!
//! `pod-template-hash` changes with every Deployment rollout,
//! `controller-revision-hash` with every StatefulSet or DaemonSet revision,
//! `statefulset.kubernetes.io/pod-name` names one replica, and job labels name
//! one run. A selector copied from `kubectl get pod --show-labels` that uses them
//! works today and silently stops matching after the next deploy.
//!
//! # Bad
//!
//! ```yaml
//! podSelector:
//!   matchLabels:
//!     app: api
//!     pod-template-hash: 7d4b9c8f6d
//! ```
//!
//! # Good
//!
//! ```yaml
//! podSelector:
//!   matchLabels:
//!     app: api
//! ```
//!
//! # Fix
//!
//! Select by the workload's own labels (those of its pod template).

use netfence_engine::EpId;
use netfence_model::UNSTABLE_LABELS;
use netfence_model::{FieldLoc, PeerKind, Selector};

use crate::context::LintContext;
use crate::finding::{Finding, Level};
use crate::rules::Rule;

pub static RULE: Rule = Rule {
    id: "NF006",
    name: "unstable-label-selector",
    severity: Level::Warning,
    check,
    source: include_str!("nf006_unstable_label_selector.rs"),
};

fn report(
    ctx: &LintContext,
    policy: usize,
    selector: &Selector,
    at: &FieldLoc,
    matched: &[EpId],
    out: &mut Vec<Finding>,
) {
    for key in selector.keys().filter(|k| UNSTABLE_LABELS.contains(k)) {
        let help = if matched.is_empty() {
            "select by the labels of the workload's pod template (such as `app`)".to_string()
        } else {
            format!(
                "select by labels that survive rollouts; the pods matched now carry {}",
                ctx.label_sets(matched)
            )
        };
        out.push(
            Finding::new(
                &RULE,
                format!("`{key}` is set by a controller per revision, replica or run: the selector stops matching after the next rollout or restart"),
            )
            .at_key(ctx.selector_key_loc(at, key))
            .object(ctx.policy_ref(policy))
            .help(help),
        );
    }
}

fn check(ctx: &LintContext, out: &mut Vec<Finding>) {
    for (p, policy) in ctx.cluster().policies.iter().enumerate() {
        let spec = ctx.policy_root(p).key("spec").key("podSelector");
        report(
            ctx,
            p,
            &policy.pod_selector,
            &spec,
            &ctx.selected_pods(p),
            out,
        );
    }
    for at in ctx.rules() {
        for (k, peer) in at.rule.peers.iter().flatten().enumerate() {
            if let PeerKind::Pods {
                pod_selector: Some(sel),
                ..
            } = &peer.kind
            {
                let matched = ctx.engine.peer_members(at.policy, at.dir, at.index, k);
                report(
                    ctx,
                    at.policy,
                    sel,
                    &peer.loc.key("podSelector"),
                    &matched,
                    out,
                );
            }
        }
    }
}
