//! `netfence report`: the page a reviewer reads instead of the YAML. Namespace
//! posture, pods left open, who can reach what (grouped by workload), DNS health
//! and the input's warnings.

use netfence_text::count;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;

use netfence_engine::{ConnSet, DnsProblem, EndpointKind, Engine, EpId, NamespacePosture};
use netfence_model::{Diagnostic, Direction, Severity, Sources};
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

#[derive(Debug, Serialize)]
pub struct Report {
    pub summary: Summary,
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
