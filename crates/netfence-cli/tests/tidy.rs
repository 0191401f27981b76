//! The crate graph ARCHITECTURE.md promises, checked on `cargo metadata` (in
//! the spirit of rust-analyzer's tidy tests): facts come from the engine and
//! the model, presentation depends on them and never the other way round.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use serde_json::Value;

/// A workspace dependency: (crate, kind, features).
type Dep = (String, String, Vec<String>);
type Graph = BTreeMap<String, Vec<Dep>>;

/// Workspace crate → the workspace crates it depends on, with the kind of
/// dependency and the features it enables.
fn graph() -> Graph {
    let out = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut g = BTreeMap::new();
    for p in meta["packages"].as_array().unwrap() {
        let deps = p["dependencies"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["name"].as_str().unwrap().starts_with("netfence-"))
            .map(|d| {
                (
                    d["name"].as_str().unwrap().to_string(),
                    d["kind"].as_str().unwrap_or("normal").to_string(),
                    d["features"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|f| f.as_str().unwrap().to_string())
                        .collect(),
                )
            })
            .collect();
        g.insert(p["name"].as_str().unwrap().to_string(), deps);
    }
    g
}

fn normal_deps(g: &Graph, krate: &str) -> BTreeSet<String> {
    g[krate]
        .iter()
        .filter(|(_, kind, _)| kind == "normal")
        .map(|(n, _, _)| n.clone())
        .collect()
}

#[test]
fn only_the_binaries_depend_on_the_views() {
    let g = graph();
    let users: Vec<&String> = g
        .keys()
        .filter(|k| normal_deps(&g, k).contains("netfence-views"))
        .collect();
    assert_eq!(users, ["netfence-bench", "netfence-cli"]);
}

#[test]
fn the_engine_and_the_model_stand_on_their_own() {
    let g = graph();
    let set = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    assert_eq!(normal_deps(&g, "netfence-yaml"), set(&[]));
    assert_eq!(normal_deps(&g, "netfence-model"), set(&["netfence-yaml"]));
    assert_eq!(normal_deps(&g, "netfence-engine"), set(&["netfence-model"]));
    // Text helpers and fixes sit on facts, not on views or other surfaces.
    for krate in ["netfence-text", "netfence-fix"] {
        let deps = normal_deps(&g, krate);
        assert!(
            deps.is_subset(&set(&[
                "netfence-yaml",
                "netfence-model",
                "netfence-engine",
                "netfence-text"
            ])),
            "{krate}: {deps:?}"
        );
    }
    // lint, diff and the data plane ask the engine, never each other.
    for krate in [
        "netfence-lint",
        "netfence-diff",
        "netfence-nft",
        "netfence-lab",
    ] {
        let deps = normal_deps(&g, krate);
        for other in [
            "netfence-views",
            "netfence-lint",
            "netfence-diff",
            "netfence-cli",
        ] {
            assert!(!deps.contains(other), "{krate} depends on {other}");
        }
    }
}

#[test]
fn the_reference_evaluator_never_ships() {
    for (krate, deps) in graph() {
        for (name, kind, features) in deps {
            if name == "netfence-engine" && kind == "normal" {
                assert!(
                    !features.iter().any(|f| f == "reference"),
                    "{krate} builds netfence-engine with its test-only reference evaluator"
                );
            }
        }
    }
}

/// nft syntax is written in one place, `netfence-nft/src/ruleset.rs` (typed
/// operations rendered there); no other product code spells an nft command.
#[test]
fn only_the_ruleset_writes_nft_syntax() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let commands = [
        "add table",
        "add chain",
        "add rule",
        "add set",
        "add map",
        "add element",
        "delete table",
        "delete chain",
        "delete rule",
        "delete set",
        "delete element",
        "flush chain",
        "flush set",
    ];
    let mut offenders = Vec::new();
    for krate in [
        "netfence-nft",
        "netfence-lab",
        "netfence-cli",
        "netfence-agent",
    ] {
        let mut stack = vec![root.join("crates").join(krate).join("src")];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                if path.extension().is_none_or(|e| e != "rs") || path.ends_with("ruleset.rs") {
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap();
                // Unit tests may state expected transactions.
                let product = text.split("#[cfg(test)]").next().unwrap_or_default();
                for c in commands {
                    if product.contains(&format!("\"{c} ")) {
                        offenders.push(format!("{}: \"{c} ...\"", path.display()));
                    }
                }
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "nft syntax outside ruleset.rs: {offenders:?}"
    );
}
