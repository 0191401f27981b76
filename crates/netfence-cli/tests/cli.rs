//! The `netfence` binary end to end: outputs users read (snapshots), exit codes,
//! and bad input.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use common::{netfence, netfence_stdin};

#[test]
fn report_guide() {
    let r = netfence(&["report", "examples/guide"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    insta::assert_snapshot!(r.stdout);
}

#[test]
fn report_shop() {
    let r = netfence(&["report", "examples/shop"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("from any external address: TCP 80,443"));
    insta::assert_snapshot!(r.stdout);
}

/// The bundled cluster-wide default-deny: `report` says what each admin rule
/// does across the namespaces, and which namespaces re-open via NetworkPolicy.
#[test]
fn report_cluster_default_deny() {
    let r = netfence(&["report", "examples/cluster-default-deny"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains(
        "denies ingress from pods of every namespace for 4 of 5 namespaces (all but kube-system); 2 namespaces re-open via NetworkPolicy: backend, frontend"
    ), "{}", r.stdout);
    insta::assert_snapshot!(r.stdout);
    let r = netfence(&["-o", "json", "report", "examples/cluster-default-deny"]);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let deny = &v["cluster"][1];
    assert_eq!(deny["policy"], "ClusterNetworkPolicy/default-deny");
    assert_eq!(deny["tier"], "Baseline");
    assert_eq!(deny["direction"], "ingress");
    assert_eq!(deny["action"], "Deny");
    assert_eq!(deny["of_namespaces"], 5);
    assert_eq!(
        deny["network_policy_decides_in"],
        serde_json::json!(["backend", "frontend"])
    );
    // Without admin policies the document is as it was.
    let r = netfence(&["-o", "json", "report", "examples/guide"]);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert!(v.get("cluster").is_none());
}

#[test]
fn check_explains_the_dns_break_and_proposes_allow_dns() {
    let r = netfence(&[
        "check",
        "app/deployment/frontend",
        "kube-system/deployment/coredns",
        "examples/guide-no-dns",
        "--port",
        "53",
        "--protocol",
        "UDP",
    ]);
    assert_eq!(r.code, 1, "denied exits 1: {}", r.stderr);
    assert!(r.stdout.contains("name: allow-dns"));
    assert!(r.stdout.contains("verified"));
    insta::assert_snapshot!(r.stdout);
}

#[test]
fn check_allowed_exits_zero_and_names_the_rule() {
    let r = netfence(&[
        "check",
        "app/deployment/frontend",
        "kube-system/deployment/coredns",
        "examples/guide",
        "--port",
        "53",
        "--protocol",
        "UDP",
    ]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert!(r.stdout.starts_with("ALLOWED"));
    assert!(
        r.stdout
            .contains("app/allow-dns spec.egress[0] (examples/guide/policies.yaml:23:7): allows"),
        "{}",
        r.stdout
    );
}

#[test]
fn check_json_is_parseable_and_complete() {
    let r = netfence(&[
        "-o",
        "json",
        "check",
        "app/deployment/frontend",
        "app/deployment/api",
        "examples/guide",
        "--port",
        "8080",
    ]);
    assert_eq!(r.code, 1);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["allowed"], false);
    assert_eq!(v["explanation"]["egress"]["state"], "isolated");
    assert_eq!(
        v["explanation"]["ingress"]["grants"][0]["conns"]["TCP"],
        serde_json::json!([[8080, 8080]])
    );
    assert_eq!(v["proposal"]["verified"], true);
}

#[test]
fn check_through_a_service_resolves_the_target_port() {
    let r = netfence(&[
        "check",
        "app/deployment/frontend",
        "app/svc/api",
        "examples/guide",
        "--port",
        "8080",
    ]);
    assert!(
        r.stdout.contains("via Service app/api"),
        "{}{}",
        r.stdout,
        r.stderr
    );
}

#[test]
fn what_if_with_and_without() {
    let without = netfence(&[
        "check",
        "app/deployment/frontend",
        "kube-system/deployment/coredns",
        "examples/guide",
        "--port",
        "53",
        "--protocol",
        "UDP",
        "--without",
        "NetworkPolicy/app/allow-dns",
    ]);
    assert_eq!(without.code, 1, "{}", without.stderr);
    let with = netfence(&[
        "check",
        "app/deployment/frontend",
        "kube-system/deployment/coredns",
        "examples/guide-no-dns",
        "--port",
        "53",
        "--protocol",
        "UDP",
        "--with",
        "examples/guide/policies.yaml",
    ]);
    assert_eq!(with.code, 0, "{}", with.stderr);
    let missing = netfence(&[
        "report",
        "examples/guide",
        "--without",
        "NetworkPolicy/app/nope",
    ]);
    assert_eq!(missing.code, 2);
}

#[test]
fn describe_policy_resolves_peers() {
    let r = netfence(&["describe", "policy", "app/allow-dns", "examples/guide"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    insta::assert_snapshot!(r.stdout);
}

#[test]
fn describe_pod_and_namespace() {
    let pod = netfence(&[
        "-n",
        "app",
        "describe",
        "pod",
        "deployment/api",
        "examples/guide",
    ]);
    assert_eq!(pod.code, 0, "{}", pod.stderr);
    insta::assert_snapshot!("describe_pod", pod.stdout);
    let ns = netfence(&["describe", "namespace", "app", "examples/guide"]);
    assert_eq!(ns.code, 0);
    insta::assert_snapshot!("describe_namespace", ns.stdout);
}

#[test]
fn matrix_formats() {
    let text = netfence(&["matrix", "examples/guide"]);
    assert_eq!(text.code, 0);
    insta::assert_snapshot!("matrix_text", text.stdout);
    let json = netfence(&["-o", "json", "matrix", "examples/guide"]);
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert!(
        v["endpoints"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["id"] == "0.0.0.0/0" && e["kind"] == "external")
    );
    let csv = netfence(&["-o", "csv", "matrix", "examples/guide", "--port", "53"]);
    assert!(csv.stdout.starts_with("src,dst,allowed\n"));
    assert!(
        csv.stdout
            .contains("app/deployment/frontend,kube-system/deployment/coredns,\"TCP 53; UDP 53\""),
        "{}",
        csv.stdout
    );
    let dot = netfence(&["-o", "dot", "matrix", "examples/guide"]);
    assert!(dot.stdout.starts_with("digraph netfence {"));
    let md = netfence(&["-o", "md", "matrix", "examples/guide"]);
    assert!(md.stdout.starts_with("| from | to | allowed |"));
}

#[test]
fn stdin_input() {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/guide/policies.yaml"),
    )
    .unwrap();
    let r = netfence_stdin(&["report", "-"], Some(&text));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("namespace `app` is used but not declared"),
        "{}",
        r.stderr
    );
}

#[test]
fn bad_input_reports_every_error_and_exits_2() {
    let bad = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: bad\n  namespace: app\nspec:\n  podSelector: {}\n  ingres:\n  - from:\n    - {}\n  egress:\n  - ports:\n    - protocol: tcp\n      port: 0\n";
    let r = netfence_stdin(&["report", "-"], Some(bad));
    assert_eq!(r.code, 2);
    assert!(r.stdout.is_empty(), "no answer on bad input: {}", r.stdout);
    for want in [
        "unknown field `ingres`",
        "did you mean `ingress`?",
        "<stdin>:8:3",
        "unsupported protocol `tcp`",
        "<stdin>:13:17",
        "port 0 is out of range",
        "spec.egress[0].ports[0].port",
        "3 errors in the input",
    ] {
        assert!(
            r.stderr.contains(want),
            "missing {want:?} in:\n{}",
            r.stderr
        );
    }
}

#[test]
fn unknown_endpoint_is_an_error() {
    let r = netfence(&["check", "app/nope", "app/deployment/api", "examples/guide"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("no endpoint `app/nope`"));
}

#[test]
fn missing_file_is_an_error() {
    let r = netfence(&["report", "does/not/exist.yaml"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("does/not/exist.yaml"), "{}", r.stderr);
}

#[test]
fn lists_json_and_foreign_policies() {
    let input = r#"{"apiVersion": "v1", "kind": "List", "items": [
  {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "app"}},
  {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "app", "labels": {"app": "web"}},
   "spec": {"containers": [{"name": "c", "image": "nginx", "ports": [{"name": "http", "containerPort": 80}]}]},
   "status": {"phase": "Running", "podIP": "10.0.0.5"}},
  {"apiVersion": "projectcalico.org/v3", "kind": "NetworkPolicy", "metadata": {"name": "calico-deny", "namespace": "app"}, "spec": {}},
  {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg", "namespace": "app"}}
]}"#;
    let r = netfence_stdin(&["-v", "report", "-"], Some(input));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("NetworkPolicy app/calico-deny is present but NOT analyzed"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("skipped ConfigMap app/cfg"),
        "{}",
        r.stderr
    );
    assert!(r.stdout.contains("NOT ANALYZED"), "{}", r.stdout);
    assert!(r.stdout.contains("app/web"), "{}", r.stdout);
}

#[test]
fn default_namespace_from_flag() {
    let policy = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny}\nspec: {podSelector: {}}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec: {containers: [{name: c, image: i}]}\n";
    let r = netfence_stdin(
        &[
            "-n", "shop", "-o", "json", "describe", "policy", "deny", "-",
        ],
        Some(policy),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["policy"], "shop/deny");
    assert_eq!(v["selects"], serde_json::json!(["shop/web"]));
}

#[test]
fn lint_exit_codes() {
    // Nothing at or above warning: 0.
    let r = netfence(&["lint", "examples/shop"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains("0 errors, 0 warnings, 4 info (fail-on: warning): passed"),
        "{}",
        r.stdout
    );
    // A warning (the guide's one-sided flow): 1, unless fail-on is raised.
    let r = netfence(&["lint", "examples/guide"]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(r.stdout.contains("[NF029 ingress-without-egress]"));
    assert!(r.stdout.contains("examples/guide/policies.yaml:49:11"));
    let r = netfence(&["lint", "examples/guide", "--fail-on", "error"]);
    assert_eq!(r.code, 0);
    let r = netfence(&["lint", "examples/shop", "--fail-on", "info"]);
    assert_eq!(r.code, 1);
    let r = netfence(&["lint", "examples/guide", "--disable", "NF029"]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    // Errors: bad input, unknown rule, unsupported output.
    let r = netfence_stdin(
        &["lint", "-"],
        Some(
            "kind: NetworkPolicy\napiVersion: networking.k8s.io/v1\nmetadata: {name: x}\nspec: {policyTypes: [Sideways]}\n",
        ),
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    let r = netfence(&["lint", "examples/shop", "--enable", "NF999"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("unknown rule `NF999`"), "{}", r.stderr);
    let r = netfence(&["lint", "examples/shop", "-o", "csv"]);
    assert_eq!(r.code, 2);
}

#[test]
fn lint_explain_prints_the_rule_documentation() {
    let r = netfence(&["lint", "--explain", "NF012"]);
    assert_eq!(r.code, 0);
    assert!(
        r.stdout.starts_with("## NF012 dns-blocked: "),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("Default severity: **error**."));
    assert!(
        r.stdout.contains("### Bad")
            && r.stdout.contains("### Good")
            && r.stdout.contains("### Fix")
    );
    let by_name = netfence(&["lint", "--explain", "dns-blocked"]);
    assert_eq!(by_name.stdout, r.stdout);
    let all = netfence(&["lint", "--explain", "all"]);
    assert_eq!(all.code, 0);
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/rules.md"))
            .unwrap();
    assert_eq!(all.stdout, doc);
    assert_eq!(netfence(&["lint", "--explain", "NF999"]).code, 2);
}

#[test]
fn lint_machine_outputs() {
    let r = netfence(&["lint", "examples/guide-no-dns", "-o", "json"]);
    assert_eq!(r.code, 1);
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(doc["counts"]["error"], 1);
    let r = netfence(&["lint", "examples/guide-no-dns", "-o", "sarif"]);
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(doc["version"], "2.1.0");
    assert_eq!(doc["runs"][0]["results"][2]["ruleId"], "NF012");
    let r = netfence(&["lint", "examples/guide-no-dns", "-o", "github"]);
    assert!(
        r.stdout
            .contains("::error file=examples/guide-no-dns/policies.yaml,line=13,col=7,"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("::notice file=examples/guide-no-dns/namespaces.yaml,line=12,col=9,"),
        "{}",
        r.stdout
    );
}

#[test]
fn lint_configuration_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join(".netfence.yaml");
    std::fs::write(&config, "lint:\n  disable: [ingress-without-egress]\n").unwrap();
    let config_arg = config.display().to_string();
    let r = netfence(&["lint", "examples/guide", "--config", &config_arg]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert!(!r.stdout.contains("NF029"));
    // The command line wins over the file.
    let r = netfence(&[
        "lint",
        "examples/guide",
        "--config",
        &config_arg,
        "--enable",
        "NF029",
    ]);
    assert_eq!(r.code, 1);
    // A malformed file: exit 2, with its position.
    std::fs::write(&config, "lint:\n  fail-on: sometimes\n").unwrap();
    let r = netfence(&["lint", "examples/guide", "--config", &config_arg]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains(".netfence.yaml:2:12"), "{}", r.stderr);
    assert!(
        r.stderr.contains("expected `error`, `warning` or `info`"),
        "{}",
        r.stderr
    );
}
