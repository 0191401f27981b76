//! Typed decoding into k8s-openapi objects, as strictly as `kubectl apply
//! --validate=strict`: unknown fields and wrong types are errors, each located.

use k8s_openapi::Resource;
use netfence_yaml::PathSegment;
use serde::de::DeserializeOwned;

use crate::diag::{Anchor, Diagnostic, DiagnosticKind, ScalarType};
use crate::sources::{FieldLoc, ObjectOrigin};

/// Bound on decode-and-repair rounds for one object; each round finds one type error.
const MAX_ROUNDS: usize = 32;

/// Decodes `json` into `T`, reporting every unknown field and every type error it
/// can find (after a type error the offending value is set aside and decoding is
/// retried, so one run shows all of them). Returns `None` if there was any error.
pub fn decode_strict<T: DeserializeOwned + Resource>(
    json: &serde_json::Value,
    origin: &ObjectOrigin,
    diags: &mut Vec<Diagnostic>,
) -> Option<T> {
    let root = FieldLoc {
        origin: origin.clone(),
        path: Vec::new(),
    };
    // Copied only when a value is set aside (the input itself stays as it is).
    let mut json = std::borrow::Cow::Borrowed(json);
    for (path, why) in TOLERATED
        .iter()
        .filter(|(k, ..)| k.is_empty() || *k == T::KIND)
        .map(|(_, p, w)| (p, w))
    {
        let Some((last, parents)) = path.split_last() else {
            continue;
        };
        let holds = parents
            .iter()
            .try_fold(json.as_ref(), |v, k| v.get(k))
            .is_some_and(|parent| parent.get(last).is_some());
        if !holds {
            continue;
        }
        let parent = parents.iter().try_fold(json.to_mut(), |v, k| v.get_mut(*k));
        if let Some(serde_json::Value::Object(map)) = parent {
            map.remove(*last);
        }
        let loc = path.iter().fold(root.clone(), |loc, k| loc.key(k));
        diags.push(Diagnostic::note(
            format!("ignored `{}`: {why}", path.join(".")),
            Anchor::Field { loc, key: true },
        ));
    }
    let missing = missing_required::<T>(&json);
    let mut unknown: Vec<Vec<PathSegment>> = Vec::new();
    let mut type_errors: Vec<Vec<PathSegment>> = Vec::new();
    let mut result = None;
    for _ in 0..MAX_ROUNDS {
        let mut ignored = Vec::new();
        let mut on_ignored = |path: serde_ignored::Path<'_>| ignored.push(ignored_path(&path));
        let de = serde_ignored::Deserializer::new(json.as_ref(), &mut on_ignored);
        match serde_path_to_error::deserialize::<_, T>(de) {
            Ok(value) => {
                for p in ignored {
                    if !unknown.contains(&p) {
                        unknown.push(p);
                    }
                }
                result = Some(value);
                break;
            }
            Err(e) => {
                for p in ignored {
                    if !unknown.contains(&p) {
                        unknown.push(p);
                    }
                }
                let path = error_path(e.path());
                let message = e.inner().to_string();
                if type_errors.contains(&path) {
                    break;
                }
                type_errors.push(path.clone());
                diags.push(type_error(&root, &path, &message, &json));
                if !set_aside(json.to_mut(), &path, &message) {
                    break;
                }
            }
        }
    }
    let mut explained = Vec::new();
    for path in &unknown {
        let (field, parent) = match path.split_last() {
            Some((PathSegment::Key(k), parent)) => (k.clone(), parent),
            _ => continue,
        };
        let anchor = Anchor::Field {
            loc: FieldLoc {
                origin: origin.clone(),
                path: path.clone(),
            },
            key: true,
        };
        let suggestion = suggest_field(&field);
        // A misspelled required field: say that it is missing, once, here.
        if let Some(s) = suggestion
            && s != field
            && let Some(m) = missing.iter().find(|(p, f)| p == parent && *f == s)
        {
            explained.push(m.clone());
            diags.push(
                Diagnostic::error(
                    format!("unknown field `{field}`: the required field `{s}` is missing"),
                    anchor,
                )
                .with_help(format!("write `{s}` (with this spelling and case)")),
            );
            continue;
        }
        let help = match suggestion {
            Some(s) if s != field => format!("did you mean `{s}`?"),
            Some(_) => match belongs_at(&field, parent) {
                Some(at) => format!(
                    "`{field}` belongs at `{}`, not inside `{}`: check its indentation",
                    netfence_yaml::field_path_string(&at),
                    netfence_yaml::field_path_string(parent),
                ),
                None => format!(
                    "`{field}` is not a field of `{}`: check its indentation against the API reference",
                    netfence_yaml::field_path_string(parent)
                ),
            },
            None => "remove it, or check its spelling and indentation against the API reference"
                .to_string(),
        };
        diags.push(Diagnostic::error(format!("unknown field `{field}`"), anchor).with_help(help));
    }
    for (parent, field) in missing.iter().filter(|m| !explained.contains(m)) {
        diags.push(
            Diagnostic::error(
                format!("required field `{field}` is missing"),
                Anchor::Field {
                    loc: FieldLoc {
                        origin: origin.clone(),
                        path: parent.clone(),
                    },
                    key: true,
                },
            )
            .with_help(format!("add `{field}:` here")),
        );
    }
    // Unknown fields are already reported; still return the value so the object's
    // semantic validation runs too (the load fails as a whole on any error). A
    // missing required field would only make that validation report its
    // consequences (`port 0`), so it stops here.
    if !type_errors.is_empty() || !missing.is_empty() {
        return None;
    }
    result
}

/// Fields that a Kubernetes version netfence meets in exported manifests
/// defined, that the API types it decodes with no longer have, and that carry
/// no policy meaning: (kind, or "" for every kind; the field's path; why it is
/// ignored).
const TOLERATED: &[(&str, &[&str], &str)] = &[
    (
        "NetworkPolicy",
        &["status"],
        "NetworkPolicy had a `status` (conditions only) in Kubernetes 1.24 to 1.27; it has no effect on what the policy allows",
    ),
    (
        "",
        &["metadata", "clusterName"],
        "object metadata had a `clusterName` (never set by the API server) until Kubernetes 1.24; it has no policy meaning",
    ),
    (
        "",
        &["spec", "template", "metadata", "clusterName"],
        "object metadata had a `clusterName` (never set by the API server) until Kubernetes 1.24; it has no policy meaning",
    ),
    (
        "Service",
        &["spec", "topologyKeys"],
        "Service `topologyKeys` was an alpha field of Kubernetes 1.17 to 1.21; it routes traffic and allows nothing",
    ),
    (
        "Service",
        &["spec", "ipFamily"],
        "Service `ipFamily` existed in Kubernetes 1.16 to 1.19 (replaced by `ipFamilies`); it allows nothing",
    ),
];

/// Required fields that k8s-openapi decodes as their zero value when absent, and
/// that netfence reads: (kind, where, field), all in an item of a `ports` list. `where` is the trail of keys to the
/// mapping that needs the field, list indices left out, matched at the end of
/// the mapping's path.
const REQUIRED: &[(&str, &[&str], &str)] = &[
    ("", &["containers", "ports"], "containerPort"),
    ("", &["initContainers", "ports"], "containerPort"),
    ("Service", &["spec", "ports"], "port"),
];

/// Each mapping of `json` missing a field of [`REQUIRED`]: (its path, the field).
fn missing_required<T: Resource>(
    json: &serde_json::Value,
) -> Vec<(Vec<PathSegment>, &'static str)> {
    fn walk(
        value: &serde_json::Value,
        path: &mut Vec<PathSegment>,
        kind: &str,
        out: &mut Vec<(Vec<PathSegment>, &'static str)>,
    ) {
        match value {
            serde_json::Value::Object(map) => {
                let in_ports = path.len() >= 2
                    && matches!(&path[path.len() - 2], PathSegment::Key(k) if k == "ports")
                    && matches!(path.last(), Some(PathSegment::Index(_)));
                if in_ports {
                    let keys: Vec<&str> = path
                        .iter()
                        .filter_map(|s| match s {
                            PathSegment::Key(k) => Some(k.as_str()),
                            PathSegment::Index(_) => None,
                        })
                        .collect();
                    for (k, trail, field) in REQUIRED {
                        if (k.is_empty() || *k == kind)
                            && keys.ends_with(trail)
                            && (trail[0] != "spec" || keys.len() == trail.len())
                            && !map.contains_key(*field)
                        {
                            out.push((path.clone(), field));
                        }
                    }
                    return;
                }
                // Only the trails of REQUIRED lead to a port: the rest of an
                // object (metadata, status, managedFields) is not walked.
                for (k, v) in map {
                    if !matches!(
                        k.as_str(),
                        "spec"
                            | "template"
                            | "jobTemplate"
                            | "containers"
                            | "initContainers"
                            | "ports"
                    ) {
                        continue;
                    }
                    path.push(PathSegment::Key(k.clone()));
                    walk(v, path, kind, out);
                    path.pop();
                }
            }
            serde_json::Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    path.push(PathSegment::Index(i));
                    walk(v, path, kind, out);
                    path.pop();
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(json, &mut Vec::new(), T::KIND, &mut out);
    out
}

/// Where a field written one level too deep (or too shallow) belongs: the
/// nearest ancestor of `parent` that has such a field.
fn belongs_at(field: &str, parent: &[PathSegment]) -> Option<Vec<PathSegment>> {
    fn key(s: &PathSegment) -> Option<&str> {
        match s {
            PathSegment::Key(k) => Some(k.as_str()),
            PathSegment::Index(_) => None,
        }
    }
    // Keys whose value is a list of mappings; the others hold one mapping.
    const LISTS: &[&str] = &[
        "ingress",
        "egress",
        "containers",
        "initContainers",
        "from",
        "to",
    ];
    // The field, and the keys of the mappings (or lists of mappings) it belongs in.
    const HOMES: &[(&str, &[&str])] = &[
        (
            "ports",
            &["ingress", "egress", "containers", "initContainers"],
        ),
        ("from", &["ingress"]),
        ("to", &["egress"]),
        ("podSelector", &["from", "to", "spec"]),
        ("namespaceSelector", &["from", "to"]),
        ("ipBlock", &["from", "to"]),
        ("policyTypes", &["spec"]),
        ("ingress", &["spec"]),
        ("egress", &["spec"]),
        (
            "matchLabels",
            &["podSelector", "namespaceSelector", "selector"],
        ),
        (
            "matchExpressions",
            &["podSelector", "namespaceSelector", "selector"],
        ),
        ("labels", &["metadata"]),
        ("namespace", &["metadata"]),
    ];
    let homes = HOMES.iter().find(|(f, _)| *f == field)?.1;
    (0..parent.len()).rev().find_map(|end| {
        let at = &parent[..end];
        // The mapping at `at`: its own key, or for a list item the list's key.
        let owner = match at.last()? {
            PathSegment::Index(_) => at
                .len()
                .checked_sub(2)
                .and_then(|i| key(&at[i]))
                .filter(|k| LISTS.contains(k))?,
            s => key(s).filter(|k| !LISTS.contains(k))?,
        };
        homes.contains(&owner).then(|| {
            let mut p = at.to_vec();
            p.push(PathSegment::Key(field.to_string()));
            p
        })
    })
}

fn ignored_path(path: &serde_ignored::Path<'_>) -> Vec<PathSegment> {
    let mut out = Vec::new();
    let mut cur = path;
    loop {
        match cur {
            serde_ignored::Path::Root => break,
            serde_ignored::Path::Seq { parent, index } => {
                out.push(PathSegment::Index(*index));
                cur = parent;
            }
            serde_ignored::Path::Map { parent, key } => {
                out.push(PathSegment::Key(key.clone()));
                cur = parent;
            }
            serde_ignored::Path::Some { parent }
            | serde_ignored::Path::NewtypeStruct { parent }
            | serde_ignored::Path::NewtypeVariant { parent } => cur = parent,
        }
    }
    out.reverse();
    out
}

fn error_path(path: &serde_path_to_error::Path) -> Vec<PathSegment> {
    path.iter()
        .filter_map(|seg| match seg {
            serde_path_to_error::Segment::Seq { index } => Some(PathSegment::Index(*index)),
            serde_path_to_error::Segment::Map { key } => Some(PathSegment::Key(key.clone())),
            serde_path_to_error::Segment::Enum { .. } | serde_path_to_error::Segment::Unknown => {
                None
            }
        })
        .collect()
}

fn value_at<'a>(
    json: &'a serde_json::Value,
    path: &[PathSegment],
) -> Option<&'a serde_json::Value> {
    let mut cur = json;
    for seg in path {
        cur = match seg {
            PathSegment::Key(k) => cur.get(k)?,
            PathSegment::Index(i) => cur.get(*i)?,
        };
    }
    Some(cur)
}

fn type_error(
    root: &FieldLoc,
    path: &[PathSegment],
    message: &str,
    json: &serde_json::Value,
) -> Diagnostic {
    let loc = FieldLoc {
        origin: root.origin.clone(),
        path: path.to_vec(),
    };
    if let Some(field) = message
        .strip_prefix("missing field `")
        .and_then(|m| m.strip_suffix('`'))
    {
        let mut field_loc = loc.clone();
        field_loc.path.push(PathSegment::Key(field.to_string()));
        let _ = field_loc;
        return Diagnostic::error(
            format!("required field `{field}` is missing"),
            Anchor::Field { loc, key: true },
        )
        .with_help(format!("add `{field}:` here"));
    }
    let found = value_at(json, path);
    let expected = message
        .split_once(", expected ")
        .map(|(_, e)| e.to_string())
        .unwrap_or_else(|| message.to_string());
    let expected = humanize_expected(&expected);
    let found_desc = match found {
        Some(serde_json::Value::Bool(b)) => format!("the boolean {b}"),
        Some(serde_json::Value::Number(n)) => format!("the number {n}"),
        Some(serde_json::Value::String(s)) => format!("the string {s:?}"),
        Some(serde_json::Value::Array(_)) => "a list".to_string(),
        Some(serde_json::Value::Object(_)) => "a mapping".to_string(),
        Some(serde_json::Value::Null) => "null".to_string(),
        None => "something else".to_string(),
    };
    let help = match (found, expected.as_str()) {
        (Some(serde_json::Value::Bool(b)), "a string") => {
            format!("YAML reads unquoted yes/no/true/false/on/off as booleans; quote it: \"{b}\" (or the word you wrote, in quotes)")
        }
        (Some(serde_json::Value::Number(n)), "a string") => format!("quote it: \"{n}\""),
        (_, "a port number or a port name") => {
            "write a single port such as `80` or a container port name such as `http`; for a range use `port` and `endPort`".to_string()
        }
        (_, e) if e.starts_with("a list") => "write a YAML list: each item on its own line starting with `- `".to_string(),
        (_, e) if e.starts_with("a mapping") => "write `key: value` pairs indented under this field".to_string(),
        _ => format!("write {expected} here"),
    };
    let kind = match (found, expected.as_str()) {
        (Some(serde_json::Value::Bool(_)), "a string") => DiagnosticKind::UnquotedScalar {
            read_as: ScalarType::Boolean,
        },
        (Some(serde_json::Value::Number(_)), "a string") => DiagnosticKind::UnquotedScalar {
            read_as: ScalarType::Number,
        },
        _ => DiagnosticKind::Other,
    };
    Diagnostic::error(
        format!("wrong type: expected {expected}, found {found_desc}"),
        Anchor::Field { loc, key: false },
    )
    .with_help(help)
    .with_kind(kind)
}

fn humanize_expected(expected: &str) -> String {
    match expected {
        "a string" | "a borrowed string" => "a string".into(),
        "IntOrString" => "a port number or a port name".into(),
        "i32" | "i64" | "u16" | "u32" => "an integer".into(),
        e if e.starts_with("a sequence") => "a list".into(),
        e if e.starts_with("a map") || e.starts_with("struct") => "a mapping".into(),
        "a boolean" | "bool" => "a boolean (true or false)".into(),
        e => e.to_string(),
    }
}

/// Makes the value at `path` decodable so the next round can find further errors.
/// Returns false when no progress is possible.
fn set_aside(json: &mut serde_json::Value, path: &[PathSegment], message: &str) -> bool {
    if message.starts_with("missing field `") {
        // Fill the required field with an empty string; if that is the wrong type
        // the next round reports it at the field itself and removes the parent.
        let Some(field) = message
            .strip_prefix("missing field `")
            .and_then(|m| m.strip_suffix('`'))
        else {
            return false;
        };
        return match value_at_mut(json, path) {
            Some(serde_json::Value::Object(map)) => {
                map.insert(field.to_string(), serde_json::Value::String(String::new()));
                true
            }
            _ => false,
        };
    }
    let Some((last, parent_path)) = path.split_last() else {
        return false;
    };
    match (value_at_mut(json, parent_path), last) {
        (Some(serde_json::Value::Object(map)), PathSegment::Key(k)) => {
            map.remove(k);
            true
        }
        (Some(serde_json::Value::Array(items)), PathSegment::Index(i)) => {
            // Replacing a scalar by its string form keeps later indices stable.
            if let Some(item) = items.get_mut(*i) {
                let text = match item {
                    serde_json::Value::Bool(b) => Some(b.to_string()),
                    serde_json::Value::Number(n) => Some(n.to_string()),
                    _ => None,
                };
                match text {
                    Some(t) if message.contains("expected a string") => {
                        *item = serde_json::Value::String(t);
                        true
                    }
                    _ => false,
                }
            } else {
                false
            }
        }
        _ => false,
    }
}

fn value_at_mut<'a>(
    json: &'a mut serde_json::Value,
    path: &[PathSegment],
) -> Option<&'a mut serde_json::Value> {
    let mut cur = json;
    for seg in path {
        cur = match seg {
            PathSegment::Key(k) => cur.get_mut(k)?,
            PathSegment::Index(i) => cur.get_mut(*i)?,
        };
    }
    Some(cur)
}

/// Field names users write in the objects netfence reads; used for "did you mean".
const KNOWN_FIELDS: &[&str] = &[
    "apiVersion",
    "kind",
    "metadata",
    "spec",
    "status",
    "name",
    "namespace",
    "labels",
    "annotations",
    "ownerReferences",
    "podSelector",
    "namespaceSelector",
    "policyTypes",
    "ingress",
    "egress",
    "from",
    "to",
    "ports",
    "port",
    "endPort",
    "protocol",
    "ipBlock",
    "cidr",
    "except",
    "matchLabels",
    "matchExpressions",
    "key",
    "operator",
    "values",
    "containers",
    "initContainers",
    "containerPort",
    "hostNetwork",
    "nodeName",
    "podIP",
    "podIPs",
    "phase",
    "selector",
    "template",
    "replicas",
    "targetPort",
    "clusterIP",
    "clusterIPs",
    "addresses",
    "address",
    "type",
    "jobTemplate",
    "image",
    "restartPolicy",
    "items",
    "ip",
];

/// A known field equal ignoring case, or one edit away.
pub fn suggest_field(field: &str) -> Option<&'static str> {
    if let Some(k) = KNOWN_FIELDS.iter().find(|k| k.eq_ignore_ascii_case(field)) {
        return Some(k);
    }
    KNOWN_FIELDS
        .iter()
        .copied()
        .filter(|k| edit_distance(&k.to_ascii_lowercase(), &field.to_ascii_lowercase()) <= 1)
        .min_by_key(|k| k.len().abs_diff(field.len()))
        .filter(|_| field.len() > 3)
}

pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut cur = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
        }
        prev = cur;
    }
    prev[b.len()]
}
