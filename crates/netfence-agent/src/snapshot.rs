//! The input as the agent enforces it: every file's (or API object's) last
//! text that loaded, so that one that stops loading keeps its objects in force.
//!
//! Where the texts come from is an [`Input`]: a directory ([`DirInput`]) or
//! the Kubernetes API (netfence-kube, adapted in the CLI), whose objects are
//! texts named after their API path. Everything after the reading (loading,
//! reverting to the last good text, the first-load rule) is the same for both.

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
    /// The input is not complete yet (the API source's first lists): nothing
    /// is applied, and this says what is awaited.
    pub waiting: Option<String>,
    /// Whether the enforced texts differ from the previous look's.
    pub changed: bool,
}

/// What one reading of an input gave.
#[derive(Debug)]
pub enum Read {
    /// Every text by name, and the names that could not be read now with their
    /// located message (they keep their last good text).
    Texts {
        texts: BTreeMap<String, String>,
        unreadable: BTreeMap<String, String>,
    },
    /// Not complete yet: nothing may be applied.
    Waiting(String),
    /// The input cannot be read at all: the last good texts stay in force.
    Failed(String),
}

/// Where the objects come from.
pub trait Input: Send {
    /// Reads every text now.
    fn read(&mut self) -> Read;
}

/// A directory of manifests, read whole at every look.
pub struct DirInput {
    pub dir: PathBuf,
    pub exclude: Vec<String>,
}

impl Input for DirInput {
    fn read(&mut self) -> Read {
        let mut sources = Sources::default();
        let diags = netfence_model::read_inputs_excluding(
            std::slice::from_ref(&self.dir),
            &mut sources,
            false,
            &self.exclude,
        );
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
            return Read::Failed(netfence_model::diag::render_short(
                &unreadable.into_iter().cloned().collect::<Vec<_>>(),
                &sources,
            ));
        }
        let texts = sources
            .files
            .iter()
            .map(|f| (f.name.clone(), f.text.clone()))
            .collect();
        let mut failing = BTreeMap::new();
        for d in read_errors {
            if let Anchor::File { name } = &d.anchor {
                failing.insert(
                    name.clone(),
                    netfence_model::diag::render_short(std::slice::from_ref(d), &sources),
                );
            }
        }
        Read::Texts {
            texts,
            unreadable: failing,
        }
    }
}

pub struct Snapshot {
    input: Box<dyn Input>,
    load: LoadOptions,
    /// The text in force per file; `None` before the first complete load.
    good: Option<BTreeMap<String, String>>,
}

impl Snapshot {
    pub fn new(dir: PathBuf, exclude: Vec<String>, load: LoadOptions) -> Snapshot {
        Snapshot::with_input(Box::new(DirInput { dir, exclude }), load)
    }

    pub fn with_input(input: Box<dyn Input>, load: LoadOptions) -> Snapshot {
        Snapshot {
            input,
            load,
            good: None,
        }
    }

    /// Whether a complete load has happened (what readiness waits for).
    pub fn loaded(&self) -> bool {
        self.good.is_some()
    }

    /// Reads the whole input now and builds the cluster to enforce: each
    /// text's current version where it loads, its last good version where it
    /// does not. Deleted files (objects) are gone. Nothing of a text that failed
    /// ever reaches the cluster, and on the first look (no last good text for
    /// anything) a single failing text means nothing is enforced yet.
    pub fn refresh(&mut self) -> Outcome {
        let mut failing = BTreeMap::new();
        let (mut current, unreadable) = match self.input.read() {
            Read::Texts { texts, unreadable } => (texts, unreadable),
            Read::Waiting(why) => {
                return Outcome {
                    cluster: None,
                    failing,
                    general: None,
                    waiting: Some(why),
                    changed: false,
                };
            }
            Read::Failed(why) => {
                return Outcome {
                    cluster: None,
                    failing,
                    general: Some(why),
                    waiting: None,
                    changed: false,
                };
            }
        };
        for (name, message) in unreadable {
            // Unreadable now (permissions, a file being replaced): as if bad.
            current.insert(name.clone(), String::new());
            failing.insert(name, message);
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
                            waiting: None,
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
                waiting: None,
                changed: false,
            };
        }
        let changed = self.good.as_ref() != Some(&candidate);
        self.good = Some(candidate);
        Outcome {
            cluster,
            failing,
            general: None,
            waiting: None,
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
