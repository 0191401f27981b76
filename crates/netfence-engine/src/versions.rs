//! Two engines over two versions of the input (diff's sides, a proposed fix in
//! `check`): which endpoints' decisions can differ, so that comparing the
//! versions only decides the pairs that can.
//!
//! A decision `allowed(a, b)` reads the policies isolating `a` in egress and `b`
//! in ingress, and the endpoints themselves (labels, namespace and its labels,
//! address, named ports, kind and node for the pair exceptions), the admin
//! policies judging them and, for `nodes` peers, node labels, under the
//! semantics flags. When none of these changed, the decision did not.

use std::collections::HashMap;

use netfence_model::{AdminPolicy, AdminRule, ContainerPort, Direction, Labels, Policy, Rule};

use crate::classes::{ClassId, dir_index};
use crate::eval::Engine;
use crate::universe::{EndpointKind, EpId};

/// Whether an endpoint's decisions may differ between two versions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MayDiffer {
    /// Towards some destination, as the source.
    pub as_src: bool,
    /// From some source, as the destination.
    pub as_dst: bool,
}

impl Engine<'_> {
    /// For endpoints matched across two engines (`pairs[i]`: one endpoint here
    /// and in `other`; for external address groups, addresses both groups
    /// contain), whether its decisions may differ. `self.allowed(a, b)` and
    /// `other.allowed(a', b')` can differ only if `a` may differ as a source or
    /// `b` as a destination.
    pub fn may_differ(&self, other: &Engine, pairs: &[(EpId, EpId)]) -> Vec<MayDiffer> {
        let (s, o) = (&self.cluster.semantics, &other.cluster.semantics);
        let same_semantics = s.ip_block_matches_pods == o.ip_block_matches_pods
            && s.host_network_as_node == o.host_network_as_node
            && s.egress_to_own_node == o.egress_to_own_node
            && s.np_selected_is_final == o.np_selected_is_final;
        let mut sides: HashMap<(ClassId, ClassId, usize), bool> = HashMap::new();
        pairs
            .iter()
            .map(|&(a, b)| {
                if !same_semantics || !self.same_endpoint(a, other, b) {
                    return MayDiffer {
                        as_src: true,
                        as_dst: true,
                    };
                }
                let (ca, cb) = (self.class_of[a], other.class_of[b]);
                let mut side_differs = |dir: Direction| {
                    *sides
                        .entry((ca, cb, dir_index(dir)))
                        .or_insert_with(|| !self.same_isolation(ca, other, cb, dir))
                };
                MayDiffer {
                    as_src: side_differs(Direction::Egress),
                    as_dst: side_differs(Direction::Ingress),
                }
            })
            .collect()
    }

    /// Whether endpoint `a` here and `b` in `other` answer every question a
    /// policy or a pair exception asks alike.
    fn same_endpoint(&self, a: EpId, other: &Engine, b: EpId) -> bool {
        let (x, y) = (&self.endpoints[a], &other.endpoints[b]);
        if x.kind != y.kind {
            return false;
        }
        if x.kind == EndpointKind::External {
            // The caller matched them by address.
            return true;
        }
        x.selectable == y.selectable
            && x.acts_as_node == y.acts_as_node
            && x.node == y.node
            && x.ip == y.ip
            && x.addr_group.is_some() == y.addr_group.is_some()
            && x.namespace == y.namespace
            && self.labels_and_ports(a) == other.labels_and_ports(b)
            && self.namespace_labels(a) == other.namespace_labels(b)
            && self.node_labels(a) == other.node_labels(b)
    }

    /// The labels of the node `ep` acts as (a node, a hostNetwork pod there),
    /// which admin `nodes` peers read.
    fn node_labels(&self, ep: EpId) -> Option<&Labels> {
        let node = self.endpoints[ep].acts_as_node.as_deref()?;
        self.cluster
            .nodes
            .iter()
            .find(|n| n.name == node)
            .map(|n| &n.labels)
    }

    fn labels_and_ports(&self, ep: EpId) -> Option<(&Labels, &[ContainerPort])> {
        let e = &self.endpoints[ep];
        e.model_index
            .filter(|_| e.is_pod_like())
            .and_then(|i| self.cluster.endpoints.get(i))
            .map(|m| (&m.labels, m.ports.as_slice()))
    }

    fn namespace_labels(&self, ep: EpId) -> Option<&Labels> {
        self.endpoints[ep]
            .namespace
            .as_deref()
            .and_then(|ns| self.cluster.namespace(ns))
            .map(|n| &n.labels)
    }

    /// The admin policies judging class `c`, in evaluation order.
    fn judging(&self, c: ClassId) -> Vec<&AdminPolicy> {
        self.classes[c]
            .admin_subject_of
            .iter()
            .map(|&a| &self.cluster.admin_policies[a])
            .collect()
    }

    /// The policies isolating class `c` in `dir`, by namespace and name.
    fn isolating_sorted(&self, c: ClassId, dir: Direction) -> Vec<&Policy> {
        let mut v: Vec<&Policy> = self.classes[c].isolating[dir_index(dir)]
            .iter()
            .map(|&p| &self.cluster.policies[p])
            .collect();
        v.sort_by(|p, q| (&p.namespace, &p.name).cmp(&(&q.namespace, &q.name)));
        v
    }

    /// Whether the policies isolating class `c` here and class `d` in `other` in
    /// `dir` are the same policies with the same rules for `dir`.
    fn same_isolation(&self, c: ClassId, other: &Engine, d: ClassId, dir: Direction) -> bool {
        let (mine, theirs) = (
            self.isolating_sorted(c, dir),
            other.isolating_sorted(d, dir),
        );
        let (my_admin, their_admin) = (self.judging(c), other.judging(d));
        if my_admin.len() != their_admin.len()
            || self.classes[c].np_selected != other.classes[d].np_selected
            || !my_admin.iter().zip(&their_admin).all(|(p, q)| {
                p.order_key() == q.order_key() && same_admin_rules(p.rules(dir), q.rules(dir))
            })
        {
            return false;
        }
        mine.len() == theirs.len()
            && mine.iter().zip(&theirs).all(|(p, q)| {
                p.namespace == q.namespace
                    && p.name == q.name
                    && same_rules(p.effective_rules(dir), q.effective_rules(dir))
            })
    }
}

/// Rules that grant the same: peers and ports alike, wherever they are written.
fn same_rules(a: &[Rule], b: &[Rule]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            let peers_same = match (&x.peers, &y.peers) {
                (None, None) => true,
                (Some(p), Some(q)) => {
                    p.len() == q.len() && p.iter().zip(q).all(|(m, n)| m.kind == n.kind)
                }
                _ => false,
            };
            let ports_same = match (&x.ports, &y.ports) {
                (None, None) => true,
                (Some(p), Some(q)) => {
                    p.len() == q.len()
                        && p.iter()
                            .zip(q)
                            .all(|(m, n)| m.protocol == n.protocol && m.port == n.port)
                }
                _ => false,
            };
            peers_same && ports_same
        })
}

/// Admin rules that decide the same: action, peers and ports alike.
fn same_admin_rules(a: &[AdminRule], b: &[AdminRule]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            x.action == y.action
                && x.ports == y.ports
                && x.peers.len() == y.peers.len()
                && x.peers.iter().zip(&y.peers).all(|(m, n)| m.kind == n.kind)
        })
}
