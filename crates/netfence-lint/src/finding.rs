//! What a rule reports: a finding with its rule, severity, message, the exact field
//! it is about, the fix, and the objects and pods it concerns.

use netfence_model::{Anchor, Diagnostic, FieldLoc, FileId, ObjectOrigin, Severity, Sources};
use netfence_yaml::Span;
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
    /// Where an input problem points when it is not a field of an object (YAML
    /// syntax, an unreadable file).
    pub raw: Option<Anchor>,
}

/// The pseudo-rule of problems found while reading the input (syntax, schema,
/// validation): they are findings too, so every output format carries them and
/// `--fail-on` counts them.
pub const INPUT_RULE: &str = "input";

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
            raw: None,
        }
    }

    /// An error or warning of reading the input, as a finding of the `input`
    /// pseudo-rule; notes are not findings.
    pub fn from_input(d: &Diagnostic) -> Option<Finding> {
        let severity = match d.severity {
            Severity::Error => Level::Error,
            Severity::Warning => Level::Warning,
            Severity::Note => return None,
        };
        let message = match &d.object {
            Some(object) => format!("{object}: {}", d.message),
            None => d.message.clone(),
        };
        let mut f = Finding {
            rule: INPUT_RULE,
            name: INPUT_RULE,
            severity,
            message,
            help: d.help.clone(),
            at: None,
            key: false,
            object: None,
            related: Vec::new(),
            raw: None,
        };
        match &d.anchor {
            Anchor::Field { loc, key } => f = f.at_field((loc.clone(), *key)),
            Anchor::None => {}
            other => f.raw = Some(other.clone()),
        }
        Some(f)
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
        if let Some(loc) = &self.at {
            let at = sources.locate(loc, self.key)?;
            return Some(span_location(sources, at.file, at.span, loc.path_string()));
        }
        match self.raw.as_ref()? {
            Anchor::Text { file, span } => {
                Some(span_location(sources, *file, *span, String::new()))
            }
            Anchor::File { name } => Some(Location {
                file: name.clone(),
                line: 1,
                column: 1,
                end_line: 1,
                end_column: 1,
                path: String::new(),
            }),
            Anchor::Field { .. } | Anchor::None => None,
        }
    }

    /// `[NF012 dns-blocked] message`.
    pub fn headline(&self) -> String {
        if self.rule == INPUT_RULE {
            return format!("[{INPUT_RULE}] {}", self.message);
        }
        format!("[{} {}] {}", self.rule, self.name, self.message)
    }

    /// The finding as a diagnostic, for the rustc/miette-style text renderer.
    pub fn diagnostic(&self) -> Diagnostic {
        let anchor = match (&self.at, &self.raw) {
            (Some(loc), _) => Anchor::Field {
                loc: loc.clone(),
                key: self.key,
            },
            (None, Some(raw)) => raw.clone(),
            (None, None) => Anchor::None,
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

/// The 1-based start and exclusive end of `span` in `file`.
fn span_location(sources: &Sources, file: FileId, span: Span, path: String) -> Location {
    let text = &sources.file(file).text;
    let end = span.offset + span.len;
    let covered = text.get(span.offset..end).unwrap_or("");
    let (end_line, end_column) = match covered.rfind('\n') {
        None => (span.line, span.col + covered.chars().count() as u32),
        Some(i) => (
            span.line + covered.matches('\n').count() as u32,
            covered[i + 1..].chars().count() as u32 + 1,
        ),
    };
    Location {
        file: sources.name(file).to_string(),
        line: span.line,
        column: span.col,
        end_line,
        end_column,
        path,
    }
}
