//! The decision procedure of semantics.md §0 and §1.2, per class pair, with the
//! pair-level exceptions of §1.7 on top.

use std::net::IpAddr;

use netfence_model::{
    AdminAction, AdminPort, AdminTier, Cluster, Direction, PortRef, PortSpec, Protocol, Selector,
};
use serde::Serialize;

use crate::addr::AddressSpace;
use crate::classes::{
    self, Class, ClassId, NsScope, PeerRef, PodIndex, PodPeerKey, Resolved, dir_index,
};
use crate::portset::{ConnSet, PortSet};
use crate::query::EndpointQuery;
use crate::universe::{self, EndpointKind, EngineEndpoint, EpId};

/// A rule that granted connections to a pair: the policy, the rule, the peer entry
/// that matched (`None`: the rule has no `from`/`to`, so every peer matches) and what
/// it allows for this pair.
#[derive(Clone, Debug, Serialize)]
pub struct Contribution {
    pub policy: usize,
    pub rule: usize,
    pub peer: Option<usize>,
    pub conns: ConnSet,
}

/// One direction's outcome for a pair.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SideOutcome {
    /// No policy isolates the subject in this direction: everything passes.
    NotIsolated,
    /// Isolated: only the union of matching rules passes.
    Isolated(ConnSet),
    /// The subject is not a pod (node, external, hostNetwork): no policy applies.
    NotAPod,
}

impl SideOutcome {
    pub fn allowed(&self) -> ConnSet {
        match self {
            SideOutcome::NotIsolated | SideOutcome::NotAPod => ConnSet::all(),
            SideOutcome::Isolated(c) => c.clone(),
        }
    }
}

/// One admin or baseline rule deciding part of a direction: `conns` is what it
/// decided (what earlier rules left undecided and it matches).
#[derive(Clone, Debug, Serialize)]
pub struct TierStep {
    pub tier: AdminTier,
    /// Index into `Cluster::admin_policies`.
    pub policy: usize,
    pub rule: usize,
    /// The peer entry that matched.
    pub peer: usize,
    pub action: AdminAction,
    pub conns: ConnSet,
}

/// One direction decided through every tier, with where each part was decided.
#[derive(Clone, Debug, Default)]
pub struct Tiered {
    /// Admin then Baseline rules that decided something, in evaluation order.
    pub steps: Vec<TierStep>,
    /// What reached the NetworkPolicy tier (no Admin rule decided it, or Pass).
    pub to_network_policy: ConnSet,
    /// The NetworkPolicy tier's outcome (`NotIsolated` when a pair exception
    /// took the pair out of it; always set by `Engine::tiers`).
    pub np: Option<SideOutcome>,
    /// What reached the Baseline tier.
    pub to_baseline: ConnSet,
    /// What no tier decided: allowed by default.
    pub default: ConnSet,
    pub allowed: ConnSet,
}

/// Pair-specific rules that hold whatever the policies say.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Exception {
    /// A pod can always reach itself through its own IP.
    SelfTraffic,
    /// Traffic from a pod's own node (kubelet probes) is always allowed in.
    FromOwnNode,
    /// A pod may reach its own node (the `egress_to_own_node` choice).
    ToOwnNode,
}

/// `Engine::allowed` memoised per class pair, for views that ask about many
/// endpoint pairs: pairs without an exception are decided once per class pair.
pub struct CachedDecisions<'e, 'c> {
    engine: &'e Engine<'c>,
    by_class: std::collections::HashMap<(ClassId, ClassId), ConnSet>,
}

impl<'e, 'c> CachedDecisions<'e, 'c> {
    pub fn new(engine: &'e Engine<'c>) -> Self {
        CachedDecisions {
            engine,
            by_class: std::collections::HashMap::new(),
        }
    }

    /// Same answer as `Engine::allowed(src, dst)`.
    pub fn allowed(&mut self, src: EpId, dst: EpId) -> ConnSet {
        let engine = self.engine;
        if engine.exceptions(src, dst) != (None, None) {
            return engine.allowed(src, dst);
        }
        let key = (engine.class_of[src], engine.class_of[dst]);
        self.by_class
            .entry(key)
            .or_insert_with(|| engine.class_pair(key.0, key.1))
            .clone()
    }
}

/// The engine: the input, resolved once, and queries over it.
pub struct Engine<'c> {
    pub cluster: &'c Cluster,
    pub space: AddressSpace,
    pub resolved: Resolved,
    pub endpoints: Vec<EngineEndpoint>,
    pub classes: Vec<Class>,
    pub class_of: Vec<ClassId>,
    by_id: std::collections::HashMap<String, EpId>,
    pods: PodIndex<'c>,
    /// Classes each pod peer matches, ascending.
    pod_peer_classes: Vec<Vec<ClassId>>,
    /// Classes each ipBlock matches, ascending.
    block_classes: Vec<Vec<ClassId>>,
    /// Classes each admin `nodes` peer matches, ascending.
    node_peer_classes: Vec<Vec<ClassId>>,
    /// Classes each `domainNames` pattern covers, ascending.
    domain_classes: Vec<Vec<ClassId>>,
}

impl<'c> Engine<'c> {
    pub fn new(cluster: &'c Cluster) -> Engine<'c> {
        let resolved = Resolved::new(cluster);
        let space = AddressSpace::new(&resolved.blocks);
        let endpoints = universe::build(cluster, &space);
        let (classes, class_of, pods) = classes::build_classes(cluster, &resolved, &endpoints);
        let by_id = endpoints
            .iter()
            .enumerate()
            .map(|(i, e)| (e.id.clone(), i))
            .collect();
        let mut pod_peer_classes = vec![Vec::new(); resolved.pod_peers.len()];
        for (c, class) in classes.iter().enumerate() {
            for &k in &class.pod_peers {
                pod_peer_classes[k].push(c);
            }
        }
        let mut node_peer_classes = vec![Vec::new(); resolved.node_peers.len()];
        for (c, class) in classes.iter().enumerate() {
            for &k in &class.node_peers {
                node_peer_classes[k].push(c);
            }
        }
        let mut domain_classes = vec![Vec::new(); resolved.domains.len()];
        for (c, class) in classes.iter().enumerate() {
            for &k in &class.domain_peers {
                domain_classes[k].push(c);
            }
        }
        let block_classes = (0..resolved.blocks.len())
            .map(|b| {
                (0..classes.len())
                    .filter(|&c| classes[c].matches(PeerRef::Block(b), &space))
                    .collect()
            })
            .collect();
        Engine {
            by_id,
            pods,
            pod_peer_classes,
            block_classes,
            node_peer_classes,
            domain_classes,
            cluster,
            space,
            resolved,
            endpoints,
            classes,
            class_of,
        }
    }

    pub fn endpoint(&self, id: EpId) -> &EngineEndpoint {
        &self.endpoints[id]
    }

    /// Ports `spec` allows when connecting to the class `dst`: named ports resolve
    /// on the destination pod; a name matches nothing on a non-pod.
    fn port_spec_set(&self, spec: &PortSpec, dst: &Class) -> ConnSet {
        let set = match &spec.port {
            None => PortSet::full(),
            Some(PortRef::Range { lo, hi }) => PortSet::range(*lo, *hi),
            Some(PortRef::Named(name)) => {
                let idx = self
                    .resolved
                    .named_ports
                    .binary_search(&(name.clone(), spec.protocol))
                    .ok();
                idx.and_then(|i| dst.named_ports.get(i))
                    .map(|ports| {
                        ports
                            .iter()
                            .fold(PortSet::empty(), |acc, &p| acc.union(&PortSet::single(p)))
                    })
                    .unwrap_or_default()
            }
        };
        ConnSet::of(spec.protocol, set)
    }

    /// What a rule's `ports` allow towards `dst`; no ports means everything.
    pub fn rule_ports(&self, ports: Option<&[PortSpec]>, dst: ClassId) -> ConnSet {
        match ports {
            None => ConnSet::all(),
            Some(list) => list.iter().fold(ConnSet::none(), |acc, spec| {
                acc.union(&self.port_spec_set(spec, &self.classes[dst]))
            }),
        }
    }

    /// The NetworkPolicy tier for one direction at class level: `subject` is the
    /// pod whose policies apply (source for egress, destination for ingress), `peer`
    /// the other end. `visit` sees every rule that grants something (provenance).
    pub fn side_classes(
        &self,
        dir: Direction,
        subject: ClassId,
        peer: ClassId,
        mut visit: impl FnMut(Contribution),
    ) -> SideOutcome {
        let sc = &self.classes[subject];
        if !self.endpoints[sc.rep].selectable || !self.endpoints[sc.rep].is_pod_like() {
            return SideOutcome::NotAPod;
        }
        let policies = &sc.isolating[dir_index(dir)];
        if policies.is_empty() {
            return SideOutcome::NotIsolated;
        }
        let pc = &self.classes[peer];
        let dst = match dir {
            Direction::Ingress => subject,
            Direction::Egress => peer,
        };
        // Collected and united once: many rules isolating the same pods (one
        // policy per port) would make uniting them one by one quadratic.
        let mut granted: Vec<ConnSet> = Vec::new();
        for &pi in policies {
            let policy = &self.cluster.policies[pi];
            for (ri, rule) in policy.effective_rules(dir).iter().enumerate() {
                let refs = &self.resolved.peer_refs[pi][dir_index(dir)][ri];
                let matched = if rule.peers.is_none() {
                    Some(None)
                } else {
                    refs.iter()
                        .position(|&r| pc.matches(r, &self.space))
                        .map(Some)
                };
                let Some(peer_index) = matched else { continue };
                let conns = self.rule_ports(rule.ports.as_deref(), dst);
                if conns.is_empty() {
                    continue;
                }
                granted.push(conns.clone());
                visit(Contribution {
                    policy: pi,
                    rule: ri,
                    peer: peer_index,
                    conns,
                });
            }
        }
        SideOutcome::Isolated(ConnSet::union_all(&granted))
    }

    /// Classes a peer reference matches, ascending.
    pub fn classes_matching(&self, peer: PeerRef) -> &[ClassId] {
        match peer {
            PeerRef::Pods(k) => &self.pod_peer_classes[k],
            PeerRef::Block(b) => &self.block_classes[b],
            PeerRef::Nodes(n) => &self.node_peer_classes[n],
            PeerRef::Domain(d) => &self.domain_classes[d],
        }
    }

    /// The classes towards (egress) or from (ingress) which `subject`'s side can
    /// allow anything, ascending: those some rule of its isolating policies
    /// matches as the peer; towards any other class `side_classes` allows
    /// nothing. `None` when every class is possible (the subject is not isolated
    /// in `dir`, is not a pod, or a rule has no peers). Admin Accept rules add
    /// the classes their peers match.
    pub fn peer_candidates(&self, dir: Direction, subject: ClassId) -> Option<Vec<ClassId>> {
        let sc = &self.classes[subject];
        let rep = &self.endpoints[sc.rep];
        if !rep.selectable || !rep.is_pod_like() || sc.isolating[dir_index(dir)].is_empty() {
            return None;
        }
        let mut out = Vec::new();
        // An Admin Accept can open towards the classes its peers match, which the
        // NetworkPolicies need not name; a Pass reaches the NetworkPolicy tier,
        // final here (isolated), and so never the Baseline tier.
        for &a in &sc.admin_subject_of {
            let policy = &self.cluster.admin_policies[a];
            if policy.tier != AdminTier::Admin {
                continue;
            }
            for (ri, rule) in policy.rules(dir).iter().enumerate() {
                if rule.action != AdminAction::Accept {
                    continue;
                }
                for refs in &self.resolved.admin_peer_refs[a][dir_index(dir)][ri] {
                    for &r in refs {
                        out.extend_from_slice(self.classes_matching(r));
                    }
                }
            }
        }
        for &pi in &sc.isolating[dir_index(dir)] {
            let policy = &self.cluster.policies[pi];
            for (ri, rule) in policy.effective_rules(dir).iter().enumerate() {
                // A rule without peers matches every class.
                rule.peers.as_ref()?;
                for &r in &self.resolved.peer_refs[pi][dir_index(dir)][ri] {
                    out.extend_from_slice(self.classes_matching(r));
                }
            }
        }
        out.sort_unstable();
        out.dedup();
        Some(out)
    }

    /// Combines the evaluation tiers for one direction (semantics.md §2.2).
    fn direction(&self, dir: Direction, subject: ClassId, peer: ClassId) -> ConnSet {
        if self.classes[subject].admin_subject_of.is_empty() {
            // No admin policy judges the subject: the NetworkPolicy answer as it
            // always was.
            return self.side_classes(dir, subject, peer, |_| {}).allowed();
        }
        self.tiers(dir, subject, peer, false).allowed
    }

    /// What admin rule `rule` of admin policy `a` (direction `dir`) matches
    /// towards or from `peer`, with the subject `subject`: `None` when no peer
    /// entry matches, else the matching entry and the connections its
    /// ports/protocols select (named ports resolved on the destination).
    pub fn admin_rule_match(
        &self,
        a: usize,
        dir: Direction,
        rule: usize,
        subject: ClassId,
        peer: ClassId,
    ) -> Option<(usize, ConnSet)> {
        let policy = &self.cluster.admin_policies[a];
        let r = policy.rules(dir).get(rule)?;
        let refs = &self.resolved.admin_peer_refs[a][dir_index(dir)][rule];
        let pc = &self.classes[peer];
        let k = refs
            .iter()
            .position(|refs| refs.iter().any(|&r| pc.matches(r, &self.space)))?;
        let dst = match dir {
            Direction::Ingress => subject,
            Direction::Egress => peer,
        };
        let conns = match (
            &self.resolved.admin_rule_conns[a][dir_index(dir)][rule],
            &r.ports,
        ) {
            (Some(fixed), _) => fixed.clone(),
            (None, None) => ConnSet::all(),
            (None, Some(ports)) => {
                let sets: Vec<ConnSet> =
                    ports.iter().map(|p| self.admin_port_set(p, dst)).collect();
                ConnSet::union_all(&sets)
            }
        };
        Some((k, conns))
    }

    fn admin_port_set(&self, port: &AdminPort, dst: ClassId) -> ConnSet {
        match port {
            AdminPort::Numbers { protocol, lo, hi } => {
                ConnSet::of(*protocol, PortSet::range(*lo, *hi))
            }
            AdminPort::Named(name) => {
                let dst = &self.classes[dst];
                let sets: Vec<ConnSet> = Protocol::ALL
                    .iter()
                    .filter_map(|&protocol| {
                        let i = self
                            .resolved
                            .named_ports
                            .binary_search(&(name.clone(), protocol))
                            .ok()?;
                        let ports = dst.named_ports.get(i)?;
                        let set = ports
                            .iter()
                            .fold(PortSet::empty(), |acc, &p| acc.union(&PortSet::single(p)));
                        Some(ConnSet::of(protocol, set))
                    })
                    .collect();
                ConnSet::union_all(&sets)
            }
        }
    }

    /// One admin tier: the subject's policies of `tier` in evaluation order,
    /// each rule in written order deciding what is still `undecided`. Returns
    /// what Pass handed to the next tier.
    fn admin_tier(
        &self,
        tier: AdminTier,
        dir: Direction,
        subject: ClassId,
        peer: ClassId,
        undecided: &mut ConnSet,
        out: &mut Tiered,
    ) -> ConnSet {
        let mut passed = ConnSet::none();
        for &a in &self.classes[subject].admin_subject_of {
            let policy = &self.cluster.admin_policies[a];
            if policy.tier != tier {
                continue;
            }
            for (ri, rule) in policy.rules(dir).iter().enumerate() {
                if undecided.is_empty() {
                    return passed;
                }
                let Some((peer_index, conns)) = self.admin_rule_match(a, dir, ri, subject, peer)
                else {
                    continue;
                };
                let decided = conns.intersect(undecided);
                if decided.is_empty() {
                    continue;
                }
                *undecided = undecided.difference(&decided);
                match rule.action {
                    AdminAction::Accept => out.allowed.union_with(&decided),
                    AdminAction::Deny => {}
                    AdminAction::Pass => passed.union_with(&decided),
                }
                out.steps.push(TierStep {
                    tier,
                    policy: a,
                    rule: ri,
                    peer: peer_index,
                    action: rule.action,
                    conns: decided,
                });
            }
        }
        passed
    }

    /// The tiered decision for one direction with its provenance: Admin by
    /// priority, NetworkPolicy (per direction, or final for any selected pod
    /// with `np_selected_is_final`), Baseline, default allow. `np_exempt`: a
    /// pair exception takes the pair out of the NetworkPolicy tier (a pod
    /// reaching its own node), which then decides nothing; the admin tiers
    /// still judge it (upstream conformance: a Baseline Deny of `nodes` holds
    /// for a node's own pods).
    pub fn tiers(
        &self,
        dir: Direction,
        subject: ClassId,
        peer: ClassId,
        np_exempt: bool,
    ) -> Tiered {
        let mut out = Tiered::default();
        let sc = &self.classes[subject];
        let rep = &self.endpoints[sc.rep];
        if !rep.selectable || !rep.is_pod_like() {
            out.np = Some(SideOutcome::NotAPod);
            out.allowed = ConnSet::all();
            out.default = ConnSet::all();
            return out;
        }
        let mut undecided = ConnSet::all();
        let passed = self.admin_tier(
            AdminTier::Admin,
            dir,
            subject,
            peer,
            &mut undecided,
            &mut out,
        );
        undecided.union_with(&passed);
        out.to_network_policy = undecided.clone();
        let np = if np_exempt {
            SideOutcome::NotIsolated
        } else {
            self.side_classes(dir, subject, peer, |_| {})
        };
        match &np {
            SideOutcome::Isolated(granted) => {
                out.allowed.union_with(&undecided.intersect(granted));
                undecided = ConnSet::none();
            }
            SideOutcome::NotIsolated
                if !np_exempt && self.cluster.semantics.np_selected_is_final && sc.np_selected =>
            {
                out.allowed.union_with(&undecided);
                undecided = ConnSet::none();
            }
            _ => {}
        }
        out.np = Some(np);
        out.to_baseline = undecided.clone();
        if !undecided.is_empty() {
            let passed = self.admin_tier(
                AdminTier::Baseline,
                dir,
                subject,
                peer,
                &mut undecided,
                &mut out,
            );
            undecided.union_with(&passed);
        }
        out.allowed.union_with(&undecided);
        out.default = undecided;
        out
    }

    /// Allowed connections between two classes, ignoring pair exceptions.
    pub fn class_pair(&self, src: ClassId, dst: ClassId) -> ConnSet {
        let egress = self.direction(Direction::Egress, src, dst);
        if egress.is_empty() {
            return egress;
        }
        egress.intersect(&self.direction(Direction::Ingress, dst, src))
    }

    /// Exceptions that apply to this pair, per direction: (egress, ingress).
    pub fn exceptions(&self, src: EpId, dst: EpId) -> (Option<Exception>, Option<Exception>) {
        if src == dst {
            return (Some(Exception::SelfTraffic), Some(Exception::SelfTraffic));
        }
        let (s, d) = (&self.endpoints[src], &self.endpoints[dst]);
        let ingress = match (&s.acts_as_node, &d.node) {
            (Some(n), Some(m)) if n == m && d.is_pod_like() && d.selectable => {
                Some(Exception::FromOwnNode)
            }
            _ => None,
        };
        let egress = match (&s.node, &d.acts_as_node) {
            (Some(n), Some(m))
                if n == m
                    && s.is_pod_like()
                    && s.selectable
                    && self.cluster.semantics.egress_to_own_node =>
            {
                Some(Exception::ToOwnNode)
            }
            _ => None,
        };
        (egress, ingress)
    }

    /// Whether no pair exception can involve `ep` with another endpoint: it does
    /// not act as a node. Between two distinct such endpoints,
    /// `allowed(a, b) == class_pair(class_of[a], class_of[b])`.
    pub fn exception_free(&self, ep: EpId) -> bool {
        self.endpoints[ep].acts_as_node.is_none()
    }

    /// Allowed connections from `src` to `dst`.
    pub fn allowed(&self, src: EpId, dst: EpId) -> ConnSet {
        let (eg_exc, in_exc) = self.exceptions(src, dst);
        let (sc, dc) = (self.class_of[src], self.class_of[dst]);
        let egress = match eg_exc {
            // The exception takes the pair out of the NetworkPolicy tier only:
            // admin and baseline rules still judge a pod reaching its own node.
            Some(Exception::ToOwnNode) if !self.classes[sc].admin_subject_of.is_empty() => {
                self.tiers(Direction::Egress, sc, dc, true).allowed
            }
            Some(_) => ConnSet::all(),
            None => self.direction(Direction::Egress, sc, dc),
        };
        if egress.is_empty() {
            return egress;
        }
        let ingress = match in_exc {
            Some(_) => ConnSet::all(),
            None => self.direction(Direction::Ingress, dc, sc),
        };
        egress.intersect(&ingress)
    }

    /// Allowed connections from `src` to a Service whose backend is `dst`.
    /// As `allowed`, except that a pod reaching itself through a Service is
    /// judged by the admin tiers (network-policy-api: hairpin through a Service
    /// IP is subject to ClusterNetworkPolicy, through the pod IP it is not); the
    /// NetworkPolicy tier still exempts it (semantics.md §1.7).
    pub fn allowed_via_service(&self, src: EpId, dst: EpId) -> ConnSet {
        let c = self.class_of[src];
        if src != dst || self.classes[c].admin_subject_of.is_empty() {
            return self.allowed(src, dst);
        }
        self.tiers(Direction::Egress, c, c, true)
            .allowed
            .intersect(&self.tiers(Direction::Ingress, c, c, true).allowed)
    }

    /// Finds an endpoint: `ns/pod`, `ns/kind/name` (kubectl's kind names and
    /// short names), `node:NAME`, an external group id, or an IP address (a
    /// pod's or node's IP, else its external group).
    pub fn find(&self, query: &str) -> Result<EpId, String> {
        if let Some(&i) = self.by_id.get(query) {
            return Ok(i);
        }
        if let Some(name) = query.strip_prefix("dns:") {
            return self.domain_endpoint(name);
        }
        let parsed = EndpointQuery::parse(query, None)?;
        if let EndpointQuery::Ip(ip) = parsed {
            return Ok(self.endpoint_for_ip(ip));
        }
        if let Some(&i) = self.by_id.get(&parsed.id()) {
            return Ok(i);
        }
        // `ns/deployment/name` for a workload whose pods are in the input: pick
        // its first pod.
        if let EndpointQuery::Workload {
            namespace,
            kind,
            name,
        } = &parsed
        {
            let first = self.endpoints.iter().position(|e| {
                e.model_index.is_some_and(|i| {
                    let m = &self.cluster.endpoints[i];
                    m.namespace == *namespace
                        && e.is_pod_like()
                        && m.workload
                            .as_ref()
                            .is_some_and(|w| w.kind.eq_ignore_ascii_case(kind) && w.name == *name)
                })
            });
            if let Some(i) = first {
                return Ok(i);
            }
        }
        if let Some(i) = self.workload_named(&parsed) {
            return Ok(i);
        }
        if let Some(i) = self.assumed_dns_named(&parsed) {
            return Ok(i);
        }
        let ids = self
            .endpoints
            .iter()
            .filter(|e| e.kind != EndpointKind::External)
            .map(|e| e.id.as_str());
        let close = crate::query::nearest(query, ids, 3);
        let mut msg = format!("no endpoint `{query}` in the input");
        if !close.is_empty() {
            msg.push_str(&format!("; did you mean {}?", close.join(", ")));
        } else {
            msg.push_str("; write NAMESPACE/POD, NAMESPACE/KIND/NAME, node:NAME or an IP address");
        }
        Err(msg)
    }

    /// The domain endpoint a name connects to: the pattern written exactly,
    /// else the most specific `*.` pattern covering it, else `dns:*` (a name no
    /// domainNames peer covers).
    fn domain_endpoint(&self, name: &str) -> Result<EpId, String> {
        let key = crate::universe::domain_key(name);
        let domains = || {
            self.endpoints
                .iter()
                .enumerate()
                .filter_map(|(i, e)| e.domain.as_deref().map(|d| (i, d)))
        };
        if let Some((i, _)) = domains().find(|(_, d)| *d == key) {
            return Ok(i);
        }
        let covering = domains()
            .filter(|(_, d)| *d != "*" && crate::universe::domain_covers(d, &key))
            .max_by_key(|(_, d)| d.len());
        match covering.or_else(|| domains().find(|(_, d)| *d == "*")) {
            Some((i, _)) => Ok(i),
            None => Err(format!(
                "no domain endpoint for `{name}`: the input has no domainNames peers"
            )),
        }
    }

    /// `ns/NAME` naming a workload rather than a pod (`describe pod frontend -n
    /// app` for a Deployment): its first endpoint, when exactly one workload in
    /// `ns` has that name.
    fn workload_named(&self, q: &EndpointQuery) -> Option<EpId> {
        let EndpointQuery::Pod { namespace, name } = q else {
            return None;
        };
        let mut kinds = Vec::new();
        let mut first = None;
        for (i, e) in self.endpoints.iter().enumerate() {
            let Some(w) = e
                .model_index
                .filter(|_| e.is_pod_like())
                .and_then(|m| self.cluster.endpoints[m].workload.as_ref())
            else {
                continue;
            };
            if e.namespace.as_deref() == Some(namespace) && w.name == *name {
                if !kinds.contains(&w.kind) {
                    kinds.push(w.kind.clone());
                }
                first.get_or_insert(i);
            }
        }
        first.filter(|_| kinds.len() == 1)
    }

    /// Cluster DNS by the names people know it by (`kube-system/deployment/coredns`,
    /// `kube-system/kube-dns`, `kube-system/svc/kube-dns`) when the input has no
    /// DNS pods and the engine assumes them.
    fn assumed_dns_named(&self, q: &EndpointQuery) -> Option<EpId> {
        const NAMES: &[&str] = &["coredns", "kube-dns", "cluster-dns", "dns"];
        let (namespace, name) = match q {
            EndpointQuery::Pod { namespace, name }
            | EndpointQuery::Workload {
                namespace, name, ..
            }
            | EndpointQuery::Service {
                namespace, name, ..
            } => (namespace, name),
            _ => return None,
        };
        if !NAMES.contains(&name.as_str()) {
            return None;
        }
        self.endpoints.iter().position(|e| {
            e.kind == EndpointKind::SyntheticDns && e.namespace.as_deref() == Some(namespace)
        })
    }

    /// The endpoint that owns `ip`: a pod, a node, or the external group.
    pub fn endpoint_for_ip(&self, ip: IpAddr) -> EpId {
        if let Some(i) = self.endpoints.iter().position(|e| {
            e.kind != EndpointKind::External
                && e.ips.contains(&ip)
                && e.kind != EndpointKind::Node
                && e.acts_as_node.is_none()
        }) {
            return i;
        }
        if let Some(i) = self
            .endpoints
            .iter()
            .position(|e| e.kind == EndpointKind::Node && e.ips.contains(&ip))
        {
            return i;
        }
        if let Some(i) = self
            .endpoints
            .iter()
            .position(|e| e.acts_as_node.is_some() && e.ips.contains(&ip))
        {
            return i;
        }
        let g = self.space.group_of(ip);
        self.endpoints
            .iter()
            .position(|e| e.kind == EndpointKind::External && e.addr_group == Some(g))
            .unwrap_or(0)
    }

    /// Policies selecting `ep` that isolate it in `dir`.
    pub fn isolating(&self, ep: EpId, dir: Direction) -> &[usize] {
        &self.classes[self.class_of[ep]].isolating[dir_index(dir)]
    }

    /// Endpoints a policy selects as subjects.
    pub fn selected_by(&self, policy: usize) -> Vec<EpId> {
        self.pods.selected_by(self.cluster, policy)
    }

    /// Endpoints matched by peer `peer` of rule `rule` (direction `dir`) of `policy`.
    pub fn peer_members(
        &self,
        policy: usize,
        dir: Direction,
        rule: usize,
        peer: usize,
    ) -> Vec<EpId> {
        let Some(&r) = self
            .resolved
            .peer_refs
            .get(policy)
            .and_then(|d| d[dir_index(dir)].get(rule))
            .and_then(|refs| refs.get(peer))
        else {
            return Vec::new();
        };
        // Members of the matching classes, in endpoint order.
        let mut out: Vec<EpId> = self
            .classes_matching(r)
            .iter()
            .flat_map(|&c| self.classes[c].members.iter().copied())
            .collect();
        out.sort_unstable();
        out
    }

    /// Endpoints matched by peer `peer` of rule `rule` (direction `dir`) of
    /// admin policy `admin`, ascending.
    pub fn admin_peer_members(
        &self,
        admin: usize,
        dir: Direction,
        rule: usize,
        peer: usize,
    ) -> Vec<EpId> {
        let Some(refs) = self
            .resolved
            .admin_peer_refs
            .get(admin)
            .and_then(|d| d[dir_index(dir)].get(rule))
            .and_then(|refs| refs.get(peer))
        else {
            return Vec::new();
        };
        let mut out: Vec<EpId> = refs
            .iter()
            .flat_map(|&r| self.classes_matching(r))
            .flat_map(|&c| self.classes[c].members.iter().copied())
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Admin policies (both tiers) judging `ep`, in evaluation order (indices
    /// into `Cluster::admin_policies`).
    pub fn admin_policies_of(&self, ep: EpId) -> &[usize] {
        &self.classes[self.class_of[ep]].admin_subject_of
    }

    /// Endpoints a pod peer that is not in the input would match, as if a policy
    /// in `policy_namespace` wrote it: for tools that weigh an alternative reading
    /// of a peer (lint's "AND or OR?", a suggested namespaceSelector).
    pub fn pods_matching(
        &self,
        policy_namespace: &str,
        namespace_selector: Option<&Selector>,
        pod_selector: Option<&Selector>,
    ) -> Vec<EpId> {
        let key = PodPeerKey {
            ns: match namespace_selector {
                Some(s) => NsScope::Selector(s.clone()),
                None => NsScope::Own(policy_namespace.to_string()),
            },
            pods: pod_selector.cloned(),
        };
        self.pods.peer_members(&key)
    }

    /// Namespaces of the input whose labels a namespaceSelector matches.
    pub fn namespaces_matching(&self, selector: &Selector) -> Vec<&'c str> {
        self.cluster
            .namespaces
            .iter()
            .filter(|n| selector.matches(&n.labels))
            .map(|n| n.name.as_str())
            .collect()
    }

    /// Whether a peer reference matches an endpoint (for explanations).
    pub fn peer_ref_matches(&self, r: PeerRef, ep: EpId) -> bool {
        self.classes[self.class_of[ep]].matches(r, &self.space)
    }

    /// The ports a rule opens towards endpoint `dst` (named ports resolved there).
    pub fn rule_ports_for(&self, ports: Option<&[PortSpec]>, dst: EpId) -> ConnSet {
        self.rule_ports(ports, self.class_of[dst])
    }

    /// Convenience for tests and `check --port`: is one connection allowed?
    pub fn allows(&self, src: EpId, dst: EpId, protocol: Protocol, port: u16) -> bool {
        self.allowed(src, dst).allows(protocol, port)
    }

    /// Pod-like endpoints (the ones with policies and labels).
    pub fn pods(&self) -> impl Iterator<Item = EpId> + '_ {
        (0..self.endpoints.len()).filter(|&e| self.endpoints[e].is_pod_like())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use netfence_model::{LoadOptions, Selector, load_texts};

    use super::Engine;

    const INPUT: &str = "
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {team: a}}
---
apiVersion: v1
kind: Namespace
metadata: {name: blog}
---
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: shop, labels: {app: web}}
spec: {containers: [{name: c, image: i}]}
---
apiVersion: v1
kind: Pod
metadata: {name: b, namespace: blog, labels: {app: web}}
spec: {containers: [{name: c, image: i}]}
";

    fn ids(engine: &Engine, eps: Vec<usize>) -> Vec<String> {
        eps.into_iter()
            .map(|e| engine.endpoint(e).id.clone())
            .filter(|id| !id.contains("synthetic"))
            .collect()
    }

    #[test]
    fn pods_matching_reads_a_peer_that_is_not_written() {
        let (_, loaded) = load_texts(&[("in.yaml", INPUT)], &LoadOptions::default());
        let loaded = loaded.unwrap(); // ok: test
        let engine = Engine::new(&loaded.cluster);
        let web = Selector::parse_kubectl("app=web").unwrap(); // ok: test
        let team_a = Selector::parse_kubectl("team=a").unwrap(); // ok: test
        assert_eq!(
            ids(&engine, engine.pods_matching("blog", None, Some(&web))),
            ["blog/b"]
        );
        assert_eq!(
            ids(
                &engine,
                engine.pods_matching("blog", Some(&team_a), Some(&web))
            ),
            ["shop/a"]
        );
        assert_eq!(
            ids(
                &engine,
                engine.pods_matching("blog", Some(&Selector::everything()), Some(&web))
            ),
            ["blog/b", "shop/a"]
        );
        assert_eq!(engine.namespaces_matching(&team_a), ["shop"]);
        assert!(
            engine
                .namespaces_matching(&Selector::parse_kubectl("team=b").unwrap()) // ok: test
                .is_empty()
        );
    }
}
