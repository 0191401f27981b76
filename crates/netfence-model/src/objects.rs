//! Objects found in the parsed documents, before typed decoding: their kind,
//! identity and origin.

use netfence_yaml::{PathSegment, Value};

use crate::diag::{Anchor, Diagnostic};
use crate::kinds::is_cluster_scoped;
use crate::sources::{FieldLoc, ObjectOrigin};

/// One object found in the input, before typed decoding.
pub(crate) struct RawObject {
    pub api_version: String,
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
    pub origin: ObjectOrigin,
    pub json: serde_json::Value,
    pub overlay: bool,
}

impl RawObject {
    pub(crate) fn describe(&self) -> String {
        match &self.namespace {
            Some(ns) if !is_cluster_scoped(&self.kind) => {
                format!("{} {}/{}", self.kind, ns, self.name)
            }
            _ => format!("{} {}", self.kind, self.name),
        }
    }
}

/// Collects the objects of one parsed document (the items of a `List`, one by
/// one), reporting what is not an object.
pub(crate) fn collect_objects(
    node: &netfence_yaml::Node,
    origin: ObjectOrigin,
    overlay: bool,
    default_ns: &Option<String>,
    out: &mut Vec<RawObject>,
    diags: &mut Vec<Diagnostic>,
) {
    let loc = FieldLoc {
        origin: origin.clone(),
        path: Vec::new(),
    };
    match &node.value {
        Value::Null => return,
        Value::Map(_) => {}
        other => {
            diags.push(
                Diagnostic::error(
                    format!(
                        "expected a Kubernetes object (a mapping), found a {}",
                        other.kind_name()
                    ),
                    Anchor::Field { loc, key: false },
                )
                .with_help(
                    "each YAML document must be one object with apiVersion, kind and metadata",
                ),
            );
            return;
        }
    }
    let text = |key: &str| node.get(key).and_then(|n| n.as_str()).map(str::to_string);
    let (Some(api_version), Some(kind)) = (text("apiVersion"), text("kind")) else {
        let missing = if text("apiVersion").is_none() {
            "apiVersion"
        } else {
            "kind"
        };
        diags.push(
            Diagnostic::error(
                format!("`{missing}` is missing or not a string"),
                Anchor::Field { loc, key: false },
            )
            .with_help("every object starts with `apiVersion:` and `kind:`, e.g. `apiVersion: networking.k8s.io/v1` and `kind: NetworkPolicy`"),
        );
        return;
    };
    if kind == "List" || (kind.ends_with("List") && node.get("items").is_some()) {
        if let Some(items) = node.get("items")
            && let Value::Seq(list) = &items.value
        {
            for (i, item) in list.iter().enumerate() {
                let mut o = origin.clone();
                o.prefix.push(PathSegment::Key("items".into()));
                o.prefix.push(PathSegment::Index(i));
                collect_objects(item, o, overlay, default_ns, out, diags);
            }
            return;
        }
        diags.push(Diagnostic::error(
            "a List needs `items:` with a list of objects",
            Anchor::Field { loc, key: false },
        ));
        return;
    }
    let meta = node.get("metadata");
    if let Some(name_node) = meta.and_then(|m| m.get("name"))
        && let Some(text) = name_node
            .as_str()
            .is_none()
            .then(|| name_node.value.key_text())
            .flatten()
    {
        diags.push(
                Diagnostic::error(
                    format!("`metadata.name` must be a string, but YAML reads `{text}` as a {}", name_node.value.kind_name()),
                    Anchor::Field { loc: loc.key("metadata").key("name"), key: false },
                )
                .with_help("quote it: unquoted y, n, yes, no, on, off, true, false and numbers are not strings in YAML"),
            );
        return;
    }
    let name = meta.and_then(|m| m.get("name")).and_then(|n| n.as_str());
    let Some(name) = name.map(str::to_string) else {
        diags.push(
            Diagnostic::error(
                format!("{kind} has no `metadata.name`"),
                Anchor::Field {
                    loc: if meta.is_some() {
                        loc.key("metadata")
                    } else {
                        loc
                    },
                    key: true,
                },
            )
            .with_help("add `metadata: {name: ...}`"),
        );
        return;
    };
    let namespace = meta
        .and_then(|m| m.get("namespace"))
        .and_then(|n| n.as_str())
        .map(str::to_string)
        .or_else(|| default_ns.clone())
        .or_else(|| Some("default".to_string()));
    out.push(RawObject {
        api_version,
        kind,
        namespace,
        name,
        origin,
        json: node.to_json(),
        overlay,
    });
}
