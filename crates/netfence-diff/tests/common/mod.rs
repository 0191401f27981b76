//! Loading and comparing, shared by the test files. Each test binary uses only
//! some of these helpers.
#![allow(dead_code)]

use netfence_diff::{Diff, Side};
use netfence_engine::Engine;
use netfence_model::{LoadOptions, Loaded, Sources};

/// Loads texts given in memory; invalid input fails the test with every
/// diagnostic.
pub fn load(texts: &[(&str, &str)]) -> (Sources, Loaded) {
    let (sources, loaded) = netfence_model::load_texts(texts, &LoadOptions::default());
    match loaded {
        Ok(l) => (sources, l),
        Err(diags) => panic!("{}", netfence_model::diag::render_short(&diags, &sources)),
    }
}

pub fn diff_engines(before: (&Sources, &Engine), after: (&Sources, &Engine)) -> Diff {
    netfence_diff::diff(
        &Side {
            label: "before".into(),
            engine: before.1,
            sources: before.0,
        },
        &Side {
            label: "after".into(),
            engine: after.1,
            sources: after.0,
        },
    )
}

/// `src -> dst: +TCP 53; -all`, plus `[only ...]` when it holds for some pods only.
pub fn lines(d: &Diff) -> Vec<String> {
    d.changes
        .iter()
        .map(|c| {
            let only = if c.only.is_empty() {
                String::new()
            } else {
                let pairs: Vec<String> = c
                    .only
                    .iter()
                    .map(|p| format!("{} -> {}", p.src.join(","), p.dst.join(",")))
                    .collect();
                format!(" [only {}]", pairs.join("; "))
            };
            format!(
                "{} -> {}: {}{only}",
                c.src,
                c.dst,
                netfence_diff::render::delta_text(&c.added, &c.removed)
            )
        })
        .collect()
}
