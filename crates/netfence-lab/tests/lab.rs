//! The lab against the engine: real packets between network namespaces.
//!
//! These tests need root, iproute2 and nftables. Without them they are skipped,
//! unless `NETFENCE_REQUIRE_LAB=1` (set by `.ci/run`), which makes a missing
//! capability a failure.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use netfence_engine::Engine;
use netfence_lab::probe::{self, Outcome, ProbeSpec};
use netfence_lab::{Lab, LabReport, net};
use netfence_model::{Cluster, LoadOptions, Protocol, Sources, load};
use netfence_nft::apply::Target;

/// Lab tests share the machine's namespaces and CPU: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// The lab lock, or `None` when the lab cannot run here (and need not).
fn lab_turn() -> Option<std::sync::MutexGuard<'static, ()>> {
    let guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    lab_available().then_some(guard)
}

fn lab_available() -> bool {
    match netfence_lab::check_capabilities() {
        Ok(()) => true,
        Err(e) if std::env::var("NETFENCE_REQUIRE_LAB").as_deref() == Ok("1") => {
            panic!("NETFENCE_REQUIRE_LAB=1 but the lab cannot run: {e}")
        }
        Err(e) => {
            eprintln!("skipping lab test: {e}");
            false
        }
    }
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn load_files(files: &[(String, String, bool)]) -> Cluster {
    let mut sources = Sources::default();
    for (name, text, overlay) in files {
        let id = sources.add(name.clone(), text.clone());
        sources.files[id.0 as usize].overlay = *overlay;
    }
    match load(&mut sources, &LoadOptions::default()) {
        Ok(l) => l.cluster,
        Err(d) => panic!("{}", netfence_model::diag::render_short(&d, &sources)),
    }
}

fn load_dir(dir: &Path) -> Cluster {
    let mut sources = Sources::default();
    let diags = netfence_model::read_inputs(&[dir.to_path_buf()], &mut sources, false);
    assert!(diags.is_empty(), "{diags:?}");
    match load(&mut sources, &LoadOptions::default()) {
        Ok(l) => l.cluster,
        Err(d) => panic!("{}", netfence_model::diag::render_short(&d, &sources)),
    }
}

fn conformance_dir() -> PathBuf {
    repo().join("fixtures/conformance")
}

fn conformance_model() -> (String, String, bool) {
    let path = conformance_dir().join("_model.yaml");
    (
        path.display().to_string(),
        std::fs::read_to_string(&path).unwrap(),
        false,
    )
}

/// The model plus one scenario's manifests.
fn scenario(path: &Path) -> Cluster {
    let text = std::fs::read_to_string(path).unwrap();
    let (_, manifests) = netfence_model::fixture::split(&text).unwrap();
    load_files(&[
        conformance_model(),
        (path.display().to_string(), manifests, true),
    ])
}

fn assert_no_mismatch(what: &str, report: &LabReport) {
    let bad: Vec<String> = report
        .probes
        .iter()
        .filter(|p| p.is_mismatch())
        .map(|p| format!("{p:?}"))
        .collect();
    assert!(
        bad.is_empty(),
        "{what}: {} mismatch(es):\n{}",
        bad.len(),
        bad.join("\n")
    );
    assert_eq!(report.mismatches, 0);
}

#[test]
fn every_conformance_scenario_enforced_equals_the_engine() {
    let Some(_turn) = lab_turn() else { return };
    let base = load_files(&[conformance_model()]);
    // One lab, one node; each scenario is enforced on it in turn, which also
    // exercises enforce's delta path 59 times.
    let lab = Lab::up(&base, 1).unwrap();
    let files = netfence_model::fixture::files(&conformance_dir()).unwrap();
    assert!(files.len() >= 59, "conformance scenarios missing");
    let mut probes = 0;
    for path in &files {
        let cluster = lab.adopt(&scenario(path));
        lab.flush_conntrack();
        lab.enforce(&cluster, false).unwrap();
        let report = lab.probe(&cluster).unwrap();
        assert!(
            report.probes.len() >= 9 * 8 * 4,
            "{}: too few probes",
            path.display()
        );
        // SCTP is probed too (raw INITs).
        assert!(report.probes.iter().any(|p| p.protocol == Protocol::Sctp));
        assert_no_mismatch(&path.display().to_string(), &report);
        probes += report.probes.len();
    }
    eprintln!("{} scenarios, {probes} probes, 0 mismatches", files.len());
}

/// The admin policy conformance suites of both API generations (upstream's
/// network-policy-api tests, transcribed in fixtures/admin-conformance),
/// each scenario enforced on a two-node lab (the model's two nodes) and every
/// pod pair probed on every declared port, SCTP included: the kernel equals
/// the engine, which the fixtures' own checks hold to upstream's answers.
/// The hostNetwork pods (upstream's centaurs, the node peers) listen on their
/// node's address, so node peers go through packets too, including a pod
/// reaching its own node; and every upstream check the lab can probe is
/// observed as upstream expects.
#[test]
fn admin_conformance_scenarios_enforced_equal_the_engine() {
    let Some(_turn) = lab_turn() else { return };
    // One lab per suite, side by side: the time goes into waiting for denied
    // probes to time out, not into the CPU.
    let counts: Vec<(usize, usize, usize, usize, usize)> = std::thread::scope(|scope| {
        let runs: Vec<_> = ["admin-conformance/v1alpha2", "admin-conformance/v1alpha1"]
            .into_iter()
            .map(|suite| scope.spawn(move || admin_suite_in_the_lab(suite)))
            .collect();
        runs.into_iter().map(|r| r.join().unwrap()).collect()
    });
    let scenarios: usize = counts.iter().map(|c| c.0).sum();
    let probes: usize = counts.iter().map(|c| c.1).sum();
    let denied: usize = counts.iter().map(|c| c.2).sum();
    let checks: usize = counts.iter().map(|c| c.3).sum();
    let node_checks: usize = counts.iter().map(|c| c.4).sum();
    assert!(
        denied > 1000 && probes - denied > 1000,
        "{denied} of {probes} denied"
    );
    assert!(checks >= 590, "{checks} upstream checks probed");
    assert!(
        node_checks >= 18,
        "{node_checks} upstream checks towards node peers probed"
    );
    eprintln!(
        "{scenarios} admin scenarios, {probes} probes ({denied} denied), 0 mismatches; {checks} upstream checks observed as expected ({node_checks} towards hostNetwork pods)"
    );
}

/// (scenarios, probes, denied probes, upstream checks probed, of which
/// towards hostNetwork pods) of one suite, each scenario enforced on one
/// two-node lab in turn.
fn admin_suite_in_the_lab(suite: &str) -> (usize, usize, usize, usize, usize) {
    let dir = repo().join("fixtures").join(suite);
    let model_path = dir.join("_model.yaml");
    let model = (
        model_path.display().to_string(),
        std::fs::read_to_string(&model_path).unwrap(),
        false,
    );
    let lab = Lab::up(&load_files(std::slice::from_ref(&model)), 2).unwrap();
    let files = netfence_model::fixture::files(&dir).unwrap();
    assert!(files.len() >= 58, "{suite}: scenarios missing");
    let (mut probes, mut denied, mut checks, mut node_checks, mut total) = (0, 0, 0, 0, 0);
    let hosts: Vec<String> = lab.plan.hosts.iter().map(|h| h.id.clone()).collect();
    assert!(!hosts.is_empty(), "{suite}: the hostNetwork pods are wired");
    for path in &files {
        let text = std::fs::read_to_string(path).unwrap();
        let (header, manifests) = netfence_model::fixture::split(&text).unwrap();
        let cluster = lab.adopt(&load_files(&[
            model.clone(),
            (path.display().to_string(), manifests, true),
        ]));
        assert!(!cluster.admin_policies.is_empty(), "{}", path.display());
        lab.flush_conntrack();
        lab.enforce(&cluster, false).unwrap();
        let report = lab.probe(&cluster).unwrap();
        assert!(
            !report.probes.is_empty(),
            "{}: nothing probed",
            path.display()
        );
        assert_no_mismatch(&path.display().to_string(), &report);
        denied += report.probes.iter().filter(|p| !p.expected).count();
        probes += report.probes.len();
        for check in header["checks"].as_array().into_iter().flatten() {
            let protocol = match check["protocol"].as_str().unwrap() {
                "TCP" => Protocol::Tcp,
                "UDP" => Protocol::Udp,
                _ => Protocol::Sctp,
            };
            let probe = report.probes.iter().find(|p| {
                p.src == check["src"].as_str().unwrap()
                    && p.dst == check["dst"].as_str().unwrap()
                    && p.protocol == protocol
                    && u64::from(p.port) == check["port"].as_u64().unwrap()
            });
            total += 1;
            let Some(probe) = probe else { continue };
            assert_eq!(
                probe.observed,
                check["allowed"].as_bool().unwrap(),
                "{}: {check}",
                path.display()
            );
            checks += 1;
            if hosts.contains(&probe.dst) {
                node_checks += 1;
            }
        }
    }
    // Every upstream check is between pods the lab wires, on ports they serve.
    assert_eq!(
        checks, total,
        "{suite}: upstream checks the lab did not probe"
    );
    (files.len(), probes, denied, checks, node_checks)
}

#[test]
fn bundled_examples_on_two_nodes_equal_the_engine() {
    let Some(_turn) = lab_turn() else { return };
    for example in ["guide", "guide-no-dns", "shop", "nodes"] {
        let input = load_dir(&repo().join("examples").join(example));
        let lab = Lab::up(&input, 2).unwrap();
        // Both nodes have pods: each enforces only its own.
        for n in 0..2 {
            assert!(
                lab.plan.pods.iter().any(|p| p.node == n),
                "{example}: node {n} empty"
            );
        }
        let cluster = lab.plan.cluster.clone();
        lab.enforce(&cluster, false).unwrap();
        let report = lab.probe(&cluster).unwrap();
        assert!(!report.probes.is_empty());
        assert!(
            report.probes.iter().any(|p| !p.expected),
            "{example}: no denial probed"
        );
        assert_no_mismatch(example, &report);
    }
}

/// The upstream e2e layout (x, y, z × a, b, c) on one node, no policies.
fn conformance_lab() -> Lab {
    Lab::up(&load_files(&[conformance_model()]), 1).unwrap()
}

fn spec(lab: &Lab, src: &str, dst: &str, port: u16) -> ProbeSpec {
    let i = lab.plan.pods.iter().position(|p| p.id == src).unwrap();
    let d = lab.plan.pods.iter().find(|p| p.id == dst).unwrap();
    ProbeSpec {
        src_ns: lab.topology.pod_ns[i].clone(),
        src: lab.plan.pods[i].ip,
        dst: d.ip,
        protocol: Protocol::Tcp,
        port,
    }
}

fn policy_set(name: &str, yaml: &str) -> Cluster {
    load_files(&[conformance_model(), (name.into(), yaml.into(), true)])
}

/// x/a accepts ingress only from namespace `ns` (labelled `ns: NAME`).
fn gate_allowing(ns: &str) -> String {
    format!(
        r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {{name: gate, namespace: x}}
spec:
  podSelector: {{matchLabels: {{pod: a}}}}
  ingress:
  - from:
    - namespaceSelector: {{matchLabels: {{ns: "{ns}"}}}}
"#
    )
}

#[test]
fn alternating_policy_sets_never_blip() {
    let Some(_turn) = lab_turn() else { return };
    let lab = conformance_lab();
    let sets = [
        lab.adopt(&policy_set("a.yaml", &gate_allowing("y"))),
        lab.adopt(&policy_set("b.yaml", &gate_allowing("z"))),
    ];
    let pairs = [
        ("y/a", "x/a"), // allowed by A only
        ("z/a", "x/a"), // allowed by B only
        ("x/b", "y/a"), // allowed by both (y/a is not isolated)
        ("x/b", "x/a"), // denied by both
    ];
    let expected: Vec<[bool; 2]> = pairs
        .iter()
        .map(|(s, d)| {
            let verdict = |c: &Cluster| {
                let e = Engine::new(c);
                e.allows(e.find(s).unwrap(), e.find(d).unwrap(), Protocol::Tcp, 80)
            };
            [verdict(&sets[0]), verdict(&sets[1])]
        })
        .collect();
    assert_eq!(
        expected,
        vec![[true, false], [false, true], [true, true], [false, false]]
    );
    let specs: Vec<ProbeSpec> = pairs.iter().map(|(s, d)| spec(&lab, s, d, 80)).collect();
    let stop = std::sync::atomic::AtomicBool::new(false);
    let observations: Mutex<Vec<(usize, bool)>> = Mutex::new(Vec::new());
    let mut apply_times = Vec::new();
    lab.enforce(&sets[1], false).unwrap();
    std::thread::scope(|scope| {
        for (i, s) in specs.iter().enumerate() {
            let (stop, observations) = (&stop, &observations);
            scope.spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    // One attempt, no retry: a blip must not be masked.
                    let ok = probe::attempt_in(s, Duration::from_millis(500)) == Outcome::Connected;
                    observations.lock().unwrap().push((i, ok));
                }
            });
        }
        for round in 0..100 {
            let started = std::time::Instant::now();
            lab.enforce(&sets[round % 2], false).unwrap();
            apply_times.push(started.elapsed());
            std::thread::sleep(Duration::from_millis(20));
        }
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
    });
    let observations = observations.into_inner().unwrap();
    assert!(observations.len() >= 100, "too few observations");
    for (i, ok) in &observations {
        assert!(
            expected[*i].contains(ok),
            "{:?} observed {ok}, but neither policy set gives that",
            pairs[*i]
        );
    }
    // Both sets were really in force at some point.
    assert!(observations.iter().any(|&(i, ok)| i == 0 && ok));
    assert!(observations.iter().any(|&(i, ok)| i == 1 && ok));
    apply_times.sort();
    eprintln!(
        "{} observations; apply time median {:?}, max {:?}",
        observations.len(),
        apply_times[apply_times.len() / 2],
        apply_times[apply_times.len() - 1]
    );
}

const DENY_ALL_INGRESS_X: &str = r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: default-deny, namespace: x}
spec:
  podSelector: {}
"#;

#[test]
fn audit_mode_drops_nothing_and_records_the_would_be_drops() {
    let Some(_turn) = lab_turn() else { return };
    let lab = conformance_lab();
    let cluster = lab.adopt(&policy_set("deny.yaml", DENY_ALL_INGRESS_X));
    lab.enforce(&cluster, true).unwrap();
    let report = lab.probe(&cluster).unwrap();
    let denied: Vec<_> = report.probes.iter().filter(|p| !p.expected).collect();
    assert!(denied.len() >= 6 * 4, "the policy should deny into x");
    assert!(
        report.probes.iter().all(|p| p.observed),
        "audit mode dropped something"
    );
    let records = lab.drop_records().unwrap();
    let ip = |id: &str| lab.plan.pods.iter().find(|p| p.id == id).unwrap().ip;
    for p in &report.probes {
        let recorded = records.contains_key(&(
            IpAddr::V4(ip(&p.src)),
            IpAddr::V4(ip(&p.dst)),
            p.protocol,
            p.port,
        ));
        assert_eq!(recorded, !p.expected, "drop record for {p:?}");
    }
}

/// A long-lived TCP connection from `src` to `dst`:`port`, served by an echo loop.
fn open_echo_connection(lab: &Lab, src: &str, dst: &str, port: u16) -> TcpStream {
    let dst_index = lab.plan.pods.iter().position(|p| p.id == dst).unwrap();
    let dst_ns = lab.topology.pod_ns[dst_index].clone();
    let listener = std::thread::spawn(move || {
        netfence_lab::serve::enter_netns(&dst_ns).unwrap();
        TcpListener::bind(("0.0.0.0", port)).unwrap()
    })
    .join()
    .unwrap();
    std::thread::spawn(move || {
        if let Ok((mut conn, _)) = listener.accept() {
            let mut buf = [0u8; 64];
            while let Ok(n) = conn.read(&mut buf) {
                if n == 0 || conn.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    });
    let target = SocketAddr::new(IpAddr::V4(spec(lab, src, dst, port).dst), port);
    let src_ns = spec(lab, src, dst, port).src_ns;
    std::thread::spawn(move || {
        netfence_lab::serve::enter_netns(&src_ns).unwrap();
        let s = TcpStream::connect_timeout(&target, Duration::from_secs(2)).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(1500)))
            .unwrap();
        s
    })
    .join()
    .unwrap()
}

fn echoes(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 4];
    stream.write_all(b"ping").is_ok() && stream.read_exact(&mut buf).is_ok() && &buf == b"ping"
}

#[test]
fn established_connections_survive_unless_revoked() {
    let Some(_turn) = lab_turn() else { return };
    let lab = conformance_lab();
    let open = lab.adopt(&load_files(&[conformance_model()]));
    let deny = lab.adopt(&policy_set("deny.yaml", DENY_ALL_INGRESS_X));
    let node = Target::Netns(lab.topology.node_ns[0].clone());
    lab.enforce(&open, false).unwrap();

    // Default: a connection opened before the deny keeps working (§1.7).
    let mut kept = open_echo_connection(&lab, "y/a", "x/a", 9000);
    assert!(echoes(&mut kept));
    lab.enforce(&deny, false).unwrap();
    assert!(
        echoes(&mut kept),
        "established connection cut without --revoke-established"
    );
    // A new connection is denied.
    let new = probe::attempt_in(&spec(&lab, "y/b", "x/a", 80), Duration::from_millis(500));
    assert_eq!(new, Outcome::TimedOut);

    // With revocation, the denied connection is cut when the set is applied.
    lab.enforce(&open, false).unwrap();
    let mut cut = open_echo_connection(&lab, "y/c", "x/a", 9001);
    assert!(echoes(&mut cut));
    lab.enforce(&deny, false).unwrap();
    let engine = Engine::new(&deny);
    let revoked = netfence_nft::revoke::revoke_denied(&node, &engine).unwrap();
    assert!(
        revoked.iter().any(|f| f.dport == 9001),
        "the connection to x/a:9001 was not revoked: {revoked:?}"
    );
    assert!(!echoes(&mut cut), "revoked connection still carries data");
    // Issue 15.6: that drop is recorded as what it is, not only counted.
    let records = netfence_nft::status::read_drop_set(
        &node,
        &netfence_nft::compile::revoked_set_name(netfence_nft::ruleset::Family::V4),
    )
    .unwrap();
    assert!(
        records.iter().any(|k| k.3 == 9001),
        "the revoked connection's drop left no record: {records:?}"
    );
}

fn host_links() -> Vec<String> {
    let out = std::process::Command::new("ip")
        .args(["-o", "link", "show"])
        .output()
        .unwrap();
    let mut names: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split(':').nth(1).map(|n| n.trim().to_string()))
        .collect();
    names.sort();
    names
}

#[test]
fn the_lab_is_hermetic_and_leaves_nothing_behind() {
    let Some(_turn) = lab_turn() else { return };
    let links_before = host_links();
    let lab = Lab::up(&load_dir(&repo().join("examples/shop")), 2).unwrap();
    let names = lab.topology.all_namespaces();
    let existing = net::existing_lab_namespaces();
    assert!(names.iter().all(|n| existing.contains(n)));
    // Nothing appeared in the host's namespace.
    assert_eq!(host_links(), links_before);
    for ns in &names {
        let out = std::process::Command::new("ip")
            .args(["-n", ns, "-o", "route", "show"])
            .output()
            .unwrap();
        let routes = String::from_utf8_lossy(&out.stdout).to_string();
        // Pods route everything to their node; nodes have no default route, so
        // nothing can leave the lab.
        if ns.contains("-n") && !ns.contains("-p") {
            assert!(
                !routes.contains("default"),
                "{ns} has a default route: {routes}"
            );
        }
        let out = std::process::Command::new("ip")
            .args(["-n", ns, "-o", "link", "show"])
            .output()
            .unwrap();
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let name = line.split(':').nth(1).unwrap_or("").trim();
            let name = name.split('@').next().unwrap_or(name);
            assert!(
                name == "lo"
                    || name == "eth0"
                    || name.starts_with("nfp")
                    || name.starts_with("nfn"),
                "unexpected interface {name} in {ns}"
            );
        }
    }
    drop(lab);
    let left = net::existing_lab_namespaces();
    assert!(
        names.iter().all(|n| !left.contains(n)),
        "left behind: {left:?}"
    );
    assert_eq!(host_links(), links_before);
}

#[test]
fn pods_cannot_spoof_or_use_unknown_interfaces() {
    let Some(_turn) = lab_turn() else { return };
    let lab = conformance_lab();
    let cluster = lab.adopt(&policy_set("y.yaml", &gate_allowing("y")));
    lab.enforce(&cluster, false).unwrap();
    // z/a may not reach x/a; pretending to be y/a (adding y/a's IP as a second
    // address and using it as the source) must not help.
    let z = lab.plan.pods.iter().position(|p| p.id == "z/a").unwrap();
    let y_ip = lab.plan.pods.iter().find(|p| p.id == "y/a").unwrap().ip;
    let x_ip = lab.plan.pods.iter().find(|p| p.id == "x/a").unwrap().ip;
    let z_ns = lab.topology.pod_ns[z].clone();
    let status = std::process::Command::new("ip")
        .args([
            "-n",
            &z_ns,
            "addr",
            "add",
            &format!("{y_ip}/32"),
            "dev",
            "eth0",
        ])
        .status()
        .unwrap();
    assert!(status.success());
    let spoofed = std::thread::spawn(move || {
        netfence_lab::serve::enter_netns(&z_ns).unwrap();
        let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        s.bind(&SocketAddr::new(IpAddr::V4(y_ip), 0).into())
            .unwrap();
        s.connect_timeout(
            &SocketAddr::new(IpAddr::V4(x_ip), 80).into(),
            Duration::from_millis(700),
        )
        .is_ok()
    })
    .join()
    .unwrap();
    assert!(!spoofed, "a spoofed source address got through");

    // Issue 15.6: a pod interface the ruleset does not bind (a pod wired after
    // the last enforce) is dropped and recorded as such.
    let node = lab.topology.node_ns[0].clone();
    let ip = |ns: &str, args: &[&str]| {
        let ok = std::process::Command::new("ip")
            .args(["-n", ns])
            .args(args)
            .status()
            .unwrap()
            .success();
        assert!(ok, "ip -n {ns} {args:?}");
    };
    let rogue_ns = format!("{}-rogue", lab.topology.node_ns[0]);
    struct Gone(String);
    impl Drop for Gone {
        fn drop(&mut self) {
            let _ = std::process::Command::new("ip")
                .args(["netns", "del", &self.0])
                .status();
        }
    }
    let _gone = Gone(rogue_ns.clone());
    assert!(
        std::process::Command::new("ip")
            .args(["netns", "add", &rogue_ns])
            .status()
            .unwrap()
            .success()
    );
    let rogue_if = format!("{}rogue", netfence_lab::plan::POD_INTERFACE_PREFIX);
    ip(
        &node,
        &[
            "link", "add", &rogue_if, "type", "veth", "peer", "name", "eth0", "netns", &rogue_ns,
        ],
    );
    let rogue_ip: Ipv4Addr = "10.250.253.1".parse().unwrap();
    ip(&node, &["link", "set", &rogue_if, "up"]);
    ip(
        &node,
        &["route", "add", &format!("{rogue_ip}/32"), "dev", &rogue_if],
    );
    ip(
        &rogue_ns,
        &["addr", "add", &format!("{rogue_ip}/32"), "dev", "eth0"],
    );
    ip(&rogue_ns, &["link", "set", "eth0", "up"]);
    ip(&rogue_ns, &["link", "set", "lo", "up"]);
    ip(&rogue_ns, &["route", "add", "default", "dev", "eth0"]);
    // What it sends is a spoofed source (no address is bound to it); what is
    // sent to it meets the unbound-interface rule.
    let (x_ns, x_b) = pod_at(&lab, "x/b");
    let listener = udp_in(
        &rogue_ns,
        SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 9302),
    );
    let sender = udp_in(&x_ns, SocketAddr::new(IpAddr::V4(x_b), 0));
    for _ in 0..3 {
        sender
            .send_to(b"to-rogue", SocketAddr::new(IpAddr::V4(rogue_ip), 9302))
            .unwrap();
    }
    assert!(
        received(&listener).is_empty(),
        "traffic to an unbound pod interface got through"
    );
    let records = netfence_nft::status::read_drop_set(
        &Target::Netns(node),
        &netfence_nft::compile::unbound_set_name(netfence_nft::ruleset::Family::V4),
    )
    .unwrap();
    assert!(
        records
            .iter()
            .any(|k| k.1 == IpAddr::V4(rogue_ip) && k.3 == 9302),
        "the unbound interface's drop left no record: {records:?}"
    );
}

#[test]
fn external_hosts_probe_ip_block_rules() {
    let Some(_turn) = lab_turn() else { return };
    // The shop's egress to the internet excepts cloud metadata and one partner
    // range: each range the ipBlocks distinguish gets an external host.
    let lab = Lab::up_with(&load_dir(&repo().join("examples/shop")), 2, true).unwrap();
    assert!(lab.plan.externals.len() >= 3, "{:?}", lab.plan.externals);
    assert!(
        lab.plan
            .externals
            .iter()
            .any(|x| x.ip.to_string() == "169.254.169.254")
    );
    let cluster = lab.plan.cluster.clone();
    lab.enforce(&cluster, false).unwrap();
    let report = lab.probe(&cluster).unwrap();
    let to_external: Vec<_> = report
        .probes
        .iter()
        .filter(|p| p.dst.starts_with("external:"))
        .collect();
    assert!(
        to_external.iter().any(|p| p.expected),
        "no allowed egress to an external host"
    );
    assert!(
        to_external.iter().any(|p| !p.expected),
        "no denied egress to an external host"
    );
    // Only kube-system (no policies there) may reach the metadata address.
    let metadata: Vec<_> = to_external
        .iter()
        .filter(|p| p.dst == "external:169.254.169.254")
        .collect();
    assert!(!metadata.is_empty());
    for p in metadata {
        assert_eq!(p.observed, p.src.starts_with("kube-system/"), "{p:?}");
    }
    assert!(report.probes.iter().any(|p| p.src.starts_with("external:")));
    assert_no_mismatch("shop with external hosts", &report);
}

/// The namespace and address of a lab pod.
fn pod_at(lab: &Lab, id: &str) -> (String, Ipv4Addr) {
    let i = lab.plan.pods.iter().position(|p| p.id == id).unwrap();
    (lab.topology.pod_ns[i].clone(), lab.plan.pods[i].ip)
}

/// Gives the pod namespace `ns` a second address (what a pod with
/// CAP_NET_ADMIN can do to itself).
fn add_address(ns: &str, ip: Ipv4Addr) {
    address(ns, "add", ip);
}

fn address(ns: &str, verb: &str, ip: Ipv4Addr) {
    let ok = std::process::Command::new("ip")
        .args(["-n", ns, "addr", verb, &format!("{ip}/32"), "dev", "eth0"])
        .status()
        .unwrap()
        .success();
    assert!(ok);
}

/// A UDP socket in `ns` bound to `from`.
fn udp_in(ns: &str, from: SocketAddr) -> std::net::UdpSocket {
    let ns = ns.to_string();
    std::thread::spawn(move || {
        netfence_lab::serve::enter_netns(&ns).unwrap();
        let s = std::net::UdpSocket::bind(from).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(800)))
            .unwrap();
        s
    })
    .join()
    .unwrap()
}

/// What `socket` receives before its read timeout.
fn received(socket: &std::net::UdpSocket) -> Vec<Vec<u8>> {
    let mut got = Vec::new();
    let mut buf = [0u8; 64];
    while let Ok((n, _)) = socket.recv_from(&mut buf) {
        got.push(buf[..n].to_vec());
    }
    got
}

/// Issue 15.1: a pod may not ride on another pod's established flow, nor forge
/// its replies. y/a has a real UDP exchange with x/a:9000 (allowed); z/a (denied
/// by x/a's policy) sends with y/a's address and port into that flow, and forges
/// x/a's reply to y/a. Both must be dropped.
#[test]
fn spoofed_packets_cannot_ride_on_established_flows() {
    let Some(_turn) = lab_turn() else { return };
    let lab = conformance_lab();
    let cluster = lab.adopt(&policy_set("y.yaml", &gate_allowing("y")));
    lab.enforce(&cluster, false).unwrap();
    let (s_ns, s_ip) = pod_at(&lab, "x/a");
    let (a_ns, a_ip) = pod_at(&lab, "y/a");
    let (e_ns, _) = pod_at(&lab, "z/a");
    let server = SocketAddr::new(IpAddr::V4(s_ip), 9000);
    let client = SocketAddr::new(IpAddr::V4(a_ip), 5555);
    let s = udp_in(
        &s_ns,
        SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 9000),
    );
    let a = udp_in(&a_ns, client);
    a.send_to(b"hello", server).unwrap();
    let mut buf = [0u8; 16];
    let (n, from) = s.recv_from(&mut buf).unwrap();
    assert_eq!((&buf[..n], from), (&b"hello"[..], client));
    s.send_to(b"ack", client).unwrap();
    let (n, _) = a.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"ack", "the allowed exchange did not happen");

    // The attacker takes each address in turn (holding both, it would deliver
    // to itself) and sends from the flow's own ports.
    add_address(&e_ns, a_ip);
    let forged_request = udp_in(&e_ns, client);
    forged_request.send_to(b"forged-request", server).unwrap();
    drop(forged_request);
    address(&e_ns, "del", a_ip);
    add_address(&e_ns, s_ip);
    let forged_reply = udp_in(&e_ns, server);
    forged_reply.send_to(b"forged-reply", client).unwrap();
    assert!(
        !received(&s).contains(&b"forged-request".to_vec()),
        "a packet with y/a's source from z/a's interface reached x/a"
    );
    assert!(
        !received(&a).contains(&b"forged-reply".to_vec()),
        "a forged reply of x/a from z/a's interface reached y/a"
    );
    // The real flow still works.
    a.send_to(b"again", server).unwrap();
    assert_eq!(received(&s), vec![b"again".to_vec()]);
}

/// Issue 15.5: connections opened before the first `enforce` (which conntrack
/// has never seen) survive `--audit` whatever the policy says, and their would-be
/// drops are recorded; a first real enforce keeps the ones the policy allows.
#[test]
fn audit_and_first_enforce_keep_flows_opened_before() {
    let Some(_turn) = lab_turn() else { return };
    let lab = conformance_lab();
    let gate = lab.adopt(&policy_set("y.yaml", &gate_allowing("y")));
    let mut allowed = open_echo_connection(&lab, "y/a", "x/a", 9100);
    let mut denied = open_echo_connection(&lab, "z/a", "x/a", 9101);
    assert!(echoes(&mut allowed) && echoes(&mut denied));

    lab.enforce(&gate, true).unwrap();
    assert!(echoes(&mut allowed), "audit mode cut an allowed connection");
    assert!(echoes(&mut denied), "audit mode cut a denied connection");
    let records = lab.drop_records().unwrap();
    let (_, z) = pod_at(&lab, "z/a");
    let (_, x) = pod_at(&lab, "x/a");
    assert!(
        records.contains_key(&(IpAddr::V4(z), IpAddr::V4(x), Protocol::Tcp, 9101)),
        "audit mode did not record the would-be drop: {records:?}"
    );

    // As if conntrack had never seen the flows: the first real enforce.
    lab.flush_conntrack();
    lab.enforce(&gate, false).unwrap();
    assert!(
        echoes(&mut allowed),
        "the first enforce cut a connection the policy allows"
    );
}

fn nft_in(ns: &str, args: &[&str]) -> String {
    let out = std::process::Command::new("ip")
        .args(["netns", "exec", ns, "nft"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Issue 15.3: a deny chain flushed by hand makes the table fail open; `status`
/// says the kernel differs from what was applied, and the next `enforce`
/// repairs it instead of trusting the generation it finds.
#[test]
fn drift_in_the_kernel_is_reported_and_repaired() {
    let Some(_turn) = lab_turn() else { return };
    let lab = conformance_lab();
    let cluster = lab.adopt(&policy_set("y.yaml", &gate_allowing("y")));
    lab.enforce(&cluster, false).unwrap();
    let node_ns = lab.topology.node_ns[0].clone();
    let node = Target::Netns(node_ns.clone());
    let denied = spec(&lab, "z/a", "x/a", 80);
    assert_eq!(
        probe::attempt_in(&denied, Duration::from_millis(500)),
        Outcome::TimedOut
    );
    assert!(
        netfence_nft::status::status(&node)
            .unwrap()
            .drift
            .is_empty()
    );

    let chains = nft_in(&node_ns, &["list", "table", "inet", "netfence"]);
    let deny = chains
        .split_whitespace()
        .find(|w| w.starts_with("deny_ingress_"))
        .unwrap()
        .to_string();
    nft_in(&node_ns, &["flush", "chain", "inet", "netfence", &deny]);
    assert_eq!(
        probe::attempt_in(&denied, Duration::from_millis(500)),
        Outcome::Connected,
        "the flushed deny chain should have opened the table"
    );
    let drift = netfence_nft::status::status(&node).unwrap().drift;
    assert!(
        drift.iter().any(|d| d.contains(&deny)),
        "status does not report the flushed chain: {drift:?}"
    );

    let plans = lab.enforce(&cluster, false).unwrap();
    assert!(
        plans[0].repaired.iter().any(|r| r.contains(&deny)),
        "enforce did not repair {deny}: {}",
        plans[0].summary()
    );
    assert_eq!(
        probe::attempt_in(&denied, Duration::from_millis(500)),
        Outcome::TimedOut,
        "still fail-open after enforce"
    );
    assert!(
        netfence_nft::status::status(&node)
            .unwrap()
            .drift
            .is_empty()
    );
    let again = &lab.enforce(&cluster, false).unwrap()[0];
    assert!(again.is_empty(), "{}\n{}", again.summary(), again.text());
}

/// Issue 15.10: what `enforce` records is for root only, and a lab takes its
/// nodes' records with it.
#[test]
fn the_lab_keeps_state_private_and_leaves_no_files() {
    use std::os::unix::fs::PermissionsExt;
    let Some(_turn) = lab_turn() else { return };
    let lab = Lab::up(&load_files(&[conformance_model()]), 2).unwrap();
    let cluster = lab.plan.cluster.clone();
    lab.enforce(&cluster, false).unwrap();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(Path::new(netfence_nft::status::STATE_DIR)), 0o700);
    let mut files = Vec::new();
    for ns in &lab.topology.node_ns {
        let target = Target::Netns(ns.clone());
        for path in [
            netfence_nft::status::sidecar_path(&target),
            netfence_nft::status::record_path(&target),
        ] {
            assert_eq!(mode(&path), 0o600, "{}", path.display());
            files.push(path);
        }
    }
    // `netfence-lab-<pid>-<time>-n0`: what every file of this lab's nodes names.
    let prefix = lab.topology.node_ns[0].clone();
    drop(lab);
    for path in &files {
        assert!(!path.exists(), "{} left behind", path.display());
    }
    let stem = &prefix[..prefix.len() - 3];
    let left: Vec<String> = std::fs::read_dir(netfence_nft::status::STATE_DIR)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.contains(stem))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// Compiles `cluster` for the lab's node 0 as the CLI does (no interface names
/// from the lab), with interfaces discovered from the node's routes when
/// `prefix` is given, and applies it.
fn enforce_like_the_cli(lab: &Lab, cluster: &Cluster, prefix: Option<&str>) {
    let engine = Engine::new(cluster);
    let node = Target::Netns(lab.topology.node_ns[0].clone());
    let interfaces = prefix.map(|prefix| {
        let routes = netfence_nft::discover::host_routes(&node, prefix).unwrap();
        let pods: Vec<(String, Vec<IpAddr>)> = engine
            .pods()
            .map(|p| engine.endpoint(p))
            .map(|e| (e.id.clone(), e.ips.clone()))
            .collect();
        netfence_nft::discover::interfaces(prefix, &routes, &pods)
    });
    let compiled = netfence_nft::compile(
        &engine,
        &netfence_nft::CompileOptions {
            node: Some(lab.plan.nodes[0].clone()),
            interfaces,
            audit: false,
        },
    );
    netfence_nft::apply::enforce(&node, &compiled.ruleset, false, None).unwrap();
}

/// Issue 15.4: without interface knowledge (the CLI's `enforce` without
/// `--pod-interface-prefix`), the reverse-path check drops a pod sending from
/// an address that belongs to no pod, or from another pod's address; with the
/// prefix, the pods' interfaces are found in the node's routes and the forged
/// source is dropped by the binding. The policy is enforced exactly the same in
/// both modes.
#[test]
fn unknown_and_forged_sources_are_dropped_with_or_without_interfaces() {
    let Some(_turn) = lab_turn() else { return };
    let lab = conformance_lab();
    let cluster = lab.adopt(&policy_set("y.yaml", &gate_allowing("y")));
    let (e_ns, _) = pod_at(&lab, "z/a");
    let (t_ns, t_ip) = pod_at(&lab, "y/b");
    let (_, other_ip) = pod_at(&lab, "y/c");
    let unknown: Ipv4Addr = "10.250.254.254".parse().unwrap();
    add_address(&e_ns, unknown);
    add_address(&e_ns, other_ip);
    let target = SocketAddr::new(IpAddr::V4(t_ip), 9300);
    let listener = udp_in(
        &t_ns,
        SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 9300),
    );
    let from_unknown = udp_in(&e_ns, SocketAddr::new(IpAddr::V4(unknown), 0));
    let as_other = udp_in(&e_ns, SocketAddr::new(IpAddr::V4(other_ip), 0));
    // Without a ruleset both get through: the setup is sound.
    from_unknown.send_to(b"before", target).unwrap();
    assert_eq!(received(&listener), vec![b"before".to_vec()]);

    for prefix in [None, Some(netfence_lab::plan::POD_INTERFACE_PREFIX)] {
        enforce_like_the_cli(&lab, &cluster, prefix);
        from_unknown.send_to(b"unknown", target).unwrap();
        as_other.send_to(b"as-y/c", target).unwrap();
        assert!(
            received(&listener).is_empty(),
            "a forged source got through (interface prefix {prefix:?})"
        );
        // While z/a holds y/c's address, y/c's probes to z/a are answered
        // to itself: give it back for the probes.
        address(&e_ns, "del", other_ip);
        let report = lab.probe(&cluster).unwrap();
        add_address(&e_ns, other_ip);
        assert_no_mismatch(&format!("interface prefix {prefix:?}"), &report);
    }
}

/// Issue 15.4: IPv6 is held to the same rule as IPv4 without interface
/// knowledge. The pods have no IPv6 in the input; a pod gives itself an IPv6
/// address and sends to another pod's IPv6 address through the node (which
/// forwards IPv6): before enforce it arrives, after an address-only enforce it
/// is dropped and recorded as spoofed.
#[test]
fn unknown_ipv6_sources_are_dropped_without_interfaces() {
    let Some(_turn) = lab_turn() else { return };
    let lab = conformance_lab();
    let cluster = lab.adopt(&policy_set("y.yaml", &gate_allowing("y")));
    let node = lab.topology.node_ns[0].clone();
    let pod_if = |id: &str| {
        lab.plan
            .pods
            .iter()
            .find(|p| p.id == id)
            .unwrap()
            .interface
            .clone()
    };
    let (e_ns, _) = pod_at(&lab, "z/a");
    let (t_ns, _) = pod_at(&lab, "y/b");
    let ip = |ns: &str, args: &str| {
        let ok = std::process::Command::new("ip")
            .args(["-n", ns])
            .args(args.split_whitespace())
            .status()
            .unwrap()
            .success();
        assert!(ok, "ip -n {ns} {args}");
    };
    let sysctl = std::process::Command::new("ip")
        .args(["netns", "exec", &node, "sysctl", "-q", "-w"])
        .arg("net.ipv6.conf.all.forwarding=1")
        .status()
        .unwrap();
    assert!(sysctl.success());
    let (e_if, t_if) = (pod_if("z/a"), pod_if("y/b"));
    ip(&node, &format!("-6 addr add fe80::1/64 dev {e_if} nodad"));
    ip(&node, &format!("-6 addr add fe80::1/64 dev {t_if} nodad"));
    ip(&node, &format!("-6 route add fd00::2/128 dev {t_if}"));
    ip(&t_ns, "-6 addr add fd00::2/128 dev eth0 nodad");
    ip(&e_ns, "-6 addr add fd00::99/128 dev eth0 nodad");
    ip(&e_ns, "-6 route add default via fe80::1 dev eth0");
    let v6 = |s: &str| s.parse::<std::net::Ipv6Addr>().unwrap();
    let listener = udp_in(
        &t_ns,
        SocketAddr::new(IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED), 9301),
    );
    let sender = udp_in(&e_ns, SocketAddr::new(IpAddr::V6(v6("fd00::99")), 0));
    let target = SocketAddr::new(IpAddr::V6(v6("fd00::2")), 9301);
    // Neighbour discovery may need a moment: retry until the path works.
    let mut before = Vec::new();
    for _ in 0..5 {
        sender.send_to(b"before", target).unwrap();
        before = received(&listener);
        if !before.is_empty() {
            break;
        }
    }
    assert!(
        !before.is_empty(),
        "the IPv6 path does not work before enforce"
    );

    enforce_like_the_cli(&lab, &cluster, None);
    sender.send_to(b"after", target).unwrap();
    sender.send_to(b"after", target).unwrap();
    assert!(
        received(&listener).is_empty(),
        "an IPv6 source of no pod got through an address-only ruleset"
    );
    let spoofed = netfence_nft::status::read_drop_set(
        &Target::Netns(node),
        &netfence_nft::compile::spoofed_set_name(netfence_nft::ruleset::Family::V6),
    )
    .unwrap();
    assert!(
        spoofed.iter().any(|k| k.0 == IpAddr::V6(v6("fd00::99"))),
        "not recorded as spoofed: {spoofed:?}"
    );
}

/// Issue 15.6: two pods flood denied UDP flows (80,000 distinct flows, more than
/// the drop records hold); a third pod's denied flow is still recorded,
/// `status` counts what was not recorded and stays short.
#[test]
fn drop_record_floods_are_rate_limited_per_source() {
    let Some(_turn) = lab_turn() else { return };
    let lab = conformance_lab();
    let cluster = lab.adopt(&policy_set("y.yaml", &gate_allowing("y")));
    lab.enforce(&cluster, false).unwrap();
    let (_, x_ip) = pod_at(&lab, "x/a");
    for flooder in ["z/a", "z/c"] {
        let (ns, _) = pod_at(&lab, flooder);
        let socket = udp_in(&ns, SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0));
        for port in 1..=40_000u16 {
            let _ = socket.send_to(b"x", SocketAddr::new(IpAddr::V4(x_ip), port));
        }
    }
    let (victim_ns, victim_ip) = pod_at(&lab, "z/b");
    let victim = udp_in(
        &victim_ns,
        SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
    );
    victim
        .send_to(b"v", SocketAddr::new(IpAddr::V4(x_ip), 50_000))
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let node = Target::Netns(lab.topology.node_ns[0].clone());
    let status = netfence_nft::status::status(&node).unwrap();
    assert!(
        status
            .dropped
            .iter()
            .any(|d| d.port == 50_000 && d.src == "z/b" && d.dst == "x/a"),
        "the flood hid {victim_ip}'s dropped flow"
    );
    assert!(
        status.lost_records.rate_limited > 70_000,
        "{:?}",
        status.lost_records
    );
    let text = netfence_nft::status::render_text(&status);
    assert!(text.lines().count() < 80, "{} lines", text.lines().count());
    assert!(text.contains("left no record"), "{text}");
}

/// Issue 15.7: a pod whose egress the policies deny cannot reach an address of
/// its own node that the input does not list (the engine sees an external
/// address); a pod that is not egress-isolated still can.
#[test]
fn the_node_itself_is_held_to_egress_policy() {
    let Some(_turn) = lab_turn() else { return };
    let lab = conformance_lab();
    let deny_egress_z = r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-egress, namespace: z}
spec:
  podSelector: {}
  policyTypes: [Egress]
"#;
    let cluster = lab.adopt(&policy_set("deny.yaml", deny_egress_z));
    lab.enforce(&cluster, false).unwrap();
    let node_ns = lab.topology.node_ns[0].clone();
    // The lab gives the input's Node its own address; a second one the input
    // does not list (a bridge, a local DNS cache) is an external address.
    let node_ip: Ipv4Addr = "169.254.124.1".parse().unwrap();
    let added = std::process::Command::new("ip")
        .args([
            "-n",
            &node_ns,
            "addr",
            "add",
            "169.254.124.1/32",
            "dev",
            "lo",
        ])
        .status()
        .unwrap();
    assert!(added.success());
    let engine = Engine::new(&cluster);
    let to_node = |src: &str| {
        engine.allows(
            engine.find(src).unwrap(),
            engine.find(&node_ip.to_string()).unwrap(),
            Protocol::Udp,
            9400,
        )
    };
    assert!(!to_node("z/a") && to_node("x/a"));
    let listener = udp_in(
        &node_ns,
        SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 9400),
    );
    let node = SocketAddr::new(IpAddr::V4(node_ip), 9400);
    for (src, payload) in [("z/a", b"denied"), ("x/a", b"allows")] {
        let (ns, _) = pod_at(&lab, src);
        let s = udp_in(&ns, SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0));
        s.send_to(payload, node).unwrap();
    }
    assert_eq!(
        received(&listener),
        vec![b"allows".to_vec()],
        "the node received what the engine denies (or not what it allows)"
    );
}

/// Issue 15.7 (second half): a packet carrying a local pod's address that
/// arrives on another interface (here from the other node, where no pod rule
/// could stop it) is dropped, not accepted as that pod's traffic.
#[test]
fn a_local_pod_address_from_another_interface_is_dropped() {
    let Some(_turn) = lab_turn() else { return };
    let lab = Lab::up(&load_files(&[conformance_model()]), 2).unwrap();
    let cluster = lab.adopt(&policy_set("y.yaml", &gate_allowing("y")));
    lab.enforce(&cluster, false).unwrap();
    let on = |node: usize| {
        lab.plan
            .pods
            .iter()
            .find(|p| p.node == node)
            .map(|p| p.id.clone())
            .unwrap()
    };
    // Two pods on node 0: the one whose address is forged, and the receiver.
    let victim = on(0);
    let receiver = lab
        .plan
        .pods
        .iter()
        .find(|p| p.node == 0 && p.id != victim && p.id != "x/a")
        .map(|p| p.id.clone())
        .unwrap();
    let (_, victim_ip) = pod_at(&lab, &victim);
    let (r_ns, r_ip) = pod_at(&lab, &receiver);
    let listener = udp_in(
        &r_ns,
        SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 9500),
    );
    // Node 1 itself (its output path is not filtered by any pod rule) sends with
    // the node-0 pod's address.
    let node1 = lab.topology.node_ns[1].clone();
    let ok = std::process::Command::new("ip")
        .args([
            "-n",
            &node1,
            "addr",
            "add",
            &format!("{victim_ip}/32"),
            "dev",
            "lo",
        ])
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let sender = udp_in(&node1, SocketAddr::new(IpAddr::V4(victim_ip), 0));
    sender
        .send_to(b"forged", SocketAddr::new(IpAddr::V4(r_ip), 9500))
        .unwrap();
    assert!(
        received(&listener).is_empty(),
        "{victim}'s address arriving from node 1 reached {receiver}"
    );
    // The same datagram from node 1's own address is delivered (the receiver is
    // not isolated): the path works.
    let ok = std::process::Command::new("ip")
        .args([
            "-n",
            &node1,
            "addr",
            "del",
            &format!("{victim_ip}/32"),
            "dev",
            "lo",
        ])
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let honest = udp_in(
        &node1,
        SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
    );
    honest
        .send_to(b"honest", SocketAddr::new(IpAddr::V4(r_ip), 9500))
        .unwrap();
    assert_eq!(received(&listener), vec![b"honest".to_vec()]);
}

/// Sends one raw IP payload of protocol `proto` from the pod namespace `ns`
/// (the kernel adds the IP header, with the pod's address as source).
fn send_raw(ns: &str, proto: i32, dst: Ipv4Addr, payload: Vec<u8>) {
    let ns = ns.to_string();
    std::thread::spawn(move || {
        netfence_lab::serve::enter_netns(&ns).unwrap();
        let s = socket2::Socket::new(
            socket2::Domain::IPV4,
            socket2::Type::RAW,
            Some(socket2::Protocol::from(proto)),
        )
        .unwrap();
        s.send_to(&payload, &SocketAddr::new(IpAddr::V4(dst), 0).into())
            .unwrap();
    })
    .join()
    .unwrap();
}

/// The Internet checksum of `words` (RFC 1071).
fn inet_checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = bytes
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// A TCP header from `src:sport` to `dst:dport` with `flags`, checksummed.
fn tcp_segment(src: Ipv4Addr, dst: Ipv4Addr, sport: u16, dport: u16, flags: u8) -> Vec<u8> {
    let mut seg = Vec::new();
    seg.extend(sport.to_be_bytes());
    seg.extend(dport.to_be_bytes());
    seg.extend(1000u32.to_be_bytes()); // sequence
    seg.extend(0u32.to_be_bytes()); // acknowledgement
    seg.extend([5 << 4, flags]);
    seg.extend(65535u16.to_be_bytes()); // window
    seg.extend([0, 0, 0, 0]); // checksum, urgent pointer
    let mut pseudo = Vec::new();
    pseudo.extend(src.octets());
    pseudo.extend(dst.octets());
    pseudo.extend([0, 6]);
    pseudo.extend((seg.len() as u16).to_be_bytes());
    pseudo.extend(&seg);
    seg[16..18].copy_from_slice(&inet_checksum(&pseudo).to_be_bytes());
    seg
}

/// Issue 15.6: every kind of drop leaves a record `status` shows: a spoofed
/// source (z/a sending as y/a), an invalid packet (y/a, whose traffic to x/a is
/// allowed, sending SYN+FIN) and a denied ICMP echo (z/a to x/a), each told
/// apart by its kind.
#[test]
fn spoofed_invalid_and_icmp_drops_are_recorded_and_shown() {
    let Some(_turn) = lab_turn() else { return };
    let lab = conformance_lab();
    let cluster = lab.adopt(&policy_set("y.yaml", &gate_allowing("y")));
    lab.enforce(&cluster, false).unwrap();
    let (x_ns, x_ip) = pod_at(&lab, "x/a");
    let (y_ns, y_ip) = pod_at(&lab, "y/a");
    let (z_ns, _) = pod_at(&lab, "z/a");
    let x = udp_in(
        &x_ns,
        SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 7001),
    );

    // SYN+FIN is no state conntrack accepts.
    send_raw(&y_ns, 6, x_ip, tcp_segment(y_ip, x_ip, 4444, 7002, 0x03));
    // An ICMP echo request (type 8), denied by x/a's ingress policy.
    let mut echo = vec![8, 0, 0, 0, 0, 1, 0, 1, b'n', b'f'];
    let sum = inet_checksum(&echo);
    echo[2..4].copy_from_slice(&sum.to_be_bytes());
    send_raw(&z_ns, 1, x_ip, echo);
    add_address(&z_ns, y_ip);
    let spoofer = udp_in(&z_ns, SocketAddr::new(IpAddr::V4(y_ip), 4445));
    spoofer
        .send_to(b"spoofed", SocketAddr::new(IpAddr::V4(x_ip), 7001))
        .unwrap();
    assert!(received(&x).is_empty(), "the spoofed datagram got through");

    let node = Target::Netns(lab.topology.node_ns[0].clone());
    let status = netfence_nft::status::status(&node).unwrap();
    let found = |kind: &str, protocol: &str, port: u16| {
        status.dropped.iter().any(|d| {
            d.kind == kind
                && d.src.ends_with("y/a") == (kind != "policy")
                && d.dst == "x/a"
                && d.protocol == protocol
                && d.port == port
        })
    };
    assert!(found("spoofed source", "UDP", 7001), "{:?}", status.dropped);
    assert!(found("invalid", "TCP", 7002), "{:?}", status.dropped);
    assert!(found("policy", "ICMP", 0), "{:?}", status.dropped);
    let text = netfence_nft::status::render_text(&status);
    assert!(
        text.contains("y/a -> x/a UDP 7001: spoofed source"),
        "{text}"
    );
    assert!(text.contains("y/a -> x/a TCP 7002: invalid"), "{text}");
    assert!(text.contains("z/a -> x/a ICMP: ingress of x/a"), "{text}");
}

/// Issue 14.5: a DNS server whose manifest declares no ports is still probed on
/// 53 (the synthetic cluster DNS never declares any), and a pod without ports is
/// said to be skipped instead of silently left blank. No root needed.
#[test]
fn dns_without_declared_ports_is_probed_and_portless_pods_are_named() {
    let cluster = load_files(&[(
        "in.yaml".into(),
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: app}\n---\n\
apiVersion: v1\nkind: Namespace\nmetadata: {name: kube-system}\n---\n\
apiVersion: v1\nkind: Pod\nmetadata: {name: dns, namespace: kube-system, labels: {k8s-app: kube-dns}}\n\
spec: {containers: [{name: c, image: coredns}]}\n---\n\
apiVersion: v1\nkind: Pod\nmetadata: {name: quiet, namespace: app}\n\
spec: {containers: [{name: c, image: busybox}]}\n"
            .into(),
        false,
    )]);
    let plan = netfence_lab::plan::plan(&cluster, 1);
    let dns = plan
        .pods
        .iter()
        .find(|p| p.id == "kube-system/dns")
        .unwrap();
    assert_eq!(dns.ports, vec![(Protocol::Tcp, 53), (Protocol::Udp, 53)]);
    assert!(
        plan.skipped
            .iter()
            .any(|s| s.what == "app/quiet" && s.reason.contains("no containerPorts")),
        "{:?}",
        plan.skipped
    );
    assert!(!plan.skipped.iter().any(|s| s.what == "kube-system/dns"));
}
