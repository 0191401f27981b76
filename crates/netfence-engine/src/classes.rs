//! Selector resolution and endpoint equivalence classes.
//!
//! Two endpoints are equivalent when every question a policy can ask gives the
//! same answer for both: which policies select them as subjects, which peer
//! selectors match them, which address group their IP is in, what their named
//! ports resolve to, and what kind of endpoint they are. Decisions are then
//! computed once per class pair.

use std::collections::HashMap;

use netfence_model::{
    AdminPeerKind, AdminPort, AdminSubject, Cluster, Direction, Labels, Operator, PeerKind,
    Protocol, Selector,
};

use crate::addr::{AddressSpace, Block};
use crate::universe::{EndpointKind, EngineEndpoint, EpId};

pub type ClassId = usize;

/// Which namespaces a pod peer looks in.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum NsScope {
    /// `podSelector` alone: the policy's own namespace.
    Own(String),
    Selector(Selector),
}

/// A distinct pod peer (`namespaceSelector`/`podSelector`), resolved once however
/// many rules repeat it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PodPeerKey {
    pub ns: NsScope,
    pub pods: Option<Selector>,
}

/// A peer with its selector resolved to an index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerRef {
    /// Index into `Resolved::pod_peers`.
    Pods(usize),
    /// Index into `Resolved::blocks`.
    Block(usize),
    /// Index into `Resolved::node_peers` (admin `nodes` peers).
    Nodes(usize),
    /// One pattern of an admin `domainNames` peer: index into `Resolved::domains`.
    Domain(usize),
}

/// Everything about the input that does not depend on endpoint classes.
#[derive(Debug)]
pub struct Resolved {
    pub pod_peers: Vec<PodPeerKey>,
    pub blocks: Vec<Block>,
    /// For policy p, direction d, rule r, peer k: `peer_refs[p][d][r][k]`.
    pub peer_refs: Vec<[Vec<Vec<PeerRef>>; 2]>,
    /// Named ports any rule refers to, with the protocol it asks for.
    pub named_ports: Vec<(String, Protocol)>,
    /// For admin policy a, direction d, rule r, peer k: what peer k matches, as
    /// references (a `networks` peer is one block per CIDR):
    /// `admin_peer_refs[a][d][r][k]`.
    pub admin_peer_refs: Vec<[Vec<Vec<Vec<PeerRef>>>; 2]>,
    /// Distinct admin `nodes` selectors.
    pub node_peers: Vec<Selector>,
    /// Distinct `domainNames` patterns, normalised (`universe::domain_key`).
    pub domains: Vec<String>,
    /// For admin policy a, direction d, rule r: the connections its ports
    /// select when they name no port (the same towards every destination);
    /// None with a named port.
    pub admin_rule_conns: Vec<[Vec<Option<crate::portset::ConnSet>>; 2]>,
    /// Per admin policy, the pod peer key of its subject (`Resolved::pod_peers`
    /// holds only peers; subjects are resolved through the same index).
    pub admin_subjects: Vec<PodPeerKey>,
}

pub fn dir_index(d: Direction) -> usize {
    match d {
        Direction::Ingress => 0,
        Direction::Egress => 1,
    }
}

impl Resolved {
    pub fn new(cluster: &Cluster) -> Resolved {
        let mut pod_index: HashMap<PodPeerKey, usize> = HashMap::new();
        let mut pod_peers = Vec::new();
        let mut block_index: HashMap<Block, usize> = HashMap::new();
        let mut blocks = Vec::new();
        let mut named = Vec::new();
        let mut peer_refs = Vec::with_capacity(cluster.policies.len());
        for p in &cluster.policies {
            let mut per_dir: [Vec<Vec<PeerRef>>; 2] = [Vec::new(), Vec::new()];
            for dir in Direction::BOTH {
                for rule in p.rules(dir) {
                    let mut refs = Vec::new();
                    for peer in rule.peers.iter().flatten() {
                        refs.push(match &peer.kind {
                            PeerKind::Pods {
                                namespace_selector,
                                pod_selector,
                            } => {
                                let key = PodPeerKey {
                                    ns: match namespace_selector {
                                        Some(s) => NsScope::Selector(s.clone()),
                                        None => NsScope::Own(p.namespace.clone()),
                                    },
                                    pods: pod_selector.clone(),
                                };
                                let next = pod_peers.len();
                                let idx = *pod_index.entry(key.clone()).or_insert(next);
                                if idx == next {
                                    pod_peers.push(key);
                                }
                                PeerRef::Pods(idx)
                            }
                            PeerKind::IpBlock { cidr, except } => {
                                let key = Block {
                                    cidr: *cidr,
                                    except: except.clone(),
                                };
                                let next = blocks.len();
                                let idx = *block_index.entry(key.clone()).or_insert(next);
                                if idx == next {
                                    blocks.push(key);
                                }
                                PeerRef::Block(idx)
                            }
                        });
                    }
                    per_dir[dir_index(dir)].push(refs);
                    for port in rule.ports.iter().flatten() {
                        if let Some(netfence_model::PortRef::Named(n)) = &port.port {
                            named.push((n.clone(), port.protocol));
                        }
                    }
                }
            }
            peer_refs.push(per_dir);
        }
        let mut node_peers: Vec<Selector> = Vec::new();
        let mut domains: Vec<String> = Vec::new();
        let mut admin_peer_refs = Vec::with_capacity(cluster.admin_policies.len());
        let mut admin_subjects = Vec::with_capacity(cluster.admin_policies.len());
        let mut admin_rule_conns = Vec::with_capacity(cluster.admin_policies.len());
        for a in &cluster.admin_policies {
            admin_subjects.push(match &a.subject {
                AdminSubject::Namespaces(ns) => PodPeerKey {
                    ns: NsScope::Selector(ns.clone()),
                    pods: None,
                },
                AdminSubject::Pods {
                    namespace_selector,
                    pod_selector,
                } => PodPeerKey {
                    ns: NsScope::Selector(namespace_selector.clone()),
                    pods: Some(pod_selector.clone()),
                },
            });
            let mut per_dir: [Vec<Vec<Vec<PeerRef>>>; 2] = [Vec::new(), Vec::new()];
            let mut conns_dir: [Vec<Option<crate::portset::ConnSet>>; 2] = [Vec::new(), Vec::new()];
            for dir in Direction::BOTH {
                for rule in a.rules(dir) {
                    conns_dir[dir_index(dir)].push(fixed_conns(rule.ports.as_deref()));
                    let mut rule_refs = Vec::new();
                    for peer in &rule.peers {
                        let mut pod_ref = |key: PodPeerKey| {
                            let next = pod_peers.len();
                            let idx = *pod_index.entry(key.clone()).or_insert(next);
                            if idx == next {
                                pod_peers.push(key);
                            }
                            vec![PeerRef::Pods(idx)]
                        };
                        rule_refs.push(match &peer.kind {
                            AdminPeerKind::Namespaces(ns) => pod_ref(PodPeerKey {
                                ns: NsScope::Selector(ns.clone()),
                                pods: None,
                            }),
                            AdminPeerKind::Pods {
                                namespace_selector,
                                pod_selector,
                            } => pod_ref(PodPeerKey {
                                ns: NsScope::Selector(namespace_selector.clone()),
                                pods: Some(pod_selector.clone()),
                            }),
                            AdminPeerKind::Networks(nets) => nets
                                .iter()
                                .map(|cidr| {
                                    let key = Block {
                                        cidr: *cidr,
                                        except: Vec::new(),
                                    };
                                    let next = blocks.len();
                                    let idx = *block_index.entry(key.clone()).or_insert(next);
                                    if idx == next {
                                        blocks.push(key);
                                    }
                                    PeerRef::Block(idx)
                                })
                                .collect(),
                            AdminPeerKind::Nodes(sel) => {
                                let idx = match node_peers.iter().position(|s| s == sel) {
                                    Some(i) => i,
                                    None => {
                                        node_peers.push(sel.clone());
                                        node_peers.len() - 1
                                    }
                                };
                                vec![PeerRef::Nodes(idx)]
                            }
                            AdminPeerKind::DomainNames(names) => names
                                .iter()
                                .map(|n| {
                                    let key = crate::universe::domain_key(n);
                                    let idx = match domains.iter().position(|d| *d == key) {
                                        Some(i) => i,
                                        None => {
                                            domains.push(key);
                                            domains.len() - 1
                                        }
                                    };
                                    PeerRef::Domain(idx)
                                })
                                .collect(),
                        });
                    }
                    per_dir[dir_index(dir)].push(rule_refs);
                    for port in rule.ports.iter().flatten() {
                        if let AdminPort::Named(n) = port {
                            // The container port's own protocol decides.
                            for proto in Protocol::ALL {
                                named.push((n.clone(), proto));
                            }
                        }
                    }
                }
            }
            admin_peer_refs.push(per_dir);
            admin_rule_conns.push(conns_dir);
        }
        named.sort();
        named.dedup();
        Resolved {
            pod_peers,
            blocks,
            peer_refs,
            named_ports: named,
            admin_peer_refs,
            node_peers,
            domains,
            admin_rule_conns,
            admin_subjects,
        }
    }
}

/// What admin ports select when they name no port: None with a named port
/// (resolved per destination).
fn fixed_conns(ports: Option<&[AdminPort]>) -> Option<crate::portset::ConnSet> {
    use crate::portset::{ConnSet, PortSet};
    let Some(ports) = ports else {
        return Some(ConnSet::all());
    };
    let mut sets = Vec::with_capacity(ports.len());
    for p in ports {
        match p {
            AdminPort::Numbers { protocol, lo, hi } => {
                sets.push(ConnSet::of(*protocol, PortSet::range(*lo, *hi)))
            }
            AdminPort::Named(_) => return None,
        }
    }
    Some(ConnSet::union_all(&sets))
}

/// A set of equivalent endpoints.
#[derive(Debug)]
pub struct Class {
    pub members: Vec<EpId>,
    /// Any member; all answer every policy question alike.
    pub rep: EpId,
    /// Policies selecting the members and isolating them, per direction.
    pub isolating: [Vec<usize>; 2],
    /// Sorted indices of the pod peers matching the members.
    pub pod_peers: Vec<usize>,
    pub addr_group: Option<usize>,
    /// For each entry of `Resolved::named_ports`, the port numbers it names here.
    pub named_ports: Vec<Vec<u16>>,
    /// Admin policies (both tiers) whose subject the members are, ascending:
    /// evaluation order, as `Cluster::admin_policies` is sorted.
    pub admin_subject_of: Vec<usize>,
    /// Sorted indices of the admin `nodes` peers matching the members.
    pub node_peers: Vec<usize>,
    /// Whether any NetworkPolicy selects the members (only set for members
    /// some admin policy judges; `Semantics::np_selected_is_final` reads it).
    pub np_selected: bool,
    /// Sorted indices of the `domainNames` patterns covering the members
    /// (domain endpoints only).
    pub domain_peers: Vec<usize>,
    /// The members' addresses are unknown (domain endpoints): only a block of a
    /// whole address family contains them.
    pub unknown_address: bool,
}

impl Class {
    pub fn matches(&self, peer: PeerRef, space: &AddressSpace) -> bool {
        match peer {
            PeerRef::Pods(i) => self.pod_peers.binary_search(&i).is_ok(),
            PeerRef::Block(b) => match self.addr_group {
                Some(g) => space.block_contains(b, g),
                None => self.unknown_address && space.block_is_whole_family(b),
            },
            PeerRef::Nodes(n) => self.node_peers.binary_search(&n).is_ok(),
            PeerRef::Domain(d) => self.domain_peers.binary_search(&d).is_ok(),
        }
    }
}

#[derive(Hash, PartialEq, Eq)]
struct Signature {
    kind: u8,
    isolating: [Vec<usize>; 2],
    pod_peers: Vec<usize>,
    addr_group: Option<usize>,
    named_ports: Vec<Vec<u16>>,
    admin_subject_of: Vec<usize>,
    node_peers: Vec<usize>,
    /// Selected by a NetworkPolicy; only told apart when admin policies
    /// judge the members (the compat flag reads it).
    np_selected: bool,
    /// The pattern of a domain endpoint (each is its own class).
    domain: Option<String>,
    domain_peers: Vec<usize>,
}

/// The endpoints selectors can select (selectable pod-like endpoints) by
/// namespace and, within a namespace, by label. Resolving a selector then tests
/// only endpoints that can match it: one namespace's pods rather than the whole
/// cluster, and for a selector with an `In` requirement (every `matchLabels`
/// entry is one) only the pods carrying one of its values. Without it, resolving
/// every policy and peer was policies × endpoints selector tests (seconds at
/// 10,000 workloads).
#[derive(Debug, Default)]
pub struct PodIndex<'c> {
    /// Namespaces in the order of their first endpoint.
    namespaces: Vec<NsPods<'c>>,
    by_name: HashMap<&'c str, usize>,
    /// Labels of each indexed endpoint, by `EpId`.
    labels: Vec<Option<&'c Labels>>,
    /// Namespace labels (of declared or implied namespaces), by namespace index.
    ns_labels: Vec<Option<&'c Labels>>,
}

#[derive(Debug)]
struct NsPods<'c> {
    /// Ascending.
    members: Vec<EpId>,
    /// (key, value) → members carrying that label, ascending.
    by_label: HashMap<(&'c str, &'c str), Vec<EpId>>,
}

impl<'c> PodIndex<'c> {
    pub fn new(cluster: &'c Cluster, endpoints: &[EngineEndpoint]) -> PodIndex<'c> {
        let mut index = PodIndex {
            labels: vec![None; endpoints.len()],
            ..PodIndex::default()
        };
        for (ei, ep) in endpoints.iter().enumerate() {
            if !ep.selectable || !ep.is_pod_like() || ep.namespace.is_none() {
                continue;
            }
            let Some(m) = ep.model_index.and_then(|i| cluster.endpoints.get(i)) else {
                continue;
            };
            let next = index.namespaces.len();
            let ni = *index.by_name.entry(m.namespace.as_str()).or_insert(next);
            if ni == next {
                index.namespaces.push(NsPods {
                    members: Vec::new(),
                    by_label: HashMap::new(),
                });
                index
                    .ns_labels
                    .push(cluster.namespace(&m.namespace).map(|n| &n.labels));
            }
            let ns = &mut index.namespaces[ni];
            ns.members.push(ei);
            for (k, v) in &m.labels {
                ns.by_label
                    .entry((k.as_str(), v.as_str()))
                    .or_default()
                    .push(ei);
            }
            index.labels[ei] = Some(&m.labels);
        }
        index
    }

    /// Appends the endpoints of namespace `ns` (an index) whose labels
    /// `selector` matches (all of them for `None`), ascending.
    fn select_in(&self, ns: usize, selector: Option<&Selector>, out: &mut Vec<EpId>) {
        let ns = &self.namespaces[ns];
        let Some(selector) = selector else {
            out.extend_from_slice(&ns.members);
            return;
        };
        let matches = |e: &&EpId| self.labels[**e].is_some_and(|l| selector.matches(l));
        // An endpoint the selector matches carries one of the values of each `In`
        // requirement: the requirement with the fewest such endpoints bounds the
        // candidates.
        let narrowest = selector
            .requirements
            .iter()
            .filter(|r| r.operator == Operator::In)
            .map(|r| {
                let lists: Vec<&Vec<EpId>> = r
                    .values
                    .iter()
                    .filter_map(|v| ns.by_label.get(&(r.key.as_str(), v.as_str())))
                    .collect();
                (lists.iter().map(|l| l.len()).sum::<usize>(), lists)
            })
            .min_by_key(|(n, _)| *n);
        match narrowest {
            None => out.extend(ns.members.iter().filter(matches)),
            Some((_, lists)) => {
                let start = out.len();
                for list in lists {
                    out.extend(list.iter().filter(matches));
                }
                // A pod has one value per key, so the lists are disjoint.
                out[start..].sort_unstable();
            }
        }
    }

    /// Endpoints `policy` selects as subjects, ascending.
    pub fn selected_by(&self, cluster: &Cluster, policy: usize) -> Vec<EpId> {
        let p = &cluster.policies[policy];
        let mut out = Vec::new();
        if let Some(&ns) = self.by_name.get(p.namespace.as_str()) {
            self.select_in(ns, Some(&p.pod_selector), &mut out);
        }
        out
    }

    /// Namespaces (indices) whose labels `selector` matches.
    fn namespaces_matching(&self, selector: &Selector) -> Vec<usize> {
        (0..self.namespaces.len())
            .filter(|&n| self.ns_labels[n].is_some_and(|l| selector.matches(l)))
            .collect()
    }

    /// Endpoints a pod peer matches, ascending.
    pub fn peer_members(&self, key: &PodPeerKey) -> Vec<EpId> {
        let namespaces = match &key.ns {
            NsScope::Own(own) => self
                .by_name
                .get(own.as_str())
                .copied()
                .into_iter()
                .collect(),
            NsScope::Selector(sel) => self.namespaces_matching(sel),
        };
        self.members_in(&namespaces, key.pods.as_ref())
    }

    fn members_in(&self, namespaces: &[usize], pods: Option<&Selector>) -> Vec<EpId> {
        let mut out = Vec::new();
        for &ns in namespaces {
            self.select_in(ns, pods, &mut out);
        }
        if namespaces.len() > 1 {
            out.sort_unstable();
        }
        out
    }
}

/// The port numbers `name` (with `protocol`) resolves to on `ep`: every container
/// port of that name and protocol (two containers may reuse a name).
pub fn named_port_numbers(
    cluster: &Cluster,
    ep: &EngineEndpoint,
    name: &str,
    protocol: Protocol,
) -> Vec<u16> {
    if !ep.is_pod_like() {
        return Vec::new();
    }
    let Some(i) = ep.model_index else {
        return Vec::new();
    };
    let mut ports: Vec<u16> = cluster.endpoints[i]
        .ports
        .iter()
        .filter(|p| p.name.as_deref() == Some(name) && p.protocol == protocol)
        .map(|p| p.port)
        .collect();
    ports.sort_unstable();
    ports.dedup();
    ports
}

/// Groups endpoints into classes. Returns the classes and each endpoint's class.
pub fn build_classes<'c>(
    cluster: &'c Cluster,
    resolved: &Resolved,
    endpoints: &[EngineEndpoint],
) -> (Vec<Class>, Vec<ClassId>, PodIndex<'c>) {
    let n = endpoints.len();
    let pods = PodIndex::new(cluster, endpoints);
    let mut isolating: Vec<[Vec<usize>; 2]> = vec![[Vec::new(), Vec::new()]; n];
    let mut np_selected = vec![false; n];
    for (pi, p) in cluster.policies.iter().enumerate() {
        for ei in pods.selected_by(cluster, pi) {
            np_selected[ei] = true;
            for dir in Direction::BOTH {
                if p.isolates(dir) {
                    isolating[ei][dir_index(dir)].push(pi);
                }
            }
        }
    }
    let mut pod_peers: Vec<Vec<usize>> = vec![Vec::new(); n];
    // Peers repeat namespace selectors (`kubernetes.io/metadata.name: X`):
    // each is evaluated against the namespaces once.
    let mut ns_cache: HashMap<&Selector, Vec<usize>> = HashMap::new();
    for (ki, key) in resolved.pod_peers.iter().enumerate() {
        let members = match &key.ns {
            NsScope::Own(_) => pods.peer_members(key),
            NsScope::Selector(sel) => {
                let namespaces = ns_cache
                    .entry(sel)
                    .or_insert_with(|| pods.namespaces_matching(sel));
                pods.members_in(namespaces, key.pods.as_ref())
            }
        };
        for ei in members {
            pod_peers[ei].push(ki);
        }
    }
    let mut admin_subject_of: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (ai, key) in resolved.admin_subjects.iter().enumerate() {
        for ei in pods.peer_members(key) {
            admin_subject_of[ei].push(ai);
        }
    }
    let mut node_peers: Vec<Vec<usize>> = vec![Vec::new(); n];
    if !resolved.node_peers.is_empty() {
        let no_labels = Labels::new();
        for (ei, ep) in endpoints.iter().enumerate() {
            let Some(node) = &ep.acts_as_node else {
                continue;
            };
            // A node known only from a pod's nodeName has no labels we know.
            let labels = cluster
                .nodes
                .iter()
                .find(|n| &n.name == node)
                .map_or(&no_labels, |n| &n.labels);
            for (ki, sel) in resolved.node_peers.iter().enumerate() {
                if sel.matches(labels) {
                    node_peers[ei].push(ki);
                }
            }
        }
    }
    let mut index: HashMap<Signature, ClassId> = HashMap::new();
    let mut classes: Vec<Class> = Vec::new();
    let mut class_of = Vec::with_capacity(n);
    for (ei, ep) in endpoints.iter().enumerate() {
        let named: Vec<Vec<u16>> = resolved
            .named_ports
            .iter()
            .map(|(name, proto)| named_port_numbers(cluster, ep, name, *proto))
            .collect();
        let sig = Signature {
            // Node-like pods take part in node exceptions, so they never share a
            // class with ordinary pods.
            kind: match ep.kind {
                _ if ep.acts_as_node.is_some() && ep.is_pod_like() => 3,
                EndpointKind::Pod | EndpointKind::Workload | EndpointKind::SyntheticDns => 0,
                EndpointKind::Node => 1,
                EndpointKind::External => 2,
            },
            isolating: std::mem::take(&mut isolating[ei]),
            pod_peers: std::mem::take(&mut pod_peers[ei]),
            addr_group: ep.addr_group,
            named_ports: named,
            np_selected: np_selected[ei] && !admin_subject_of[ei].is_empty(),
            admin_subject_of: std::mem::take(&mut admin_subject_of[ei]),
            node_peers: std::mem::take(&mut node_peers[ei]),
            domain: ep.domain.clone(),
            domain_peers: ep.domain.as_deref().map_or_else(Vec::new, |d| {
                (0..resolved.domains.len())
                    .filter(|&k| crate::universe::domain_covers(&resolved.domains[k], d))
                    .collect()
            }),
        };
        let next = classes.len();
        let id = match index.get(&sig) {
            Some(&id) => id,
            None => {
                classes.push(Class {
                    members: Vec::new(),
                    rep: ei,
                    isolating: sig.isolating.clone(),
                    pod_peers: sig.pod_peers.clone(),
                    addr_group: sig.addr_group,
                    named_ports: sig.named_ports.clone(),
                    admin_subject_of: sig.admin_subject_of.clone(),
                    node_peers: sig.node_peers.clone(),
                    np_selected: sig.np_selected,
                    domain_peers: sig.domain_peers.clone(),
                    unknown_address: sig.domain.is_some(),
                });
                index.insert(sig, next);
                next
            }
        };
        classes[id].members.push(ei);
        class_of.push(id);
    }
    (classes, class_of, pods)
}
