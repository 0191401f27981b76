//! The address space as the data plane sees it: every known pod and node IP on its
//! own, and the rest of each external address group around them. Pieces are
//! disjoint, sorted, and cover both families completely, so a set built from them
//! never has overlapping intervals.

use std::collections::BTreeMap;
use std::net::IpAddr;

use netfence_engine::{EndpointKind, Engine, EpId};

use crate::ruleset::Family;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Piece {
    pub family: Family,
    pub lo: u128,
    pub hi: u128,
    pub ep: EpId,
}

fn key(ip: IpAddr) -> (Family, u128) {
    match ip {
        IpAddr::V4(v4) => (Family::V4, u128::from(u32::from(v4))),
        IpAddr::V6(v6) => (Family::V6, u128::from(v6)),
    }
}

/// Which endpoint owns an IP when several claim it, as `Engine::endpoint_for_ip`
/// decides: a pod, then a node, then a hostNetwork pod (which shares its node's IP).
fn owner_rank(engine: &Engine, ep: EpId) -> u8 {
    let e = engine.endpoint(ep);
    if e.kind == EndpointKind::Node {
        1
    } else if e.acts_as_node.is_some() {
        2
    } else {
        0
    }
}

pub fn partition(engine: &Engine) -> Vec<Piece> {
    let mut known: BTreeMap<(Family, u128), (u8, EpId)> = BTreeMap::new();
    for (ep, e) in engine.endpoints.iter().enumerate() {
        if e.kind == EndpointKind::External {
            continue;
        }
        for &ip in &e.ips {
            let rank = owner_rank(engine, ep);
            let slot = known.entry(key(ip)).or_insert((rank, ep));
            if rank < slot.0 {
                *slot = (rank, ep);
            }
        }
    }
    let mut external: Vec<Piece> = Vec::new();
    for (ep, e) in engine.endpoints.iter().enumerate() {
        let (EndpointKind::External, Some(g)) = (&e.kind, e.addr_group) else {
            continue;
        };
        for net in &engine.space.groups[g].cidrs {
            let (family, lo) = key(net.network());
            let (_, hi) = key(net.broadcast());
            external.push(Piece { family, lo, hi, ep });
        }
    }
    external.sort_by_key(|p| (p.family, p.lo));
    let mut out = Vec::with_capacity(external.len() + 2 * known.len());
    for piece in external {
        let mut next = Some(piece.lo);
        let inside = known.range((piece.family, piece.lo)..=(piece.family, piece.hi));
        for (&(family, ip), &(_, ep)) in inside {
            let Some(from) = next else { break };
            if ip > from {
                out.push(Piece {
                    family,
                    lo: from,
                    hi: ip - 1,
                    ep: piece.ep,
                });
            }
            out.push(Piece {
                family,
                lo: ip,
                hi: ip,
                ep,
            });
            next = ip.checked_add(1);
        }
        if let Some(from) = next.filter(|&n| n <= piece.hi) {
            out.push(Piece {
                family: piece.family,
                lo: from,
                hi: piece.hi,
                ep: piece.ep,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use netfence_model::load_texts;

    const INPUT: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: default, labels: {app: a}}
spec: {containers: [{name: c, image: i}]}
status: {podIP: 10.0.0.5}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p, namespace: default}
spec:
  podSelector: {}
  egress:
  - to:
    - ipBlock: {cidr: 10.0.0.0/24, except: [10.0.0.128/25]}
"#;

    #[test]
    fn pieces_are_disjoint_cover_everything_and_carve_out_pods() {
        let (_, loaded) = load_texts(&[("in.yaml", INPUT)], &Default::default());
        let loaded = loaded.unwrap(); // ok: test
        let engine = Engine::new(&loaded.cluster);
        let pieces = partition(&engine);
        for fam in Family::BOTH {
            let mut next = 0u128;
            let max = if fam == Family::V4 {
                u128::from(u32::MAX)
            } else {
                u128::MAX
            };
            let mine: Vec<_> = pieces.iter().filter(|p| p.family == fam).collect();
            for p in &mine {
                assert_eq!(p.lo, next, "gap or overlap before {p:?}");
                assert!(p.hi >= p.lo);
                next = p.hi.wrapping_add(1);
            }
            assert_eq!(mine.last().map(|p| p.hi), Some(max));
        }
        let pod = engine.find("default/a").unwrap(); // ok: test
        let ip = u128::from(u32::from(std::net::Ipv4Addr::new(10, 0, 0, 5)));
        let owner: Vec<_> = pieces.iter().filter(|p| p.ep == pod).collect();
        assert_eq!(owner.len(), 1);
        assert_eq!((owner[0].lo, owner[0].hi), (ip, ip));
    }
}
