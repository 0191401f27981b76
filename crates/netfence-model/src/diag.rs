//! Diagnostics: what is wrong, where (file, line, column, field path) and what to
//! write instead. Libraries produce them; the CLI renders them.

use std::fmt::Write as _;

use netfence_yaml::Span;
use serde::Serialize;

use crate::sources::{FieldLoc, FileId, Sources};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Note,
    Warning,
    Error,
}

/// Where a diagnostic points.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Anchor {
    /// A field of an object; `key` points at the key rather than the value.
    Field {
        loc: FieldLoc,
        key: bool,
    },
    /// A raw position, for errors found before objects exist (YAML syntax).
    Text {
        file: FileId,
        span: Span,
    },
    /// A file as a whole (cannot be read).
    File {
        name: String,
    },
    None,
}

/// What a diagnostic is about, for code that adds to it (a better help text)
/// or groups it, so that nobody has to match on message text.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum DiagnosticKind {
    #[default]
    Other,
    /// A string belongs here, and YAML read the unquoted word as `read_as`.
    UnquotedScalar { read_as: ScalarType },
    /// A namespace is used but has no Namespace object.
    UndeclaredNamespace,
}

/// The non-string scalars YAML reads unquoted words as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScalarType {
    Boolean,
    Number,
}

impl ScalarType {
    pub fn name(self) -> &'static str {
        match self {
            ScalarType::Boolean => "boolean",
            ScalarType::Number => "number",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub kind: DiagnosticKind,
    pub message: String,
    pub anchor: Anchor,
    /// `NetworkPolicy app/allow-dns`, when the problem belongs to an object.
    pub object: Option<String>,
    /// That object's kind (`NetworkPolicy`).
    pub object_kind: Option<String>,
    /// What to write instead.
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn error(message: impl Into<String>, anchor: Anchor) -> Self {
        Diagnostic {
            severity: Severity::Error,
            kind: DiagnosticKind::Other,
            message: message.into(),
            anchor,
            object: None,
            object_kind: None,
            help: None,
        }
    }

    pub fn warning(message: impl Into<String>, anchor: Anchor) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(message, anchor)
        }
    }

    pub fn note(message: impl Into<String>, anchor: Anchor) -> Self {
        Diagnostic {
            severity: Severity::Note,
            ..Diagnostic::error(message, anchor)
        }
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn with_kind(mut self, kind: DiagnosticKind) -> Self {
        self.kind = kind;
        self
    }

    pub fn with_object(mut self, object: impl Into<String>) -> Self {
        self.object = Some(object.into());
        self
    }

    /// The field path inside the object (`spec.ingress[0].from[1]`), if any.
    pub fn field_path(&self) -> Option<String> {
        match &self.anchor {
            Anchor::Field { loc, .. } => Some(loc.path_string()),
            _ => None,
        }
    }

    /// File name, 1-based line and column, when known.
    pub fn position(&self, sources: &Sources) -> Option<(String, u32, u32)> {
        match &self.anchor {
            Anchor::Field { loc, key } => {
                let at = sources.locate(loc, *key)?;
                Some((sources.name(at.file).to_string(), at.span.line, at.span.col))
            }
            Anchor::Text { file, span } => {
                Some((sources.name(*file).to_string(), span.line, span.col))
            }
            Anchor::File { name } => Some((name.clone(), 0, 0)),
            Anchor::None => None,
        }
    }

    fn located(&self, sources: &Sources) -> Option<(FileId, Span)> {
        match &self.anchor {
            Anchor::Field { loc, key } => sources.locate(loc, *key).map(|l| (l.file, l.span)),
            Anchor::Text { file, span } => Some((*file, *span)),
            _ => None,
        }
    }
}

/// A diagnostic with its source attached, in the shape miette renders.
#[derive(Debug)]
struct Rendered {
    message: String,
    severity: miette::Severity,
    source: Option<miette::NamedSource<String>>,
    label: Option<miette::LabeledSpan>,
    help: Option<String>,
}

impl std::fmt::Display for Rendered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Rendered {}

impl miette::Diagnostic for Rendered {
    fn severity(&self) -> Option<miette::Severity> {
        Some(self.severity)
    }
    fn help<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn std::fmt::Display>)
    }
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.source.as_ref().map(|s| s as &dyn miette::SourceCode)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        self.label
            .clone()
            .map(|l| Box::new(std::iter::once(l)) as Box<dyn Iterator<Item = _>>)
    }
}

/// The width text is wrapped to: the terminal's, set once by the binary
/// (`set_width`), else 100 columns.
static WIDTH: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(100);

/// Least and most columns wrapping uses, whatever the terminal says.
const MIN_WIDTH: usize = 60;
const MAX_WIDTH: usize = 200;

pub fn set_width(columns: usize) {
    WIDTH.store(
        columns.clamp(MIN_WIDTH, MAX_WIDTH),
        std::sync::atomic::Ordering::Relaxed,
    );
}

pub fn width() -> usize {
    WIDTH.load(std::sync::atomic::Ordering::Relaxed)
}

/// Renders diagnostics the way rustc and miette do: the message, `file:line:col`,
/// the snippet with the offending field underlined, the field path and the help.
pub fn render(diagnostics: &[Diagnostic], sources: &Sources, color: bool) -> String {
    let theme = if color {
        miette::GraphicalTheme::unicode()
    } else {
        miette::GraphicalTheme::unicode_nocolor()
    };
    let handler = miette::GraphicalReportHandler::new_themed(theme)
        .with_context_lines(1)
        .with_width(width())
        // Wrap between words only: never inside a name, a label key or a path.
        .with_break_words(false)
        .with_word_separator(textwrap::WordSeparator::AsciiSpace)
        .with_word_splitter(textwrap::WordSplitter::NoHyphenation);
    let mut out = String::new();
    for (d, repeats) in summarize_repeats(diagnostics) {
        let mut message = d.message.clone();
        if let Some(obj) = &d.object {
            message = format!("{obj}: {message}");
        }
        if repeats > 0 {
            let list = list_kind(d, sources).unwrap_or_else(|| "list".to_string());
            let _ = write!(
                message,
                "\n  and {repeats} more {} of this {list}: same error",
                if repeats == 1 { "item" } else { "items" }
            );
        }
        if let Some(path) = d.field_path().filter(|p| !p.is_empty()) {
            let _ = write!(message, "\n  field: {path}");
        }
        if let Some((file, line, col)) = d.position(sources) {
            if line > 0 {
                let _ = write!(message, "\n  at: {file}:{line}:{col}");
            } else {
                let _ = write!(message, "\n  in: {file}");
            }
        }
        let (source, label) = match d.located(sources) {
            Some((file, span)) => {
                let f = sources.file(file);
                // A whole object would be quoted line by line: its first line
                // (with the context around it) says where it is.
                let len = f
                    .text
                    .get(span.offset..span.offset + span.len)
                    .and_then(|s| s.find('\n'))
                    .unwrap_or(span.len);
                (
                    Some(miette::NamedSource::new(&f.name, f.text.clone())),
                    Some(miette::LabeledSpan::new_with_span(
                        None,
                        miette::SourceSpan::new(span.offset.into(), len.max(1)),
                    )),
                )
            }
            None => (None, None),
        };
        let rendered = Rendered {
            message,
            severity: match d.severity {
                Severity::Error => miette::Severity::Error,
                Severity::Warning => miette::Severity::Warning,
                Severity::Note => miette::Severity::Advice,
            },
            source,
            label,
            help: d.help.clone(),
        };
        let _ = handler.render_report(&mut out, &rendered);
    }
    out
}

/// Why nothing was analyzed, true to what was wrong: the end of the closing
/// line after "N error(s) in the input".
pub fn withheld_reason(diagnostics: &[Diagnostic]) -> String {
    let errors: Vec<&Diagnostic> = diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .collect();
    let unread = errors
        .iter()
        .any(|d| d.object_kind.is_none() && !matches!(d.anchor, Anchor::None));
    let mut kinds: Vec<&str> = errors
        .iter()
        .filter_map(|d| d.object_kind.as_deref())
        .collect();
    kinds.sort_unstable();
    kinds.dedup();
    if unread {
        "nothing was analyzed: what could not be read may hold an isolating policy".to_string()
    } else if kinds.contains(&"NetworkPolicy") {
        "nothing was analyzed: an answer without the rejected NetworkPolicy could be wrong in either direction".to_string()
    } else if !kinds.is_empty() {
        format!(
            "nothing was analyzed: without the rejected {} objects, policies would select from an incomplete cluster",
            kinds.join(" and ")
        )
    } else {
        "nothing was analyzed".to_string()
    }
}

/// The diagnostics with each repeat left out and counted: the same message,
/// field and help for another item of the same list (`items[i]` of one
/// document), as a list of pods that all miss the same field gives.
fn summarize_repeats(diagnostics: &[Diagnostic]) -> Vec<(&Diagnostic, usize)> {
    let mut out: Vec<(&Diagnostic, usize)> = Vec::new();
    let mut seen: std::collections::HashMap<_, usize> = std::collections::HashMap::new();
    for d in diagnostics {
        let key = match &d.anchor {
            Anchor::Field { loc, key } => match loc.origin.prefix.as_slice() {
                [
                    netfence_yaml::PathSegment::Key(items),
                    netfence_yaml::PathSegment::Index(_),
                ] if items == "items" => Some((
                    loc.origin.file,
                    loc.origin.document,
                    loc.path.clone(),
                    *key,
                    d.severity,
                    d.message.clone(),
                    d.help.clone(),
                )),
                _ => None,
            },
            _ => None,
        };
        match key.as_ref().and_then(|k| seen.get(k)) {
            Some(&i) => out[i].1 += 1,
            None => {
                if let Some(k) = key {
                    seen.insert(k, out.len());
                }
                out.push((d, 0));
            }
        }
    }
    out
}

/// The `kind` of the document a list item diagnostic points into (`PodList`).
fn list_kind(d: &Diagnostic, sources: &Sources) -> Option<String> {
    let Anchor::Field { loc, .. } = &d.anchor else {
        return None;
    };
    let doc = sources
        .files
        .get(loc.origin.file.0 as usize)?
        .documents
        .get(loc.origin.document)?;
    doc.root.get("kind")?.as_str().map(str::to_string)
}

/// One line per diagnostic, `file:line:col: severity: message [field] (help)`, for
/// logs and tests.
pub fn render_short(diagnostics: &[Diagnostic], sources: &Sources) -> String {
    let mut out = String::new();
    for d in diagnostics {
        let pos = match d.position(sources) {
            Some((f, l, c)) if l > 0 => format!("{f}:{l}:{c}: "),
            Some((f, _, _)) => format!("{f}: "),
            None => String::new(),
        };
        let sev = match d.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "note",
        };
        let _ = write!(out, "{pos}{sev}: ");
        if let Some(obj) = &d.object {
            let _ = write!(out, "{obj}: ");
        }
        let _ = write!(out, "{}", d.message);
        if let Some(p) = d.field_path().filter(|p| !p.is_empty()) {
            let _ = write!(out, " [{p}]");
        }
        if let Some(h) = &d.help {
            let _ = write!(out, " (help: {h})");
        }
        out.push('\n');
    }
    out
}
