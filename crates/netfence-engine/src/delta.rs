//! What differs between two engines: the one comparison behind `diff` (two
//! versions of the input) and `check`'s "this fix also opens" (the input and
//! the input with a proposed change), and what an agent applying a change needs
//! to know it changed.
//!
//! Endpoints are matched by id, external addresses on the overlaps of both
//! sides' address groups. Matched endpoints with the same class on both sides
//! form a joint and are decided once per joint pair; a pod's node only matters
//! towards endpoints acting as nodes, so only those pairs are split by node.
//! Only joints whose decisions may differ ([`Engine::may_differ`]) are decided.

use std::collections::{BTreeMap, HashMap};

use ipnet::IpNet;

use crate::addr::compact_text;
use crate::{CachedDecisions, ConnSet, EndpointKind, Engine, EpId, MayDiffer};

/// Every decision that differs between two engines.
pub struct Delta {
    pub matched: Matched,
    pub joints: Joints,
    /// The differing decisions, each for one representative pair of shared
    /// endpoints ...
    pub decisions: Vec<Decision>,
    /// ... and the block pairs each stands for.
    pub pieces: Vec<Piece>,
}

impl Delta {
    pub fn between(before: &Engine, after: &Engine) -> Delta {
        let matched = Matched::new(before, after);
        let joints = Joints::new(before, after, &matched);
        let (decisions, pieces) = differing(before, after, &matched, &joints);
        Delta {
            matched,
            joints,
            decisions,
            pieces,
        }
    }

    /// Ordered pairs of distinct shared endpoints a piece covers.
    pub fn pair_count(&self, piece: &Piece) -> usize {
        self.joints.pair_count(piece.src, piece.dst)
    }
}

/// A decision that differs between the sides, for shared endpoints `src` and
/// `dst` (indices into [`Matched::shared`]).
pub struct Decision {
    pub src: usize,
    pub dst: usize,
    pub before: ConnSet,
    pub after: ConnSet,
}

/// Decision `decision` holds for every pair of distinct endpoints from block
/// `src` to block `dst` ([`Joints::blocks`]).
#[derive(Clone, Copy)]
pub struct Piece {
    pub decision: usize,
    pub src: usize,
    pub dst: usize,
}

/// An endpoint on both sides; for external addresses, an overlap of one address
/// group of each side.
pub struct Shared {
    pub id: String,
    pub group: usize,
    pub before: EpId,
    pub after: EpId,
}

/// What outputs list: a workload, a pod without one, a node or an address range.
pub struct Group {
    pub name: String,
    pub label: String,
    pub namespace: Option<String>,
    pub pod_like: bool,
    pub external: bool,
    /// For external groups: the addresses.
    pub cidrs: Vec<IpNet>,
    pub members: usize,
}

/// The endpoints of two engines matched up: by id, and external addresses on
/// the overlaps of both sides' address groups, so both are compared at every
/// address. Ids present on one side only are left to the caller.
pub struct Matched {
    pub shared: Vec<Shared>,
    pub groups: Vec<Group>,
    /// Ids of the non-external endpoints of each side.
    pub ids_before: HashMap<String, EpId>,
    pub ids_after: HashMap<String, EpId>,
}

impl Matched {
    pub fn new(eb: &Engine, ea: &Engine) -> Matched {
        let ids = |e: &Engine| -> HashMap<String, EpId> {
            (0..e.endpoints.len())
                .filter(|&i| e.endpoint(i).kind != EndpointKind::External)
                .map(|i| (e.endpoint(i).id.clone(), i))
                .collect()
        };
        let (ids_b, ids_a) = (ids(eb), ids(ea));
        let mut m = Matched {
            shared: Vec::new(),
            groups: Vec::new(),
            ids_before: HashMap::new(),
            ids_after: HashMap::new(),
        };
        let mut group_index: HashMap<String, usize> = HashMap::new();
        let mut sorted_ids: Vec<(&String, &EpId)> = ids_b.iter().collect();
        sorted_ids.sort();
        for (id, &b) in sorted_ids {
            let Some(&a) = ids_a.get(id) else { continue };
            let e = ea.endpoint(a);
            let name = ea.group_of(a);
            let group = *group_index.entry(name.clone()).or_insert_with(|| {
                m.groups.push(Group {
                    label: name.clone(),
                    name,
                    namespace: e.namespace.clone(),
                    pod_like: e.is_pod_like(),
                    external: false,
                    cidrs: Vec::new(),
                    members: 0,
                });
                m.groups.len() - 1
            });
            m.groups[group].members += 1;
            m.shared.push(Shared {
                id: id.clone(),
                group,
                before: b,
                after: a,
            });
        }
        let externals = |e: &Engine| -> HashMap<usize, EpId> {
            (0..e.endpoints.len())
                .filter(|&i| e.endpoint(i).kind == EndpointKind::External)
                .filter_map(|i| e.endpoint(i).addr_group.map(|g| (g, i)))
                .collect()
        };
        let (ext_b, ext_a) = (externals(eb), externals(ea));
        for overlap in eb.space.overlaps(&ea.space) {
            let (Some(&b), Some(&a)) = (ext_b.get(&overlap.left), ext_a.get(&overlap.right)) else {
                continue;
            };
            let id = overlap.id();
            m.groups.push(Group {
                name: id.clone(),
                label: compact_text(&overlap.cidrs),
                namespace: None,
                pod_like: false,
                external: true,
                cidrs: overlap.cidrs.clone(),
                members: 1,
            });
            m.shared.push(Shared {
                id,
                group: m.groups.len() - 1,
                before: b,
                after: a,
            });
        }
        m.ids_before = ids_b;
        m.ids_after = ids_a;
        m
    }
}

/// Shared endpoints partitioned for deciding once per part.
///
/// A joint holds endpoints with the same class on both sides; between two
/// endpoints that do not act as nodes (the pair exceptions of semantics.md §1.7
/// need one that does) that is all a decision depends on. Endpoints acting as
/// nodes are keyed by their node too, and towards them a pod's own node matters:
/// for those pairs the other side's cells are split by node. Cells split joints
/// by output group, so each decision lands on the workload pairs it covers.
pub struct Joints {
    /// Shared endpoints (indices into [`Matched::shared`]) of each joint.
    pub members: Vec<Vec<usize>>,
    pub node_like: Vec<bool>,
    /// Cells first, then the node splits of cells.
    pub blocks: Vec<Block>,
    pub cells_of: Vec<Vec<usize>>,
    /// For each cell: its blocks per (node before, node after).
    pub node_blocks_of: Vec<Vec<usize>>,
}

pub struct Block {
    pub group: usize,
    pub members: Vec<usize>,
}

impl Joints {
    pub fn new(eb: &Engine, ea: &Engine, matched: &Matched) -> Joints {
        let key = |e: &Engine, ep: EpId| {
            let node_like = e.endpoint(ep).acts_as_node.clone();
            (e.class_of[ep], node_like)
        };
        let mut joint_of_key = HashMap::new();
        let mut cell_of_key: HashMap<(usize, usize), usize> = HashMap::new();
        let mut j = Joints {
            members: Vec::new(),
            node_like: Vec::new(),
            blocks: Vec::new(),
            cells_of: Vec::new(),
            node_blocks_of: Vec::new(),
        };
        for (i, s) in matched.shared.iter().enumerate() {
            let (kb, ka) = (key(eb, s.before), key(ea, s.after));
            let node_like = kb.1.is_some() || ka.1.is_some();
            let next = j.members.len();
            let joint = *joint_of_key.entry((kb, ka)).or_insert(next);
            if joint == next {
                j.members.push(Vec::new());
                j.node_like.push(node_like);
                j.cells_of.push(Vec::new());
            }
            j.members[joint].push(i);
            let next = j.blocks.len();
            let cell = *cell_of_key.entry((joint, s.group)).or_insert(next);
            if cell == next {
                j.blocks.push(Block {
                    group: s.group,
                    members: Vec::new(),
                });
                j.cells_of[joint].push(cell);
            }
            j.blocks[cell].members.push(i);
        }
        let cells = j.blocks.len();
        for cell in 0..cells {
            let mut by_node: BTreeMap<(Option<&str>, Option<&str>), Vec<usize>> = BTreeMap::new();
            for &i in &j.blocks[cell].members {
                let s = &matched.shared[i];
                by_node
                    .entry((
                        eb.endpoint(s.before).node.as_deref(),
                        ea.endpoint(s.after).node.as_deref(),
                    ))
                    .or_default()
                    .push(i);
            }
            let group = j.blocks[cell].group;
            let split: Vec<Vec<usize>> = by_node.into_values().collect();
            let ids = if split.len() == 1 {
                vec![cell]
            } else {
                let first = j.blocks.len();
                j.blocks
                    .extend(split.into_iter().map(|members| Block { group, members }));
                (first..j.blocks.len()).collect()
            };
            j.node_blocks_of.push(ids);
        }
        j
    }

    /// Ordered pairs of distinct endpoints from block `a` to block `b`.
    pub fn pair_count(&self, a: usize, b: usize) -> usize {
        let (x, y) = (self.blocks[a].members.len(), self.blocks[b].members.len());
        if a == b { x * (x - 1) } else { x * y }
    }

    /// The blocks of joint `j` that decide alike towards joint `other`.
    pub fn blocks_towards(&self, j: usize, other: usize) -> Vec<usize> {
        if !self.node_like[j] && self.node_like[other] {
            self.cells_of[j]
                .iter()
                .flat_map(|&c| self.node_blocks_of[c].iter().copied())
                .collect()
        } else {
            self.cells_of[j].clone()
        }
    }
}

fn differing(
    eb: &Engine,
    ea: &Engine,
    matched: &Matched,
    joints: &Joints,
) -> (Vec<Decision>, Vec<Piece>) {
    let (mut dec_b, mut dec_a) = (CachedDecisions::new(eb), CachedDecisions::new(ea));
    let mut decide = |src: usize, dst: usize| -> Option<Decision> {
        let (s, d) = (&matched.shared[src], &matched.shared[dst]);
        let b = dec_b.allowed(s.before, d.before);
        let a = dec_a.allowed(s.after, d.after);
        (a != b).then_some(Decision {
            src,
            dst,
            before: b,
            after: a,
        })
    };
    // Only joint pairs with a source or destination whose decisions may differ
    // can change (for a one-policy change: the pods that policy selects).
    let pairs: Vec<(EpId, EpId)> = matched.shared.iter().map(|s| (s.before, s.after)).collect();
    let flags = eb.may_differ(ea, &pairs);
    let joint_flags = |pick: fn(&MayDiffer) -> bool| -> Vec<bool> {
        joints
            .members
            .iter()
            .map(|m| m.iter().any(|&i| pick(&flags[i])))
            .collect()
    };
    let (src_differs, dst_differs) = (joint_flags(|f| f.as_src), joint_flags(|f| f.as_dst));
    let all: Vec<usize> = (0..joints.members.len()).collect();
    let dst_only: Vec<usize> = all.iter().copied().filter(|&k| dst_differs[k]).collect();
    // Each differing decision with the block pairs it covers.
    let mut differing: Vec<Decision> = Vec::new();
    let mut pieces: Vec<Piece> = Vec::new();
    for (j, &differs) in src_differs.iter().enumerate() {
        let towards = if differs { &all } else { &dst_only };
        for &k in towards {
            let (from, to) = (joints.blocks_towards(j, k), joints.blocks_towards(k, j));
            // Between a joint acting as a node and one that does not, each pod's
            // node matters (its own node is an exception): decide per node block,
            // even when every cell sits on one node, as different cells may not.
            let split = joints.node_like[j] != joints.node_like[k];
            if !split {
                // Within one joint, any two distinct members stand for all pairs.
                let reps = if j == k {
                    match joints.members[j].as_slice() {
                        [a, b, ..] => Some((*a, *b)),
                        _ => None,
                    }
                } else {
                    Some((joints.members[j][0], joints.members[k][0]))
                };
                let Some(change) = reps.and_then(|(s, d)| decide(s, d)) else {
                    continue;
                };
                differing.push(change);
                for &a in &from {
                    for &b in &to {
                        pieces.push(Piece {
                            decision: differing.len() - 1,
                            src: a,
                            dst: b,
                        });
                    }
                }
                continue;
            }
            for &a in &from {
                for &b in &to {
                    let rep = |x: usize| joints.blocks[x].members[0];
                    if let Some(change) = decide(rep(a), rep(b)) {
                        differing.push(change);
                        pieces.push(Piece {
                            decision: differing.len() - 1,
                            src: a,
                            dst: b,
                        });
                    }
                }
            }
        }
    }
    (differing, pieces)
}
