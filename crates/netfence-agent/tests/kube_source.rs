//! The agent fed by the Kubernetes API source, against the in-repo test API
//! server (not a cluster) and a stand-in kernel (no root): nothing applied
//! before every first list, API changes reach the kernel through the event
//! loop, and an object that does not load keeps its last good version.

#![allow(clippy::unwrap_used, clippy::expect_used)] // ok: test

use std::path::Path;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use netfence_agent::kube::{Connection, KubeInput};
use netfence_agent::{Agent, Event, Kernel, KernelState, PolicyCounters, run_loop};
use netfence_engine::Engine;
use netfence_model::{LoadOptions, Sources, load};
use netfence_nft::apply::{self, ApplyError, Plan};
use netfence_nft::{CompileOptions, Compiled, Ruleset, compile};
use netfence_testapi::{NETWORK_POLICIES, PODS, TestApi};
use serde_json::Value;

/// What the stand-in kernel holds; shared with the test so that it can change
/// the table "by hand".
#[derive(Default)]
struct Table {
    ruleset: Option<Ruleset>,
    reads: usize,
    transactions: usize,
    /// Host routes: pod address → interface suffix.
    routes: Vec<(std::net::IpAddr, String)>,
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
        Ok(PolicyCounters::default())
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

/// The example's objects, as the API server would hold them.
fn objects() -> Vec<Value> {
    let mut out = Vec::new();
    for f in ["cluster.yaml", "policies.yaml"] {
        let (docs, errors) = netfence_yaml::parse_documents(&example(f));
        assert!(errors.is_empty());
        out.extend(docs.iter().map(|d| d.root.to_json()));
    }
    out
}

/// The engine's answer for these objects, compiled for the node.
fn expected(objects: &[Value]) -> Ruleset {
    let mut sources = Sources::default();
    for (i, o) in objects.iter().enumerate() {
        sources.add(format!("o{i}.json"), o.to_string());
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
    api: TestApi,
    kernel: FakeKernel,
    agent: Agent<FakeKernel>,
    events: mpsc::Receiver<Event>,
    sender: mpsc::Sender<Event>,
    _dir: tempfile::TempDir,
}

fn setup(api: TestApi) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kubeconfig");
    std::fs::write(&path, api.kubeconfig()).unwrap();
    let (tx, rx) = mpsc::channel();
    let input = KubeInput::start(
        Connection::Kubeconfig {
            path,
            context: None,
        },
        tx.clone(),
    )
    .unwrap();
    let kernel = FakeKernel::default();
    let agent = Agent::with_input(
        Box::new(input),
        LoadOptions::default(),
        options(),
        kernel.clone(),
    );
    Setup {
        api,
        kernel,
        agent,
        events: rx,
        sender: tx,
        _dir: dir,
    }
}

/// Syncs at every event until the kernel holds `want`.
fn sync_until(s: &mut Setup, want: &Ruleset, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while s.kernel.ruleset().as_ref() != Some(want) {
        assert!(
            Instant::now() < deadline,
            "{what}: the kernel did not follow"
        );
        let _ = s.events.recv_timeout(Duration::from_millis(100));
        s.agent.sync(Instant::now());
    }
}

fn with_api_objects(objects: &[Value]) -> TestApi {
    let api = TestApi::start().unwrap();
    for o in objects {
        api.apply(o.clone()).unwrap();
    }
    api
}

#[test]
fn nothing_is_applied_before_every_first_list_then_the_engines_answer() {
    let all = objects();
    let api = with_api_objects(&all);
    api.refuse_kind(Some(NETWORK_POLICIES));
    let mut s = setup(api);
    // Pods, namespaces and nodes without the policies would open every pod.
    std::thread::sleep(Duration::from_millis(500));
    s.agent.sync(Instant::now());
    assert_eq!(s.kernel.ruleset(), None);
    assert_eq!(s.kernel.transactions(), 0);
    let (code, body) = s.agent.metrics.readiness();
    assert_eq!(code, 503);
    assert!(
        body.contains("waiting for the first list of networkpolicies"),
        "{body}"
    );
    s.api.refuse_kind(None);
    sync_until(&mut s, &expected(&all), "first lists");
    assert!(s.agent.metrics.get().ready);
}

#[test]
fn an_object_that_does_not_load_keeps_its_last_good_version() {
    let all = objects();
    let mut s = setup(with_api_objects(&all));
    sync_until(&mut s, &expected(&all), "first lists");
    let transactions = s.kernel.transactions();
    // The default deny, broken through the API: were it dropped, app's pods
    // would be open.
    let mut deny = all
        .iter()
        .find(|o| o["metadata"]["name"] == "default-deny-all")
        .unwrap()
        .clone();
    let spec = deny["spec"].as_object_mut().unwrap();
    let selector = spec.remove("podSelector").unwrap();
    spec.insert("podSelectr".into(), selector);
    s.api.apply(deny.clone()).unwrap();
    let name = "cluster:/apis/networking.k8s.io/v1/namespaces/app/networkpolicies/default-deny-all";
    let deadline = Instant::now() + Duration::from_secs(20);
    let errors = loop {
        let _ = s.events.recv_timeout(Duration::from_millis(100));
        s.agent.sync(Instant::now());
        if let Some(e) = s.agent.metrics.get().failing.get(name) {
            break e.clone();
        }
        assert!(
            Instant::now() < deadline,
            "the broken object was not reported"
        );
    };
    assert!(errors.starts_with(&format!("{name}:")), "{errors}");
    assert!(errors.contains(": error"), "{errors}");
    assert!(errors.contains("podSelectr"), "{errors}");
    assert_eq!(
        s.kernel.ruleset(),
        Some(expected(&all)),
        "last good in force"
    );
    assert_eq!(s.kernel.transactions(), transactions);

    // Deleted through the API: its objects go (a deletion is not a bad input).
    assert!(s.api.delete(NETWORK_POLICIES, "app", "default-deny-all"));
    let rest: Vec<Value> = all
        .iter()
        .filter(|o| o["metadata"]["name"] != "default-deny-all")
        .cloned()
        .collect();
    let want = expected(&rest);
    assert_ne!(want, expected(&all));
    sync_until(&mut s, &want, "the deletion");
    assert!(s.agent.metrics.get().failing.is_empty());
}

#[test]
fn the_event_loop_follows_api_changes() {
    let all = objects();
    let s = setup(with_api_objects(&all));
    let Setup {
        api,
        kernel,
        mut agent,
        events,
        sender,
        _dir,
    } = s;
    let looping = std::thread::spawn(move || {
        run_loop(&mut agent, &events, Duration::from_secs(30));
        agent
    });
    let wait = |want: &Ruleset, what: &str| {
        let deadline = Instant::now() + Duration::from_secs(20);
        while kernel.ruleset().as_ref() != Some(want) {
            assert!(
                Instant::now() < deadline,
                "{what}: the kernel did not follow"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    wait(&expected(&all), "first lists");
    // A pod of node-a relabelled: the policies select it differently.
    let mut changed = all.clone();
    let pod = changed
        .iter_mut()
        .find(|o| o["kind"] == "Pod" && o["spec"]["nodeName"] == NODE)
        .unwrap();
    pod["metadata"]["labels"] = serde_json::json!({"app": "relabelled"});
    let (ns, name) = (
        pod["metadata"]["namespace"].as_str().unwrap().to_string(),
        pod["metadata"]["name"].as_str().unwrap().to_string(),
    );
    api.apply(pod.clone()).unwrap();
    let want = expected(&changed);
    assert_ne!(want, expected(&all), "the relabel changes the ruleset");
    wait(&want, "a pod relabelled");
    // The pod removed.
    assert!(api.delete(PODS, &ns, &name));
    changed.retain(|o| o["metadata"]["name"] != name.as_str());
    wait(&expected(&changed), "a pod deleted");
    sender.send(Event::Stop).unwrap();
    let agent = looping.join().unwrap();
    assert!(agent.metrics.get().ready);
}
