//! The test oracle: a pair-by-pair evaluator written straight from semantics.md
//! §1.2 and the tiers of §2.2, with no classes, no interval sets and no caching. It is slow on purpose
//! and shares nothing with the engine but the model and `Selector::matches`.
//! Property tests assert that the engine agrees with it everywhere.

use std::net::IpAddr;

use netfence_model::{
    AdminAction, AdminPeerKind, AdminPolicy, AdminPort, AdminSubject, AdminTier, Cluster,
    Direction, Labels, PeerKind, Policy, PortRef, Protocol,
};

/// One end of a connection as the oracle sees it.
#[derive(Clone, Copy, Debug)]
pub enum End {
    /// Index into `cluster.endpoints`.
    Pod(usize),
    /// Index into `cluster.nodes`.
    Node(usize),
    /// An address that is neither a pod's nor a node's.
    Ip(IpAddr),
}

fn is_subject(cluster: &Cluster, end: End) -> Option<usize> {
    match end {
        End::Pod(i) => {
            let p = &cluster.endpoints[i];
            if p.host_network && cluster.semantics.host_network_as_node {
                None
            } else {
                Some(i)
            }
        }
        _ => None,
    }
}

/// The node whose traffic `end` counts as: a node, or a hostNetwork pod on it.
fn as_node(cluster: &Cluster, end: End) -> Option<&str> {
    match end {
        End::Node(i) => Some(cluster.nodes[i].name.as_str()),
        End::Pod(i) => {
            let p = &cluster.endpoints[i];
            if p.host_network && cluster.semantics.host_network_as_node {
                p.node.as_deref()
            } else {
                None
            }
        }
        End::Ip(_) => None,
    }
}

fn ip_for_blocks(cluster: &Cluster, end: End) -> Option<IpAddr> {
    match end {
        End::Pod(i) => {
            let p = &cluster.endpoints[i];
            let as_node = p.host_network && cluster.semantics.host_network_as_node;
            if as_node || cluster.semantics.ip_block_matches_pods {
                p.ips.first().copied()
            } else {
                None
            }
        }
        End::Node(i) => cluster.nodes[i].addresses.first().copied(),
        End::Ip(ip) => Some(ip),
    }
}

/// Whether `policy` selects `end` as a subject (whatever it isolates).
pub fn selects(cluster: &Cluster, policy: &Policy, end: End) -> bool {
    is_subject(cluster, end).is_some_and(|i| {
        let pod = &cluster.endpoints[i];
        pod.namespace == policy.namespace && policy.pod_selector.matches(&pod.labels)
    })
}

/// Whether a peer of a rule of `policy` matches `end`.
pub fn peer_matches(cluster: &Cluster, policy: &Policy, kind: &PeerKind, end: End) -> bool {
    match kind {
        PeerKind::IpBlock { cidr, except } => ip_for_blocks(cluster, end)
            .is_some_and(|ip| cidr.contains(&ip) && !except.iter().any(|e| e.contains(&ip))),
        PeerKind::Pods {
            namespace_selector,
            pod_selector,
        } => {
            let Some(i) = is_subject(cluster, end) else {
                return false;
            };
            let pod = &cluster.endpoints[i];
            let ns_ok = match namespace_selector {
                None => pod.namespace == policy.namespace,
                Some(sel) => cluster
                    .namespaces
                    .iter()
                    .any(|n| n.name == pod.namespace && sel.matches(&n.labels)),
            };
            ns_ok && pod_selector.as_ref().is_none_or(|s| s.matches(&pod.labels))
        }
    }
}

fn port_matches(
    cluster: &Cluster,
    policy_ports: Option<&[netfence_model::PortSpec]>,
    dst: End,
    protocol: Protocol,
    port: u16,
) -> bool {
    let Some(list) = policy_ports else {
        return true;
    };
    list.iter().any(|spec| {
        spec.protocol == protocol
            && match &spec.port {
                None => true,
                Some(PortRef::Range { lo, hi }) => *lo <= port && port <= *hi,
                Some(PortRef::Named(name)) => match dst {
                    End::Pod(i) => cluster.endpoints[i].ports.iter().any(|cp| {
                        cp.name.as_deref() == Some(name)
                            && cp.protocol == protocol
                            && cp.port == port
                    }),
                    _ => false,
                },
            }
    })
}

fn direction_ok(
    cluster: &Cluster,
    dir: Direction,
    subject: usize,
    peer: End,
    dst: End,
    protocol: Protocol,
    port: u16,
) -> bool {
    let pod = &cluster.endpoints[subject];
    let selecting: Vec<&Policy> = cluster
        .policies
        .iter()
        .filter(|p| {
            p.namespace == pod.namespace && p.pod_selector.matches(&pod.labels) && p.isolates(dir)
        })
        .collect();
    if selecting.is_empty() {
        return true;
    }
    selecting.iter().any(|p| {
        p.rules(dir).iter().any(|rule| {
            let peers_ok = match &rule.peers {
                None => true,
                Some(list) => list
                    .iter()
                    .any(|peer_def| peer_matches(cluster, p, &peer_def.kind, peer)),
            };
            peers_ok && port_matches(cluster, rule.ports.as_deref(), dst, protocol, port)
        })
    })
}

fn same(a: End, b: End) -> bool {
    match (a, b) {
        (End::Pod(x), End::Pod(y)) | (End::Node(x), End::Node(y)) => x == y,
        (End::Ip(x), End::Ip(y)) => x == y,
        _ => false,
    }
}

fn namespace_labels<'c>(cluster: &'c Cluster, ns: &str) -> Option<&'c Labels> {
    cluster
        .namespaces
        .iter()
        .find(|n| n.name == ns)
        .map(|n| &n.labels)
}

/// Whether admin policy `a` has the pod `subject` (an index) as a subject.
pub fn admin_selects(cluster: &Cluster, a: &AdminPolicy, subject: usize) -> bool {
    let pod = &cluster.endpoints[subject];
    let ns = namespace_labels(cluster, &pod.namespace);
    match &a.subject {
        AdminSubject::Namespaces(sel) => ns.is_some_and(|l| sel.matches(l)),
        AdminSubject::Pods {
            namespace_selector,
            pod_selector,
        } => ns.is_some_and(|l| namespace_selector.matches(l)) && pod_selector.matches(&pod.labels),
    }
}

fn admin_peer_matches(cluster: &Cluster, kind: &AdminPeerKind, end: End) -> bool {
    match kind {
        AdminPeerKind::Namespaces(_) | AdminPeerKind::Pods { .. } => {
            let Some(i) = is_subject(cluster, end) else {
                return false;
            };
            let pod = &cluster.endpoints[i];
            let ns = namespace_labels(cluster, &pod.namespace);
            match kind {
                AdminPeerKind::Namespaces(sel) => ns.is_some_and(|l| sel.matches(l)),
                AdminPeerKind::Pods {
                    namespace_selector,
                    pod_selector,
                } => {
                    ns.is_some_and(|l| namespace_selector.matches(l))
                        && pod_selector.matches(&pod.labels)
                }
                _ => false,
            }
        }
        AdminPeerKind::Networks(nets) => {
            ip_for_blocks(cluster, end).is_some_and(|ip| nets.iter().any(|n| n.contains(&ip)))
        }
        AdminPeerKind::Nodes(sel) => as_node(cluster, end).is_some_and(|name| {
            let empty = Labels::new();
            let labels = cluster
                .nodes
                .iter()
                .find(|n| n.name == name)
                .map_or(&empty, |n| &n.labels);
            sel.matches(labels)
        }),
        // The oracle's ends are pods, nodes and addresses; none is a name.
        AdminPeerKind::DomainNames(_) => false,
    }
}

fn admin_port_matches(
    cluster: &Cluster,
    ports: Option<&[AdminPort]>,
    dst: End,
    protocol: Protocol,
    port: u16,
) -> bool {
    let Some(list) = ports else {
        return true;
    };
    list.iter().any(|p| match p {
        AdminPort::Numbers {
            protocol: proto,
            lo,
            hi,
        } => *proto == protocol && *lo <= port && port <= *hi,
        AdminPort::Named(name) => match dst {
            End::Pod(i) => cluster.endpoints[i].ports.iter().any(|cp| {
                cp.name.as_deref() == Some(name) && cp.protocol == protocol && cp.port == port
            }),
            _ => false,
        },
    })
}

/// The action of the first matching rule of `tier` for the subject pod, in
/// priority order (ties by name), or None.
#[allow(clippy::too_many_arguments)]
fn tier_action(
    cluster: &Cluster,
    tier: AdminTier,
    dir: Direction,
    subject: usize,
    peer: End,
    dst: End,
    protocol: Protocol,
    port: u16,
) -> Option<AdminAction> {
    let mut policies: Vec<&AdminPolicy> = cluster
        .admin_policies
        .iter()
        .filter(|a| a.tier == tier && admin_selects(cluster, a, subject))
        .collect();
    policies.sort_by(|a, b| {
        (a.priority.unwrap_or(u32::MAX), &a.name, &a.kind).cmp(&(
            b.priority.unwrap_or(u32::MAX),
            &b.name,
            &b.kind,
        ))
    });
    policies.iter().find_map(|a| {
        a.rules(dir)
            .iter()
            .find(|r| {
                r.peers
                    .iter()
                    .any(|p| admin_peer_matches(cluster, &p.kind, peer))
                    && admin_port_matches(cluster, r.ports.as_deref(), dst, protocol, port)
            })
            .map(|r| r.action)
    })
}

/// One direction through the tiers of §2.2. `np_exempt`: a pair exception
/// takes the pair out of the NetworkPolicy tier.
#[allow(clippy::too_many_arguments)]
fn tiered(
    cluster: &Cluster,
    dir: Direction,
    subject: usize,
    peer: End,
    dst: End,
    protocol: Protocol,
    port: u16,
    np_exempt: bool,
) -> bool {
    match tier_action(
        cluster,
        AdminTier::Admin,
        dir,
        subject,
        peer,
        dst,
        protocol,
        port,
    ) {
        Some(AdminAction::Accept) => return true,
        Some(AdminAction::Deny) => return false,
        Some(AdminAction::Pass) | None => {}
    }
    if !np_exempt {
        let pod = &cluster.endpoints[subject];
        let selecting: Vec<&Policy> = cluster
            .policies
            .iter()
            .filter(|p| p.namespace == pod.namespace && p.pod_selector.matches(&pod.labels))
            .collect();
        if selecting.iter().any(|p| p.isolates(dir)) {
            return direction_ok(cluster, dir, subject, peer, dst, protocol, port);
        }
        if cluster.semantics.np_selected_is_final && !selecting.is_empty() {
            return true;
        }
    }
    !matches!(
        tier_action(
            cluster,
            AdminTier::Baseline,
            dir,
            subject,
            peer,
            dst,
            protocol,
            port
        ),
        Some(AdminAction::Deny)
    )
}

/// Whether a new `protocol`/`port` connection from `src` to `dst` is allowed.
pub fn allowed(cluster: &Cluster, src: End, dst: End, protocol: Protocol, port: u16) -> bool {
    if same(src, dst) {
        return true;
    }
    let egress = match is_subject(cluster, src) {
        None => true,
        Some(s) => {
            let own_node = cluster.semantics.egress_to_own_node
                && as_node(cluster, dst).is_some()
                && as_node(cluster, dst) == cluster.endpoints[s].node.as_deref();
            tiered(
                cluster,
                Direction::Egress,
                s,
                dst,
                dst,
                protocol,
                port,
                own_node,
            )
        }
    };
    let ingress = match is_subject(cluster, dst) {
        None => true,
        Some(d) => {
            let from_own_node = as_node(cluster, src).is_some()
                && as_node(cluster, src) == cluster.endpoints[d].node.as_deref();
            from_own_node
                || tiered(
                    cluster,
                    Direction::Ingress,
                    d,
                    src,
                    dst,
                    protocol,
                    port,
                    false,
                )
        }
    };
    egress && ingress
}
