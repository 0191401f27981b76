//! The fast what-if path of `check`: policies parsed on their own and laid over
//! an already loaded cluster with [`Cluster::with_policy_change`].

use k8s_openapi::api::networking::v1 as net;

use crate::decode::decode_strict;
use crate::diag::{Diagnostic, Severity};
use crate::load::{LoadOptions, parse_file};
use crate::model::Cluster;
use crate::objects::RawObject;
use crate::policy::convert_policy;
use crate::select::matches_without;
use crate::sources::Sources;

/// What [`load`] of every file of `sources` gives, when files `..first` are the
/// input `base` was loaded from (with `opts`) and files `first..` hold only
/// NetworkPolicies: the base files are not parsed again (check verifies a
/// proposed fix this way). As in `load`, a later object replaces an earlier one
/// with the same identity and `--without` drops what it names; a policy adds no
/// workload or endpoint (an undeclared namespace only by name). `None` when the
/// overlays hold anything else: then only a full `load` gives the answer. Files
/// `..first` of `sources` are not read.
pub fn load_policy_overlays(
    base: &Cluster,
    sources: &mut Sources,
    first: usize,
    opts: &LoadOptions,
) -> Option<Result<Cluster, Vec<Diagnostic>>> {
    let mut diags = Vec::new();
    let mut raw = Vec::new();
    for fi in first..sources.files.len() {
        let parsed = netfence_yaml::parse_documents(&sources.files[fi].text);
        parse_file(sources, fi, parsed, opts, &mut raw, &mut diags);
    }
    let policy_ns = |o: &RawObject| o.namespace.clone().unwrap_or_else(|| "default".into());
    if raw
        .iter()
        .any(|o| o.kind != "NetworkPolicy" || o.api_version != "networking.k8s.io/v1")
    {
        return None;
    }
    let mut upsert = Vec::new();
    for obj in &raw {
        if opts.without.iter().any(|w| matches_without(obj, w)) {
            continue;
        }
        let ns = policy_ns(obj);
        let Some(np) = decode_strict::<net::NetworkPolicy>(&obj.json, &obj.origin, &mut diags)
        else {
            continue;
        };
        upsert.extend(convert_policy(&np, &ns, &obj.name, &obj.origin, &mut diags));
    }
    if diags.iter().any(|d| d.severity == Severity::Error) {
        return Some(Err(diags));
    }
    Some(Ok(base.with_policy_change(crate::PolicyChange {
        upsert,
        remove: Vec::new(),
    })))
}
