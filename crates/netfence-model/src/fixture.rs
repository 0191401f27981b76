//! The fixture file format (fixtures/README.md): a leading `netfenceTest:` document
//! with the expectations, then ordinary manifests. Used by the tests of several
//! crates (engine, lab), so it lives with the loader.

/// Splits a fixture into its header (as JSON, the value under `netfenceTest`) and
/// its manifest text, with the header's lines blanked so positions in the
/// manifests stay those of the file. `None` when there is no such header.
pub fn split(text: &str) -> Option<(serde_json::Value, String)> {
    let (docs, _) = netfence_yaml::parse_documents(text);
    let header = docs
        .first()
        .map(|d| d.root.to_json())
        .filter(|h| h.get("netfenceTest").is_some())?;
    let mut out = String::new();
    let mut content_seen = false;
    let mut in_manifests = false;
    for line in text.split_inclusive('\n') {
        if in_manifests {
            out.push_str(line);
            continue;
        }
        let t = line.trim_end();
        if t == "---" && content_seen {
            in_manifests = true;
            out.push_str(line);
            continue;
        }
        if !t.is_empty() && !t.starts_with('#') && t != "---" {
            content_seen = true;
        }
        out.push('\n');
    }
    Some((header["netfenceTest"].clone(), out))
}

/// The fixture files of a directory, sorted: `*.yaml`, except `_`-prefixed ones
/// (shared bases such as `_model.yaml`).
pub fn files(dir: &std::path::Path) -> std::io::Result<Vec<std::path::PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let name = path.file_name().map(|n| n.to_string_lossy().to_string());
        if path.extension().is_some_and(|e| e == "yaml")
            && name.is_some_and(|n| !n.starts_with('_'))
        {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}
