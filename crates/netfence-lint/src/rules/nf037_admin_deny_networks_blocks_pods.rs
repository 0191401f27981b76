//! An Admin Deny whose `networks` also blocks pod-to-pod traffic.
//!
//! # Why it matters
//!
//! An admin `networks` peer matches every destination address inside it, pod
//! IPs included (semantics.md §2.4). A Deny to `0.0.0.0/0` or `::/0` written to
//! block the internet therefore also blocks the subjects' connections to pods,
//! and in the Admin tier no NetworkPolicy can re-open them. netfence reports
//! the pods the rule denies through its `networks` entry (the Baseline tier is
//! not reported: there a Deny of everything is the cluster-wide default-deny
//! that NetworkPolicies re-open on purpose).
//!
//! # Bad
//!
//! ```yaml
//! egress:
//!   - name: no-internet
//!     action: Deny
//!     to:
//!       - networks: ["0.0.0.0/0"]
//! ```
//!
//! # Good
//!
//! ```yaml
//! egress:
//!   - name: pods-decide-below       # pod traffic goes on to NetworkPolicy
//!     action: Pass
//!     to:
//!       - namespaces: {}
//!   - name: no-internet
//!     action: Deny
//!     to:
//!       - networks: ["0.0.0.0/0"]
//! ```
//!
//! # Fix
//!
//! Put a rule for pod peers before the Deny: `Pass` to `namespaces: {}` hands
//! pod traffic to the NetworkPolicies, `Accept` allows it. If denying pods is
//! meant, say so with a `namespaces: {}` peer before the `networks` entry.

use netfence_model::{AdminAction, AdminPeerKind, AdminTier};

use crate::context::LintContext;
use crate::finding::{Finding, Level};
use crate::rules::Rule;

pub static RULE: Rule = Rule {
    id: "NF037",
    name: "admin-deny-networks-blocks-pods",
    severity: Level::Warning,
    check,
    source: include_str!("nf037_admin_deny_networks_blocks_pods.rs"),
};

fn check(ctx: &LintContext, out: &mut Vec<Finding>) {
    let policies = &ctx.cluster().admin_policies;
    for u in ctx.admin_uses() {
        let policy = &policies[u.policy];
        let rule = &policy.rules(u.dir)[u.rule];
        if policy.tier != AdminTier::Admin || rule.action != AdminAction::Deny {
            continue;
        }
        for (&k, pods) in &u.pods_decided_by_networks {
            let Some(peer) = rule.peers.get(k) else {
                continue;
            };
            let AdminPeerKind::Networks(nets) = &peer.kind else {
                continue;
            };
            let pods: Vec<_> = pods
                .iter()
                .copied()
                .filter(|&e| ctx.is_real_pod(e))
                .collect();
            if pods.is_empty() {
                continue;
            }
            let networks = peer.loc.key("networks");
            // Underline the whole-family entry when there is one: the usual
            // cause. Which entry holds the pods' addresses is the engine's to
            // say, so any other list is underlined whole.
            let at = match nets.iter().position(|n| n.prefix_len() == 0) {
                Some(i) => networks.index(i),
                None => networks,
            };
            let ids = ctx.ids(&pods);
            out.push(
                Finding::new(
                    &RULE,
                    format!(
                        "networks match pod IPs: this Deny also blocks the subjects' connections to {} ({}), and in the Admin tier no NetworkPolicy can re-open them",
                        netfence_text::count(pods.len(), "pod"),
                        netfence_text::short_list(&ids)
                    ),
                )
                .at(at)
                .object(ctx.admin_ref(u.policy))
                .help("put a rule for pod peers before this one (`action: Pass` with `to: [{namespaces: {}}]` hands pod traffic to NetworkPolicies, Accept allows it); if denying pods is meant, add a `namespaces: {}` peer before the `networks` entry")
                .related(ids),
            );
        }
    }
}
