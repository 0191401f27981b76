//! `check` explains the admin tiers in order: which Admin rule decided at which
//! priority, a Pass handing over to NetworkPolicy, the Baseline, the default;
//! `describe` shows admin policies and which apply to a pod; `report` lists who
//! reaches a destination admin policies judge.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use netfence_engine::Engine;
use netfence_model::{LoadOptions, Protocol, Sources, load};
use netfence_views::check::{CheckQuery, check, render_text};

const INPUT: &str = "
apiVersion: v1
kind: Namespace
metadata: {name: x}
---
apiVersion: v1
kind: Namespace
metadata: {name: z}
---
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: x, labels: {pod: a}}
spec: {containers: [{name: c, image: i}]}
status: {podIP: 10.0.0.1}
---
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: z, labels: {pod: a}}
spec: {containers: [{name: c, image: i}]}
status: {podIP: 10.0.1.1}
---
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: pass-ssh}
spec:
  tier: Admin
  priority: 20
  subject: {namespaces: {}}
  ingress:
  - {name: ssh, action: Pass, from: [{namespaces: {}}], protocols: [{tcp: {destinationPort: {number: 22}}}]}
  - {action: Deny, from: [{namespaces: {}}], protocols: [{tcp: {destinationPort: {number: 23}}}]}
---
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: baseline}
spec:
  tier: Baseline
  priority: 0
  subject: {namespaces: {}}
  ingress:
  - {action: Deny, from: [{namespaces: {}}]}
---
apiVersion: v1
kind: Service
metadata: {name: ssh, namespace: x}
spec: {selector: {pod: a}, ports: [{port: 22}]}
";

fn run(port: u16) -> (String, serde_json::Value) {
    run_to("x/a", "z/a", port)
}

fn run_to(dst: &str, src: &str, port: u16) -> (String, serde_json::Value) {
    let mut sources = Sources::default();
    sources.add("in.yaml".into(), INPUT.into());
    let loaded = load(&mut sources, &LoadOptions::default()).unwrap();
    let engine = Engine::new(&loaded.cluster);
    let q = CheckQuery {
        src: src.into(),
        dst: dst.into(),
        port: Some(port),
        protocol: Protocol::Tcp,
    };
    let report = check(&engine, &sources, &LoadOptions::default(), &q).unwrap();
    (
        render_text(&engine, &sources, &report, &q),
        serde_json::to_value(&report).unwrap(),
    )
}

#[test]
fn check_names_the_tier_and_rule_that_decided() {
    let (text, json) = run(22);
    assert!(text.starts_with("DENIED: z/a -> x/a (TCP/22)"), "{text}");
    for line in [
        "  [DENY] ingress to x/a: admin tiers first (Admin by priority, NetworkPolicy, Baseline, default allow)",
        "         1. Admin ClusterNetworkPolicy/pass-ssh priority 20 spec.ingress[0] \"ssh\" (in.yaml:30:5): Pass TCP 22 (handed to the NetworkPolicy tier)  <- the asked connection",
        "         2. Admin ClusterNetworkPolicy/pass-ssh priority 20 spec.ingress[1] (in.yaml:31:5): Deny TCP 23",
        "  [    ] ingress to x/a, NetworkPolicy tier: not isolated",
        "         3. Baseline ClusterNetworkPolicy/baseline priority 0 spec.ingress[0] (in.yaml:41:5): Deny TCP 0-22,24-65535; UDP all ports; SCTP all ports; other protocols  <- the asked connection",
        "         default (allow): nothing",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
    let tiers = &json["explanation"]["ingress"]["tiers"];
    assert_eq!(tiers["admin"][0]["action"], "Pass");
    assert_eq!(tiers["admin"][0]["priority"], 20);
    assert_eq!(
        tiers["admin"][0]["decided"]["TCP"],
        serde_json::json!([[22, 22]])
    );
    assert_eq!(
        tiers["baseline"][0]["policy"],
        "ClusterNetworkPolicy/baseline"
    );
    assert_eq!(
        tiers["to_network_policy"]["TCP"][0],
        serde_json::json!([0, 22])
    );
    assert_eq!(
        json["explanation"]["ingress"]["allowed"]["TCP"],
        serde_json::json!([])
    );
    // The egress side is judged by no rule here: the default allows it.
    assert_eq!(
        json["explanation"]["egress"]["tiers"]["admin"],
        serde_json::json!([])
    );
}

#[test]
fn sides_without_admin_policies_have_no_tiers() {
    let mut sources = Sources::default();
    sources.add(
        "in.yaml".into(),
        INPUT
            .split("---\napiVersion: policy")
            .next()
            .unwrap()
            .into(),
    );
    let loaded = load(&mut sources, &LoadOptions::default()).unwrap();
    let engine = Engine::new(&loaded.cluster);
    let q = CheckQuery {
        src: "z/a".into(),
        dst: "x/a".into(),
        port: Some(22),
        protocol: Protocol::Tcp,
    };
    let report = check(&engine, &sources, &LoadOptions::default(), &q).unwrap();
    let json = serde_json::to_value(&report).unwrap();
    assert!(json["explanation"]["ingress"].get("tiers").is_none());
    assert!(!render_text(&engine, &sources, &report, &q).contains("tier"));
}

#[test]
fn describe_shows_an_admin_policy_and_the_policies_of_a_pod() {
    let mut sources = Sources::default();
    sources.add("in.yaml".into(), INPUT.into());
    let loaded = load(&mut sources, &LoadOptions::default()).unwrap();
    let engine = Engine::new(&loaded.cluster);
    let d = netfence_views::describe_admin::describe_admin_policy(
        &engine,
        &sources,
        "clusternetworkpolicy",
        "pass-ssh",
    )
    .unwrap();
    let text = netfence_views::describe_admin::admin_policy_text(&d);
    for line in [
        "ClusterNetworkPolicy/pass-ssh (policy.networking.k8s.io/v1alpha2, in.yaml:26:3)",
        "  tier: Admin (priority 20; lower first, ties by name)",
        "  selects 3 pods: kube-system/synthetic/cluster-dns, x/a, z/a",
        "    spec.ingress[0] \"ssh\" (in.yaml:30:5): Pass",
        "        matches: kube-system/synthetic/cluster-dns, x/a, z/a",
        "      ports: TCP 22",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
    let err = netfence_views::describe_admin::describe_admin_policy(
        &engine,
        &sources,
        "clusternetworkpolicy",
        "pass-sh",
    )
    .unwrap_err();
    assert!(
        err.starts_with("no ClusterNetworkPolicy `pass-sh` in the input; did you mean pass-ssh"),
        "{err}"
    );
    let pod = netfence_views::describe::describe_pod(&engine, "x/a").unwrap();
    assert_eq!(
        pod.admin_policies,
        [
            "ClusterNetworkPolicy/pass-ssh (Admin tier, priority 20)",
            "ClusterNetworkPolicy/baseline (Baseline tier, priority 0)"
        ]
    );
    let text = netfence_views::describe::pod_text(&pod);
    assert!(
        text.contains(
            "  ingress: not isolated by a NetworkPolicy (the admin policies below still decide)"
        ),
        "{text}"
    );
}

/// network-policy-api: a pod reaching itself through its pod IP is not subject
/// to ClusterNetworkPolicy; through a Service IP that lands on itself, it is.
#[test]
fn hairpin_through_a_service_is_judged_by_the_admin_tiers() {
    let (text, _) = run_to("x/a", "x/a", 22);
    assert!(text.starts_with("ALLOWED: x/a -> x/a (TCP/22)"), "{text}");
    let (text, json) = run_to("x/svc/ssh", "x/a", 22);
    assert!(text.starts_with("DENIED: x/a -> x/a (TCP/22)"), "{text}");
    assert!(
        text.contains("3. Baseline ClusterNetworkPolicy/baseline"),
        "{text}"
    );
    assert_eq!(
        json["explanation"]["ingress"]["tiers"]["baseline"][0]["action"],
        "Deny"
    );
}

#[test]
fn report_lists_the_sources_of_admin_judged_destinations() {
    let mut sources = Sources::default();
    sources.add("in.yaml".into(), INPUT.into());
    let loaded = load(&mut sources, &LoadOptions::default()).unwrap();
    let engine = Engine::new(&loaded.cluster);
    let r = netfence_views::report::report(&engine, &sources, &loaded.diagnostics);
    let text = netfence_views::report::text(&r);
    // No NetworkPolicy isolates x/a, but the Baseline denies pods: only
    // external addresses reach it (admin ingress peers never match them).
    assert!(!text.contains("x/a: not isolated"), "{text}");
    assert!(
        text.contains("  x/a:\n      from any external address: all\n"),
        "{text}"
    );
    let json = serde_json::to_value(&r).unwrap();
    let x = json["reachability"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["destination"] == "x/a")
        .unwrap();
    assert_eq!(
        (x["ingress_isolated"].as_bool(), x["admin_judged"].as_bool()),
        (Some(false), Some(true))
    );
}
