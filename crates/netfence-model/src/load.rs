//! From files to a [`Cluster`]: parse, collect objects ([`crate::objects`]),
//! keep the ones that count ([`crate::select`]), decode strictly, validate,
//! default and build endpoints ([`crate::build`]). Every error of the input is
//! collected before giving up.

use crate::build::ClusterBuilder;
use crate::diag::{Anchor, Diagnostic, DiagnosticKind, Severity};
use crate::model::*;
use crate::objects::{RawObject, collect_objects};
use crate::select::dedupe;
use crate::sources::{FileId, ObjectOrigin, Sources};

/// How to read the input.
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    /// Namespace for objects without one (`-n`); `default` otherwise.
    pub namespace: Option<String>,
    /// `NAMESPACE/SELECTOR` of the cluster DNS pods; default `kube-system/k8s-app in (kube-dns,coredns)` ([`ClusterDns`]).
    pub cluster_dns: Option<String>,
    pub semantics: Semantics,
    /// Objects to leave out, as `Kind/namespace/name` or `Kind/name`.
    pub without: Vec<String>,
}

/// A successful load: the model and the warnings and notes about the input.
#[derive(Debug)]
pub struct Loaded {
    pub cluster: Cluster,
    pub diagnostics: Vec<Diagnostic>,
}

/// Parses every file in `sources` and builds the cluster. On any error, returns
/// all diagnostics (errors, warnings and notes) and no model.
pub fn load(sources: &mut Sources, opts: &LoadOptions) -> Result<Loaded, Vec<Diagnostic>> {
    let mut diags = Vec::new();
    let mut raw = Vec::new();
    let texts: Vec<&str> = sources.files.iter().map(|f| f.text.as_str()).collect();
    let parsed = netfence_yaml::parse_many(&texts);
    for (fi, parsed) in parsed.into_iter().enumerate() {
        parse_file(sources, fi, parsed, opts, &mut raw, &mut diags);
    }

    let raw = dedupe(raw, &opts.without, &mut diags);
    let mut builder = ClusterBuilder::new(opts);
    for obj in &raw {
        builder.add(obj, &mut diags);
    }
    let cluster = builder.finish(&mut diags);
    quote_hints(&mut diags, sources);
    if diags.iter().any(|d| d.severity == Severity::Error) {
        // What a rejected object would have declared is not news while it is
        // rejected: only its errors are.
        diags.retain(|d| d.kind != DiagnosticKind::UndeclaredNamespace);
        return Err(diags);
    }
    Ok(Loaded {
        cluster,
        diagnostics: diags,
    })
}

/// Takes file `fi` of `sources` as `parsed` (keeping its documents there) and
/// collects its objects.
pub(crate) fn parse_file(
    sources: &mut Sources,
    fi: usize,
    parsed: (Vec<netfence_yaml::Document>, Vec<netfence_yaml::YamlError>),
    opts: &LoadOptions,
    raw: &mut Vec<RawObject>,
    diags: &mut Vec<Diagnostic>,
) {
    let file = FileId(fi as u32);
    let (docs, errors) = parsed;
    let readable = errors.is_empty();
    for e in errors {
        let help = match &e.kind {
            netfence_yaml::YamlErrorKind::Syntax(_) => {
                "check indentation and quoting near this position; tabs are not allowed for indentation"
            }
            _ => "fix the YAML at this position",
        };
        diags.push(
            Diagnostic::error(e.kind.to_string(), Anchor::Text { file, span: e.span })
                .with_help(help),
        );
    }
    let overlay = sources.files[fi].overlay;
    // A file found in a directory whose documents are all something else (a CI
    // workflow, an application's configuration): a note, not an error. Any
    // document with `apiVersion` or `kind` keeps the whole file strict.
    if sources.files[fi].from_directory
        && readable
        && docs.iter().all(|d| !looks_like_object(&d.root))
        && docs
            .iter()
            .any(|d| !matches!(d.root.value, netfence_yaml::Value::Null))
    {
        diags.push(Diagnostic::note(
            "skipped: not a Kubernetes manifest (no document has `apiVersion` or `kind`)",
            Anchor::File {
                name: sources.files[fi].name.clone(),
            },
        ));
        sources.files[fi].documents = docs;
        return;
    }
    for (di, doc) in docs.iter().enumerate() {
        let origin = ObjectOrigin {
            file,
            document: di,
            prefix: Vec::new(),
        };
        collect_objects(
            &doc.root,
            &sources.files[fi].text,
            origin,
            overlay,
            &opts.namespace,
            raw,
            diags,
        );
    }
    sources.files[fi].documents = docs;
}

fn looks_like_object(node: &netfence_yaml::Node) -> bool {
    node.get("apiVersion").is_some() || node.get("kind").is_some()
}

/// A boolean or number where a string belongs: show the word the user wrote,
/// quoted, as the fix.
fn quote_hints(diags: &mut [Diagnostic], sources: &Sources) {
    for d in diags.iter_mut() {
        let DiagnosticKind::UnquotedScalar { read_as } = d.kind else {
            continue;
        };
        let Anchor::Field { loc, .. } = &d.anchor else {
            continue;
        };
        let Some(at) = sources.locate(loc, false).filter(|l| l.exact) else {
            continue;
        };
        let text = &sources.file(at.file).text;
        let Some(word) = text.get(at.span.offset..at.span.offset + at.span.len) else {
            continue;
        };
        d.help = Some(format!(
            "YAML reads unquoted `{word}` as a {}; quote it: \"{word}\"",
            read_as.name()
        ));
    }
}
