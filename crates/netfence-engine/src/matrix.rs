//! The full connectivity matrix, grouped so it stays small at scale.
//!
//! Endpoints are grouped by class (refined by node where node exceptions can
//! apply), each group pair is decided once, and groups with identical rows are
//! merged. Every ordered pair of distinct endpoints appears in exactly one entry's
//! `src × dst`, or in none when nothing is allowed. A pair of an endpoint with
//! itself is never listed: it is always allowed.

use std::collections::BTreeMap;

use serde::Serialize;

use netfence_model::Direction;

use crate::eval::Engine;
use crate::portset::ConnSet;
use crate::universe::{EndpointKind, EpId};

#[derive(Clone, Debug, Default)]
pub struct MatrixFilter {
    /// Keep pairs with at least one end in one of these namespaces.
    pub namespaces: Option<Vec<String>>,
    /// Keep only this port (of every protocol, or of `protocol`).
    pub port: Option<u16>,
    pub protocol: Option<netfence_model::Protocol>,
    /// One entry per pair instead of grouped entries.
    pub per_pair: bool,
    /// Leave out pairs of two external address groups: traffic between two
    /// outside ranges never crosses the cluster.
    pub skip_external_pairs: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct EndpointJson {
    pub id: String,
    pub kind: EndpointKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workload: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ips: Vec<String>,
    /// False for workload stand-ins: ipBlock rules cannot match them.
    #[serde(rename = "ipKnown")]
    pub ip_known: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cidrs: Vec<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub synthetic: bool,
    #[serde(rename = "hostNetwork", skip_serializing_if = "std::ops::Not::not")]
    pub host_network: bool,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct MatrixEntry {
    pub src: Vec<String>,
    pub dst: Vec<String>,
    pub allowed: ConnSet,
}

#[derive(Clone, Debug, Serialize)]
pub struct MatrixJson {
    pub endpoints: Vec<EndpointJson>,
    pub connections: Vec<MatrixEntry>,
}

impl Engine<'_> {
    pub fn endpoint_json(&self, ep: EpId) -> EndpointJson {
        let e = &self.endpoints[ep];
        let model = e
            .model_index
            .filter(|_| e.is_pod_like())
            .map(|i| &self.cluster.endpoints[i]);
        EndpointJson {
            id: e.id.clone(),
            kind: e.kind.clone(),
            namespace: e.namespace.clone(),
            workload: model.and_then(|m| m.workload.as_ref().map(|_| m.group())),
            ips: e.ips.iter().map(|ip| ip.to_string()).collect(),
            ip_known: e.kind == EndpointKind::External || !e.ips.is_empty(),
            node: e.node.clone().filter(|_| e.kind != EndpointKind::Node),
            cidrs: match e.kind {
                EndpointKind::External => e
                    .addr_group
                    .map(|g| {
                        self.space.groups[g]
                            .cidrs
                            .iter()
                            .map(|c| c.to_string())
                            .collect()
                    })
                    .unwrap_or_default(),
                _ => Vec::new(),
            },
            synthetic: e.kind == EndpointKind::SyntheticDns,
            host_network: model.is_some_and(|m| m.host_network),
        }
    }

    /// Groups of endpoints that share every decision (class, refined by node when
    /// node exceptions may apply).
    fn matrix_groups(&self, eligible: &[EpId]) -> Vec<Vec<EpId>> {
        let node_like = self.endpoints.iter().any(|e| e.acts_as_node.is_some());
        let mut groups: BTreeMap<(usize, Option<String>), Vec<EpId>> = BTreeMap::new();
        for &ep in eligible {
            let e = &self.endpoints[ep];
            let node = if e.acts_as_node.is_some() || (node_like && e.is_pod_like()) {
                e.node.clone()
            } else {
                None
            };
            groups
                .entry((self.class_of[ep], node))
                .or_default()
                .push(ep);
        }
        groups.into_values().collect()
    }

    fn filtered(&self, set: ConnSet, f: &MatrixFilter) -> ConnSet {
        match f.port {
            None => match f.protocol {
                None => set,
                Some(p) => set.intersect(&ConnSet::of(p, crate::PortSet::full())),
            },
            Some(port) => {
                let mut only = ConnSet::none();
                for p in netfence_model::Protocol::ALL {
                    if f.protocol.is_none_or(|fp| fp == p) {
                        only = only.union(&ConnSet::of(p, crate::PortSet::single(port)));
                    }
                }
                set.intersect(&only)
            }
        }
    }

    fn pair_in_scope(&self, a: EpId, b: EpId, f: &MatrixFilter) -> bool {
        let external = |e: EpId| self.endpoints[e].kind == EndpointKind::External;
        if f.skip_external_pairs && external(a) && external(b) {
            return false;
        }
        match &f.namespaces {
            None => true,
            Some(list) => [a, b].iter().any(|&e| {
                self.endpoints[e]
                    .namespace
                    .as_ref()
                    .is_some_and(|ns| list.contains(ns))
            }),
        }
    }

    /// The grouped matrix.
    pub fn matrix(&self, f: &MatrixFilter) -> MatrixJson {
        let all: Vec<EpId> = (0..self.endpoints.len()).collect();
        let endpoints = all.iter().map(|&e| self.endpoint_json(e)).collect();
        let ns_groups = self.matrix_groups(&all);
        let mut connections = Vec::new();
        if f.per_pair {
            for &s in &all {
                for &d in &all {
                    if s == d || !self.pair_in_scope(s, d, f) {
                        continue;
                    }
                    let set = self.filtered(self.allowed(s, d), f);
                    if !set.is_empty() {
                        connections.push(MatrixEntry {
                            src: vec![self.endpoints[s].id.clone()],
                            dst: vec![self.endpoints[d].id.clone()],
                            allowed: set,
                        });
                    }
                }
            }
            return MatrixJson {
                endpoints,
                connections,
            };
        }
        // Where a source's egress allows nothing, neither does the pair (unless a
        // pair exception applies, which takes an endpoint acting as a node): each
        // row visits only the groups of the classes its egress rules can match,
        // and those acting as nodes.
        let mut groups_of_class: Vec<Vec<usize>> = vec![Vec::new(); self.classes.len()];
        for (gi, g) in ns_groups.iter().enumerate() {
            groups_of_class[self.class_of[g[0]]].push(gi);
        }
        let node_groups: Vec<usize> = (0..ns_groups.len())
            .filter(|&gi| !self.exception_free(ns_groups[gi][0]))
            .collect();
        let every_group: Vec<usize> = (0..ns_groups.len()).collect();
        // Row of each source group: destination endpoints per allowed set.
        let mut merged: BTreeMap<(Vec<String>, ConnSet), Vec<String>> = BTreeMap::new();
        for g in &ns_groups {
            let candidates = self
                .peer_candidates(Direction::Egress, self.class_of[g[0]])
                .filter(|_| self.exception_free(g[0]));
            let towards: Vec<usize> = match candidates {
                None => every_group.clone(),
                Some(classes) => {
                    let mut v: Vec<usize> = classes
                        .iter()
                        .flat_map(|&c| groups_of_class[c].iter().copied())
                        .chain(node_groups.iter().copied())
                        .collect();
                    v.sort_unstable();
                    v.dedup();
                    v
                }
            };
            let mut row: BTreeMap<ConnSet, Vec<String>> = BTreeMap::new();
            for h in towards.iter().map(|&hi| &ns_groups[hi]) {
                let (s, d) = if std::ptr::eq(g, h) {
                    if g.len() < 2 {
                        continue;
                    }
                    (g[0], g[1])
                } else {
                    (g[0], h[0])
                };
                let set = self.filtered(self.allowed(s, d), f);
                if set.is_empty() {
                    continue;
                }
                row.entry(set)
                    .or_default()
                    .extend(h.iter().map(|&e| self.endpoints[e].id.clone()));
            }
            // Namespace and external-pair filtering is per pair, so it may
            // split a group entry.
            let per_source = f.namespaces.is_some()
                || (f.skip_external_pairs
                    && g.iter()
                        .any(|&e| self.endpoints[e].kind == EndpointKind::External));
            for (set, dsts) in row {
                let srcs: Vec<String> = g.iter().map(|&e| self.endpoints[e].id.clone()).collect();
                if per_source {
                    for &s in g {
                        let kept: Vec<String> = dsts
                            .iter()
                            .filter(|d| self.find(d).is_ok_and(|de| self.pair_in_scope(s, de, f)))
                            .cloned()
                            .collect();
                        if !kept.is_empty() {
                            merged
                                .entry((sorted(kept), set.clone()))
                                .or_default()
                                .push(self.endpoints[s].id.clone());
                        }
                    }
                } else {
                    merged.entry((sorted(dsts), set)).or_default().extend(srcs);
                }
            }
        }
        for ((dst, allowed), src) in merged {
            connections.push(MatrixEntry {
                src: sorted(src),
                dst,
                allowed,
            });
        }
        connections.sort_by(|a, b| (&a.src, &a.dst).cmp(&(&b.src, &b.dst)));
        MatrixJson {
            endpoints,
            connections,
        }
    }
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v.dedup();
    v
}
