//! A repository folder: which files found by walking a directory are not
//! Kubernetes manifests (Helm charts, kustomize files and the patches they
//! name, Compose files, package manifests), and `--exclude`. Files named on
//! the command line are never skipped.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::diag::{Anchor, Diagnostic};

/// A file of the input and whether it was found by walking a directory.
pub(crate) struct Walked {
    pub path: PathBuf,
    pub from_directory: bool,
}

/// Files that are plainly something else, by name.
const OTHER_FILES: &[(&str, &str)] = &[
    ("package.json", "an npm package manifest"),
    ("package-lock.json", "an npm lock file"),
    ("tsconfig.json", "a TypeScript configuration"),
    ("composer.json", "a Composer package manifest"),
    ("renovate.json", "a Renovate configuration"),
    ("pnpm-lock.yaml", "a pnpm lock file"),
    ("mkdocs.yml", "a MkDocs configuration"),
    ("codecov.yml", "a Codecov configuration"),
    ("skaffold.yaml", "a Skaffold configuration"),
    ("Chart.lock", "a Helm lock file"),
];

const KUSTOMIZATIONS: &[&str] = &["kustomization.yaml", "kustomization.yml", "Kustomization"];

fn file_name(p: &Path) -> &str {
    p.file_name().and_then(|n| n.to_str()).unwrap_or("")
}

/// Drops the walked files that are not manifests, each with a note (a warning
/// where the user should render the directory instead), and those `exclude`
/// matches.
pub(crate) fn filter(
    files: Vec<Walked>,
    exclude: &[String],
    diags: &mut Vec<Diagnostic>,
) -> Vec<Walked> {
    let skip_note = |path: &Path, why: String| {
        Diagnostic::note(
            format!("skipped: {why}"),
            Anchor::File {
                name: path.display().to_string(),
            },
        )
    };
    // Helm charts: every file under a directory holding Chart.yaml.
    let charts: BTreeSet<PathBuf> = files
        .iter()
        .filter(|f| f.from_directory && file_name(&f.path) == "Chart.yaml")
        .filter_map(|f| f.path.parent().map(Path::to_path_buf))
        .collect();
    for chart in &charts {
        diags.push(
            Diagnostic::warning(
                format!(
                    "{} is a Helm chart: its templates are not manifests until rendered, so it was skipped",
                    chart.display()
                ),
                Anchor::None,
            )
            .with_help(format!(
                "render it and pipe it in: `helm template RELEASE {} | netfence ... -` (with your values: `-f values.yaml`)",
                chart.display()
            )),
        );
    }
    // Kustomizations, and the patch files they name.
    let mut patches: BTreeSet<PathBuf> = BTreeSet::new();
    for f in files
        .iter()
        .filter(|f| f.from_directory && KUSTOMIZATIONS.contains(&file_name(&f.path)))
    {
        let dir = f.path.parent().unwrap_or(Path::new(""));
        let named = std::fs::read_to_string(&f.path)
            .map(|text| kustomize_patches(&text))
            .unwrap_or_default();
        let count = named.len();
        patches.extend(named.into_iter().map(|p| normalize(&dir.join(p))));
        let (mut d, what) = if count > 0 {
            (
                Diagnostic::warning(
                    format!(
                        "a kustomization with {count} patch file(s): the patches were skipped, the resources are read as written"
                    ),
                    Anchor::File {
                        name: f.path.display().to_string(),
                    },
                ),
                "to analyze what kustomize applies",
            )
        } else {
            (
                skip_note(
                    &f.path,
                    "a kustomization (its resources are read as written)".into(),
                ),
                "to apply its patches and generators",
            )
        };
        d = d.with_help(format!(
            "{what}, render it and pipe it in: `kustomize build {} | netfence ... -`",
            dir.display()
        ));
        diags.push(d);
    }
    let mut out = Vec::new();
    for f in files {
        if !f.from_directory {
            out.push(f);
            continue;
        }
        let name = file_name(&f.path);
        if let Some(pattern) = exclude.iter().find(|g| glob_matches_path(g, &f.path)) {
            diags.push(skip_note(
                &f.path,
                format!("excluded by --exclude {pattern}"),
            ));
        } else if charts.iter().any(|c| f.path.starts_with(c)) {
            diags.push(skip_note(&f.path, "part of a Helm chart".into()));
        } else if KUSTOMIZATIONS.contains(&name) {
            // Noted above.
        } else if patches.contains(&normalize(&f.path)) {
            diags.push(skip_note(
                &f.path,
                "a patch that a kustomization names (a partial object)".into(),
            ));
        } else if let Some((_, what)) = OTHER_FILES.iter().find(|(n, _)| *n == name) {
            diags.push(skip_note(
                &f.path,
                format!("{what}, not a Kubernetes manifest"),
            ));
        } else if is_compose(name) {
            diags.push(skip_note(
                &f.path,
                "a Compose file, not a Kubernetes manifest".into(),
            ));
        } else {
            out.push(f);
        }
    }
    out
}

fn is_compose(name: &str) -> bool {
    let stem = name
        .strip_suffix(".yaml")
        .or_else(|| name.strip_suffix(".yml"))
        .unwrap_or("");
    stem == "compose"
        || stem == "docker-compose"
        || stem.starts_with("docker-compose.")
        || stem.starts_with("compose.")
}

/// `a/./b/../c` as `a/c`, so that a patch named from its kustomization matches
/// the walked path.
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    out
}

/// The patch files a kustomization names: `patchesStrategicMerge` entries,
/// and `path:` of `patches` and `patchesJson6902` entries.
fn kustomize_patches(text: &str) -> Vec<String> {
    let (docs, _) = netfence_yaml::parse_documents(text);
    let mut out = Vec::new();
    for doc in &docs {
        let json = doc.root.to_json();
        for key in ["patchesStrategicMerge", "patches", "patchesJson6902"] {
            for entry in json
                .get(key)
                .and_then(|v| v.as_array())
                .into_iter()
                .flatten()
            {
                let path = match entry {
                    // An inline patch has several lines; a file name has one.
                    serde_json::Value::String(s) if !s.contains('\n') => Some(s.as_str()),
                    serde_json::Value::Object(m) => m.get("path").and_then(|p| p.as_str()),
                    _ => None,
                };
                out.extend(path.map(str::to_string));
            }
        }
    }
    out
}

/// Whether `pattern` matches `path` or a trailing part of it (`*.test.yaml`,
/// `charts/**`, `legacy/*.yaml`): `*` and `?` stay within a path component,
/// `**` spans any number of them.
pub(crate) fn glob_matches_path(pattern: &str, path: &Path) -> bool {
    let parts: Vec<String> = path
        .components()
        .filter_map(|c| match c {
            std::path::Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect();
    let pattern: Vec<&str> = pattern.trim_end_matches('/').split('/').collect();
    (0..parts.len()).any(|start| {
        let tail: Vec<&str> = parts[start..].iter().map(String::as_str).collect();
        // A pattern naming a directory covers what is inside it.
        (1..=tail.len()).any(|end| match_components(&pattern, &tail[..end]))
    })
}

fn match_components(pattern: &[&str], parts: &[&str]) -> bool {
    match (pattern.split_first(), parts.split_first()) {
        (None, None) => true,
        (Some((&"**", rest)), _) => {
            (0..=parts.len()).any(|skip| match_components(rest, &parts[skip..]))
        }
        (Some((p, prest)), Some((c, crest))) => {
            match_component(p.as_bytes(), c.as_bytes()) && match_components(prest, crest)
        }
        _ => false,
    }
}

fn match_component(p: &[u8], s: &[u8]) -> bool {
    match (p.split_first(), s.split_first()) {
        (None, None) => true,
        (Some((b'*', rest)), _) => (0..=s.len()).any(|skip| match_component(rest, &s[skip..])),
        (Some((b'?', prest)), Some((_, srest))) => match_component(prest, srest),
        (Some((pc, prest)), Some((sc, srest))) => pc == sc && match_component(prest, srest),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        let m = |g: &str, p: &str| glob_matches_path(g, Path::new(p));
        assert!(m("*.test.yaml", "repo/deploy/a.test.yaml"));
        assert!(!m("*.test.yaml", "repo/deploy/a.yaml"));
        assert!(m("legacy", "repo/legacy/x/a.yaml"));
        assert!(m("legacy/*.yaml", "repo/legacy/a.yaml"));
        assert!(m("repo/**/old-*.yaml", "repo/a/b/old-1.yaml"));
        assert!(!m("repo/**/old-*.yaml", "repo/a/b/new-1.yaml"));
        assert!(m("?.yaml", "x/a.yaml"));
        assert!(!m("legacy", "repo/legacy-2/a.yaml"));
    }

    #[test]
    fn kustomize_patch_names() {
        let text = "resources: [deploy.yaml]\npatchesStrategicMerge: [patch-a.yaml]\npatches:\n- path: patch-b.yaml\n- patch: |-\n    - op: add\n      path: /x\n";
        assert_eq!(
            kustomize_patches(text),
            vec!["patch-a.yaml", "patch-b.yaml"]
        );
    }
}
