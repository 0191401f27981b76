//! `--cluster-dns` is decided once (model and engine) and every surface agrees:
//! report's DNS health, check's verdict and proposed fix, lint's NF012 and diff's
//! DNS callout all follow a resolver that is not kube-dns, and ignore a decoy
//! `k8s-app: kube-dns` pod the flag does not name.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::netfence;
use serde_json::Value;

const INPUT: &str = "fixtures/cluster-dns";
const FLAG: &str = "--cluster-dns=dns/app=resolver";

fn json(args: &[&str]) -> (i32, Value) {
    let run = netfence(args);
    assert!(
        run.code == 0 || run.code == 1,
        "{args:?}: exit {}\n{}",
        run.code,
        run.stderr
    );
    (run.code, serde_json::from_str(&run.stdout).unwrap())
}

fn dns_problem_pods(report: &Value) -> Vec<String> {
    report["dns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["pod"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn report_follows_the_flag() {
    let (_, with) = json(&["report", INPUT, FLAG, "-o", "json"]);
    assert_eq!(dns_problem_pods(&with), ["web/client-0"]);
    // Without the flag kube-dns is cluster DNS, and app's allowance points elsewhere.
    let (_, without) = json(&["report", INPUT, "-o", "json"]);
    assert_eq!(dns_problem_pods(&without), ["app/client-0", "web/client-0"]);
}

#[test]
fn check_allows_and_proposes_towards_the_configured_dns() {
    let (code, ok) = json(&[
        "check",
        "app/client-0",
        "dns/resolver-0",
        INPUT,
        FLAG,
        "--port",
        "53",
        "--protocol",
        "UDP",
        "-o",
        "json",
    ]);
    assert_eq!((code, &ok["allowed"]), (0, &Value::Bool(true)));
    let (code, denied) = json(&[
        "check",
        "web/client-0",
        "dns/resolver-0",
        INPUT,
        FLAG,
        "--port",
        "53",
        "--protocol",
        "UDP",
        "-o",
        "json",
    ]);
    assert_eq!(code, 1);
    let proposal = &denied["proposal"];
    assert_eq!(proposal["verified"], Value::Bool(true));
    let change = &proposal["changes"][0];
    // The guide's allow-dns policy, because the peer is the cluster's DNS.
    assert_eq!(change["policy"], "web/allow-dns");
    let yaml = change["yaml"].as_str().unwrap();
    assert!(yaml.contains("kubernetes.io/metadata.name: dns"), "{yaml}");
    assert!(yaml.contains("app: resolver"), "{yaml}");
    // The decoy is not DNS with the flag: the fix towards it is an ordinary one.
    let (_, decoy) = json(&[
        "check",
        "web/client-0",
        "kube-system/kube-dns-0",
        INPUT,
        FLAG,
        "--port",
        "53",
        "--protocol",
        "UDP",
        "-o",
        "json",
    ]);
    assert_ne!(decoy["proposal"]["changes"][0]["policy"], "web/allow-dns");
}

#[test]
fn lint_nf012_follows_the_flag() {
    let concerned = |args: &[&str]| -> Vec<String> {
        let (_, lint) = json(args);
        lint["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["rule"] == "NF012")
            .flat_map(|f| f["related"].as_array().unwrap().clone())
            .map(|p| p.as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        concerned(&["lint", INPUT, FLAG, "-o", "json"]),
        ["web/client-0"]
    );
    let mut without = concerned(&["lint", INPUT, "-o", "json"]);
    without.sort();
    assert_eq!(without, ["app/client-0", "web/client-0"]);
}

#[test]
fn diff_dns_callout_follows_the_flag() {
    let broken = |args: &[&str]| -> Vec<String> {
        let (_, diff) = json(args);
        diff["callouts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["kind"] == "dns-broken")
            .map(|c| c["pod"].as_str().unwrap().to_string())
            .collect()
    };
    let args = [
        "diff",
        INPUT,
        INPUT,
        "--without",
        "NetworkPolicy/app/allow-resolver",
        "-o",
        "json",
    ];
    let mut flagged = args.to_vec();
    flagged.push(FLAG);
    assert_eq!(broken(&flagged), ["app/client-0"]);
    // Without the flag app never reached (kube-)DNS, so nothing broke.
    assert!(broken(&args).is_empty());
}
