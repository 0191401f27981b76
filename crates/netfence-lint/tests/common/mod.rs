//! Loading inputs and running lint the way the CLI does.

#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::path::{Path, PathBuf};

use netfence_engine::Engine;
use netfence_lint::{Config, LintRun, Settings};
use netfence_model::{LoadOptions, Sources};

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Loads `paths` (relative to the repository root) and lints them.
pub fn lint_paths(paths: &[&str], settings: &Settings) -> (Sources, LintRun) {
    let root = root();
    let abs: Vec<PathBuf> = paths.iter().map(|p| root.join(p)).collect();
    let mut sources = Sources::default();
    for f in netfence_model::sources::collect_paths(&abs).unwrap() {
        let text = std::fs::read_to_string(&f).unwrap();
        let name = f.strip_prefix(&root).unwrap_or(&f).display().to_string();
        sources.add(name, text);
    }
    let opts = LoadOptions::default();
    let loaded = netfence_model::load(&mut sources, &opts)
        .unwrap_or_else(|d| panic!("{}", netfence_model::diag::render_short(&d, &sources)));
    let engine = Engine::new(&loaded.cluster);
    let run = netfence_lint::lint(&engine, &sources, &opts, settings);
    (sources, run)
}

/// Only `rule` enabled.
pub fn only(rule: &str) -> Settings {
    Settings::new(
        &Config::default(),
        &[rule.to_string()],
        &["all".to_string()],
        None,
    )
    .unwrap()
}
