use crate::Span;

/// A parsed value with its position. For a mapping value, `key_span` is where its
/// key was written, which is where "unknown field" errors point.
#[derive(Clone, Debug)]
pub struct Node {
    pub value: Value,
    pub span: Span,
    pub key_span: Option<Span>,
}

#[derive(Clone, Debug)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    /// Entries in source order; keys are scalars.
    Map(Vec<(Node, Node)>),
}

/// One step of a field path such as `spec.ingress[0].from[1]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PathSegment {
    Key(String),
    Index(usize),
}

/// Renders a path the way Kubernetes error messages do: `spec.ingress[0].from`.
/// Keys that are not plain identifiers (label keys with `/` or `.`) are bracketed.
pub fn field_path_string(path: &[PathSegment]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            PathSegment::Key(k) => {
                let plain = !k.is_empty()
                    && k.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
                if plain {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(k);
                } else {
                    out.push_str(&format!("[{k:?}]"));
                }
            }
            PathSegment::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

impl Node {
    /// Moves every span of the tree by `offset` bytes and `lines` lines.
    pub(crate) fn shift(&mut self, offset: usize, lines: u32) {
        self.span.shift(offset, lines);
        if let Some(k) = &mut self.key_span {
            k.shift(offset, lines);
        }
        match &mut self.value {
            Value::Seq(items) => items.iter_mut().for_each(|n| n.shift(offset, lines)),
            Value::Map(entries) => entries.iter_mut().for_each(|(k, v)| {
                k.shift(offset, lines);
                v.shift(offset, lines);
            }),
            _ => {}
        }
    }
}

impl Value {
    /// The text a scalar key stands for. go-yaml turns non-string scalar keys into
    /// their JSON text (`80:` becomes `"80"`); collections cannot be keys.
    pub fn key_text(&self) -> Option<String> {
        match self {
            Value::Null => Some("null".into()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Int(i) => Some(i.to_string()),
            Value::Float(f) => Some(f.to_string()),
            Value::Str(s) => Some(s.clone()),
            Value::Seq(_) | Value::Map(_) => None,
        }
    }

    /// Whether this scalar's key text is `key` (`key_text() == Some(key)`), without
    /// allocating for string keys, which are nearly all of them.
    pub fn key_is(&self, key: &str) -> bool {
        match self {
            Value::Str(s) => s == key,
            _ => self.key_text().as_deref() == Some(key),
        }
    }

    pub fn kind_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Int(_) => "integer",
            Value::Float(_) => "number",
            Value::Str(_) => "string",
            Value::Seq(_) => "list",
            Value::Map(_) => "mapping",
        }
    }
}

impl Node {
    /// Number of nodes in this subtree, for the alias-expansion budget.
    pub fn count(&self) -> usize {
        let mut n = 0;
        let mut todo = vec![self];
        while let Some(node) = todo.pop() {
            n += 1;
            match &node.value {
                Value::Seq(items) => todo.extend(items.iter()),
                Value::Map(entries) => todo.extend(entries.iter().map(|(_, v)| v)),
                _ => {}
            }
        }
        n
    }

    /// The value of key `key` if this node is a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.value {
            Value::Map(entries) => entries
                .iter()
                .find(|(k, _)| k.value.key_is(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Follows `path` as far as it exists and returns the deepest node reached and
    /// how many segments were consumed. Errors about a missing field point at the
    /// parent that should have held it.
    pub fn lookup(&self, path: &[PathSegment]) -> (&Node, usize) {
        let mut node = self;
        for (depth, seg) in path.iter().enumerate() {
            let next = match (seg, &node.value) {
                (PathSegment::Key(k), Value::Map(_)) => node.get(k),
                (PathSegment::Index(i), Value::Seq(items)) => items.get(*i),
                _ => None,
            };
            match next {
                Some(n) => node = n,
                None => return (node, depth),
            }
        }
        (node, path.len())
    }

    /// Converts to JSON as sigs.k8s.io/yaml does. Depth is bounded by the parser, so
    /// the recursion here is bounded too.
    pub fn to_json(&self) -> serde_json::Value {
        match &self.value {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Int(i) => serde_json::Value::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f)
                .map(serde_json::Value::Number)
                .unwrap_or(serde_json::Value::Null),
            Value::Str(s) => serde_json::Value::String(s.clone()),
            Value::Seq(items) => {
                serde_json::Value::Array(items.iter().map(Node::to_json).collect())
            }
            Value::Map(entries) => serde_json::Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.value.key_text().unwrap_or_default(), v.to_json()))
                    .collect(),
            ),
        }
    }
}
