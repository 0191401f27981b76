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

/// A hostNetwork pod: it shares its node's namespace and address, and
/// listens there on its declared ports.
#[derive(Clone, Debug, Serialize)]
pub struct LabHostPod {
    pub id: String,
    pub node: usize,
    pub ports: Vec<(Protocol, u16)>,
}

/// A node's address in the lab (on the node namespace's loopback):
/// link-local, private to the lab's node namespaces.
pub fn node_address(n: usize) -> Ipv4Addr {
    Ipv4Addr::new(169, 254, 123, u8::try_from(n + 1).unwrap_or(u8::MAX))
}

/// A stand-in for the outside world: one address of an external address group.
#[derive(Clone, Debug, Serialize)]
pub struct LabExternal {
    /// The engine's id of the group (its CIDR list).
    pub group: String,
    pub ip: Ipv4Addr,
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
    /// hostNetwork pods, probed from and to their node's address.
    pub hosts: Vec<LabHostPod>,
    /// Hosts outside the cluster, one per external address group, in one
    /// namespace attached to the first node (empty unless asked for).
    pub externals: Vec<LabExternal>,
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
    // Nodes take their lab address, so that node peers (admin `nodes`,
    // ipBlocks around node addresses) are decided on the addresses that run.
    for node in &mut cluster.nodes {
        if let Some(n) = nodes.iter().position(|m| *m == node.name) {
            node.addresses = vec![IpAddr::V4(node_address(n))];
        }
    }
    let mut pods = Vec::new();
    let mut hosts = Vec::new();
    let mut round_robin = 0usize;
    for e in cluster.endpoints.iter_mut() {
        if e.host_network {
            let node = match &e.node {
                Some(n) => nodes.iter().position(|m| m == n).unwrap_or(0),
                None => {
                    let i = round_robin % nodes.len();
                    round_robin += 1;
                    i
                }
            };
            e.node = Some(nodes[node].clone());
            e.ips = vec![IpAddr::V4(node_address(node))];
            let mut ports: Vec<(Protocol, u16)> =
                e.ports.iter().map(|p| (p.protocol, p.port)).collect();
            ports.sort();
            ports.dedup();
            if ports.is_empty() {
                skipped.push(Skipped {
                    what: e.id.clone(),
                    reason:
                        "hostNetwork pod declaring no containerPorts: nothing is probed towards it"
                            .into(),
                });
            }
            hosts.push(LabHostPod {
                id: e.id.clone(),
                node,
                ports,
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
        // A DNS server serves 53 whether or not its manifest says so (the
        // synthetic one never does): the lab listens there, so the commonest
        // breakage, DNS under default-deny, is always probed.
        if input.is_cluster_dns(e) {
            ports.extend([(Protocol::Udp, 53), (Protocol::Tcp, 53)]);
        }
        ports.sort();
        ports.dedup();
        if ports.is_empty() {
            skipped.push(Skipped {
                what: e.id.clone(),
                reason: "declares no containerPorts: the lab listens only on declared ports, so nothing is probed towards it".into(),
            });
        }
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
        hosts,
        externals: Vec::new(),
        skipped,
        cluster,
    }
}

/// Addresses never used for an external host: unroutable, loopback, multicast and
/// reserved ranges, and the lab's own node addresses.
fn usable(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    !(o[0] == 0 || o[0] == 127 || o[0] >= 224 || (o[0] == 169 && o[1] == 254 && o[2] == 123))
}

/// Documentation addresses (RFC 5737) are preferred where a group contains them.
const PREFERRED: [Ipv4Addr; 3] = [
    Ipv4Addr::new(203, 0, 113, 10),
    Ipv4Addr::new(198, 51, 100, 10),
    Ipv4Addr::new(192, 0, 2, 10),
];

/// At most this many ports are probed on each external host.
const EXTERNAL_PORTS: usize = 8;

/// Adds one external host per IPv4 external address group, listening on the
/// numeric ports the policies name (and TCP 443), so ipBlock rules are probed.
pub fn add_externals(plan: &mut LabPlan) {
    let engine = netfence_engine::Engine::new(&plan.cluster);
    let taken: BTreeSet<Ipv4Addr> = plan.pods.iter().map(|p| p.ip).collect();
    let mut ports: BTreeSet<(Protocol, u16)> = BTreeSet::from([(Protocol::Tcp, 443)]);
    for policy in &plan.cluster.policies {
        for rule in policy.ingress.iter().chain(&policy.egress) {
            for spec in rule.ports.iter().flatten() {
                if let Some(netfence_model::PortRef::Range { lo, .. }) = spec.port {
                    ports.insert((spec.protocol, lo));
                }
            }
        }
    }
    let ports: Vec<(Protocol, u16)> = ports.into_iter().take(EXTERNAL_PORTS).collect();
    for e in engine
        .endpoints
        .iter()
        .filter(|e| e.kind == netfence_engine::EndpointKind::External)
    {
        let Some(g) = e.addr_group else { continue };
        let group = &engine.space.groups[g];
        let in_group = |ip: Ipv4Addr| {
            engine.space.group_of(IpAddr::V4(ip)) == g && usable(ip) && !taken.contains(&ip)
        };
        let candidate = PREFERRED.into_iter().find(|ip| in_group(*ip)).or_else(|| {
            group.cidrs.iter().find_map(|net| match net {
                ipnet::IpNet::V4(v4) => v4.hosts().take(4).find(|ip| in_group(*ip)),
                ipnet::IpNet::V6(_) => None,
            })
        });
        if let Some(ip) = candidate {
            plan.externals.push(LabExternal {
                group: group.id.clone(),
                ip,
                ports: ports.clone(),
            });
        } else if group.cidrs.iter().all(|n| matches!(n, ipnet::IpNet::V4(_))) {
            plan.skipped.push(Skipped {
                what: format!("external {}", group.id),
                reason: "no usable address in this range for an external host".into(),
            });
        }
    }
}
