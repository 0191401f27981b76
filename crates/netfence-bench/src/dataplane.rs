//! Data plane benchmarks: compile and apply at a size, the time a one-policy
//! change takes to reach the kernel, and the new-connection rate through an
//! enforced node compared with a conntrack-only ruleset and with none, all in one
//! run. Needs root (network namespaces, nft, conntrack).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use netfence_engine::Engine;
use netfence_gen::{GenOptions, generate};
use netfence_model::{Cluster, Direction, LoadOptions, Protocol, Sources, load};
use netfence_nft::apply::{self, Target};
use netfence_nft::backend::Nft;
use netfence_nft::{CompileOptions, compile};
use serde_json::{Value, json};

use crate::{peak_rss_mib, round, time};

fn cluster(workloads: usize, policies: usize, without: Vec<String>) -> Result<Cluster, String> {
    let files = generate(&GenOptions {
        workloads,
        policies,
        seed: 1,
        pods_per_workload: Some(1),
        nodes: 1,
        admin_policies: 0,
    });
    let mut sources = Sources::default();
    for (name, text) in files {
        sources.add(name, text);
    }
    let opts = LoadOptions {
        without,
        ..LoadOptions::default()
    };
    load(&mut sources, &opts)
        .map(|l| l.cluster)
        .map_err(|d| format!("{} load error(s)", d.len()))
}

fn first_app_policy(c: &Cluster) -> Option<String> {
    c.policies
        .iter()
        .find(|p| p.name != "default-deny-all" && p.name != "allow-dns")
        .map(|p| format!("networkpolicy/{}/{}", p.namespace, p.name))
}

struct Netns(String);

impl Netns {
    fn new(tag: &str) -> Result<Netns, String> {
        let name = format!("netfence-bench-{tag}-{}", std::process::id());
        let ok = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            Ok(Netns(name))
        } else {
            Err(format!("ip netns add {name} failed (root?)"))
        }
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    round(sorted[i.min(sorted.len() - 1)])
}

/// Compile + first apply at a size, then a one-policy change applied back and
/// forth `changes` times (the delta transaction only: both rulesets are
/// compiled beforehand; recompiling is measured separately).
pub fn apply_bench(workloads: usize, policies: usize, changes: usize) -> Result<Value, String> {
    let before = cluster(workloads, policies, Vec::new())?;
    let victim = first_app_policy(&before).ok_or("no app policy")?;
    let after = cluster(workloads, policies, vec![victim.clone()])?;
    let opts = CompileOptions::default();
    let (compile_t, compiled) = time(3, || {
        let engine = Engine::new(&before);
        compile(&engine, &opts)
    });
    let (recompute_t, compiled_after) = time(3, || {
        let engine = Engine::new(&after);
        compile(&engine, &opts)
    });
    let elements: usize = compiled
        .ruleset
        .sets
        .values()
        .map(|s| s.elements.len())
        .sum();
    // The same run measures both ways to the kernel (libnftables in-process and
    // the `nft` binary, the baseline), each in a namespace of its own, with the
    // changes interleaved so that load on the machine hits both alike.
    let modes = [
        ("binary", Nft::open_binary as fn(&Target) -> Nft),
        ("library", Nft::open),
    ];
    let mut nss = Vec::new();
    let mut nfts = Vec::new();
    let mut first_apply = serde_json::Map::new();
    for (name, open) in modes {
        let ns = Netns::new(&format!("apply-{name}"))?;
        let mut nft = open(&Target::Netns(ns.0.clone()));
        if name == "library" && nft.fallback().is_some() {
            return Err(format!(
                "libnftables: {}",
                nft.fallback().unwrap_or_default()
            ));
        }
        let started = Instant::now();
        apply::enforce_with(&mut nft, &compiled.ruleset, false, None).map_err(|e| e.to_string())?;
        first_apply.insert(
            name.into(),
            json!(round(started.elapsed().as_secs_f64() * 1000.0)),
        );
        nss.push(ns);
        nfts.push(nft);
    }
    // Per backend: `enforce` as it runs (read the kernel's table, plan, send),
    // and the agent's path (plan from what it applied last, kept in memory, send).
    let mut samples: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut sizes = Vec::new();
    let rulesets = [&compiled.ruleset, &compiled_after.ruleset];
    for i in 0..changes.max(2) {
        let desired = rulesets[(i + 1) % 2];
        let previous = rulesets[i % 2];
        let reading = i % 4 < 2;
        for ((name, _), nft) in modes.iter().zip(nfts.iter_mut()) {
            let t0 = Instant::now();
            let plan = if reading {
                apply::enforce_with(nft, desired, false, None)
            } else {
                let applied = apply::applied_of(previous);
                apply::apply_planned(
                    nft,
                    desired,
                    Some(&applied),
                    Some(apply::generation(previous)),
                    false,
                    None,
                )
            }
            .map_err(|e| e.to_string())?;
            let ms = t0.elapsed().as_secs_f64() * 1000.0;
            let path = if reading {
                "enforce_reading_the_table"
            } else {
                "agent_from_memory"
            };
            samples
                .entry(format!("{name}/{path}"))
                .or_default()
                .push(ms);
            sizes.push(plan.text().lines().count());
        }
    }
    drop(nfts);
    drop(nss);
    let stats = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        json!({"p50_ms": percentile(v, 0.5), "p99_ms": percentile(v, 0.99), "max_ms": round(v[v.len() - 1]), "n": v.len()})
    };
    let mut delta = serde_json::Map::new();
    for (k, v) in samples.iter_mut() {
        delta.insert(k.clone(), stats(v));
    }
    let p99 = |k: &str| {
        delta
            .get(k)
            .and_then(|v| v["p99_ms"].as_f64())
            .unwrap_or(f64::NAN)
    };
    let ratios = json!({
        "first_apply_library_vs_binary": round(first_apply["library"].as_f64().unwrap_or(f64::NAN) / first_apply["binary"].as_f64().unwrap_or(f64::NAN)),
        "enforce_p99_library_vs_binary": round(p99("library/enforce_reading_the_table") / p99("binary/enforce_reading_the_table")),
        "agent_p99_library_vs_binary_enforce": round(p99("library/agent_from_memory") / p99("binary/enforce_reading_the_table")),
    });
    Ok(json!({
        "workloads": workloads,
        "policies": policies,
        "pods": compiled.pods.len(),
        "chains": compiled.ruleset.chains.len(),
        "sets": compiled.ruleset.sets.len(),
        "set_elements": elements,
        "compile_engine_and_ruleset": compile_t,
        "first_apply_ms": first_apply,
        "one_policy_change": {
            "removed": victim,
            "recompute_engine_and_ruleset": recompute_t,
            "transaction_lines": sizes.iter().max(),
            "delta_apply": delta,
        },
        "ratios": ratios,
        "peak_rss_mib": peak_rss_mib(),
    }))
}

/// Two pods of the cluster where the first may open a connection to the second's
/// port and both are isolated (so their class chains are on the path).
fn client_and_server(engine: &Engine) -> Option<(usize, usize, u16)> {
    let pods: Vec<usize> = engine
        .pods()
        .filter(|&p| {
            !engine.endpoint(p).ips.is_empty()
                && !engine.isolating(p, Direction::Egress).is_empty()
                && !engine.isolating(p, Direction::Ingress).is_empty()
        })
        .collect();
    for &a in &pods {
        for &b in &pods {
            let Some(model) = engine.endpoint(b).model_index else {
                continue;
            };
            let Some(port) = engine.cluster.endpoints[model]
                .ports
                .first()
                .map(|p| p.port)
            else {
                continue;
            };
            if a != b && engine.allows(a, b, Protocol::Tcp, port) {
                return Some((a, b, port));
            }
        }
    }
    None
}

fn nft(ns: &str, script: &str) -> Result<(), String> {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", ns, "nft", "-f", "-"]);
    apply::run(cmd, Some(script))
        .map(|_| ())
        .map_err(|e| e.to_string())
}

fn sysctl(ns: &str, settings: &[&str]) -> Result<(), String> {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", ns, "sysctl", "-q", "-w"])
        .args(settings);
    apply::run(cmd, None).map(|_| ()).map_err(|e| e.to_string())
}

/// New TCP connections per second from `client_ns` to `server` for `seconds`.
fn rate(client_ns: &str, server: SocketAddr, seconds: f64, threads: usize) -> f64 {
    let done = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                if netfence_lab::serve::enter_netns(client_ns).is_err() {
                    return;
                }
                while !stop.load(Ordering::Relaxed) {
                    if std::net::TcpStream::connect_timeout(&server, Duration::from_millis(500))
                        .is_ok()
                    {
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
        std::thread::sleep(Duration::from_secs_f64(seconds));
        stop.store(true, Ordering::Relaxed);
    });
    done.load(Ordering::Relaxed) as f64 / seconds
}

/// New-connection rate through one enforced node: no ruleset, conntrack only,
/// and netfence's ruleset compiled from clusters with each policy count.
pub fn rate_bench(policy_counts: &[usize], seconds: f64, runs: usize) -> Result<Value, String> {
    let mut results = Vec::new();
    for &policies in policy_counts {
        let workloads = (policies * 2).max(20);
        let big = cluster(workloads, policies, Vec::new())?;
        let engine = Engine::new(&big);
        let Some((a, b, port)) = client_and_server(&engine) else {
            return Err(format!(
                "no allowed client/server pair at {policies} policies"
            ));
        };
        let ruleset = compile(&engine, &CompileOptions::default()).ruleset;
        let (client_id, server_id) = (engine.endpoint(a).id.clone(), engine.endpoint(b).id.clone());
        let server_ip = engine.endpoint(b).ips[0];
        // The lab wires just the pair, with the addresses they have in the big
        // cluster; the node gets the big cluster's whole ruleset.
        let mut c = big.clone();
        c.endpoints
            .retain(|e| e.id == client_id || e.id == server_id);
        let lab = netfence_lab::Lab::up(&c, 1).map_err(|e| e.to_string())?;
        let node = lab.topology.node_ns[0].clone();
        let client_ns = lab
            .plan
            .pods
            .iter()
            .position(|p| p.id == client_id)
            .map(|i| lab.topology.pod_ns[i].clone())
            .ok_or("client not wired")?;
        for ns in [&client_ns, &node] {
            sysctl(
                ns,
                &[
                    "net.ipv4.ip_local_port_range=1024 65535",
                    "net.ipv4.tcp_tw_reuse=1",
                ],
            )?;
        }
        let server = SocketAddr::new(server_ip, port);
        let configs: [(&str, Option<&netfence_nft::Ruleset>); 3] = [
            ("none", None),
            ("conntrack-only", None),
            ("netfence", Some(&ruleset)),
        ];
        let mut row = serde_json::Map::new();
        row.insert("policies".into(), json!(policies));
        // Interleaved: every round measures each configuration once, so drift in
        // the machine's load hits all of them alike.
        let mut samples: Vec<Vec<f64>> = vec![Vec::new(); configs.len()];
        for _ in 0..runs.max(1) {
            for (i, (name, rs)) in configs.iter().enumerate() {
                let _ = nft(
                    &node,
                    "add table inet netfence\ndelete table inet netfence\n",
                );
                let _ = nft(
                    &node,
                    "add table inet baseline\ndelete table inet baseline\n",
                );
                match (*name, rs) {
                    ("conntrack-only", _) => nft(
                        &node,
                        "table inet baseline {\n chain forward {\n  type filter hook forward priority filter; policy accept;\n  ct state established,related accept\n  ct state invalid drop\n  accept\n }\n}\n",
                    )?,
                    (_, Some(rs)) => {
                        apply::enforce(&Target::Netns(node.clone()), rs, false, None)
                            .map_err(|e| e.to_string())?;
                    }
                    _ => {}
                }
                lab.flush_conntrack();
                samples[i].push(rate(&client_ns, server, seconds, 4));
            }
        }
        let mut medians = Vec::new();
        for ((name, _), mut v) in configs.iter().zip(samples) {
            v.sort_by(f64::total_cmp);
            let median = v[v.len() / 2];
            medians.push(median);
            row.insert(
                (*name).into(),
                json!({"min": v[0].round(), "median": median.round(), "max": v[v.len() - 1].round()}),
            );
        }
        if medians[1] > 0.0 {
            row.insert(
                "netfence_vs_conntrack_only".into(),
                json!(round(medians[2] / medians[1])),
            );
        }
        results.push(Value::Object(row));
    }
    Ok(json!({"seconds_per_run": seconds, "runs": runs, "rates_per_second": results}))
}
