//! Text building blocks shared by every surface that prints (views, lint, diff):
//! how a list is shortened, how a proposed manifest is written, how a policy
//! field is located. Presentation only: nothing here decides a fact.

pub mod yaml;

use netfence_model::{Cluster, FieldLoc, Sources};
use netfence_yaml::PathSegment;

/// `file:line:col` of a policy field such as `spec.ingress[0]`.
pub fn policy_location(sources: &Sources, cluster: &Cluster, policy: usize, path: &str) -> String {
    let p = &cluster.policies[policy];
    let mut segs = Vec::new();
    for part in path.split('.') {
        match part.split_once('[') {
            Some((key, rest)) => {
                segs.push(PathSegment::Key(key.to_string()));
                if let Ok(i) = rest.trim_end_matches(']').parse::<usize>() {
                    segs.push(PathSegment::Index(i));
                }
            }
            None => segs.push(PathSegment::Key(part.to_string())),
        }
    }
    let loc = FieldLoc {
        origin: p.origin.clone(),
        path: segs,
    };
    match sources.locate(&loc, false) {
        Some(l) => format!("{}:{}:{}", sources.name(l.file), l.span.line, l.span.col),
        None => sources.name(p.origin.file).to_string(),
    }
}

/// At most six ids, then `... (N in all)`: lists stay readable at scale.
pub fn short_list(ids: &[String]) -> String {
    if ids.len() <= 6 {
        ids.join(", ")
    } else {
        format!("{}, ... ({} in all)", ids[..5].join(", "), ids.len())
    }
}

/// Why a pair exception lets traffic through, for people.
pub fn exception_text(e: netfence_engine::Exception) -> &'static str {
    match e {
        netfence_engine::Exception::SelfTraffic => "a pod can always reach itself",
        netfence_engine::Exception::FromOwnNode => {
            "traffic from a pod's own node (kubelet probes) is always allowed"
        }
        netfence_engine::Exception::ToOwnNode => {
            "a pod may always reach its own node (--egress-to-own-node)"
        }
    }
}
