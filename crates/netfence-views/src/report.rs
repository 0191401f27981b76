//! `netfence report`: the page a reviewer reads instead of the YAML. Namespace
//! posture, pods left open, who can reach what (grouped by workload), DNS health
//! and the input's warnings.

use netfence_text::count;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;

use netfence_engine::{
    AdminRulePosture, ConnSet, DnsProblem, EndpointKind, Engine, EpId, NamespacePosture,
};
use netfence_model::{
    AdminAction, AdminPeerKind, AdminPort, AdminRule, AdminTier, Cluster, Diagnostic, Direction,
    Severity, Sources,
};
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct Summary {
    pub namespaces: usize,
    pub pods: usize,
    pub policies: usize,
    pub nodes: usize,
    pub not_analyzed: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct Source {
    pub from: String,
    /// Whether `from` is an external address range rather than a workload, so a
    /// reader (the HTML report) need not guess from the id's shape.
    pub external: bool,
    pub allowed: ConnSet,
    /// The policies whose rules grant these connections: the destination's
    /// ingress rules and, when the source is egress-isolated, its egress rules
    /// (`ns/name`, sorted).
    pub policies: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct Reachability {
    /// Workload (`ns/kind/name`) or pod.
    pub destination: String,
    pub ingress_isolated: bool,
    /// Admin policies judge the destination (semantics.md §2): its sources are
    /// listed even when no NetworkPolicy isolates it.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub admin_judged: bool,
    /// Whether the destination is cluster DNS (`--cluster-dns`).
    pub cluster_dns: bool,
    /// For isolated or admin-judged destinations: every source group and what
    /// it may open.
    pub sources: Vec<Source>,
}

/// One admin rule's cluster-wide effect: the engine's fact and its sentence.
#[derive(Debug, Serialize)]
pub struct ClusterPosture {
    #[serde(flatten)]
    pub fact: AdminRulePosture,
    /// `Baseline ClusterNetworkPolicy/default-deny (priority 100) "deny-from-all-pods"
    /// denies ingress from pods of every namespace for 4 of 5 namespaces (all
    /// but kube-system); 2 re-open via NetworkPolicy: backend, frontend`.
    pub text: String,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub summary: Summary,
    /// The admin policies' cluster-wide posture, one entry per rule in
    /// evaluation order (absent without admin policies).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cluster: Vec<ClusterPosture>,
    pub namespaces: Vec<NamespacePosture>,
    pub reachability: Vec<Reachability>,
    pub dns: Vec<DnsProblem>,
    pub warnings: Vec<String>,
}

impl Report {
    /// Keeps what concerns `namespace` (`-n`): its posture, the reachability of
    /// its pods and their DNS problems. The summary still counts the whole input.
    pub fn retain_namespace(&mut self, namespace: &str) {
        let prefix = format!("{namespace}/");
        self.namespaces.retain(|p| p.namespace == namespace);
        self.reachability
            .retain(|p| p.destination.starts_with(&prefix));
        self.dns.retain(|p| p.pod.starts_with(&prefix));
        self.cluster
            .retain(|c| c.fact.namespaces.iter().any(|n| n == namespace));
    }
}

/// The sentence of one admin rule's posture.
fn posture_text(cluster: &Cluster, fact: &AdminRulePosture) -> String {
    let policy = &cluster.admin_policies[fact.policy_index];
    let rule = &policy.rules(fact.direction)[fact.rule];
    let priority = fact
        .priority
        .map(|p| format!(" (priority {p})"))
        .unwrap_or_default();
    let name = fact
        .rule_name
        .as_ref()
        .map(|n| format!(" \"{n}\""))
        .unwrap_or_default();
    let verb = match fact.action {
        AdminAction::Accept => "accepts",
        AdminAction::Deny => "denies",
        AdminAction::Pass => "passes",
    };
    let (dir, prep) = match fact.direction {
        Direction::Ingress => ("ingress", "from"),
        Direction::Egress => ("egress", "to"),
    };
    let mut text = format!(
        "{} {}{priority}{name} {verb} {dir} {prep} {}{} for {}",
        fact.tier.as_str(),
        fact.policy,
        peers_text(rule),
        ports_text(rule),
        namespaces_text(cluster, fact)
    );
    let decides = &fact.network_policy_decides_in;
    let n = count(decides.len(), "namespace");
    let list = netfence_text::short_list(decides);
    let tail = match (fact.tier, fact.action) {
        (AdminTier::Admin, AdminAction::Accept) => {
            "; final: no NetworkPolicy can narrow it".to_string()
        }
        (AdminTier::Admin, AdminAction::Deny) => {
            "; final: no NetworkPolicy can re-open it".to_string()
        }
        _ if fact.namespaces.is_empty() => String::new(),
        (AdminTier::Admin, AdminAction::Pass) if decides.is_empty() => {
            "; no NetworkPolicy decides it there: it goes on to Baseline and the default (allow)"
                .to_string()
        }
        (AdminTier::Admin, AdminAction::Pass) => {
            format!(
                "; {n} {} it by NetworkPolicy: {list}; elsewhere it goes on to Baseline and the default (allow)",
                netfence_text::agree(decides.len(), "decides", "decide")
            )
        }
        (AdminTier::Baseline, AdminAction::Deny) if decides.is_empty() => {
            "; no namespace re-opens it via NetworkPolicy".to_string()
        }
        (AdminTier::Baseline, AdminAction::Deny) => {
            format!(
                "; {n} {} via NetworkPolicy: {list}",
                netfence_text::agree(decides.len(), "re-opens", "re-open")
            )
        }
        (AdminTier::Baseline, _) if decides.is_empty() => String::new(),
        (AdminTier::Baseline, _) => {
            format!(
                "; {n} {} by NetworkPolicy first: {list}",
                netfence_text::agree(decides.len(), "decides", "decide")
            )
        }
    };
    text.push_str(&tail);
    if fact.direction == Direction::Ingress && fact.action == AdminAction::Deny {
        // Admin ingress peers can only name pods (semantics.md §2.4).
        text.push_str("; traffic from outside the cluster and from nodes is not matched (admin ingress rules name only pods)");
    }
    text
}

/// `pods of every namespace`, `pods {app=web} in namespaces {team=a}`,
/// `addresses in 0.0.0.0/0, ::/0` (entries joined with "or").
fn peers_text(rule: &AdminRule) -> String {
    let parts: Vec<String> = rule
        .peers
        .iter()
        .map(|p| match &p.kind {
            AdminPeerKind::Namespaces(s) if s.is_empty() => "pods of every namespace".to_string(),
            AdminPeerKind::Namespaces(s) => format!("pods of namespaces {}", s.to_kubectl()),
            AdminPeerKind::Pods {
                namespace_selector,
                pod_selector,
            } => {
                let ns = if namespace_selector.is_empty() {
                    "every namespace".to_string()
                } else {
                    format!("namespaces {}", namespace_selector.to_kubectl())
                };
                format!("pods {} in {ns}", pod_selector.to_kubectl())
            }
            AdminPeerKind::Networks(n) => {
                let n: Vec<String> = n.iter().map(|n| n.to_string()).collect();
                format!("addresses in {} (pod IPs included)", n.join(", "))
            }
            AdminPeerKind::Nodes(s) if s.is_empty() => "every node".to_string(),
            AdminPeerKind::Nodes(s) => format!("nodes {}", s.to_kubectl()),
            AdminPeerKind::DomainNames(d) => format!("names {}", d.join(", ")),
        })
        .collect();
    parts.join(" or ")
}

/// ` on UDP 53, TCP 53`; empty when the rule covers every port.
fn ports_text(rule: &AdminRule) -> String {
    let Some(ports) = &rule.ports else {
        return String::new();
    };
    let parts: Vec<String> = ports
        .iter()
        .map(|p| match p {
            AdminPort::Numbers { protocol, lo, hi } if lo == hi => {
                format!("{} {lo}", protocol.as_str())
            }
            AdminPort::Numbers { protocol, lo, hi } => format!("{} {lo}-{hi}", protocol.as_str()),
            AdminPort::Named(name) => format!("port {name}"),
        })
        .collect();
    format!(" on {}", parts.join(", "))
}

/// `all 5 namespaces`, `4 of 5 namespaces (all but kube-system)`, `2 of 40
/// namespaces: a, b`.
fn namespaces_text(cluster: &Cluster, fact: &AdminRulePosture) -> String {
    let (n, of) = (fact.namespaces.len(), fact.of_namespaces);
    if n == 0 {
        return "no namespace of the input".to_string();
    }
    if n >= of {
        return format!("all {}", count(n, "namespace"));
    }
    let missing: Vec<String> = cluster
        .namespaces
        .iter()
        .filter(|ns| !fact.namespaces.contains(&ns.name))
        .map(|ns| ns.name.clone())
        .collect();
    if missing.len() <= 3 {
        format!("{n} of {of} namespaces (all but {})", missing.join(", "))
    } else {
        format!(
            "{n} of {of} namespaces: {}",
            netfence_text::short_list(&fact.namespaces)
        )
    }
}

pub fn report(engine: &Engine, sources: &Sources, diagnostics: &[Diagnostic]) -> Report {
    let cluster = engine.cluster;
    let pods: Vec<EpId> = engine.pods().collect();
    let summary = Summary {
        namespaces: cluster.namespaces.len(),
        pods: pods
            .iter()
            .filter(|&&p| engine.endpoint(p).kind != EndpointKind::SyntheticDns)
            .count(),
        policies: cluster.policies.len(),
        nodes: cluster.nodes.len(),
        not_analyzed: cluster
            .unanalyzed
            .iter()
            .map(|u| {
                format!(
                    "{} {}{}",
                    u.kind,
                    u.namespace
                        .as_ref()
                        .map(|n| format!("{n}/"))
                        .unwrap_or_default(),
                    u.name
                )
            })
            .collect(),
    };
    let namespaces = engine.namespace_postures();
    let cluster_posture: Vec<ClusterPosture> = engine
        .admin_postures()
        .into_iter()
        .map(|fact| ClusterPosture {
            text: posture_text(cluster, &fact),
            fact,
        })
        .collect();
    // Reachability per destination group.
    let mut dst_groups: BTreeMap<String, Vec<EpId>> = BTreeMap::new();
    for &p in &pods {
        dst_groups.entry(engine.group_of(p)).or_default().push(p);
    }
    let externals: Vec<String> = (0..engine.endpoints.len())
        .filter(|&e| engine.endpoint(e).kind == EndpointKind::External)
        .map(|e| engine.endpoint(e).id.clone())
        .collect();
    let mut reachability = Vec::new();
    let mut granting_by_classes: HashMap<(usize, usize), BTreeSet<usize>> = HashMap::new();
    for (group, members) in &dst_groups {
        let dst = members[0];
        let isolated = !engine.isolating(dst, Direction::Ingress).is_empty();
        let admin_judged = !engine.admin_policies_of(dst).is_empty();
        let mut sources_by: BTreeMap<(String, ConnSet), BTreeSet<usize>> = BTreeMap::new();
        if isolated || admin_judged {
            for s in 0..engine.endpoints.len() {
                if members.contains(&s) {
                    continue;
                }
                let set = engine.allowed(s, dst);
                if !set.is_empty() {
                    // Provenance per class pair, as the engine decided it;
                    // asked once per pair of classes, not per pod.
                    let (sc, dc) = (engine.class_of[s], engine.class_of[dst]);
                    let granting = granting_by_classes.entry((sc, dc)).or_insert_with(|| {
                        let mut found = BTreeSet::new();
                        engine.side_classes(Direction::Ingress, dc, sc, |c| {
                            found.insert(c.policy);
                        });
                        engine.side_classes(Direction::Egress, sc, dc, |c| {
                            found.insert(c.policy);
                        });
                        found
                    });
                    sources_by
                        .entry((engine.group_of(s), set))
                        .or_default()
                        .extend(granting.iter().copied());
                }
            }
        }
        // Sources with the same allowed set share a line; all external ranges
        // together read as "any external address".
        let mut by_set: BTreeMap<ConnSet, Vec<(String, BTreeSet<usize>)>> = BTreeMap::new();
        for ((from, allowed), policies) in sources_by {
            by_set.entry(allowed).or_default().push((from, policies));
        }
        let mut sources = Vec::new();
        for (allowed, froms) in by_set {
            let policies_of: BTreeMap<String, BTreeSet<usize>> = froms.into_iter().collect();
            let mut froms: Vec<String> = policies_of.keys().cloned().collect();
            let mut any_external = BTreeSet::new();
            if !externals.is_empty() && externals.iter().all(|x| froms.contains(x)) {
                for x in &externals {
                    any_external.extend(policies_of.get(x).into_iter().flatten().copied());
                }
                froms.retain(|f| !externals.contains(f));
                froms.insert(0, "any external address".into());
            }
            for from in froms {
                let external = from == "any external address" || externals.contains(&from);
                let policies = policies_of.get(&from).unwrap_or(&any_external);
                let mut policies: Vec<String> =
                    policies.iter().map(|&p| cluster.policies[p].id()).collect();
                policies.sort();
                sources.push(Source {
                    external,
                    from: abbreviate(&from),
                    allowed: allowed.clone(),
                    policies,
                });
            }
        }
        reachability.push(Reachability {
            destination: group.clone(),
            ingress_isolated: isolated,
            admin_judged,
            cluster_dns: engine.is_cluster_dns(dst)
                || engine.endpoint(dst).kind == EndpointKind::SyntheticDns,
            sources,
        });
    }
    let dns = engine.dns_problems();
    let warnings = diagnostics
        .iter()
        .filter(|d| d.severity >= Severity::Warning)
        .map(|d| {
            netfence_model::diag::render_short(std::slice::from_ref(d), sources)
                .trim_end()
                .to_string()
        })
        .collect();
    Report {
        summary,
        cluster: cluster_posture,
        namespaces,
        reachability,
        dns,
        warnings,
    }
}

pub fn text(r: &Report) -> String {
    let mut out = String::new();
    let s = &r.summary;
    let _ = writeln!(
        out,
        "netfence report: {}, {} {}, {}, {}",
        count(s.namespaces, "namespace"),
        s.pods,
        if s.pods == 1 {
            "pod/workload"
        } else {
            "pods/workloads"
        },
        count(s.policies, "NetworkPolicy"),
        count(s.nodes, "node")
    );
    if !s.not_analyzed.is_empty() {
        let _ = writeln!(
            out,
            "NOT ANALYZED (other policy kinds present, results may differ from the cluster): {}",
            s.not_analyzed.join(", ")
        );
    }
    if !r.cluster.is_empty() {
        let _ = writeln!(
            out,
            "\nCluster-wide (admin policies: Admin by priority, then NetworkPolicy, then Baseline, then allow):"
        );
        for c in &r.cluster {
            let _ = writeln!(out, "  {}", c.text);
        }
    }
    let _ = writeln!(
        out,
        "\nNamespaces (default-deny = a policy with podSelector {{}} isolating that direction):"
    );
    for ns in &r.namespaces {
        let yn = |b: bool| if b { "yes" } else { "no " };
        let _ = writeln!(
            out,
            "  {:<24} default-deny ingress {}  egress {}  {}, {}",
            ns.namespace,
            yn(ns.default_deny_ingress),
            yn(ns.default_deny_egress),
            count(ns.policies, "policy"),
            count(ns.pods, "pod")
        );
        if ns.pods > 0 && !ns.open_ingress.is_empty() {
            let _ = writeln!(
                out,
                "      open for ingress: {}",
                netfence_text::short_list(&ns.open_ingress)
            );
        }
        if ns.pods > 0 && !ns.open_egress.is_empty() {
            let _ = writeln!(
                out,
                "      open for egress:  {}",
                netfence_text::short_list(&ns.open_egress)
            );
        }
    }
    if !r.dns.is_empty() {
        let _ = writeln!(
            out,
            "\nDNS BROKEN: these pods are egress-isolated and cannot reach cluster DNS on port 53:"
        );
        for d in &r.dns {
            let what = match (d.udp, d.tcp) {
                (false, false) => "UDP and TCP blocked",
                (true, false) => "TCP blocked (large answers will fail)",
                _ => "UDP blocked",
            };
            let _ = writeln!(
                out,
                "  {}: {what} (isolated by {})",
                d.pod,
                d.isolated_by.join(", ")
            );
        }
        let _ = writeln!(
            out,
            "  fix: an allow-dns policy (see `netfence check POD kube-system/... --port 53 --protocol UDP`)"
        );
    }
    let _ = writeln!(out, "\nWho can reach what (ingress, by destination):");
    for reach in &r.reachability {
        if !reach.ingress_isolated && !reach.admin_judged {
            let _ = writeln!(
                out,
                "  {}: not isolated: any source whose own egress allows it",
                reach.destination
            );
            continue;
        }
        if reach.sources.is_empty() {
            let _ = writeln!(out, "  {}: nothing can reach it", reach.destination);
            continue;
        }
        let _ = writeln!(out, "  {}:", reach.destination);
        for src in &reach.sources {
            let _ = writeln!(out, "      from {}: {}", src.from, src.allowed);
        }
    }
    if !r.warnings.is_empty() {
        let _ = writeln!(out, "\nWarnings:");
        for w in &r.warnings {
            let _ = writeln!(out, "  {w}");
        }
    }
    out
}

/// External ids can be long CIDR lists; show the first few.
fn abbreviate(id: &str) -> String {
    let parts: Vec<&str> = id.split(',').collect();
    if parts.len() <= 3 {
        id.to_string()
    } else {
        format!("{},... ({} ranges)", parts[..3].join(","), parts.len())
    }
}
