//! A YAML/JSON reader that keeps source positions.
//!
//! Kubernetes manifests are YAML read the way `kubectl` reads them (go-yaml v2
//! scalar resolution, then converted to JSON). Diagnostics must point at the exact
//! line and column of a field, so this crate parses into a [`Node`] tree in which
//! every value and every mapping key carries its [`Span`], then hands callers a
//! plain `serde_json::Value` for typed decoding and a way back from a field path
//! to the span.
//!
//! Hostile input is expected: nesting depth and alias expansion are bounded, and
//! duplicate keys are errors (kubectl's strict decoding rejects them too).

mod resolve;
mod tree;

pub use resolve::resolve_plain_scalar;
pub use tree::{Node, PathSegment, Value, field_path_string};

use std::fmt;

use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// Deepest nesting accepted; real manifests stay far below it and the bound keeps
/// recursive consumers of the tree safe from stack exhaustion.
pub const MAX_DEPTH: usize = 100;
/// Nodes aliases may add to an input by repeating what anchors name (a "billion
/// laughs" guard). Nodes written out in the text are bounded by its size and
/// are not counted: 50,000 Deployments in one file are 2.5 million nodes.
pub const MAX_NODES: usize = 2_000_000;

/// A region of the source text. `line` and `col` are 1-based and count characters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Span {
    pub offset: usize,
    pub len: usize,
    pub line: u32,
    pub col: u32,
}

/// Turns the parser's markers (line, column in characters) into byte offsets.
struct SourceMap<'a> {
    src: &'a str,
    line_starts: Vec<usize>,
}

impl<'a> SourceMap<'a> {
    fn new(src: &'a str) -> Self {
        let line_starts = std::iter::once(0)
            .chain(src.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        SourceMap { src, line_starts }
    }

    fn span(&self, m: Marker) -> Span {
        let line_start = self
            .line_starts
            .get(m.line().saturating_sub(1))
            .copied()
            .unwrap_or(self.src.len());
        // Columns count characters; over ASCII text they count bytes.
        let rest = &self.src.as_bytes()[line_start.min(self.src.len())..];
        let offset = match rest.get(..m.col()) {
            Some(prefix) if prefix.is_ascii() && m.col() < rest.len() => line_start + m.col(),
            _ => self.src[line_start..]
                .char_indices()
                .nth(m.col())
                .map(|(i, _)| line_start + i)
                .unwrap_or(self.src.len()),
        };
        Span {
            offset,
            len: 0,
            line: m.line() as u32,
            col: m.col() as u32 + 1,
        }
    }

    fn span_through(&self, start: Span, end: Marker) -> Span {
        Span {
            len: self.span(end).offset.saturating_sub(start.offset),
            ..start
        }
    }
}

/// What went wrong while reading the text itself.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum YamlErrorKind {
    #[error("{0}")]
    Syntax(String),
    #[error("duplicate key `{key}` (first defined at line {first_line}); remove one of them")]
    DuplicateKey { key: String, first_line: u32 },
    #[error("nesting deeper than {MAX_DEPTH} levels; a Kubernetes manifest never needs this")]
    TooDeep,
    #[error("aliases expand to more than {MAX_NODES} nodes; write the values out instead")]
    TooLarge,
    #[error("unknown alias; define the anchor (`&name`) before using it")]
    UnknownAlias,
    #[error("a mapping key must be a scalar; write the key as a plain string")]
    ComplexKey,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct YamlError {
    pub kind: YamlErrorKind,
    pub span: Span,
}

impl fmt::Display for YamlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.span.line, self.span.col, self.kind)
    }
}

impl std::error::Error for YamlError {}

/// One document of a (possibly multi-document) stream.
#[derive(Clone, Debug)]
pub struct Document {
    pub root: Node,
}

/// Parses every document of `src`. A syntax error ends parsing (the scanner cannot
/// resynchronise), but all documents before it are returned along with the error so
/// callers can still report the other problems of the earlier documents.
pub fn parse_documents(src: &str) -> (Vec<Document>, Vec<YamlError>) {
    let mut builder = Builder {
        map: SourceMap::new(src),
        stack: Vec::new(),
        anchors: Default::default(),
        docs: Vec::new(),
        errors: Vec::new(),
        nodes: 0,
        fatal: false,
    };
    let mut parser = Parser::new_from_str(src);
    loop {
        match parser.next_token() {
            Ok((Event::StreamEnd, _)) => break,
            Ok((event, mark)) => {
                if let Err(e) = builder.event(event, mark) {
                    builder.errors.push(e);
                    if builder.fatal {
                        break;
                    }
                }
            }
            Err(e) => {
                let m = *e.marker();
                builder.errors.push(YamlError {
                    kind: YamlErrorKind::Syntax(e.info().to_string()),
                    span: builder.map.span(m),
                });
                break;
            }
        }
    }
    (builder.docs, builder.errors)
}

enum Frame {
    Seq {
        items: Vec<Node>,
        span: Span,
        anchor: usize,
    },
    Map {
        entries: Vec<(Node, Node)>,
        pending_key: Option<Node>,
        span: Span,
        anchor: usize,
    },
}

struct Builder<'a> {
    map: SourceMap<'a>,
    stack: Vec<Frame>,
    anchors: std::collections::HashMap<usize, Node>,
    docs: Vec<Document>,
    errors: Vec<YamlError>,
    nodes: usize,
    fatal: bool,
}

impl Builder<'_> {
    fn fail(&mut self, kind: YamlErrorKind, span: Span) -> Result<(), YamlError> {
        self.fatal = true;
        Err(YamlError { kind, span })
    }

    fn event(&mut self, event: Event, mark: Marker) -> Result<(), YamlError> {
        match event {
            Event::Scalar(text, style, anchor, _tag) => {
                let span = Span {
                    len: scalar_len(&text, style),
                    ..self.map.span(mark)
                };
                let value = if style == TScalarStyle::Plain {
                    resolve_plain_scalar(&text)
                } else {
                    Value::Str(text)
                };
                self.push_node(
                    Node {
                        value,
                        span,
                        key_span: None,
                    },
                    anchor,
                )
            }
            Event::Alias(id) => {
                let span = self.map.span(mark);
                let Some(node) = self.anchors.get(&id).cloned() else {
                    return self.fail(YamlErrorKind::UnknownAlias, span);
                };
                self.nodes += node.count();
                if self.nodes > MAX_NODES {
                    return self.fail(YamlErrorKind::TooLarge, span);
                }
                self.push_node(node, 0)
            }
            Event::SequenceStart(anchor, _) => self.open(Frame::Seq {
                items: Vec::new(),
                span: self.map.span(mark),
                anchor,
            }),
            Event::MappingStart(anchor, _) => self.open(Frame::Map {
                entries: Vec::new(),
                pending_key: None,
                span: self.map.span(mark),
                anchor,
            }),
            Event::SequenceEnd | Event::MappingEnd => {
                let Some(frame) = self.stack.pop() else {
                    return Ok(());
                };
                let (node, anchor) = match frame {
                    Frame::Seq {
                        items,
                        span,
                        anchor,
                    } => (
                        Node {
                            value: Value::Seq(items),
                            span: self.map.span_through(span, mark),
                            key_span: None,
                        },
                        anchor,
                    ),
                    Frame::Map {
                        entries,
                        span,
                        anchor,
                        ..
                    } => {
                        // A block mapping's start event comes after its first key;
                        // the mapping really starts at that key.
                        let start = match entries.first() {
                            Some((k, _)) if k.span.offset < span.offset => Span {
                                offset: k.span.offset,
                                line: k.span.line,
                                col: k.span.col,
                                len: 0,
                            },
                            _ => span,
                        };
                        (
                            Node {
                                value: Value::Map(entries),
                                span: self.map.span_through(start, mark),
                                key_span: None,
                            },
                            anchor,
                        )
                    }
                };
                self.push_node(node, anchor)
            }
            Event::DocumentEnd
            | Event::DocumentStart
            | Event::StreamStart
            | Event::StreamEnd
            | Event::Nothing => Ok(()),
        }
    }

    fn open(&mut self, frame: Frame) -> Result<(), YamlError> {
        if self.stack.len() >= MAX_DEPTH {
            let span = match &frame {
                Frame::Seq { span, .. } | Frame::Map { span, .. } => *span,
            };
            return self.fail(YamlErrorKind::TooDeep, span);
        }
        if let Some(Frame::Map {
            pending_key: None, ..
        }) = self.stack.last()
        {
            let span = match &frame {
                Frame::Seq { span, .. } | Frame::Map { span, .. } => *span,
            };
            return self.fail(YamlErrorKind::ComplexKey, span);
        }
        self.stack.push(frame);
        Ok(())
    }

    fn push_node(&mut self, node: Node, anchor: usize) -> Result<(), YamlError> {
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => {
                self.docs.push(Document { root: node });
                Ok(())
            }
            Some(Frame::Seq { items, .. }) => {
                items.push(node);
                Ok(())
            }
            Some(Frame::Map {
                entries,
                pending_key,
                ..
            }) => match pending_key.take() {
                None => {
                    *pending_key = Some(node);
                    Ok(())
                }
                Some(key) => {
                    // Keys are scalars (`open` refuses collections), so each has a
                    // text; comparing texts finds `80:` and `"80":` alike.
                    let duplicate = match key.value.key_text() {
                        Some(text) => entries
                            .iter()
                            .find(|(k, _)| k.value.key_is(&text))
                            .map(|(k, _)| (text, k.span.line)),
                        None => entries
                            .iter()
                            .find(|(k, _)| k.value.key_text().is_none())
                            .map(|(k, _)| (String::new(), k.span.line)),
                    };
                    let key_span = key.span;
                    let mut value = node;
                    value.key_span = Some(key_span);
                    entries.push((key, value));
                    match duplicate {
                        Some((key, first_line)) => Err(YamlError {
                            kind: YamlErrorKind::DuplicateKey { key, first_line },
                            span: key_span,
                        }),
                        None => Ok(()),
                    }
                }
            },
        }
    }
}

/// Length of a scalar in the source, for carets; quoted styles add their quotes.
fn scalar_len(text: &str, style: TScalarStyle) -> usize {
    match style {
        TScalarStyle::SingleQuoted | TScalarStyle::DoubleQuoted => text.len() + 2,
        TScalarStyle::Plain => text.len(),
        _ => 1,
    }
}

#[cfg(test)]
mod tests;
