//! `enforce`: bring the kernel's `inet netfence` table to the compiled ruleset with
//! nft transactions holding only the difference: the new chains, sets and maps
//! first, unreferenced (the staging transaction), then one transaction that
//! points at them and deletes what is left over (the switch).
//!
//! Why two: the kernel evaluates a packet's rules in the generation it read when
//! the packet entered a base chain, but looks set and map elements up in the
//! generation current at the lookup. A packet that straddles a commit can find a
//! map element added by the commit and follow it into a chain created by the same
//! commit, whose rules in the packet's (old) generation are none: the packet falls
//! through to the base chain's policy, accept. Measured in the lab: 600 replacements of a pod's egress chain under a UDP
//! flood let 86 datagrams through that both rulesets deny; staged, none
//! (crates/netfence-lab/tests/straddle.rs). Unreferenced objects change no
//! verdict, so a kill between the two transactions leaves the old ruleset in
//! force.
//!
//! Allow sets and class chains are named after their content, so "present" means
//! "equal" and unchanged objects are never re-sent (their counters survive).
//! Fixed-name chains carry a content hash in their comment; fixed-name maps are
//! compared element by element. The table itself is never deleted: there is no
//! instant without it, and a failed transaction leaves the previous state intact.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::net::IpAddr;
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::backend::Nft;
use crate::ruleset::{
    ChainDef, Element, FAMILY, Family, Op, Part, References, Ruleset, SetDef, TABLE, Transaction,
    Verdict, ip_key,
};

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

/// What the kernel has: sets and maps with their types, chains with what their
/// rules name, and the maps' elements.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Applied {
    pub sets: BTreeMap<String, Vec<String>>,
    pub chains: BTreeMap<String, References>,
    pub map_elements: BTreeMap<String, BTreeSet<Element>>,
    /// Rules per chain and elements per plain set (not maps, drop records or the
    /// generation): a hand-flushed chain or a deleted element shows here.
    #[serde(default)]
    pub rule_counts: BTreeMap<String, usize>,
    #[serde(default)]
    pub element_counts: BTreeMap<String, usize>,
}

impl Applied {
    fn is_map(&self, name: &str) -> bool {
        self.sets
            .get(name)
            .is_some_and(|ty| ty.iter().any(|t| t.starts_with(':')))
    }
}

/// Reads the applied table; `None` when there is none yet.
pub fn read_applied(target: &Target) -> Result<Option<Applied>, ApplyError> {
    read_applied_with(&mut Nft::open(target))
}

/// [`read_applied`] through an open [`Nft`].
pub fn read_applied_with(nft: &mut Nft) -> Result<Option<Applied>, ApplyError> {
    let Some(items) = nft.list_json(&format!("table {FAMILY} {TABLE}"))? else {
        return Ok(None);
    };
    let mut applied = Applied::default();
    for item in &items {
        if let Some(s) = item.get("set")
            && let Some(name) = s["name"].as_str()
        {
            applied.sets.insert(name.to_string(), type_of(s));
            // Drop records (dynamic sets, listed with a timeout) fill by themselves.
            let dynamic = s["flags"]
                .as_array()
                .is_some_and(|f| f.iter().any(|x| x == "dynamic" || x == "timeout"));
            if !dynamic && name != GENERATION_SET {
                let n = s["elem"].as_array().map_or(0, Vec::len);
                applied.element_counts.insert(name.to_string(), n);
            }
        }
        if let Some(c) = item.get("chain") {
            let name = c["name"].as_str().unwrap_or_default().to_string();
            applied.rule_counts.entry(name.clone()).or_default();
            applied.chains.entry(name).or_default();
        }
        if let Some(r) = item.get("rule") {
            let name = r["chain"].as_str().unwrap_or_default().to_string();
            *applied.rule_counts.entry(name.clone()).or_default() += 1;
            collect_references(&r["expr"], applied.chains.entry(name).or_default());
        }
        if let Some(m) = item.get("map")
            && let Some(name) = m["name"].as_str()
        {
            applied.sets.insert(name.to_string(), type_of(m));
            let mut elements = BTreeSet::new();
            for pair in m["elem"].as_array().into_iter().flatten() {
                if let [k, v] = pair.as_array().map(Vec::as_slice).unwrap_or_default()
                    && let (Some(key), Some(value)) = (key_parts(k), verdict_of(v))
                {
                    elements.insert(Element {
                        key,
                        value: Some(value),
                    });
                }
            }
            applied.map_elements.insert(name.to_string(), elements);
        }
    }
    Ok(Some(applied))
}

/// The chains a rule's expressions go to and the sets (`@name`) they use.
fn collect_references(v: &Value, into: &mut References) {
    match v {
        Value::String(s) => {
            if let Some(set) = s.strip_prefix('@') {
                into.sets.insert(set.to_string());
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_references(x, into)),
        Value::Object(o) => {
            for (k, x) in o {
                match (k.as_str(), x["target"].as_str()) {
                    ("goto" | "jump", Some(t)) => {
                        into.chains.insert(t.to_string());
                    }
                    _ => collect_references(x, into),
                }
            }
        }
        _ => {}
    }
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

/// A key as libnftables JSON shows it, in the compiler's terms; `None` for a
/// shape the compiler never writes.
fn key_parts(k: &Value) -> Option<Vec<Part>> {
    let addr = |s: &str| -> Option<(Family, u128)> {
        let ip: IpAddr = s.parse().ok()?;
        Some((Family::of(ip), ip_key(ip)))
    };
    match k {
        Value::String(s) => Some(vec![match addr(s) {
            Some((f, a)) => Part::Addrs(f, a, a),
            None => Part::Ifname(s.clone()),
        }]),
        Value::Number(n) => Some(vec![Part::Ports(
            u16::try_from(n.as_u64()?).ok()?,
            u16::try_from(n.as_u64()?).ok()?,
        )]),
        Value::Object(o) => {
            if let Some(parts) = o.get("concat").and_then(Value::as_array) {
                let mut out = Vec::new();
                for p in parts {
                    out.extend(key_parts(p)?);
                }
                Some(out)
            } else if let Some(p) = o.get("prefix") {
                let (f, lo) = addr(p["addr"].as_str()?)?;
                let bits: u32 = match f {
                    Family::V4 => 32,
                    Family::V6 => 128,
                };
                let host = bits.checked_sub(u32::try_from(p["len"].as_u64()?).ok()?)?;
                let span = if host >= 128 {
                    u128::MAX
                } else {
                    (1u128 << host) - 1
                };
                Some(vec![Part::Addrs(f, lo, lo | span)])
            } else if let Some([a, b]) = o.get("range").and_then(Value::as_array).map(Vec::as_slice)
            {
                let ((f, lo), (g, hi)) = (addr(a.as_str()?)?, addr(b.as_str()?)?);
                (f == g).then(|| vec![Part::Addrs(f, lo, hi)])
            } else {
                None
            }
        }
        _ => None,
    }
}

fn verdict_of(v: &Value) -> Option<Verdict> {
    if let Some(t) = v.get("goto").and_then(|g| g["target"].as_str()) {
        return Some(Verdict::Goto(t.to_string()));
    }
    match v
        .as_object()
        .and_then(|o| o.keys().next())
        .map(String::as_str)
    {
        Some("accept") => Some(Verdict::Accept),
        Some("drop") => Some(Verdict::Drop),
        _ => None,
    }
}

fn declared_type(set: &SetDef) -> Vec<String> {
    let mut out: Vec<String> = set.key.iter().map(|s| s.to_string()).collect();
    if let Some(d) = set.data {
        out.push(format!(": {d}"));
    }
    out
}

/// The transactions that turn `applied` into `desired`, and what they do.
#[derive(Debug, Default)]
pub struct Plan {
    /// New chains (without hooks), sets and maps that nothing live refers to
    /// yet: sent, and committed, before `transaction`.
    pub staging: Transaction,
    /// What makes the ruleset the new one: references to the staged objects,
    /// base chains, map entries, repairs, deletions and the generation mark.
    pub transaction: Transaction,
    pub sets_added: usize,
    pub sets_deleted: usize,
    pub chains_added: usize,
    pub chains_deleted: usize,
    pub elements_added: usize,
    pub elements_deleted: usize,
    /// Chains and sets that existed but differed from what was applied (changed
    /// by hand): refilled.
    pub repaired: Vec<String>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.staging.is_empty() && self.transaction.is_empty()
    }

    /// The transactions as nft reads them (what `--dry-run` prints); a comment
    /// line separates the two.
    pub fn text(&self) -> String {
        if self.staging.is_empty() {
            return self.transaction.to_nft();
        }
        format!(
            "# transaction 1 of 2: new objects, not referenced yet\n{}# transaction 2 of 2: the switch\n{}",
            self.staging.to_nft(),
            self.transaction.to_nft()
        )
    }

    pub fn summary(&self) -> String {
        let mut s = format!(
            "sets +{} -{}, chains +{} -{}, map elements +{} -{}",
            self.sets_added,
            self.sets_deleted,
            self.chains_added,
            self.chains_deleted,
            self.elements_added,
            self.elements_deleted
        );
        if !self.repaired.is_empty() {
            s.push_str(&format!(", repaired {}", self.repaired.join(" ")));
        }
        s
    }
}

/// An object of the table; chains sort first, so that when both a chain and a
/// set may go next the chain does (chains are what name sets).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Object {
    Chain(String),
    Set(String),
}

/// `doomed` in an order the kernel accepts: whatever refers to an object (a rule
/// going to a chain or using a set, a map element going to a chain) is deleted
/// before it, since nft refuses to delete what is still referenced, even within
/// one transaction. Derived from the references the kernel reported, never from
/// names.
fn deletion_order(applied: &Applied, doomed: &BTreeSet<Object>) -> Vec<Object> {
    let mut referees: BTreeMap<&Object, Vec<Object>> = BTreeMap::new();
    for obj in doomed {
        let mut targets = Vec::new();
        match obj {
            Object::Chain(name) => {
                if let Some(r) = applied.chains.get(name) {
                    targets.extend(r.chains.iter().cloned().map(Object::Chain));
                    targets.extend(r.sets.iter().cloned().map(Object::Set));
                }
            }
            Object::Set(name) => {
                for e in applied.map_elements.get(name).into_iter().flatten() {
                    if let Some(Verdict::Goto(c)) = &e.value {
                        targets.push(Object::Chain(c.clone()));
                    }
                }
            }
        }
        targets.retain(|t| doomed.contains(t) && t != obj);
        targets.sort();
        targets.dedup();
        referees.insert(obj, targets);
    }
    let mut referrers: BTreeMap<&Object, usize> = doomed.iter().map(|o| (o, 0)).collect();
    for t in referees.values().flatten() {
        if let Some(n) = referrers.get_mut(t) {
            *n += 1;
        }
    }
    let mut order = Vec::new();
    let mut left: BTreeSet<&Object> = doomed.iter().collect();
    while let Some(&next) = left
        .iter()
        .find(|o| referrers.get(*o) == Some(&0))
        .or_else(|| left.iter().next())
    {
        // The fallback (a reference cycle) cannot come from a table nft accepted.
        left.remove(next);
        for t in referees.get(next).into_iter().flatten() {
            if let Some(n) = referrers.get_mut(t) {
                *n = n.saturating_sub(1);
            }
        }
        referrers.remove(next);
        order.push(next.clone());
    }
    order
}

/// Deletes `doomed` in a valid order, counting what goes.
fn delete_objects(p: &mut Plan, ops: &mut Vec<Op>, applied: &Applied, doomed: &BTreeSet<Object>) {
    for obj in deletion_order(applied, doomed) {
        match obj {
            Object::Chain(name) => {
                p.chains_deleted += 1;
                ops.push(Op::DeleteChain { name });
            }
            Object::Set(name) => {
                p.sets_deleted += 1;
                let map = applied.is_map(&name);
                ops.push(Op::DeleteSet { name, map });
            }
        }
    }
}

pub fn plan(desired: &Ruleset, applied_in: Option<&Applied>) -> Plan {
    let empty = Applied::default();
    let mut applied = applied_in.unwrap_or(&empty);
    let mut p = Plan::default();
    let mut ops = Vec::new();

    // A fixed-name set whose type changed cannot be altered in place: everything
    // is rebuilt in this one transaction (rare: a change of dispatch mode).
    let retyped = desired.sets.iter().any(|(name, set)| {
        applied
            .sets
            .get(name)
            .is_some_and(|t| *t != declared_type(set))
    });
    if retyped {
        ops.push(Op::FlushTable);
        let everything: BTreeSet<Object> = applied
            .chains
            .keys()
            .cloned()
            .map(Object::Chain)
            .chain(applied.sets.keys().cloned().map(Object::Set))
            .collect();
        delete_objects(&mut p, &mut ops, applied, &everything);
        applied = &empty;
    }

    // New objects in dependency order: sets; chains (declared empty); maps, whose
    // entries jump to chains; then the rules, which use all of them. Into a
    // table that exists they are staged (see the module's comment); a base
    // chain is live as soon as it exists, so it goes with the switch. Without
    // a table nothing of ours filters yet: one transaction. A rebuild (a
    // fixed-name set changed type, above) cannot stage under names still in
    // use: one transaction too, straddling packets included.
    let staged = applied_in.is_some() && !retyped;
    // (live as soon as it exists, the operation), in dependency order.
    let mut created: Vec<(bool, Op)> = Vec::new();
    let is_new = |name: &String| !applied.sets.contains_key(name);
    for (name, set) in desired
        .sets
        .iter()
        .filter(|(n, s)| !s.is_map() && is_new(n))
    {
        p.sets_added += 1;
        created.push((
            false,
            Op::AddSet {
                name: name.clone(),
                set: set.clone(),
            },
        ));
    }
    let new_chains: Vec<(&String, &ChainDef)> = desired
        .chains
        .iter()
        .filter(|(name, _)| !applied.chains.contains_key(*name))
        .collect();
    for (name, chain) in &new_chains {
        p.chains_added += 1;
        created.push((
            chain.hook.is_some(),
            Op::AddChain {
                name: (*name).clone(),
                hook: chain.hook,
                comment: chain.comment.clone(),
            },
        ));
    }
    for (name, set) in desired.sets.iter().filter(|(n, s)| s.is_map() && is_new(n)) {
        p.sets_added += 1;
        created.push((
            false,
            Op::AddSet {
                name: name.clone(),
                set: set.clone(),
            },
        ));
    }
    for (name, chain) in &new_chains {
        for rule in &chain.rules {
            created.push((
                chain.hook.is_some(),
                Op::AddRule {
                    chain: (*name).clone(),
                    rule: rule.clone(),
                },
            ));
        }
    }
    for (live, op) in created {
        if staged && !live {
            if p.staging.is_empty() {
                p.staging.push(Op::AddTable);
            }
            p.staging.push(op);
        } else {
            ops.push(op);
        }
    }
    // Content-named objects that exist are right unless changed by hand: a chain
    // or set whose size differs from its content is refilled.
    for (name, chain) in &desired.chains {
        if applied
            .rule_counts
            .get(name)
            .is_some_and(|&n| n != chain.rules.len())
        {
            p.repaired.push(format!("chain {name}"));
            ops.push(Op::FlushChain { name: name.clone() });
            ops.extend(chain.rules.iter().map(|rule| Op::AddRule {
                chain: name.clone(),
                rule: rule.clone(),
            }));
        }
    }
    // Drop records change by themselves; the generation is rewritten below.
    for (name, set) in desired
        .sets
        .iter()
        .filter(|(n, s)| !s.is_map() && !s.dynamic && *n != GENERATION_SET)
    {
        if applied
            .element_counts
            .get(name)
            .is_some_and(|&n| n != set.elements.len())
        {
            p.repaired.push(format!("set {name}"));
            ops.push(Op::FlushSet { set: name.clone() });
            if !set.elements.is_empty() {
                ops.push(Op::AddElements {
                    set: name.clone(),
                    elements: set.elements.clone(),
                });
            }
        }
    }
    // Existing maps: only the entries that differ (a changed entry is deleted by
    // key and added again).
    for (name, set) in desired
        .sets
        .iter()
        .filter(|(n, s)| s.is_map() && applied.sets.contains_key(*n))
    {
        let have = applied.map_elements.get(name).cloned().unwrap_or_default();
        let want: BTreeSet<Element> = set.elements.iter().cloned().collect();
        let stale: Vec<Element> = have.difference(&want).cloned().collect();
        p.elements_deleted += stale.len();
        if !stale.is_empty() {
            ops.push(Op::DeleteElements {
                set: name.clone(),
                elements: stale,
            });
        }
        let fresh: Vec<Element> = set
            .elements
            .iter()
            .filter(|e| !have.contains(*e))
            .cloned()
            .collect();
        p.elements_added += fresh.len();
        if !fresh.is_empty() {
            ops.push(Op::AddElements {
                set: name.clone(),
                elements: fresh,
            });
        }
    }
    // Last, what nothing refers to any more.
    let doomed: BTreeSet<Object> = applied
        .chains
        .keys()
        .filter(|c| !desired.chains.contains_key(*c))
        .cloned()
        .map(Object::Chain)
        .chain(
            applied
                .sets
                .keys()
                .filter(|s| !desired.sets.contains_key(*s))
                .cloned()
                .map(Object::Set),
        )
        .collect();
    delete_objects(&mut p, &mut ops, applied, &doomed);
    if !ops.is_empty() {
        p.transaction.push(Op::AddTable);
        p.transaction.ops.extend(ops);
    }
    p
}

/// Applies `plan` as one transaction (see [`Nft::apply_text`]). Through the
/// binary, the whole transaction is written to a private file (unique name,
/// mode 0600) and synced before nft starts: nft applies whatever prefix of a
/// stream it reads, so a writer killed while streaming into `nft -f -` could
/// commit half a transaction. Through the library the text is complete in
/// memory before libnftables parses it and sends one netlink batch.
pub fn execute(target: &Target, plan: &Plan) -> Result<(), ApplyError> {
    execute_with(&mut Nft::open(target), plan)
}

pub fn execute_with(nft: &mut Nft, plan: &Plan) -> Result<(), ApplyError> {
    if !plan.staging.is_empty() {
        nft.apply_text(&plan.staging.to_nft())?;
    }
    if !plan.transaction.is_empty() {
        nft.apply_text(&plan.transaction.to_nft())?;
    }
    Ok(())
}

pub(crate) fn stage(text: &str) -> std::io::Result<tempfile::NamedTempFile> {
    let mut file = tempfile::Builder::new()
        .prefix("netfence-transaction-")
        .suffix(".nft")
        .tempfile()?;
    file.write_all(text.as_bytes())?;
    file.as_file().sync_all()?;
    Ok(file)
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
pub fn applied_of(desired: &Ruleset) -> Applied {
    Applied {
        sets: desired
            .sets
            .iter()
            .map(|(n, s)| (n.clone(), declared_type(s)))
            .collect(),
        chains: desired
            .chains
            .iter()
            .map(|(n, c)| (n.clone(), c.references()))
            .collect(),
        map_elements: desired
            .sets
            .iter()
            .filter(|(_, s)| s.is_map())
            .map(|(n, s)| (n.clone(), s.elements.iter().cloned().collect()))
            .collect(),
        rule_counts: desired
            .chains
            .iter()
            .map(|(n, c)| (n.clone(), c.rules.len()))
            .collect(),
        element_counts: desired
            .sets
            .iter()
            .filter(|(n, s)| !s.is_map() && !s.dynamic && *n != GENERATION_SET)
            .map(|(n, s)| (n.clone(), s.elements.len()))
            .collect(),
    }
}

/// How the kernel's table differs from `expected` (what was applied), one line
/// per object; empty when it holds exactly that.
pub fn drift(expected: &Applied, kernel: &Applied) -> Vec<String> {
    let mut out = Vec::new();
    let kind = |a: &Applied, n: &str| if a.is_map(n) { "map" } else { "set" };
    for name in expected.sets.keys() {
        if !kernel.sets.contains_key(name) {
            out.push(format!("{} {name} is missing", kind(expected, name)));
        }
    }
    for name in kernel.sets.keys() {
        if !expected.sets.contains_key(name) {
            out.push(format!("{} {name} was not applied", kind(kernel, name)));
        }
    }
    for (name, want) in &expected.element_counts {
        if let Some(have) = kernel.element_counts.get(name)
            && have != want
        {
            out.push(format!("set {name} has {have} element(s), {want} applied"));
        }
    }
    for (name, want) in &expected.map_elements {
        if let Some(have) = kernel.map_elements.get(name)
            && have != want
        {
            let differ = have.symmetric_difference(want).count();
            out.push(format!("map {name}: {differ} entry(ies) differ"));
        }
    }
    for name in expected.chains.keys() {
        if !kernel.chains.contains_key(name) {
            out.push(format!("chain {name} is missing"));
        }
    }
    for name in kernel.chains.keys() {
        if !expected.chains.contains_key(name) {
            out.push(format!("chain {name} was not applied"));
        }
    }
    for (name, want) in &expected.rule_counts {
        if let Some(have) = kernel.rule_counts.get(name)
            && have != want
        {
            out.push(format!("chain {name} has {have} rule(s), {want} applied"));
        }
    }
    out
}

/// The generation the kernel's table says it holds.
fn generation_of(nft: &mut Nft) -> Result<Option<u32>, ApplyError> {
    let items = nft.list_json(&format!("set {FAMILY} {TABLE} {GENERATION_SET}"))?;
    Ok(items.into_iter().flatten().find_map(|item| {
        item["set"]["elem"]
            .as_array()
            .and_then(|e| e.first())
            .and_then(Value::as_u64)
            .and_then(|g| u32::try_from(g).ok())
    }))
}

/// What the last successful apply put in the kernel, kept beside the table so
/// that `status` can tell when the kernel differs from it.
#[derive(Debug, Serialize, Deserialize)]
pub struct Record {
    pub generation: u32,
    pub applied: Applied,
}

pub fn read_record(path: &std::path::Path) -> Option<Record> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

/// Reads, plans and applies: what `enforce` does. The kernel's table is always
/// read whole and compared object by object with `desired`, so a table changed
/// by hand is repaired, not trusted because its generation matches. With
/// `record`, what was applied is written there (for `status`). Callers that
/// also write state of their own hold [`crate::status::lock`] around this.
pub fn enforce(
    target: &Target,
    desired: &Ruleset,
    dry_run: bool,
    record: Option<&std::path::Path>,
) -> Result<Plan, ApplyError> {
    enforce_with(&mut Nft::open(target), desired, dry_run, record)
}

/// [`enforce`] through an open [`Nft`]: reads the kernel's table, plans the
/// difference (repairing drift), sends it, writes the record.
pub fn enforce_with(
    nft: &mut Nft,
    desired: &Ruleset,
    dry_run: bool,
    record: Option<&std::path::Path>,
) -> Result<Plan, ApplyError> {
    let (applied, have) = read_state_with(nft)?;
    apply_planned(nft, desired, applied.as_ref(), have, dry_run, record)
}

/// What the kernel holds: the table (`None` when there is none) and the
/// generation it was last marked with.
pub fn read_state_with(nft: &mut Nft) -> Result<(Option<Applied>, Option<u32>), ApplyError> {
    let applied = read_applied_with(nft)?;
    let have = match &applied {
        Some(_) => generation_of(nft)?,
        None => None,
    };
    Ok((applied, have))
}

/// Plans from `applied` (what the kernel holds, as read or as last applied)
/// and sends the difference; `have` is the generation the kernel holds.
pub fn apply_planned(
    nft: &mut Nft,
    desired: &Ruleset,
    applied: Option<&Applied>,
    have: Option<u32>,
    dry_run: bool,
    record: Option<&std::path::Path>,
) -> Result<Plan, ApplyError> {
    let want = generation(desired);
    let mut p = plan(desired, applied);
    if p.is_empty() && have == Some(want) {
        return Ok(p);
    }
    mark_generation(&mut p, applied, want);
    if dry_run {
        return Ok(p);
    }
    execute_with(nft, &p)?;
    if let Some(path) = record {
        let text = serde_json::to_string(&Record {
            generation: want,
            applied: applied_of(desired),
        })
        .map_err(|e| ApplyError::Output {
            command: "recording the applied table".into(),
            detail: e.to_string(),
        })?;
        crate::status::write_private(path, &text).map_err(|source| ApplyError::Spawn {
            command: format!("writing {}", path.display()),
            source,
        })?;
    }
    Ok(p)
}

/// The transaction also records the new generation (replacing the old one).
fn mark_generation(p: &mut Plan, applied: Option<&Applied>, generation: u32) {
    let exists = applied.is_some_and(|a| a.sets.contains_key(GENERATION_SET));
    if p.transaction.is_empty() {
        p.transaction.push(Op::AddTable);
    }
    if exists {
        p.transaction.push(Op::FlushSet {
            set: GENERATION_SET.into(),
        });
    }
    p.transaction.push(Op::AddElements {
        set: GENERATION_SET.into(),
        elements: vec![Element {
            key: vec![Part::Mark(generation)],
            value: None,
        }],
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ruleset::{Hook, Key, Rule, Stmt};

    fn refs(chains: &[&str], sets: &[&str]) -> References {
        References {
            chains: chains.iter().map(|s| s.to_string()).collect(),
            sets: sets.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn deletions(p: &Plan) -> Vec<String> {
        p.transaction
            .ops
            .iter()
            .filter_map(|op| match op {
                Op::DeleteChain { name } => Some(format!("chain {name}")),
                Op::DeleteSet { name, map } => {
                    Some(format!("{} {name}", if *map { "map" } else { "set" }))
                }
                _ => None,
            })
            .collect()
    }

    /// Names chosen so that the old name-prefix ranking (base chains first,
    /// `ingress_stage` last) would get it wrong: only the references decide.
    #[test]
    fn deletion_order_follows_references_not_names() {
        let mut applied = Applied::default();
        applied
            .chains
            .insert("ingress_stage_1".into(), refs(&["forward_9"], &[]));
        applied.chains.insert("forward_9".into(), refs(&[], &[]));
        applied.chains.insert("zz_3".into(), refs(&["deny_2"], &[]));
        applied
            .chains
            .insert("deny_2".into(), refs(&[], &["drops"]));
        applied.chains.insert("a_1".into(), refs(&[], &[]));
        applied
            .sets
            .insert("drops".into(), vec!["ipv4_addr".into()]);
        applied.sets.insert(
            "dispatch".into(),
            vec!["ipv4_addr".into(), ": verdict".into()],
        );
        applied.map_elements.insert(
            "dispatch".into(),
            [Element {
                key: vec![Part::Addrs(Family::V4, 1, 1)],
                value: Some(Verdict::Goto("a_1".into())),
            }]
            .into(),
        );
        let p = plan(&Ruleset::default(), Some(&applied));
        assert_eq!(
            deletions(&p),
            [
                "chain ingress_stage_1",
                "chain forward_9",
                "chain zz_3",
                "chain deny_2",
                "map dispatch",
                "chain a_1",
                "set drops",
            ]
        );
        assert_eq!((p.chains_deleted, p.sets_deleted), (5, 2));
    }

    /// The references of a ruleset we applied come from its chains' rules.
    #[test]
    fn references_of_an_applied_ruleset_order_its_removal() {
        let mut old = Ruleset::default();
        let lookup = |set: &str| Stmt::Lookup {
            keys: vec![Key::Saddr(Family::V4)],
            set: set.into(),
        };
        old.chains.insert(
            "a_last".into(),
            ChainDef::regular(vec![Rule::new(vec![
                lookup("s"),
                Stmt::Verdict(Verdict::Accept),
            ])]),
        );
        old.chains.insert(
            "b_middle".into(),
            ChainDef::regular(vec![Rule::new(vec![Stmt::Verdict(Verdict::Goto(
                "a_last".into(),
            ))])]),
        );
        old.chains.insert(
            "c_first".into(),
            ChainDef {
                hook: Some(Hook::Forward),
                rules: vec![Rule::new(vec![Stmt::Verdict(Verdict::Goto(
                    "b_middle".into(),
                ))])],
                comment: None,
            },
        );
        old.sets.insert(
            "s".into(),
            SetDef {
                key: vec!["ipv4_addr"],
                data: None,
                interval: false,
                counter: false,
                dynamic: false,
                elements: Vec::new(),
            },
        );
        let p = plan(&Ruleset::default(), Some(&applied_of(&old)));
        assert_eq!(
            deletions(&p),
            ["chain c_first", "chain b_middle", "chain a_last", "set s"]
        );
    }

    #[test]
    fn kernel_rules_report_their_references() {
        let expr: Value = serde_json::from_str(
            r#"[{"vmap": {"key": {"payload": {"protocol": "ip", "field": "saddr"}},
                           "data": "@egress_pods4"}},
                {"match": {"op": "==", "left": {"concat": []}, "right": "@ep4_1"}},
                {"set": {"op": "add", "elem": {"concat": []}, "set": "@egress_drops4"}},
                {"goto": {"target": "deny_egress_1"}},
                {"jump": {"target": "other"}}]"#,
        )
        .unwrap(); // ok: test
        let mut r = References::default();
        collect_references(&expr, &mut r);
        assert_eq!(
            r,
            refs(
                &["deny_egress_1", "other"],
                &["egress_drops4", "egress_pods4", "ep4_1"]
            )
        );
    }

    #[test]
    fn kernel_map_elements_read_back_as_written() {
        let written = Element {
            key: vec![
                Part::Ifname("nfp3".into()),
                Part::Addrs(Family::V4, 0x0afa_0003, 0x0afa_0003),
            ],
            value: Some(Verdict::Goto("e_1".into())),
        };
        let pair: Value = serde_json::from_str(
            r#"[{"concat": ["nfp3", "10.250.0.3"]}, {"goto": {"target": "e_1"}}]"#,
        )
        .unwrap(); // ok: test
        let items = pair.as_array().unwrap(); // ok: test
        let [k, v] = items.as_slice() else {
            panic!("a pair")
        };
        assert_eq!(key_parts(k), Some(written.key.clone()));
        assert_eq!(verdict_of(v), written.value);
        let prefix: Value =
            serde_json::from_str(r#"{"prefix": {"addr": "10.0.0.0", "len": 8}}"#).unwrap(); // ok: test
        assert_eq!(
            key_parts(&prefix),
            Some(vec![Part::Addrs(Family::V4, 0x0a00_0000, 0x0aff_ffff)])
        );
        // A record round-trips through JSON with its typed elements.
        let cache = serde_json::to_string(&Record {
            generation: 7,
            applied: Applied {
                map_elements: [("m".to_string(), [written].into())].into(),
                ..Applied::default()
            },
        })
        .unwrap(); // ok: test
        let back: Record = serde_json::from_str(&cache).unwrap(); // ok: test
        assert_eq!(back.applied.map_elements["m"].len(), 1);
    }

    #[test]
    fn a_changed_map_entry_is_deleted_by_key_and_added_again() {
        let map = |target: &str| SetDef {
            key: vec!["ipv4_addr"],
            data: Some("verdict"),
            interval: false,
            counter: false,
            dynamic: false,
            elements: vec![Element {
                key: vec![Part::Addrs(Family::V4, 1, 1)],
                value: Some(Verdict::Goto(target.into())),
            }],
        };
        let mut old = Ruleset::default();
        old.sets.insert("m".into(), map("e_old"));
        let mut new = Ruleset::default();
        new.sets.insert("m".into(), map("e_new"));
        let p = plan(&new, Some(&applied_of(&old)));
        assert_eq!(
            p.text(),
            "add table inet netfence\n\
             delete element inet netfence m { 0.0.0.1 }\n\
             add element inet netfence m { 0.0.0.1 : goto e_new }\n"
        );
        assert_eq!((p.elements_deleted, p.elements_added), (1, 1));
        assert!(plan(&new, Some(&applied_of(&new))).is_empty());
    }

    /// A pod's class chain replaced (with its allow set), and the base chain
    /// too: the new chain and set are committed before the transaction that
    /// points the dispatch map at them, so a packet straddling that commit
    /// never meets a chain without rules in its generation.
    #[test]
    fn new_objects_are_staged_before_the_switch() {
        let version = |n: &str| {
            let mut r = Ruleset::default();
            r.sets.insert(
                format!("ep4_{n}"),
                SetDef {
                    key: vec!["inet_service"],
                    data: None,
                    interval: true,
                    counter: false,
                    dynamic: false,
                    elements: vec![Element {
                        key: vec![Part::Ports(80, 80)],
                        value: None,
                    }],
                },
            );
            r.chains.insert(
                format!("e_{n}"),
                ChainDef::regular(vec![Rule::new(vec![
                    Stmt::Lookup {
                        keys: vec![Key::Dport],
                        set: format!("ep4_{n}"),
                    },
                    Stmt::Verdict(Verdict::Accept),
                ])]),
            );
            r.sets.insert(
                "m".into(),
                SetDef {
                    key: vec!["ipv4_addr"],
                    data: Some("verdict"),
                    interval: false,
                    counter: false,
                    dynamic: false,
                    elements: vec![Element {
                        key: vec![Part::Addrs(Family::V4, 1, 1)],
                        value: Some(Verdict::Goto(format!("e_{n}"))),
                    }],
                },
            );
            r.chains.insert(
                format!("forward_{n}"),
                ChainDef {
                    hook: Some(Hook::Forward),
                    rules: vec![Rule::new(vec![Stmt::Vmap {
                        keys: vec![Key::Saddr(Family::V4)],
                        map: "m".into(),
                    }])],
                    comment: None,
                },
            );
            r
        };
        let (old, new) = (version("old"), version("new"));
        let p = plan(&new, Some(&applied_of(&old)));
        let creates = |t: &Transaction| -> Vec<String> {
            t.ops
                .iter()
                .filter_map(|op| match op {
                    Op::AddSet { name, .. } => Some(name.clone()),
                    Op::AddChain { name, .. } => Some(name.clone()),
                    _ => None,
                })
                .collect()
        };
        assert_eq!(creates(&p.staging), ["ep4_new", "e_new"]);
        // The base chain is live once it exists: it comes with the switch,
        // which creates nothing else.
        assert_eq!(creates(&p.transaction), ["forward_new"]);
        assert!(p.transaction.ops.iter().any(|op| matches!(
            op,
            Op::AddElements { set, .. } if set == "m"
        )));
        assert_eq!(
            deletions(&p),
            ["chain e_old", "chain forward_old", "set ep4_old"]
        );
        let text = p.text();
        let (staging, switch) = text.split_once("# transaction 2 of 2").unwrap(); // ok: test
        assert!(staging.contains("add chain inet netfence e_new"));
        assert!(switch.contains("goto e_new") && !switch.contains("add chain inet netfence e_new"));
        // Into no table, nothing of ours filters yet: one transaction.
        let first = plan(&new, None);
        assert!(first.staging.is_empty());
        assert_eq!(creates(&first.transaction).len(), 4);
    }
}

#[cfg(test)]
mod repair_tests {
    use super::*;
    use crate::ruleset::{Rule, Stmt};

    /// A kernel whose objects carry the right names but not the right content
    /// (a chain flushed, an element deleted by hand) is refilled, object by
    /// object, in the same transaction.
    #[test]
    fn objects_changed_by_hand_are_refilled() {
        let mut want = Ruleset::default();
        want.chains.insert(
            "deny_1".into(),
            ChainDef::regular(vec![
                Rule::new(vec![Stmt::Counter]),
                Rule::new(vec![Stmt::Verdict(Verdict::Drop)]),
            ]),
        );
        let elements: Vec<Element> = (1..=3)
            .map(|p| Element {
                key: vec![Part::Ports(p, p)],
                value: None,
            })
            .collect();
        want.sets.insert(
            "ep4_1".into(),
            SetDef {
                key: vec!["inet_service"],
                data: None,
                interval: true,
                counter: true,
                dynamic: false,
                elements,
            },
        );
        let intact = applied_of(&want);
        assert!(plan(&want, Some(&intact)).is_empty());
        assert!(drift(&intact, &intact).is_empty());

        let mut kernel = intact.clone();
        kernel.rule_counts.insert("deny_1".into(), 0);
        kernel.element_counts.insert("ep4_1".into(), 2);
        let p = plan(&want, Some(&kernel));
        assert_eq!(p.repaired, ["chain deny_1", "set ep4_1"]);
        assert_eq!(
            p.text(),
            "add table inet netfence\n\
             flush chain inet netfence deny_1\n\
             add rule inet netfence deny_1 counter\n\
             add rule inet netfence deny_1 drop\n\
             flush set inet netfence ep4_1\n\
             add element inet netfence ep4_1 { 1, 2, 3 }\n"
        );
        assert_eq!(
            drift(&intact, &kernel),
            [
                "set ep4_1 has 2 element(s), 3 applied",
                "chain deny_1 has 0 rule(s), 2 applied"
            ]
        );
    }
}
