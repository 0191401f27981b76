//! A structured nftables ruleset: what the compiler produces, what `enforce`
//! compares, and what is rendered as nft syntax or libnftables JSON.
//!
//! Only this module writes nft syntax. Nothing from the input reaches it except
//! through [`sanitize_comment`]: object names are generated, interface names come
//! from the lab, addresses and ports are numbers.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Value, json};

pub const TABLE: &str = "netfence";
pub const FAMILY: &str = "inet";

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    pub const BOTH: [Family; 2] = [Family::V4, Family::V6];

    pub fn addr_type(self) -> &'static str {
        match self {
            Family::V4 => "ipv4_addr",
            Family::V6 => "ipv6_addr",
        }
    }

    fn payload(self) -> &'static str {
        match self {
            Family::V4 => "ip",
            Family::V6 => "ip6",
        }
    }

    pub fn suffix(self) -> &'static str {
        match self {
            Family::V4 => "4",
            Family::V6 => "6",
        }
    }

    pub fn of(ip: IpAddr) -> Family {
        match ip {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }

    pub fn addr(self, k: u128) -> IpAddr {
        match self {
            Family::V4 => IpAddr::V4(Ipv4Addr::from(k as u32)),
            Family::V6 => IpAddr::V6(Ipv6Addr::from(k)),
        }
    }
}

/// What a rule matches a set or map against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Key {
    Saddr(Family),
    Daddr(Family),
    L4proto,
    Dport,
    Iifname,
    Oifname,
}

impl Key {
    fn text(self) -> String {
        match self {
            Key::Saddr(f) => format!("{} saddr", f.payload()),
            Key::Daddr(f) => format!("{} daddr", f.payload()),
            Key::L4proto => "meta l4proto".into(),
            Key::Dport => "th dport".into(),
            Key::Iifname => "iifname".into(),
            Key::Oifname => "oifname".into(),
        }
    }

    fn json(self) -> Value {
        match self {
            Key::Saddr(f) => json!({"payload": {"protocol": f.payload(), "field": "saddr"}}),
            Key::Daddr(f) => json!({"payload": {"protocol": f.payload(), "field": "daddr"}}),
            Key::L4proto => json!({"meta": {"key": "l4proto"}}),
            Key::Dport => json!({"payload": {"protocol": "th", "field": "dport"}}),
            Key::Iifname => json!({"meta": {"key": "iifname"}}),
            Key::Oifname => json!({"meta": {"key": "oifname"}}),
        }
    }
}

fn keys_text(keys: &[Key]) -> String {
    keys.iter()
        .map(|k| k.text())
        .collect::<Vec<_>>()
        .join(" . ")
}

fn keys_json(keys: &[Key]) -> Value {
    match keys {
        [one] => one.json(),
        _ => json!({"concat": keys.iter().map(|k| k.json()).collect::<Vec<_>>()}),
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Verdict {
    Accept,
    Drop,
    Goto(String),
}

impl Verdict {
    pub fn text(&self) -> String {
        match self {
            Verdict::Accept => "accept".into(),
            Verdict::Drop => "drop".into(),
            Verdict::Goto(c) => format!("goto {c}"),
        }
    }

    fn json(&self) -> Value {
        match self {
            Verdict::Accept => json!({"accept": null}),
            Verdict::Drop => json!({"drop": null}),
            Verdict::Goto(c) => json!({"goto": {"target": c}}),
        }
    }
}

/// One statement of a rule. The vocabulary is deliberately small.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Stmt {
    /// `ct state established,related`
    CtStateEstablished,
    /// `ct state invalid`
    CtStateInvalid,
    /// `ct mark MARK`: a flow `--revoke-established` marked.
    CtMark(u32),
    /// `meta l4proto != { tcp, udp, sctp }`
    NotPortProtocol,
    /// `fib saddr . iif oif missing`: no route back to the source through the
    /// interface the packet came in on (strict reverse-path check, both families).
    NoRouteBackToSource,
    /// `iifname "PREFIX*"` / `oifname "PREFIX*"`
    IfnamePrefix {
        key: Key,
        prefix: String,
    },
    /// `KEYS @set`
    Lookup {
        keys: Vec<Key>,
        set: String,
    },
    /// `KEYS != @set`
    NotInSet {
        keys: Vec<Key>,
        set: String,
    },
    /// `KEYS vmap @map`
    Vmap {
        keys: Vec<Key>,
        map: String,
    },
    /// `add @set { KEYS }`: remembers the packet in a dynamic set.
    Remember {
        keys: Vec<Key>,
        set: String,
    },
    /// `update @set { KEYS limit rate over N/second burst B packets }`: matches
    /// when the packet's key has gone over the rate (a per-key meter).
    RateOver {
        keys: Vec<Key>,
        set: String,
        per_second: u32,
        burst: u32,
    },
    Counter,
    Verdict(Verdict),
}

impl Stmt {
    fn text(&self) -> String {
        match self {
            Stmt::CtStateEstablished => "ct state established,related".into(),
            Stmt::CtStateInvalid => "ct state invalid".into(),
            Stmt::CtMark(m) => format!("ct mark {m:#010x}"),
            Stmt::NotPortProtocol => "meta l4proto != { tcp, udp, sctp }".into(),
            Stmt::NoRouteBackToSource => "fib saddr . iif oif missing".into(),
            Stmt::IfnamePrefix { key, prefix } => format!("{} \"{prefix}*\"", key.text()),
            Stmt::Lookup { keys, set } => format!("{} @{set}", keys_text(keys)),
            Stmt::NotInSet { keys, set } => format!("{} != @{set}", keys_text(keys)),
            Stmt::Vmap { keys, map } => format!("{} vmap @{map}", keys_text(keys)),
            Stmt::Remember { keys, set } => format!("add @{set} {{ {} }}", keys_text(keys)),
            Stmt::RateOver {
                keys,
                set,
                per_second,
                burst,
            } => format!(
                "update @{set} {{ {} limit rate over {per_second}/second burst {burst} packets }}",
                keys_text(keys)
            ),
            Stmt::Counter => "counter".into(),
            Stmt::Verdict(v) => v.text(),
        }
    }

    fn json(&self) -> Vec<Value> {
        let ct_state = json!({"ct": {"key": "state"}});
        match self {
            Stmt::CtStateEstablished => vec![json!({"match": {"op": "in", "left": ct_state,
                "right": ["established", "related"]}})],
            Stmt::CtStateInvalid => {
                vec![json!({"match": {"op": "in", "left": ct_state, "right": "invalid"}})]
            }
            Stmt::CtMark(m) => vec![json!({"match": {"op": "==",
                "left": {"ct": {"key": "mark"}}, "right": m}})],
            Stmt::NotPortProtocol => vec![json!({"match": {"op": "!=",
                "left": {"meta": {"key": "l4proto"}}, "right": {"set": ["tcp", "udp", "sctp"]}}})],
            Stmt::NoRouteBackToSource => vec![json!({"match": {"op": "==",
                "left": {"fib": {"result": "oif", "flags": ["saddr", "iif"]}}, "right": false}})],
            Stmt::IfnamePrefix { key, prefix } => vec![json!({"match": {"op": "==",
                "left": key.json(), "right": format!("{prefix}*")}})],
            Stmt::Lookup { keys, set } => vec![json!({"match": {"op": "==",
                "left": keys_json(keys), "right": format!("@{set}")}})],
            Stmt::NotInSet { keys, set } => vec![json!({"match": {"op": "!=",
                "left": keys_json(keys), "right": format!("@{set}")}})],
            Stmt::Vmap { keys, map } => {
                vec![json!({"vmap": {"key": keys_json(keys), "data": format!("@{map}")}})]
            }
            Stmt::Remember { keys, set } => vec![json!({"set": {"op": "add",
                "elem": keys_json(keys), "set": format!("@{set}")}})],
            Stmt::RateOver {
                keys,
                set,
                per_second,
                burst,
            } => vec![json!({"set": {"op": "update", "elem": keys_json(keys),
                "set": format!("@{set}"), "stmt": [{"limit": {"rate": per_second,
                "per": "second", "burst": burst, "inv": true}}]}})],
            Stmt::Counter => vec![json!({"counter": null})],
            Stmt::Verdict(v) => vec![v.json()],
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Rule {
    pub stmts: Vec<Stmt>,
    /// Sanitised before it gets here.
    pub comment: Option<String>,
}

impl Rule {
    pub fn new(stmts: Vec<Stmt>) -> Rule {
        Rule {
            stmts,
            comment: None,
        }
    }

    pub fn with_comment(mut self, comment: &str) -> Rule {
        self.comment = Some(sanitize_comment(comment));
        self
    }

    pub fn text(&self) -> String {
        let mut s = self
            .stmts
            .iter()
            .map(Stmt::text)
            .collect::<Vec<_>>()
            .join(" ");
        if let Some(c) = &self.comment {
            let _ = write!(s, " comment \"{c}\"");
        }
        s
    }

    fn json(&self, chain: &str) -> Value {
        let expr: Vec<Value> = self.stmts.iter().flat_map(Stmt::json).collect();
        let mut rule = json!({"family": FAMILY, "table": TABLE, "chain": chain, "expr": expr});
        if let Some(c) = &self.comment {
            rule["comment"] = json!(c);
        }
        json!({"rule": rule})
    }
}

pub fn ip_key(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

/// One part of a set element key.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Part {
    /// Inclusive address range in one family.
    Addrs(Family, u128, u128),
    Proto(#[serde(deserialize_with = "proto_name")] ProtoName),
    /// Inclusive port range.
    Ports(u16, u16),
    Ifname(String),
    /// A packet mark (the generation set).
    Mark(u32),
}

/// A protocol's nft name. (An alias: serde would otherwise try to borrow a
/// `&str` from the input.)
pub type ProtoName = &'static str;

/// The protocols a set element can name; anything else is not an element the
/// compiler wrote.
fn proto_name<'de, D: Deserializer<'de>>(d: D) -> Result<&'static str, D::Error> {
    let name = String::deserialize(d)?;
    ["tcp", "udp", "sctp"]
        .into_iter()
        .find(|p| *p == name)
        .ok_or_else(|| serde::de::Error::custom(format!("unknown protocol {name}")))
}

impl Part {
    fn text(&self) -> String {
        match self {
            Part::Addrs(f, lo, hi) => match prefix_len(*f, *lo, *hi) {
                Some(_) if lo == hi => f.addr(*lo).to_string(),
                Some(len) => format!("{}/{len}", f.addr(*lo)),
                None => format!("{}-{}", f.addr(*lo), f.addr(*hi)),
            },
            Part::Proto(p) => (*p).into(),
            Part::Ports(lo, hi) if lo == hi => lo.to_string(),
            Part::Ports(lo, hi) => format!("{lo}-{hi}"),
            Part::Ifname(n) => format!("\"{n}\""),
            Part::Mark(m) => m.to_string(),
        }
    }

    fn json(&self) -> Value {
        match self {
            Part::Addrs(f, lo, hi) => match prefix_len(*f, *lo, *hi) {
                Some(_) if lo == hi => json!(f.addr(*lo).to_string()),
                Some(len) => json!({"prefix": {"addr": f.addr(*lo).to_string(), "len": len}}),
                None => json!({"range": [f.addr(*lo).to_string(), f.addr(*hi).to_string()]}),
            },
            Part::Proto(p) => json!(p),
            Part::Ports(lo, hi) if lo == hi => json!(lo),
            Part::Ports(lo, hi) => json!({"range": [lo, hi]}),
            Part::Ifname(n) => json!(n),
            Part::Mark(m) => json!(m),
        }
    }
}

/// The prefix length when `[lo, hi]` is exactly one CIDR block.
fn prefix_len(f: Family, lo: u128, hi: u128) -> Option<u32> {
    let bits = match f {
        Family::V4 => 32,
        Family::V6 => 128,
    };
    let span = hi.wrapping_sub(lo);
    if hi < lo || (span != u128::MAX && (span.wrapping_add(1)).count_ones() != 1) {
        return None;
    }
    let host_bits = if span == u128::MAX {
        128
    } else {
        (span + 1).trailing_zeros()
    };
    if host_bits > bits || (host_bits < 128 && lo & ((1u128 << host_bits) - 1) != 0) {
        return None;
    }
    Some(bits - host_bits)
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Element {
    pub key: Vec<Part>,
    pub value: Option<Verdict>,
}

impl PartialOrd for Verdict {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Verdict {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.text().cmp(&other.text())
    }
}

impl Element {
    pub fn key_text(&self) -> String {
        self.key
            .iter()
            .map(Part::text)
            .collect::<Vec<_>>()
            .join(" . ")
    }

    pub fn text(&self) -> String {
        match &self.value {
            Some(v) => format!("{} : {}", self.key_text(), v.text()),
            None => self.key_text(),
        }
    }

    fn key_json(&self) -> Value {
        match self.key.as_slice() {
            [one] => one.json(),
            parts => json!({"concat": parts.iter().map(Part::json).collect::<Vec<_>>()}),
        }
    }

    fn json(&self) -> Value {
        match &self.value {
            Some(v) => json!([self.key_json(), v.json()]),
            None => self.key_json(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SetDef {
    /// Key types, e.g. `["ipv4_addr", "inet_proto", "inet_service"]`.
    pub key: Vec<&'static str>,
    /// `Some("verdict")` for a verdict map.
    pub data: Option<&'static str>,
    pub interval: bool,
    /// Per-element packet counters (attribution).
    pub counter: bool,
    /// A set the data path adds to (`add @set`), bounded and ageing out.
    pub dynamic: bool,
    pub elements: Vec<Element>,
}

/// Dynamic sets stay bounded: when full, the add fails and the next rule runs.
const DYNAMIC_SIZE: u32 = 65_536;
const DYNAMIC_TIMEOUT: &str = "1h";

impl SetDef {
    pub fn is_map(&self) -> bool {
        self.data.is_some()
    }

    fn header_text(&self) -> String {
        let mut s = format!("type {}", self.key.join(" . "));
        if let Some(d) = self.data {
            let _ = write!(s, " : {d}");
        }
        s.push_str("; ");
        let flags = self.flags();
        if !flags.is_empty() {
            let _ = write!(s, "flags {}; ", flags.join(","));
        }
        if self.dynamic {
            let _ = write!(s, "size {DYNAMIC_SIZE}; timeout {DYNAMIC_TIMEOUT}; ");
        }
        if self.counter {
            s.push_str("counter; ");
        }
        s
    }

    fn flags(&self) -> Vec<&'static str> {
        let mut flags = Vec::new();
        if self.interval {
            flags.push("interval");
        }
        if self.dynamic {
            flags.extend(["dynamic", "timeout"]);
        }
        flags
    }

    fn kind(&self) -> &'static str {
        if self.is_map() { "map" } else { "set" }
    }

    fn json(&self, name: &str) -> Value {
        let ty: Value = match self.key.as_slice() {
            [one] => json!(one),
            many => json!(many),
        };
        let mut obj = json!({"family": FAMILY, "table": TABLE, "name": name, "type": ty});
        if let Some(d) = self.data {
            obj["map"] = json!(d);
        }
        // libnftables 1.0.6 cannot read "dynamic" from JSON; later versions can.
        let flags = self.flags();
        if self.dynamic {
            obj["size"] = json!(DYNAMIC_SIZE);
            obj["timeout"] = json!(3600);
        }
        if !flags.is_empty() {
            obj["flags"] = json!(flags);
        }
        if self.counter {
            obj["stmt"] = json!([{"counter": null}]);
        }
        if !self.elements.is_empty() {
            obj["elem"] = Value::Array(self.elements.iter().map(Element::json).collect());
        }
        json!({ self.kind(): obj })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Hook {
    Forward,
    Input,
}

impl Hook {
    fn name(self) -> &'static str {
        match self {
            Hook::Forward => "forward",
            Hook::Input => "input",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ChainDef {
    pub hook: Option<Hook>,
    pub rules: Vec<Rule>,
    pub comment: Option<String>,
}

/// What a chain's rules name: the chains they go to and the sets and maps they use.
/// An object cannot be deleted while something still names it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct References {
    pub chains: BTreeSet<String>,
    pub sets: BTreeSet<String>,
}

impl ChainDef {
    pub fn references(&self) -> References {
        let mut r = References::default();
        for stmt in self.rules.iter().flat_map(|rule| &rule.stmts) {
            match stmt {
                Stmt::Verdict(Verdict::Goto(c)) => {
                    r.chains.insert(c.clone());
                }
                Stmt::Lookup { set, .. }
                | Stmt::NotInSet { set, .. }
                | Stmt::Remember { set, .. }
                | Stmt::RateOver { set, .. } => {
                    r.sets.insert(set.clone());
                }
                Stmt::Vmap { map, .. } => {
                    r.sets.insert(map.clone());
                }
                _ => {}
            }
        }
        r
    }

    pub fn regular(rules: Vec<Rule>) -> ChainDef {
        ChainDef {
            hook: None,
            rules,
            comment: None,
        }
    }

    /// The chain's declaration line(s) inside `chain NAME { ... }`.
    fn header_text(&self) -> String {
        let mut s = String::new();
        if let Some(h) = self.hook {
            let _ = write!(
                s,
                "type filter hook {} priority filter; policy accept; ",
                h.name()
            );
        }
        if let Some(c) = &self.comment {
            let _ = write!(s, "comment \"{c}\"; ");
        }
        s
    }
}

/// A whole `inet netfence` table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ruleset {
    pub sets: BTreeMap<String, SetDef>,
    pub chains: BTreeMap<String, ChainDef>,
}

impl Ruleset {
    /// The table in nft syntax, as `nft -f` reads it.
    pub fn to_nft(&self) -> String {
        let mut out = format!("table {FAMILY} {TABLE} {{\n");
        for (name, set) in &self.sets {
            let _ = write!(out, "  {} {name} {{ {}", set.kind(), set.header_text());
            if !set.elements.is_empty() {
                out.push_str("\n    elements = {\n");
                for e in &set.elements {
                    let _ = writeln!(out, "      {},", e.text());
                }
                out.push_str("    }\n  ");
            }
            out.push_str("}\n");
        }
        for (name, chain) in self.chain_order() {
            let _ = writeln!(out, "  chain {name} {{");
            let header = chain.header_text();
            if !header.is_empty() {
                let _ = writeln!(out, "    {}", header.trim_end());
            }
            for r in &chain.rules {
                let _ = writeln!(out, "    {}", r.text());
            }
            out.push_str("  }\n");
        }
        out.push_str("}\n");
        out
    }

    /// Regular chains first: nft resolves `goto` targets in file order.
    fn chain_order(&self) -> Vec<(&String, &ChainDef)> {
        let mut v: Vec<_> = self.chains.iter().collect();
        v.sort_by_key(|(name, c)| (c.hook.is_some(), *name));
        v
    }

    /// The table as libnftables JSON (`nft -j -f` reads it).
    pub fn to_json(&self) -> Value {
        // Dependency order: sets, chains, maps (whose entries jump to chains),
        // then rules (which use all of them).
        let mut items = vec![json!({"table": {"family": FAMILY, "name": TABLE}})];
        for (name, set) in self.sets.iter().filter(|(_, s)| !s.is_map()) {
            items.push(set.json(name));
        }
        for (name, chain) in self.chain_order() {
            let mut c = json!({"family": FAMILY, "table": TABLE, "name": name});
            if let Some(h) = chain.hook {
                c["type"] = json!("filter");
                c["hook"] = json!(h.name());
                c["prio"] = json!(0);
                c["policy"] = json!("accept");
            }
            if let Some(comment) = &chain.comment {
                c["comment"] = json!(comment);
            }
            items.push(json!({ "chain": c }));
        }
        for (name, set) in self.sets.iter().filter(|(_, s)| s.is_map()) {
            items.push(set.json(name));
        }
        for (name, chain) in self.chain_order() {
            for r in &chain.rules {
                items.push(r.json(name));
            }
        }
        json!({ "nftables": items })
    }
}

/// One operation of an nft transaction. `enforce` plans a [`Transaction`] as data
/// (the agent's netlink path sends the same operations); [`Transaction::to_nft`]
/// is the one place it becomes nft syntax.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// Idempotent: makes sure the table exists (it is never deleted).
    AddTable,
    /// Empties every chain and set of the table (a change of map type).
    FlushTable,
    /// A set or map with its elements.
    AddSet {
        name: String,
        set: SetDef,
    },
    /// A chain declared without rules: the rules follow as `AddRule` once every
    /// chain and map they name exists.
    AddChain {
        name: String,
        hook: Option<Hook>,
        comment: Option<String>,
    },
    AddRule {
        chain: String,
        rule: Rule,
    },
    AddElements {
        set: String,
        elements: Vec<Element>,
    },
    /// Deletes elements by key (a map's values are not needed).
    DeleteElements {
        set: String,
        elements: Vec<Element>,
    },
    FlushSet {
        set: String,
    },
    /// Empties a chain (to refill one changed by hand).
    FlushChain {
        name: String,
    },
    DeleteChain {
        name: String,
    },
    DeleteSet {
        name: String,
        map: bool,
    },
}

/// Operations sent to the kernel as one transaction: all or nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Transaction {
    pub ops: Vec<Op>,
}

impl Transaction {
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    pub fn push(&mut self, op: Op) {
        self.ops.push(op);
    }

    /// The transaction as an `nft -f` script, one command per line.
    pub fn to_nft(&self) -> String {
        let mut s = String::new();
        for op in &self.ops {
            match op {
                Op::AddTable => {
                    let _ = writeln!(s, "add table {FAMILY} {TABLE}");
                }
                Op::FlushTable => {
                    let _ = writeln!(s, "flush table {FAMILY} {TABLE}");
                }
                Op::AddSet { name, set } => {
                    let _ = writeln!(
                        s,
                        "add {} {FAMILY} {TABLE} {name} {{ {}}}",
                        set.kind(),
                        set.header_text()
                    );
                    elements_command(&mut s, "add", name, &set.elements, Element::text);
                }
                Op::AddChain {
                    name,
                    hook,
                    comment,
                } => {
                    let header = ChainDef {
                        hook: *hook,
                        rules: Vec::new(),
                        comment: comment.clone(),
                    }
                    .header_text();
                    let _ = writeln!(s, "add chain {FAMILY} {TABLE} {name} {{ {header}}}");
                }
                Op::AddRule { chain, rule } => {
                    let _ = writeln!(s, "add rule {FAMILY} {TABLE} {chain} {}", rule.text());
                }
                Op::AddElements { set, elements } => {
                    elements_command(&mut s, "add", set, elements, Element::text);
                }
                Op::DeleteElements { set, elements } => {
                    elements_command(&mut s, "delete", set, elements, Element::key_text);
                }
                Op::FlushSet { set } => {
                    let _ = writeln!(s, "flush set {FAMILY} {TABLE} {set}");
                }
                Op::FlushChain { name } => {
                    let _ = writeln!(s, "flush chain {FAMILY} {TABLE} {name}");
                }
                Op::DeleteChain { name } => {
                    let _ = writeln!(s, "delete chain {FAMILY} {TABLE} {name}");
                }
                Op::DeleteSet { name, map } => {
                    let kind = if *map { "map" } else { "set" };
                    let _ = writeln!(s, "delete {kind} {FAMILY} {TABLE} {name}");
                }
            }
        }
        s
    }
}

fn elements_command(
    s: &mut String,
    verb: &str,
    set: &str,
    elements: &[Element],
    render: fn(&Element) -> String,
) {
    // Bounded command size: nft reads each line as one command.
    for chunk in elements.chunks(512) {
        let list: Vec<String> = chunk.iter().map(render).collect();
        let _ = writeln!(
            s,
            "{verb} element {FAMILY} {TABLE} {set} {{ {} }}",
            list.join(", ")
        );
    }
}

/// Comments are the only place input-derived text appears in the ruleset: keep
/// characters that cannot end the string or the statement, and bound the length
/// (nft allows 128 bytes).
pub fn sanitize_comment(raw: &str) -> String {
    let cleaned: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric()
                || matches!(c, ' ' | '.' | '_' | '/' | ':' | '-' | ',' | '=')
            {
                c
            } else {
                '_'
            }
        })
        .collect();
    cleaned.chars().take(120).collect()
}

/// FNV-1a: a stable content hash for object names (the same content gets the same
/// name in every run, so unchanged objects are never re-sent).
pub fn content_hash(text: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_and_ranges() {
        let a = |s: &str| u128::from(u32::from(s.parse::<Ipv4Addr>().unwrap())); // ok: test
        let text = |lo, hi| Part::Addrs(Family::V4, lo, hi).text();
        assert_eq!(text(a("10.0.0.0"), a("10.0.0.255")), "10.0.0.0/24");
        assert_eq!(text(a("10.0.0.1"), a("10.0.0.1")), "10.0.0.1");
        assert_eq!(text(a("10.0.0.1"), a("10.0.0.4")), "10.0.0.1-10.0.0.4");
        assert_eq!(text(0, u128::from(u32::MAX)), "0.0.0.0/0");
        assert_eq!(Part::Addrs(Family::V6, 0, u128::MAX).text(), "::/0");
        assert_eq!(Part::Ports(80, 80).text(), "80");
        assert_eq!(Part::Ports(0, 65535).text(), "0-65535");
    }

    #[test]
    fn comments_cannot_escape() {
        let hostile = "a\"; flush ruleset; }\n{ comment \"x";
        let clean = sanitize_comment(hostile);
        assert!(!clean.contains(['"', ';', '{', '}', '\n']));
        assert_eq!(sanitize_comment(&"x".repeat(300)).len(), 120);
    }

    #[test]
    fn hash_is_stable() {
        assert_eq!(content_hash(""), "cbf29ce484222325");
        assert_ne!(content_hash("a"), content_hash("b"));
    }
}

#[cfg(test)]
mod transaction_tests {
    use super::*;

    #[test]
    fn every_operation_renders_as_one_nft_command() {
        let set = SetDef {
            key: vec!["ipv4_addr", "inet_proto", "inet_service"],
            data: None,
            interval: true,
            counter: true,
            dynamic: false,
            elements: vec![Element {
                key: vec![
                    Part::Addrs(Family::V4, 0x0a00_0000, 0x0aff_ffff),
                    Part::Proto("tcp"),
                    Part::Ports(80, 80),
                ],
                value: None,
            }],
        };
        let entry = Element {
            key: vec![Part::Ifname("nfp1".into()), Part::Addrs(Family::V4, 1, 1)],
            value: Some(Verdict::Goto("e_1".into())),
        };
        let t = Transaction {
            ops: vec![
                Op::AddTable,
                Op::FlushTable,
                Op::AddSet {
                    name: "ep4_1".into(),
                    set,
                },
                Op::AddChain {
                    name: "forward_1".into(),
                    hook: Some(Hook::Forward),
                    comment: None,
                },
                Op::AddChain {
                    name: "e_1".into(),
                    hook: None,
                    comment: None,
                },
                Op::AddRule {
                    chain: "e_1".into(),
                    rule: Rule::new(vec![Stmt::Counter, Stmt::Verdict(Verdict::Drop)])
                        .with_comment("why \"not\""),
                },
                Op::AddElements {
                    set: "m".into(),
                    elements: vec![entry.clone()],
                },
                Op::DeleteElements {
                    set: "m".into(),
                    elements: vec![entry],
                },
                Op::FlushSet {
                    set: "generation".into(),
                },
                Op::AddElements {
                    set: "generation".into(),
                    elements: vec![Element {
                        key: vec![Part::Mark(42)],
                        value: None,
                    }],
                },
                Op::FlushChain {
                    name: "deny_1".into(),
                },
                Op::DeleteChain { name: "e_0".into() },
                Op::DeleteSet {
                    name: "m".into(),
                    map: true,
                },
                Op::DeleteSet {
                    name: "s".into(),
                    map: false,
                },
            ],
        };
        let expected = [
            "add table inet netfence",
            "flush table inet netfence",
            "add set inet netfence ep4_1 { type ipv4_addr . inet_proto . inet_service; flags interval; counter; }",
            "add element inet netfence ep4_1 { 10.0.0.0/8 . tcp . 80 }",
            "add chain inet netfence forward_1 { type filter hook forward priority filter; policy accept; }",
            "add chain inet netfence e_1 { }",
            "add rule inet netfence e_1 counter drop comment \"why _not_\"",
            "add element inet netfence m { \"nfp1\" . 0.0.0.1 : goto e_1 }",
            "delete element inet netfence m { \"nfp1\" . 0.0.0.1 }",
            "flush set inet netfence generation",
            "add element inet netfence generation { 42 }",
            "flush chain inet netfence deny_1",
            "delete chain inet netfence e_0",
            "delete map inet netfence m",
            "delete set inet netfence s",
        ];
        assert_eq!(t.to_nft().lines().collect::<Vec<_>>(), expected);
    }

    #[test]
    fn element_commands_are_bounded() {
        let elements: Vec<Element> = (0..1025u16)
            .map(|p| Element {
                key: vec![Part::Ports(p, p)],
                value: None,
            })
            .collect();
        let t = Transaction {
            ops: vec![Op::AddElements {
                set: "s".into(),
                elements,
            }],
        };
        let text = t.to_nft();
        assert_eq!(text.lines().count(), 3);
        assert!(text.lines().all(|l| l.matches(", ").count() < 512));
    }

    #[test]
    fn chains_report_what_they_name() {
        let chain = ChainDef::regular(vec![
            Rule::new(vec![Stmt::Vmap {
                keys: vec![Key::Saddr(Family::V4)],
                map: "pods".into(),
            }]),
            Rule::new(vec![
                Stmt::Lookup {
                    keys: vec![Key::Daddr(Family::V4)],
                    set: "allow".into(),
                },
                Stmt::Verdict(Verdict::Goto("next".into())),
            ]),
            Rule::new(vec![Stmt::Remember {
                keys: vec![Key::Saddr(Family::V4)],
                set: "drops".into(),
            }]),
            Rule::new(vec![Stmt::Verdict(Verdict::Drop)]),
        ]);
        let r = chain.references();
        assert_eq!(r.chains.into_iter().collect::<Vec<_>>(), ["next"]);
        assert_eq!(
            r.sets.into_iter().collect::<Vec<_>>(),
            ["allow", "drops", "pods"]
        );
    }
}
