//! The agent's event loop against a stand-in kernel (no root): every
//! transaction is checked against the state the kernel really holds, and what
//! the kernel ends up with is compared with the engine's answer for the files.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use netfence_agent::{Agent, Event, Kernel, KernelState, PolicyCounters, run_loop, watch};
use netfence_engine::Engine;
use netfence_model::{LoadOptions, Sources, load};
use netfence_nft::apply::{self, ApplyError, Plan};
use netfence_nft::{CompileOptions, Compiled, Ruleset, compile};

/// What the stand-in kernel holds; shared with the test so that it can change
/// the table "by hand".
#[derive(Default)]
struct Table {
    ruleset: Option<Ruleset>,
    reads: usize,
    transactions: usize,
    /// Host routes: pod address → interface suffix.
    routes: Vec<(std::net::IpAddr, String)>,
    /// What the table's counters say.
    counters: PolicyCounters,
}

#[derive(Clone, Default)]
struct FakeKernel(Arc<Mutex<Table>>);

impl FakeKernel {
    fn ruleset(&self) -> Option<Ruleset> {
        self.0.lock().unwrap().ruleset.clone()
    }
    fn transactions(&self) -> usize {
        self.0.lock().unwrap().transactions
    }
}

fn state_of(r: &Option<Ruleset>) -> KernelState {
    (
        r.as_ref().map(apply::applied_of),
        r.as_ref().map(apply::generation),
    )
}

impl Kernel for FakeKernel {
    fn counters(&mut self) -> Result<PolicyCounters, String> {
        Ok(self.0.lock().unwrap().counters.clone())
    }

    fn host_routes(
        &mut self,
        prefix: &str,
    ) -> Result<std::collections::HashMap<std::net::IpAddr, String>, ApplyError> {
        Ok(self
            .0
            .lock()
            .unwrap()
            .routes
            .iter()
            .map(|(ip, dev)| (*ip, format!("{prefix}{dev}")))
            .collect())
    }

    fn read(&mut self) -> Result<KernelState, ApplyError> {
        let mut t = self.0.lock().unwrap();
        t.reads += 1;
        Ok(state_of(&t.ruleset))
    }

    fn apply(
        &mut self,
        compiled: &Compiled,
        state: &KernelState,
    ) -> Result<(Plan, Instant), ApplyError> {
        let mut t = self.0.lock().unwrap();
        // Like nf_tables: a transaction planned from a state the kernel does
        // not hold is refused whole (a delete of something absent, ...).
        let actual = state_of(&t.ruleset);
        if serde_json::to_value(&actual.0).unwrap() != serde_json::to_value(&state.0).unwrap() {
            return Err(ApplyError::Failed {
                command: "fake".into(),
                stderr: "No such file or directory".into(),
            });
        }
        let plan = apply::plan(&compiled.ruleset, state.0.as_ref());
        if !plan.is_empty() || state.1 != Some(apply::generation(&compiled.ruleset)) {
            t.transactions += 1;
        }
        t.ruleset = Some(compiled.ruleset.clone());
        Ok((plan, Instant::now()))
    }
}

const NODE: &str = "node-a";

fn example(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../examples/nodes")
            .join(name),
    )
    .unwrap()
}

/// The example's policies, one file each: (file name, text).
fn policy_files() -> Vec<(String, String)> {
    example("policies.yaml")
        .split("\n---\n")
        .map(|doc| {
            let name = doc
                .lines()
                .find_map(|l| l.trim().strip_prefix("name: "))
                .unwrap()
                .to_string();
            (format!("{name}.yaml"), doc.to_string())
        })
        .collect()
}

/// The engine's answer for these texts, compiled for the node.
fn expected(texts: &[&str]) -> Ruleset {
    let mut sources = Sources::default();
    for (i, t) in texts.iter().enumerate() {
        sources.add(format!("f{i}.yaml"), t.to_string());
    }
    let cluster = load(&mut sources, &LoadOptions::default()).unwrap().cluster;
    compile(&Engine::new(&cluster), &options()).ruleset
}

fn options() -> CompileOptions {
    CompileOptions {
        node: Some(NODE.into()),
        ..CompileOptions::default()
    }
}

struct Setup {
    dir: tempfile::TempDir,
    kernel: FakeKernel,
    agent: Agent<FakeKernel>,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("cluster.yaml"), example("cluster.yaml")).unwrap();
    for (name, text) in policy_files() {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let kernel = FakeKernel::default();
    let agent = Agent::new(
        dir.path().to_path_buf(),
        Vec::new(),
        LoadOptions::default(),
        options(),
        kernel.clone(),
    );
    Setup { dir, kernel, agent }
}

fn all_texts() -> Vec<String> {
    let mut v = vec![example("cluster.yaml")];
    v.extend(policy_files().into_iter().map(|(_, t)| t));
    v
}

fn refs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// A policy with a typo in a field name: the loader rejects it, located.
const TYPO: &str = "apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: default-deny-all
  namespace: app
spec:
  podSelectr: {}
  policyTypes: [Ingress, Egress]
";

#[test]
fn a_bad_file_keeps_its_last_good_objects_and_a_fix_is_picked_up() {
    let mut s = setup();
    s.agent.sync(Instant::now());
    let all = all_texts();
    assert_eq!(s.kernel.ruleset(), Some(expected(&refs(&all))));
    assert!(s.agent.metrics.get().ready);

    // The default deny, broken: were it dropped, app's pods would be open.
    std::fs::write(s.dir.path().join("default-deny-all.yaml"), TYPO).unwrap();
    s.agent.sync(Instant::now());
    assert_eq!(
        s.kernel.ruleset(),
        Some(expected(&refs(&all))),
        "the last good default deny stays in force"
    );
    let m = s.agent.metrics.get();
    let (file, errors) = m.failing.iter().next().unwrap();
    assert!(file.ends_with("default-deny-all.yaml"), "{file}");
    assert!(
        errors.contains("default-deny-all.yaml:7:3: error"),
        "{errors}"
    );
    assert!(errors.contains("podSelectr"), "{errors}");
    assert_eq!(m.load_errors, 1);
    let (code, body) = s.agent.metrics.readiness();
    assert_eq!(code, 200);
    assert!(
        body.contains("default-deny-all.yaml: does not load"),
        "{body}"
    );

    // Fixed, and different: a deny of egress only (ingress opens).
    let fixed = TYPO
        .replace("podSelectr", "podSelector")
        .replace("[Ingress, Egress]", "[Egress]");
    std::fs::write(s.dir.path().join("default-deny-all.yaml"), &fixed).unwrap();
    s.agent.sync(Instant::now());
    let mut now: Vec<String> = vec![example("cluster.yaml"), fixed];
    now.extend(
        policy_files()
            .into_iter()
            .filter(|(n, _)| n != "default-deny-all.yaml")
            .map(|(_, t)| t),
    );
    let want = expected(&refs(&now));
    assert_ne!(want, expected(&refs(&all)), "the fix changes the ruleset");
    assert_eq!(s.kernel.ruleset(), Some(want));
    assert!(s.agent.metrics.get().failing.is_empty());
}

#[test]
fn a_deleted_file_takes_its_objects_with_it() {
    let mut s = setup();
    s.agent.sync(Instant::now());
    std::fs::remove_file(s.dir.path().join("allow-dns.yaml")).unwrap();
    s.agent.sync(Instant::now());
    let mut texts = vec![example("cluster.yaml")];
    texts.extend(
        policy_files()
            .into_iter()
            .filter(|(n, _)| n != "allow-dns.yaml")
            .map(|(_, t)| t),
    );
    assert_eq!(s.kernel.ruleset(), Some(expected(&refs(&texts))));
    assert_eq!(s.kernel.transactions(), 2);
    // Nothing changed: nothing sent.
    s.agent.sync(Instant::now());
    assert_eq!(s.kernel.transactions(), 2);
}

#[test]
fn a_first_start_with_a_bad_file_applies_nothing_until_it_loads() {
    let mut s = setup();
    std::fs::write(s.dir.path().join("default-deny-all.yaml"), TYPO).unwrap();
    s.agent.sync(Instant::now());
    assert_eq!(s.kernel.ruleset(), None, "nothing applied");
    let (code, body) = s.agent.metrics.readiness();
    assert_eq!(code, 503);
    assert!(body.contains("nothing is applied until it does"), "{body}");
    let (_, good) = policy_files()
        .into_iter()
        .find(|(n, _)| n == "default-deny-all.yaml")
        .unwrap();
    std::fs::write(s.dir.path().join("default-deny-all.yaml"), good).unwrap();
    s.agent.sync(Instant::now());
    assert_eq!(s.kernel.ruleset(), Some(expected(&refs(&all_texts()))));
    assert_eq!(s.agent.metrics.readiness().0, 200);
}

#[test]
fn a_new_file_that_does_not_load_is_left_out_and_the_rest_applies() {
    let mut s = setup();
    s.agent.sync(Instant::now());
    // Two changes at once: a good edit and a broken new file.
    std::fs::remove_file(s.dir.path().join("allow-dns.yaml")).unwrap();
    std::fs::write(
        s.dir.path().join("new.yaml"),
        TYPO.replace("default-deny-all", "other"),
    )
    .unwrap();
    s.agent.sync(Instant::now());
    let mut texts = vec![example("cluster.yaml")];
    texts.extend(
        policy_files()
            .into_iter()
            .filter(|(n, _)| n != "allow-dns.yaml")
            .map(|(_, t)| t),
    );
    assert_eq!(s.kernel.ruleset(), Some(expected(&refs(&texts))));
    assert_eq!(s.agent.metrics.get().failing.len(), 1);
}

#[test]
fn a_table_changed_under_the_agent_is_read_again_and_repaired() {
    let mut s = setup();
    s.agent.sync(Instant::now());
    // Someone deletes the table: the next delta is refused, the agent reads
    // the kernel and sends the whole ruleset.
    s.kernel.0.lock().unwrap().ruleset = None;
    std::fs::remove_file(s.dir.path().join("allow-dns.yaml")).unwrap();
    s.agent.sync(Instant::now());
    let m = s.agent.metrics.get();
    assert_eq!(m.sync_errors, 1);
    let mut texts = vec![example("cluster.yaml")];
    texts.extend(
        policy_files()
            .into_iter()
            .filter(|(n, _)| n != "allow-dns.yaml")
            .map(|(_, t)| t),
    );
    let want = expected(&refs(&texts));
    assert_eq!(s.kernel.ruleset(), Some(want.clone()));
    // Drift without a change in the directory: the periodic check repairs it.
    s.kernel.0.lock().unwrap().ruleset = Some(expected(&refs(&all_texts())));
    s.agent.tick();
    assert_eq!(s.kernel.ruleset(), Some(want));
    assert_eq!(s.agent.metrics.get().drift_repairs, 1);
    // And a kernel that agrees is left alone.
    let before = s.kernel.transactions();
    s.agent.tick();
    assert_eq!(s.kernel.transactions(), before);
}

#[test]
fn queued_events_are_answered_by_one_look_at_the_directory() {
    let mut s = setup();
    let (tx, rx) = mpsc::channel();
    for _ in 0..100 {
        tx.send(Event::Changed(Instant::now())).unwrap();
    }
    drop(tx);
    run_loop(&mut s.agent, &rx, Duration::from_secs(3600));
    // The first sync at start, then one for all 100 events.
    assert_eq!(s.agent.metrics.get().syncs, 2);
    assert_eq!(s.kernel.transactions(), 1);
}

#[test]
fn the_watched_directory_drives_the_kernel_and_stop_leaves_it() {
    let mut s = setup();
    let (tx, rx) = mpsc::channel();
    let _watcher = watch(s.dir.path(), tx.clone()).unwrap();
    let kernel = s.kernel.clone();
    let dir = s.dir.path().to_path_buf();
    let looping = std::thread::spawn(move || {
        run_loop(&mut s.agent, &rx, Duration::from_secs(3600));
        s.agent.metrics.get()
    });
    let wait_for = |want: &Ruleset| {
        let deadline = Instant::now() + Duration::from_secs(20);
        while kernel.ruleset().as_ref() != Some(want) {
            assert!(Instant::now() < deadline, "the kernel did not follow");
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    let all = all_texts();
    wait_for(&expected(&refs(&all)));
    // A burst of edits (add/remove a policy 30 times, then rename a file):
    // the kernel ends at the engine's answer for the final files.
    let extra = TYPO
        .replace("podSelectr", "podSelector")
        .replace("default-deny-all", "extra-deny")
        .replace("namespace: app", "namespace: default");
    for i in 0..30 {
        let p = dir.join("extra.yaml");
        if i % 2 == 0 {
            std::fs::write(&p, &extra).unwrap();
        } else {
            std::fs::remove_file(&p).unwrap();
        }
    }
    std::fs::rename(dir.join("allow-dns.yaml"), dir.join("dns.yaml")).unwrap();
    wait_for(&expected(&refs(&all)));
    std::fs::remove_file(dir.join("dns.yaml")).unwrap();
    let mut texts = vec![example("cluster.yaml")];
    texts.extend(
        policy_files()
            .into_iter()
            .filter(|(n, _)| n != "allow-dns.yaml")
            .map(|(_, t)| t),
    );
    let last = expected(&refs(&texts));
    wait_for(&last);
    tx.send(Event::Stop).unwrap();
    let metrics = looping.join().unwrap();
    // How many looks the burst took depends on the machine's timing (the
    // whole burst and the delete may be one look);
    // `queued_events_are_answered_by_one_look_at_the_directory` pins coalescing.
    assert!(metrics.syncs >= 2, "{}", metrics.syncs);
    assert_eq!(kernel.ruleset(), Some(last), "stopping leaves the table");
}

#[test]
fn pods_are_bound_to_their_routed_interfaces_as_they_are_wired() {
    let s = setup();
    let mut agent = s.agent.with_pod_interface_prefix(Some("cali".into()));
    // One of node-a's two pods is wired so far.
    let frontend: std::net::IpAddr = "10.42.0.10".parse().unwrap();
    let api: std::net::IpAddr = "10.42.0.11".parse().unwrap();
    s.kernel.0.lock().unwrap().routes = vec![(frontend, "1".into())];
    agent.sync(Instant::now());
    let all = all_texts();
    let with = |bound: &[(&str, &str)]| {
        let mut sources = Sources::default();
        for (i, t) in all.iter().enumerate() {
            sources.add(format!("f{i}.yaml"), t.clone());
        }
        let cluster = load(&mut sources, &LoadOptions::default()).unwrap().cluster;
        let mut o = options();
        o.interfaces = Some(netfence_nft::Interfaces {
            prefix: "cali".into(),
            by_endpoint: bound
                .iter()
                .map(|(id, dev)| (id.to_string(), dev.to_string()))
                .collect(),
        });
        compile(&Engine::new(&cluster), &o).ruleset
    };
    let one = with(&[("app/frontend-7d9f8-abcde", "cali1")]);
    assert_eq!(s.kernel.ruleset(), Some(one.clone()));
    assert_ne!(one, expected(&refs(&all)), "bindings are in the ruleset");
    // The second pod gets its route: the next tick binds it, with no file event.
    s.kernel.0.lock().unwrap().routes = vec![(frontend, "1".into()), (api, "2".into())];
    agent.tick();
    assert_eq!(
        s.kernel.ruleset(),
        Some(with(&[
            ("app/frontend-7d9f8-abcde", "cali1"),
            ("app/api-5c6b7-klmno", "cali2")
        ]))
    );
}

/// Admin policies are enforced like NetworkPolicies: an Admin deny added to
/// the directory (closing what a NetworkPolicy allows) is applied in one look
/// with a NetworkPolicy change, and removing it goes back.
#[test]
fn admin_policies_are_enforced_with_the_network_policies() {
    let mut s = setup();
    s.agent.sync(Instant::now());
    let all = all_texts();
    assert_eq!(s.kernel.ruleset(), Some(expected(&refs(&all))));
    let admin = "apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: admin-deny}
spec:
  tier: Admin
  priority: 10
  subject: {namespaces: {}}
  ingress:
  - name: deny-all
    action: Deny
    from: [{namespaces: {}}]
";
    std::fs::write(s.dir.path().join("admin.yaml"), admin).unwrap();
    std::fs::remove_file(s.dir.path().join("allow-dns.yaml")).unwrap();
    s.agent.sync(Instant::now());
    let mut now: Vec<String> = all_texts()
        .into_iter()
        .filter(|t| !t.contains("name: allow-dns"))
        .collect();
    assert_eq!(now.len(), all.len() - 1);
    let without_admin = expected(&refs(&now));
    now.push(admin.to_string());
    let with_admin = expected(&refs(&now));
    assert_ne!(
        with_admin, without_admin,
        "the admin deny changes the ruleset"
    );
    assert_eq!(s.kernel.ruleset(), Some(with_admin));
    let (code, body) = s.agent.metrics.readiness();
    assert_eq!(code, 200, "{body}");
    std::fs::remove_file(s.dir.path().join("admin.yaml")).unwrap();
    s.agent.sync(Instant::now());
    assert_eq!(s.kernel.ruleset(), Some(without_admin));
}

/// The drift check also reads the table's counters: accepts per rule and
/// drops per isolating policy reach `/metrics` as labelled series, names
/// escaped as the exposition format requires.
#[test]
fn the_drift_check_publishes_accepts_and_drops_per_policy() {
    let mut s = setup();
    s.agent.sync(Instant::now());
    {
        let mut t = s.kernel.0.lock().unwrap();
        t.counters
            .accepted
            .insert("app/api-allow-frontend ingress[0]".into(), 7);
        t.counters.dropped.insert(
            (
                "policy".into(),
                "app/default-deny-all".into(),
                "ingress".into(),
            ),
            3,
        );
        t.counters.accepted.insert("odd \"name\"\nhere".into(), 1);
    }
    assert!(!s.agent.metrics.render().contains("api-allow-frontend"));
    s.agent.tick();
    let text = s.agent.metrics.render();
    assert!(
        text.contains(
            "netfence_policy_accepted_connections{rule=\"app/api-allow-frontend ingress[0]\"} 7"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "netfence_dropped_flows{kind=\"policy\",policy=\"app/default-deny-all\",direction=\"ingress\"} 3"
        ),
        "{text}"
    );
    assert!(
        text.contains("{rule=\"odd \\\"name\\\"\\nhere\"} 1"),
        "{text}"
    );
}
