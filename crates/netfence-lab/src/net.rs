//! Network namespaces and links. Everything is created inside namespaces the lab
//! owns (veth pairs are created in a node namespace with their peer in a pod or
//! node namespace), so nothing ever appears in, or links to, the host's network.
//! Every namespace is registered before it exists and removed on drop, on error,
//! on Ctrl-C/SIGTERM and on panic (unwinding runs `Drop`).

use std::collections::BTreeSet;
use std::io::Write as _;
use std::process::Command;
use std::sync::{Mutex, Once};
use std::time::{SystemTime, UNIX_EPOCH};

use netfence_nft::apply::{ApplyError, run};

use crate::plan::LabPlan;

/// Names of live lab namespaces in this process, for the signal handler.
static LIVE: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());
static HANDLER: Once = Once::new();

/// The first node's interface to the external hosts (not a pod interface: the
/// ruleset treats it as the outside world).
pub const EXTERNAL_INTERFACE: &str = "nfx";

/// Every lab namespace name starts with this; `lab down --all` looks for it.
pub const NETNS_PREFIX: &str = "netfence-lab-";

fn live() -> std::sync::MutexGuard<'static, BTreeSet<String>> {
    LIVE.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Deletes namespaces, ignoring the ones already gone.
pub fn delete_namespaces(names: &[String]) {
    if names.is_empty() {
        return;
    }
    let batch: String = names.iter().map(|n| format!("netns del {n}\n")).collect();
    let mut cmd = Command::new("ip");
    cmd.args(["-force", "-batch", "-"]);
    let _ = run(cmd, Some(&batch));
    let mut reg = live();
    for n in names {
        reg.remove(n);
        // What `enforce` recorded for a node namespace goes with it.
        netfence_nft::status::remove_state(&netfence_nft::apply::Target::Netns(n.clone()));
    }
}

fn install_signal_cleanup() {
    HANDLER.call_once(|| {
        let _ = ctrlc::set_handler(|| {
            let names: Vec<String> = live().iter().cloned().collect();
            delete_namespaces(&names);
            // Never panic here: standard error may be a closed pipe.
            let _ = writeln!(
                std::io::stderr(),
                "netfence lab: interrupted; removed {}",
                netfence_text::count(names.len(), "namespace")
            );
            std::process::exit(130);
        });
    });
}

/// A unique lab id: parallel runs never share a name.
pub fn unique_id() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{}-{:x}", std::process::id(), nanos)
}

/// The lab's namespaces. Dropping it removes them unless `keep` is set.
#[derive(Debug)]
pub struct Topology {
    pub id: String,
    pub node_ns: Vec<String>,
    pub pod_ns: Vec<String>,
    /// The external hosts' namespace, attached to the first node.
    pub ext_ns: Option<String>,
    pub keep: bool,
}

impl Topology {
    pub fn all_namespaces(&self) -> Vec<String> {
        self.node_ns
            .iter()
            .chain(&self.pod_ns)
            .chain(&self.ext_ns)
            .cloned()
            .collect()
    }

    /// The names a lab with this id and plan uses (nothing is created).
    pub fn names(plan: &LabPlan, id: &str) -> Topology {
        Topology {
            id: id.to_string(),
            node_ns: (0..plan.nodes.len())
                .map(|i| format!("{NETNS_PREFIX}{id}-n{i}"))
                .collect(),
            pod_ns: (0..plan.pods.len())
                .map(|i| format!("{NETNS_PREFIX}{id}-p{i}"))
                .collect(),
            ext_ns: (!plan.externals.is_empty()).then(|| format!("{NETNS_PREFIX}{id}-x")),
            keep: true,
        }
    }

    pub fn build(plan: &LabPlan, id: &str) -> Result<Topology, ApplyError> {
        install_signal_cleanup();
        let mut topo = Topology::names(plan, id);
        topo.keep = false;
        let names = topo.all_namespaces();
        live().extend(names.iter().cloned());
        let batch: String = names.iter().map(|n| format!("netns add {n}\n")).collect();
        let mut cmd = Command::new("ip");
        cmd.args(["-batch", "-"]);
        run(cmd, Some(&batch))?;
        for ns in &topo.node_ns {
            // Before any link exists, so every interface inherits the defaults:
            // forward, and answer ARP for what is routed elsewhere.
            let mut cmd = Command::new("ip");
            cmd.args(["netns", "exec", ns, "sysctl", "-q", "-w"]);
            cmd.args([
                "net.ipv4.ip_forward=1",
                "net.ipv4.conf.all.rp_filter=0",
                "net.ipv4.conf.default.rp_filter=0",
                "net.ipv4.conf.default.proxy_arp=1",
            ]);
            run(cmd, None)?;
        }
        // Links, created from the node side.
        for (n, ns) in topo.node_ns.iter().enumerate() {
            // The node's own address: the next hop for other nodes, and the
            // sender of its ARP requests (proxy ARP ignores requests from 0.0.0.0).
            let mut batch = format!("link set lo up\naddr add {}/32 dev lo\n", node_address(n));
            for (p, pod) in plan.pods.iter().enumerate().filter(|(_, p)| p.node == n) {
                batch.push_str(&format!(
                    "link add {} type veth peer name eth0 netns {}\n",
                    pod.interface, topo.pod_ns[p]
                ));
                batch.push_str(&format!("link set {} up\n", pod.interface));
                batch.push_str(&format!("route add {}/32 dev {}\n", pod.ip, pod.interface));
            }
            for m in n + 1..topo.node_ns.len() {
                batch.push_str(&format!(
                    "link add nfn{m} type veth peer name nfn{n} netns {}\n",
                    topo.node_ns[m]
                ));
            }
            if let (0, Some(ext)) = (n, &topo.ext_ns) {
                batch.push_str(&format!(
                    "link add {EXTERNAL_INTERFACE} type veth peer name eth0 netns {ext}\nlink set {EXTERNAL_INTERFACE} up\n"
                ));
                for host in &plan.externals {
                    batch.push_str(&format!(
                        "route add {}/32 dev {EXTERNAL_INTERFACE}\n",
                        host.ip
                    ));
                }
            }
            ip_batch(ns, &batch)?;
        }
        // Routes between nodes: each pod address via the link to its node.
        for (n, ns) in topo.node_ns.iter().enumerate() {
            let mut batch = String::new();
            for m in (0..topo.node_ns.len()).filter(|&m| m != n) {
                batch.push_str(&format!("link set nfn{m} up\n"));
                // The other node itself (and its hostNetwork pods).
                batch.push_str(&format!("route add {}/32 dev nfn{m}\n", node_address(m)));
                for pod in plan.pods.iter().filter(|p| p.node == m) {
                    batch.push_str(&format!(
                        "route add {}/32 via {} dev nfn{m} onlink\n",
                        pod.ip,
                        node_address(m)
                    ));
                }
                if m == 0 {
                    for host in &plan.externals {
                        batch.push_str(&format!(
                            "route add {}/32 via {} dev nfn0 onlink\n",
                            host.ip,
                            node_address(0)
                        ));
                    }
                }
            }
            if !batch.is_empty() {
                ip_batch(ns, &batch)?;
            }
            // Proxy ARP answers after a random delay of up to 0.8 s unless told
            // not to; the setting exists per interface only (no `default` outside
            // the initial namespace).
            let interfaces: Vec<String> = plan
                .pods
                .iter()
                .filter(|p| p.node == n)
                .map(|p| p.interface.clone())
                .chain(
                    (0..topo.node_ns.len())
                        .filter(|&m| m != n)
                        .map(|m| format!("nfn{m}")),
                )
                .chain((n == 0 && topo.ext_ns.is_some()).then(|| EXTERNAL_INTERFACE.to_string()))
                .collect();
            if !interfaces.is_empty() {
                let mut cmd = Command::new("ip");
                cmd.args(["netns", "exec", ns, "sysctl", "-q", "-w"]);
                cmd.args(
                    interfaces
                        .iter()
                        .map(|i| format!("net.ipv4.neigh.{i}.proxy_delay=0")),
                );
                run(cmd, None)?;
            }
        }
        if let Some(ext) = &topo.ext_ns {
            let mut batch = String::from("link set lo up\n");
            for host in &plan.externals {
                batch.push_str(&format!("addr add {}/32 dev eth0\n", host.ip));
            }
            batch.push_str("link set eth0 up\nroute add default dev eth0\n");
            ip_batch(ext, &batch)?;
        }
        for (p, pod) in plan.pods.iter().enumerate() {
            let batch = format!(
                "link set lo up\naddr add {}/32 dev eth0\nlink set eth0 up\nroute add default dev eth0\n",
                pod.ip
            );
            ip_batch(&topo.pod_ns[p], &batch)?;
        }
        Ok(topo)
    }

    pub fn teardown(&mut self) {
        delete_namespaces(&self.all_namespaces());
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        if !self.keep {
            self.teardown();
        }
    }
}

use crate::plan::node_address;

fn ip_batch(ns: &str, batch: &str) -> Result<(), ApplyError> {
    let mut cmd = Command::new("ip");
    cmd.args(["-n", ns, "-batch", "-"]);
    run(cmd, Some(batch)).map(|_| ())
}

/// Lab namespaces that exist now (from any run).
pub fn existing_lab_namespaces() -> Vec<String> {
    let out = run(
        {
            let mut c = Command::new("ip");
            c.args(["netns", "list"]);
            c
        },
        None,
    )
    .unwrap_or_default();
    out.lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with(NETNS_PREFIX))
        .map(str::to_string)
        .collect()
}
