//! Fields several kinds share: labels, protocols, port numbers, container ports.

use k8s_openapi::api::core::v1 as core;

use crate::diag::{Anchor, Diagnostic};
use crate::labels::Labels;
use crate::model::*;
use crate::sources::FieldLoc;
use crate::validate;

pub(super) fn check_labels(labels: &Labels, loc: &FieldLoc, diags: &mut Vec<Diagnostic>) {
    for (k, v) in labels {
        if let Some(p) = validate::qualified_name_problem(k) {
            diags.push(Diagnostic::error(
                format!("invalid label key `{k}`: {p}"),
                Anchor::Field {
                    loc: loc.key(k),
                    key: true,
                },
            ));
        }
        if let Some(p) = validate::label_value_problem(v) {
            diags.push(Diagnostic::error(
                format!("invalid label value `{v}`: {p}"),
                Anchor::Field {
                    loc: loc.key(k),
                    key: false,
                },
            ));
        }
    }
}

pub(super) fn parse_protocol(
    p: Option<&str>,
    loc: &FieldLoc,
    diags: &mut Vec<Diagnostic>,
) -> Option<Protocol> {
    match p {
        None => Some(Protocol::Tcp),
        Some(text) => Protocol::parse(text).or_else(|| {
            diags.push(
                Diagnostic::error(
                    format!("unsupported protocol `{text}`"),
                    Anchor::Field {
                        loc: loc.clone(),
                        key: false,
                    },
                )
                .with_help("write `TCP`, `UDP` or `SCTP` (exactly this case)"),
            );
            None
        }),
    }
}

pub(super) fn port_number(n: i32, loc: &FieldLoc, diags: &mut Vec<Diagnostic>) -> Option<u16> {
    match u16::try_from(n).ok().filter(|&p| p >= 1) {
        Some(p) => Some(p),
        None => {
            diags.push(
                Diagnostic::error(
                    format!("port {n} is out of range"),
                    Anchor::Field {
                        loc: loc.clone(),
                        key: false,
                    },
                )
                .with_help("a port number is between 1 and 65535"),
            );
            None
        }
    }
}

/// Named ports come from `containers` and from restartable init containers
/// (sidecars), which serve for the pod's whole life.
pub(super) fn container_ports(
    spec: &core::PodSpec,
    loc: &FieldLoc,
    diags: &mut Vec<Diagnostic>,
) -> Vec<ContainerPort> {
    let mut out = Vec::new();
    let lists = [
        ("containers", Some(&spec.containers)),
        ("initContainers", spec.init_containers.as_ref()),
    ];
    for (field, list) in lists {
        for (ci, c) in list.into_iter().flatten().enumerate() {
            if field == "initContainers" && c.restart_policy.as_deref() != Some("Always") {
                continue;
            }
            for (pi, p) in c.ports.iter().flatten().enumerate() {
                let ploc = loc.key(field).index(ci).key("ports").index(pi);
                let protocol = parse_protocol(p.protocol.as_deref(), &ploc.key("protocol"), diags);
                let port = port_number(p.container_port, &ploc.key("containerPort"), diags);
                if let Some(name) = &p.name
                    && let Some(problem) = validate::port_name_problem(name)
                {
                    diags.push(Diagnostic::error(
                        format!("invalid container port name `{name}`: {problem}"),
                        Anchor::Field {
                            loc: ploc.key("name"),
                            key: false,
                        },
                    ));
                }
                if let (Some(protocol), Some(port)) = (protocol, port) {
                    let cp = ContainerPort {
                        name: p.name.clone(),
                        port,
                        protocol,
                    };
                    if !out.contains(&cp) {
                        out.push(cp);
                    }
                }
            }
        }
    }
    out
}
