//! `netfence check SRC DST`: the verdict, the reasoning in the order a person
//! debugs (egress at the source, then ingress at the destination), and when
//! denied, a fix verified by re-running the engine.

use std::fmt::Write as _;

use netfence_engine::explain::{SideExplanation, SideState, TierRuleCheck, TiersExplanation};
use netfence_engine::{ConnSet, EndpointKind, Engine, EpId};
use netfence_fix::{Proposal, covers, propose};
use netfence_model::{Cluster, Direction, LoadOptions, Protocol, Sources};
use netfence_text::policy_location;
use serde::Serialize;

/// What to check: the pair and optionally one port.
#[derive(Clone, Debug)]
pub struct CheckQuery {
    pub src: String,
    pub dst: String,
    pub port: Option<u16>,
    pub protocol: Protocol,
}

#[derive(Clone, Debug, Serialize)]
pub struct CheckReport {
    pub src: String,
    pub dst: String,
    /// When `DST` was a Service: the Service and the port it maps to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub via_service: Option<String>,
    pub protocol: Option<Protocol>,
    pub port: Option<u16>,
    pub allowed: bool,
    /// Every connection the pair may open.
    pub allowed_set: ConnSet,
    pub explanation: netfence_engine::Explanation,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proposal: Option<Proposal>,
}

/// Resolves `ns/svc/NAME[:PORT]` to a backend endpoint and the target port.
fn resolve_service(
    engine: &Engine,
    cluster: &Cluster,
    q: &str,
    port: Option<u16>,
    protocol: Protocol,
) -> Result<Option<(EpId, Option<u16>, String)>, String> {
    let netfence_engine::EndpointQuery::Service {
        namespace: ns,
        name,
        port: svc_port,
    } = netfence_engine::EndpointQuery::parse(q, None)?
    else {
        return Ok(None);
    };
    let (ns, name, svc_port) = (ns.as_str(), name.as_str(), svc_port.or(port));
    let Some(svc) = cluster.service(ns, name) else {
        // `kube-system/svc/kube-dns` names the assumed cluster DNS when the
        // input has none: the engine resolves it.
        if engine.find(q).is_ok() {
            return Ok(None);
        }
        return Err(format!("no Service {ns}/{name} in the input"));
    };
    if svc.selector.is_none() {
        return Err(format!(
            "Service {ns}/{name} has no selector; check its endpoints' pods directly"
        ));
    }
    let backend = engine.pods().find(|&e| {
        let ep = engine.endpoint(e);
        ep.namespace.as_deref() == Some(ns)
            && ep
                .model_index
                .is_some_and(|i| svc.selects(&cluster.endpoints[i].labels))
    });
    let Some(backend) = backend else {
        return Err(format!("Service {ns}/{name} selects no pod in the input"));
    };
    let sp = svc
        .ports
        .iter()
        .find(|p| svc_port.is_none_or(|sp| p.port == sp) && p.protocol == protocol)
        .or_else(|| svc.ports.first());
    let target = sp.and_then(|sp| match &sp.target {
        netfence_model::PortRef::Range { lo, .. } => Some(*lo),
        netfence_model::PortRef::Named(n) => engine.endpoint(backend).model_index.and_then(|i| {
            cluster.endpoints[i]
                .ports
                .iter()
                .find(|p| p.name.as_deref() == Some(n))
                .map(|p| p.port)
        }),
    });
    let desc = match (sp, target) {
        (Some(sp), Some(t)) => format!(
            "Service {ns}/{name} port {} → backend {} port {t} (policies see the backend pod and target port, after DNAT)",
            sp.port,
            engine.endpoint(backend).id
        ),
        _ => format!(
            "Service {ns}/{name} → backend {}",
            engine.endpoint(backend).id
        ),
    };
    Ok(Some((backend, target.or(svc_port), desc)))
}

pub fn check(
    engine: &Engine,
    sources: &Sources,
    opts: &LoadOptions,
    q: &CheckQuery,
) -> Result<CheckReport, String> {
    let cluster = engine.cluster;
    let src = engine.find(&q.src)?;
    let (dst, port, via) = match resolve_service(engine, cluster, &q.dst, q.port, q.protocol)? {
        Some((ep, port, desc)) => (ep, port, Some(desc)),
        None => (engine.find(&q.dst)?, q.port, None),
    };
    let explanation = if via.is_some() {
        engine.explain_via_service(src, dst)
    } else {
        engine.explain(src, dst)
    };
    let allowed_set = explanation.allowed.clone();
    let allowed = match port {
        Some(p) => allowed_set.allows(q.protocol, p),
        None => !allowed_set.is_empty(),
    };
    let mut notes = Vec::new();
    for (query, ep) in [(&q.src, src), (&q.dst, dst)] {
        let e = engine.endpoint(ep);
        if query.parse::<std::net::IpAddr>().is_ok() && e.id != *query {
            notes.push(format!("{query} is {}", describe_endpoint(engine, ep)));
        }
        if e.kind == EndpointKind::SyntheticDns {
            notes.push(format!("{} is synthetic: the input has no cluster DNS pods, so netfence assumes them (override with --cluster-dns)", e.id));
        }
        if e.kind == EndpointKind::Workload && !engine.resolved.blocks.is_empty() {
            notes.push(format!("{} stands for the pods of a workload not in the input; its IP is unknown, so ipBlock rules cannot match it", e.id));
        }
    }
    let proposal = if allowed {
        None
    } else {
        propose(
            engine,
            sources,
            opts,
            src,
            dst,
            port,
            q.protocol,
            &explanation,
        )
    };
    Ok(CheckReport {
        src: engine.endpoint(src).id.clone(),
        dst: engine.endpoint(dst).id.clone(),
        via_service: via,
        protocol: port.map(|_| q.protocol),
        port,
        allowed,
        allowed_set,
        explanation,
        notes,
        proposal,
    })
}

fn describe_endpoint(engine: &Engine, ep: EpId) -> String {
    let e = engine.endpoint(ep);
    match e.kind {
        EndpointKind::External => format!("outside the cluster, in the external range {}", e.id),
        EndpointKind::Node => format!("the address of {}", e.id),
        _ => format!("the IP of {}", e.id),
    }
}

fn side_text(
    engine: &Engine,
    sources: &Sources,
    side: &SideExplanation,
    port: Option<u16>,
    protocol: Protocol,
    out: &mut String,
) {
    let cluster = engine.cluster;
    let (title, verb) = match side.direction {
        Direction::Egress => (format!("egress from {}", side.subject), "leave"),
        Direction::Ingress => (format!("ingress to {}", side.subject), "enter"),
    };
    let ok = covers(&side.allowed, port, protocol);
    let mut mark = if ok { "ok  " } else { "DENY" };
    let mut title = title;
    if let Some(t) = &side.tiers {
        tiers_text(
            sources, cluster, &title, mark, t, &t.admin, port, protocol, out,
        );
        let _ = writeln!(
            out,
            "         NetworkPolicy tier receives: {}",
            conns_text(&t.to_network_policy)
        );
        // The NetworkPolicy tier's own account follows, without a verdict of
        // its own: the tiers together decide.
        mark = "    ";
        title = format!("{title}, NetworkPolicy tier");
    }
    match (&side.state, side.exception) {
        (SideState::Exception, Some(e)) => {
            let _ = writeln!(
                out,
                "  [{mark}] {title}: {}",
                netfence_text::exception_text(e)
            );
        }
        (SideState::NotAPod, _) => {
            let _ = writeln!(out, "  [{mark}] {title}: not a pod, no policy applies");
        }
        (SideState::NotIsolated, _) => {
            let _ = writeln!(
                out,
                "  [{mark}] {title}: not isolated (no NetworkPolicy selecting {} has {} in policyTypes), everything may {verb}",
                side.subject,
                side.direction.policy_type()
            );
        }
        _ => {
            let _ = writeln!(
                out,
                "  [{mark}] {title}: isolated by {}",
                side.isolated_by.join(", ")
            );
            if side.rules.is_empty() {
                let _ = writeln!(
                    out,
                    "         those policies have no {} rules: they allow nothing",
                    side.direction.as_str()
                );
            }
            for rc in &side.rules {
                let at = policy_location(sources, cluster, rc.policy_index, &rc.path);
                let granted = covers(&rc.ports, port, protocol) && rc.peer_matched;
                let head = if granted { "allows" } else { "no match" };
                let _ = writeln!(out, "         {} {} ({at}): {head}", rc.policy, rc.path);
                match &rc.peers {
                    None => {
                        let _ = writeln!(
                            out,
                            "           peers: none listed, so every source/destination"
                        );
                    }
                    Some(list) => {
                        for p in list {
                            let m = if p.matched { "+" } else { "-" };
                            let _ = writeln!(out, "           {m} peer {}: {}", p.index, p.reason);
                        }
                    }
                }
                let ports_text = if rc.ports.is_all() {
                    "all".to_string()
                } else {
                    rc.ports.to_string()
                };
                let port_ok = covers(&rc.ports, port, protocol);
                let m = if port_ok { "+" } else { "-" };
                let _ = writeln!(
                    out,
                    "           {m} ports: {ports_text}{}",
                    rc.ports_note
                        .as_ref()
                        .map(|n| format!(" ({n})"))
                        .unwrap_or_default()
                );
            }
        }
    }
    if let Some(t) = &side.tiers {
        if !t.to_network_policy.is_empty() {
            let _ = writeln!(
                out,
                "         Baseline tier receives: {}",
                conns_text(&t.to_baseline)
            );
        }
        for (i, c) in t.baseline.iter().enumerate() {
            tier_rule_line(
                sources,
                cluster,
                t.admin.len() + i + 1,
                c,
                port,
                protocol,
                out,
            );
        }
        let _ = writeln!(out, "         default (allow): {}", conns_text(&t.default));
    }
}

fn conns_text(c: &ConnSet) -> String {
    if c.is_empty() {
        "nothing".to_string()
    } else if c.is_all() {
        "everything".to_string()
    } else {
        c.to_string()
    }
}

/// The head of a direction the admin tiers judge, and its Admin rules.
#[allow(clippy::too_many_arguments)]
fn tiers_text(
    sources: &Sources,
    cluster: &netfence_model::Cluster,
    title: &str,
    mark: &str,
    t: &TiersExplanation,
    admin: &[TierRuleCheck],
    port: Option<u16>,
    protocol: Protocol,
    out: &mut String,
) {
    let _ = writeln!(
        out,
        "  [{mark}] {title}: admin tiers first (Admin by priority, NetworkPolicy, Baseline, default allow)"
    );
    if admin.is_empty() && t.baseline.is_empty() {
        let _ = writeln!(out, "         no admin or baseline rule matches this pair");
    }
    for (i, c) in admin.iter().enumerate() {
        tier_rule_line(sources, cluster, i + 1, c, port, protocol, out);
    }
}

/// `2. Admin ClusterNetworkPolicy/x priority 10 spec.egress[1] "dns" (file:line:col): Deny TCP 80 (peer 0: ...)`.
fn tier_rule_line(
    sources: &Sources,
    cluster: &netfence_model::Cluster,
    n: usize,
    c: &TierRuleCheck,
    port: Option<u16>,
    protocol: Protocol,
    out: &mut String,
) {
    let at = netfence_text::admin_policy_location(sources, cluster, c.policy_index, &c.path);
    let priority = c
        .priority
        .map(|p| format!(" priority {p}"))
        .unwrap_or_default();
    let name = c
        .rule_name
        .as_ref()
        .map(|n| format!(" \"{n}\""))
        .unwrap_or_default();
    let hit = if covers(&c.decided, port, protocol) && port.is_some() {
        "  <- the asked connection"
    } else {
        ""
    };
    let then = if c.action == "Pass" {
        match c.tier {
            netfence_model::AdminTier::Admin => " (handed to the NetworkPolicy tier)",
            netfence_model::AdminTier::Baseline => " (handed to the default)",
        }
    } else {
        ""
    };
    let _ = writeln!(
        out,
        "         {n}. {} {}{priority} {}{name} ({at}): {} {}{then}{hit}",
        c.tier.as_str(),
        c.policy,
        c.path,
        c.action,
        conns_text(&c.decided),
    );
    let _ = writeln!(out, "            matched peer {}: {}", c.peer, c.peer_text);
}

pub fn render_text(engine: &Engine, sources: &Sources, r: &CheckReport, q: &CheckQuery) -> String {
    let mut out = String::new();
    let what = match r.port {
        Some(p) => format!("{}/{p}", q.protocol),
        None => "any port".into(),
    };
    let verdict = if r.allowed { "ALLOWED" } else { "DENIED" };
    let _ = writeln!(out, "{verdict}: {} -> {} ({what})", r.src, r.dst);
    if let Some(v) = &r.via_service {
        let _ = writeln!(out, "  via {v}");
    }
    for n in &r.notes {
        let _ = writeln!(out, "  note: {n}");
    }
    if r.port.is_none() {
        let _ = writeln!(out, "  allowed connections: {}", r.allowed_set);
    }
    let _ = writeln!(out);
    side_text(
        engine,
        sources,
        &r.explanation.egress,
        r.port,
        q.protocol,
        &mut out,
    );
    side_text(
        engine,
        sources,
        &r.explanation.ingress,
        r.port,
        q.protocol,
        &mut out,
    );
    if let Some(p) = &r.proposal {
        let _ = writeln!(out);
        if p.verified {
            let _ = writeln!(
                out,
                "Proposed fix (verified: with this change netfence allows the connection):"
            );
        } else {
            // Say only what was checked: the engine still denies with these.
            let hint = if r.port.is_none() {
                "; ask for one port with --port for a fix netfence can verify"
            } else {
                ""
            };
            let _ = writeln!(
                out,
                "No verified fix. Tried, and NOT enough (the engine still denies the connection with these changes{hint}):"
            );
        }
        for c in &p.changes {
            let _ = writeln!(out, "  {} {}: {}", c.action, c.policy, c.why);
            let _ = writeln!(out, "---");
            out.push_str(&c.yaml);
        }
        if !p.verified {
            // What else an insufficient change opens is not worth a claim.
        } else if p.also_opens_total == 0 {
            let _ = writeln!(out, "It opens nothing else.");
        } else {
            let _ = writeln!(
                out,
                "It would also open {}:",
                netfence_text::count(p.also_opens_total, "other pair")
            );
            for a in &p.also_opens {
                let _ = writeln!(out, "  {a}");
            }
        }
    }
    out
}
