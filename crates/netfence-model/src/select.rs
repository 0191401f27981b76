//! Which objects a load keeps: of an object defined twice the later definition,
//! and nothing that `--without` names.

use std::collections::BTreeMap;

use netfence_yaml::PathSegment;

use crate::diag::{Anchor, Diagnostic};
use crate::kinds::is_cluster_scoped;
use crate::objects::RawObject;
use crate::sources::FieldLoc;

/// The same object twice: the later one wins (as `kubectl apply` of both would
/// leave it); silently for overlays (`--with`), with a warning otherwise.
pub(crate) fn dedupe(
    raw: Vec<RawObject>,
    without: &[String],
    diags: &mut Vec<Diagnostic>,
) -> Vec<RawObject> {
    let identity = |o: &RawObject| {
        let group = o
            .api_version
            .split('/')
            .next()
            .unwrap_or_default()
            .to_string();
        let ns = if is_cluster_scoped(&o.kind) {
            String::new()
        } else {
            o.namespace.clone().unwrap_or_default()
        };
        (group, o.kind.clone(), ns, o.name.clone())
    };
    let mut index: BTreeMap<(String, String, String, String), usize> = BTreeMap::new();
    let mut out: Vec<Option<RawObject>> = Vec::new();
    for obj in raw {
        let id = identity(&obj);
        if let Some(&prev) = index.get(&id) {
            if !obj.overlay {
                diags.push(
                    Diagnostic::warning(
                        format!(
                            "{} is defined more than once; the later definition is used",
                            obj.describe()
                        ),
                        Anchor::Field {
                            loc: FieldLoc {
                                origin: obj.origin.clone(),
                                path: vec![PathSegment::Key("metadata".into())],
                            },
                            key: true,
                        },
                    )
                    .with_help("remove one of the definitions"),
                );
            }
            out[prev] = None;
        }
        index.insert(id, out.len());
        out.push(Some(obj));
    }
    let mut result: Vec<RawObject> = out.into_iter().flatten().collect();
    for w in without {
        let before = result.len();
        result.retain(|o| !matches_without(o, w));
        if result.len() == before {
            diags.push(
                Diagnostic::error(format!("--without {w}: no such object in the input"), Anchor::None)
                    .with_help("write KIND/NAMESPACE/NAME (or KIND/NAME for cluster-scoped kinds), e.g. NetworkPolicy/app/default-deny-all"),
            );
        }
    }
    result
}

/// Whether `--without SPEC` names `o`.
pub(crate) fn matches_without(o: &RawObject, spec: &str) -> bool {
    let parts: Vec<&str> = spec.split('/').collect();
    let (kind, ns, name) = match parts.as_slice() {
        [kind, name] => (*kind, None, *name),
        [kind, ns, name] => (*kind, Some(*ns), *name),
        _ => return false,
    };
    o.kind.eq_ignore_ascii_case(kind)
        && o.name == name
        && ns.is_none_or(|ns| o.namespace.as_deref() == Some(ns))
}
