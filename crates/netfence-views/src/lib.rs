//! What netfence shows. Each view is computed as data (serialised as the stable
//! JSON documented in docs/json.md) and rendered as text; the CLI only picks one.
//! Views ask the engine; they never decide reachability themselves.

pub mod check;
pub mod describe;
pub mod matrix;
pub mod report;
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

/// Whether an endpoint is cluster DNS: the synthetic one, or kube-system pods
/// labelled `k8s-app: kube-dns` (or `coredns`). One definition for every view.
pub fn is_cluster_dns(engine: &netfence_engine::Engine, ep: netfence_engine::EpId) -> bool {
    let e = engine.endpoint(ep);
    e.kind == netfence_engine::EndpointKind::SyntheticDns
        || (e.namespace.as_deref() == Some("kube-system")
            && e.model_index.is_some_and(|i| {
                let l = &engine.cluster.endpoints[i].labels;
                l.get("k8s-app")
                    .is_some_and(|v| v == "kube-dns" || v == "coredns")
            }))
}
