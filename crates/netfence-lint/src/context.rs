//! What rules see: the engine over the whole input, the sources (for locations),
//! and analyses several rules share, computed once on first use.

use std::cell::OnceCell;

use netfence_engine::classes::{ClassId, dir_index};
use netfence_engine::{AdminRuleUse, DnsProblem};
use netfence_engine::{ConnSet, Contribution, EndpointKind, Engine, EpId, SideOutcome};
use netfence_model::{
    Cluster, Direction, EndpointSource, FieldLoc, LoadOptions, PeerKind, Sources,
};
use netfence_yaml::Value;

use crate::analysis::{FlowAnalyses, analyse_flows};
use crate::finding::ObjectRef;

pub struct LintContext<'a> {
    pub engine: &'a Engine<'a>,
    pub sources: &'a Sources,
    /// How the input was loaded, so a proposed fix can be verified by reloading.
    pub load_options: &'a LoadOptions,
    flows: OnceCell<FlowAnalyses>,
    dns: OnceCell<Vec<DnsProblem>>,
    admin_uses: OnceCell<Vec<AdminRuleUse>>,
    /// Namespaces with real pods (rules ask per policy and per peer).
    pod_namespaces: OnceCell<std::collections::HashSet<String>>,
}

/// A rule that takes effect, with where it is.
#[derive(Clone, Copy, Debug)]
pub struct RuleAt<'c> {
    pub policy: usize,
    pub dir: Direction,
    pub index: usize,
    pub rule: &'c netfence_model::Rule,
}

/// One isolated direction of one class pair: what the subject's policies allow
/// towards (egress) or from (ingress) the peer, and which rules granted it.
#[derive(Debug)]
pub struct Side {
    pub dir: Direction,
    pub subject: ClassId,
    pub peer: ClassId,
    pub allowed: ConnSet,
    pub grants: Vec<Contribution>,
}

impl<'a> LintContext<'a> {
    pub fn new(
        engine: &'a Engine<'a>,
        sources: &'a Sources,
        load_options: &'a LoadOptions,
    ) -> LintContext<'a> {
        LintContext {
            engine,
            sources,
            load_options,
            flows: OnceCell::new(),
            dns: OnceCell::new(),
            admin_uses: OnceCell::new(),
            pod_namespaces: OnceCell::new(),
        }
    }

    pub fn cluster(&self) -> &'a Cluster {
        self.engine.cluster
    }

    /// Every rule that takes effect (rules of a direction missing from
    /// policyTypes are inert; NF009 reports them), in input order.
    pub fn rules(&self) -> Vec<RuleAt<'a>> {
        let mut out = Vec::new();
        for (p, policy) in self.cluster().policies.iter().enumerate() {
            for dir in Direction::BOTH {
                for (index, rule) in policy.effective_rules(dir).iter().enumerate() {
                    out.push(RuleAt {
                        policy: p,
                        dir,
                        index,
                        rule,
                    });
                }
            }
        }
        out
    }

    /// `ns/name spec.ingress[0]`, how messages name a rule.
    pub fn rule_name(&self, p: usize, dir: Direction, r: usize) -> String {
        format!(
            "{} spec.{}[{r}]",
            self.cluster().policies[p].id(),
            dir.as_str()
        )
    }

    /// What each admin rule does in the tiers (the engine's
    /// `admin_rule_uses`), computed on first use.
    pub fn admin_uses(&self) -> &[AdminRuleUse] {
        self.admin_uses
            .get_or_init(|| self.engine.admin_rule_uses())
    }

    pub fn admin_ref(&self, a: usize) -> ObjectRef {
        let policy = &self.cluster().admin_policies[a];
        ObjectRef {
            kind: policy.kind.clone(),
            namespace: None,
            name: policy.name.clone(),
            origin: Some(policy.origin.clone()),
        }
    }

    /// `ClusterNetworkPolicy/x spec.egress[1] "name" (Admin tier, priority 10)`,
    /// how messages name an admin rule.
    pub fn admin_rule_name(&self, a: usize, dir: Direction, r: usize) -> String {
        let policy = &self.cluster().admin_policies[a];
        let name = policy
            .rules(dir)
            .get(r)
            .and_then(|rule| rule.name.as_ref())
            .map(|n| format!(" \"{n}\""))
            .unwrap_or_default();
        format!(
            "{} spec.{}[{r}]{name} ({})",
            policy.id(),
            dir.as_str(),
            self.admin_rank(a)
        )
    }

    /// `Admin tier, priority 10`.
    pub fn admin_rank(&self, a: usize) -> String {
        let policy = &self.cluster().admin_policies[a];
        match policy.priority {
            Some(p) => format!("{} tier, priority {p}", policy.tier.as_str()),
            None => format!("{} tier", policy.tier.as_str()),
        }
    }

    /// The `action` of an admin rule (the rule itself if it has none written).
    pub fn admin_action_loc(&self, a: usize, dir: Direction, r: usize) -> FieldLoc {
        let rule = &self.cluster().admin_policies[a].rules(dir)[r];
        self.first_written(&rule.loc, &["action"])
    }

    /// The distinct stable label sets of some pods, `{app: api}, {app: web}`, for
    /// help texts that say what could be selected.
    pub fn label_sets(&self, eps: &[EpId]) -> String {
        let mut sets: Vec<String> = eps
            .iter()
            .filter_map(|&e| self.engine.endpoint(e).model_index)
            .map(|i| {
                let labels = netfence_model::stable_labels(&self.cluster().endpoints[i].labels);
                let parts: Vec<String> = labels.iter().map(|(k, v)| format!("{k}: {v}")).collect();
                format!("{{{}}}", parts.join(", "))
            })
            .collect();
        sets.sort();
        sets.dedup();
        netfence_text::short_list(&sets)
    }

    pub fn policy_ref(&self, p: usize) -> ObjectRef {
        let policy = &self.cluster().policies[p];
        ObjectRef {
            kind: "NetworkPolicy".into(),
            namespace: Some(policy.namespace.clone()),
            name: policy.name.clone(),
            origin: Some(policy.origin.clone()),
        }
    }

    /// The policy object itself; `.key("spec")...` reaches any field.
    pub fn policy_root(&self, p: usize) -> FieldLoc {
        FieldLoc {
            origin: self.cluster().policies[p].origin.clone(),
            path: Vec::new(),
        }
    }

    pub fn namespace_ref(&self, ns: &str) -> ObjectRef {
        ObjectRef {
            kind: "Namespace".into(),
            namespace: None,
            name: ns.to_string(),
            origin: self.cluster().namespace(ns).and_then(|n| n.origin.clone()),
        }
    }

    /// The manifest a pod-like endpoint came from (a Pod, or its workload).
    pub fn endpoint_ref(&self, ep: EpId) -> Option<ObjectRef> {
        let m = &self.cluster().endpoints[self.engine.endpoint(ep).model_index?];
        let (kind, name) = match (&m.source, &m.workload) {
            (EndpointSource::Workload { .. }, Some(w)) => (w.kind.clone(), &w.name),
            _ => ("Pod".to_string(), &m.name),
        };
        Some(ObjectRef {
            kind,
            namespace: Some(m.namespace.clone()),
            name: name.clone(),
            origin: m.origin.clone(),
        })
    }

    /// A pod or workload of the input (not the cluster DNS netfence assumes when
    /// the input has none, not a node or an address).
    pub fn is_real_pod(&self, ep: EpId) -> bool {
        let e = self.engine.endpoint(ep);
        e.is_pod_like() && e.kind != EndpointKind::SyntheticDns
    }

    pub fn real_pods(&self) -> impl Iterator<Item = EpId> + '_ {
        self.engine.pods().filter(|&e| self.is_real_pod(e))
    }

    /// Rules about what policies select need pods to reason about: linting a
    /// directory of policies alone cannot know what they select.
    pub fn has_pods(&self) -> bool {
        self.real_pods().next().is_some()
    }

    pub fn namespace_has_pods(&self, ns: &str) -> bool {
        self.pod_namespaces
            .get_or_init(|| {
                self.real_pods()
                    .filter_map(|e| self.engine.endpoint(e).namespace.clone())
                    .collect()
            })
            .contains(ns)
    }

    pub fn ids(&self, eps: &[EpId]) -> Vec<String> {
        eps.iter()
            .map(|&e| self.engine.endpoint(e).id.clone())
            .collect()
    }

    /// Pod-like endpoints a policy selects as subjects.
    pub fn selected_pods(&self, p: usize) -> Vec<EpId> {
        self.engine
            .selected_by(p)
            .into_iter()
            .filter(|&e| self.engine.endpoint(e).is_pod_like())
            .collect()
    }

    /// The pods whose ports a rule's `ports` are about: the selected pods for
    /// ingress, the pods the rule's peers match for egress (every pod when the
    /// rule has no `to`).
    pub fn rule_destinations(&self, p: usize, dir: Direction, r: usize) -> Vec<EpId> {
        match dir {
            Direction::Ingress => self.selected_pods(p),
            Direction::Egress => {
                let rule = &self.cluster().policies[p].egress[r];
                let mut out: Vec<EpId> = match &rule.peers {
                    None => self.engine.pods().collect(),
                    Some(peers) => (0..peers.len())
                        .flat_map(|k| self.engine.peer_members(p, dir, r, k))
                        .filter(|&e| self.engine.endpoint(e).is_pod_like())
                        .collect(),
                };
                out.sort_unstable();
                out.dedup();
                out
            }
        }
    }

    /// A default-deny (`podSelector: {}` isolating `dir`, see
    /// `Cluster::default_deny_policies`) that has no rules for `dir`.
    pub fn is_default_deny(&self, p: usize, dir: Direction) -> bool {
        let policy = &self.cluster().policies[p];
        policy.effective_rules(dir).is_empty() && policy.makes_default_deny(dir)
    }

    /// Where a policy says it isolates `dir`: its `policyTypes` entry when
    /// written, else the rules list that made the apiserver default it, else
    /// `spec`. The flag tells whether to point at the key.
    pub fn policy_type_loc(&self, p: usize, dir: Direction) -> (FieldLoc, bool) {
        let spec = self.policy_root(p).key("spec");
        let types = spec.key("policyTypes");
        if let Some(node) = self.sources.node(&types)
            && let Value::Seq(items) = &node.value
        {
            if let Some(i) = items
                .iter()
                .position(|n| n.as_str() == Some(dir.policy_type()))
            {
                return (types.index(i), false);
            }
            return (types, true);
        }
        let rules = spec.key(dir.as_str());
        if self.sources.node(&rules).is_some() {
            return (rules, true);
        }
        (spec, true)
    }

    /// The field of a selector that tests label `key`: its `matchLabels` entry or
    /// the `key` of its `matchExpressions` item.
    pub fn selector_key_loc(&self, selector: &FieldLoc, key: &str) -> FieldLoc {
        let labels = selector.key("matchLabels").key(key);
        if self.sources.node(&labels).is_some() {
            return labels;
        }
        let exprs = selector.key("matchExpressions");
        if let Some(node) = self.sources.node(&exprs)
            && let Value::Seq(items) = &node.value
            && let Some(i) = items
                .iter()
                .position(|n| n.get("key").and_then(|k| k.as_str()) == Some(key))
        {
            return exprs.index(i).key("key");
        }
        selector.clone()
    }

    /// The first key of a peer entry (`podSelector`, `namespaceSelector` or
    /// `ipBlock`): one line to underline instead of the whole entry.
    pub fn peer_key_loc(&self, peer: &netfence_model::Peer) -> FieldLoc {
        let key = match &peer.kind {
            PeerKind::IpBlock { .. } => "ipBlock",
            PeerKind::Pods {
                pod_selector: Some(_),
                namespace_selector: None,
            } => "podSelector",
            PeerKind::Pods { .. } => "namespaceSelector",
        };
        self.first_written(&peer.loc, &[key, "podSelector"])
    }

    /// The first key of a rule (`from`/`to` or `ports`); the rule itself when it
    /// is `{}`.
    pub fn rule_key_loc(&self, rule: &netfence_model::Rule, dir: Direction) -> FieldLoc {
        self.first_written(&rule.loc, &[dir.peer_field(), "ports"])
    }

    fn first_written(&self, loc: &FieldLoc, keys: &[&str]) -> FieldLoc {
        keys.iter()
            .map(|k| loc.key(k))
            .find(|l| self.written(l))
            .unwrap_or_else(|| loc.clone())
    }

    /// Whether a field was written in the input (rather than defaulted).
    pub fn written(&self, loc: &FieldLoc) -> bool {
        self.sources.node(loc).is_some()
    }

    /// The flow analyses (redundancy, one-sided grants), computed on first use.
    pub fn flows(&self) -> &FlowAnalyses {
        self.flows.get_or_init(|| analyse_flows(self))
    }

    /// What `subject`'s policies allow in `dir` towards (egress) or from
    /// (ingress) `peer`; `None` when the subject is not isolated in `dir` or is
    /// not a pod (everything passes there).
    pub fn side_allowed(&self, dir: Direction, subject: ClassId, peer: ClassId) -> Option<ConnSet> {
        match self.engine.side_classes(dir, subject, peer, |_| {}) {
            SideOutcome::Isolated(allowed) => Some(allowed),
            SideOutcome::NotIsolated | SideOutcome::NotAPod => None,
        }
    }

    /// When the isolated `subject` is allowed everything in `dir` towards (from)
    /// every class: the grants that allow it. `None` as soon as one peer is not
    /// allowed everything (or the subject is not isolated).
    pub fn open_to_every_peer(
        &self,
        dir: Direction,
        subject: ClassId,
    ) -> Option<Vec<Contribution>> {
        let mut grants = Vec::new();
        for peer in 0..self.engine.classes.len() {
            let mut found = Vec::new();
            match self
                .engine
                .side_classes(dir, subject, peer, |c| found.push(c))
            {
                SideOutcome::Isolated(allowed) if allowed.is_all() => grants.extend(found),
                _ => return None,
            }
        }
        Some(grants)
    }

    /// Egress-isolated pods that cannot reach cluster DNS on UDP or TCP 53 (the
    /// same analysis `netfence report` shows).
    pub fn dns_problems(&self) -> &[DnsProblem] {
        self.dns.get_or_init(|| self.engine.dns_problems())
    }

    /// The cluster DNS endpoints, the input's own before the assumed one.
    pub fn dns_endpoints(&self) -> Vec<EpId> {
        let mut eps = self.engine.cluster_dns_endpoints();
        eps.sort_by_key(|&e| !self.is_real_pod(e));
        eps
    }

    /// Whether a granted contribution names its peer pods specifically (a
    /// non-empty podSelector): such a grant is an intent that one flow works,
    /// while a whole namespace, an ipBlock or a rule without peers is a range
    /// of permission.
    pub fn grant_names_pods(&self, dir: Direction, grant: &Contribution) -> bool {
        let policy = &self.cluster().policies[grant.policy];
        let Some(k) = grant.peer else {
            return false;
        };
        let peer = policy.rules(dir)[grant.rule]
            .peers
            .as_ref()
            .and_then(|peers| peers.get(k));
        matches!(
            peer.map(|p| &p.kind),
            Some(PeerKind::Pods { pod_selector: Some(s), .. }) if !s.is_empty()
        )
    }
}

impl LintContext<'_> {
    /// Every isolated side of a class pair where some rule grants something (the
    /// others allow nothing and have no provenance), in (direction, subject,
    /// peer) order. A rule grants only where its policy isolates the subject and
    /// one of its peers (any class, without peers) matches, so only those class
    /// pairs are decided, rather than every pair.
    pub fn for_each_flow(&self, mut f: impl FnMut(&Side)) {
        let engine = self.engine;
        let all: Vec<ClassId> = (0..engine.classes.len()).collect();
        for dir in Direction::BOTH {
            let mut isolated_by: Vec<Vec<ClassId>> =
                vec![Vec::new(); engine.cluster.policies.len()];
            for (c, class) in engine.classes.iter().enumerate() {
                let rep = engine.endpoint(class.rep);
                if !rep.is_pod_like() || !rep.selectable {
                    continue;
                }
                for &p in &class.isolating[dir_index(dir)] {
                    isolated_by[p].push(c);
                }
            }
            let mut pairs: Vec<(ClassId, ClassId)> = Vec::new();
            for (p, policy) in engine.cluster.policies.iter().enumerate() {
                if isolated_by[p].is_empty() {
                    continue;
                }
                for (r, rule) in policy.effective_rules(dir).iter().enumerate() {
                    let peers: Vec<ClassId> = match &rule.peers {
                        None => all.clone(),
                        Some(_) => {
                            let mut peers: Vec<ClassId> = engine.resolved.peer_refs[p]
                                [dir_index(dir)][r]
                                .iter()
                                .flat_map(|&peer| engine.classes_matching(peer).iter().copied())
                                .collect();
                            peers.sort_unstable();
                            peers.dedup();
                            peers
                        }
                    };
                    for &subject in &isolated_by[p] {
                        pairs.extend(peers.iter().map(|&peer| (subject, peer)));
                    }
                }
            }
            pairs.sort_unstable();
            pairs.dedup();
            for (subject, peer) in pairs {
                let mut grants = Vec::new();
                let outcome = engine.side_classes(dir, subject, peer, |c| grants.push(c));
                if let SideOutcome::Isolated(allowed) = outcome
                    && !grants.is_empty()
                {
                    f(&Side {
                        dir,
                        subject,
                        peer,
                        allowed,
                        grants,
                    });
                }
            }
        }
    }
}
