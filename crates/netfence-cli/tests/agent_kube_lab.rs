//! `netfence agent --kubeconfig` on lab nodes, fed by the in-repo test API
//! server (not a cluster): objects added, broken, deleted and relisted through
//! the API; real connections between the lab's pods must follow the engine's
//! answer for the API's objects. Root, network namespaces and nftables;
//! skipped without them unless `NETFENCE_REQUIRE_LAB=1`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // ok: test

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::root;
use netfence_lab::{Lab, LabReport};
use netfence_model::{Cluster, LoadOptions, Sources, load};
use netfence_testapi::{NETWORK_POLICIES, TestApi};
use serde_json::{Value, json};

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

/// The example's objects, as the API server holds them.
fn example_objects() -> Vec<Value> {
    let mut out = Vec::new();
    for f in ["cluster.yaml", "policies.yaml"] {
        let text = std::fs::read_to_string(root().join("examples/nodes").join(f)).unwrap();
        let (docs, errors) = netfence_yaml::parse_documents(&text);
        assert!(errors.is_empty());
        out.extend(docs.iter().map(|d| d.root.to_json()));
    }
    out
}

fn cluster_of(objects: &[Value]) -> Cluster {
    let mut sources = Sources::default();
    for (i, o) in objects.iter().enumerate() {
        sources.add(format!("o{i}.json"), o.to_string());
    }
    load(&mut sources, &LoadOptions::default()).unwrap().cluster
}

/// One agent process per lab node; killed (SIGKILL) when dropped.
struct Agents {
    kubeconfig: std::path::PathBuf,
    nodes: Vec<(String, String)>,
    children: Vec<Option<Child>>,
}

impl Agents {
    fn start(lab: &Lab, kubeconfig: &Path) -> Agents {
        let nodes: Vec<(String, String)> = lab
            .plan
            .nodes
            .iter()
            .cloned()
            .zip(lab.topology.node_ns.iter().cloned())
            .collect();
        let mut a = Agents {
            kubeconfig: kubeconfig.to_path_buf(),
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
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
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

fn open_api() -> Value {
    json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
           "metadata": {"name": "api-allow-all", "namespace": "app"},
           "spec": {"podSelector": {"matchLabels": {"app": "api"}}, "ingress": [{}]}})
}

#[test]
fn agents_fed_by_the_api_follow_changes_keep_last_good_and_relist() {
    if !lab_available() {
        return;
    }
    let objects = example_objects();
    let with_policies = cluster_of(&objects);
    let lab = Lab::up(&with_policies, 2).unwrap();
    let api = TestApi::start().unwrap();
    // Nothing is applied before every first list: the policies are refused
    // for a moment, and the nodes must stay without a table meanwhile.
    api.refuse_kind(Some(NETWORK_POLICIES));
    for o in &objects {
        api.apply(o.clone()).unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, api.kubeconfig()).unwrap();
    let mut agents = Agents::start(&lab, &kubeconfig);
    let at = |c: &Cluster| lab.adopt(c);
    std::thread::sleep(Duration::from_millis(1500));
    for ns in &lab.topology.node_ns {
        let r = common::netfence(&["status", "--netns", ns]);
        assert_ne!(
            r.code, 0,
            "a table before the policies were listed:\n{}",
            r.stdout
        );
    }
    api.refuse_kind(None);
    converges(&lab, &at(&with_policies), "first lists");
    let denied = lab.probe(&at(&with_policies)).unwrap();
    assert!(
        denied.probes.iter().any(|p| !p.expected) && denied.probes.iter().any(|p| p.expected),
        "the example has both verdicts"
    );

    // A policy added through the API opens the api to everyone.
    let mut opened_objects = objects.clone();
    opened_objects.push(open_api());
    let opened = cluster_of(&opened_objects);
    api.apply(open_api()).unwrap();
    converges(&lab, &at(&opened), "a policy added");

    // The same policy broken: its last good version stays in force.
    let mut broken = open_api();
    let spec = broken["spec"].as_object_mut().unwrap();
    let selector = spec.remove("podSelector").unwrap();
    spec.insert("podSelectr".into(), selector);
    api.apply(broken).unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    agrees(
        &lab,
        &at(&opened),
        "a broken object keeps its last good version",
    );

    // Deleted: its objects go.
    assert!(api.delete(NETWORK_POLICIES, "app", "api-allow-all"));
    converges(&lab, &at(&with_policies), "a policy deleted");

    // While the watches are broken the policy comes back and the history is
    // compacted: the agents get 410 and list again.
    api.set_unavailable(true);
    api.apply(open_api()).unwrap();
    api.compact();
    api.set_unavailable(false);
    converges(
        &lab,
        &at(&opened),
        "a change seen through a new list after 410",
    );
    let relists = api
        .requests()
        .iter()
        .filter(|r| !r.is_watch() && r.path == "/apis/networking.k8s.io/v1/networkpolicies")
        .count();
    assert!(
        relists >= 4,
        "{relists} lists of the policies by two agents"
    );

    // kill -9 and a change while the agent is down: the restart converges.
    agents.kill9(0);
    assert!(api.delete(NETWORK_POLICIES, "app", "api-allow-all"));
    agents.spawn(0);
    converges(&lab, &at(&with_policies), "restart after kill -9");
}
