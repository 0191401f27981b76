//! Manifests read from a git revision (`git:REV[:PATH]`), so `netfence diff` can
//! compare a branch with the working tree without checking anything out.
//!
//! Paths follow the command line's conventions: PATH is relative to the current
//! directory (default: the current directory itself), a directory is read
//! recursively keeping only `*.yaml`, `*.yml` and `*.json` and skipping hidden
//! names, and a file is read whatever its name. Files are named `REV:PATH-IN-REPO`
//! in diagnostics, which `git show` accepts as is.

use std::path::Path;
use std::process::Command;

use crate::diag::{Anchor, Diagnostic};
use crate::sources::Sources;

/// Reads the manifests of `spec` (`REV` or `REV:PATH`, without the `git:` prefix)
/// from the git repository of the current directory into `sources`.
pub fn read_git(spec: &str, sources: &mut Sources) -> Vec<Diagnostic> {
    match read(spec, sources) {
        Ok(()) => Vec::new(),
        Err(d) => vec![*d],
    }
}

fn read(spec: &str, sources: &mut Sources) -> Result<(), Box<Diagnostic>> {
    let (rev, path) = match spec.split_once(':') {
        Some((rev, path)) if !path.is_empty() => (rev, Some(path)),
        Some((rev, _)) => (rev, None),
        None => (spec, None),
    };
    let whole = format!("git:{spec}");
    if rev.is_empty() {
        return Err(error(&whole, "no revision given")
            .with_help("write git:REV or git:REV:PATH, e.g. git:main or git:HEAD~1:deploy")
            .into());
    }
    // First: is there a repository at all (git says why not)?
    let prefix = git(&["rev-parse", "--show-prefix"]).map_err(|e| error(&whole, &e))?;
    let commit = git(&[
        "rev-parse",
        "--verify",
        "--quiet",
        "--end-of-options",
        &format!("{rev}^{{commit}}"),
    ])
    .map_err(|_| {
        error(
            &whole,
            &format!("`{rev}` is not a revision of this git repository"),
        )
        .with_help("name a commit, branch or tag: git:main, git:HEAD~1, git:v1.2")
    })?;
    let commit = commit.trim();
    let root = repo_path(prefix.trim_end_matches('\n'), path.unwrap_or("."))
        .ok_or_else(|| error(&whole, "the path leaves the repository"))?;
    let single_file = path.is_some()
        && git(&["cat-file", "-t", &format!("{commit}:{root}")]).is_ok_and(|t| t.trim() == "blob");
    let mut ls_tree = vec!["ls-tree", "-r", "-z", "--full-tree", commit];
    if !root.is_empty() {
        ls_tree.extend(["--", root.as_str()]);
    }
    let listing = git(&ls_tree).map_err(|e| error(&whole, &e))?;
    let files: Vec<&str> = listing
        .split('\0')
        .filter_map(|entry| {
            let (meta, file) = entry.split_once('\t')?;
            (meta.split(' ').nth(1) == Some("blob")).then_some(file)
        })
        .filter(|file| single_file || is_manifest(file, &root))
        .collect();
    if files.is_empty() {
        let place = if root.is_empty() {
            "the repository root"
        } else {
            root.as_str()
        };
        return Err(error(
            &whole,
            &format!("no manifest files (*.yaml, *.yml, *.json) under {place} in {rev}"),
        )
        .with_help("check the path with `git ls-tree -r --name-only REV -- PATH`")
        .into());
    }
    for file in files {
        let name = format!("{rev}:{file}");
        let text = git(&["show", &format!("{commit}:{file}")]).map_err(|e| error(&name, &e))?;
        sources.add(name, text);
    }
    Ok(())
}

/// `path` (relative to the current directory, which is `prefix` inside the
/// repository) as a path from the repository root; `None` when it climbs out.
fn repo_path(prefix: &str, path: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for part in prefix.split('/').chain(path.split('/')) {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    Some(parts.join("/"))
}

/// As directory loading decides: YAML or JSON by extension, no hidden names
/// below the directory given.
fn is_manifest(file: &str, root: &str) -> bool {
    let below = file
        .strip_prefix(root)
        .map(|rest| rest.trim_start_matches('/'))
        .unwrap_or(file);
    !below.split('/').any(|part| part.starts_with('.'))
        && matches!(
            Path::new(file).extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml" | "json")
        )
}

/// Runs git in the current directory; its standard output, or why it failed.
fn git(args: &[&str]) -> Result<String, String> {
    let out = Command::new("git")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run git: {e}"))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(match stderr.trim() {
            "" => format!("`git {}` failed ({})", args.join(" "), out.status),
            message => message.to_string(),
        });
    }
    String::from_utf8(out.stdout).map_err(|_| "the file is not UTF-8 text".to_string())
}

fn error(name: &str, message: &str) -> Diagnostic {
    Diagnostic::error(
        message.to_string(),
        Anchor::File {
            name: name.to_string(),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_resolve_from_the_current_directory() {
        assert_eq!(repo_path("", ".").as_deref(), Some(""));
        assert_eq!(repo_path("deploy/", ".").as_deref(), Some("deploy"));
        assert_eq!(
            repo_path("deploy/", "../base/x.yaml").as_deref(),
            Some("base/x.yaml")
        );
        assert_eq!(repo_path("", "../x"), None);
    }

    #[test]
    fn only_visible_manifests_below_the_root() {
        assert!(is_manifest("deploy/a.yaml", "deploy"));
        assert!(is_manifest("deploy/sub/b.json", ""));
        assert!(!is_manifest("deploy/README.md", "deploy"));
        assert!(!is_manifest("deploy/.github/ci.yml", "deploy"));
        // A hidden directory given explicitly is read; only names below it count.
        assert!(is_manifest(".k8s/a.yaml", ".k8s"));
    }
}
