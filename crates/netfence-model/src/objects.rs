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
    /// `Pod app/web`, with control characters escaped: names are printed
    /// before they are validated.
    pub(crate) fn describe(&self) -> String {
        let text = match &self.namespace {
            Some(ns) if !is_cluster_scoped(&self.kind) => {
                format!("{} {}/{}", self.kind, ns, self.name)
            }
            _ => format!("{} {}", self.kind, self.name),
        };
        if text.chars().any(char::is_control) {
            text.chars()
                .map(|c| {
                    if c.is_control() {
                        c.escape_default().to_string()
                    } else {
                        c.to_string()
                    }
                })
                .collect()
        } else {
            text
        }
    }
}

/// Collects the objects of one parsed document (the items of a `List`, one by
/// one), reporting what is not an object.
pub(crate) fn collect_objects(
    node: &netfence_yaml::Node,
    text: &str,
    origin: ObjectOrigin,
    overlay: bool,
    default_ns: &Option<String>,
    out: &mut Vec<RawObject>,
    diags: &mut Vec<Diagnostic>,
) {
    collect(node, text, origin, overlay, default_ns, None, out, diags);
}

/// What the items of a typed list (`PodList`) are when they do not say it
/// themselves: as apimachinery decodes a list, the list's apiVersion and its
/// kind without `List`.
#[derive(Clone, Copy)]
struct ItemDefaults<'a> {
    api_version: &'a str,
    kind: &'a str,
}

#[allow(clippy::too_many_arguments)]
fn collect(
    node: &netfence_yaml::Node,
    src: &str,
    origin: ObjectOrigin,
    overlay: bool,
    default_ns: &Option<String>,
    item_defaults: Option<ItemDefaults<'_>>,
    out: &mut Vec<RawObject>,
    diags: &mut Vec<Diagnostic>,
) {
    let loc = FieldLoc {
        origin: origin.clone(),
        path: Vec::new(),
    };
    let top_level = origin.prefix.is_empty();
    match &node.value {
        Value::Null => return,
        Value::Map(_) => {}
        // `[]`, as `kubectl get -o json` tools and scripts write an empty result.
        Value::Seq(items) if items.is_empty() && top_level => return,
        Value::Seq(_) if top_level => {
            diags.push(
                Diagnostic::error(
                    "expected a Kubernetes object (a mapping), found a list",
                    Anchor::Field { loc, key: false },
                )
                .with_help(
                    "write the objects as YAML documents separated by `---`, or as the items of `apiVersion: v1` / `kind: List` / `items: [...]`",
                ),
            );
            return;
        }
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
    let written = (text("apiVersion"), text("kind"));
    let filled = written.0.is_none() && written.1.is_none() && item_defaults.is_some();
    let (api_version, kind) = match (written, item_defaults) {
        ((Some(a), Some(k)), _) => (a, k),
        ((None, None), Some(d)) => (d.api_version.to_string(), d.kind.to_string()),
        ((a, _), _) => {
            let missing = if a.is_none() { "apiVersion" } else { "kind" };
            let help = if origin.prefix.is_empty() {
                "every object starts with `apiVersion:` and `kind:`, e.g. `apiVersion: v1` and `kind: Pod`, or `apiVersion: networking.k8s.io/v1` and `kind: NetworkPolicy`"
            } else {
                "each item of a `kind: List` says what it is with its own `apiVersion:` and `kind:` (the items of a typed list such as `PodList` need neither)"
            };
            diags.push(
                Diagnostic::error(
                    format!("`{missing}` is missing or not a string"),
                    Anchor::Field { loc, key: false },
                )
                .with_help(help),
            );
            return;
        }
    };
    if kind == "List" || (kind.ends_with("List") && node.get("items").is_some()) {
        if let Some(items) = node.get("items")
            && let Value::Seq(list) = &items.value
        {
            let defaults = kind
                .strip_suffix("List")
                .filter(|k| !k.is_empty())
                .map(|k| ItemDefaults {
                    api_version: &api_version,
                    kind: k,
                });
            for (i, item) in list.iter().enumerate() {
                let mut o = origin.clone();
                o.prefix.push(PathSegment::Key("items".into()));
                o.prefix.push(PathSegment::Index(i));
                collect(item, src, o, overlay, default_ns, defaults, out, diags);
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
        // The word as written (`y`), not as YAML reads it (`true`).
        let text = src
            .get(name_node.span.offset..name_node.span.offset + name_node.span.len)
            .filter(|w| !w.is_empty())
            .map_or(text, str::to_string);
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
    // A namespace YAML reads as another type (`y` is a boolean) is still the
    // object's namespace in what the diagnostics say; decoding rejects it.
    let namespace = meta
        .and_then(|m| m.get("namespace"))
        .and_then(|n| {
            n.as_str().map(str::to_string).or_else(|| {
                n.value.key_text()?;
                src.get(n.span.offset..n.span.offset + n.span.len)
                    .map(str::to_string)
            })
        })
        // `namespace: ""` means the default one, as for kubectl.
        .filter(|n| !n.is_empty())
        .or_else(|| default_ns.clone())
        .or_else(|| Some("default".to_string()));
    let mut json = node.to_json();
    if filled && let serde_json::Value::Object(map) = &mut json {
        map.insert("apiVersion".into(), api_version.clone().into());
        map.insert("kind".into(), kind.clone().into());
    }
    out.push(RawObject {
        api_version,
        kind,
        namespace,
        name,
        origin,
        json,
        overlay,
    });
}
