//! The directory as the agent enforces it: every file's last text that loaded,
//! so that a file that stops loading keeps its objects in force.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use netfence_model::{Anchor, Cluster, Diagnostic, LoadOptions, Severity, Sources};

/// What one look at the directory gave.
#[derive(Debug)]
pub struct Outcome {
    /// The cluster to enforce; `None` when nothing may be applied (the directory
    /// could not be read, or on the first look some file did not load).
    pub cluster: Option<Cluster>,
    /// Files whose current text does not load, with the located errors
    /// (`file:line:col: error: ...`, one per line). Their last good text is in
    /// force, or nothing of them when they never loaded.
    pub failing: BTreeMap<String, String>,
    /// A problem not tied to one file (the directory is unreadable).
    pub general: Option<String>,
    /// Whether the enforced texts differ from the previous look's.
    pub changed: bool,
}

pub struct Snapshot {
    dir: PathBuf,
    exclude: Vec<String>,
    load: LoadOptions,
    /// The text in force per file; `None` before the first complete load.
    good: Option<BTreeMap<String, String>>,
}

impl Snapshot {
    pub fn new(dir: PathBuf, exclude: Vec<String>, load: LoadOptions) -> Snapshot {
        Snapshot {
            dir,
            exclude,
            load,
            good: None,
        }
    }

    /// Whether a complete load has happened (what readiness waits for).
    pub fn loaded(&self) -> bool {
        self.good.is_some()
    }

    /// Reads the whole directory now and builds the cluster to enforce: each
    /// file's current text where it loads, its last good text where it does not.
    /// Deleted files are gone. Nothing of a text that failed ever reaches the
    /// cluster, and on the first look (no last good text for anything) a single
    /// failing file means nothing is enforced yet.
    pub fn refresh(&mut self) -> Outcome {
        let mut sources = Sources::default();
        let diags = netfence_model::read_inputs_excluding(
            std::slice::from_ref(&self.dir),
            &mut sources,
            false,
            &self.exclude,
        );
        let mut failing = BTreeMap::new();
        let read_errors: Vec<&Diagnostic> = diags
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .collect();
        let unreadable: Vec<&Diagnostic> = read_errors
            .iter()
            .copied()
            .filter(|d| !matches!(d.anchor, Anchor::File { .. }))
            .collect();
        // An empty directory is a valid state (nothing to enforce), unlike for
        // the one-shot commands.
        let empty =
            sources.files.is_empty() && unreadable.iter().all(|d| d.message == "no input files");
        if !unreadable.is_empty() && !empty {
            return Outcome {
                cluster: None,
                failing,
                general: Some(netfence_model::diag::render_short(
                    &unreadable.into_iter().cloned().collect::<Vec<_>>(),
                    &sources,
                )),
                changed: false,
            };
        }
        let mut current: BTreeMap<String, String> = sources
            .files
            .iter()
            .map(|f| (f.name.clone(), f.text.clone()))
            .collect();
        for d in read_errors {
            if let Anchor::File { name } = &d.anchor {
                failing.insert(
                    name.clone(),
                    netfence_model::diag::render_short(std::slice::from_ref(d), &sources),
                );
                // Unreadable now (permissions, a file being replaced): as if bad.
                current.insert(name.clone(), String::new());
            }
        }
        let first = self.good.is_none();
        let empty_good = BTreeMap::new();
        let good = self.good.as_ref().unwrap_or(&empty_good);
        // Files that failed on their own revert to their last good text (or
        // leave); the rest is loaded together, and files whose objects the
        // combined load rejects revert too. Each round reverts at least one
        // file, so this ends.
        let mut candidate = current.clone();
        for name in failing.keys() {
            revert(&mut candidate, good, name);
        }
        let cluster = loop {
            let mut sources = Sources::default();
            for (name, text) in &candidate {
                sources.add(name.clone(), text.clone());
            }
            match netfence_model::load(&mut sources, &self.load) {
                Ok(loaded) => break Some(loaded.cluster),
                Err(diags) => {
                    let mut by_file: BTreeMap<String, Vec<Diagnostic>> = BTreeMap::new();
                    let mut unplaced = Vec::new();
                    for d in diags.into_iter().filter(|d| d.severity == Severity::Error) {
                        match d.position(&sources) {
                            Some((file, _, _)) => by_file.entry(file).or_default().push(d),
                            None => unplaced.push(d),
                        }
                    }
                    let mut reverted = false;
                    for (file, ds) in &by_file {
                        let text = netfence_model::diag::render_short(ds, &sources);
                        if candidate.get(file) != good.get(file) {
                            revert(&mut candidate, good, file);
                            reverted = true;
                        }
                        failing.insert(file.clone(), text);
                    }
                    if !reverted {
                        // Even the last good texts do not load together (or the
                        // errors name no file): keep what is in force.
                        return Outcome {
                            cluster: None,
                            general: (!unplaced.is_empty())
                                .then(|| netfence_model::diag::render_short(&unplaced, &sources)),
                            failing,
                            changed: false,
                        };
                    }
                }
            }
        };
        if first && !failing.is_empty() {
            return Outcome {
                cluster: None,
                failing,
                general: None,
                changed: false,
            };
        }
        let changed = self.good.as_ref() != Some(&candidate);
        self.good = Some(candidate);
        Outcome {
            cluster,
            failing,
            general: None,
            changed,
        }
    }

    /// The files in force (their names), for tests and logs.
    pub fn files(&self) -> BTreeSet<String> {
        self.good
            .as_ref()
            .map(|g| g.keys().cloned().collect())
            .unwrap_or_default()
    }
}

fn revert(candidate: &mut BTreeMap<String, String>, good: &BTreeMap<String, String>, name: &str) {
    match good.get(name) {
        Some(text) => {
            candidate.insert(name.to_string(), text.clone());
        }
        None => {
            candidate.remove(name);
        }
    }
}
