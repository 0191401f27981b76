//! The engine against the pair-by-pair reference evaluator on random clusters.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use netfence_engine::reference::{self, End};
use netfence_engine::{EndpointKind, Engine, MatrixFilter, MayDiffer};
use netfence_model::*;
use proptest::prelude::*;

fn loc() -> FieldLoc {
    FieldLoc {
        origin: ObjectOrigin {
            file: FileId(0),
            document: 0,
            prefix: Vec::new(),
        },
        path: Vec::new(),
    }
}

fn labels_strategy() -> impl Strategy<Value = Labels> {
    (prop::option::of(0..3u8), prop::option::of(0..2u8)).prop_map(|(app, tier)| {
        let mut l = Labels::new();
        if let Some(a) = app {
            l.insert("app".into(), ["a", "b", "c"][a as usize].into());
        }
        if let Some(t) = tier {
            l.insert("tier".into(), ["x", "y"][t as usize].into());
        }
        l
    })
}

fn selector_strategy(
    keys: &'static [&'static str],
    values: &'static [&'static str],
) -> impl Strategy<Value = Selector> {
    prop::collection::vec(
        (
            0..keys.len(),
            0..4u8,
            prop::collection::btree_set(0..values.len(), 1..3),
        ),
        0..3,
    )
    .prop_map(move |reqs| {
        let mut requirements: Vec<Requirement> = reqs
            .into_iter()
            .map(|(k, op, vals)| {
                let operator = [
                    Operator::In,
                    Operator::NotIn,
                    Operator::Exists,
                    Operator::DoesNotExist,
                ][op as usize];
                let values = match operator {
                    Operator::In | Operator::NotIn => {
                        vals.into_iter().map(|v| values[v].to_string()).collect()
                    }
                    _ => BTreeSet::new(),
                };
                Requirement {
                    key: keys[k].into(),
                    operator,
                    values,
                }
            })
            .collect();
        requirements.sort();
        requirements.dedup();
        Selector { requirements }
    })
}

const BLOCKS: &[(&str, &[&str])] = &[
    ("10.0.0.0/30", &[]),
    ("10.0.0.0/29", &["10.0.0.2/31"]),
    ("8.0.0.0/8", &[]),
    ("0.0.0.0/0", &["10.0.0.0/8"]),
    ("192.168.0.0/31", &[]),
    ("::/0", &[]),
];

fn peer_strategy() -> impl Strategy<Value = Peer> {
    prop_oneof![
        (
            prop::option::of(selector_strategy(&["team"], &["a", "b"])),
            prop::option::of(selector_strategy(&["app", "tier"], &["a", "b", "x"]))
        )
            .prop_filter("a pod peer needs a selector", |(n, p)| n.is_some()
                || p.is_some())
            .prop_map(|(namespace_selector, pod_selector)| Peer {
                kind: PeerKind::Pods {
                    namespace_selector,
                    pod_selector
                },
                loc: loc()
            }),
        (0..BLOCKS.len()).prop_map(|i| Peer {
            kind: PeerKind::IpBlock {
                cidr: BLOCKS[i].0.parse().unwrap(),
                except: BLOCKS[i].1.iter().map(|e| e.parse().unwrap()).collect(),
            },
            loc: loc(),
        }),
    ]
}

fn port_strategy() -> impl Strategy<Value = PortSpec> {
    (0..3usize, 0..4u8, 1..4u16, 0..2u16).prop_map(|(proto, kind, lo, span)| PortSpec {
        protocol: Protocol::ALL[proto],
        port: match kind {
            0 => None,
            1 => Some(PortRef::Range { lo, hi: lo + span }),
            2 => Some(PortRef::Named("web".into())),
            _ => Some(PortRef::Named("dns".into())),
        },
        loc: loc(),
    })
}

fn rule_strategy() -> impl Strategy<Value = Rule> {
    (
        prop::option::of(prop::collection::vec(peer_strategy(), 1..3)),
        prop::option::of(prop::collection::vec(port_strategy(), 1..3)),
    )
        .prop_map(|(peers, ports)| Rule {
            peers,
            ports,
            loc: loc(),
        })
}

fn policy_strategy() -> impl Strategy<Value = Policy> {
    (
        0..3usize,
        selector_strategy(&["app", "tier"], &["a", "b", "x"]),
        any::<bool>(),
        any::<bool>(),
        prop::collection::vec(rule_strategy(), 0..3),
        prop::collection::vec(rule_strategy(), 0..3),
    )
        .prop_map(|(ns, pod_selector, ing, eg, ingress, egress)| Policy {
            namespace: format!("ns{ns}"),
            name: "p".into(),
            pod_selector,
            ingress_isolates: ing,
            egress_isolates: eg,
            policy_types_written: true,
            ingress,
            egress,
            origin: loc().origin,
            loc: loc(),
        })
}

const NETWORKS: &[&str] = &[
    "10.0.0.0/30",
    "10.0.0.4/32",
    "0.0.0.0/0",
    "192.168.0.0/31",
    "::/0",
];

fn admin_peer_strategy(egress: bool) -> impl Strategy<Value = AdminPeer> {
    let ns = || selector_strategy(&["team"], &["a", "b"]);
    let pods = || selector_strategy(&["app", "tier"], &["a", "b", "x"]);
    let kind = prop_oneof![
        ns().prop_map(AdminPeerKind::Namespaces),
        (ns(), pods()).prop_map(|(namespace_selector, pod_selector)| AdminPeerKind::Pods {
            namespace_selector,
            pod_selector
        }),
        prop::collection::vec(0..NETWORKS.len(), 1..3).prop_map(|v| AdminPeerKind::Networks(
            v.into_iter()
                .map(|i| NETWORKS[i].parse().unwrap())
                .collect()
        )),
        selector_strategy(&["zone"], &["a", "b"]).prop_map(AdminPeerKind::Nodes),
    ];
    kind.prop_filter("ingress peers are pods", move |k| {
        egress || matches!(k, AdminPeerKind::Namespaces(_) | AdminPeerKind::Pods { .. })
    })
    .prop_map(|kind| AdminPeer { kind, loc: loc() })
}

fn admin_port_strategy() -> impl Strategy<Value = AdminPort> {
    (0..3usize, 0..3u8, 1..4u16, 0..2u16).prop_map(|(proto, kind, lo, span)| match kind {
        0 => AdminPort::Named("web".into()),
        1 => AdminPort::Named("dns".into()),
        _ => AdminPort::Numbers {
            protocol: Protocol::ALL[proto],
            lo,
            hi: lo + span,
        },
    })
}

fn admin_rule_strategy(egress: bool) -> impl Strategy<Value = AdminRule> {
    (
        0..3u8,
        prop::collection::vec(admin_peer_strategy(egress), 1..3),
        prop::option::of(prop::collection::vec(admin_port_strategy(), 1..3)),
    )
        .prop_map(|(action, peers, ports)| AdminRule {
            name: None,
            action: [AdminAction::Accept, AdminAction::Deny, AdminAction::Pass][action as usize],
            peers,
            ports,
            loc: loc(),
        })
}

fn admin_policy_strategy() -> impl Strategy<Value = AdminPolicy> {
    (
        any::<bool>(),
        0..3u32,
        prop_oneof![
            selector_strategy(&["team"], &["a", "b"]).prop_map(AdminSubject::Namespaces),
            (
                selector_strategy(&["team"], &["a", "b"]),
                selector_strategy(&["app", "tier"], &["a", "b", "x"])
            )
                .prop_map(|(namespace_selector, pod_selector)| AdminSubject::Pods {
                    namespace_selector,
                    pod_selector
                }),
        ],
        prop::collection::vec(admin_rule_strategy(false), 0..3),
        prop::collection::vec(admin_rule_strategy(true), 0..3),
    )
        .prop_map(|(admin, priority, subject, ingress, egress)| AdminPolicy {
            kind: "ClusterNetworkPolicy".into(),
            api: AdminApi::V1alpha2,
            name: String::new(),
            tier: if admin {
                AdminTier::Admin
            } else {
                AdminTier::Baseline
            },
            priority: Some(priority),
            subject,
            ingress,
            egress,
            origin: loc().origin,
            loc: loc(),
        })
}

/// Random clusters with admin and baseline policies mixed in, sorted into
/// evaluation order as the loader does; the NetworkPolicy-tier flag random too.
fn admin_cluster_strategy() -> impl Strategy<Value = Cluster> {
    (
        cluster_strategy(),
        prop::collection::vec(admin_policy_strategy(), 1..4),
        any::<bool>(),
        prop::collection::vec(any::<bool>(), 4),
    )
        .prop_map(|(mut cluster, mut admin, final_flag, names)| {
            // Names collide on purpose (`a`/`b`): ties are broken by name.
            for (i, a) in admin.iter_mut().enumerate() {
                a.name = format!("{}{i}", if names[i] { "a" } else { "b" });
            }
            admin.sort_by(|a, b| a.order_key().cmp(&b.order_key()));
            cluster.admin_policies = admin;
            cluster.semantics.np_selected_is_final = final_flag;
            for (i, n) in cluster.nodes.iter_mut().enumerate() {
                n.labels.insert("zone".into(), ["a", "b"][i % 2].into());
            }
            cluster
        })
}

fn pod_strategy() -> impl Strategy<Value = (usize, Labels, u8, usize, Vec<usize>, bool)> {
    (
        0..3usize,
        labels_strategy(),
        0..5u8,
        0..2usize,
        prop::collection::vec(0..4usize, 0..3),
        prop::bool::weighted(0.15),
    )
}

const PORTS: &[(&str, Protocol, u16)] = &[
    ("web", Protocol::Tcp, 1),
    ("web", Protocol::Tcp, 2),
    ("dns", Protocol::Udp, 3),
    ("web", Protocol::Udp, 2),
];

fn cluster_strategy() -> impl Strategy<Value = Cluster> {
    (
        prop::collection::vec(prop::option::of(0..2u8), 3),
        prop::collection::vec(pod_strategy(), 1..6),
        prop::collection::vec(policy_strategy(), 0..4),
        any::<[bool; 3]>(),
    )
        .prop_map(|(ns_teams, pods, mut policies, flags)| {
            let namespaces = ns_teams
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    let mut labels =
                        Labels::from([(NAMESPACE_NAME_LABEL.to_string(), format!("ns{i}"))]);
                    if let Some(t) = t {
                        labels.insert("team".into(), ["a", "b"][*t as usize].into());
                    }
                    Namespace {
                        name: format!("ns{i}"),
                        labels,
                        labels_known: true,
                        origin: None,
                    }
                })
                .collect();
            let nodes: Vec<Node> = (0..2)
                .map(|i| Node {
                    name: format!("n{i}"),
                    labels: Labels::new(),
                    addresses: vec![format!("192.168.0.{i}").parse().unwrap()],
                    origin: None,
                })
                .collect();
            let mut endpoints: Vec<Endpoint> = pods
                .into_iter()
                .enumerate()
                .map(|(i, (ns, labels, ip, node, ports, host))| {
                    let ips: Vec<IpAddr> = if host {
                        vec![format!("192.168.0.{node}").parse().unwrap()]
                    } else if ip == 0 {
                        Vec::new()
                    } else {
                        vec![format!("10.0.0.{ip}").parse().unwrap()]
                    };
                    let mut ports: Vec<ContainerPort> = ports
                        .into_iter()
                        .map(|p| ContainerPort {
                            name: Some(PORTS[p].0.into()),
                            protocol: PORTS[p].1,
                            port: PORTS[p].2,
                        })
                        .collect();
                    ports.dedup();
                    Endpoint {
                        id: format!("ns{ns}/p{i}"),
                        namespace: format!("ns{ns}"),
                        name: format!("p{i}"),
                        source: EndpointSource::Pod,
                        labels,
                        ips,
                        node: Some(format!("n{node}")),
                        ports,
                        host_network: host,
                        workload: None,
                        origin: None,
                    }
                })
                .collect();
            endpoints.sort_by(|a, b| a.id.cmp(&b.id));
            for (i, p) in policies.iter_mut().enumerate() {
                p.name = format!("p{i}");
            }
            Cluster {
                namespaces,
                nodes,
                endpoints,
                services: Vec::new(),
                policies,
                admin_policies: Vec::new(),
                unanalyzed: Vec::new(),
                semantics: Semantics {
                    ip_block_matches_pods: flags[0],
                    host_network_as_node: flags[1],
                    egress_to_own_node: flags[2],
                    np_selected_is_final: false,
                },
                cluster_dns: Default::default(),
            }
        })
}

/// The oracle's view of an engine endpoint; external groups get an address that
/// is no pod's or node's.
fn oracle_end(engine: &Engine, ep: usize, probes: &[IpAddr]) -> Option<End> {
    let e = engine.endpoint(ep);
    match e.kind {
        EndpointKind::Node => Some(End::Node(e.model_index?)),
        EndpointKind::External => probes
            .iter()
            .copied()
            .find(|&ip| engine.endpoint_for_ip(ip) == ep)
            .map(End::Ip),
        _ => Some(End::Pod(e.model_index?)),
    }
}

const PROBE_IPS: &[&str] = &[
    "10.0.0.1",
    "10.0.0.2",
    "10.0.0.3",
    "10.0.0.4",
    "10.0.0.5",
    "10.0.0.9",
    "10.0.0.200",
    "10.9.0.1",
    "8.8.8.8",
    "1.1.1.1",
    "192.168.0.0",
    "192.168.0.1",
    "192.168.0.7",
    "2001:db8::1",
];

/// Endpoints of two engines matched as diff matches them: by id, external
/// groups by the addresses they share.
fn matched(x: &Engine, y: &Engine) -> Vec<(usize, usize)> {
    let mut out: Vec<(usize, usize)> = (0..x.endpoints.len())
        .filter(|&e| x.endpoint(e).kind != EndpointKind::External)
        .filter_map(|e| {
            (0..y.endpoints.len())
                .find(|&f| {
                    y.endpoint(f).kind != EndpointKind::External
                        && y.endpoint(f).id == x.endpoint(e).id
                })
                .map(|f| (e, f))
        })
        .collect();
    let external = |engine: &Engine, g: usize| {
        (0..engine.endpoints.len()).find(|&e| {
            engine.endpoint(e).kind == EndpointKind::External
                && engine.endpoint(e).addr_group == Some(g)
        })
    };
    for o in x.space.overlaps(&y.space) {
        if let (Some(e), Some(f)) = (external(x, o.left), external(y, o.right)) {
            out.push((e, f));
        }
    }
    out
}

/// `may_differ`'s promise: pairs of endpoints that may differ neither as source
/// nor as destination are decided alike.
fn assert_may_differ_is_sound(x: &Cluster, y: &Cluster) -> Result<(), TestCaseError> {
    let (ex, ey) = (Engine::new(x), Engine::new(y));
    let pairs = matched(&ex, &ey);
    let flags = ex.may_differ(&ey, &pairs);
    for (i, &(a, a2)) in pairs.iter().enumerate() {
        for (j, &(b, b2)) in pairs.iter().enumerate() {
            if flags[i].as_src || flags[j].as_dst {
                continue;
            }
            prop_assert_eq!(
                ex.allowed(a, b),
                ey.allowed(a2, b2),
                "{} -> {} was said not to differ",
                ex.endpoint(a).id,
                ex.endpoint(b).id
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn may_differ_is_sound(x in cluster_strategy(), y in cluster_strategy(), keep in prop::collection::vec(any::<bool>(), 4)) {
        // Unrelated versions; the same pods with other policies; some policies
        // kept, some replaced or added.
        assert_may_differ_is_sound(&x, &y)?;
        let mut z = x.clone();
        z.policies = y.policies.clone();
        assert_may_differ_is_sound(&x, &z)?;
        let mut w = x.clone();
        for (i, p) in y.policies.iter().enumerate() {
            match w.policies.get_mut(i) {
                Some(q) if keep[i] => *q = p.clone(),
                Some(_) => {}
                None => w.policies.push(p.clone()),
            }
        }
        assert_may_differ_is_sound(&x, &w)?;
        // The same policies; some pods with another's labels, address, node or
        // ports; some namespaces relabelled.
        let mut v = x.clone();
        for (i, e) in v.endpoints.iter_mut().enumerate() {
            if let Some(f) = y.endpoints.get(i) {
                match i % 5 {
                    0 if keep[0] => e.labels = f.labels.clone(),
                    1 if keep[1] => e.ips = f.ips.clone(),
                    2 if keep[2] => (e.node, e.host_network) = (f.node.clone(), f.host_network),
                    3 if keep[3] => e.ports = f.ports.clone(),
                    _ => {}
                }
            }
        }
        if keep[0] {
            v.namespaces = y.namespaces.clone();
        }
        assert_may_differ_is_sound(&x, &v)?;
        // Nothing changed: nothing may differ.
        let (ex, ex2) = (Engine::new(&x), Engine::new(&x));
        let pairs = matched(&ex, &ex2);
        prop_assert!(ex.may_differ(&ex2, &pairs).iter().all(|f| *f == MayDiffer::default()));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 10_000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn engine_agrees_with_reference(cluster in cluster_strategy()) {
        let engine = Engine::new(&cluster);
        let probes: Vec<IpAddr> = PROBE_IPS.iter().map(|s| s.parse().unwrap()).collect();
        let ends: Vec<(usize, End)> = (0..engine.endpoints.len())
            .filter_map(|e| oracle_end(&engine, e, &probes).map(|o| (e, o)))
            .collect();
        for &(s, so) in &ends {
            for &(d, dof) in &ends {
                let set = engine.allowed(s, d);
                for proto in Protocol::ALL {
                    for port in 1..=4u16 {
                        let want = reference::allowed(&cluster, so, dof, proto, port);
                        prop_assert_eq!(set.allows(proto, port), want,
                            "{} -> {} {}/{}: engine {}, reference {}", engine.endpoint(s).id, engine.endpoint(d).id, proto, port, set, want);
                    }
                }
            }
        }
    }

    /// The selector index behind `selected_by`, `peer_members` and
    /// `pods_matching` finds exactly the endpoints the spec says.
    #[test]
    fn selections_agree_with_reference(cluster in cluster_strategy()) {
        let engine = Engine::new(&cluster);
        let probes: Vec<IpAddr> = PROBE_IPS.iter().map(|s| s.parse().unwrap()).collect();
        let ends: Vec<(usize, End)> = (0..engine.endpoints.len())
            .filter_map(|e| oracle_end(&engine, e, &probes).map(|o| (e, o)))
            .collect();
        let expect = |f: &dyn Fn(End) -> bool| -> Vec<usize> {
            ends.iter().filter(|(_, o)| f(*o)).map(|(e, _)| *e).collect()
        };
        let known = |eps: Vec<usize>| -> Vec<usize> {
            eps.into_iter().filter(|e| ends.iter().any(|(x, _)| x == e)).collect()
        };
        for (pi, p) in cluster.policies.iter().enumerate() {
            prop_assert_eq!(known(engine.selected_by(pi)), expect(&|o| reference::selects(&cluster, p, o)));
            for dir in Direction::BOTH {
                for (ri, rule) in p.rules(dir).iter().enumerate() {
                    for (k, peer) in rule.peers.iter().flatten().enumerate() {
                        let want = expect(&|o| reference::peer_matches(&cluster, p, &peer.kind, o));
                        prop_assert_eq!(known(engine.peer_members(pi, dir, ri, k)), want.clone());
                        if let PeerKind::Pods { namespace_selector, pod_selector } = &peer.kind {
                            let found = engine.pods_matching(&p.namespace, namespace_selector.as_ref(), pod_selector.as_ref());
                            prop_assert_eq!(known(found), want);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn grouped_matrix_covers_each_pair_once(cluster in cluster_strategy()) {
        assert_matrix_covers_each_pair_once(&cluster)?;
    }

}

/// The grouped matrix lists every ordered pair once, with `allowed`'s answer.
fn assert_matrix_covers_each_pair_once(cluster: &Cluster) -> Result<(), TestCaseError> {
    let engine = Engine::new(cluster);
    let m = engine.matrix(&MatrixFilter::default());
    let mut seen: BTreeMap<(String, String), String> = BTreeMap::new();
    for entry in &m.connections {
        for s in &entry.src {
            for d in &entry.dst {
                if s == d {
                    continue;
                }
                prop_assert!(
                    seen.insert((s.clone(), d.clone()), entry.allowed.to_string())
                        .is_none(),
                    "pair {s} -> {d} listed twice"
                );
            }
        }
    }
    for s in 0..engine.endpoints.len() {
        for d in 0..engine.endpoints.len() {
            if s == d {
                continue;
            }
            let key = (engine.endpoint(s).id.clone(), engine.endpoint(d).id.clone());
            let allowed = engine.allowed(s, d);
            let listed = seen.get(&key).cloned().unwrap_or_else(|| "none".into());
            prop_assert_eq!(
                listed,
                allowed.to_string(),
                "{:?} {}",
                key,
                serde_json::to_string(&m.connections).unwrap()
            );
        }
    }
    Ok(())
}

/// Admin and baseline policies mixed with NetworkPolicies. The case count is
/// small for CI (`PROPTEST_CASES` overrides it; 10,000 were run by hand).
fn admin_cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(400)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: admin_cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn may_differ_is_sound_with_admin_tiers(x in admin_cluster_strategy(), y in admin_cluster_strategy()) {
        assert_may_differ_is_sound(&x, &y)?;
        // The same pods and NetworkPolicies, other admin policies; and nodes
        // relabelled (`nodes` peers read node labels).
        let mut z = x.clone();
        z.admin_policies = y.admin_policies.clone();
        assert_may_differ_is_sound(&x, &z)?;
        let mut w = x.clone();
        for n in &mut w.nodes {
            n.labels.insert("zone".into(), "b".into());
        }
        assert_may_differ_is_sound(&x, &w)?;
    }

    #[test]
    fn grouped_matrix_covers_each_pair_once_with_admin_tiers(cluster in admin_cluster_strategy()) {
        assert_matrix_covers_each_pair_once(&cluster)?;
    }

    #[test]
    fn engine_agrees_with_reference_with_admin_tiers(cluster in admin_cluster_strategy()) {
        let engine = Engine::new(&cluster);
        let probes: Vec<IpAddr> = PROBE_IPS.iter().map(|s| s.parse().unwrap()).collect();
        let ends: Vec<(usize, End)> = (0..engine.endpoints.len())
            .filter_map(|e| oracle_end(&engine, e, &probes).map(|o| (e, o)))
            .collect();
        let mut cached = netfence_engine::CachedDecisions::new(&engine);
        for &(s, so) in &ends {
            for &(d, dof) in &ends {
                let set = engine.allowed(s, d);
                prop_assert_eq!(&cached.allowed(s, d), &set);
                for proto in Protocol::ALL {
                    for port in 1..=4u16 {
                        let want = reference::allowed(&cluster, so, dof, proto, port);
                        prop_assert_eq!(set.allows(proto, port), want,
                            "{} -> {} {}/{}: engine {}, reference {}", engine.endpoint(s).id, engine.endpoint(d).id, proto, port, set, want);
                    }
                }
            }
        }
    }
}
