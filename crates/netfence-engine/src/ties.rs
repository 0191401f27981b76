//! Same-priority overlaps (semantics.md §2.6): two admin policies of one tier
//! with the same priority that judge the same connection differently. Upstream
//! leaves the order between them to the implementation; the engine applies them
//! by name, and this query says where that choice decides something.

use netfence_model::{AdminAction, AdminTier, Direction};
use serde::Serialize;

use crate::classes::ClassId;
use crate::eval::Engine;
use crate::portset::ConnSet;
use crate::universe::EpId;

/// Two same-tier, same-priority policies whose verdicts differ for some
/// connections of one direction.
#[derive(Clone, Debug, Serialize)]
pub struct PriorityOverlap {
    pub tier: AdminTier,
    pub priority: u32,
    /// Indices into `Cluster::admin_policies`; `first` is applied first (name order).
    pub first: usize,
    pub second: usize,
    pub direction: Direction,
    /// One pair where they differ: the subject and the peer.
    pub subject: EpId,
    pub peer: EpId,
    /// Connections of that pair on which the verdicts differ.
    pub conns: ConnSet,
}

/// What one policy alone does with every connection between two classes:
/// (accepted, denied, passed).
fn verdicts(
    engine: &Engine,
    a: usize,
    dir: Direction,
    subject: ClassId,
    peer: ClassId,
) -> [ConnSet; 3] {
    let mut out = [ConnSet::none(), ConnSet::none(), ConnSet::none()];
    let mut undecided = ConnSet::all();
    for (ri, rule) in engine.cluster.admin_policies[a]
        .rules(dir)
        .iter()
        .enumerate()
    {
        let Some((_, conns)) = engine.admin_rule_match(a, dir, ri, subject, peer) else {
            continue;
        };
        let decided = conns.intersect(&undecided);
        undecided = undecided.difference(&decided);
        let slot = match rule.action {
            AdminAction::Accept => 0,
            AdminAction::Deny => 1,
            AdminAction::Pass => 2,
        };
        out[slot].union_with(&decided);
    }
    out
}

impl Engine<'_> {
    /// Every pair of same-tier, same-priority admin policies that give some
    /// connection different verdicts (Accept, Deny, Pass), with one example
    /// pair and direction each. Empty when priorities are unique.
    pub fn same_priority_overlaps(&self) -> Vec<PriorityOverlap> {
        let policies = &self.cluster.admin_policies;
        let mut out = Vec::new();
        for (a, pa) in policies.iter().enumerate() {
            let Some(priority) = pa.priority else {
                continue;
            };
            for (b, pb) in policies.iter().enumerate().skip(a + 1) {
                if pb.tier != pa.tier || pb.priority != Some(priority) {
                    // Sorted by tier and priority: nothing later ties with `a`.
                    break;
                }
                'dir: for dir in Direction::BOTH {
                    for (s, class) in self.classes.iter().enumerate() {
                        if !(class.admin_subject_of.contains(&a)
                            && class.admin_subject_of.contains(&b))
                        {
                            continue;
                        }
                        for p in 0..self.classes.len() {
                            let [acc_a, deny_a, pass_a] = verdicts(self, a, dir, s, p);
                            let [acc_b, deny_b, pass_b] = verdicts(self, b, dir, s, p);
                            let conns = ConnSet::union_all(&[
                                acc_a.intersect(&deny_b.union(&pass_b)),
                                deny_a.intersect(&acc_b.union(&pass_b)),
                                pass_a.intersect(&acc_b.union(&deny_b)),
                            ]);
                            if !conns.is_empty() {
                                out.push(PriorityOverlap {
                                    tier: pa.tier,
                                    priority,
                                    first: a,
                                    second: b,
                                    direction: dir,
                                    subject: class.rep,
                                    peer: self.classes[p].rep,
                                    conns,
                                });
                                continue 'dir;
                            }
                        }
                    }
                }
            }
        }
        out
    }
}
