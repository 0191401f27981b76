//! The lab: real packets between network namespaces, enforced by the ruleset
//! `netfence-nft` compiles, compared with the engine's verdict for every pod
//! pair and declared port.
//!
//! - [`plan`]: nodes, pods, IPs, ports (allocated IPs go back into the cluster).
//! - [`net`]: namespaces and links; hermetic, uniquely named, always removed.
//! - [`serve`]: TCP and UDP listeners inside the pod namespaces.
//! - [`probe`]: concurrent connection attempts from inside the pod namespaces.

pub mod net;
pub mod plan;
pub mod probe;
pub mod sctp;
pub mod serve;
pub mod session;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{IpAddr, Ipv4Addr};

use netfence_engine::Engine;
use netfence_model::{Cluster, Protocol};
use netfence_nft::apply::{ApplyError, Plan, Target, run};
use netfence_nft::status::{FlowKey, read_drop_set};
use netfence_nft::{CompileOptions, Interfaces, compile};
use serde::Serialize;

pub use plan::{LabPlan, Skipped};
use probe::{Outcome, ProbeSpec};

#[derive(Debug, thiserror::Error)]
pub enum LabError {
    #[error("the lab needs {what}: {detail}")]
    Capability { what: &'static str, detail: String },
    #[error(transparent)]
    Command(#[from] ApplyError),
    #[error("listeners: {0}")]
    Listen(#[from] std::io::Error),
    #[error("{0}")]
    Engine(String),
}

/// Which probes to make: every field that is set must match.
#[derive(Clone, Debug, Default)]
pub struct ProbeFilter {
    /// The source, as any name the engine resolves (`app/frontend`, `pod/x -n app`).
    pub from: Option<String>,
    pub to: Option<String>,
    pub protocol: Option<Protocol>,
    pub port: Option<u16>,
}

impl ProbeFilter {
    pub fn is_empty(&self) -> bool {
        self.from.is_none() && self.to.is_none() && self.protocol.is_none() && self.port.is_none()
    }
}

/// One probe's result.
#[derive(Clone, Debug, Serialize)]
pub struct ProbeResult {
    pub src: String,
    pub dst: String,
    pub port: u16,
    pub protocol: Protocol,
    pub expected: bool,
    pub observed: bool,
    /// For an observed drop: the drop record that confirms it (`egress` on the
    /// source's node or `ingress` on the destination's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dropped_by: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lab_error: Option<String>,
}

impl ProbeResult {
    pub fn is_mismatch(&self) -> bool {
        self.lab_error.is_some()
            || self.expected != self.observed
            || (!self.observed && self.dropped_by.is_none())
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct LabReport {
    pub probes: Vec<ProbeResult>,
    pub mismatches: usize,
    pub skipped: Vec<Skipped>,
}

/// Checks what the lab needs, with a clear message when it is missing.
pub fn check_capabilities() -> Result<(), LabError> {
    for (program, args, what) in [
        ("ip", ["-V"].as_slice(), "iproute2 (`ip`)"),
        ("nft", ["-v"].as_slice(), "nftables (`nft`)"),
    ] {
        let mut c = std::process::Command::new(program);
        c.args(args);
        run(c, None).map_err(|e| LabError::Capability {
            what,
            detail: e.to_string(),
        })?;
    }
    let probe = format!("{}probe-{}", net::NETNS_PREFIX, net::unique_id());
    let mut add = std::process::Command::new("ip");
    add.args(["netns", "add", &probe]);
    run(add, None).map_err(|e| LabError::Capability {
        what: "root and network namespaces (`ip netns add`)",
        detail: e.to_string(),
    })?;
    net::delete_namespaces(&[probe]);
    Ok(())
}

/// One end of a probe: a pod, or an external host (which shares a namespace with
/// the other external hosts and probes from its own address).
struct Host<'p> {
    id: String,
    ip: Ipv4Addr,
    netns: String,
    ports: &'p [(Protocol, u16)],
    external: bool,
}

/// A running lab: namespaces, links and listeners.
pub struct Lab {
    pub plan: LabPlan,
    // Field order matters: listeners close before the namespaces go.
    servers: Option<serve::Servers>,
    pub topology: net::Topology,
}

impl Lab {
    /// A lab for one run: unique names, listeners in this process, everything
    /// removed when the `Lab` is dropped.
    pub fn up(input: &Cluster, nodes: usize) -> Result<Lab, LabError> {
        Lab::up_with(input, nodes, false)
    }

    /// Like `up`, with external hosts (one per external address group) when
    /// `externals` is set, so that ipBlock rules are probed too.
    pub fn up_with(input: &Cluster, nodes: usize, externals: bool) -> Result<Lab, LabError> {
        let mut plan = plan::plan(input, nodes);
        if externals {
            plan::add_externals(&mut plan);
        }
        let topology = net::Topology::build(&plan, &net::unique_id())?;
        let servers = serve::start(&listeners(&plan, &topology))?;
        Ok(Lab {
            plan,
            servers: Some(servers),
            topology,
        })
    }

    /// A lab over namespaces that exist already (`lab up` made them); dropping
    /// it removes nothing.
    pub fn attach(plan: LabPlan, mut topology: net::Topology) -> Lab {
        topology.keep = true;
        Lab {
            plan,
            servers: None,
            topology,
        }
    }

    /// `input` placed in this lab: each pod the lab wired gets the lab's IP and
    /// node. Used when a new input (other policies, relabelled pods) is enforced on
    /// a running lab; the engine then predicts on exactly what runs.
    pub fn adopt(&self, input: &Cluster) -> Cluster {
        let mut c = input.clone();
        for e in &mut c.endpoints {
            if let Some(pod) = self.plan.pods.iter().find(|p| p.id == e.id) {
                e.ips = vec![std::net::IpAddr::V4(pod.ip)];
                e.node = Some(self.plan.nodes[pod.node].clone());
            } else if let Some(h) = self.plan.hosts.iter().find(|h| h.id == e.id) {
                e.ips = vec![std::net::IpAddr::V4(plan::node_address(h.node))];
                e.node = Some(self.plan.nodes[h.node].clone());
            }
        }
        for node in &mut c.nodes {
            if let Some(n) = self.plan.nodes.iter().position(|m| *m == node.name) {
                node.addresses = vec![std::net::IpAddr::V4(plan::node_address(n))];
            }
        }
        c
    }

    /// Compiles and applies `cluster`'s policies on every lab node.
    pub fn enforce(&self, cluster: &Cluster, audit: bool) -> Result<Vec<Plan>, LabError> {
        let engine = Engine::new(cluster);
        let mut plans = Vec::new();
        for (n, node) in self.plan.nodes.iter().enumerate() {
            let interfaces = Interfaces {
                prefix: plan::POD_INTERFACE_PREFIX.into(),
                by_endpoint: self
                    .plan
                    .pods
                    .iter()
                    .filter(|p| p.node == n)
                    .map(|p| (p.id.clone(), p.interface.clone()))
                    .collect(),
            };
            let compiled = compile(
                &engine,
                &CompileOptions {
                    node: Some(node.clone()),
                    interfaces: Some(interfaces),
                    audit,
                },
            );
            let target = Target::Netns(self.topology.node_ns[n].clone());
            let record = netfence_nft::status::record_path(&target);
            let _lock = netfence_nft::status::lock(&target)
                .map_err(|e| LabError::Engine(format!("locking the table of {node}: {e}")))?;
            plans.push(netfence_nft::apply::enforce(
                &target,
                &compiled.ruleset,
                false,
                Some(&record),
            )?);
            // So that `netfence status --netns NODE` can explain a lab node too.
            let _ = netfence_nft::status::write_sidecar(&target, &compiled, audit);
        }
        Ok(plans)
    }

    /// Forgets tracked connections on every node, so the next probes are new flows.
    pub fn flush_conntrack(&self) {
        for ns in &self.topology.node_ns {
            let mut c = Target::Netns(ns.clone()).command("conntrack");
            c.arg("-F");
            let _ = run(c, None);
        }
    }

    /// Probes every ordered pair of lab pods on every TCP and UDP port the
    /// destination declares, and compares with the engine on `cluster`.
    pub fn probe(&self, cluster: &Cluster) -> Result<LabReport, LabError> {
        self.probe_only(cluster, &ProbeFilter::default())
    }

    /// Like [`Lab::probe`], limited to the probes `filter` selects.
    pub fn probe_only(
        &self,
        cluster: &Cluster,
        filter: &ProbeFilter,
    ) -> Result<LabReport, LabError> {
        let engine = Engine::new(cluster);
        let wanted = |name: &Option<String>| {
            name.as_deref()
                .map(|n| engine.find(n).map_err(LabError::Engine))
                .transpose()
        };
        let (want_src, want_dst) = (wanted(&filter.from)?, wanted(&filter.to)?);
        let sctp_seen = self.servers.as_ref().map(|s| &s.sctp_seen);
        let mut skipped = self.plan.skipped.clone();
        let mut hosts: Vec<Host> = self
            .plan
            .pods
            .iter()
            .enumerate()
            .map(|(i, p)| Host {
                id: p.id.clone(),
                ip: p.ip,
                netns: self.topology.pod_ns[i].clone(),
                ports: &p.ports,
                external: false,
            })
            .collect();
        for h in &self.plan.hosts {
            hosts.push(Host {
                id: h.id.clone(),
                ip: plan::node_address(h.node),
                netns: self.topology.node_ns[h.node].clone(),
                ports: &h.ports,
                external: false,
            });
        }
        if let Some(ext) = &self.topology.ext_ns {
            for x in &self.plan.externals {
                hosts.push(Host {
                    id: format!("external:{}", x.ip),
                    ip: x.ip,
                    netns: ext.clone(),
                    ports: &x.ports,
                    external: true,
                });
            }
        }
        let endpoint = |host: &Host| {
            if host.external {
                Ok(engine.endpoint_for_ip(IpAddr::V4(host.ip)))
            } else {
                engine.find(&host.id).map_err(LabError::Engine)
            }
        };
        let picked = |host: &Host, want: Option<netfence_engine::EpId>| -> Result<bool, LabError> {
            Ok(match want {
                None => true,
                Some(w) => endpoint(host)? == w,
            })
        };
        let mut specs = Vec::new();
        let mut meta = Vec::new();
        for src in &hosts {
            if !picked(src, want_src)? {
                continue;
            }
            for dst in hosts
                .iter()
                .filter(|d| d.id != src.id && d.ip != src.ip && !(src.external && d.external))
            {
                if !picked(dst, want_dst)? {
                    continue;
                }
                for &(protocol, port) in dst.ports {
                    if filter.protocol.is_some_and(|p| p != protocol)
                        || filter.port.is_some_and(|p| p != port)
                    {
                        continue;
                    }
                    if protocol == Protocol::Sctp && sctp_seen.is_none() {
                        skipped.push(Skipped {
                            what: format!("{} -> {} SCTP {port}", src.id, dst.id),
                            reason: "SCTP is probed with raw INITs by `lab run`, whose receivers live in its own process".into(),
                        });
                        continue;
                    }
                    specs.push(ProbeSpec {
                        src_ns: src.netns.clone(),
                        src: src.ip,
                        dst: dst.ip,
                        protocol,
                        port,
                    });
                    meta.push((src, dst));
                }
            }
        }
        if specs.is_empty() && !filter.is_empty() {
            return Err(LabError::Engine(
                "no probe matches: the lab probes only the ports each destination serves (see `netfence lab up`'s list), between two different pods".into(),
            ));
        }
        let outcomes = probe::run_all(&specs, sctp_seen);
        let drops = self.drop_records()?;
        let mut probes = Vec::with_capacity(specs.len());
        for ((spec, (src, dst)), outcome) in specs.iter().zip(&meta).zip(outcomes) {
            let (s, d) = (endpoint(src)?, endpoint(dst)?);
            let expected = engine.allows(s, d, spec.protocol, spec.port);
            let key = (
                IpAddr::V4(src.ip),
                IpAddr::V4(dst.ip),
                spec.protocol,
                spec.port,
            );
            let (observed, lab_error) = match outcome {
                Outcome::Connected => (true, None),
                Outcome::TimedOut => (false, None),
                Outcome::LabError(e) => (false, Some(e)),
            };
            let dropped_by = if observed || lab_error.is_some() {
                None
            } else {
                drops.get(&key).copied()
            };
            probes.push(ProbeResult {
                src: src.id.clone(),
                dst: dst.id.clone(),
                port: spec.port,
                protocol: spec.protocol,
                expected,
                observed,
                dropped_by,
                lab_error,
            });
        }
        let mismatches = probes.iter().filter(|p| p.is_mismatch()).count();
        Ok(LabReport {
            probes,
            mismatches,
            skipped,
        })
    }

    /// The flows each node's ruleset dropped (or, in audit mode, would have).
    pub fn drop_records(&self) -> Result<HashMap<FlowKey, &'static str>, LabError> {
        let mut out = HashMap::new();
        for ns in &self.topology.node_ns {
            for (set, dir) in [("egress_drops4", "egress"), ("ingress_drops4", "ingress")] {
                for key in read_drop_set(&Target::Netns(ns.clone()), set)? {
                    out.entry(key).or_insert(dir);
                }
            }
        }
        Ok(out)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        // Close every socket before the namespaces are deleted.
        self.servers.take();
    }
}

/// What listens where: each pod on all its addresses, each external host on its own.
pub fn listeners(plan: &LabPlan, topology: &net::Topology) -> Vec<serve::Listen> {
    let pods = plan.pods.iter().enumerate().map(|(i, p)| serve::Listen {
        netns: topology.pod_ns[i].clone(),
        addr: std::net::Ipv4Addr::UNSPECIFIED,
        ports: p.ports.clone(),
    });
    // One listener per node for its hostNetwork pods' ports (they share it).
    let mut on_node: std::collections::BTreeMap<usize, Vec<(Protocol, u16)>> =
        std::collections::BTreeMap::new();
    for h in &plan.hosts {
        on_node
            .entry(h.node)
            .or_default()
            .extend(h.ports.iter().copied());
    }
    let hosts = on_node.into_iter().map(|(n, mut ports)| {
        ports.sort();
        ports.dedup();
        serve::Listen {
            netns: topology.node_ns[n].clone(),
            addr: plan::node_address(n),
            ports,
        }
    });
    let externals = topology.ext_ns.iter().flat_map(|ns| {
        plan.externals.iter().map(move |x| serve::Listen {
            netns: ns.clone(),
            addr: x.ip,
            ports: x.ports.clone(),
        })
    });
    pods.chain(hosts).chain(externals).collect()
}

/// One port's probes by (source, destination).
type Grid<'r> = HashMap<(&'r str, &'r str), &'r ProbeResult>;

fn cell(p: Option<&&ProbeResult>, same: bool) -> char {
    match p {
        _ if same => '-',
        None => ' ',
        Some(p) if p.lab_error.is_some() => 'E',
        Some(p) if p.is_mismatch() => '!',
        Some(p) if p.observed => '.',
        Some(_) => 'X',
    }
}

/// The truth table: one grid per (protocol, port), grids with identical cells
/// shown once; rows = sources, columns = destinations. `.` connected, `X`
/// dropped, `!` differs from the engine, `E` lab error, `-` self; blank: the
/// destination does not serve that port.
pub fn render_text(report: &LabReport) -> String {
    let pods: Vec<&str> = report
        .probes
        .iter()
        .flat_map(|p| [p.src.as_str(), p.dst.as_str()])
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut by_port: BTreeMap<(Protocol, u16), Grid> = BTreeMap::new();
    for p in &report.probes {
        by_port
            .entry((p.protocol, p.port))
            .or_default()
            .insert((p.src.as_str(), p.dst.as_str()), p);
    }
    // Identical grids (same cells) are printed once under all their ports.
    let mut grids: Vec<(Vec<String>, Vec<String>)> = Vec::new();
    for ((protocol, port), probes) in &by_port {
        let rows: Vec<String> = pods
            .iter()
            .map(|src| {
                pods.iter()
                    .map(|dst| format!("{:>3}", cell(probes.get(&(*src, *dst)), src == dst)))
                    .collect()
            })
            .collect();
        let label = format!("{} {port}", protocol.as_str());
        match grids.iter_mut().find(|(_, r)| *r == rows) {
            Some((labels, _)) => labels.push(label),
            None => grids.push((vec![label], rows)),
        }
    }
    let width = pods.iter().map(|p| p.len()).max().unwrap_or(1);
    let mut out = String::from("pods:\n");
    for (i, p) in pods.iter().enumerate() {
        out.push_str(&format!("  {:>3}  {p}\n", i + 1));
    }
    out.push_str(LEGEND);
    let blank: usize = grids
        .iter()
        .map(|(labels, rows)| {
            let cells: usize = rows
                .iter()
                .map(|r| r.as_bytes().chunks(3).filter(|c| *c == b"   ").count())
                .sum();
            labels.len() * cells
        })
        .sum();
    let header: String = (1..=pods.len()).map(|i| format!("{i:>3}")).collect();
    for (labels, rows) in &grids {
        out.push_str(&format!(
            "\n{} (rows: source, columns: destination)\n",
            labels.join(", ")
        ));
        out.push_str(&format!("  {:>width$} {header}\n", ""));
        for (src, row) in pods.iter().zip(rows) {
            out.push_str(&format!("  {src:>width$} {row}\n"));
        }
    }
    out.push('\n');
    for p in report.probes.iter().filter(|p| p.is_mismatch()) {
        let why = match (&p.lab_error, p.observed, p.dropped_by) {
            (Some(e), _, _) => format!("lab error: {e}"),
            (None, true, _) => "connected, but the engine denies it".into(),
            (None, false, Some(_)) => "dropped, but the engine allows it".into(),
            (None, false, None) => "timed out with no drop record (not netfence's drop)".into(),
        };
        out.push_str(&format!(
            "MISMATCH {} -> {} {} {}: {why}\n",
            p.src,
            p.dst,
            p.protocol.as_str(),
            p.port
        ));
    }
    for s in &report.skipped {
        out.push_str(&format!("skipped {}: {}\n", s.what, s.reason));
    }
    out.push_str(&format!(
        "{}, {}; {} not probed (blank cells: the destination does not serve that port); {} skipped\n",
        netfence_text::count(report.probes.len(), "probe"),
        netfence_text::count(report.mismatches, "mismatch"),
        netfence_text::count(blank, "combination"),
        report.skipped.len()
    ));
    out
}

/// One line per probe, for a few probes picked by a filter (a grid of them would
/// be mostly blank).
pub fn render_lines(report: &LabReport) -> String {
    let mut out = String::new();
    for p in &report.probes {
        let observed = match (&p.lab_error, p.observed) {
            (Some(e), _) => format!("lab error: {e}"),
            (None, true) => "connected".to_string(),
            (None, false) => "dropped".to_string(),
        };
        let engine = if p.expected { "allowed" } else { "denied" };
        let mark = if p.is_mismatch() { "MISMATCH " } else { "" };
        out.push_str(&format!(
            "{mark}{} -> {} {} {}: {observed} (engine: {engine})\n",
            p.src,
            p.dst,
            p.protocol.as_str(),
            p.port
        ));
    }
    out.push_str(&format!(
        "{}, {}\n",
        netfence_text::count(report.probes.len(), "probe"),
        netfence_text::count(report.mismatches, "mismatch")
    ));
    out
}

/// What the grid's symbols mean, printed above the grids.
pub const LEGEND: &str = "legend: . connected  X dropped  ! differs from the engine  E lab error  - self  blank: not probed (the destination does not serve that port)\n";
