//! An `except` entry inside another one.
//!
//! # Why it matters
//!
//! An except that lies inside another except (or repeats it) excludes nothing
//! more. It usually means the list was edited by hand and one of the two is not
//! what the author thinks: a typo in a prefix length, or a range that was meant
//! to be elsewhere.
//!
//! # Bad
//!
//! ```yaml
//! - ipBlock:
//!     cidr: 10.0.0.0/8
//!     except:
//!       - 10.1.0.0/16
//!       - 10.1.2.0/24           # already excluded
//! ```
//!
//! # Good
//!
//! ```yaml
//! - ipBlock:
//!     cidr: 10.0.0.0/8
//!     except:
//!       - 10.1.0.0/16
//! ```
//!
//! # Fix
//!
//! Delete the inner entry, or correct it.

use netfence_model::PeerKind;
use netfence_yaml::Value;

use crate::context::LintContext;
use crate::finding::{Finding, Level};
use crate::rules::Rule;

pub static RULE: Rule = Rule {
    id: "NF022",
    name: "overlapping-excepts",
    severity: Level::Warning,
    check,
    source: include_str!("nf022_overlapping_excepts.rs"),
};

fn check(ctx: &LintContext, out: &mut Vec<Finding>) {
    for at in ctx.rules() {
        for peer in at.rule.peers.iter().flatten() {
            if !matches!(peer.kind, PeerKind::IpBlock { .. }) {
                continue;
            }
            // The model keeps the excepts sorted and deduplicated; positions come
            // from the list as written.
            let list = peer.loc.key("ipBlock").key("except");
            let Some(Value::Seq(items)) = ctx.sources.node(&list).map(|n| &n.value) else {
                continue;
            };
            let nets: Vec<Option<ipnet::IpNet>> = items
                .iter()
                .map(|n| {
                    n.as_str()
                        .and_then(|s| netfence_model::validate::parse_cidr(s).ok())
                        .map(|(net, _)| net)
                })
                .collect();
            for (j, inner) in nets.iter().enumerate() {
                let Some(inner) = inner else { continue };
                let outer = nets.iter().enumerate().find(|(i, outer)| {
                    *i != j && outer.is_some_and(|o| o.contains(inner) && (o != *inner || *i < j))
                });
                if let Some((i, Some(outer))) = outer {
                    let what = if outer == inner {
                        format!("except {inner} is listed twice (entry {i} and {j})")
                    } else {
                        format!(
                            "except {inner} lies inside except {outer}: it excludes nothing more"
                        )
                    };
                    out.push(
                        Finding::new(&RULE, what)
                            .at(list.index(j))
                            .object(ctx.policy_ref(at.policy))
                            .help("delete this entry, or correct its address or prefix length"),
                    );
                }
            }
        }
    }
}
