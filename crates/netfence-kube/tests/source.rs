//! The source against the in-repo test API server (not a cluster): first
//! lists, watch events, bookmarks, 410 → list again, dropped connections →
//! watch again with backoff.

#![allow(clippy::unwrap_used, clippy::expect_used)] // ok: test

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use netfence_kube::{Connection, KubeSource};
use netfence_testapi::{
    ADMIN_NETWORK_POLICIES, BASELINE_ADMIN_NETWORK_POLICIES, CLUSTER_NETWORK_POLICIES, NAMESPACES,
    NETWORK_POLICIES, PODS, TestApi,
};
use serde_json::{Value, json};

struct Fixture {
    api: TestApi,
    source: KubeSource,
    notified: Arc<AtomicUsize>,
    _dir: tempfile::TempDir,
}

fn start(api: TestApi) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kubeconfig");
    std::fs::write(&path, api.kubeconfig()).unwrap();
    let notified = Arc::new(AtomicUsize::new(0));
    let n = notified.clone();
    let source = KubeSource::start(
        Connection::Kubeconfig {
            path,
            context: None,
        },
        move || {
            n.fetch_add(1, Ordering::SeqCst);
        },
    )
    .unwrap();
    Fixture {
        api,
        source,
        notified,
        _dir: dir,
    }
}

fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let t = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn ready(f: &Fixture) -> BTreeMap<String, String> {
    wait_for("every first list", || f.source.texts().ok())
}

fn namespace(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": {"team": name}}})
}

fn pod(name: &str, app: &str, ip: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": name, "namespace": "shop", "labels": {"app": app},
                        "managedFields": [{"manager": "kubectl", "operation": "Apply"}]},
           "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "x"}]},
           "status": {"podIP": ip, "podIPs": [{"ip": ip}], "phase": "Running"}})
}

const POD_A: &str = "cluster:/api/v1/namespaces/shop/pods/a";
const POD_B: &str = "cluster:/api/v1/namespaces/shop/pods/b";

fn has_text(f: &Fixture, name: &str, needle: &str) -> Option<()> {
    let texts = f.source.texts().ok()?;
    texts.get(name)?.contains(needle).then_some(())
}

fn load(texts: &BTreeMap<String, String>) -> Result<netfence_model::Cluster, String> {
    let mut sources = netfence_model::Sources::default();
    for (name, text) in texts {
        sources.add(name.clone(), text.clone());
    }
    netfence_model::load(&mut sources, &netfence_model::LoadOptions::default())
        .map(|l| l.cluster)
        .map_err(|d| netfence_model::diag::render_short(&d, &sources))
}

#[test]
fn first_list_gives_every_object_as_a_loadable_text_named_by_its_api_path() {
    let api = TestApi::start().unwrap();
    api.apply(namespace("shop")).unwrap();
    api.apply(pod("a", "web", "10.1.0.1")).unwrap();
    api.apply(
        json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": "deny", "namespace": "shop"},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}}),
    )
    .unwrap();
    let f = start(api);
    let texts = ready(&f);
    let names: Vec<&str> = texts.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "cluster:/api/v1/namespaces/shop",
            POD_A,
            "cluster:/apis/networking.k8s.io/v1/namespaces/shop/networkpolicies/deny",
        ]
    );
    // List items come without apiVersion/kind: the source puts them back,
    // and leaves managedFields out.
    let pod: Value = serde_json::from_str(&texts[POD_A]).unwrap();
    assert_eq!(pod["apiVersion"], "v1");
    assert_eq!(pod["kind"], "Pod");
    assert_eq!(pod["metadata"]["resourceVersion"], "2");
    assert!(pod["metadata"].get("managedFields").is_none());
    let cluster = load(&texts).unwrap();
    let pods: Vec<&str> = cluster
        .endpoints
        .iter()
        .filter(|e| !e.is_synthetic())
        .map(|e| e.id.as_str())
        .collect();
    assert_eq!(pods, ["shop/a"]);
    assert_eq!(cluster.policies.len(), 1);
    assert!(
        f.notified.load(Ordering::SeqCst) >= 4,
        "each first list is a change"
    );
    assert_eq!(f.source.stats().lists, [1; 7]);
}

#[test]
fn nothing_is_ready_until_every_kind_has_listed() {
    let api = TestApi::start().unwrap();
    api.refuse_kind(Some(NETWORK_POLICIES));
    api.apply(namespace("shop")).unwrap();
    let f = start(api);
    wait_for("the other kinds' lists", || {
        let lists = f.source.stats().lists;
        (lists[..3] == [1, 1, 1] && lists[4..] == [1, 1, 1]).then_some(())
    });
    assert_eq!(f.source.texts(), Err(vec!["networkpolicies"]));
    // Still not, a moment later: the refused list is retried, not skipped.
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(f.source.texts(), Err(vec!["networkpolicies"]));
    assert!(f.source.stats().errors >= 1);
    f.api.refuse_kind(None);
    let texts = ready(&f);
    assert!(texts.contains_key("cluster:/api/v1/namespaces/shop"));
}

#[test]
fn watch_events_add_modify_and_delete() {
    let api = TestApi::start().unwrap();
    api.apply(namespace("shop")).unwrap();
    let f = start(api);
    ready(&f);
    let before = f.notified.load(Ordering::SeqCst);
    f.api.apply(pod("a", "web", "10.1.0.1")).unwrap();
    wait_for("ADDED", || has_text(&f, POD_A, "\"web\""));
    f.api.apply(pod("a", "db", "10.1.0.1")).unwrap();
    wait_for("MODIFIED", || has_text(&f, POD_A, "\"db\""));
    assert!(f.api.delete(PODS, "shop", "a"));
    wait_for("DELETED", || {
        (!f.source.texts().ok()?.contains_key(POD_A)).then_some(())
    });
    assert!(f.notified.load(Ordering::SeqCst) >= before + 3);
    assert_eq!(f.source.stats().events, 3);
    // Watching, not listing again.
    assert_eq!(f.source.stats().lists, [1; 7]);
}

#[test]
fn a_bookmark_moves_the_resource_version_a_new_watch_starts_from() {
    let api = TestApi::start().unwrap();
    let f = start(api);
    ready(&f);
    f.api.apply(pod("a", "web", "10.1.0.1")).unwrap();
    wait_for("ADDED", || has_text(&f, POD_A, "\"web\""));
    let pod_rv = f.api.resource_version();
    // Changes of another kind move the global version past the pods' last event.
    for i in 0..3 {
        f.api.apply(namespace(&format!("ns{i}"))).unwrap();
    }
    let now = f.api.resource_version();
    assert!(now > pod_rv);
    f.api.bookmark();
    // Give the watcher a moment to read the bookmark, then break the watches.
    std::thread::sleep(Duration::from_millis(200));
    let seen = f.api.requests().len();
    f.api.drop_watches();
    let rewatch = wait_for("a new pods watch", || {
        f.api.requests()[seen..]
            .iter()
            .find(|r| r.is_watch() && r.path == "/api/v1/pods")
            .cloned()
    });
    assert_eq!(rewatch.query["resourceVersion"], now.to_string());
    assert_eq!(rewatch.query["allowWatchBookmarks"], "true");
}

#[test]
fn a_dropped_connection_is_watched_again_without_a_new_list() {
    let api = TestApi::start().unwrap();
    let f = start(api);
    ready(&f);
    f.api.drop_watches();
    f.api.apply(pod("a", "web", "10.1.0.1")).unwrap();
    wait_for("the pod after reconnecting", || {
        has_text(&f, POD_A, "\"web\"")
    });
    let watches = f
        .api
        .requests()
        .iter()
        .filter(|r| r.is_watch() && r.path == "/api/v1/pods")
        .count();
    assert!(watches >= 2, "{watches} pods watches");
    assert_eq!(f.source.stats().lists, [1; 7]);
}

#[test]
fn gone_410_lists_again_and_the_list_replaces_the_store() {
    let api = TestApi::start().unwrap();
    api.apply(pod("a", "web", "10.1.0.1")).unwrap();
    let f = start(api);
    ready(&f);
    // While the watches are down, b comes and a goes, and the history is
    // compacted: the watch from the old version gets 410, so only a new
    // list can tell that a is gone.
    f.api.set_unavailable(true);
    f.api.apply(pod("b", "web", "10.1.0.2")).unwrap();
    assert!(f.api.delete(PODS, "shop", "a"));
    f.api.compact();
    f.api.set_unavailable(false);
    let texts = wait_for("the new list", || {
        let t = f.source.texts().ok()?;
        (t.contains_key(POD_B) && !t.contains_key(POD_A)).then_some(t)
    });
    assert!(texts.contains_key(POD_B));
    assert!(f.source.stats().lists[1] >= 2, "{:?}", f.source.stats());
    // An ERROR 410 on an open watch does the same.
    let lists = f.source.stats().lists;
    f.api.expire();
    wait_for("lists after expiry", || {
        let now = f.source.stats().lists;
        now.iter().zip(lists).all(|(n, l)| *n > l).then_some(())
    });
    assert!(f.source.texts().unwrap().contains_key(POD_B));
}

#[test]
fn reconnecting_backs_off() {
    let api = TestApi::start().unwrap();
    let f = start(api);
    ready(&f);
    f.api.set_unavailable(true);
    let t = Instant::now();
    std::thread::sleep(Duration::from_secs(4));
    let refused: Vec<_> = f
        .api
        .requests()
        .into_iter()
        .filter(|r| r.status == 503 && r.path == "/api/v1/pods")
        .collect();
    assert!(t.elapsed() < Duration::from_secs(6));
    // Without backoff a refused request is retried at once, thousands of
    // times in 4 s. kube retries a 503 in its client (from 5 ms, doubling)
    // and its watcher backs off between failures (from 0.8 s, doubling): a
    // handful of requests, further and further apart.
    assert!(
        (2..=20).contains(&refused.len()),
        "{} refused pods requests in 4 s",
        refused.len()
    );
    let gaps: Vec<Duration> = refused.windows(2).map(|w| w[1].at - w[0].at).collect();
    let widest = gaps.iter().max().copied().unwrap_or_default();
    assert!(widest >= Duration::from_millis(300), "gaps {gaps:?}");
    f.api.set_unavailable(false);
    f.api.apply(namespace("late")).unwrap();
    wait_for("recovery", || {
        has_text(&f, "cluster:/api/v1/namespaces/late", "\"late\"")
    });
    assert!(f.api.delete(NAMESPACES, "", "late"));
}

#[test]
fn an_object_that_does_not_load_gets_a_located_error_under_its_api_path() {
    let api = TestApi::start().unwrap();
    api.apply(namespace("shop")).unwrap();
    api.apply(
        json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": "bad", "namespace": "shop"},
        "spec": {"podSelector": {}, "ingress": [{"ports": [{"port": 70000}]}]}}),
    )
    .unwrap();
    let f = start(api);
    let err = load(&ready(&f)).unwrap_err();
    assert!(
        err.starts_with("cluster:/apis/networking.k8s.io/v1/namespaces/shop/networkpolicies/bad:"),
        "{err}"
    );
    assert!(err.contains("70000"), "{err}");
}

#[test]
fn admin_policies_are_watched_and_a_kind_the_server_lacks_counts_as_none() {
    let api = TestApi::start().unwrap();
    api.set_missing(BASELINE_ADMIN_NETWORK_POLICIES, true);
    api.set_missing(CLUSTER_NETWORK_POLICIES, true);
    api.apply(namespace("shop")).unwrap();
    api.apply(
        json!({"apiVersion": "policy.networking.k8s.io/v1alpha1", "kind": "AdminNetworkPolicy",
        "metadata": {"name": "no-smtp"},
        "spec": {"priority": 10, "subject": {"namespaces": {}},
                 "egress": [{"name": "smtp", "action": "Deny",
                             "to": [{"networks": ["0.0.0.0/0"]}],
                             "ports": [{"portNumber": {"protocol": "TCP", "port": 25}}]}]}}),
    )
    .unwrap();
    let f = start(api);
    let texts = ready(&f);
    let name = "cluster:/apis/policy.networking.k8s.io/v1alpha1/adminnetworkpolicies/no-smtp";
    assert!(texts.contains_key(name), "{:?}", texts.keys());
    let cluster = load(&texts).unwrap();
    assert_eq!(cluster.admin_policies.len(), 1);
    let stats = f.source.stats();
    assert_eq!(
        stats.absent,
        [false, false, false, false, false, true, true]
    );
    // Installed later: its watcher, still trying, lists it.
    f.api.set_missing(CLUSTER_NETWORK_POLICIES, false);
    f.api.apply(json!({"apiVersion": "policy.networking.k8s.io/v1alpha2", "kind": "ClusterNetworkPolicy",
        "metadata": {"name": "late"},
        "spec": {"tier": "Admin", "priority": 5, "subject": {"namespaces": {}},
                 "ingress": [{"name": "all", "action": "Pass", "from": [{"namespaces": {}}]}]}}))
        .unwrap();
    wait_for("the late kind", || {
        has_text(
            &f,
            "cluster:/apis/policy.networking.k8s.io/v1alpha2/clusternetworkpolicies/late",
            "\"late\"",
        )
    });
    assert!(!f.source.stats().absent[6]);
    // Deleted: gone from the texts, like any object.
    assert!(f.api.delete(ADMIN_NETWORK_POLICIES, "", "no-smtp"));
    wait_for("the deletion", || {
        (!f.source.texts().ok()?.contains_key(name)).then_some(())
    });
}
