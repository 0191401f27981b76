//! Reading the inputs and the what-if overlays into a model, printing every
//! diagnostic of the input.

use std::io::Write;
use std::path::PathBuf;

use netfence_model::{Cluster, Diagnostic, EndpointSource, LoadOptions, Loaded, Severity, Sources};

use crate::EXIT_ERROR;
use crate::args::{Global, Inputs};
use crate::output::color;

/// Why an input gave no model: its diagnostics (at least one error), or no
/// object at all.
pub(crate) enum Failure {
    Invalid(Sources, Vec<Diagnostic>),
    Empty(Sources),
}

impl Failure {
    pub(crate) fn sources(&self) -> &Sources {
        match self {
            Failure::Invalid(s, _) | Failure::Empty(s) => s,
        }
    }

    /// Every error and warning, the empty input as one error without a place.
    pub(crate) fn diagnostics(&self) -> Vec<Diagnostic> {
        match self {
            Failure::Invalid(_, diags) => diags.clone(),
            Failure::Empty(sources) => vec![Diagnostic::error(
                format!("{}; nothing was analyzed", nothing_found_message(sources)),
                netfence_model::Anchor::None,
            )],
        }
    }

    /// Prints every diagnostic with its snippet and the closing line on stderr.
    pub(crate) fn print(&self, g: &Global, side: Option<&str>) -> u8 {
        match self {
            Failure::Invalid(sources, diags) => print_invalid(g, sources, diags, side),
            Failure::Empty(sources) => {
                eoutln!(
                    "error: {}; nothing was analyzed",
                    nothing_found_message(sources)
                );
            }
        }
        EXIT_ERROR
    }
}

/// Loads the inputs and the what-if overlays; on any error prints every
/// diagnostic and returns the exit code.
pub(crate) fn load(
    g: &Global,
    paths: &[PathBuf],
    inputs: &Inputs,
) -> Result<(Sources, Loaded), u8> {
    match build(g, paths, inputs) {
        Ok((sources, loaded)) => {
            print_warnings(g, &sources, &loaded.diagnostics);
            Ok((sources, loaded))
        }
        Err(failure) => Err(failure.print(g, None)),
    }
}

/// Reads the inputs and the what-if overlays and builds the model, printing
/// nothing: the caller decides how diagnostics are shown.
pub(crate) fn build(
    g: &Global,
    paths: &[PathBuf],
    inputs: &Inputs,
) -> Result<(Sources, Loaded), Failure> {
    let mut all: Vec<PathBuf> = paths.to_vec();
    all.extend(inputs.files.iter().cloned());
    let mut sources = Sources::default();
    let mut diags = netfence_model::read_inputs_excluding(&all, &mut sources, false, &g.exclude);
    read_overlays(g, &mut sources, &mut diags);
    let (sources, loaded) = build_read(sources, diags, &g.load_options())?;
    // A wrong path in CI must not look green: an answer about nothing is no answer.
    if nothing_found(&loaded.cluster) {
        return Err(Failure::Empty(sources));
    }
    Ok((sources, loaded))
}

/// True when the input declares no object netfence reads (comments, empty
/// documents, or only what it assumes, such as the synthetic cluster DNS).
pub(crate) fn nothing_found(cluster: &Cluster) -> bool {
    cluster.policies.is_empty()
        && cluster.services.is_empty()
        && cluster.nodes.is_empty()
        && cluster.unanalyzed.is_empty()
        && cluster.namespaces.iter().all(|n| n.origin.is_none())
        && cluster
            .endpoints
            .iter()
            .all(|e| e.source == EndpointSource::SyntheticDns)
}

pub(crate) fn nothing_found_message(sources: &Sources) -> String {
    let names: Vec<&str> = sources
        .files
        .iter()
        .filter(|f| !f.overlay)
        .map(|f| f.name.as_str())
        .collect();
    format!(
        "no Kubernetes objects found in {} ({} read{}): check the paths",
        if names.len() == 1 {
            names[0]
        } else {
            "the input"
        },
        netfence_text::count(names.len(), "file"),
        if names.len() > 1 {
            format!(
                ": {}",
                netfence_text::short_list(&names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            )
        } else {
            String::new()
        }
    )
}

pub(crate) fn read_overlays(g: &Global, sources: &mut Sources, diags: &mut Vec<Diagnostic>) {
    if !g.with.is_empty() {
        diags.extend(netfence_model::read_inputs(&g.with, sources, true));
    }
}

/// Builds the model from files already read (with the diagnostics of reading
/// them); on any error prints every diagnostic, naming `side` when there are two
/// inputs, and returns the exit code.
pub(crate) fn load_read(
    g: &Global,
    sources: Sources,
    diags: Vec<Diagnostic>,
    opts: &LoadOptions,
    side: Option<&str>,
) -> Result<(Sources, Loaded), u8> {
    match build_read(sources, diags, opts) {
        Ok((sources, loaded)) => {
            print_warnings(g, &sources, &loaded.diagnostics);
            Ok((sources, loaded))
        }
        Err(failure) => Err(failure.print(g, side)),
    }
}

fn build_read(
    mut sources: Sources,
    mut diags: Vec<Diagnostic>,
    opts: &LoadOptions,
) -> Result<(Sources, Loaded), Failure> {
    let result = if diags.iter().any(|d| d.severity == Severity::Error) {
        Err(diags)
    } else {
        netfence_model::load(&mut sources, opts).map(|mut l| {
            diags.append(&mut l.diagnostics);
            l.diagnostics = diags;
            l
        })
    };
    match result {
        Ok(loaded) => Ok((sources, loaded)),
        Err(diags) => Err(Failure::Invalid(sources, diags)),
    }
}

/// The warnings of a model that loaded (and its notes with `-v`), one line each.
pub(crate) fn print_warnings(g: &Global, sources: &Sources, diagnostics: &[Diagnostic]) {
    let shown: Vec<Diagnostic> = diagnostics
        .iter()
        .filter(|d| g.verbose || d.severity >= Severity::Warning)
        .cloned()
        .collect();
    if !shown.is_empty() {
        eout!("{}", netfence_model::diag::render_short(&shown, sources));
    }
}

fn print_invalid(g: &Global, sources: &Sources, diags: &[Diagnostic], side: Option<&str>) {
    let errors = diags
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    let shown: Vec<Diagnostic> = diags
        .iter()
        .filter(|d| g.verbose || d.severity >= Severity::Warning)
        .cloned()
        .collect();
    let mut err = std::io::stderr().lock();
    let _ = write!(
        err,
        "{}",
        netfence_model::diag::render(&shown, sources, color(g))
    );
    let input = match side {
        Some(side) => format!("the {side} input"),
        None => "the input".to_string(),
    };
    let why = netfence_model::diag::withheld_reason(diags);
    let _ = writeln!(
        err,
        "error: {} in {input}; {why}",
        netfence_text::count(errors, "error")
    );
}

/// Reads one side of `diff`: `git:REV[:PATH]`, or a file, directory or `-`.
pub(crate) fn read_side(g: &Global, spec: &str) -> (Sources, Vec<Diagnostic>) {
    let mut sources = Sources::default();
    let diags = match spec.strip_prefix("git:") {
        Some(rev) => netfence_model::read_git(rev, &mut sources),
        None => netfence_model::read_inputs_excluding(
            &[PathBuf::from(spec)],
            &mut sources,
            false,
            &g.exclude,
        ),
    };
    (sources, diags)
}
