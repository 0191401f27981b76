//! The zero-false-positive corpus: the bundled examples and idiomatic policies
//! produce nothing at warning or above, except the guide's known gap.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use netfence_lint::{Level, Settings};

fn findings(paths: &[&str]) -> Vec<String> {
    let (sources, run) = common::lint_paths(paths, &Settings::default());
    run.findings
        .iter()
        .map(|f| {
            let l = f.location(&sources).unwrap();
            format!(
                "{} {} {}:{}:{}",
                f.severity, f.rule, l.file, l.line, l.column
            )
        })
        .collect()
}

fn serious(paths: &[&str]) -> Vec<String> {
    let (sources, run) = common::lint_paths(paths, &Settings::default());
    run.findings
        .iter()
        .filter(|f| f.severity >= Level::Warning)
        .map(|f| format!("{}: {}", f.rule, f.message) + &format!(" {:?}", f.location(&sources)))
        .collect()
}

#[test]
fn shop_has_no_warnings() {
    assert_eq!(serious(&["examples/shop"]), Vec::<String>::new());
}

#[test]
fn clean_corpus_has_no_warnings() {
    assert_eq!(serious(&["fixtures/lint/clean"]), Vec::<String>::new());
}

#[test]
fn guide_reports_exactly_its_one_sided_flow_and_posture() {
    // frontend -> api: api admits frontend, but default-deny-all isolates
    // frontend's egress and nothing allows it (examples/README.md).
    assert_eq!(
        findings(&["examples/guide"]),
        [
            "info NF030 examples/guide/namespaces.yaml:12:9",
            "info NF031 examples/guide/namespaces.yaml:12:9",
            "warning NF029 examples/guide/policies.yaml:49:11",
            "info NF032 examples/guide/workloads.yaml:90:9",
        ]
    );
}

#[test]
fn guide_without_dns_reports_the_dns_break_at_the_default_deny() {
    assert_eq!(
        findings(&["examples/guide-no-dns"]),
        [
            "info NF030 examples/guide-no-dns/namespaces.yaml:12:9",
            "info NF031 examples/guide-no-dns/namespaces.yaml:12:9",
            "error NF012 examples/guide-no-dns/policies.yaml:13:7",
            "warning NF029 examples/guide-no-dns/policies.yaml:28:11",
            "info NF032 examples/guide-no-dns/workloads.yaml:90:9",
        ]
    );
}

/// NF032 says a pod "accepts every connection"; with admin policies judging it
/// that would be false, so it is not said.
#[test]
fn pods_judged_by_admin_policies_are_not_called_open() {
    let nf032 = |paths: &[&str]| -> Vec<String> {
        let (_, run) = common::lint_paths(paths, &Settings::default());
        run.findings
            .iter()
            .filter(|f| f.rule == "NF032")
            .map(|f| f.message.clone())
            .collect()
    };
    // `allow-dns` has every pod as its subject.
    assert_eq!(
        nf032(&["examples/cluster-default-deny"]),
        Vec::<String>::new()
    );
    let without_admin = nf032(&[
        "examples/cluster-default-deny/namespaces.yaml",
        "examples/cluster-default-deny/policies.yaml",
        "examples/cluster-default-deny/workloads.yaml",
    ]);
    assert!(
        without_admin.contains(&"batch/deployment/worker is selected by no NetworkPolicy: it accepts every connection and may open any".to_string()),
        "{without_admin:?}"
    );
}
