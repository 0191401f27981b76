//! The diff against a brute-force oracle: on generated clusters with nodes,
//! hostNetwork pods, replicas spread over nodes and ipBlocks that match some pod
//! IPs, every pair of endpoints present on both sides whose allowed set differs
//! (asked of `Engine::allowed` pair by pair) is in exactly one change entry with
//! the same before and after sets, and no other pair is. External addresses
//! are checked the same way, one address per overlap of both sides' groups.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, HashMap};

mod common;

use common::{diff_engines, load};
use netfence_diff::Diff;
use netfence_engine::{ConnSet, EndpointKind, Engine};

/// A small deterministic generator (no dependency needed for this).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() as usize) % items.len()]
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

const CLUSTER: &str = "apiVersion: v1
kind: Namespace
metadata: {name: a, labels: {team: red}}
---
apiVersion: v1
kind: Namespace
metadata: {name: b, labels: {team: blue}}
---
apiVersion: v1
kind: Node
metadata: {name: n1}
status: {addresses: [{type: InternalIP, address: 192.168.0.1}]}
---
apiVersion: v1
kind: Node
metadata: {name: n2}
status: {addresses: [{type: InternalIP, address: 192.168.0.2}]}
---
apiVersion: v1
kind: List
items:
  - {apiVersion: v1, kind: Pod, metadata: {name: web-0, namespace: a, labels: {app: web}, ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: web-1a, uid: u, controller: true}]},
     spec: {nodeName: n1, containers: [{name: c, image: i, ports: [{name: http, containerPort: 8080}]}]}, status: {podIP: 10.0.1.10}}
  - {apiVersion: v1, kind: Pod, metadata: {name: web-1, namespace: a, labels: {app: web}, ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: web-1a, uid: u, controller: true}]},
     spec: {nodeName: n2, containers: [{name: c, image: i, ports: [{name: http, containerPort: 8080}]}]}, status: {podIP: 10.0.2.10}}
  - {apiVersion: v1, kind: Pod, metadata: {name: web-2, namespace: a, labels: {app: web}, ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: web-1a, uid: u, controller: true}]},
     spec: {nodeName: n1, containers: [{name: c, image: i, ports: [{name: http, containerPort: 8080}]}]}, status: {podIP: 10.0.1.11}}
  - {apiVersion: v1, kind: Pod, metadata: {name: api-0, namespace: a, labels: {app: api}},
     spec: {nodeName: n2, containers: [{name: c, image: i, ports: [{name: http, containerPort: 9090}]}]}, status: {podIP: 10.0.2.20}}
  - {apiVersion: v1, kind: Pod, metadata: {name: db-0, namespace: b, labels: {app: db}, ownerReferences: [{apiVersion: apps/v1, kind: StatefulSet, name: db, uid: u, controller: true}]},
     spec: {nodeName: n1, containers: [{name: c, image: i, ports: [{name: pg, containerPort: 5432}]}]}, status: {podIP: 10.0.1.30}}
  - {apiVersion: v1, kind: Pod, metadata: {name: db-1, namespace: b, labels: {app: db}, ownerReferences: [{apiVersion: apps/v1, kind: StatefulSet, name: db, uid: u, controller: true}]},
     spec: {nodeName: n2, containers: [{name: c, image: i, ports: [{name: pg, containerPort: 5432}]}]}, status: {podIP: 10.0.2.30}}
  - {apiVersion: v1, kind: Pod, metadata: {name: agent-n1, namespace: b, labels: {app: agent}, ownerReferences: [{apiVersion: apps/v1, kind: DaemonSet, name: agent, uid: u, controller: true}]},
     spec: {nodeName: n1, hostNetwork: true, containers: [{name: c, image: i}]}, status: {podIP: 192.168.0.1}}
  - {apiVersion: v1, kind: Pod, metadata: {name: agent-n2, namespace: b, labels: {app: agent}, ownerReferences: [{apiVersion: apps/v1, kind: DaemonSet, name: agent, uid: u, controller: true}]},
     spec: {nodeName: n2, hostNetwork: true, containers: [{name: c, image: i}]}, status: {podIP: 192.168.0.2}}
  - {apiVersion: v1, kind: Pod, metadata: {name: coredns-0, namespace: kube-system, labels: {k8s-app: kube-dns}},
     spec: {nodeName: n2, containers: [{name: c, image: i, ports: [{name: dns, containerPort: 53, protocol: UDP}]}]}, status: {podIP: 10.0.2.53}}
";

/// A random policy for namespace `ns`.
fn policy(rng: &mut Lcg, ns: &str, name: usize) -> String {
    let subject = rng.pick(&[
        "{}",
        "{matchLabels: {app: web}}",
        "{matchLabels: {app: db}}",
        "{matchLabels: {app: api}}",
    ]);
    let types = rng.pick(&["[Ingress]", "[Egress]", "[Ingress, Egress]"]);
    let peer = || -> Vec<&str> {
        vec![
            "{podSelector: {matchLabels: {app: web}}}",
            "{podSelector: {}}",
            "{namespaceSelector: {matchLabels: {team: blue}}}",
            "{namespaceSelector: {}, podSelector: {matchLabels: {app: db}}}",
            "{ipBlock: {cidr: 10.0.1.0/24}}",
            "{ipBlock: {cidr: 192.168.0.0/31}}",
            "{ipBlock: {cidr: 0.0.0.0/0, except: [10.0.2.0/24]}}",
            "{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: kube-system}}}",
        ]
    };
    let ports = rng.pick(&[
        "",
        "ports: [{protocol: TCP, port: http}]",
        "ports: [{protocol: TCP, port: 5432}, {protocol: UDP, port: 53}]",
        "ports: [{protocol: TCP, port: 8000, endPort: 9000}]",
    ]);
    let mut rule = |dir: &str| -> String {
        let field = if dir == "ingress" { "from" } else { "to" };
        let peers = if rng.chance(20) {
            String::new()
        } else {
            format!("{field}: [{}, {}]", rng.pick(&peer()), rng.pick(&peer()))
        };
        let body = [peers, ports.to_string()]
            .into_iter()
            .filter(|p| !p.is_empty())
            .collect::<Vec<_>>()
            .join(", ");
        if rng.chance(15) {
            format!("  {dir}: []\n")
        } else {
            format!("  {dir}: [{{{body}}}]\n")
        }
    };
    let ingress = rule("ingress");
    let egress = rule("egress");
    format!(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: p{name}, namespace: {ns}}}\nspec:\n  podSelector: {subject}\n  policyTypes: {types}\n{ingress}{egress}"
    )
}

fn policies(rng: &mut Lcg) -> String {
    let count = 1 + rng.next() % 4;
    (0..count)
        .map(|i| {
            let ns = rng_ns(rng);
            policy(rng, ns, i as usize)
        })
        .collect::<Vec<_>>()
        .join("---\n")
}

fn rng_ns(rng: &mut Lcg) -> &'static str {
    ["a", "b", "kube-system"][(rng.next() % 3) as usize]
}

/// Every (src, dst) of endpoints on both sides (external ranges aside) with its
/// (before, after), as the diff states it.
fn stated(
    d: &Diff,
    members: &HashMap<String, Vec<String>>,
) -> BTreeMap<(String, String), (ConnSet, ConnSet)> {
    let mut out = BTreeMap::new();
    for c in &d.changes {
        let (Some(srcs), Some(dsts)) = (members.get(&c.src), members.get(&c.dst)) else {
            continue;
        };
        let pairs: Vec<(String, String)> = if c.only.is_empty() {
            srcs.iter()
                .flat_map(|s| dsts.iter().map(move |t| (s.clone(), t.clone())))
                .filter(|(s, t)| s != t)
                .collect()
        } else {
            c.only
                .iter()
                .flat_map(|p| {
                    p.src
                        .iter()
                        .flat_map(|s| p.dst.iter().map(move |t| (s.clone(), t.clone())))
                })
                .filter(|(s, t)| s != t)
                .collect()
        };
        for pair in pairs {
            let previous = out.insert(pair.clone(), (c.before.clone(), c.after.clone()));
            assert!(previous.is_none(), "{pair:?} is in two entries");
        }
    }
    out
}

#[test]
fn every_changed_pair_and_only_those() {
    for seed in 0..60u64 {
        let mut rng = Lcg(seed);
        let (pb, pa) = (policies(&mut rng), policies(&mut rng));
        let (sb, lb) = load(&[("cluster.yaml", CLUSTER), ("policies.yaml", &pb)]);
        let (sa, la) = load(&[("cluster.yaml", CLUSTER), ("policies.yaml", &pa)]);
        let (eb, ea) = (Engine::new(&lb.cluster), Engine::new(&la.cluster));
        let d = diff_engines((&sb, &eb), (&sa, &ea));
        // The same cluster on both sides: endpoints share ids and groups.
        let ids: Vec<(usize, usize)> = (0..eb.endpoints.len())
            .filter(|&e| eb.endpoint(e).kind != EndpointKind::External)
            .map(|e| (e, ea.find(&eb.endpoint(e).id).unwrap()))
            .collect();
        let mut members: HashMap<String, Vec<String>> = HashMap::new();
        for &(_, a) in &ids {
            members
                .entry(ea.group_of(a))
                .or_default()
                .push(ea.endpoint(a).id.clone());
        }
        let mut want = BTreeMap::new();
        for &(sb, sa) in &ids {
            for &(db, da) in &ids {
                if sb == db {
                    continue;
                }
                let (before, after) = (eb.allowed(sb, db), ea.allowed(sa, da));
                if before != after {
                    want.insert(
                        (eb.endpoint(sb).id.clone(), eb.endpoint(db).id.clone()),
                        (before, after),
                    );
                }
            }
        }
        // External addresses: every overlap of the two sides' address groups,
        // against every endpoint, in both directions.
        let external = |e: &Engine, g: usize| {
            (0..e.endpoints.len())
                .find(|&x| {
                    e.endpoint(x).kind == EndpointKind::External
                        && e.endpoint(x).addr_group == Some(g)
                })
                .unwrap()
        };
        for overlap in eb.space.overlaps(&ea.space) {
            let (xb, xa) = (external(&eb, overlap.left), external(&ea, overlap.right));
            let probe = overlap.cidrs[0].network();
            for &(pb, pa) in &ids {
                let id = eb.endpoint(pb).id.clone();
                for outbound in [true, false] {
                    let (before, after) = if outbound {
                        (eb.allowed(pb, xb), ea.allowed(pa, xa))
                    } else {
                        (eb.allowed(xb, pb), ea.allowed(xa, pa))
                    };
                    let stated: Vec<&netfence_diff::Change> = d
                        .changes
                        .iter()
                        .filter(|c| {
                            let (mine, range) = if outbound {
                                (&c.src, &c.dst)
                            } else {
                                (&c.dst, &c.src)
                            };
                            members.get(mine).is_some_and(|m| m.contains(&id))
                                && range.split(',').any(|n| {
                                    n.parse::<ipnet::IpNet>().is_ok_and(|n| n.contains(&probe))
                                })
                        })
                        .collect();
                    if before == after {
                        assert!(
                            stated.is_empty(),
                            "seed {seed}: {id} {probe} stated unchanged"
                        );
                    } else {
                        assert_eq!(stated.len(), 1, "seed {seed}: {id} {probe} {outbound}");
                        assert_eq!(
                            (&stated[0].before, &stated[0].after),
                            (&before, &after),
                            "seed {seed}"
                        );
                    }
                }
            }
        }
        let got = stated(&d, &members);
        if got != want {
            let missing: Vec<_> = want
                .iter()
                .filter(|(k, v)| got.get(*k) != Some(v))
                .take(5)
                .collect();
            let extra: Vec<_> = got
                .iter()
                .filter(|(k, v)| want.get(*k) != Some(v))
                .take(5)
                .collect();
            panic!(
                "seed {seed}:\nmissing or different {missing:?}\nextra {extra:?}\nbefore:\n{pb}\nafter:\n{pa}"
            );
        }
    }
}
