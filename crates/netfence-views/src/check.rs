//! `netfence check SRC DST`: the verdict, the reasoning in the order a person
//! debugs (egress at the source, then ingress at the destination), and when
//! denied, a fix verified by re-running the engine.

use std::fmt::Write as _;

use netfence_engine::explain::{SideExplanation, SideState};
use netfence_engine::{CachedDecisions, ConnSet, EndpointKind, Engine, EpId, PortSet};
use netfence_model::{Cluster, Direction, LoadOptions, Protocol, Sources};
use serde::Serialize;
use serde_json::{Value, json};

use crate::{policy_location, yaml};

/// What to check: the pair and optionally one port.
#[derive(Clone, Debug)]
pub struct CheckQuery {
    pub src: String,
    pub dst: String,
    pub port: Option<u16>,
    pub protocol: Protocol,
}

/// One change of a proposed fix: a whole object to apply.
#[derive(Clone, Debug, Serialize)]
pub struct ProposedChange {
    /// `modify` an existing policy or `create` a new one.
    pub action: &'static str,
    pub policy: String,
    pub why: String,
    pub yaml: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Proposal {
    pub changes: Vec<ProposedChange>,
    /// True when the engine, re-run with the changes, allows the connection.
    pub verified: bool,
    /// Other pairs the changes would newly open (`src -> dst: conns`), at most 20;
    /// computed for a verified proposal only (empty otherwise).
    pub also_opens: Vec<String>,
    pub also_opens_total: usize,
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
    let explanation = engine.explain(src, dst);
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

/// Labels controllers set per pod, revision or run: a selector on them stops
/// matching at the next rollout, restart or job run.
pub const UNSTABLE_LABELS: &[&str] = &[
    "pod-template-hash",
    "controller-revision-hash",
    "statefulset.kubernetes.io/pod-name",
    "apps.kubernetes.io/pod-index",
    "pod-template-generation",
    "batch.kubernetes.io/controller-uid",
    "controller-uid",
    "batch.kubernetes.io/job-name",
    "job-name",
];

/// Labels that identify a workload's pods and survive rollouts.
pub fn stable_labels(labels: &netfence_model::Labels) -> serde_json::Map<String, Value> {
    labels
        .iter()
        .filter(|(k, _)| !UNSTABLE_LABELS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect()
}

/// The peer entry that selects `peer` as seen from a policy in `policy_ns`.
fn peer_entry(
    engine: &Engine,
    peer: EpId,
    policy_ns: &str,
    ip_query: Option<std::net::IpAddr>,
) -> Value {
    let e = engine.endpoint(peer);
    match (e.kind.clone(), e.model_index) {
        (EndpointKind::Node | EndpointKind::External, _) | (_, None) => {
            let cidr = match (ip_query, e.ip) {
                (Some(ip), _) | (None, Some(ip)) => {
                    format!("{ip}/{}", if ip.is_ipv4() { 32 } else { 128 })
                }
                (None, None) => e.id.split(',').next().unwrap_or("0.0.0.0/0").to_string(),
            };
            json!({"ipBlock": {"cidr": cidr}})
        }
        (_, Some(i)) => {
            let m = &engine.cluster.endpoints[i];
            let pods = json!({"matchLabels": stable_labels(&m.labels)});
            if m.namespace == policy_ns {
                json!({"podSelector": pods})
            } else {
                json!({
                    "namespaceSelector": {"matchLabels": {netfence_model::NAMESPACE_NAME_LABEL: m.namespace}},
                    "podSelector": pods,
                })
            }
        }
    }
}

fn port_entries(
    engine: &Engine,
    dst: EpId,
    port: Option<u16>,
    protocol: Protocol,
) -> Option<Value> {
    match port {
        Some(p) => Some(json!([{"protocol": protocol.as_str(), "port": p}])),
        None => {
            let e = engine.endpoint(dst);
            let ports: Vec<Value> = e
                .model_index
                .filter(|_| e.is_pod_like())
                .map(|i| {
                    engine.cluster.endpoints[i]
                        .ports
                        .iter()
                        .map(|p| json!({"protocol": p.protocol.as_str(), "port": p.port}))
                        .collect()
                })
                .unwrap_or_default();
            (!ports.is_empty()).then(|| Value::Array(ports))
        }
    }
}

/// The original JSON of a policy, from the sources.
fn policy_json(sources: &Sources, cluster: &Cluster, policy: usize) -> Option<Value> {
    let p = &cluster.policies[policy];
    let file = sources.files.get(p.origin.file.0 as usize)?;
    let doc = file.documents.get(p.origin.document)?;
    let (node, depth) = doc.root.lookup(&p.origin.prefix);
    (depth == p.origin.prefix.len()).then(|| node.to_json())
}

/// The guide's allow-dns policy for namespace `ns`: every pod there may reach the
/// cluster DNS endpoint `dns` on UDP and TCP 53, selected by namespace name and
/// the DNS pods' stable labels.
pub fn allow_dns_change(engine: &Engine, ns: &str, dns: EpId) -> ProposedChange {
    let cluster = engine.cluster;
    let dns = engine.endpoint(dns);
    let labels = dns
        .model_index
        .map(|i| stable_labels(&cluster.endpoints[i].labels))
        .unwrap_or_default();
    let obj = json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "allow-dns", "namespace": ns},
        "spec": {
            "podSelector": {},
            "policyTypes": ["Egress"],
            "egress": [{
                "to": [{
                    "namespaceSelector": {"matchLabels": {netfence_model::NAMESPACE_NAME_LABEL: dns.namespace.clone().unwrap_or_default()}},
                    "podSelector": {"matchLabels": labels},
                }],
                "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
            }],
        },
    });
    ProposedChange {
        action: "create",
        policy: format!("{ns}/allow-dns"),
        why: format!(
            "every pod in {ns} is egress-isolated without a DNS allowance; allow UDP and TCP 53 to the cluster DNS pods (TCP for large answers)"
        ),
        yaml: yaml::to_yaml(&obj),
    }
}

#[allow(clippy::too_many_arguments)]
fn propose_side(
    engine: &Engine,
    sources: &Sources,
    side: &SideExplanation,
    subject: EpId,
    peer: EpId,
    dst: EpId,
    port: Option<u16>,
    protocol: Protocol,
    ip_query: Option<std::net::IpAddr>,
) -> Option<ProposedChange> {
    let cluster = engine.cluster;
    let dir = side.direction;
    let subject_ep = engine.endpoint(subject);
    let ns = subject_ep.namespace.clone()?;
    let want = match port {
        Some(p) => ConnSet::of(protocol, PortSet::single(p)),
        None => ConnSet::all(),
    };
    let peer_field = dir.peer_field();
    // DNS is the classic: propose the allow-dns policy of the guide.
    if dir == Direction::Egress
        && crate::is_cluster_dns(engine, peer)
        && port.is_none_or(|p| p == 53)
    {
        return Some(allow_dns_change(engine, &ns, peer));
    }
    let entry = peer_entry(engine, peer, &ns, ip_query);
    let ports = port_entries(engine, dst, port, protocol);
    // (a) a rule that matches the peer but not the port: add the port;
    // (b) a rule that opens the port but not to this peer: add the peer.
    for rc in &side.rules {
        let Some(mut obj) = policy_json(sources, cluster, rc.policy_index) else {
            continue;
        };
        let rules_key = dir.as_str();
        let has_port = want.is_subset(&rc.ports) || (port.is_none() && !rc.ports.is_empty());
        let change = if rc.peer_matched && !has_port {
            let target = obj.pointer_mut(&format!("/spec/{rules_key}/{}/ports", rc.rule));
            match (target, &ports) {
                (Some(Value::Array(list)), Some(Value::Array(new))) => {
                    list.extend(new.iter().cloned());
                    Some(format!(
                        "rule {} already admits {}; add the port to it",
                        rc.path,
                        engine.endpoint(peer).id
                    ))
                }
                _ => None,
            }
        } else if !rc.peer_matched && has_port {
            match obj.pointer_mut(&format!("/spec/{rules_key}/{}/{peer_field}", rc.rule)) {
                Some(Value::Array(list)) => {
                    list.push(entry.clone());
                    // Without --port, say which ports the rule opens rather
                    // than claim it opens the one wanted.
                    let opens = match port {
                        Some(_) => "the port".to_string(),
                        None => rc.ports.parts().join("; "),
                    };
                    Some(format!(
                        "rule {} already opens {opens}; add {} as a peer",
                        rc.path,
                        engine.endpoint(peer).id
                    ))
                }
                _ => None,
            }
        } else {
            None
        };
        if let Some(why) = change {
            return Some(ProposedChange {
                action: "modify",
                policy: rc.policy.clone(),
                why,
                yaml: yaml::to_yaml(&obj),
            });
        }
    }
    // (c) a new policy selecting the subject by its stable labels.
    let labels = subject_ep
        .model_index
        .map(|i| stable_labels(&cluster.endpoints[i].labels))
        .unwrap_or_default();
    let short = |ep: EpId| {
        let e = engine.endpoint(ep);
        let base = e.model_index.filter(|_| e.is_pod_like()).map(|i| {
            let m = &cluster.endpoints[i];
            m.workload
                .as_ref()
                .map(|w| w.name.clone())
                .unwrap_or_else(|| m.name.clone())
        });
        base.unwrap_or_else(|| "external".into())
    };
    let name = match dir {
        Direction::Ingress => format!("allow-{}-from-{}", short(subject), short(peer)),
        Direction::Egress => format!("allow-{}-to-{}", short(subject), short(peer)),
    };
    let mut rule = serde_json::Map::new();
    rule.insert(peer_field.into(), json!([entry]));
    if let Some(p) = ports {
        rule.insert("ports".into(), p);
    }
    let obj = json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "podSelector": {"matchLabels": labels},
            "policyTypes": [dir.policy_type()],
            dir.as_str(): [Value::Object(rule)],
        },
    });
    Some(ProposedChange {
        action: "create",
        policy: format!("{ns}/{name}"),
        why: format!(
            "no rule of {} comes close; a new policy selecting {} by its stable labels adds the allowance (policies are additive)",
            side.isolated_by.join(", "),
            subject_ep.id
        ),
        yaml: yaml::to_yaml(&obj),
    })
}

#[allow(clippy::too_many_arguments)]
fn propose(
    engine: &Engine,
    sources: &Sources,
    opts: &LoadOptions,
    src: EpId,
    dst: EpId,
    port: Option<u16>,
    protocol: Protocol,
    ex: &netfence_engine::Explanation,
) -> Option<Proposal> {
    let ip_query = |ep: EpId| engine.endpoint(ep).ip;
    let mut changes = Vec::new();
    let egress_blocks = matches!(ex.egress.state, SideState::Isolated)
        && !covers(&ex.egress.allowed, port, protocol);
    let ingress_blocks = matches!(ex.ingress.state, SideState::Isolated)
        && !covers(&ex.ingress.allowed, port, protocol);
    if egress_blocks {
        changes.extend(propose_side(
            engine,
            sources,
            &ex.egress,
            src,
            dst,
            dst,
            port,
            protocol,
            ip_query(dst),
        ));
    }
    if ingress_blocks {
        changes.extend(propose_side(
            engine,
            sources,
            &ex.ingress,
            dst,
            src,
            dst,
            port,
            protocol,
            ip_query(src),
        ));
    }
    if changes.is_empty() {
        return None;
    }
    // Verify: the input with the changes as overlays, asked of the engine.
    let unverified = |changes| Proposal {
        changes,
        verified: false,
        also_opens: Vec::new(),
        also_opens_total: 0,
    };
    let Ok(cluster) = with_overlays(engine.cluster, sources, opts, &changes) else {
        return Some(unverified(changes));
    };
    let after = Engine::new(&cluster);
    let (s2, d2) = match (
        after.find(&engine.endpoint(src).id),
        after.find(&engine.endpoint(dst).id),
    ) {
        (Ok(s), Ok(d)) => (s, d),
        _ => return Some(unverified(changes)),
    };
    if !covers(&after.allowed(s2, d2), port, protocol) {
        return Some(unverified(changes));
    }
    let (also_opens, also_opens_total) = also_opens(engine, &after, (src, dst));
    Some(Proposal {
        changes,
        verified: true,
        also_opens,
        also_opens_total,
    })
}

/// The cluster of the input with `changes` applied as overlays. Policies alone
/// are applied to the loaded cluster (the input is not parsed again); anything
/// else reloads the whole input.
fn with_overlays(
    base: &Cluster,
    sources: &Sources,
    opts: &LoadOptions,
    changes: &[ProposedChange],
) -> Result<Cluster, Vec<netfence_model::Diagnostic>> {
    let trial = |with_text: bool| {
        let mut trial = Sources::default();
        for f in &sources.files {
            let text = if with_text {
                f.text.clone()
            } else {
                String::new()
            };
            let id = trial.add(f.name.clone(), text);
            trial.files[id.0 as usize].overlay = f.overlay;
        }
        for (i, c) in changes.iter().enumerate() {
            let id = trial.add(format!("<proposal {}>", i + 1), c.yaml.clone());
            trial.files[id.0 as usize].overlay = true;
        }
        trial
    };
    let mut fast = trial(false);
    if let Some(result) =
        netfence_model::load_policy_overlays(base, &mut fast, sources.files.len(), opts)
    {
        return result;
    }
    netfence_model::load(&mut trial(true), opts).map(|l| l.cluster)
}

/// Pairs other than `asked` that `after` allows more of than `engine`, in
/// endpoint order: at most 20 as text, and how many there are.
///
/// Only pairs whose decision may differ are decided (`Engine::may_differ`: the
/// sources and destinations the changed policies select); pairs of
/// exception-free endpoints are decided once per joint (endpoints with the same
/// class before and after) and counted by size.
fn also_opens(engine: &Engine, after: &Engine, asked: (EpId, EpId)) -> (Vec<String>, usize) {
    const SHOWN: usize = 20;
    let n = engine.endpoints.len();
    let after_ids: Vec<Option<EpId>> = (0..n)
        .map(|a| after.find(&engine.endpoint(a).id).ok())
        .collect();
    let pairs: Vec<(EpId, EpId)> = after_ids
        .iter()
        .enumerate()
        .filter_map(|(a, a2)| a2.map(|a2| (a, a2)))
        .collect();
    let mut flags = vec![netfence_engine::MayDiffer::default(); n];
    for (&(a, _), f) in pairs.iter().zip(engine.may_differ(after, &pairs)) {
        flags[a] = f;
    }
    let special = |a: EpId, a2: EpId| !engine.exception_free(a) || !after.exception_free(a2);
    // Joints of the exception-free matched endpoints, members ascending.
    let mut joint_of: Vec<Option<usize>> = vec![None; n];
    let mut joints: Vec<Joint> = Vec::new();
    let mut joint_index: std::collections::HashMap<(usize, usize), usize> = Default::default();
    let mut specials: Vec<(EpId, EpId)> = Vec::new();
    for &(a, a2) in &pairs {
        if special(a, a2) {
            specials.push((a, a2));
            continue;
        }
        let key = (engine.class_of[a], after.class_of[a2]);
        let j = *joint_index.entry(key).or_insert_with(|| {
            joints.push(Joint {
                classes: key,
                members: Vec::new(),
                src: false,
                dst: false,
            });
            joints.len() - 1
        });
        let joint = &mut joints[j];
        joint.members.push(a);
        joint.src |= flags[a].as_src;
        joint.dst |= flags[a].as_dst;
        joint_of[a] = Some(j);
    }
    // What each joint gains towards each joint (between distinct members).
    let dst_joints: Vec<usize> = (0..joints.len()).filter(|&k| joints[k].dst).collect();
    let all_joints: Vec<usize> = (0..joints.len()).collect();
    let gains: Vec<Vec<(usize, ConnSet)>> = joints
        .iter()
        .map(|jj| {
            let towards = if jj.src { &all_joints } else { &dst_joints };
            towards
                .iter()
                .filter_map(|&k| {
                    let kk = &joints[k];
                    let now = after.class_pair(jj.classes.1, kk.classes.1);
                    if now.is_empty() {
                        return None;
                    }
                    let gained = now.difference(&engine.class_pair(jj.classes.0, kk.classes.0));
                    (!gained.is_empty()).then_some((k, gained))
                })
                .collect()
        })
        .collect();
    let mut before_decisions = CachedDecisions::new(engine);
    let mut after_decisions = CachedDecisions::new(after);
    let mut gained_by_pair = |a: EpId, b: EpId| -> Option<ConnSet> {
        let (a2, b2) = (after_ids[a]?, after_ids[b]?);
        if a == b || (a, b) == asked || !(flags[a].as_src || flags[b].as_dst) {
            return None;
        }
        let gained = after_decisions
            .allowed(a2, b2)
            .difference(&before_decisions.allowed(a, b));
        (!gained.is_empty()).then_some(gained)
    };
    let is_special = |e: EpId| joint_of[e].is_none() && after_ids[e].is_some();
    let mut total = 0;
    // Joint to joint: every member pair but a member with itself and `asked`.
    for (j, row) in gains.iter().enumerate() {
        for (k, _) in row {
            let (x, y) = (joints[j].members.len(), joints[*k].members.len());
            total += if j == *k { x * (x - 1) } else { x * y };
            if asked.0 != asked.1 && joint_of[asked.0] == Some(j) && joint_of[asked.1] == Some(*k) {
                total -= 1;
            }
        }
    }
    // Pairs with a special endpoint, one by one.
    for &(x, _) in &specials {
        for b in 0..n {
            total += usize::from(gained_by_pair(x, b).is_some());
            if !is_special(b) {
                total += usize::from(gained_by_pair(b, x).is_some());
            }
        }
    }
    // The first pairs in endpoint order.
    let mut shown = Vec::new();
    for a in 0..n {
        if shown.len() >= SHOWN {
            break;
        }
        let mut row: Vec<(EpId, ConnSet)> = Vec::new();
        match joint_of[a] {
            None if after_ids[a].is_some() => {
                row.extend((0..n).filter_map(|b| gained_by_pair(a, b).map(|g| (b, g))));
            }
            None => continue,
            Some(j) => {
                for (k, gained) in &gains[j] {
                    row.extend(
                        joints[*k]
                            .members
                            .iter()
                            .filter(|&&b| b != a && (a, b) != asked)
                            .map(|&b| (b, gained.clone())),
                    );
                }
                for &(x, _) in &specials {
                    if let Some(g) = gained_by_pair(a, x) {
                        row.push((x, g));
                    }
                }
                row.sort_by_key(|(b, _)| *b);
            }
        }
        for (b, gained) in row.into_iter().take(SHOWN - shown.len()) {
            shown.push(format!(
                "{} -> {}: {gained}",
                engine.endpoint(a).id,
                engine.endpoint(b).id
            ));
        }
    }
    (shown, total)
}

/// Endpoints with the same class before and after a change (see `also_opens`).
struct Joint {
    classes: (usize, usize),
    members: Vec<EpId>,
    /// Some member may differ as a source / as a destination.
    src: bool,
    dst: bool,
}

fn covers(set: &ConnSet, port: Option<u16>, protocol: Protocol) -> bool {
    match port {
        Some(p) => set.allows(protocol, p),
        None => !set.is_empty(),
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
    let mark = if ok { "ok  " } else { "DENY" };
    match (&side.state, side.exception) {
        (SideState::Exception, Some(e)) => {
            let _ = writeln!(out, "  [{mark}] {title}: {}", crate::exception_text(e));
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
