//! An ipBlock that covers pod IPs.
//!
//! # Why it matters
//!
//! ipBlock is meant for addresses outside the cluster. Pod IPs change whenever a
//! pod is recreated, so an ipBlock that covers pods allows whichever pod holds
//! the address next; and whether ipBlock matches pod IPs at all depends on the
//! CNI (Cilium never does). netfence lists the pods of the input the block
//! covers. Blocks spanning a whole address family (`0.0.0.0/0`) are not
//! reported: they mean "anything" on purpose.
//!
//! # Bad
//!
//! ```yaml
//! ingress:
//!   - from:
//!       - ipBlock:
//!           cidr: 10.244.1.0/24      # the pod network of a node
//! ```
//!
//! # Good
//!
//! ```yaml
//! ingress:
//!   - from:
//!       - podSelector:
//!           matchLabels: {app: frontend}
//! ```
//!
//! # Fix
//!
//! Select pods with podSelector/namespaceSelector; keep ipBlock for external
//! addresses (or `except` the pod network).

use netfence_model::PeerKind;

use crate::context::LintContext;
use crate::finding::{Finding, Level};
use crate::rules::Rule;

pub static RULE: Rule = Rule {
    id: "NF020",
    name: "ip-block-covers-pods",
    severity: Level::Warning,
    check,
    source: include_str!("nf020_ip_block_covers_pods.rs"),
};

fn check(ctx: &LintContext, out: &mut Vec<Finding>) {
    for at in ctx.rules() {
        for (k, peer) in at.rule.peers.iter().flatten().enumerate() {
            let PeerKind::IpBlock { cidr, .. } = &peer.kind else {
                continue;
            };
            if cidr.prefix_len() == 0 {
                continue;
            }
            let pods: Vec<_> = ctx
                .engine
                .peer_members(at.policy, at.dir, at.index, k)
                .into_iter()
                .filter(|&e| ctx.is_real_pod(e))
                .collect();
            if pods.is_empty() {
                continue;
            }
            out.push(
                Finding::new(
                    &RULE,
                    format!(
                        "ipBlock {cidr} covers the IPs of {} ({}): pod IPs change when pods are recreated, and some CNIs never match pod IPs with ipBlock",
                        netfence_text::count(pods.len(), "pod"),
                        netfence_text::short_list(&ctx.ids(&pods))
                    ),
                )
                .at(peer.loc.key("ipBlock").key("cidr"))
                .object(ctx.policy_ref(at.policy))
                .help("select those pods with podSelector/namespaceSelector, and keep ipBlock for addresses outside the cluster (or add the pod network to `except`)")
                .related(ctx.ids(&pods)),
            );
        }
    }
}
