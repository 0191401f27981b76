//! Attribution: which policy let traffic through and which pod and direction
//! dropped it. `enforce` keeps the engine's provenance beside the ruleset (a
//! sidecar file per target); the kernel keeps a packet counter per allow-set
//! element and a record of every dropped flow. This module joins the two.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::PathBuf;

use netfence_model::{Direction, Protocol};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::apply::{ApplyError, Target, run};
use crate::compile::{Compiled, ElementOrigin, LocalPod};
use crate::ruleset::{FAMILY, TABLE};

pub const STATE_DIR: &str = "/run/netfence/enforce";

/// What `enforce` applied, in the engine's terms.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Sidecar {
    pub pods: Vec<LocalPod>,
    pub provenance: Vec<ElementOrigin>,
    pub addresses: Vec<(IpAddr, String)>,
    pub audit: bool,
}

pub fn sidecar_path(target: &Target) -> PathBuf {
    let name = match target {
        Target::Current => "current".to_string(),
        Target::Netns(ns) => format!("netns-{ns}"),
    };
    PathBuf::from(STATE_DIR).join(format!("{name}.json"))
}

/// Where `enforce` keeps what it applied last (see `apply::enforce`).
pub fn record_path(target: &Target) -> PathBuf {
    sidecar_path(target).with_extension("applied.json")
}

fn lock_path(target: &Target) -> PathBuf {
    sidecar_path(target).with_extension("lock")
}

/// A state directory, for root only (state maps pods to addresses and
/// policies).
fn private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}

/// Writes `path` atomically and privately: a uniquely named temporary file
/// (mode 0600) in its directory (mode 0700), renamed over it.
pub fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(std::path::Path::new("."));
    private_dir(dir)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".netfence-")
        .tempfile_in(dir)?;
    tmp.write_all(text.as_bytes())?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Exclusive use of one target's table and state files, held from reading the
/// kernel to writing the records: two `enforce` runs on one table take turns,
/// so the records always describe what the kernel holds. Released on drop.
pub struct TableLock(#[allow(dead_code)] std::fs::File);

pub fn lock(target: &Target) -> std::io::Result<TableLock> {
    use std::os::unix::fs::OpenOptionsExt;
    private_dir(std::path::Path::new(STATE_DIR))?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(lock_path(target))?;
    file.lock()?;
    Ok(TableLock(file))
}

/// Removes a target's state files (the lab, when its namespaces go).
pub fn remove_state(target: &Target) {
    for path in [sidecar_path(target), record_path(target), lock_path(target)] {
        let _ = std::fs::remove_file(path);
    }
}

pub fn write_sidecar(target: &Target, compiled: &Compiled, audit: bool) -> std::io::Result<()> {
    let sidecar = Sidecar {
        pods: compiled.pods.clone(),
        provenance: compiled.provenance.clone(),
        addresses: compiled.addresses.clone(),
        audit,
    };
    let text = serde_json::to_string(&sidecar).map_err(std::io::Error::other)?;
    write_private(&sidecar_path(target), &text)
}

pub fn read_sidecar(target: &Target) -> std::io::Result<Sidecar> {
    let text = std::fs::read_to_string(sidecar_path(target))?;
    serde_json::from_str(&text).map_err(std::io::Error::other)
}

/// A flow as the drop records key it: source, destination, protocol, port.
pub type FlowKey = (IpAddr, IpAddr, Protocol, u16);

fn protocol_of(v: &Value) -> Option<Protocol> {
    match v.as_str()? {
        "tcp" => Some(Protocol::Tcp),
        "udp" => Some(Protocol::Udp),
        "sctp" => Some(Protocol::Sctp),
        _ => None,
    }
}

/// The value of a set element, unwrapped from `{"elem": {"val": ...}}` (elements
/// with counters or timeouts come wrapped).
fn element_value(e: &Value) -> (&Value, Option<u64>) {
    match e.get("elem") {
        Some(inner) => (&inner["val"], inner["counter"]["packets"].as_u64()),
        None => (e, None),
    }
}

/// Flows recorded in a drop-record set (TCP, UDP and SCTP only).
pub fn read_drop_set(target: &Target, set: &str) -> Result<BTreeSet<FlowKey>, ApplyError> {
    Ok(read_records(target, set)?
        .into_iter()
        .filter_map(|r| Some((r.src, r.dst, r.protocol?, r.port)))
        .collect())
}

/// A drop record of any protocol.
struct Record {
    src: IpAddr,
    dst: IpAddr,
    /// `None`: not a port protocol (ICMP, ...), named by `protocol_name`.
    protocol: Option<Protocol>,
    protocol_name: String,
    port: u16,
}

fn read_records(target: &Target, set: &str) -> Result<Vec<Record>, ApplyError> {
    let mut out = Vec::new();
    for item in list(target, &["list", "set", FAMILY, TABLE, set])? {
        for e in item["set"]["elem"].as_array().into_iter().flatten() {
            let (val, _) = element_value(e);
            let Some([s, d, p, port]) = val["concat"].as_array().map(Vec::as_slice) else {
                continue;
            };
            let (Some(src), Some(dst), Some(port)) = (
                s.as_str().and_then(|x| x.parse().ok()),
                d.as_str().and_then(|x| x.parse().ok()),
                port.as_u64().and_then(|x| u16::try_from(x).ok()),
            ) else {
                continue;
            };
            let protocol = protocol_of(p);
            let (protocol_name, port) = match protocol {
                Some(proto) => (proto.as_str().to_string(), port),
                // `th dport` of ICMP is its checksum, not a port.
                None => (
                    p.as_str()
                        .map_or_else(|| p.to_string(), str::to_ascii_uppercase),
                    0,
                ),
            };
            out.push(Record {
                src,
                dst,
                protocol,
                protocol_name,
                port,
            });
        }
    }
    Ok(out)
}

fn list(target: &Target, args: &[&str]) -> Result<Vec<Value>, ApplyError> {
    let mut cmd = target.command("nft");
    cmd.arg("-j").args(args);
    let text = run(cmd, None)?;
    let v: Value = serde_json::from_str(&text).map_err(|e| ApplyError::Output {
        command: format!("nft -j {}", args.join(" ")),
        detail: e.to_string(),
    })?;
    Ok(v["nftables"].as_array().cloned().unwrap_or_default())
}

/// An element's key in the text form the compiler wrote.
fn element_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Object(o) => {
            if let Some(parts) = o.get("concat").and_then(Value::as_array) {
                parts
                    .iter()
                    .map(element_text)
                    .collect::<Vec<_>>()
                    .join(" . ")
            } else if let Some(p) = o.get("prefix") {
                format!("{}/{}", element_text(&p["addr"]), element_text(&p["len"]))
            } else if let Some([a, b]) = o.get("range").and_then(Value::as_array).map(Vec::as_slice)
            {
                format!("{}-{}", element_text(a), element_text(b))
            } else {
                v.to_string()
            }
        }
        other => other.to_string(),
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct PolicyCount {
    /// `namespace/policy direction[rule]`.
    pub rule: String,
    /// New connections (first packets) the rule's elements let through.
    pub connections: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Drop {
    /// `policy` (the policies deny the flow), `spoofed source` (its interface
    /// may not send that address, or the node does not route it back there),
    /// `invalid` (conntrack found the packet invalid), `revoked connection`
    /// (`--revoke-established` cut the flow) or `unbound interface` (a pod
    /// interface the ruleset does not bind sent or was to receive it).
    pub kind: &'static str,
    pub src: String,
    pub dst: String,
    /// `TCP`, `UDP`, `SCTP`, or another protocol (`ICMP`, ...) without a port.
    pub protocol: String,
    /// 0 for protocols without ports.
    pub port: u16,
    /// Where a policy dropped it: `egress` of the source or `ingress` of the
    /// destination; empty for the other kinds.
    pub direction: &'static str,
    pub pod: String,
    /// The policies isolating that pod in that direction; none of their rules allows the flow.
    pub isolated_by: Vec<String>,
}

impl Drop {
    fn protocol_has_ports(&self) -> bool {
        Protocol::ALL.iter().any(|p| p.as_str() == self.protocol)
    }
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct LostRecords {
    pub rate_limited: u64,
    pub records_full: u64,
}

/// The packets counted by the rules whose comment is `comment`.
fn rule_packets(items: &[Value], comment: &str) -> u64 {
    items
        .iter()
        .filter_map(|i| i.get("rule"))
        .filter(|r| r["comment"].as_str() == Some(comment))
        .flat_map(|r| r["expr"].as_array().cloned().unwrap_or_default())
        .filter_map(|e| e["counter"]["packets"].as_u64())
        .sum()
}

#[derive(Clone, Debug, Serialize)]
pub struct Status {
    pub audit: bool,
    /// How the kernel's table differs from what `enforce` applied last (changed
    /// by hand or by another tool); empty when it is intact.
    pub drift: Vec<String>,
    /// Drops (packets) that left no record: their source was over the record
    /// rate, or the records were full.
    pub lost_records: LostRecords,
    pub allowed: Vec<PolicyCount>,
    pub dropped: Vec<Drop>,
}

pub fn status(target: &Target) -> Result<Status, String> {
    let sidecar = read_sidecar(target).map_err(|e| {
        format!(
            "no enforce record for {} ({e}); run `netfence enforce` first",
            target.describe()
        )
    })?;
    let origins: BTreeMap<(&str, String), &ElementOrigin> = sidecar
        .provenance
        .iter()
        .map(|o| ((o.set.as_str(), o.element.clone()), o))
        .collect();
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    let items = list(target, &["list", "table", FAMILY, TABLE]).map_err(|e| e.to_string())?;
    for item in &items {
        let Some(set) = item.get("set") else { continue };
        let name = set["name"].as_str().unwrap_or_default();
        for e in set["elem"].as_array().into_iter().flatten() {
            let (val, packets) = element_value(e);
            let Some(origin) = origins.get(&(name, element_text(val))) else {
                continue;
            };
            for rule in &origin.allowed_by {
                *counts.entry(rule.clone()).or_default() += packets.unwrap_or(0);
            }
        }
    }
    let mut allowed: Vec<PolicyCount> = counts
        .into_iter()
        .map(|(rule, connections)| PolicyCount { rule, connections })
        .collect();
    allowed.sort_by(|a, b| b.connections.cmp(&a.connections).then(a.rule.cmp(&b.rule)));
    let pod_of = |ip: IpAddr| sidecar.pods.iter().find(|p| p.ips.contains(&ip));
    let names: BTreeMap<IpAddr, &str> = sidecar
        .addresses
        .iter()
        .map(|(ip, id)| (*ip, id.as_str()))
        .collect();
    let name_of = |ip: IpAddr| {
        names
            .get(&ip)
            .map_or_else(|| ip.to_string(), |n| n.to_string())
    };
    let mut dropped = Vec::new();
    let present: BTreeSet<&str> = items
        .iter()
        .filter_map(|i| i["set"]["name"].as_str())
        .collect();
    let mut sets = Vec::new();
    for family in crate::ruleset::Family::BOTH {
        for dir in [Direction::Egress, Direction::Ingress] {
            sets.push((
                crate::compile::drop_set_name(dir, family),
                "policy",
                dir.as_str(),
            ));
        }
        sets.push((
            crate::compile::spoofed_set_name(family),
            "spoofed source",
            "",
        ));
        sets.push((crate::compile::invalid_set_name(family), "invalid", ""));
        sets.push((
            crate::compile::revoked_set_name(family),
            "revoked connection",
            "",
        ));
        sets.push((
            crate::compile::unbound_set_name(family),
            "unbound interface",
            "",
        ));
    }
    for (set, kind, direction) in sets {
        // Tables applied before a kind of record existed have no set for it.
        if !present.contains(set.as_str()) {
            continue;
        }
        for r in read_records(target, &set).map_err(|e| e.to_string())? {
            let (s, d) = (r.src, r.dst);
            // Policy drops name the pod whose policies denied and what isolates
            // it; spoofed and invalid packets belong to no policy decision.
            let (pod, isolated_by) = if kind == "policy" {
                let subject = if direction == "egress" { s } else { d };
                let isolated_by = pod_of(subject)
                    .map(|p| {
                        if direction == "egress" {
                            p.egress_isolated_by.clone()
                        } else {
                            p.ingress_isolated_by.clone()
                        }
                    })
                    .unwrap_or_default();
                (name_of(subject), isolated_by)
            } else {
                (String::new(), Vec::new())
            };
            dropped.push(Drop {
                kind,
                src: name_of(s),
                dst: name_of(d),
                protocol: r.protocol_name,
                port: r.port,
                direction,
                pod,
                isolated_by,
            });
        }
    }
    let drift = match crate::apply::read_record(&record_path(target)) {
        Some(record) => match crate::apply::read_applied(target).map_err(|e| e.to_string())? {
            Some(kernel) => crate::apply::drift(&record.applied, &kernel),
            None => vec!["the table is missing".to_string()],
        },
        None => Vec::new(),
    };
    let lost_records = LostRecords {
        rate_limited: rule_packets(&items, crate::compile::LOST_RATE),
        records_full: rule_packets(&items, crate::compile::LOST_FULL),
    };
    Ok(Status {
        audit: sidecar.audit,
        drift,
        lost_records,
        allowed,
        dropped,
    })
}

/// Names in the records come from the input: never let one carry a control
/// character (a terminal escape) to the screen.
fn printable(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

pub fn render_text(s: &Status) -> String {
    let mut out = String::new();
    if !s.drift.is_empty() {
        out.push_str(
            "warning: the kernel's table differs from what netfence applied (run `netfence enforce` to repair it):\n",
        );
        for d in &s.drift {
            out.push_str(&format!("  {}\n", printable(d)));
        }
    }
    out.push_str("allowed new connections, by rule:\n");
    if s.allowed.iter().all(|c| c.connections == 0) {
        out.push_str("  (none counted yet)\n");
    }
    for c in s.allowed.iter().filter(|c| c.connections > 0) {
        out.push_str(&format!("  {:>8}  {}\n", c.connections, printable(&c.rule)));
    }
    let verb = if s.audit {
        "would have dropped (audit mode)"
    } else {
        "dropped"
    };
    out.push_str(&format!("{verb}:\n"));
    if s.dropped.is_empty() {
        out.push_str("  (nothing)\n");
    }
    // A flood must not bury the rest: the sources with the most dropped flows
    // first, then at most `SHOWN` flows; `-o json` has them all.
    let mut per_source: BTreeMap<&str, usize> = BTreeMap::new();
    for d in &s.dropped {
        *per_source.entry(d.src.as_str()).or_default() += 1;
    }
    if s.dropped.len() > SHOWN {
        let mut top: Vec<(&str, usize)> = per_source.into_iter().collect();
        top.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        out.push_str(&format!(
            "  {} dropped flows; most from: {}\n",
            s.dropped.len(),
            top.iter()
                .take(5)
                .map(|(src, n)| format!("{} ({n})", printable(src)))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    for d in s.dropped.iter().take(SHOWN) {
        let flow = if d.protocol_has_ports() {
            format!(
                "{} -> {} {} {}",
                printable(&d.src),
                printable(&d.dst),
                printable(&d.protocol),
                d.port
            )
        } else {
            format!(
                "{} -> {} {}",
                printable(&d.src),
                printable(&d.dst),
                printable(&d.protocol)
            )
        };
        match d.kind {
            "spoofed source" => {
                out.push_str(&format!(
                    "  {flow}: spoofed source (its interface may not send this address)\n"
                ));
                continue;
            }
            "invalid" => {
                out.push_str(&format!("  {flow}: invalid (conntrack: no valid state)\n"));
                continue;
            }
            _ => {}
        }
        out.push_str(&format!(
            "  {flow}: {} of {}, isolated by {} and no rule allows it\n",
            d.direction,
            printable(&d.pod),
            if d.isolated_by.is_empty() {
                "?".to_string()
            } else {
                printable(&d.isolated_by.join(", "))
            }
        ));
    }
    if s.dropped.len() > SHOWN {
        out.push_str(&format!(
            "  ... and {} more (netfence status -o json lists every one)\n",
            s.dropped.len() - SHOWN
        ));
    }
    let lost = s.lost_records.rate_limited + s.lost_records.records_full;
    if lost > 0 {
        out.push_str(&format!(
            "warning: {lost} dropped packet(s) left no record ({} from sources over {} records/s, {} with the records full)\n",
            s.lost_records.rate_limited,
            crate::compile::RECORD_RATE,
            s.lost_records.records_full
        ));
    }
    out
}

/// Dropped flows listed one by one in the text output.
const SHOWN: usize = 50;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_text_never_carries_control_characters() {
        let evil = "x/pod\u{1b}]0;owned\u{7}\u{1b}[2J\r\n";
        let s = Status {
            audit: false,
            drift: vec![format!("chain {evil}")],
            lost_records: LostRecords::default(),
            allowed: vec![PolicyCount {
                rule: evil.into(),
                connections: 1,
            }],
            dropped: vec![Drop {
                kind: "policy",
                src: evil.into(),
                dst: evil.into(),
                protocol: "TCP".into(),
                port: 80,
                direction: "egress",
                pod: evil.into(),
                isolated_by: vec![evil.into()],
            }],
        };
        let text = render_text(&s);
        assert!(
            !text.chars().any(|c| c.is_control() && c != '\n'),
            "{text:?}"
        );
        assert!(text.contains("x/pod\\u{1b}]0;owned"), "{text}");
    }
}
