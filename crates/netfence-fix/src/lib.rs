//! What to change: for a denied connection, the smallest edit of the input's
//! policies that allows it (add a port to a rule that admits the peer, add the
//! peer to a rule that opens the port, or a new policy), verified by asking the
//! engine about the input with the edit applied, with what else the edit opens.
//! `check` shows it; lint quotes it in its help.

use netfence_engine::explain::{SideExplanation, SideState};
use netfence_engine::{ConnSet, Delta, EndpointKind, Engine, EpId, PortSet};
use netfence_model::{Cluster, Direction, LoadOptions, Protocol, Sources};
use serde::Serialize;
use serde_json::{Value, json};

use netfence_text::yaml;

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
    /// Other pairs the changes would newly open (`src -> dst: conns`), at most 20.
    pub also_opens: Vec<String>,
    pub also_opens_total: usize,
}

/// The stable labels of a pod as a `matchLabels` value.
fn match_labels(labels: &netfence_model::Labels) -> serde_json::Map<String, Value> {
    netfence_model::stable_labels(labels)
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
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
            let pods = json!({"matchLabels": match_labels(&m.labels)});
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
        .map(|i| match_labels(&cluster.endpoints[i].labels))
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
    if dir == Direction::Egress && engine.is_cluster_dns(peer) && port.is_none_or(|p| p == 53) {
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
                    Some(format!(
                        "rule {} already opens the port; add {} as a peer",
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
        .map(|i| match_labels(&cluster.endpoints[i].labels))
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
pub fn propose(
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
    let verified = covers(&after.allowed(s2, d2), port, protocol);
    let (also_opens, also_opens_total) = also_opens(engine, &after, (src, dst));
    Some(Proposal {
        changes,
        verified,
        also_opens,
        also_opens_total,
    })
}

/// The cluster of the input with `changes` (NetworkPolicies) applied: only the
/// proposed manifests are parsed, and [`Cluster::with_policy_change`] derives
/// the cluster; the input is not read again.
fn with_overlays(
    base: &Cluster,
    sources: &Sources,
    opts: &LoadOptions,
    changes: &[ProposedChange],
) -> Result<Cluster, Vec<netfence_model::Diagnostic>> {
    let mut trial = Sources::default();
    for f in &sources.files {
        let id = trial.add(f.name.clone(), String::new());
        trial.files[id.0 as usize].overlay = f.overlay;
    }
    for (i, c) in changes.iter().enumerate() {
        let id = trial.add(format!("<proposal {}>", i + 1), c.yaml.clone());
        trial.files[id.0 as usize].overlay = true;
    }
    netfence_model::load_policy_overlays(base, &mut trial, sources.files.len(), opts)
        .unwrap_or_else(|| Err(Vec::new()))
}

/// Pairs other than `asked` that `after` allows more of than `engine`, in
/// endpoint order: at most 20 as text, and how many there are. Asked of
/// [`Delta`], the comparison `diff` makes, so both agree on what a change opens.
fn also_opens(engine: &Engine, after: &Engine, asked: (EpId, EpId)) -> (Vec<String>, usize) {
    const SHOWN: usize = 20;
    let delta = Delta::between(engine, after);
    let shared = &delta.matched.shared;
    let blocks = &delta.joints.blocks;
    let is_asked = |a: usize, b: usize| shared[a].before == asked.0 && shared[b].before == asked.1;
    // The pieces that open something, each with its members in endpoint order.
    let key = |i: usize| (shared[i].before, i);
    let mut opening: Vec<(ConnSet, Vec<usize>, Vec<usize>)> = Vec::new();
    let mut total = 0;
    for piece in &delta.pieces {
        let d = &delta.decisions[piece.decision];
        let gained = d.after.difference(&d.before);
        if gained.is_empty() {
            continue;
        }
        let sorted = |block: usize| {
            let mut m = blocks[block].members.clone();
            m.sort_by_key(|&i| key(i));
            m
        };
        let (srcs, dsts) = (sorted(piece.src), sorted(piece.dst));
        let asked_dsts: Vec<usize> = dsts
            .iter()
            .copied()
            .filter(|&b| shared[b].before == asked.1)
            .collect();
        let asked_here: usize = srcs
            .iter()
            .filter(|&&a| shared[a].before == asked.0)
            .map(|&a| asked_dsts.iter().filter(|&&b| b != a).count())
            .sum();
        total += delta.pair_count(piece) - asked_here;
        opening.push((gained, srcs, dsts));
    }
    // The first pairs in endpoint order: a merge of the pieces, each of which
    // lists its pairs in order.
    let mut heap = std::collections::BinaryHeap::new();
    let push = |heap: &mut std::collections::BinaryHeap<_>, p: usize, i: usize, j: usize| {
        let (_, srcs, dsts) = &opening[p];
        if let (Some(&a), Some(&b)) = (srcs.get(i), dsts.get(j)) {
            heap.push(std::cmp::Reverse((key(a), key(b), p, i, j)));
        }
    };
    for p in 0..opening.len() {
        push(&mut heap, p, 0, 0);
    }
    let mut shown = Vec::new();
    while shown.len() < SHOWN {
        let Some(std::cmp::Reverse((_, _, p, i, j))) = heap.pop() else {
            break;
        };
        let (gained, srcs, dsts) = &opening[p];
        let (a, b) = (srcs[i], dsts[j]);
        if a != b && !is_asked(a, b) {
            shown.push(format!("{} -> {}: {gained}", shared[a].id, shared[b].id));
        }
        if j + 1 < dsts.len() {
            push(&mut heap, p, i, j + 1);
        } else {
            push(&mut heap, p, i + 1, 0);
        }
    }
    (shown, total)
}

pub fn covers(set: &ConnSet, port: Option<u16>, protocol: Protocol) -> bool {
    match port {
        Some(p) => set.allows(protocol, p),
        None => !set.is_empty(),
    }
}
