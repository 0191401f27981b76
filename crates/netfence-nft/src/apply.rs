//! `enforce`: bring the kernel's `inet netfence` table to the compiled ruleset with
//! one nft transaction holding only the difference.
//!
//! Allow sets and class chains are named after their content, so "present" means
//! "equal" and unchanged objects are never re-sent (their counters survive).
//! Fixed-name chains carry a content hash in their comment; fixed-name maps are
//! compared element by element. The table itself is never deleted: there is no
//! instant without it, and a failed transaction leaves the previous state intact.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ruleset::{ChainDef, Element, FAMILY, Ruleset, SetDef, TABLE};

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("could not run `{command}`: {source}")]
    Spawn {
        command: String,
        source: std::io::Error,
    },
    #[error("`{command}` failed: {stderr}")]
    Failed { command: String, stderr: String },
    #[error("unexpected output from `{command}`: {detail}")]
    Output { command: String, detail: String },
}

/// Where the table lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// The current network namespace (a real node).
    Current,
    /// A named network namespace (`ip netns`).
    Netns(String),
}

impl Target {
    /// Runs `program args` in the target namespace.
    pub fn command(&self, program: &str) -> Command {
        match self {
            Target::Current => Command::new(program),
            Target::Netns(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, program]);
                c
            }
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Target::Current => "the current network namespace".into(),
            Target::Netns(ns) => format!("network namespace {ns}"),
        }
    }
}

/// Runs a command, feeding `stdin`; returns stdout.
pub fn run(mut cmd: Command, stdin: Option<&str>) -> Result<String, ApplyError> {
    let command = format!("{cmd:?}");
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|source| ApplyError::Spawn {
        command: command.clone(),
        source,
    })?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(text.as_bytes())
            .map_err(|source| ApplyError::Spawn {
                command: command.clone(),
                source,
            })?;
    }
    let out = child
        .wait_with_output()
        .map_err(|source| ApplyError::Spawn {
            command: command.clone(),
            source,
        })?;
    if !out.status.success() {
        return Err(ApplyError::Failed {
            command,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// What the kernel has: object names, chain hashes, and the fixed maps' elements.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Applied {
    pub sets: BTreeMap<String, Vec<String>>,
    pub chains: BTreeSet<String>,
    pub map_elements: BTreeMap<String, BTreeSet<(String, String)>>,
}

fn list_json(target: &Target, args: &[&str]) -> Result<Option<Vec<Value>>, ApplyError> {
    let mut cmd = target.command("nft");
    cmd.args(args);
    match run(cmd, None) {
        Ok(out) => {
            let v: Value = serde_json::from_str(&out).map_err(|e| ApplyError::Output {
                command: format!("nft {}", args.join(" ")),
                detail: e.to_string(),
            })?;
            Ok(Some(
                v.get("nftables")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default(),
            ))
        }
        Err(ApplyError::Failed { stderr, .. }) if stderr.contains("No such file or directory") => {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Reads the applied table; `None` when there is none yet.
pub fn read_applied(target: &Target, desired: &Ruleset) -> Result<Option<Applied>, ApplyError> {
    let Some(items) = list_json(target, &["-j", "-t", "list", "table", FAMILY, TABLE])? else {
        return Ok(None);
    };
    let mut applied = Applied::default();
    for item in &items {
        for kind in ["set", "map"] {
            if let Some(s) = item.get(kind) {
                let name = s["name"].as_str().unwrap_or_default().to_string();
                applied.sets.insert(name, type_of(s));
            }
        }
        if let Some(c) = item.get("chain") {
            applied
                .chains
                .insert(c["name"].as_str().unwrap_or_default().to_string());
        }
    }
    for (name, set) in &desired.sets {
        if set.is_map() && applied.sets.contains_key(name) {
            let items =
                list_json(target, &["-j", "list", "map", FAMILY, TABLE, name])?.unwrap_or_default();
            let mut elements = BTreeSet::new();
            for item in &items {
                let elems = item
                    .get("map")
                    .and_then(|m| m.get("elem"))
                    .and_then(Value::as_array);
                for pair in elems.into_iter().flatten() {
                    if let [k, v] = pair.as_array().map(Vec::as_slice).unwrap_or_default() {
                        elements.insert((key_text(k), verdict_text(v)));
                    }
                }
            }
            applied.map_elements.insert(name.clone(), elements);
        }
    }
    Ok(Some(applied))
}

fn type_of(set: &Value) -> Vec<String> {
    let mut out = match &set["type"] {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    };
    if let Some(m) = set.get("map").and_then(Value::as_str) {
        out.push(format!(": {m}"));
    }
    out
}

fn key_text(k: &Value) -> String {
    match k {
        Value::String(s) if s.parse::<std::net::IpAddr>().is_ok() => s.clone(),
        Value::String(s) => format!("\"{s}\""),
        Value::Object(o) => match o.get("concat").and_then(Value::as_array) {
            Some(parts) => parts.iter().map(key_text).collect::<Vec<_>>().join(" . "),
            None => k.to_string(),
        },
        other => other.to_string(),
    }
}

fn verdict_text(v: &Value) -> String {
    if let Some(t) = v.get("goto").and_then(|g| g["target"].as_str()) {
        return format!("goto {t}");
    }
    match v.as_object().and_then(|o| o.keys().next()) {
        Some(k) => k.clone(),
        None => v.to_string(),
    }
}

fn declared_type(set: &SetDef) -> Vec<String> {
    let mut out: Vec<String> = set.key.iter().map(|s| s.to_string()).collect();
    if let Some(d) = set.data {
        out.push(format!(": {d}"));
    }
    out
}

/// The transaction that turns `applied` into `desired`, and what it does.
#[derive(Debug, Default)]
pub struct Plan {
    pub commands: String,
    pub sets_added: usize,
    pub sets_deleted: usize,
    pub chains_added: usize,
    pub chains_deleted: usize,
    pub elements_added: usize,
    pub elements_deleted: usize,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.commands.is_empty()
    }

    pub fn summary(&self) -> String {
        format!(
            "sets +{} -{}, chains +{} -{}, map elements +{} -{}",
            self.sets_added,
            self.sets_deleted,
            self.chains_added,
            self.chains_deleted,
            self.elements_added,
            self.elements_deleted
        )
    }
}

/// Chains that refer to others are deleted first: a chain still targeted by a
/// `goto` cannot be deleted, even within one transaction.
fn deletion_rank(chain: &str) -> u8 {
    if chain.starts_with("ingress_stage") {
        3
    } else if chain.starts_with("deny_") {
        2
    } else if chain.starts_with("forward") || chain.starts_with("input") {
        0
    } else {
        1
    }
}

fn map_pairs(set: &SetDef) -> BTreeSet<(String, String)> {
    set.elements
        .iter()
        .map(|e| {
            (
                e.key_text(),
                e.value.as_ref().map(|v| v.text()).unwrap_or_default(),
            )
        })
        .collect()
}

pub fn plan(desired: &Ruleset, applied: Option<&Applied>) -> Plan {
    let empty = Applied::default();
    let mut applied = applied.unwrap_or(&empty);
    let mut p = Plan::default();
    let mut out = String::new();

    // A fixed-name set whose type changed cannot be altered in place: everything
    // is rebuilt in this one transaction (rare: a change of dispatch mode).
    let retyped = desired.sets.iter().any(|(name, set)| {
        applied
            .sets
            .get(name)
            .is_some_and(|t| *t != declared_type(set))
    });
    if retyped {
        out.push_str(&format!("flush table {FAMILY} {TABLE}\n"));
        let mut chains: Vec<&String> = applied.chains.iter().collect();
        chains.sort_by_key(|c| deletion_rank(c));
        for name in chains {
            out.push_str(&format!("delete chain {FAMILY} {TABLE} {name}\n"));
            p.chains_deleted += 1;
        }
        for (name, ty) in &applied.sets {
            let kind = if ty.iter().any(|t| t.starts_with(':')) {
                "map"
            } else {
                "set"
            };
            out.push_str(&format!("delete {kind} {FAMILY} {TABLE} {name}\n"));
            p.sets_deleted += 1;
        }
        applied = &empty;
    }

    // New objects in dependency order: sets; chains (declared empty); maps, whose
    // entries jump to chains; then the rules, which use all of them.
    let is_new = |name: &String| !applied.sets.contains_key(name);
    for (name, set) in desired
        .sets
        .iter()
        .filter(|(n, s)| !s.is_map() && is_new(n))
    {
        p.sets_added += 1;
        out.push_str(&Ruleset::add_set_text(name, set));
    }
    let new_chains: Vec<(&String, &ChainDef)> = desired
        .chains
        .iter()
        .filter(|(name, _)| !applied.chains.contains(*name))
        .collect();
    for (name, chain) in &new_chains {
        p.chains_added += 1;
        out.push_str(&Ruleset::add_chain_text(
            name,
            &ChainDef {
                rules: Vec::new(),
                ..(*chain).clone()
            },
        ));
    }
    for (name, set) in desired.sets.iter().filter(|(n, s)| s.is_map() && is_new(n)) {
        p.sets_added += 1;
        out.push_str(&Ruleset::add_set_text(name, set));
    }
    for (name, chain) in &new_chains {
        for r in &chain.rules {
            out.push_str(&format!("add rule {FAMILY} {TABLE} {name} {}\n", r.text()));
        }
    }
    // Existing maps: only the entries that differ.
    for (name, set) in desired
        .sets
        .iter()
        .filter(|(n, s)| s.is_map() && applied.sets.contains_key(*n))
    {
        let have = applied.map_elements.get(name).cloned().unwrap_or_default();
        let want = map_pairs(set);
        let stale: Vec<&str> = have.difference(&want).map(|(k, _)| k.as_str()).collect();
        for chunk in stale.chunks(512) {
            out.push_str(&format!(
                "delete element {FAMILY} {TABLE} {name} {{ {} }}\n",
                chunk.join(", ")
            ));
        }
        p.elements_deleted += stale.len();
        let fresh: Vec<Element> = set
            .elements
            .iter()
            .filter(|e| {
                !have.contains(&(
                    e.key_text(),
                    e.value.as_ref().map(|v| v.text()).unwrap_or_default(),
                ))
            })
            .cloned()
            .collect();
        p.elements_added += fresh.len();
        out.push_str(&Ruleset::add_elements_text(name, &fresh));
    }
    // Last, what nothing refers to any more.
    let mut old_chains: Vec<&String> = applied
        .chains
        .iter()
        .filter(|c| !desired.chains.contains_key(*c))
        .collect();
    old_chains.sort_by_key(|c| deletion_rank(c));
    for name in old_chains {
        p.chains_deleted += 1;
        out.push_str(&format!("delete chain {FAMILY} {TABLE} {name}\n"));
    }
    for (name, ty) in &applied.sets {
        if !desired.sets.contains_key(name) {
            p.sets_deleted += 1;
            let kind = if ty.iter().any(|t| t.starts_with(':')) {
                "map"
            } else {
                "set"
            };
            out.push_str(&format!("delete {kind} {FAMILY} {TABLE} {name}\n"));
        }
    }
    if !out.is_empty() {
        p.commands = format!("add table {FAMILY} {TABLE}\n{out}");
    }
    p
}

/// Applies `plan` as one transaction (`nft -f -`).
pub fn execute(target: &Target, plan: &Plan) -> Result<(), ApplyError> {
    if plan.is_empty() {
        return Ok(());
    }
    let mut cmd = target.command("nft");
    cmd.args(["-f", "-"]);
    run(cmd, Some(&plan.commands)).map(|_| ())
}

/// The set holding the generation of the applied ruleset (one number).
pub const GENERATION_SET: &str = "generation";

/// A short fingerprint of a whole ruleset. Content-named objects make their names
/// a summary of their content; the dispatch maps are added element by element.
pub fn generation(desired: &Ruleset) -> u32 {
    let mut text = String::new();
    for (name, set) in &desired.sets {
        text.push_str(name);
        text.push('\n');
        if set.is_map() {
            for e in &set.elements {
                text.push_str(&e.text());
                text.push('\n');
            }
        }
    }
    for name in desired.chains.keys() {
        text.push_str(name);
        text.push('\n');
    }
    let h = crate::ruleset::content_hash(&text);
    u32::from_str_radix(&h[..8], 16).unwrap_or(0)
}

/// What `desired` looks like once applied.
fn applied_of(desired: &Ruleset) -> Applied {
    Applied {
        sets: desired
            .sets
            .iter()
            .map(|(n, s)| (n.clone(), declared_type(s)))
            .collect(),
        chains: desired.chains.keys().cloned().collect(),
        map_elements: desired
            .sets
            .iter()
            .filter(|(_, s)| s.is_map())
            .map(|(n, s)| (n.clone(), map_pairs(s)))
            .collect(),
    }
}

/// The generation the kernel's table says it holds.
pub fn kernel_generation(target: &Target) -> Result<Option<u32>, ApplyError> {
    let items = list_json(
        target,
        &["-j", "list", "set", FAMILY, TABLE, GENERATION_SET],
    )?;
    Ok(items.into_iter().flatten().find_map(|item| {
        item["set"]["elem"]
            .as_array()
            .and_then(|e| e.first())
            .and_then(Value::as_u64)
            .and_then(|g| u32::try_from(g).ok())
    }))
}

/// What the last successful apply left, kept beside the table so the next apply
/// need not list the whole table (its generation must match the kernel's).
#[derive(Debug, Serialize, Deserialize)]
struct Cache {
    generation: u32,
    applied: Applied,
}

fn read_cache(path: &std::path::Path) -> Option<Cache> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

fn write_cache(path: &std::path::Path, cache: &Cache) {
    if let (Some(dir), Ok(text)) = (path.parent(), serde_json::to_string(cache)) {
        let _ = std::fs::create_dir_all(dir);
        let tmp = path.with_extension("tmp");
        if std::fs::write(&tmp, text).is_ok() {
            let _ = std::fs::rename(tmp, path);
        }
    }
}

/// Reads, plans and applies: what `enforce` does. With `cache`, an apply whose
/// table still carries the generation recorded there skips listing the table.
pub fn enforce(
    target: &Target,
    desired: &Ruleset,
    dry_run: bool,
    cache: Option<&std::path::Path>,
) -> Result<Plan, ApplyError> {
    let want = generation(desired);
    let have = kernel_generation(target)?;
    if have == Some(want) {
        return Ok(Plan::default());
    }
    let cached = cache
        .and_then(read_cache)
        .filter(|c| Some(c.generation) == have)
        .map(|c| c.applied);
    let from_cache = cached.is_some();
    let applied = match cached {
        Some(a) => Some(a),
        None => read_applied(target, desired)?,
    };
    let mut p = plan(desired, applied.as_ref());
    mark_generation(&mut p, applied.as_ref(), want);
    if dry_run {
        return Ok(p);
    }
    match execute(target, &p) {
        Ok(()) => {}
        // The cache was wrong (the table was changed by hand): read it and retry.
        Err(_) if from_cache => {
            let applied = read_applied(target, desired)?;
            p = plan(desired, applied.as_ref());
            mark_generation(&mut p, applied.as_ref(), want);
            execute(target, &p)?;
        }
        Err(e) => return Err(e),
    }
    if let Some(path) = cache {
        write_cache(
            path,
            &Cache {
                generation: want,
                applied: applied_of(desired),
            },
        );
    }
    Ok(p)
}

/// The transaction also records the new generation (replacing the old one).
fn mark_generation(p: &mut Plan, applied: Option<&Applied>, generation: u32) {
    let exists = applied.is_some_and(|a| a.sets.contains_key(GENERATION_SET));
    if p.commands.is_empty() {
        p.commands = format!("add table {FAMILY} {TABLE}\n");
    }
    if exists {
        p.commands
            .push_str(&format!("flush set {FAMILY} {TABLE} {GENERATION_SET}\n"));
    }
    p.commands.push_str(&format!(
        "add element {FAMILY} {TABLE} {GENERATION_SET} {{ {generation} }}\n"
    ));
}
