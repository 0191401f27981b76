//! `except` entries that leave nothing of the cidr.
//!
//! # Why it matters
//!
//! The apiserver rejects an `except` equal to the cidr, but not several that
//! together cover it (two halves, for instance). The peer then matches no address
//! and allows nothing, while reading as an allowance.
//!
//! # Bad
//!
//! ```yaml
//! - ipBlock:
//!     cidr: 10.0.0.0/8
//!     except:
//!       - 10.0.0.0/9
//!       - 10.128.0.0/9
//! ```
//!
//! # Good
//!
//! ```yaml
//! - ipBlock:
//!     cidr: 10.0.0.0/8
//!     except:
//!       - 10.128.0.0/9
//! ```
//!
//! # Fix
//!
//! Remove the excepts that are too wide, or the peer.

use netfence_model::PeerKind;

use crate::context::LintContext;
use crate::finding::{Finding, Level};
use crate::rules::Rule;

pub static RULE: Rule = Rule {
    id: "NF021",
    name: "except-covers-cidr",
    severity: Level::Warning,
    check,
    source: include_str!("nf021_except_covers_cidr.rs"),
};

fn check(ctx: &LintContext, out: &mut Vec<Finding>) {
    for at in ctx.rules() {
        for (k, peer) in at.rule.peers.iter().flatten().enumerate() {
            let PeerKind::IpBlock { cidr, except } = &peer.kind else {
                continue;
            };
            // Every address left by the excepts belongs to an endpoint (an address
            // group at least), so a block with no member has nothing left.
            if except.is_empty()
                || !ctx
                    .engine
                    .peer_members(at.policy, at.dir, at.index, k)
                    .is_empty()
            {
                continue;
            }
            out.push(
                Finding::new(
                    &RULE,
                    format!("the except entries cover all of {cidr}: this peer matches no address"),
                )
                .at_key(peer.loc.key("ipBlock").key("except"))
                .object(ctx.policy_ref(at.policy))
                .help("remove the except entries that are too wide, or the peer"),
            );
        }
    }
}
