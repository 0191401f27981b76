//! `compile`, `enforce` and `lab` end to end. The enforce and lab tests need
//! root and network namespaces: skipped without them, failures when
//! `NETFENCE_REQUIRE_LAB=1` (as in CI).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;
use std::time::Duration;

mod common;
use common::netfence;

fn root_available() -> bool {
    // Tests run on threads of one process: the name must differ per call.
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let name = format!("netfence-cli-probe-{}-{call}", std::process::id());
    let ok = Command::new("ip")
        .args(["netns", "add", &name])
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        let _ = Command::new("ip").args(["netns", "del", &name]).status();
        return true;
    }
    if std::env::var("NETFENCE_REQUIRE_LAB").as_deref() == Ok("1") {
        panic!("NETFENCE_REQUIRE_LAB=1 but network namespaces are not available");
    }
    eprintln!("skipping: needs root and network namespaces");
    false
}

#[test]
fn compile_prints_one_nodes_ruleset() {
    let r = netfence(&["compile", "examples/nodes", "--node", "node-a"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    insta::assert_snapshot!("compile_nodes_node_a", r.stdout);
    let json = netfence(&["compile", "examples/nodes", "-o", "json"]);
    assert_eq!(json.code, 0);
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert!(v["nftables"].as_array().unwrap().len() > 10);
    let bad = netfence(&["compile", "examples/nodes", "-o", "csv"]);
    assert_eq!(bad.code, 2);
}

/// Admin policies are compiled into the ruleset (the lab proves it with
/// packets: `admin_conformance_scenarios_enforced_equal_the_engine`); only
/// rules naming domains are not, and `compile` says which.
#[test]
fn admin_policies_are_compiled_and_domain_rules_are_named() {
    let r = netfence(&["compile", "examples/cluster-default-deny"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stderr.contains("NOT enforced"), "{}", r.stderr);
    let dir = tempfile::tempdir().unwrap();
    let deny = dir.path().join("deny.yaml");
    std::fs::write(
        &deny,
        "apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: deny-from-app}
spec:
  tier: Admin
  priority: 1
  subject: {namespaces: {}}
  ingress:
  - {name: deny, action: Deny, from: [{namespaces: {matchLabels: {kubernetes.io/metadata.name: app}}}]}
",
    )
    .unwrap();
    let plain = netfence(&["compile", "examples/nodes", "--node", "node-a"]);
    let with = netfence(&[
        "compile",
        "examples/nodes",
        "--node",
        "node-a",
        "--with",
        deny.to_str().unwrap(),
    ]);
    assert_eq!(with.code, 0, "{}", with.stderr);
    assert_ne!(
        plain.stdout, with.stdout,
        "the admin deny is in the ruleset"
    );
    let fqdn = tempfile::tempdir().unwrap();
    std::fs::write(
        fqdn.path().join("fqdn.yaml"),
        "apiVersion: v1
kind: Namespace
metadata: {name: app}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: app, labels: {app: web}}
spec: {containers: [{name: c, image: x}]}
status: {podIP: 10.0.0.5}
---
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: egress-fqdn}
spec:
  tier: Admin
  priority: 5
  subject: {namespaces: {}}
  egress:
  - name: allow-api
    action: Accept
    to: [{domainNames: [api.example.com]}]
  - name: deny-rest
    action: Deny
    to: [{networks: [0.0.0.0/0]}]
",
    )
    .unwrap();
    let r = netfence(&["compile", fqdn.path().to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("1 admin rule with domainNames is NOT enforced")
            && r.stderr
                .contains("ClusterNetworkPolicy/egress-fqdn egress[0]"),
        "{}",
        r.stderr
    );
    let r = netfence(&["compile", "examples/nodes", "--node", "node-a"]);
    assert!(!r.stderr.contains("admin"), "{}", r.stderr);
}

struct Netns(String);
impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
        // And what `enforce` recorded for it: tests leave nothing behind.
        netfence_nft::status::remove_state(&netfence_nft::apply::Target::Netns(self.0.clone()));
    }
}

fn table(ns: &str) -> String {
    let out = Command::new("ip")
        .args([
            "netns", "exec", ns, "nft", "list", "table", "inet", "netfence",
        ])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[test]
fn enforce_applies_deltas_and_refuses_bad_input() {
    if !root_available() {
        return;
    }
    let ns = Netns(format!("netfence-cli-enforce-{}", std::process::id()));
    assert!(
        Command::new("ip")
            .args(["netns", "add", &ns.0])
            .status()
            .unwrap()
            .success()
    );

    let first = netfence(&[
        "enforce",
        "examples/nodes",
        "--node",
        "node-a",
        "--netns",
        &ns.0,
    ]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert!(
        first.stdout.contains("applied in one transaction"),
        "{}",
        first.stdout
    );
    let applied = table(&ns.0);
    assert!(applied.contains("chain forward_"));

    let again = netfence(&[
        "enforce",
        "examples/nodes",
        "--node",
        "node-a",
        "--netns",
        &ns.0,
    ]);
    assert_eq!(again.code, 0);
    assert!(
        again.stdout.contains("up to date, nothing sent"),
        "{}",
        again.stdout
    );

    // A broken input: every error reported, exit 2, the kernel untouched.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: app}\nspec:\n  podSelector: {}\n  ingress:\n  - ports:\n    - {port: 8080, endPort: 80}\n",
    )
    .unwrap();
    let broken = netfence(&[
        "enforce",
        "examples/nodes",
        bad.to_str().unwrap(),
        "--node",
        "node-a",
        "--netns",
        &ns.0,
    ]);
    assert_eq!(broken.code, 2, "{}", broken.stderr);
    assert!(broken.stderr.contains("bad.yaml:8:"), "{}", broken.stderr);
    assert_eq!(table(&ns.0), applied);

    // A dry run prints the transaction and changes nothing.
    let change = [
        "enforce",
        "examples/nodes",
        "--without",
        "networkpolicy/app/allow-dns",
    ];
    let mut dry_args = change.to_vec();
    dry_args.extend(["--node", "node-a", "--netns", &ns.0, "--dry-run"]);
    let dry = netfence(&dry_args);
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert!(dry.stdout.contains("add table inet netfence"));
    assert_eq!(table(&ns.0), applied);

    // A real change is a delta: the table is never deleted.
    let mut real_args = change.to_vec();
    real_args.extend(["--node", "node-a", "--netns", &ns.0]);
    let change = netfence(&real_args);
    assert_eq!(change.code, 0, "{}", change.stderr);
    assert!(change.stdout.contains("applied in one transaction"));
    assert!(!change.stdout.contains("chains +0 -0"), "{}", change.stdout);
    assert_ne!(table(&ns.0), applied);
}

#[test]
fn lab_up_probe_down() {
    if !root_available() {
        return;
    }
    let name = format!("cli-{}", std::process::id());
    // Removed even when an assertion fails.
    struct Down(String);
    impl Drop for Down {
        fn drop(&mut self) {
            let _ = netfence(&["lab", "down", "--name", &self.0]);
        }
    }
    let _down = Down(name.clone());
    let up_text = netfence(&["lab", "up", "examples/nodes", "--name", &name]);
    assert_eq!(up_text.code, 0, "{}", up_text.stderr);
    // The tip is a netfence command (no `nc` needed), and it runs as printed.
    let tip = up_text
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("try: "))
        .unwrap_or_else(|| panic!("no tip in {}", up_text.stdout));
    assert!(tip.starts_with("netfence lab probe --name"), "{tip}");
    let args: Vec<&str> = tip.split_whitespace().skip(1).collect();
    let one = netfence(&args);
    assert_eq!(one.code, 0, "{}{}", one.stdout, one.stderr);
    assert!(
        one.stdout.contains("1 probe, 0 mismatches"),
        "{}",
        one.stdout
    );
    assert!(one.stdout.contains("(engine: "), "{}", one.stdout);
    let _ = netfence(&["lab", "down", "--name", &name]);
    let up = netfence(&["lab", "up", "examples/nodes", "--name", &name, "-o", "json"]);
    assert_eq!(up.code, 0, "{}", up.stderr);
    let state: serde_json::Value = serde_json::from_str(&up.stdout).unwrap();
    let pods = state["pods"].as_array().unwrap();
    assert_eq!(pods.len(), 5);
    for p in pods {
        assert!(p["netns"].as_str().unwrap().contains(&name));
        assert!(
            p["ip"]
                .as_str()
                .unwrap()
                .parse::<std::net::Ipv4Addr>()
                .is_ok()
        );
    }
    let again = netfence(&["lab", "up", "examples/guide", "--name", &name]);
    assert_eq!(
        again.code, 2,
        "a second lab of the same name must be refused"
    );

    let probe = netfence(&["lab", "probe", "--name", &name, "-o", "json"]);
    assert_eq!(probe.code, 0, "{}{}", probe.stdout, probe.stderr);
    let report: serde_json::Value = serde_json::from_str(&probe.stdout).unwrap();
    assert_eq!(report["mismatches"], 0);
    assert_eq!(report["probes"].as_array().unwrap().len(), 24);
    // Attribution on node-a (frontend and api replicas): which rules let the
    // probes through, and who dropped the rest.
    let node_a = state["node_namespaces"][0].as_str().unwrap();
    let status = netfence(&["status", "--netns", node_a, "-o", "json"]);
    assert_eq!(status.code, 0, "{}", status.stderr);
    let s: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    let count = |rule: &str| {
        s["allowed"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["rule"] == rule)
            .map(|c| c["connections"].as_u64().unwrap())
    };
    // Two local pods, each probing DNS over TCP and UDP once.
    assert_eq!(count("app/allow-dns egress[0]"), Some(4));
    assert!(count("app/frontend-to-api egress[0]").is_some_and(|n| n >= 1));
    let drops = s["dropped"].as_array().unwrap();
    assert!(drops.iter().any(|d| {
        d["src"] == "app/api-5c6b7-klmno"
            && d["dst"] == "app/frontend-7d9f8-abcde"
            && d["direction"] == "egress"
            && d["isolated_by"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p == "app/default-deny-all")
    }));

    // (After the counters above: this probes again.) The text grid explains its symbols and what blank cells are.
    let text = netfence(&["lab", "probe", "--name", &name]);
    assert!(
        text.stdout.contains("legend: . connected  X dropped"),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout
            .contains("not probed (blank cells: the destination does not serve that port)"),
        "{}",
        text.stdout
    );
    let down = netfence(&["lab", "down", "--name", &name]);
    assert_eq!(down.code, 0, "{}", down.stderr);
    let left = Command::new("ip").args(["netns", "list"]).output().unwrap();
    assert!(!String::from_utf8_lossy(&left.stdout).contains(&name));
    assert!(!Path::new(&format!("/run/netfence/labs/{name}.json")).exists());
}

#[test]
fn lab_run_json_matches_the_documented_shape() {
    if !root_available() {
        return;
    }
    let r = netfence(&["lab", "run", "examples/guide", "-o", "json"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["mismatches"], 0);
    let first = &v["probes"][0];
    for key in ["src", "dst", "port", "protocol", "expected", "observed"] {
        assert!(first.get(key).is_some(), "missing {key}: {first}");
    }
    assert!(v["skipped"].is_array());
    // The guide's frontend cannot reach the api (its egress is closed): observed.
    let denied = v["probes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["src"] == "app/deployment/frontend" && p["dst"] == "app/deployment/api")
        .unwrap();
    assert_eq!(denied["observed"], false);
    assert_eq!(denied["dropped_by"], "egress");
}

/// The table in a form two namespaces can be compared in: handles dropped,
/// set elements and objects sorted.
fn table_content(ns: &str) -> Vec<String> {
    fn strip(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(o) => {
                o.remove("handle");
                if let Some(serde_json::Value::Array(elems)) = o.get_mut("elem") {
                    elems.sort_by_key(|e| e.to_string());
                }
                o.values_mut().for_each(strip);
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let out = Command::new("ip")
        .args([
            "netns", "exec", ns, "nft", "-j", "list", "table", "inet", "netfence",
        ])
        .output()
        .unwrap();
    let mut v: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    strip(&mut v);
    let mut items: Vec<String> = v["nftables"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|i| i.get("metainfo").is_none())
        .map(|i| i.to_string())
        .collect();
    items.sort();
    items
}

/// The children of `parent` with their command lines.
fn children(parent: u32) -> Vec<(u32, Vec<String>)> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            // `pid (comm) state ppid ...`; comm may hold spaces, so read after `)`.
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|st| {
                st.rsplit_once(')')
                    .and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<u32>().ok())
                    == Some(parent)
            })
        })
        .map(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let args = String::from_utf8_lossy(&cmdline)
                .split('\0')
                .filter(|a| !a.is_empty())
                .map(str::to_string)
                .collect();
            (pid, args)
        })
        .collect()
}

/// Issue 15.2: an enforce killed at any moment leaves the previous table or the
/// new one, never a part of the transaction. The kill is aimed at the worst
/// moment: while the writer is blocked handing the transaction to nft.
#[test]
fn a_killed_enforce_leaves_the_old_table_or_the_new_one() {
    if !root_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    for (seed, out) in [("1", &a), ("3296", &b)] {
        let r = netfence(&[
            "gen",
            "--workloads",
            "400",
            "--policies",
            "80",
            "--pods-per-workload",
            "1",
            "--seed",
            seed,
            "-o",
            out.to_str().unwrap(),
        ]);
        assert_eq!(r.code, 0, "{}", r.stderr);
    }
    let ns = Netns(format!("netfence-cli-kill-{}", std::process::id()));
    let reference = Netns(format!("netfence-cli-killref-{}", std::process::id()));
    for n in [&ns, &reference] {
        assert!(
            Command::new("ip")
                .args(["netns", "add", &n.0])
                .status()
                .unwrap()
                .success()
        );
    }
    let enforce = |input: &Path, netns: &str| {
        let r = netfence(&["enforce", input.to_str().unwrap(), "--netns", netns]);
        assert_eq!(r.code, 0, "{}", r.stderr);
    };
    enforce(&b, &reference.0);
    let new = table_content(&reference.0);
    enforce(&a, &ns.0);
    let old = table_content(&ns.0);
    assert_ne!(old, new);
    // The transaction a run sends from the old table to the new one.
    let dry = netfence(&[
        "enforce",
        b.to_str().unwrap(),
        "--netns",
        &ns.0,
        "--dry-run",
    ]);
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    let transaction = dry.stdout.trim_end().to_string();
    assert!(
        transaction.len() > 70_000,
        "{} bytes: too small to fill a pipe",
        transaction.len()
    );
    let mut blocked_kills = 0;
    let mut seen_nft = 0;
    for attempt in 0..6u64 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_netfence"))
            .args(["enforce", b.to_str().unwrap(), "--netns", &ns.0])
            .current_dir(common::root())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let pid = child.id();
        let started = std::time::Instant::now();
        let mut nft_pid = None;
        // Half the attempts wait for the writer to block on a pipe; the others
        // kill after a growing delay, wherever the run is.
        let deadline = Duration::from_millis(150 * (attempt + 1));
        loop {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            // nft must only ever read a complete transaction.
            for (child_pid, args) in children(pid) {
                if args.iter().any(|a| a.ends_with("nft")) {
                    nft_pid = Some(child_pid);
                    let file = args.last().cloned().unwrap_or_default();
                    assert_ne!(
                        file, "-",
                        "nft reads the transaction while it is being written"
                    );
                    if let Ok(text) = std::fs::read_to_string(&file) {
                        seen_nft += 1;
                        assert_eq!(
                            text.trim_end(),
                            transaction,
                            "nft got an incomplete transaction"
                        );
                    }
                }
            }
            let wchan = std::fs::read_to_string(format!("/proc/{pid}/wchan")).unwrap_or_default();
            let blocked = wchan.contains("pipe_write");
            if blocked || (attempt % 2 == 1 && started.elapsed() > deadline) {
                blocked_kills += usize::from(blocked);
                let _ = child.kill();
                break;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        let _ = child.wait();
        // A killed enforce's nft may still be finishing.
        while nft_pid.is_some_and(|p| Path::new(&format!("/proc/{p}")).exists()) {
            std::thread::sleep(Duration::from_millis(20));
        }
        let now = table_content(&ns.0);
        assert!(
            now == old || now == new,
            "attempt {attempt}: the table is neither the old nor the new one ({} vs {} / {} objects)",
            now.len(),
            old.len(),
            new.len()
        );
        if now == new {
            enforce(&a, &ns.0);
            assert_eq!(table_content(&ns.0), old);
        }
    }
    eprintln!(
        "{blocked_kills} kill(s) while the writer was blocked on a pipe; nft seen reading {seen_nft} time(s)"
    );
}

/// Issue 15.8: `enforce` runs on one table take turns: while another run holds
/// the table's lock, a second one waits and changes nothing.
#[test]
fn enforce_waits_for_the_tables_lock() {
    if !root_available() {
        return;
    }
    let ns = Netns(format!("netfence-cli-lock-{}", std::process::id()));
    assert!(
        Command::new("ip")
            .args(["netns", "add", &ns.0])
            .status()
            .unwrap()
            .success()
    );
    let dir = Path::new("/run/netfence/enforce");
    std::fs::create_dir_all(dir).unwrap();
    let held = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(format!("netns-{}.lock", ns.0)))
        .unwrap();
    held.lock().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_netfence"))
        .args([
            "enforce",
            "examples/nodes",
            "--node",
            "node-a",
            "--netns",
            &ns.0,
        ])
        .current_dir(common::root())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let early = child.try_wait().unwrap();
    let table_while_locked = table(&ns.0);
    drop(held);
    let status = child.wait().unwrap();
    assert!(
        early.is_none(),
        "enforce did not wait for the lock (exit {early:?})"
    );
    assert!(
        !table_while_locked.contains("chain forward_"),
        "enforce changed the table while another run held it"
    );
    assert!(status.success());
    assert!(table(&ns.0).contains("chain forward_"));
    let _ = std::fs::remove_file(dir.join(format!("netns-{}.lock", ns.0)));
}

/// `--pod-interface-prefix` turns on anti-spoofing from the node's routes; a pod
/// without a route through such an interface is said to be unwired.
#[test]
fn enforce_binds_pods_to_their_routed_interfaces() {
    if !root_available() {
        return;
    }
    let ns = Netns(format!("netfence-cli-ifs-{}", std::process::id()));
    assert!(
        Command::new("ip")
            .args(["netns", "add", &ns.0])
            .status()
            .unwrap()
            .success()
    );
    let plain = netfence(&[
        "enforce",
        "examples/nodes",
        "--node",
        "node-a",
        "--netns",
        &ns.0,
    ]);
    assert_eq!(plain.code, 0, "{}", plain.stderr);
    assert!(
        plain.stderr.contains("--pod-interface-prefix"),
        "{}",
        plain.stderr
    );
    assert!(!table(&ns.0).contains("spoofed source"));
    let bound = netfence(&[
        "enforce",
        "examples/nodes",
        "--node",
        "node-a",
        "--netns",
        &ns.0,
        "--pod-interface-prefix",
        "cali",
    ]);
    assert_eq!(bound.code, 0, "{}", bound.stderr);
    assert!(
        bound
            .stderr
            .contains("no host route through a `cali*` interface"),
        "{}",
        bound.stderr
    );
    let t = table(&ns.0);
    assert!(t.contains("iifname \"cali*\""), "{t}");
    assert!(t.contains("spoofed source from a pod interface"), "{t}");
}
