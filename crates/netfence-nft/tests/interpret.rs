//! The compiled ruleset, interpreted packet by packet as nftables would, against
//! the engine, on random policy sets. The lab proves the same on a real kernel for
//! fixed scenarios; this covers the compiler's address partition, range merging,
//! named ports, ipBlock excepts and other protocols on thousands of random inputs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::IpAddr;

use netfence_engine::Engine;
use netfence_model::{LoadOptions, Protocol, load_texts};
use netfence_nft::ruleset::{Element, Family, Key, Part, Ruleset, Stmt, Verdict, ip_key};
use netfence_nft::{CompileOptions, compile};
use proptest::prelude::*;

/// A new connection's first packet.
struct Packet {
    src: IpAddr,
    dst: IpAddr,
    /// `tcp`, `udp`, `sctp`, or `icmp`.
    proto: &'static str,
    dport: u16,
}

enum Value<'a> {
    Addr(Family, u128),
    Name(&'a str),
    Port(u16),
}

fn key_value(key: Key, p: &Packet) -> Option<Value<'_>> {
    let addr = |ip: IpAddr, f: Family| (Family::of(ip) == f).then(|| Value::Addr(f, ip_key(ip)));
    match key {
        Key::Saddr(f) => addr(p.src, f),
        Key::Daddr(f) => addr(p.dst, f),
        Key::L4proto => Some(Value::Name(p.proto)),
        Key::Dport => Some(Value::Port(p.dport)),
        // Address mode: no interfaces.
        Key::Iifname | Key::Oifname => None,
    }
}

fn part_matches(part: &Part, v: &Value) -> bool {
    match (part, v) {
        (Part::Addrs(f, lo, hi), Value::Addr(g, a)) => f == g && lo <= a && a <= hi,
        (Part::Proto(p), Value::Name(n)) => p == n,
        (Part::Ports(lo, hi), Value::Port(x)) => lo <= x && x <= hi,
        _ => false,
    }
}

fn lookup<'r>(rs: &'r Ruleset, set: &str, keys: &[Key], p: &Packet) -> Option<&'r Element> {
    let values: Vec<Value> = keys
        .iter()
        .map(|k| key_value(*k, p))
        .collect::<Option<_>>()?;
    let matches: Vec<&Element> = rs.sets[set]
        .elements
        .iter()
        .filter(|e| {
            e.key.len() == values.len()
                && e.key.iter().zip(&values).all(|(k, v)| part_matches(k, v))
        })
        .collect();
    // Interval sets must never hold overlapping elements.
    assert!(
        matches.len() <= 1,
        "overlapping elements in {set}: {matches:?}"
    );
    matches.first().copied()
}

/// Runs a chain; `true` = accepted.
fn run(rs: &Ruleset, chain: &str, p: &Packet, depth: usize) -> bool {
    assert!(depth < 16, "goto loop");
    'rules: for rule in &rs.chains[chain].rules {
        for stmt in &rule.stmts {
            let verdict = match stmt {
                Stmt::CtStateEstablished | Stmt::CtStateInvalid | Stmt::CtMark(_) => {
                    continue 'rules;
                }
                Stmt::IfnamePrefix { .. } => continue 'rules,
                // Every address here is routed back where it came from.
                Stmt::NoRouteBackToSource => continue 'rules,
                Stmt::NotPortProtocol => {
                    if ["tcp", "udp", "sctp"].contains(&p.proto) {
                        continue 'rules;
                    }
                    continue;
                }
                Stmt::Lookup { keys, set } => {
                    if lookup(rs, set, keys, p).is_none() {
                        continue 'rules;
                    }
                    continue;
                }
                Stmt::NotInSet { keys, set } => {
                    if lookup(rs, set, keys, p).is_some() {
                        continue 'rules;
                    }
                    continue;
                }
                Stmt::Vmap { keys, map } => match lookup(rs, map, keys, p) {
                    None => continue 'rules,
                    Some(e) => e.value.clone().unwrap(),
                },
                Stmt::Remember { .. } | Stmt::Counter => continue,
                // A first packet is never over the record rate.
                Stmt::RateOver { .. } => continue 'rules,
                Stmt::Verdict(v) => v.clone(),
            };
            return match verdict {
                Verdict::Accept => true,
                Verdict::Drop => false,
                Verdict::Goto(c) => run(rs, &c, p, depth + 1),
            };
        }
    }
    // Only base chains end without a verdict: their policy is accept.
    true
}

fn forward(rs: &Ruleset) -> &str {
    rs.chains
        .keys()
        .find(|k| k.starts_with("forward_"))
        .unwrap()
        .as_str()
}

const MODEL: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: red, labels: {team: red}}
---
apiVersion: v1
kind: Namespace
metadata: {name: blue, labels: {team: blue}}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: red, labels: {app: web}}
spec: {containers: [{name: c, image: i, ports: [{name: http, containerPort: 80}]}]}
status: {podIP: 10.0.0.1}
---
apiVersion: v1
kind: Pod
metadata: {name: db, namespace: red, labels: {app: db}}
spec: {containers: [{name: c, image: i, ports: [{name: pg, containerPort: 5432}, {name: dns, containerPort: 53, protocol: UDP}]}]}
status: {podIP: 10.0.0.2}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: blue, labels: {app: web}}
spec: {containers: [{name: c, image: i, ports: [{name: http, containerPort: 8080}]}]}
status: {podIP: 10.0.0.3}
---
apiVersion: v1
kind: Pod
metadata: {name: db, namespace: blue, labels: {app: db}}
spec: {containers: [{name: c, image: i, ports: [{name: pg, containerPort: 5433}]}]}
status: {podIP: 10.0.1.7}
"#;

const PEERS: &[&str] = &[
    "- podSelector: {matchLabels: {app: web}}",
    "- podSelector: {matchLabels: {app: db}}",
    "- namespaceSelector: {matchLabels: {team: blue}}",
    "- namespaceSelector: {matchLabels: {team: red}}\n      podSelector: {matchLabels: {app: db}}",
    "- namespaceSelector: {}",
    "- ipBlock: {cidr: 10.0.0.0/30, except: [10.0.0.2/32]}",
    "- ipBlock: {cidr: 0.0.0.0/0, except: [10.0.0.0/8]}",
    "- ipBlock: {cidr: 192.0.2.0/24}",
];

const PORTS: &[&str] = &[
    "- {port: 80}",
    "- {protocol: UDP, port: 53}",
    "- {port: http}",
    "- {port: pg}",
    "- {port: 5000, endPort: 6000}",
    "- {protocol: SCTP}",
];

/// A rule as indices into PEERS and PORTS (`None`: the field is absent).
type RuleChoice = (Option<Vec<usize>>, Option<Vec<usize>>);

fn policy_strategy(i: usize) -> impl Strategy<Value = String> {
    (
        0..2usize,
        0..3usize,
        0..4usize,
        prop::collection::vec(
            (
                prop::option::of(prop::collection::vec(0..PEERS.len(), 1..3)),
                prop::option::of(prop::collection::vec(0..PORTS.len(), 1..3)),
            ),
            0..3,
        ),
        prop::collection::vec(
            (
                prop::option::of(prop::collection::vec(0..PEERS.len(), 1..3)),
                prop::option::of(prop::collection::vec(0..PORTS.len(), 1..3)),
            ),
            0..3,
        ),
    )
        .prop_map(move |(ns, sel, types, ingress, egress)| {
            let ns = ["red", "blue"][ns];
            let sel = ["{}", "{matchLabels: {app: web}}", "{matchLabels: {app: db}}"][sel];
            let types = ["", "  policyTypes: [Ingress]\n", "  policyTypes: [Egress]\n", "  policyTypes: [Ingress, Egress]\n"][types];
            let rules = |key: &str, peer_key: &str, rules: &[RuleChoice]| {
                if rules.is_empty() {
                    return String::new();
                }
                let mut s = format!("  {key}:\n");
                for (peers, ports) in rules {
                    if peers.is_none() && ports.is_none() {
                        s.push_str("  - {}\n");
                        continue;
                    }
                    let mut first = true;
                    let mut item = |text: String| {
                        s.push_str(if first { "  - " } else { "    " });
                        first = false;
                        s.push_str(&text);
                    };
                    if let Some(peers) = peers {
                        let list: String = peers.iter().map(|&p| format!("    {}\n", PEERS[p])).collect();
                        item(format!("{peer_key}:\n{list}"));
                    }
                    if let Some(ports) = ports {
                        let list: String = ports.iter().map(|&p| format!("    {}\n", PORTS[p])).collect();
                        item(format!("ports:\n{list}"));
                    }
                }
                s
            };
            format!(
                "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: p{i}, namespace: {ns}}}\nspec:\n  podSelector: {sel}\n{types}{}{}",
                rules("ingress", "from", &ingress),
                rules("egress", "to", &egress)
            )
        })
}

fn cluster_strategy() -> impl Strategy<Value = String> {
    (0..4usize).prop_flat_map(|n| {
        (0..n)
            .map(policy_strategy)
            .collect::<Vec<_>>()
            .prop_map(|ps| ps.concat())
    })
}

const ADDRESSES: &[&str] = &[
    "10.0.0.1",
    "10.0.0.2",
    "10.0.0.3",
    "10.0.1.7",
    "192.0.2.9",
    "8.8.8.8",
    "10.9.9.9",
    "10.0.0.0",
];
const PROBES: &[(&str, u16)] = &[
    ("tcp", 80),
    ("tcp", 8080),
    ("tcp", 5432),
    ("tcp", 5500),
    ("udp", 53),
    ("sctp", 80),
    ("icmp", 0),
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn the_ruleset_decides_like_the_engine(policies in cluster_strategy()) {
        let (sources, loaded) = load_texts(&[("model.yaml", MODEL), ("policies.yaml", &policies)], &LoadOptions::default());
        let loaded = match loaded {
            Ok(l) => l,
            Err(d) => panic!("{}\n{policies}", netfence_model::diag::render_short(&d, &sources)),
        };
        let engine = Engine::new(&loaded.cluster);
        let compiled = compile(&engine, &CompileOptions::default());
        let rs = &compiled.ruleset;
        let base = forward(rs);
        for src in ADDRESSES {
            for dst in ADDRESSES {
                let (src_ip, dst_ip): (IpAddr, IpAddr) = (src.parse().unwrap(), dst.parse().unwrap());
                if src == dst {
                    continue;
                }
                let (s, d) = (engine.endpoint_for_ip(src_ip), engine.endpoint_for_ip(dst_ip));
                for &(proto, dport) in PROBES {
                    let allowed = engine.allowed(s, d);
                    let expected = match proto {
                        "tcp" => allowed.allows(Protocol::Tcp, dport),
                        "udp" => allowed.allows(Protocol::Udp, dport),
                        "sctp" => allowed.allows(Protocol::Sctp, dport),
                        _ => allowed.other,
                    };
                    let packet = Packet { src: src_ip, dst: dst_ip, proto, dport };
                    let got = run(rs, base, &packet, 0);
                    prop_assert_eq!(got, expected, "{} -> {} {} {}\n{}\n{}", src, dst, proto, dport, policies, compiled.to_nft());
                }
            }
        }
    }
}
