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

impl Span {
    /// The same place in a text that has `offset` more bytes and `lines` more
    /// lines before it.
    fn shift(&mut self, offset: usize, lines: u32) {
        self.offset += offset;
        self.line += lines;
    }
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
    let (docs, errors, _) = parse_piece(src);
    (docs, errors)
}

/// Pieces of a file parsed on their own are at least this large.
const PIECE_BYTES: usize = 128 * 1024;

/// [`parse_documents`] of every source, on all cores: each source is cut at
/// document markers (`---` at the start of a line, which no document can hold)
/// into pieces of about [`PIECE_BYTES`], the pieces are parsed in parallel and
/// put back in order with their positions in the whole source. The result is
/// the same as parsing each source alone, a syntax error included: nothing
/// after the piece that ended on one is kept.
pub fn parse_many(srcs: &[&str]) -> Vec<(Vec<Document>, Vec<YamlError>)> {
    parse_many_in(srcs, PIECE_BYTES)
}

fn parse_many_in(srcs: &[&str], piece_bytes: usize) -> Vec<(Vec<Document>, Vec<YamlError>)> {
    // (source, start byte, lines before it)
    let mut pieces: Vec<(usize, usize, u32)> = Vec::new();
    for (i, src) in srcs.iter().enumerate() {
        let mut start = 0;
        let mut lines = 0u32;
        pieces.push((i, 0, 0));
        while let Some(cut) = next_document_marker(src, start + piece_bytes) {
            lines += src.as_bytes()[start..cut]
                .iter()
                .filter(|b| **b == b'\n')
                .count() as u32;
            pieces.push((i, cut, lines));
            start = cut;
        }
    }
    let end_of = |k: usize| match pieces.get(k + 1) {
        Some((j, cut, _)) if *j == pieces[k].0 => *cut,
        _ => srcs[pieces[k].0].len(),
    };
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(pieces.len());
    let mut parsed: Vec<Option<Piece>> = Vec::new();
    if threads <= 1 {
        parsed = (0..pieces.len())
            .map(|k| Some(parse_piece(&srcs[pieces[k].0][pieces[k].1..end_of(k)])))
            .collect();
    } else {
        let next = std::sync::atomic::AtomicUsize::new(0);
        let results: Vec<std::sync::Mutex<Option<Piece>>> =
            (0..pieces.len()).map(|_| Default::default()).collect();
        std::thread::scope(|scope| {
            for _ in 0..threads {
                scope.spawn(|| {
                    loop {
                        let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(&(i, start, _)) = pieces.get(k) else {
                            break;
                        };
                        let piece = parse_piece(&srcs[i][start..end_of(k)]);
                        if let Ok(mut slot) = results[k].lock() {
                            *slot = Some(piece);
                        }
                    }
                });
            }
        });
        parsed.extend(
            results
                .into_iter()
                .map(|m| m.into_inner().unwrap_or_else(|e| e.into_inner())),
        );
    }
    let mut out: Vec<(Vec<Document>, Vec<YamlError>, bool)> = srcs
        .iter()
        .map(|_| (Vec::new(), Vec::new(), false))
        .collect();
    for (k, piece) in parsed.into_iter().enumerate() {
        let (i, start, lines) = pieces[k];
        let (docs, errors, stopped) = &mut out[i];
        if *stopped {
            continue;
        }
        let Some((mut d, mut e, fatal)) = piece else {
            continue;
        };
        if start > 0 {
            for doc in &mut d {
                doc.root.shift(start, lines);
            }
            for err in &mut e {
                err.span.shift(start, lines);
                if let YamlErrorKind::DuplicateKey { first_line, .. } = &mut err.kind {
                    *first_line += lines;
                }
            }
        }
        docs.append(&mut d);
        errors.append(&mut e);
        *stopped = fatal;
    }
    out.into_iter().map(|(d, e, _)| (d, e)).collect()
}

/// The documents, the errors, and whether an error ended parsing.
type Piece = (Vec<Document>, Vec<YamlError>, bool);

/// The first document marker (`---` at the start of a line, followed by a
/// blank or the end) at or after byte `from`: where a piece can be cut.
fn next_document_marker(src: &str, from: usize) -> Option<usize> {
    let bytes = src.as_bytes();
    let mut at = from;
    while at < bytes.len() {
        let nl = at + bytes[at..].iter().position(|b| *b == b'\n')?;
        let line = nl + 1;
        if bytes[line..].starts_with(b"---")
            && matches!(
                bytes.get(line + 3),
                None | Some(b' ' | b'\t' | b'\r' | b'\n')
            )
        {
            return Some(line);
        }
        at = line;
    }
    None
}

fn parse_piece(src: &str) -> Piece {
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
    let fatal = builder.fatal
        || builder
            .errors
            .iter()
            .any(|e| matches!(e.kind, YamlErrorKind::Syntax(_)));
    (builder.docs, builder.errors, fatal)
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
