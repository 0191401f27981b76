//! What a rule reports: a finding with its rule, severity, message, the exact field
//! it is about, the fix, and the objects and pods it concerns.

use netfence_model::{Anchor, Diagnostic, FieldLoc, ObjectOrigin, Sources};
use serde::Serialize;

use crate::rules::Rule;

/// How serious a finding is. `info` findings describe posture; they never fail a
/// run unless `--fail-on info` is given.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Info,
    Warning,
    Error,
}

impl Level {
    pub const ALL: [Level; 3] = [Level::Error, Level::Warning, Level::Info];

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Info => "info",
            Level::Warning => "warning",
            Level::Error => "error",
        }
    }

    pub fn parse(text: &str) -> Option<Level> {
        match text {
            "info" => Some(Level::Info),
            "warning" => Some(Level::Warning),
            "error" => Some(Level::Error),
            _ => None,
        }
    }
}

impl std::fmt::Display for Level {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The object a finding belongs to: its annotation `netfence.io/lint-ignore`
/// (or its namespace's) can silence the finding.
#[derive(Clone, Debug)]
pub struct ObjectRef {
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
    pub origin: Option<ObjectOrigin>,
}

impl std::fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {ns}/{}", self.kind, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

/// Where a finding points, resolved against the input text. Lines and columns
/// are 1-based; the end is exclusive.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Location {
    pub file: String,
    pub line: u32,
    pub column: u32,
    pub end_line: u32,
    pub end_column: u32,
    /// The field path inside the object, `spec.egress[0].to[1]`.
    pub path: String,
}

#[derive(Clone, Debug)]
pub struct Finding {
    pub rule: &'static str,
    pub name: &'static str,
    pub severity: Level,
    pub message: String,
    pub help: Option<String>,
    /// The offending field; `key` points at its key rather than its value.
    pub at: Option<FieldLoc>,
    pub key: bool,
    pub object: Option<ObjectRef>,
    /// Other objects and the pods the finding is about (`ns/pod`, `ns/kind/name`).
    pub related: Vec<String>,
}

impl Finding {
    pub fn new(rule: &Rule, message: impl Into<String>) -> Finding {
        Finding {
            rule: rule.id,
            name: rule.name,
            severity: rule.severity,
            message: message.into(),
            help: None,
            at: None,
            key: false,
            object: None,
            related: Vec::new(),
        }
    }

    pub fn at(mut self, loc: FieldLoc) -> Finding {
        self.at = Some(loc);
        self.key = false;
        self
    }

    /// Points at the key of a field (`policyTypes:`), for findings about a whole
    /// mapping or list.
    pub fn at_key(mut self, loc: FieldLoc) -> Finding {
        self.at = Some(loc);
        self.key = true;
        self
    }

    /// Points at the field, or at its key when `key` is set.
    pub fn at_field(self, (loc, key): (FieldLoc, bool)) -> Finding {
        if key { self.at_key(loc) } else { self.at(loc) }
    }

    pub fn object(mut self, object: ObjectRef) -> Finding {
        self.object = Some(object);
        self
    }

    /// Belongs to `object` and points at its `metadata.name` (when the object
    /// is in the input), for findings about a whole object.
    pub fn on_object(mut self, object: ObjectRef) -> Finding {
        if let Some(origin) = &object.origin {
            let loc = FieldLoc {
                origin: origin.clone(),
                path: Vec::new(),
            };
            self = self.at(loc.key("metadata").key("name"));
        }
        self.object(object)
    }

    pub fn help(mut self, help: impl Into<String>) -> Finding {
        self.help = Some(help.into().trim_end().to_string());
        self
    }

    pub fn related(mut self, related: impl IntoIterator<Item = String>) -> Finding {
        self.related.extend(related);
        self
    }

    pub fn location(&self, sources: &Sources) -> Option<Location> {
        let loc = self.at.as_ref()?;
        let at = sources.locate(loc, self.key)?;
        let text = &sources.file(at.file).text;
        let end = at.span.offset + at.span.len;
        let covered = text.get(at.span.offset..end).unwrap_or("");
        let (end_line, end_column) = match covered.rfind('\n') {
            None => (at.span.line, at.span.col + covered.chars().count() as u32),
            Some(i) => (
                at.span.line + covered.matches('\n').count() as u32,
                covered[i + 1..].chars().count() as u32 + 1,
            ),
        };
        Some(Location {
            file: sources.name(at.file).to_string(),
            line: at.span.line,
            column: at.span.col,
            end_line,
            end_column,
            path: loc.path_string(),
        })
    }

    /// `[NF012 dns-blocked] message`.
    pub fn headline(&self) -> String {
        format!("[{} {}] {}", self.rule, self.name, self.message)
    }

    /// The finding as a diagnostic, for the rustc/miette-style text renderer.
    pub fn diagnostic(&self) -> Diagnostic {
        let anchor = match &self.at {
            Some(loc) => Anchor::Field {
                loc: loc.clone(),
                key: self.key,
            },
            None => Anchor::None,
        };
        let mut message = self.headline();
        if !self.related.is_empty() {
            message.push_str(&format!(
                "\n  concerns: {}",
                netfence_text::short_list(&self.related)
            ));
        }
        let mut d = match self.severity {
            Level::Error => Diagnostic::error(message, anchor),
            Level::Warning => Diagnostic::warning(message, anchor),
            Level::Info => Diagnostic::note(message, anchor),
        };
        if let Some(h) = &self.help {
            d = d.with_help(h.clone());
        }
        if let Some(o) = &self.object {
            d = d.with_object(o.to_string());
        }
        d
    }
}
