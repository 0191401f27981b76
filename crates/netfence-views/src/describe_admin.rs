//! `netfence describe clusternetworkpolicy|anp|banp NAME`: an admin policy's
//! tier and priority, what its subject selects, and each rule in evaluation
//! order with what its peers match (semantics.md §2).

use std::fmt::Write as _;

use netfence_engine::{ConnSet, Engine};
use netfence_model::{AdminApi, AdminPort, AdminSubject, Direction, Sources};
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct AdminPeerDescription {
    pub index: usize,
    pub written: String,
    pub endpoints: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct AdminRuleDescription {
    pub path: String,
    pub location: String,
    pub name: Option<String>,
    /// As the policy's API spells it: `Accept`/`Allow`, `Deny`, `Pass`.
    pub action: &'static str,
    pub peers: Vec<AdminPeerDescription>,
    pub ports: String,
}

#[derive(Debug, Serialize)]
pub struct AdminDirectionDescription {
    pub direction: Direction,
    pub rules: Vec<AdminRuleDescription>,
}

#[derive(Debug, Serialize)]
pub struct AdminPolicyDescription {
    /// `ClusterNetworkPolicy/NAME`.
    pub policy: String,
    pub api_version: &'static str,
    pub location: String,
    pub tier: &'static str,
    pub priority: Option<u32>,
    pub subject: String,
    pub selects: Vec<String>,
    pub directions: Vec<AdminDirectionDescription>,
    /// Policies of the same tier and priority that judge some connection
    /// differently (applied in name order).
    pub same_priority_overlaps: Vec<String>,
}

fn ports_written(ports: Option<&[AdminPort]>) -> String {
    match ports {
        None => "all ports, all protocols".into(),
        Some(list) => list
            .iter()
            .map(|p| match p {
                AdminPort::Numbers { protocol, lo, hi } if lo == hi => format!("{protocol} {lo}"),
                AdminPort::Numbers { protocol, lo, hi } => format!("{protocol} {lo}-{hi}"),
                AdminPort::Named(n) => format!("named `{n}`"),
            })
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// `kind` is the canonical lowercase kind (`clusternetworkpolicy`, ...).
pub fn describe_admin_policy(
    engine: &Engine,
    sources: &Sources,
    kind: &str,
    name: &str,
) -> Result<AdminPolicyDescription, String> {
    let cluster = engine.cluster;
    let ai = cluster
        .admin_policies
        .iter()
        .position(|p| p.kind.eq_ignore_ascii_case(kind) && p.name == name)
        .ok_or_else(|| {
            let known: Vec<String> = cluster
                .admin_policies
                .iter()
                .filter(|p| p.kind.eq_ignore_ascii_case(kind))
                .map(|p| p.name.clone())
                .collect();
            let close = netfence_engine::query::nearest(name, known.iter().map(String::as_str), 3);
            let kind = match kind {
                "adminnetworkpolicy" => "AdminNetworkPolicy",
                "baselineadminnetworkpolicy" => "BaselineAdminNetworkPolicy",
                _ => "ClusterNetworkPolicy",
            };
            let mut msg = format!("no {kind} `{name}` in the input");
            if !close.is_empty() {
                msg.push_str(&format!("; did you mean {}?", close.join(", ")));
            }
            msg
        })?;
    let p = &cluster.admin_policies[ai];
    let ids = |mut eps: Vec<usize>| -> Vec<String> {
        eps.sort_unstable();
        eps.dedup();
        eps.into_iter()
            .map(|e| engine.endpoint(e).id.clone())
            .collect()
    };
    let selects = ids((0..engine.endpoints.len())
        .filter(|&e| {
            engine.classes[engine.class_of[e]]
                .admin_subject_of
                .contains(&ai)
        })
        .collect());
    let mut directions = Vec::new();
    for dir in Direction::BOTH {
        let rules = p.rules(dir);
        if rules.is_empty() {
            continue;
        }
        let mut out = Vec::new();
        for (ri, rule) in rules.iter().enumerate() {
            let path = format!("spec.{}[{ri}]", dir.as_str());
            let peers = rule
                .peers
                .iter()
                .enumerate()
                .map(|(k, peer)| AdminPeerDescription {
                    index: k,
                    written: peer.kind.to_string(),
                    endpoints: ids(engine.admin_peer_members(ai, dir, ri, k)),
                })
                .collect();
            out.push(AdminRuleDescription {
                location: netfence_text::admin_policy_location(sources, cluster, ai, &path),
                path,
                name: rule.name.clone(),
                action: rule.action.spelled(p.api),
                peers,
                ports: ports_written(rule.ports.as_deref()),
            });
        }
        directions.push(AdminDirectionDescription {
            direction: dir,
            rules: out,
        });
    }
    let same_priority_overlaps = engine
        .same_priority_overlaps()
        .into_iter()
        .filter(|o| o.first == ai || o.second == ai)
        .map(|o| {
            let other = if o.first == ai { o.second } else { o.first };
            format!(
                "{} (same priority {}): {} {} -> {} differs on {}; {} applies first (name order)",
                cluster.admin_policies[other].id(),
                o.priority,
                o.direction.as_str(),
                engine
                    .endpoint(match o.direction {
                        Direction::Ingress => o.peer,
                        Direction::Egress => o.subject,
                    })
                    .id,
                engine
                    .endpoint(match o.direction {
                        Direction::Ingress => o.subject,
                        Direction::Egress => o.peer,
                    })
                    .id,
                conns(&o.conns),
                cluster.admin_policies[o.first].id(),
            )
        })
        .collect();
    Ok(AdminPolicyDescription {
        policy: p.id(),
        api_version: match p.api {
            AdminApi::V1alpha1 => "policy.networking.k8s.io/v1alpha1",
            AdminApi::V1alpha2 => "policy.networking.k8s.io/v1alpha2",
            AdminApi::V1beta1 => "policy.networking.k8s.io/v1beta1",
        },
        location: netfence_text::admin_policy_location(sources, cluster, ai, "spec"),
        tier: p.tier.as_str(),
        priority: p.priority,
        subject: match &p.subject {
            AdminSubject::Namespaces(s) => format!("namespaces {}", s.to_kubectl()),
            AdminSubject::Pods {
                namespace_selector,
                pod_selector,
            } => format!(
                "pods {} in namespaces {}",
                pod_selector.to_kubectl(),
                namespace_selector.to_kubectl()
            ),
        },
        selects,
        directions,
        same_priority_overlaps,
    })
}

fn conns(c: &ConnSet) -> String {
    if c.is_all() {
        "everything".into()
    } else {
        c.to_string()
    }
}

pub fn admin_policy_text(d: &AdminPolicyDescription) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{} ({}, {})", d.policy, d.api_version, d.location);
    let priority = d
        .priority
        .map(|p| format!("priority {p}"))
        .unwrap_or_else(|| "no priority (one per cluster)".into());
    let _ = writeln!(
        out,
        "  tier: {} ({priority}; lower first, ties by name)",
        d.tier
    );
    let _ = writeln!(out, "  subject: {}", d.subject);
    let _ = writeln!(
        out,
        "  selects {}: {}",
        netfence_text::count(d.selects.len(), "pod"),
        if d.selects.is_empty() {
            "none".into()
        } else {
            netfence_text::short_list(&d.selects)
        }
    );
    for dir in &d.directions {
        let _ = writeln!(
            out,
            "  {} (rules in written order; the first match decides):",
            dir.direction.as_str()
        );
        for r in &dir.rules {
            let name = r
                .name
                .as_ref()
                .map(|n| format!(" \"{n}\""))
                .unwrap_or_default();
            let _ = writeln!(out, "    {}{name} ({}): {}", r.path, r.location, r.action);
            for p in &r.peers {
                let who = if p.endpoints.is_empty() {
                    "nothing in the input".to_string()
                } else {
                    netfence_text::short_list(&p.endpoints)
                };
                let _ = writeln!(out, "      peer {}: {}", p.index, p.written);
                let _ = writeln!(out, "        matches: {who}");
            }
            let _ = writeln!(out, "      ports: {}", r.ports);
        }
    }
    for o in &d.same_priority_overlaps {
        let _ = writeln!(out, "  same-priority overlap: {o}");
    }
    out
}
