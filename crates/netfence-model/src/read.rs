//! Reading the input files (and standard input) into [`Sources`].

use std::io::Read as _;
use std::path::PathBuf;

use crate::diag::{Anchor, Diagnostic};
use crate::repo::{self, Walked};
use crate::sources::{Sources, collect_paths};

/// Reads files, directories and `-` into `sources`. `overlay` marks files whose
/// objects replace same-named objects of earlier files without a warning.
pub fn read_inputs(paths: &[PathBuf], sources: &mut Sources, overlay: bool) -> Vec<Diagnostic> {
    read_inputs_excluding(paths, sources, overlay, &[])
}

/// [`read_inputs`], leaving out what `exclude` (globs, `--exclude`) matches of
/// the files found in directories.
pub fn read_inputs_excluding(
    paths: &[PathBuf],
    sources: &mut Sources,
    overlay: bool,
    exclude: &[String],
) -> Vec<Diagnostic> {
    let mut diags = Vec::new();
    let walked = paths.iter().map(|p| {
        collect_paths(std::slice::from_ref(p)).map(|files| {
            let from_directory = p.is_dir();
            files
                .into_iter()
                .map(move |path| Walked {
                    path,
                    from_directory,
                })
                .collect::<Vec<_>>()
        })
    });
    let files = match walked.collect::<Result<Vec<_>, _>>() {
        Ok(f) => repo::filter(f.into_iter().flatten().collect(), exclude, &mut diags),
        Err(e) => {
            diags.push(Diagnostic::error(
                format!("cannot read input: {e}"),
                Anchor::None,
            ));
            return diags;
        }
    };
    if files.is_empty() {
        diags.push(Diagnostic::error("no input files", Anchor::None).with_help(
            "pass manifest files or directories (*.yaml, *.yml, *.json), or `-` for standard input",
        ));
    }
    for Walked {
        path,
        from_directory,
    } in files
    {
        let (name, text) = if path.as_os_str() == "-" {
            let mut text = String::new();
            match std::io::stdin().read_to_string(&mut text) {
                Ok(_) => ("<stdin>".to_string(), text),
                Err(e) => {
                    diags.push(Diagnostic::error(
                        format!("cannot read standard input: {e}"),
                        Anchor::File {
                            name: "<stdin>".into(),
                        },
                    ));
                    continue;
                }
            }
        } else {
            let name = path.display().to_string();
            match std::fs::read(&path) {
                Ok(bytes) => match String::from_utf8(bytes) {
                    Ok(text) => (name, text),
                    Err(_) => {
                        diags.push(
                            Diagnostic::error("the file is not UTF-8 text", Anchor::File { name })
                                .with_help("save manifests as UTF-8"),
                        );
                        continue;
                    }
                },
                Err(e) => {
                    diags.push(Diagnostic::error(
                        format!("cannot read file: {e}"),
                        Anchor::File { name },
                    ));
                    continue;
                }
            }
        };
        let id = sources.add(name, text);
        sources.files[id.0 as usize].overlay = overlay;
        sources.files[id.0 as usize].from_directory = from_directory;
    }
    diags
}
