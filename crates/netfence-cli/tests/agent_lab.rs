//! `netfence agent` on lab nodes: one agent per node watching one directory,
//! files edited, broken, deleted; real connections between the lab's pods must
//! follow the engine's answer for the files. Root, network namespaces and
//! nftables; skipped without them unless `NETFENCE_REQUIRE_LAB=1`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::root;
use netfence_lab::{Lab, LabReport};
use netfence_model::{Cluster, LoadOptions, Sources, load};

fn lab_available() -> bool {
    match netfence_lab::check_capabilities() {
        Ok(()) => true,
        Err(e) if std::env::var("NETFENCE_REQUIRE_LAB").as_deref() == Ok("1") => {
            panic!("NETFENCE_REQUIRE_LAB=1 but the lab cannot run: {e}")
        }
        Err(e) => {
            eprintln!("skipping: {e}");
            false
        }
    }
}

fn load_dir(dir: &Path) -> Cluster {
    let mut sources = Sources::default();
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    for p in names {
        sources.add(
            p.display().to_string(),
            std::fs::read_to_string(&p).unwrap(),
        );
    }
    load(&mut sources, &LoadOptions::default()).unwrap().cluster
}

/// One agent process per lab node; killed (SIGKILL) when dropped.
struct Agents {
    dir: std::path::PathBuf,
    nodes: Vec<(String, String)>,
    children: Vec<Option<Child>>,
}

impl Agents {
    fn start(lab: &Lab, dir: &Path) -> Agents {
        let nodes: Vec<(String, String)> = lab
            .plan
            .nodes
            .iter()
            .cloned()
            .zip(lab.topology.node_ns.iter().cloned())
            .collect();
        let mut a = Agents {
            dir: dir.to_path_buf(),
            children: nodes.iter().map(|_| None).collect(),
            nodes,
        };
        for i in 0..a.nodes.len() {
            a.spawn(i);
        }
        a
    }

    fn spawn(&mut self, i: usize) {
        let (node, ns) = &self.nodes[i];
        let child = Command::new(env!("CARGO_BIN_EXE_netfence"))
            .args([
                "agent",
                "--node",
                node,
                "--netns",
                ns,
                "--check-interval",
                "1",
            ])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.children[i] = Some(child);
    }

    fn kill9(&mut self, i: usize) {
        if let Some(mut c) = self.children[i].take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM: the agent exits 0 and leaves the ruleset.
    fn term(&mut self, i: usize) -> std::process::ExitStatus {
        let mut c = self.children[i].take().unwrap();
        let ok = Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
        c.wait().unwrap()
    }
}

impl Drop for Agents {
    fn drop(&mut self) {
        for i in 0..self.children.len() {
            self.kill9(i);
        }
    }
}

fn report(r: &LabReport) -> String {
    r.probes
        .iter()
        .filter(|p| p.is_mismatch())
        .map(|p| {
            format!(
                "{} -> {} {:?}/{}: engine {}, kernel {}\n",
                p.src, p.dst, p.protocol, p.port, p.expected, p.observed
            )
        })
        .collect()
}

/// Probes until the kernel agrees with the engine on `cluster` everywhere.
fn converges(lab: &Lab, cluster: &Cluster, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        lab.flush_conntrack();
        // Before an agent's first transaction the node has no table (and no
        // drop records to read): not converged yet.
        let r = lab.probe(cluster);
        if let Ok(r) = &r {
            assert!(!r.probes.is_empty());
            if r.mismatches == 0 {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "{what}: the kernel did not follow the engine:\n{}",
            match &r {
                Ok(r) => report(r),
                Err(e) => e.to_string(),
            }
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The kernel equals the engine on `cluster` right now (one round of probes).
fn agrees(lab: &Lab, cluster: &Cluster, what: &str) {
    lab.flush_conntrack();
    let r = lab.probe(cluster).unwrap();
    assert_eq!(r.mismatches, 0, "{what}:\n{}", report(&r));
}

const OPEN_API: &str = "apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: api-allow-all, namespace: app}
spec:
  podSelector: {matchLabels: {app: api}}
  ingress: [{}]
";

#[test]
fn agents_follow_edits_keep_last_good_and_survive_kill_9() {
    if !lab_available() {
        return;
    }
    let examples = root().join("examples/nodes");
    let dir = tempfile::tempdir().unwrap();
    for f in ["cluster.yaml", "policies.yaml"] {
        std::fs::copy(examples.join(f), dir.path().join(f)).unwrap();
    }
    let with_policies = load_dir(dir.path());
    let lab = Lab::up(&with_policies, 2).unwrap();
    let mut agents = Agents::start(&lab, dir.path());
    let at = |c: &Cluster| lab.adopt(c);
    converges(&lab, &at(&with_policies), "first start");
    let denied = lab.probe(&at(&with_policies)).unwrap();
    assert!(
        denied.probes.iter().any(|p| !p.expected) && denied.probes.iter().any(|p| p.expected),
        "the example has both verdicts"
    );

    // A new file opens the api to everyone.
    std::fs::write(dir.path().join("open.yaml"), OPEN_API).unwrap();
    let opened = load_dir(dir.path());
    converges(&lab, &at(&opened), "a file added");

    // The same file broken: its last good version stays in force.
    std::fs::write(
        dir.path().join("open.yaml"),
        OPEN_API.replace("podSelector", "podSelectr"),
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    agrees(
        &lab,
        &at(&opened),
        "a broken file keeps its last good version",
    );

    // Deleted (broken or not): its objects go.
    std::fs::remove_file(dir.path().join("open.yaml")).unwrap();
    converges(&lab, &at(&with_policies), "a file deleted");

    // The policies file broken: nothing opens.
    let policies = std::fs::read_to_string(dir.path().join("policies.yaml")).unwrap();
    std::fs::write(
        dir.path().join("policies.yaml"),
        policies.replace("podSelector: {}", "podSelectr: {}"),
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    agrees(
        &lab,
        &at(&with_policies),
        "a typo in the default deny opens nothing",
    );
    std::fs::write(dir.path().join("policies.yaml"), &policies).unwrap();

    // kill -9 in the middle of changes, at a few moments; each restart converges.
    let mut rng = 0x9e37_79b9_u32 ^ std::process::id();
    for round in 0..4 {
        let open = round % 2 == 0;
        if open {
            std::fs::write(dir.path().join("open.yaml"), OPEN_API).unwrap();
        } else {
            let _ = std::fs::remove_file(dir.path().join("open.yaml"));
        }
        rng ^= rng << 13;
        rng ^= rng >> 17;
        rng ^= rng << 5;
        std::thread::sleep(Duration::from_millis(u64::from(rng % 60)));
        agents.kill9(0);
        agents.spawn(0);
        let want = if open { &opened } else { &with_policies };
        converges(
            &lab,
            &at(want),
            &format!("restart after kill -9, round {round}"),
        );
    }

    // SIGTERM: exit 0, the ruleset stays.
    let _ = std::fs::remove_file(dir.path().join("open.yaml"));
    converges(&lab, &at(&with_policies), "before SIGTERM");
    for i in 0..2 {
        let status = agents.term(i);
        assert!(status.success(), "agent {i} exited {status:?}");
    }
    agrees(&lab, &at(&with_policies), "after SIGTERM the ruleset stays");
    // `status` reads what the agent applied.
    let r = common::netfence(&["status", "--netns", &lab.topology.node_ns[0]]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stdout.contains("drift"), "{}", r.stdout);
}
