//! `netfence describe policy|pod|namespace`: what a policy selects and admits,
//! resolved to concrete pods, namespaces and ranges; what applies to a pod; a
//! namespace's posture.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use netfence_engine::{ConnSet, EndpointKind, Engine, EpId};
use netfence_model::{Direction, PeerKind, PortRef, Sources};
use serde::Serialize;

use netfence_text::policy_location;

#[derive(Debug, Serialize)]
pub struct PeerDescription {
    pub index: usize,
    pub written: String,
    pub endpoints: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct RuleDescription {
    pub path: String,
    pub location: String,
    /// `None`: no `from`/`to`, every peer (external addresses included).
    pub peers: Option<Vec<PeerDescription>>,
    pub ports: String,
    /// Named ports resolved per pod (`ns/pod: TCP 8080`), when the rule has any.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub named_ports: BTreeMap<String, String>,
}

#[derive(Debug, Serialize)]
pub struct DirectionDescription {
    pub direction: Direction,
    /// Whether the policy isolates its pods in this direction.
    pub isolates: bool,
    pub rules: Vec<RuleDescription>,
}

#[derive(Debug, Serialize)]
pub struct PolicyDescription {
    pub policy: String,
    pub location: String,
    pub pod_selector: String,
    pub policy_types: Vec<&'static str>,
    pub policy_types_defaulted: bool,
    pub selects: Vec<String>,
    pub directions: Vec<DirectionDescription>,
    pub notes: Vec<String>,
}

fn ports_written(ports: Option<&[netfence_model::PortSpec]>) -> String {
    match ports {
        None => "all ports, all protocols".into(),
        Some(list) => list
            .iter()
            .map(|p| match &p.port {
                None => format!("{} (all ports)", p.protocol),
                Some(PortRef::Range { lo, hi }) if lo == hi => format!("{} {lo}", p.protocol),
                Some(PortRef::Range { lo, hi }) => format!("{} {lo}-{hi}", p.protocol),
                Some(PortRef::Named(n)) => format!("{} named `{n}`", p.protocol),
            })
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// `message`, with the nearest of `known` to `query` suggested.
fn did_you_mean(mut message: String, query: &str, known: &[String]) -> String {
    let close = netfence_engine::query::nearest(query, known.iter().map(String::as_str), 3);
    if !close.is_empty() {
        message.push_str(&format!("; did you mean {}?", close.join(", ")));
    }
    message
}

pub fn describe_policy(
    engine: &Engine,
    sources: &Sources,
    id: &str,
) -> Result<PolicyDescription, String> {
    let cluster = engine.cluster;
    let (ns, name) = id
        .split_once('/')
        .ok_or_else(|| format!("write NAMESPACE/NAME (or -n NAMESPACE NAME), not `{id}`"))?;
    let pi = cluster
        .policies
        .iter()
        .position(|p| p.namespace == ns && p.name == name)
        .ok_or_else(|| {
            let ids: Vec<String> = cluster.policies.iter().map(|p| p.id()).collect();
            did_you_mean(
                format!("no NetworkPolicy {ns}/{name} in the input"),
                id,
                &ids,
            )
        })?;
    let p = &cluster.policies[pi];
    let selected = engine.selected_by(pi);
    let mut directions = Vec::new();
    let mut notes = Vec::new();
    for dir in Direction::BOTH {
        let rules = p.rules(dir);
        if !p.isolates(dir) && rules.is_empty() {
            continue;
        }
        if !p.isolates(dir) {
            notes.push(format!(
                "{} rules are ignored: policyTypes does not include {}",
                dir.as_str(),
                dir.policy_type()
            ));
        }
        let mut out = Vec::new();
        for (ri, rule) in rules.iter().enumerate() {
            let path = format!("spec.{}[{ri}]", dir.as_str());
            let peers = rule.peers.as_ref().map(|list| {
                list.iter()
                    .enumerate()
                    .map(|(k, peer)| {
                        let members = engine.peer_members(pi, dir, ri, k);
                        let namespaces = match &peer.kind {
                            PeerKind::Pods {
                                namespace_selector: Some(s),
                                ..
                            } => cluster
                                .namespaces
                                .iter()
                                .filter(|n| s.matches(&n.labels))
                                .map(|n| n.name.clone())
                                .collect(),
                            _ => Vec::new(),
                        };
                        PeerDescription {
                            index: k,
                            written: peer.kind.to_string(),
                            endpoints: members
                                .iter()
                                .map(|&e| engine.endpoint(e).id.clone())
                                .collect(),
                            namespaces,
                        }
                    })
                    .collect()
            });
            let mut named_ports = BTreeMap::new();
            let has_named = rule
                .ports
                .iter()
                .flatten()
                .any(|s| matches!(s.port, Some(PortRef::Named(_))));
            if has_named {
                let targets: Vec<EpId> = match dir {
                    Direction::Ingress => selected.clone(),
                    Direction::Egress => engine.pods().collect(),
                };
                for t in targets {
                    let set = engine.rule_ports_for(rule.ports.as_deref(), t);
                    named_ports.insert(engine.endpoint(t).id.clone(), set.to_string());
                }
            }
            out.push(RuleDescription {
                location: policy_location(sources, cluster, pi, &path),
                path,
                peers,
                ports: ports_written(rule.ports.as_deref()),
                named_ports,
            });
        }
        directions.push(DirectionDescription {
            direction: dir,
            isolates: p.isolates(dir),
            rules: out,
        });
    }
    if selected.is_empty() {
        notes.push("this policy selects no pod in the input: it has no effect".into());
    }
    Ok(PolicyDescription {
        policy: p.id(),
        location: policy_location(sources, cluster, pi, "metadata"),
        pod_selector: p.pod_selector.to_kubectl(),
        policy_types: Direction::BOTH
            .into_iter()
            .filter(|d| p.isolates(*d))
            .map(|d| d.policy_type())
            .collect(),
        policy_types_defaulted: !p.policy_types_written,
        selects: selected
            .iter()
            .map(|&e| engine.endpoint(e).id.clone())
            .collect(),
        directions,
        notes,
    })
}

pub fn policy_text(d: &PolicyDescription) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "NetworkPolicy {} ({})", d.policy, d.location);
    let defaulted = if d.policy_types_defaulted {
        " (defaulted: policyTypes not written)"
    } else {
        ""
    };
    let _ = writeln!(out, "  podSelector: {}", d.pod_selector);
    let _ = writeln!(
        out,
        "  policyTypes: [{}]{defaulted}",
        d.policy_types.join(", ")
    );
    let _ = writeln!(
        out,
        "  selects {}: {}",
        netfence_text::count(d.selects.len(), "pod"),
        if d.selects.is_empty() {
            "none".into()
        } else {
            d.selects.join(", ")
        }
    );
    for dir in &d.directions {
        let state = if dir.isolates {
            "isolates"
        } else {
            "ignored (not in policyTypes)"
        };
        let _ = writeln!(out, "  {}: {state}", dir.direction.as_str());
        if dir.rules.is_empty() && dir.isolates {
            let _ = writeln!(
                out,
                "    no rules: allows nothing ({}-deny for the selected pods)",
                dir.direction.as_str()
            );
        }
        for r in &dir.rules {
            let _ = writeln!(out, "    {} ({})", r.path, r.location);
            match &r.peers {
                None => {
                    let _ = writeln!(
                        out,
                        "      peers: any (no {} list): every pod, node and external address",
                        match dir.direction {
                            Direction::Ingress => "from",
                            Direction::Egress => "to",
                        }
                    );
                }
                Some(list) => {
                    for p in list {
                        let who = if p.endpoints.is_empty() {
                            "nothing in the input".to_string()
                        } else {
                            p.endpoints.join(", ")
                        };
                        let _ = writeln!(out, "      peer {}: {}", p.index, p.written);
                        if !p.namespaces.is_empty() {
                            let _ =
                                writeln!(out, "        namespaces: {}", p.namespaces.join(", "));
                        }
                        let _ = writeln!(out, "        matches: {who}");
                    }
                }
            }
            let _ = writeln!(out, "      ports: {}", r.ports);
            for (ep, set) in &r.named_ports {
                let _ = writeln!(out, "        on {ep}: {set}");
            }
        }
    }
    for n in &d.notes {
        let _ = writeln!(out, "  note: {n}");
    }
    out
}

#[derive(Debug, Serialize)]
pub struct Reach {
    pub endpoints: Vec<String>,
    pub allowed: ConnSet,
}

#[derive(Debug, Serialize)]
pub struct PodDescription {
    pub pod: String,
    pub kind: EndpointKind,
    pub labels: BTreeMap<String, String>,
    pub ips: Vec<String>,
    pub node: Option<String>,
    pub ingress_isolated_by: Vec<String>,
    pub egress_isolated_by: Vec<String>,
    /// Admin policies whose subject it is, in evaluation order (`KIND/NAME`,
    /// tier, priority); absent without any.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub admin_policies: Vec<String>,
    /// Who may connect to it, grouped by allowed set.
    pub ingress_from: Vec<Reach>,
    /// Whom it may connect to.
    pub egress_to: Vec<Reach>,
}

fn grouped(engine: &Engine, pairs: impl Iterator<Item = (EpId, ConnSet)>) -> Vec<Reach> {
    let mut by: BTreeMap<ConnSet, Vec<String>> = BTreeMap::new();
    for (e, set) in pairs {
        if !set.is_empty() {
            by.entry(set)
                .or_default()
                .push(engine.endpoint(e).id.clone());
        }
    }
    let mut out: Vec<Reach> = by
        .into_iter()
        .map(|(allowed, endpoints)| Reach { endpoints, allowed })
        .collect();
    out.sort_by(|a, b| {
        b.endpoints
            .len()
            .cmp(&a.endpoints.len())
            .then(a.endpoints.cmp(&b.endpoints))
    });
    out
}

pub fn describe_pod(engine: &Engine, id: &str) -> Result<PodDescription, String> {
    let ep = engine.find(id)?;
    let e = engine.endpoint(ep);
    let names = |v: &[usize]| {
        v.iter()
            .map(|&i| engine.cluster.policies[i].id())
            .collect::<Vec<_>>()
    };
    let others = (0..engine.endpoints.len()).filter(move |&o| o != ep);
    Ok(PodDescription {
        pod: e.id.clone(),
        kind: e.kind.clone(),
        labels: e
            .model_index
            .filter(|_| e.is_pod_like())
            .map(|i| engine.cluster.endpoints[i].labels.clone())
            .unwrap_or_default(),
        ips: e.ips.iter().map(|i| i.to_string()).collect(),
        node: e.node.clone(),
        ingress_isolated_by: names(engine.isolating(ep, Direction::Ingress)),
        egress_isolated_by: names(engine.isolating(ep, Direction::Egress)),
        admin_policies: engine
            .admin_policies_of(ep)
            .iter()
            .map(|&a| {
                let p = &engine.cluster.admin_policies[a];
                match p.priority {
                    Some(prio) => format!("{} ({} tier, priority {prio})", p.id(), p.tier.as_str()),
                    None => format!("{} ({} tier)", p.id(), p.tier.as_str()),
                }
            })
            .collect(),
        ingress_from: grouped(engine, others.clone().map(|o| (o, engine.allowed(o, ep)))),
        egress_to: grouped(engine, others.map(|o| (o, engine.allowed(ep, o)))),
    })
}

fn reach_text(list: &[Reach], out: &mut String) {
    if list.is_empty() {
        let _ = writeln!(out, "    nothing");
    }
    for r in list {
        let shown = netfence_text::short_list(&r.endpoints);
        let _ = writeln!(out, "    {}: {shown}", r.allowed);
    }
}

pub fn pod_text(d: &PodDescription) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{} ({:?})", d.pod, d.kind);
    let labels: Vec<String> = d.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let _ = writeln!(
        out,
        "  labels: {}",
        if labels.is_empty() {
            "none".into()
        } else {
            labels.join(", ")
        }
    );
    let _ = writeln!(
        out,
        "  IPs: {}",
        if d.ips.is_empty() {
            "unknown".into()
        } else {
            d.ips.join(", ")
        }
    );
    if let Some(n) = &d.node {
        let _ = writeln!(out, "  node: {n}");
    }
    let iso = |v: &[String]| {
        if v.is_empty() && !d.admin_policies.is_empty() {
            "not isolated by a NetworkPolicy (the admin policies below still decide)".to_string()
        } else if v.is_empty() {
            "not isolated (everything allowed)".to_string()
        } else {
            format!("isolated by {}", v.join(", "))
        }
    };
    let _ = writeln!(out, "  ingress: {}", iso(&d.ingress_isolated_by));
    let _ = writeln!(out, "  egress: {}", iso(&d.egress_isolated_by));
    if !d.admin_policies.is_empty() {
        let _ = writeln!(out, "  admin policies, in evaluation order:");
        for a in &d.admin_policies {
            let _ = writeln!(out, "    {a}");
        }
    }
    let _ = writeln!(out, "  may receive from:");
    reach_text(&d.ingress_from, &mut out);
    let _ = writeln!(out, "  may connect to:");
    reach_text(&d.egress_to, &mut out);
    out
}

#[derive(Debug, Serialize)]
pub struct PodPosture {
    pub pod: String,
    pub ingress_isolated: bool,
    pub egress_isolated: bool,
}

#[derive(Debug, Serialize)]
pub struct NamespaceDescription {
    pub namespace: String,
    pub labels: BTreeMap<String, String>,
    pub labels_known: bool,
    pub policies: Vec<String>,
    /// A policy selecting every pod isolates this direction.
    pub default_deny_ingress: bool,
    pub default_deny_egress: bool,
    pub pods: Vec<PodPosture>,
}

pub fn describe_namespace(engine: &Engine, name: &str) -> Result<NamespaceDescription, String> {
    let cluster = engine.cluster;
    let ns = cluster.namespace(name).ok_or_else(|| {
        let names: Vec<String> = cluster.namespaces.iter().map(|n| n.name.clone()).collect();
        did_you_mean(format!("no namespace {name} in the input"), name, &names)
    })?;
    let policies: Vec<&netfence_model::Policy> = cluster
        .policies
        .iter()
        .filter(|p| p.namespace == name)
        .collect();
    let default_deny = |d: Direction| !cluster.default_deny_policies(name, d).is_empty();
    let pods = engine
        .pods()
        .filter(|&e| engine.endpoint(e).namespace.as_deref() == Some(name))
        .map(|e| PodPosture {
            pod: engine.endpoint(e).id.clone(),
            ingress_isolated: !engine.isolating(e, Direction::Ingress).is_empty(),
            egress_isolated: !engine.isolating(e, Direction::Egress).is_empty(),
        })
        .collect();
    Ok(NamespaceDescription {
        namespace: name.to_string(),
        labels: ns.labels.clone(),
        labels_known: ns.labels_known,
        policies: policies.iter().map(|p| p.name.clone()).collect(),
        default_deny_ingress: default_deny(Direction::Ingress),
        default_deny_egress: default_deny(Direction::Egress),
        pods,
    })
}

pub fn namespace_text(d: &NamespaceDescription) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Namespace {}{}",
        d.namespace,
        if d.labels_known {
            ""
        } else {
            " (not in the input: labels unknown)"
        }
    );
    let labels: Vec<String> = d.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let _ = writeln!(out, "  labels: {}", labels.join(", "));
    let yn = |b: bool| if b { "yes" } else { "NO" };
    let _ = writeln!(
        out,
        "  default-deny ingress: {}, egress: {}",
        yn(d.default_deny_ingress),
        yn(d.default_deny_egress)
    );
    let _ = writeln!(
        out,
        "  policies: {}",
        if d.policies.is_empty() {
            "none".into()
        } else {
            d.policies.join(", ")
        }
    );
    for p in &d.pods {
        let open = |iso: bool| if iso { "isolated" } else { "open" };
        let _ = writeln!(
            out,
            "  {}: ingress {}, egress {}",
            p.pod,
            open(p.ingress_isolated),
            open(p.egress_isolated)
        );
    }
    out
}
