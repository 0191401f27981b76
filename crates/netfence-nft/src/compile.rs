//! Engine decisions → nftables ruleset for the pods of one node.
//!
//! Shape (see ARCHITECTURE.md): the `forward` base chain accepts established
//! flows, drops invalid ones, then dispatches a new connection with one verdict-map
//! lookup on the source (interface and address, or address alone) to the
//! egress chain of the source pod's engine class, and then with one lookup on the
//! destination to the ingress chain of the destination's class. A class chain is
//! a constant number of set lookups whatever the number of policies: its sets hold
//! the peer address ranges (the engine's disjoint partition) with their protocol
//! and port ranges. Whatever a chain does not allow goes to `deny_egress` /
//! `deny_ingress`, which remember the flow (for `netfence` to report) and drop it,
//! or, in audit mode, let it pass.

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;

use netfence_engine::{ConnSet, Contribution, Engine, EpId, SideOutcome};
use netfence_model::{Direction, Protocol};
use serde::{Deserialize, Serialize};

use crate::addrmap::{self, Piece};
use crate::ruleset::{
    ChainDef, Element, Family, Hook, Key, Part, Rule, Ruleset, SetDef, Stmt, Verdict, content_hash,
    sanitize_comment,
};

/// Pod interfaces, when the compiler knows them (the lab does; a real node's CNI
/// would). Without them pods are matched by address only.
#[derive(Clone, Debug, Default)]
pub struct Interfaces {
    /// Every pod interface on the node starts with this; traffic from or to an
    /// interface with this prefix that the ruleset does not bind is dropped.
    pub prefix: String,
    /// Endpoint id (`ns/pod`) → node-side interface name.
    pub by_endpoint: HashMap<String, String>,
}

#[derive(Clone, Debug, Default)]
pub struct CompileOptions {
    /// Only pods on this node are enforced; `None`: every pod (one node).
    pub node: Option<String>,
    pub interfaces: Option<Interfaces>,
    /// Let would-be drops pass (they are still remembered in the drop sets).
    pub audit: bool,
}

/// A pod the ruleset enforces, and the chains its traffic goes through.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LocalPod {
    pub id: String,
    pub ips: Vec<IpAddr>,
    pub interface: Option<String>,
    pub egress_chain: String,
    pub ingress_chain: String,
    /// Policies isolating the pod (`namespace/name`), for drop reports.
    pub egress_isolated_by: Vec<String>,
    pub ingress_isolated_by: Vec<String>,
}

/// Why an element of an allow set is there: the engine's provenance.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ElementOrigin {
    pub set: String,
    pub element: String,
    pub direction: String,
    /// `namespace/policy direction[rule index]`.
    pub allowed_by: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct Compiled {
    pub ruleset: Ruleset,
    pub pods: Vec<LocalPod>,
    pub provenance: Vec<ElementOrigin>,
    /// Every pod and node address the engine knows, for naming flows in reports.
    pub addresses: Vec<(IpAddr, String)>,
}

impl Compiled {
    /// nft syntax, with a header that maps chains to pods (sanitised `#` comments,
    /// which nft ignores).
    pub fn to_nft(&self) -> String {
        let mut out = String::from("# netfence: generated ruleset; chains per pod:\n");
        for pod in &self.pods {
            out.push_str(&format!(
                "#   {} egress {} ingress {}\n",
                sanitize_comment(&pod.id),
                pod.egress_chain,
                pod.ingress_chain
            ));
        }
        out.push_str(&self.ruleset.to_nft());
        out
    }
}

fn dir_word(dir: Direction) -> &'static str {
    match dir {
        Direction::Ingress => "ingress",
        Direction::Egress => "egress",
    }
}

fn proto_name(p: Protocol) -> &'static str {
    match p {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
        Protocol::Sctp => "sctp",
    }
}

/// Adjacent address pieces with the same allowed connections, merged.
struct Run {
    family: Family,
    lo: u128,
    hi: u128,
    conns: ConnSet,
    allowed_by: BTreeSet<String>,
}

struct Compiler<'e, 'c> {
    engine: &'e Engine<'c>,
    pieces: Vec<Piece>,
    /// Indices into `pieces` (ascending, so in address order) per engine class.
    pieces_of_class: HashMap<usize, Vec<usize>>,
    audit: bool,
    ruleset: Ruleset,
    provenance: Vec<ElementOrigin>,
    chain_of_class: HashMap<(Direction, usize), Verdict>,
    /// Content-named chains every class chain refers to.
    ingress_stage: String,
    deny: [String; 2],
    /// Chains that record and drop spoofed (interfaces known) and invalid
    /// (not in audit mode) packets.
    record_spoofed: String,
    record_invalid: String,
    /// Records packets of revoked connections (not in audit mode), and packets
    /// to or from a pod interface the ruleset does not bind (interfaces known).
    record_revoked: String,
    record_unbound: String,
}

pub fn compile(engine: &Engine, opts: &CompileOptions) -> Compiled {
    let pieces = addrmap::partition(engine);
    let mut pieces_of_class: HashMap<usize, Vec<usize>> = HashMap::new();
    for (i, p) in pieces.iter().enumerate() {
        pieces_of_class
            .entry(engine.class_of[p.ep])
            .or_default()
            .push(i);
    }
    let mut c = Compiler {
        engine,
        pieces,
        pieces_of_class,
        audit: opts.audit,
        ruleset: Ruleset::default(),
        provenance: Vec::new(),
        chain_of_class: HashMap::new(),
        ingress_stage: String::new(),
        deny: [String::new(), String::new()],
        record_spoofed: String::new(),
        record_invalid: String::new(),
        record_revoked: String::new(),
        record_unbound: String::new(),
    };
    // Bottom-up: a chain's name is the hash of its rules, which name the chains
    // they jump to.
    c.shared_chains(opts.interfaces.as_ref());
    let pods = c.local_pods(opts);
    c.dispatch_maps(&pods, opts.interfaces.as_ref());
    c.hook_chains(&pods, opts.interfaces.as_ref());
    // Holds the applied generation (written by `enforce`, never by the compiler).
    c.ruleset.sets.insert(
        crate::apply::GENERATION_SET.into(),
        SetDef {
            key: vec!["mark"],
            data: None,
            interval: false,
            counter: false,
            dynamic: false,
            elements: Vec::new(),
        },
    );
    c.provenance.sort();
    let addresses = engine
        .endpoints
        .iter()
        .flat_map(|e| e.ips.iter().map(move |ip| (*ip, e.id.clone())))
        .collect();
    Compiled {
        ruleset: c.ruleset,
        pods,
        provenance: c.provenance,
        addresses,
    }
}

impl Compiler<'_, '_> {
    fn local_pods(&mut self, opts: &CompileOptions) -> Vec<LocalPod> {
        let engine = self.engine;
        let mut pods = Vec::new();
        for ep in engine.pods() {
            let e = engine.endpoint(ep);
            if !e.selectable || e.ips.is_empty() {
                continue;
            }
            if let Some(node) = &opts.node
                && e.node.as_ref() != Some(node)
            {
                continue;
            }
            let interface = match &opts.interfaces {
                Some(ifs) => match ifs.by_endpoint.get(&e.id) {
                    Some(name) => Some(name.clone()),
                    // Not wired: the prefix rule drops its traffic (fail closed).
                    None => continue,
                },
                None => None,
            };
            let egress = self.class_chain(Direction::Egress, ep);
            let ingress = self.class_chain(Direction::Ingress, ep);
            // The admin policies judging the pod come first: a drop of theirs
            // is their rule's (a Deny, or an Accept/Pass that did not cover it).
            let isolated_by = |dir| -> Vec<String> {
                let class = engine.class_of[ep];
                engine.classes[class]
                    .admin_subject_of
                    .iter()
                    .map(|&a| &engine.cluster.admin_policies[a])
                    .filter(|a| !a.rules(dir).is_empty())
                    .map(|a| a.id())
                    .chain(engine.isolating(ep, dir).iter().map(|&p| {
                        let p = &engine.cluster.policies[p];
                        format!("{}/{}", p.namespace, p.name)
                    }))
                    .collect()
            };
            pods.push(LocalPod {
                id: e.id.clone(),
                ips: e.ips.clone(),
                interface,
                egress_chain: verdict_target(&egress),
                ingress_chain: verdict_target(&ingress),
                egress_isolated_by: isolated_by(Direction::Egress),
                ingress_isolated_by: isolated_by(Direction::Ingress),
            });
        }
        pods
    }

    /// The verdict a pod's traffic gets in `dir`: a class chain, or straight on
    /// when no policy isolates the class.
    fn class_chain(&mut self, dir: Direction, ep: EpId) -> Verdict {
        let class = self.engine.class_of[ep];
        if let Some(v) = self.chain_of_class.get(&(dir, class)) {
            return v.clone();
        }
        let pass = match dir {
            Direction::Egress => Verdict::Goto(self.ingress_stage.clone()),
            Direction::Ingress => Verdict::Accept,
        };
        // A class neither isolated nor judged by an admin policy allows
        // everything: no chain. Otherwise its chain holds the engine's final
        // answer per peer, every tier folded in (a constant number of lookups
        // per packet whatever the tiers).
        let judged = !self.engine.classes[class].admin_subject_of.is_empty();
        let verdict = if self.engine.isolating(ep, dir).is_empty() && !judged {
            pass
        } else {
            self.build_class_chain(dir, class, pass)
        };
        self.chain_of_class.insert((dir, class), verdict.clone());
        verdict
    }

    fn runs(&self, dir: Direction, class: usize) -> Vec<Run> {
        let engine = self.engine;
        let mut per_peer: HashMap<usize, (ConnSet, BTreeSet<String>)> = HashMap::new();
        let mut runs: Vec<Run> = Vec::new();
        // Only the classes some rule can match need deciding; elsewhere the side
        // allows nothing (`Engine::peer_candidates`).
        let indices: Vec<usize> = match engine.peer_candidates(dir, class) {
            None => (0..self.pieces.len()).collect(),
            Some(classes) => {
                let mut v: Vec<usize> = classes
                    .iter()
                    .filter_map(|c| self.pieces_of_class.get(c))
                    .flatten()
                    .copied()
                    .collect();
                v.sort_unstable();
                v
            }
        };
        for piece in indices.iter().map(|&i| &self.pieces[i]) {
            let peer = engine.class_of[piece.ep];
            let (conns, allowed_by) = per_peer
                .entry(peer)
                .or_insert_with(|| decide(engine, dir, class, peer));
            if conns.is_empty() {
                continue;
            }
            match runs.last_mut() {
                Some(last)
                    if last.family == piece.family
                        && last.hi.checked_add(1) == Some(piece.lo)
                        && last.conns == *conns =>
                {
                    last.hi = piece.hi;
                    last.allowed_by.extend(allowed_by.iter().cloned());
                }
                _ => runs.push(Run {
                    family: piece.family,
                    lo: piece.lo,
                    hi: piece.hi,
                    conns: conns.clone(),
                    allowed_by: allowed_by.clone(),
                }),
            }
        }
        runs
    }

    fn build_class_chain(&mut self, dir: Direction, class: usize, pass: Verdict) -> Verdict {
        let runs = self.runs(dir, class);
        let (peer_key, tag): (fn(Family) -> Key, &str) = match dir {
            Direction::Egress => (Key::Daddr, "e"),
            Direction::Ingress => (Key::Saddr, "i"),
        };
        let deny = self.deny[dir_slot(dir)].clone();
        let mut rules = Vec::new();
        for family in Family::BOTH {
            let mut ports = Vec::new();
            let mut other = Vec::new();
            let mut origins = Vec::new();
            for run in runs.iter().filter(|r| r.family == family) {
                let addrs = Part::Addrs(family, run.lo, run.hi);
                for proto in Protocol::ALL {
                    for &(lo, hi) in run.conns.get(proto).ranges() {
                        let e = Element {
                            key: vec![
                                addrs.clone(),
                                Part::Proto(proto_name(proto)),
                                Part::Ports(lo, hi),
                            ],
                            value: None,
                        };
                        origins.push((true, e.text(), run.allowed_by.clone()));
                        ports.push(e);
                    }
                }
                if run.conns.other {
                    let e = Element {
                        key: vec![addrs],
                        value: None,
                    };
                    origins.push((false, e.text(), run.allowed_by.clone()));
                    other.push(e);
                }
            }
            let ports_set = self.add_set(
                &format!("{tag}p{}", family.suffix()),
                vec![family.addr_type(), "inet_proto", "inet_service"],
                ports,
            );
            let other_set = self.add_set(
                &format!("{tag}o{}", family.suffix()),
                vec![family.addr_type()],
                other,
            );
            for (is_ports, element, by) in origins {
                let set = if is_ports { &ports_set } else { &other_set };
                if let Some(set) = set {
                    self.provenance.push(ElementOrigin {
                        set: set.clone(),
                        element,
                        direction: dir_word(dir).into(),
                        allowed_by: by.into_iter().collect(),
                    });
                }
            }
            if let Some(set) = ports_set {
                rules.push(Rule::new(vec![
                    Stmt::Lookup {
                        keys: vec![peer_key(family), Key::L4proto, Key::Dport],
                        set,
                    },
                    Stmt::Verdict(pass.clone()),
                ]));
            }
            if let Some(set) = other_set {
                rules.push(Rule::new(vec![
                    Stmt::NotPortProtocol,
                    Stmt::Lookup {
                        keys: vec![peer_key(family)],
                        set,
                    },
                    Stmt::Verdict(pass.clone()),
                ]));
            }
        }
        rules.push(Rule::new(vec![Stmt::Verdict(Verdict::Goto(deny))]));
        Verdict::Goto(self.add_chain(tag, None, rules))
    }

    /// Adds a content-named allow set; `None` when it would be empty.
    fn add_set(
        &mut self,
        tag: &str,
        key: Vec<&'static str>,
        mut elements: Vec<Element>,
    ) -> Option<String> {
        if elements.is_empty() {
            return None;
        }
        elements.sort();
        let text: String = elements.iter().map(|e| e.text() + "\n").collect();
        let name = format!("{tag}_{}", content_hash(&format!("{key:?}\n{text}")));
        let interval = true;
        self.ruleset.sets.insert(
            name.clone(),
            SetDef {
                key,
                data: None,
                interval,
                counter: true,
                dynamic: false,
                elements,
            },
        );
        Some(name)
    }

    fn dispatch_maps(&mut self, pods: &[LocalPod], interfaces: Option<&Interfaces>) {
        for family in Family::BOTH {
            for dir in [Direction::Egress, Direction::Ingress] {
                let mut elements = Vec::new();
                for pod in pods {
                    let chain = match dir {
                        Direction::Egress => &pod.egress_chain,
                        Direction::Ingress => &pod.ingress_chain,
                    };
                    let verdict = target_verdict(chain);
                    for ip in pod.ips.iter().filter(|ip| Family::of(**ip) == family) {
                        let k = crate::ruleset::ip_key(*ip);
                        let addr = Part::Addrs(family, k, k);
                        let key = match (&pod.interface, interfaces) {
                            (Some(ifname), Some(_)) => vec![Part::Ifname(ifname.clone()), addr],
                            _ => vec![addr],
                        };
                        elements.push(Element {
                            key,
                            value: Some(verdict.clone()),
                        });
                    }
                }
                self.pod_map(dispatch_map_name(dir, family), family, interfaces, elements);
            }
        }
    }

    /// A verdict map keyed by a pod's address (and interface, when known).
    fn pod_map(
        &mut self,
        name: String,
        family: Family,
        interfaces: Option<&Interfaces>,
        mut elements: Vec<Element>,
    ) {
        elements.sort();
        let mut key = Vec::new();
        if interfaces.is_some() {
            key.push("ifname");
        }
        key.push(family.addr_type());
        self.ruleset.sets.insert(
            name,
            SetDef {
                key,
                data: Some("verdict"),
                interval: false,
                counter: false,
                dynamic: false,
                elements,
            },
        );
    }

    /// Adds a chain named after its content; returns the name.
    fn add_chain(&mut self, tag: &str, hook: Option<Hook>, rules: Vec<Rule>) -> String {
        let text: String = rules.iter().map(|r| r.text() + "\n").collect();
        let name = format!("{tag}_{}", content_hash(&format!("{hook:?}\n{text}")));
        self.ruleset.chains.insert(
            name.clone(),
            ChainDef {
                hook,
                rules,
                comment: None,
            },
        );
        name
    }

    fn dispatch_rules(&self, dir: Direction, interfaces: Option<&Interfaces>) -> Vec<Rule> {
        let (if_key, addr_key): (Key, fn(Family) -> Key) = match dir {
            Direction::Egress => (Key::Iifname, Key::Saddr),
            Direction::Ingress => (Key::Oifname, Key::Daddr),
        };
        let mut rules: Vec<Rule> = Family::BOTH
            .iter()
            .map(|&f| {
                let mut keys = Vec::new();
                if interfaces.is_some() {
                    keys.push(if_key);
                }
                keys.push(addr_key(f));
                Rule::new(vec![Stmt::Vmap {
                    keys,
                    map: dispatch_map_name(dir, f),
                }])
            })
            .collect();
        if let Some(ifs) = interfaces {
            rules.push(
                Rule::new(vec![
                    Stmt::IfnamePrefix {
                        key: if_key,
                        prefix: ifs.prefix.clone(),
                    },
                    Stmt::Counter,
                    Stmt::Verdict(Verdict::Goto(self.record_unbound.clone())),
                ])
                .with_comment("unknown pod interface or address"),
            );
        }
        rules
    }

    /// The ingress stage and the two deny chains, which class chains go to.
    fn shared_chains(&mut self, interfaces: Option<&Interfaces>) {
        let dynamic = |key: Vec<&'static str>| SetDef {
            key,
            data: None,
            interval: false,
            counter: false,
            dynamic: true,
            elements: Vec::new(),
        };
        for family in Family::BOTH {
            self.ruleset.sets.insert(
                record_limit_set_name(family),
                dynamic(vec![family.addr_type()]),
            );
        }
        // Drops that are not policy decisions are recorded too, in sets of
        // their own (a flood of one kind cannot hide another). A forged source
        // says nothing about the sender, so spoofed records are rate-limited
        // per incoming interface, the one thing a pod cannot forge. Audit mode
        // records them and drops nothing, as for every other drop.
        self.ruleset
            .sets
            .insert(SPOOF_LIMIT_SET.into(), dynamic(vec!["ifname"]));
        let rules = self.record_rules(
            spoofed_set_name,
            vec![(vec![Key::Iifname], SPOOF_LIMIT_SET.into())],
            if self.audit {
                Verdict::Accept
            } else {
                Verdict::Drop
            },
        );
        self.record_spoofed = self.add_chain("record_spoofed", None, rules);
        if !self.audit {
            let rules = self.record_rules(
                invalid_set_name,
                Family::BOTH
                    .iter()
                    .map(|&f| (vec![Key::Saddr(f)], record_limit_set_name(f)))
                    .collect(),
                Verdict::Drop,
            );
            self.record_invalid = self.add_chain("record_invalid", None, rules);
            let rules = self.record_rules(
                revoked_set_name,
                Family::BOTH
                    .iter()
                    .map(|&f| (vec![Key::Saddr(f)], record_limit_set_name(f)))
                    .collect(),
                Verdict::Drop,
            );
            self.record_revoked = self.add_chain("record_revoked", None, rules);
        }
        if interfaces.is_some() {
            let rules = self.record_rules(
                unbound_set_name,
                vec![(vec![Key::Iifname], SPOOF_LIMIT_SET.into())],
                if self.audit {
                    Verdict::Accept
                } else {
                    Verdict::Drop
                },
            );
            self.record_unbound = self.add_chain("record_unbound", None, rules);
        }
        // After the record chains: the ingress stage goes to `record_unbound`.
        let mut ingress = self.dispatch_rules(Direction::Ingress, interfaces);
        ingress.push(Rule::new(vec![Stmt::Verdict(Verdict::Accept)]));
        self.ingress_stage = self.add_chain("ingress_stage", None, ingress);
        for dir in [Direction::Egress, Direction::Ingress] {
            let tail = match (self.audit, dir) {
                (false, _) => Verdict::Drop,
                (true, Direction::Egress) => Verdict::Goto(self.ingress_stage.clone()),
                (true, Direction::Ingress) => Verdict::Accept,
            };
            let rules = self.record_rules(
                |family| drop_set_name(dir, family),
                Family::BOTH
                    .iter()
                    .map(|&f| (vec![Key::Saddr(f)], record_limit_set_name(f)))
                    .collect(),
                tail,
            );
            let tag = format!("deny_{}", dir_word(dir));
            self.deny[dir_slot(dir)] = self.add_chain(&tag, None, rules);
        }
    }

    /// A drop-record chain: a flow already recorded costs nothing more
    /// (retransmissions, repeated attempts); past its rate of new records a
    /// sender's drops are counted, not recorded, so one pod cannot fill the
    /// records for everyone. The counters of the `LOST_*` rules are what
    /// `status` reports as lost. Every path ends in `tail`.
    fn record_rules(
        &mut self,
        set_of: impl Fn(Family) -> String,
        limits: Vec<(Vec<Key>, String)>,
        tail: Verdict,
    ) -> Vec<Rule> {
        let flow = |family| {
            vec![
                Key::Saddr(family),
                Key::Daddr(family),
                Key::L4proto,
                Key::Dport,
            ]
        };
        let mut rules: Vec<Rule> = Family::BOTH
            .iter()
            .map(|&family| {
                Rule::new(vec![
                    Stmt::Lookup {
                        keys: flow(family),
                        set: set_of(family),
                    },
                    Stmt::Counter,
                    Stmt::Verdict(tail.clone()),
                ])
            })
            .collect();
        rules.extend(limits.into_iter().map(|(keys, set)| {
            Rule::new(vec![
                Stmt::RateOver {
                    keys,
                    set,
                    per_second: RECORD_RATE,
                    burst: RECORD_BURST,
                },
                Stmt::Counter,
                Stmt::Verdict(tail.clone()),
            ])
            .with_comment(LOST_RATE)
        }));
        for family in Family::BOTH {
            let set = set_of(family);
            rules.push(Rule::new(vec![
                Stmt::Remember {
                    keys: flow(family),
                    set: set.clone(),
                },
                Stmt::Counter,
                Stmt::Verdict(tail.clone()),
            ]));
            self.ruleset.sets.insert(
                set,
                SetDef {
                    key: vec![
                        family.addr_type(),
                        family.addr_type(),
                        "inet_proto",
                        "inet_service",
                    ],
                    data: None,
                    interval: false,
                    counter: false,
                    dynamic: true,
                    elements: Vec::new(),
                },
            );
        }
        // Reached only when the record could not be added: the set is full.
        rules.push(Rule::new(vec![Stmt::Counter, Stmt::Verdict(tail)]).with_comment(LOST_FULL));
        rules
    }

    /// Where interfaces are known, every packet (not only a new flow: a forged
    /// packet can ride on another pod's established flow or fake its replies) is
    /// checked first: a pod interface may only send its pod's addresses, and a
    /// local pod's address may only arrive from its interface. IPv6 is held to
    /// the same rule, so a pod without IPv6 addresses can send no IPv6 at all.
    ///
    /// Without interfaces, a strict reverse-path check stands in: a packet is
    /// forwarded only if the node routes its source back through the interface
    /// it came in on. A pod's own address routes to its own interface, so a pod
    /// forging another pod's address, an unknown one, or IPv6 it was not given
    /// is dropped, for IPv4 and IPv6 alike, whatever the node's rp_filter says.
    /// (Only in `forward`: the node's own and loopback traffic meets `input`.)
    fn anti_spoofing(&mut self, pods: &[LocalPod], interfaces: Option<&Interfaces>) -> Vec<Rule> {
        let Some(ifs) = interfaces else {
            return vec![
                Rule::new(vec![
                    Stmt::NoRouteBackToSource,
                    Stmt::Counter,
                    Stmt::Verdict(Verdict::Goto(self.record_spoofed.clone())),
                ])
                .with_comment("source not routed back through its interface"),
            ];
        };
        let mut rules = Vec::new();
        for family in Family::BOTH {
            let mut bound = Vec::new();
            let mut addrs = Vec::new();
            for pod in pods {
                for ip in pod.ips.iter().filter(|ip| Family::of(**ip) == family) {
                    let k = crate::ruleset::ip_key(*ip);
                    let addr = Part::Addrs(family, k, k);
                    if let Some(ifname) = &pod.interface {
                        bound.push(Element {
                            key: vec![Part::Ifname(ifname.clone()), addr.clone()],
                            value: None,
                        });
                    }
                    addrs.push(Element {
                        key: vec![addr],
                        value: None,
                    });
                }
            }
            let bound_set = self.add_fixed_set(
                &format!("src{}", family.suffix()),
                vec!["ifname", family.addr_type()],
                bound,
            );
            let addr_set = self.add_fixed_set(
                &format!("srcaddr{}", family.suffix()),
                vec![family.addr_type()],
                addrs,
            );
            let not_bound = Stmt::NotInSet {
                keys: vec![Key::Iifname, Key::Saddr(family)],
                set: bound_set,
            };
            rules.push(
                Rule::new(vec![
                    Stmt::IfnamePrefix {
                        key: Key::Iifname,
                        prefix: ifs.prefix.clone(),
                    },
                    not_bound.clone(),
                    Stmt::Counter,
                    Stmt::Verdict(Verdict::Goto(self.record_spoofed.clone())),
                ])
                .with_comment("spoofed source from a pod interface"),
            );
            rules.push(
                Rule::new(vec![
                    Stmt::Lookup {
                        keys: vec![Key::Saddr(family)],
                        set: addr_set,
                    },
                    not_bound,
                    Stmt::Counter,
                    Stmt::Verdict(Verdict::Goto(self.record_spoofed.clone())),
                ])
                .with_comment("local pod address from another interface"),
            );
        }
        rules
    }

    /// A content-named set that exists even when empty (a rule names it).
    fn add_fixed_set(
        &mut self,
        tag: &str,
        key: Vec<&'static str>,
        mut elements: Vec<Element>,
    ) -> String {
        elements.sort();
        elements.dedup();
        let text: String = elements.iter().map(|e| e.text() + "\n").collect();
        let name = format!("{tag}_{}", content_hash(&format!("{key:?}\n{text}")));
        self.ruleset.sets.insert(
            name.clone(),
            SetDef {
                key,
                data: None,
                interval: false,
                counter: false,
                dynamic: false,
                elements,
            },
        );
        name
    }

    fn hook_chains(&mut self, pods: &[LocalPod], interfaces: Option<&Interfaces>) {
        let anti_spoofing = self.anti_spoofing(pods, interfaces);
        let established = || {
            Rule::new(vec![
                Stmt::CtStateEstablished,
                Stmt::Verdict(Verdict::Accept),
            ])
        };
        // Audit mode accepts everything policy could drop: invalid packets are
        // counted and then judged (and recorded) like any other.
        let audit = self.audit;
        let record_invalid = self.record_invalid.clone();
        let invalid = || {
            let mut stmts = vec![Stmt::CtStateInvalid, Stmt::Counter];
            if !audit {
                stmts.push(Stmt::Verdict(Verdict::Goto(record_invalid.clone())));
            }
            Rule::new(stmts)
        };
        // A flow conntrack picks up mid-stream (opened before the first enforce)
        // meets the policy like a new one, so an allowed long-lived flow
        // survives the first enforce; a revoked flow keeps its conntrack entry,
        // marked, and every packet of it is dropped.
        let mut forward = anti_spoofing.clone();
        if !audit {
            forward.push(
                Rule::new(vec![
                    Stmt::CtMark(crate::revoke::REVOKED_MARK),
                    Stmt::Counter,
                    Stmt::Verdict(Verdict::Goto(self.record_revoked.clone())),
                ])
                .with_comment("revoked connection"),
            );
        }
        forward.extend([established(), invalid()]);
        forward.extend(self.dispatch_rules(Direction::Egress, interfaces));
        forward.push(Rule::new(vec![Stmt::Verdict(Verdict::Goto(
            self.ingress_stage.clone(),
        ))]));
        self.add_chain("forward", Some(Hook::Forward), forward);
        // Traffic from a pod to this node's own addresses never reaches
        // `forward`: the input hook holds it to the pod's egress policy too.
        // With `egress_to_own_node` the node's addresses from the input (and
        // its hostNetwork pods') are allowed first, as the engine allows them;
        // any other address of the node (link-local, a bridge, a local DNS
        // cache) is an external address to the engine, and so here.
        let mut input = if interfaces.is_some() {
            anti_spoofing
        } else {
            Vec::new()
        };
        input.extend([established(), invalid()]);
        if self.engine.cluster.semantics.egress_to_own_node {
            input.extend(self.own_node_admin_rules(pods, interfaces));
            input.extend(self.own_node_rules(pods));
        }
        input.extend(self.dispatch_rules(Direction::Egress, interfaces));
        input.push(Rule::new(vec![Stmt::Verdict(Verdict::Accept)]));
        self.add_chain("input", Some(Hook::Input), input);
    }

    /// The endpoints acting as the local pods' nodes (nodes, hostNetwork pods).
    fn local_node_endpoints(&self, pods: &[LocalPod]) -> Vec<EpId> {
        let engine = self.engine;
        let local: BTreeSet<&str> = pods.iter().map(|p| p.id.as_str()).collect();
        let local_nodes: BTreeSet<&String> = engine
            .pods()
            .map(|ep| engine.endpoint(ep))
            .filter(|e| local.contains(e.id.as_str()))
            .filter_map(|e| e.node.as_ref())
            .collect();
        (0..engine.endpoints.len())
            .filter(|&ep| {
                engine.endpoints[ep]
                    .acts_as_node
                    .as_ref()
                    .is_some_and(|n| local_nodes.contains(n))
            })
            .collect()
    }

    /// A pod reaching its own node is out of the NetworkPolicy tier
    /// (`egress_to_own_node`) but still judged by the admin tiers: the local
    /// pods some admin policy judges are sent, by source, to a chain of their
    /// class that decides the node's addresses as `Engine::tiers` does without
    /// the NetworkPolicy tier, and hands anything else to the pod's egress
    /// chain. Nothing when no local pod is judged (the NetworkPolicy-only
    /// ruleset is unchanged).
    fn own_node_admin_rules(
        &mut self,
        pods: &[LocalPod],
        interfaces: Option<&Interfaces>,
    ) -> Vec<Rule> {
        let engine = self.engine;
        let nodes = self.local_node_endpoints(pods);
        let mut chain_of_class: HashMap<usize, String> = HashMap::new();
        let mut elements: [Vec<Element>; 2] = [Vec::new(), Vec::new()];
        for pod in pods {
            let Ok(ep) = engine.find(&pod.id) else {
                continue;
            };
            let class = engine.class_of[ep];
            if engine.classes[class].admin_subject_of.is_empty() {
                continue;
            }
            let chain = match chain_of_class.get(&class) {
                Some(c) => c.clone(),
                None => {
                    let c = self.own_node_chain(class, &nodes, target_verdict(&pod.egress_chain));
                    chain_of_class.insert(class, c.clone());
                    c
                }
            };
            for ip in &pod.ips {
                let family = Family::of(*ip);
                let k = crate::ruleset::ip_key(*ip);
                let addr = Part::Addrs(family, k, k);
                let key = match (&pod.interface, interfaces) {
                    (Some(ifname), Some(_)) => vec![Part::Ifname(ifname.clone()), addr],
                    _ => vec![addr],
                };
                elements[usize::from(family == Family::V6)].push(Element {
                    key,
                    value: Some(Verdict::Goto(chain.clone())),
                });
            }
        }
        if chain_of_class.is_empty() {
            return Vec::new();
        }
        let mut rules = Vec::new();
        for (i, family) in Family::BOTH.into_iter().enumerate() {
            let elements = std::mem::take(&mut elements[i]);
            if elements.is_empty() {
                continue;
            }
            let name = format!("to_own_node_pods{}", family.suffix());
            self.pod_map(name.clone(), family, interfaces, elements);
            let mut keys = Vec::new();
            if interfaces.is_some() {
                keys.push(Key::Iifname);
            }
            keys.push(Key::Saddr(family));
            rules.push(Rule::new(vec![Stmt::Vmap { keys, map: name }]));
        }
        rules
    }

    /// One class's traffic to its own node: what the admin tiers allow to the
    /// node's addresses passes, the rest of those addresses is denied, and any
    /// other destination goes on to `then` (the class's egress chain).
    fn own_node_chain(&mut self, class: usize, nodes: &[EpId], then: Verdict) -> String {
        let engine = self.engine;
        let mut rules = Vec::new();
        for family in Family::BOTH {
            let mut ports = Vec::new();
            let mut other = Vec::new();
            let mut all = Vec::new();
            for &n in nodes {
                let conns = engine
                    .tiers(Direction::Egress, class, engine.class_of[n], true)
                    .allowed;
                for ip in engine.endpoints[n]
                    .ips
                    .iter()
                    .filter(|ip| Family::of(**ip) == family)
                {
                    let k = crate::ruleset::ip_key(*ip);
                    let addrs = Part::Addrs(family, k, k);
                    all.push(Element {
                        key: vec![addrs.clone()],
                        value: None,
                    });
                    for proto in Protocol::ALL {
                        for &(lo, hi) in conns.get(proto).ranges() {
                            ports.push(Element {
                                key: vec![
                                    addrs.clone(),
                                    Part::Proto(proto_name(proto)),
                                    Part::Ports(lo, hi),
                                ],
                                value: None,
                            });
                        }
                    }
                    if conns.other {
                        other.push(Element {
                            key: vec![addrs],
                            value: None,
                        });
                    }
                }
            }
            if all.is_empty() {
                continue;
            }
            if let Some(set) = self.add_set(
                &format!("onp{}", family.suffix()),
                vec![family.addr_type(), "inet_proto", "inet_service"],
                ports,
            ) {
                rules.push(Rule::new(vec![
                    Stmt::Lookup {
                        keys: vec![Key::Daddr(family), Key::L4proto, Key::Dport],
                        set,
                    },
                    Stmt::Verdict(Verdict::Accept),
                ]));
            }
            if let Some(set) = self.add_set(
                &format!("ono{}", family.suffix()),
                vec![family.addr_type()],
                other,
            ) {
                rules.push(Rule::new(vec![
                    Stmt::NotPortProtocol,
                    Stmt::Lookup {
                        keys: vec![Key::Daddr(family)],
                        set,
                    },
                    Stmt::Verdict(Verdict::Accept),
                ]));
            }
            let set = self.add_fixed_set(
                &format!("onode{}", family.suffix()),
                vec![family.addr_type()],
                all,
            );
            rules.push(Rule::new(vec![
                Stmt::Lookup {
                    keys: vec![Key::Daddr(family)],
                    set,
                },
                Stmt::Verdict(Verdict::Goto(
                    self.deny[dir_slot(Direction::Egress)].clone(),
                )),
            ]));
        }
        rules.push(Rule::new(vec![Stmt::Verdict(then)]));
        self.add_chain("o", None, rules)
    }

    /// `ip daddr @node4_<hash> accept`: the addresses of the local pods' nodes.
    fn own_node_rules(&mut self, pods: &[LocalPod]) -> Vec<Rule> {
        let engine = self.engine;
        let addrs: Vec<IpAddr> = self
            .local_node_endpoints(pods)
            .into_iter()
            .flat_map(|ep| engine.endpoints[ep].ips.iter().copied())
            .collect();
        Family::BOTH
            .iter()
            .map(|&family| {
                let elements = addrs
                    .iter()
                    .filter(|ip| Family::of(**ip) == family)
                    .map(|ip| {
                        let k = crate::ruleset::ip_key(*ip);
                        Element {
                            key: vec![Part::Addrs(family, k, k)],
                            value: None,
                        }
                    })
                    .collect();
                let set = self.add_fixed_set(
                    &format!("node{}", family.suffix()),
                    vec![family.addr_type()],
                    elements,
                );
                Rule::new(vec![
                    Stmt::Lookup {
                        keys: vec![Key::Daddr(family)],
                        set,
                    },
                    Stmt::Verdict(Verdict::Accept),
                ])
            })
            .collect()
    }
}

/// What `class` allows towards (egress) or from (ingress) `peer`, and the
/// rules that allow it: the NetworkPolicy tier alone when no admin policy
/// judges the class (the ruleset of such inputs is as it always was), else
/// every tier (`Engine::tiers`).
fn decide(
    engine: &Engine,
    dir: Direction,
    class: usize,
    peer: usize,
) -> (ConnSet, BTreeSet<String>) {
    let mut by = BTreeSet::new();
    let np = engine.side_classes(dir, class, peer, |c: Contribution| {
        let p = &engine.cluster.policies[c.policy];
        by.insert(format!(
            "{}/{} {}[{}]",
            p.namespace,
            p.name,
            dir_word(dir),
            c.rule
        ));
    });
    if engine.classes[class].admin_subject_of.is_empty() {
        return (np.allowed(), by);
    }
    let tiered = engine.tiers(dir, class, peer, false);
    if tiered.to_network_policy.intersect(&np.allowed()).is_empty()
        || !matches!(np, SideOutcome::Isolated(_))
    {
        // Nothing the NetworkPolicies grant reached them.
        by.clear();
    }
    for step in &tiered.steps {
        if step.action == netfence_model::AdminAction::Accept {
            let p = &engine.cluster.admin_policies[step.policy];
            by.insert(format!("{} {}[{}]", p.id(), dir_word(dir), step.rule));
        }
    }
    if !tiered.default.is_empty() {
        by.insert("no policy decides (allowed by default)".into());
    }
    (tiered.allowed, by)
}

fn dir_slot(dir: Direction) -> usize {
    match dir {
        Direction::Egress => 0,
        Direction::Ingress => 1,
    }
}

fn verdict_target(v: &Verdict) -> String {
    match v {
        Verdict::Goto(c) => c.clone(),
        Verdict::Accept => "accept".into(),
        Verdict::Drop => "drop".into(),
    }
}

fn target_verdict(target: &str) -> Verdict {
    match target {
        "accept" => Verdict::Accept,
        "drop" => Verdict::Drop,
        chain => Verdict::Goto(chain.into()),
    }
}

pub fn dispatch_map_name(dir: Direction, family: Family) -> String {
    format!("{}_pods{}", dir_word(dir), family.suffix())
}

/// Drop records per second one source may add (beyond a burst); past it the
/// drops are counted as lost.
pub const RECORD_RATE: u32 = 10;
pub const RECORD_BURST: u32 = 200;
/// Comments of the rules whose counters count drops that were not recorded.
pub const LOST_RATE: &str = "drop not recorded: source over the record rate";
pub const LOST_FULL: &str = "drop not recorded: drop records full";

/// Per-interface record rate of spoofed packets.
const SPOOF_LIMIT_SET: &str = "spoofed_rate";

/// Drop records of packets whose source address their interface may not
/// send, and of packets conntrack finds invalid: not policy decisions.
pub fn spoofed_set_name(family: Family) -> String {
    format!("spoofed_drops{}", family.suffix())
}

pub fn invalid_set_name(family: Family) -> String {
    format!("invalid_drops{}", family.suffix())
}

pub fn revoked_set_name(family: Family) -> String {
    format!("revoked_drops{}", family.suffix())
}

pub fn unbound_set_name(family: Family) -> String {
    format!("unbound_drops{}", family.suffix())
}

fn record_limit_set_name(family: Family) -> String {
    format!("drops_rate{}", family.suffix())
}

pub fn drop_set_name(dir: Direction, family: Family) -> String {
    format!("{}_drops{}", dir_word(dir), family.suffix())
}

/// The admin rules the ruleset cannot enforce, as `KIND/NAME egress[i]`: those
/// naming `domainNames` (the data plane resolves no names, so it judges the
/// traffic to such a domain's addresses as traffic to any external address;
/// `check` answers for the domain itself).
pub fn unenforced_admin_rules(cluster: &netfence_model::Cluster) -> Vec<String> {
    let mut out = Vec::new();
    for a in &cluster.admin_policies {
        for (i, rule) in a.egress.iter().enumerate() {
            if rule
                .peers
                .iter()
                .any(|p| matches!(p.kind, netfence_model::AdminPeerKind::DomainNames(_)))
            {
                out.push(format!("{} egress[{i}]", a.id()));
            }
        }
    }
    out
}
