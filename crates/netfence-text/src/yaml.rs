//! A small YAML writer for the manifests netfence proposes: block style, keys in
//! the order given, strings quoted whenever YAML would otherwise read them as
//! something else (`"y"`, `"80"`, `"on"`).

use serde_json::Value;

pub fn to_yaml(value: &Value) -> String {
    let mut out = String::new();
    write_value(value, 0, &mut out, false);
    out
}

fn needs_quotes(s: &str) -> bool {
    if s.is_empty() {
        return true;
    }
    let plain = netfence_yamlish_plain(s);
    !plain
}

/// True when `s` can be written unquoted and still read back as the same string.
fn netfence_yamlish_plain(s: &str) -> bool {
    let first = s.as_bytes()[0];
    if b"-?:,[]{}#&*!|>'\"%@` ".contains(&first) {
        return false;
    }
    if s.ends_with(' ') || s.contains(": ") || s.contains(" #") || s.contains('\n') {
        return false;
    }
    let lower = s.to_ascii_lowercase();
    let reserved = [
        "y", "n", "yes", "no", "true", "false", "on", "off", "null", "~",
    ];
    if reserved.contains(&lower.as_str()) {
        return false;
    }
    let numeric = s
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E' | b'x' | b'_'));
    !numeric
}

fn scalar(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) if needs_quotes(s) => format!("{s:?}"),
        Value::String(s) => s.clone(),
        Value::Array(a) if a.is_empty() => "[]".into(),
        Value::Object(o) if o.is_empty() => "{}".into(),
        _ => String::new(),
    }
}

fn is_collection(value: &Value) -> bool {
    matches!(value, Value::Array(a) if !a.is_empty())
        || matches!(value, Value::Object(o) if !o.is_empty())
}

fn write_value(value: &Value, indent: usize, out: &mut String, in_list_item: bool) {
    let pad = " ".repeat(indent);
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (i, (k, v)) in map.iter().enumerate() {
                if !(in_list_item && i == 0) {
                    out.push_str(&pad);
                }
                let key = if needs_quotes(k) {
                    format!("{k:?}")
                } else {
                    k.clone()
                };
                if is_collection(v) {
                    out.push_str(&format!("{key}:\n"));
                    let child = if matches!(v, Value::Array(_)) {
                        indent
                    } else {
                        indent + 2
                    };
                    write_value(v, child, out, false);
                } else {
                    out.push_str(&format!("{key}: {}\n", scalar(v)));
                }
            }
        }
        Value::Array(items) if !items.is_empty() => {
            for item in items {
                out.push_str(&pad);
                out.push_str("- ");
                if is_collection(item) {
                    match item {
                        Value::Object(_) => write_value(item, indent + 2, out, true),
                        _ => {
                            out.push('\n');
                            write_value(item, indent + 2, out, false);
                        }
                    }
                } else {
                    out.push_str(&scalar(item));
                    out.push('\n');
                }
            }
        }
        other => {
            out.push_str(&pad);
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_kubernetes_style_yaml_that_reads_back() {
        let v = serde_json::json!({
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "allow-dns", "namespace": "y"},
            "spec": {
                "podSelector": {},
                "policyTypes": ["Egress"],
                "egress": [{"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}, "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}], "ports": [{"protocol": "UDP", "port": 53}]}]
            }
        });
        let text = to_yaml(&v);
        assert!(text.contains("namespace: \"y\""), "{text}");
        assert!(
            text.contains("  egress:\n  - to:\n    - namespaceSelector:\n"),
            "{text}"
        );
    }
}
