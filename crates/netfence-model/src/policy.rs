//! NetworkPolicy: validation (semantics.md §1.6) and conversion to the model,
//! with the apiserver's defaulting (§1.1).

use k8s_openapi::api::networking::v1 as net;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::diag::{Anchor, Diagnostic};
use crate::labels::{Selector, convert_selector};
use crate::model::{Direction, Peer, PeerKind, Policy, PortRef, PortSpec, Protocol, Rule};
use crate::sources::{FieldLoc, ObjectOrigin};
use crate::validate;

fn err(loc: &FieldLoc, key: bool, message: impl Into<String>, help: &str) -> Diagnostic {
    Diagnostic::error(
        message,
        Anchor::Field {
            loc: loc.clone(),
            key,
        },
    )
    .with_help(help)
}

/// Converts a decoded NetworkPolicy; every problem found is appended to `diags`
/// and `None` is returned if there was any error.
pub fn convert_policy(
    np: &net::NetworkPolicy,
    namespace: &str,
    name: &str,
    origin: &ObjectOrigin,
    diags: &mut Vec<Diagnostic>,
) -> Option<Policy> {
    let before = diags
        .iter()
        .filter(|d| d.severity == crate::Severity::Error)
        .count();
    let root = FieldLoc {
        origin: origin.clone(),
        path: Vec::new(),
    };
    if let Some(problem) = validate::dns1123_subdomain_problem(name) {
        diags.push(err(
            &root.key("metadata").key("name"),
            false,
            format!("invalid name `{name}`: {problem}"),
            "a NetworkPolicy name is a DNS subdomain: lowercase letters, digits, `-` and `.`, e.g. `allow-dns`",
        ));
    }
    let spec_loc = root.key("spec");
    let Some(spec) = &np.spec else {
        diags.push(err(
            &root,
            false,
            "a NetworkPolicy needs a `spec`",
            "add `spec: {podSelector: {}}` and the rules",
        ));
        return None;
    };
    let pod_selector = match &spec.pod_selector {
        Some(sel) => convert_selector(sel, &spec_loc.key("podSelector"), diags),
        None => Some(Selector::everything()),
    };

    let mut types_written = false;
    let mut ingress_type = false;
    let mut egress_type = false;
    if let Some(types) = &spec.policy_types {
        if !types.is_empty() {
            types_written = true;
        }
        let tloc = spec_loc.key("policyTypes");
        if types.len() > 2 {
            diags.push(err(
                &tloc,
                false,
                format!(
                    "policyTypes has {} entries, at most 2 are allowed",
                    types.len()
                ),
                "list each of `Ingress` and `Egress` at most once",
            ));
        }
        for (i, t) in types.iter().enumerate() {
            match t.as_str() {
                "Ingress" => ingress_type = true,
                "Egress" => egress_type = true,
                other => diags.push(err(
                    &tloc.index(i),
                    false,
                    format!("unsupported policy type `{other}`"),
                    "write `Ingress` or `Egress` (exactly this case)",
                )),
            }
        }
    }
    let ingress = convert_rules(
        Direction::Ingress,
        spec.ingress.as_ref().map(|rules| {
            rules
                .iter()
                .map(|r| (r.from.as_ref(), r.ports.as_ref()))
                .collect()
        }),
        &spec_loc,
        diags,
    );
    let egress = convert_rules(
        Direction::Egress,
        spec.egress.as_ref().map(|rules| {
            rules
                .iter()
                .map(|r| (r.to.as_ref(), r.ports.as_ref()))
                .collect()
        }),
        &spec_loc,
        diags,
    );
    if !types_written {
        // The apiserver's defaulting: Ingress always, Egress iff egress rules exist.
        ingress_type = true;
        egress_type = !egress.is_empty();
    }
    let errors_now = diags
        .iter()
        .filter(|d| d.severity == crate::Severity::Error)
        .count();
    if errors_now > before {
        return None;
    }
    Some(Policy {
        namespace: namespace.to_string(),
        name: name.to_string(),
        pod_selector: pod_selector?,
        ingress_isolates: ingress_type,
        egress_isolates: egress_type,
        policy_types_written: types_written,
        ingress,
        egress,
        origin: origin.clone(),
        loc: spec_loc,
    })
}

type RawRule<'a> = (
    Option<&'a Vec<net::NetworkPolicyPeer>>,
    Option<&'a Vec<net::NetworkPolicyPort>>,
);

fn convert_rules(
    dir: Direction,
    rules: Option<Vec<RawRule<'_>>>,
    spec_loc: &FieldLoc,
    diags: &mut Vec<Diagnostic>,
) -> Vec<Rule> {
    let mut out = Vec::new();
    for (i, (peers, ports)) in rules.into_iter().flatten().enumerate() {
        let rule_loc = spec_loc.key(dir.as_str()).index(i);
        let peers = match peers {
            Some(list) if !list.is_empty() => Some(
                list.iter()
                    .enumerate()
                    .filter_map(|(j, p)| {
                        convert_peer(p, &rule_loc.key(dir.peer_field()).index(j), diags)
                    })
                    .collect(),
            ),
            _ => None,
        };
        let ports = match ports {
            Some(list) if !list.is_empty() => Some(
                list.iter()
                    .enumerate()
                    .filter_map(|(j, p)| convert_port(p, &rule_loc.key("ports").index(j), diags))
                    .collect(),
            ),
            _ => None,
        };
        out.push(Rule {
            peers,
            ports,
            loc: rule_loc,
        });
    }
    out
}

fn convert_peer(
    peer: &net::NetworkPolicyPeer,
    loc: &FieldLoc,
    diags: &mut Vec<Diagnostic>,
) -> Option<Peer> {
    match (&peer.ip_block, &peer.namespace_selector, &peer.pod_selector) {
        (None, None, None) => {
            diags.push(err(
                loc,
                false,
                "must specify a peer: this entry has no podSelector, namespaceSelector or ipBlock",
                "to allow every source or destination, remove the `from`/`to` list (an empty entry `- {}` is rejected); otherwise write `podSelector: {}` for every pod of the namespace",
            ));
            None
        }
        (Some(_), ns, pod) if ns.is_some() || pod.is_some() => {
            let field = if ns.is_some() {
                "namespaceSelector"
            } else {
                "podSelector"
            };
            diags.push(err(
                &loc.key(field),
                true,
                format!("ipBlock must be alone in its peer entry, but `{field}` is set beside it"),
                "split them into two list items: `- ipBlock: ...` and `- podSelector: ...` (they are then OR-ed)",
            ));
            None
        }
        (Some(block), _, _) => {
            let bloc = loc.key("ipBlock");
            let cidr = match validate::parse_cidr(&block.cidr) {
                Err(_) if block.cidr.is_empty() => {
                    diags.push(err(
                        &bloc.key("cidr"),
                        false,
                        "ipBlock.cidr is required",
                        "add `cidr:` with the address range, e.g. `cidr: 203.0.113.0/24`",
                    ));
                    None
                }
                Ok((net, masked)) => {
                    if masked {
                        diags.push(
                            Diagnostic::warning(
                                format!("`{}` has host bits set; it means `{net}`", block.cidr),
                                Anchor::Field {
                                    loc: bloc.key("cidr"),
                                    key: false,
                                },
                            )
                            .with_help(format!("write `{net}`")),
                        );
                    }
                    Some(net)
                }
                Err(problem) => {
                    diags.push(err(
                        &bloc.key("cidr"),
                        false,
                        format!("invalid cidr: {problem}"),
                        "write an address and prefix length such as `10.0.0.0/8` or `2001:db8::/32`",
                    ));
                    None
                }
            };
            let mut except = Vec::new();
            for (i, e) in block.except.iter().flatten().enumerate() {
                let eloc = bloc.key("except").index(i);
                match validate::parse_cidr(e) {
                    Ok((net, _)) => {
                        if let Some(cidr) = cidr {
                            let strict_subset = cidr.contains(&net)
                                && net.prefix_len() > cidr.prefix_len()
                                && net.addr().is_ipv4() == cidr.addr().is_ipv4();
                            if !strict_subset {
                                diags.push(err(
                                    &eloc,
                                    false,
                                    format!("except `{e}` is not a strict subset of cidr `{cidr}`"),
                                    "each except entry must lie inside the cidr and have a longer prefix; remove it or widen the cidr",
                                ));
                            }
                        }
                        except.push(net);
                    }
                    Err(problem) => diags.push(err(
                        &eloc,
                        false,
                        format!("invalid except cidr: {problem}"),
                        "write a CIDR inside the ipBlock's cidr, e.g. `10.1.0.0/16`",
                    )),
                }
            }
            except.sort();
            except.dedup();
            Some(Peer {
                kind: PeerKind::IpBlock {
                    cidr: cidr?,
                    except,
                },
                loc: loc.clone(),
            })
        }
        (None, ns, pod) => {
            let before = diags.len();
            let namespace_selector = ns
                .as_ref()
                .and_then(|s| convert_selector(s, &loc.key("namespaceSelector"), diags));
            let pod_selector = pod
                .as_ref()
                .and_then(|s| convert_selector(s, &loc.key("podSelector"), diags));
            if diags.len() > before {
                return None;
            }
            Some(Peer {
                kind: PeerKind::Pods {
                    namespace_selector,
                    pod_selector,
                },
                loc: loc.clone(),
            })
        }
    }
}

fn convert_port(
    port: &net::NetworkPolicyPort,
    loc: &FieldLoc,
    diags: &mut Vec<Diagnostic>,
) -> Option<PortSpec> {
    let before = diags.len();
    let protocol = match port.protocol.as_deref() {
        None => Some(Protocol::Tcp),
        Some(p) => match Protocol::parse(p) {
            Some(p) => Some(p),
            None => {
                let upper = p.to_ascii_uppercase();
                let help = if Protocol::parse(&upper).is_some() {
                    format!("write `{upper}`: protocols are case-sensitive")
                } else {
                    "NetworkPolicy supports only `TCP`, `UDP` and `SCTP`; other protocols such as ICMP cannot be selected".to_string()
                };
                diags.push(err(
                    &loc.key("protocol"),
                    false,
                    format!("unsupported protocol `{p}`"),
                    &help,
                ));
                None
            }
        },
    };
    let port_ref = match &port.port {
        None => {
            if port.end_port.is_some() {
                diags.push(err(
                    &loc.key("endPort"),
                    false,
                    "endPort is set but port is not",
                    "set `port` to the first port of the range, e.g. `port: 32000` with `endPort: 32768`",
                ));
            }
            None
        }
        Some(IntOrString::Int(n)) => {
            let lo = match u16::try_from(*n).ok().filter(|&p| p >= 1) {
                Some(p) => Some(p),
                None => {
                    diags.push(err(
                        &loc.key("port"),
                        false,
                        format!("port {n} is out of range"),
                        "a port number is between 1 and 65535",
                    ));
                    None
                }
            };
            let hi = match port.end_port {
                None => lo,
                Some(end) => match u16::try_from(end).ok().filter(|&p| p >= 1) {
                    None => {
                        diags.push(err(
                            &loc.key("endPort"),
                            false,
                            format!("endPort {end} is out of range"),
                            "endPort is between 1 and 65535",
                        ));
                        None
                    }
                    Some(end) => match lo {
                        Some(lo) if end < lo => {
                            diags.push(err(
                                &loc.key("endPort"),
                                false,
                                format!("endPort {end} is less than port {lo}"),
                                &format!("endPort must be greater than or equal to port; for a single port remove endPort, or write `endPort: {lo}` or more"),
                            ));
                            None
                        }
                        _ => Some(end),
                    },
                },
            };
            lo.zip(hi).map(|(lo, hi)| PortRef::Range { lo, hi })
        }
        Some(IntOrString::String(name)) => {
            if let Some(problem) = validate::port_name_problem(name) {
                let help = if name.parse::<u32>().is_ok() {
                    format!("write the number without quotes: `port: {name}`")
                } else {
                    "a named port is 1-15 lowercase letters, digits and single `-`, with a letter, e.g. `http` or `metrics`".to_string()
                };
                diags.push(err(
                    &loc.key("port"),
                    false,
                    format!("invalid port name `{name}`: {problem}"),
                    &help,
                ));
            }
            if port.end_port.is_some() {
                diags.push(err(
                    &loc.key("endPort"),
                    false,
                    "endPort cannot be used with a named port",
                    "use numeric `port` and `endPort`, or remove `endPort`",
                ));
            }
            Some(PortRef::Named(name.clone()))
        }
    };
    if diags.len() > before {
        return None;
    }
    Some(PortSpec {
        protocol: protocol?,
        port: port_ref,
        loc: loc.clone(),
    })
}
