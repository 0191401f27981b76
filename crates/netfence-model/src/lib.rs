//! netfence's model of a cluster and the loader that builds it from manifests.
//!
//! Data flow: files ([`sources`]) → YAML trees with spans (`netfence-yaml`) →
//! strictly decoded k8s-openapi objects ([`decode`]) → validated, defaulted model
//! ([`model`]). Every problem becomes a [`Diagnostic`] pointing at a file, line,
//! column and field path.

pub mod admin;
mod build;
pub mod decode;
pub mod diag;
#[cfg(any(test, feature = "test-support"))]
pub mod fixture;
pub mod git;
mod kinds;
pub mod labels;
pub mod load;
pub mod model;
mod objects;
pub mod overlay;
pub mod policy;
pub mod read;
mod repo;
mod select;
pub mod sources;
pub mod validate;
pub mod whatif;

pub use diag::{Anchor, Diagnostic, DiagnosticKind, ScalarType, Severity};
pub use git::read_git;
pub use labels::{Labels, Operator, Requirement, Selector, UNSTABLE_LABELS, stable_labels};
pub use load::{LoadOptions, Loaded, load};
pub use model::*;
pub use overlay::load_policy_overlays;
pub use read::{read_inputs, read_inputs_excluding};
pub use sources::{FieldLoc, FileId, ObjectOrigin, Sources};
pub use whatif::PolicyChange;

/// Loads text given in memory (tests, `--with` overlays built by tools).
pub fn load_texts(
    texts: &[(&str, &str)],
    opts: &LoadOptions,
) -> (Sources, Result<Loaded, Vec<Diagnostic>>) {
    let mut sources = Sources::default();
    for (name, text) in texts {
        sources.add((*name).to_string(), (*text).to_string());
    }
    let result = load(&mut sources, opts);
    (sources, result)
}
