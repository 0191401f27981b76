//! What the lab builds for an input: one network namespace per node, one per pod,
//! the pod's IP (its own, or allocated), and the ports it listens on. Allocated
//! IPs and node assignments go back into the cluster before the engine predicts,
//! so the prediction is about exactly the lab that runs.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};

use netfence_model::{Cluster, Protocol};
use serde::Serialize;

#[derive(Clone, Debug, Serialize)]
pub struct LabPod {
    /// Engine endpoint id (`ns/pod`, `ns/deployment/name`).
    pub id: String,
    pub ip: Ipv4Addr,
    pub node: usize,
    /// Node-side interface name (unique within the node's namespace).
    pub interface: String,
    pub ports: Vec<(Protocol, u16)>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Skipped {
    pub what: String,
    pub reason: String,
}

#[derive(Clone, Debug)]
pub struct LabPlan {
    pub nodes: Vec<String>,
    pub pods: Vec<LabPod>,
    pub skipped: Vec<Skipped>,
    /// The input with lab IPs and nodes filled in: what the engine predicts on.
    pub cluster: Cluster,
}

/// Prefix of every pod interface on a node; `enforce` drops traffic from or to an
/// interface with this prefix that it does not know.
pub const POD_INTERFACE_PREFIX: &str = "nfp";

/// Pods get addresses from here when the input has none.
const ALLOCATION_BASE: Ipv4Addr = Ipv4Addr::new(10, 250, 0, 1);

pub fn plan(input: &Cluster, node_count: usize) -> LabPlan {
    let mut cluster = input.clone();
    let mut skipped = Vec::new();
    let used: BTreeSet<IpAddr> = cluster
        .endpoints
        .iter()
        .flat_map(|e| e.ips.iter().copied())
        .chain(
            cluster
                .nodes
                .iter()
                .flat_map(|n| n.addresses.iter().copied()),
        )
        .collect();
    let mut next = u32::from(ALLOCATION_BASE);
    let mut allocate = || loop {
        let ip = Ipv4Addr::from(next);
        next = next.wrapping_add(1);
        if !used.contains(&IpAddr::V4(ip)) && ip.octets()[3] != 0 && ip.octets()[3] != 255 {
            return ip;
        }
    };
    // Node names: from spec.nodeName where given; pods without one are spread
    // round-robin over the lab's nodes.
    let mut nodes: Vec<String> = cluster
        .endpoints
        .iter()
        .filter_map(|e| e.node.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let wanted = node_count.max(1);
    let mut k = 0;
    while nodes.len() < wanted {
        let name = format!("lab-node-{k}");
        k += 1;
        if !nodes.contains(&name) {
            nodes.push(name);
        }
    }
    let mut pods = Vec::new();
    let mut round_robin = 0usize;
    for e in cluster.endpoints.iter_mut() {
        if e.host_network {
            skipped.push(Skipped {
                what: e.id.clone(),
                reason: "hostNetwork pod: its traffic is node traffic, not wired in the lab".into(),
            });
            continue;
        }
        let ip = match e.ips.first() {
            Some(IpAddr::V4(v4)) => *v4,
            Some(IpAddr::V6(_)) => {
                skipped.push(Skipped {
                    what: e.id.clone(),
                    reason: "IPv6 pod address: the lab wires IPv4 only".into(),
                });
                continue;
            }
            None => {
                let ip = allocate();
                e.ips = vec![IpAddr::V4(ip)];
                ip
            }
        };
        let node = match &e.node {
            Some(n) => nodes.iter().position(|m| m == n).unwrap_or(0),
            None => {
                let i = round_robin % nodes.len();
                round_robin += 1;
                e.node = Some(nodes[i].clone());
                i
            }
        };
        let mut ports: Vec<(Protocol, u16)> =
            e.ports.iter().map(|p| (p.protocol, p.port)).collect();
        ports.sort();
        ports.dedup();
        let interface = format!("{POD_INTERFACE_PREFIX}{}", pods.len());
        pods.push(LabPod {
            id: e.id.clone(),
            ip,
            node,
            interface,
            ports,
        });
    }
    LabPlan {
        nodes,
        pods,
        skipped,
        cluster,
    }
}
