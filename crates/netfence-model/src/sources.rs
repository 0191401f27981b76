//! The input files, kept in memory so every diagnostic can quote them.

use std::path::{Path, PathBuf};

use netfence_yaml::{Document, PathSegment, Span};

/// Index of a file in [`Sources`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileId(pub u32);

#[derive(Debug)]
pub struct SourceFile {
    /// As given by the user (`-` is shown as `<stdin>`).
    pub name: String,
    pub text: String,
    pub documents: Vec<Document>,
    /// Objects here replace same-named objects of earlier files silently (`--with`).
    pub overlay: bool,
    /// Found by walking a directory (not named on the command line): skipped
    /// with a note when plainly not a Kubernetes manifest.
    pub from_directory: bool,
}

/// Every input file, and the parsed tree of each document, so that a field path
/// can be turned back into a line and column at any later stage.
#[derive(Debug, Default)]
pub struct Sources {
    pub files: Vec<SourceFile>,
}

/// Where an object came from: its file, its document, and the path prefix of the
/// object inside that document (`items[3]` for a `kind: List` entry).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ObjectOrigin {
    pub file: FileId,
    pub document: usize,
    pub prefix: Vec<PathSegment>,
}

/// A field of an object: the object's origin and the path inside the object.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FieldLoc {
    pub origin: ObjectOrigin,
    pub path: Vec<PathSegment>,
}

impl FieldLoc {
    pub fn child(&self, seg: PathSegment) -> FieldLoc {
        let mut path = self.path.clone();
        path.push(seg);
        FieldLoc {
            origin: self.origin.clone(),
            path,
        }
    }

    pub fn key(&self, key: &str) -> FieldLoc {
        self.child(PathSegment::Key(key.to_string()))
    }

    pub fn index(&self, i: usize) -> FieldLoc {
        self.child(PathSegment::Index(i))
    }

    pub fn path_string(&self) -> String {
        netfence_yaml::field_path_string(&self.path)
    }
}

/// Where a located field sits in the text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Located {
    pub file: FileId,
    pub span: Span,
    /// False when the field itself is absent and `span` is its nearest parent.
    pub exact: bool,
}

impl Sources {
    /// Adds a file. A UTF-8 byte-order mark (editors on Windows write one) is
    /// dropped, as kubectl does, so that line 1 reads as written.
    pub fn add(&mut self, name: String, mut text: String) -> FileId {
        if text.starts_with('\u{feff}') {
            text.drain(..'\u{feff}'.len_utf8());
        }
        let id = FileId(self.files.len() as u32);
        self.files.push(SourceFile {
            name,
            text,
            documents: Vec::new(),
            overlay: false,
            from_directory: false,
        });
        id
    }

    pub fn file(&self, id: FileId) -> &SourceFile {
        &self.files[id.0 as usize]
    }

    pub fn name(&self, id: FileId) -> &str {
        &self.file(id).name
    }

    /// The span of a field's value; with `key`, of its key when it has one (where
    /// "unknown field" and "duplicate" errors point).
    pub fn locate(&self, loc: &FieldLoc, key: bool) -> Option<Located> {
        let (node, consumed) = self.object(&loc.origin)?.lookup(&loc.path);
        let exact = consumed == loc.path.len();
        let span = match (key && exact, node.key_span) {
            (true, Some(k)) => k,
            _ => node.span,
        };
        Some(Located {
            file: loc.origin.file,
            span,
            exact,
        })
    }
}

impl Sources {
    /// The parsed node of a whole object.
    fn object(&self, origin: &ObjectOrigin) -> Option<&netfence_yaml::Node> {
        let file = self.files.get(origin.file.0 as usize)?;
        let doc = file.documents.get(origin.document)?;
        let (obj, consumed) = doc.root.lookup(&origin.prefix);
        (consumed == origin.prefix.len()).then_some(obj)
    }

    /// The parsed node of a field, when it was written: for tools that need more
    /// than the model keeps (annotations, the order of selector keys as written).
    pub fn node(&self, loc: &FieldLoc) -> Option<&netfence_yaml::Node> {
        let (node, consumed) = self.object(&loc.origin)?.lookup(&loc.path);
        (consumed == loc.path.len()).then_some(node)
    }
}

/// Expands command-line paths: files as given, directories recursively (YAML and
/// JSON files only, in a stable order), `-` for standard input.
pub fn collect_paths(inputs: &[PathBuf]) -> Result<Vec<PathBuf>, std::io::Error> {
    let mut out = Vec::new();
    for input in inputs {
        if input.as_os_str() == "-" {
            out.push(input.clone());
        } else if input.is_dir() {
            walk(input, &mut out)?;
        } else {
            out.push(input.clone());
        }
    }
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), std::io::Error> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    entries.sort();
    for path in entries {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with('.') {
            continue;
        }
        if path.is_dir() {
            walk(&path, out)?;
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml" | "json")
        ) {
            out.push(path);
        }
    }
    Ok(())
}
