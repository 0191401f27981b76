//! The fixture headers themselves are well formed (format in fixtures/README.md).
//! The runners in fixtures.rs read headers leniently (a check without `allowed`
//! would panic, a misspelt key would be ignored and its expectation lost), so
//! this test reads every header strictly before any engine answers for it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use serde_json::Value;

/// Folders whose files all start with a `netfenceTest` header.
const HEADER_DIRS: &[&str] = &[
    "semantics",
    "conformance",
    "invalid",
    "admin-conformance/v1alpha1",
    "admin-conformance/v1alpha2",
];

const HEADER_KEYS: &[&str] = &[
    "case", "title", "upstream", "features", "checks", "probes", "errors",
];
const CHECK_KEYS: &[&str] = &["src", "dst", "protocol", "port", "allowed"];
const PROBE_KEYS: &[&str] = &["protocol", "port", "table"];
const ERROR_KEYS: &[&str] = &["path", "contains", "line", "column", "object"];

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

/// `owner/repo@<40 hex digits>` somewhere in the text: the revision read.
fn cites_commit(s: &str) -> bool {
    s.match_indices('@').any(|(i, _)| {
        let before = &s[..i];
        let repo = before.rsplit(' ').next().unwrap_or("");
        let hex = s[i + 1..]
            .chars()
            .take_while(|c| c.is_ascii_hexdigit())
            .count();
        repo.contains('/') && hex == 40
    })
}

fn unknown_keys(what: &str, obj: &Value, known: &[&str], out: &mut Vec<String>) {
    match obj.as_object() {
        Some(map) => {
            for k in map.keys() {
                if !known.contains(&k.as_str()) {
                    out.push(format!("{what}: unknown key `{k}` (known: {known:?})"));
                }
            }
        }
        None => out.push(format!("{what}: not a mapping")),
    }
}

fn port_ok(v: &Value) -> bool {
    v.as_u64().is_some_and(|p| (1..=65535).contains(&p))
}

fn protocol_ok(v: &Value) -> bool {
    matches!(v.as_str(), Some("TCP" | "UDP" | "SCTP"))
}

fn nonempty_str(v: Option<&Value>) -> bool {
    v.and_then(Value::as_str)
        .is_some_and(|s| !s.trim().is_empty())
}

/// The problems of one header; `dir` is the folder under fixtures/ (its rules
/// differ: §3 cases carry a case number, transcriptions cite their source).
fn problems(dir: &str, header: &Value) -> Vec<String> {
    let mut out = Vec::new();
    unknown_keys("header", header, HEADER_KEYS, &mut out);
    if !nonempty_str(header.get("title")) {
        out.push("header: `title` missing or empty".into());
    }
    let case_ok = header
        .get("case")
        .and_then(Value::as_u64)
        .is_some_and(|n| n >= 1);
    if dir == "semantics" && !case_ok {
        out.push(
            "header: `case` (the semantics.md §3 number) missing or not a positive number".into(),
        );
    }
    let transcribed = dir == "conformance" || dir.starts_with("admin-conformance");
    match header.get("upstream").map(|u| u.as_str()) {
        Some(Some(u)) if cites_commit(u) => {}
        Some(_) => out.push(
            "header: `upstream` must cite the revision read, as `owner/repo@<40-hex commit> path: test`"
                .into(),
        ),
        None if transcribed => out.push("header: `upstream` missing".into()),
        None => {}
    }
    match header.get("features") {
        Some(Value::Array(fs)) if !fs.is_empty() => {
            for f in fs {
                let ok = f.as_str().is_some_and(|s| {
                    s.starts_with("Support") && s.chars().all(|c| c.is_ascii_alphanumeric())
                });
                if !ok {
                    out.push(format!(
                        "header: feature {f} is not an upstream SupportedFeature name (SupportXxx)"
                    ));
                }
            }
        }
        Some(_) => out.push("header: `features` must be a non-empty list".into()),
        None if dir.starts_with("admin-conformance") => {
            out.push("header: `features` missing (the upstream test's SupportedFeatures)".into())
        }
        None => {}
    }

    let list = |key: &str, out: &mut Vec<String>| -> Vec<Value> {
        match header.get(key) {
            None => Vec::new(),
            Some(Value::Array(items)) if !items.is_empty() => items.clone(),
            Some(_) => {
                out.push(format!("header: `{key}` must be a non-empty list"));
                Vec::new()
            }
        }
    };
    let checks = list("checks", &mut out);
    let probes = list("probes", &mut out);
    let errors = list("errors", &mut out);
    for (i, c) in checks.iter().enumerate() {
        let what = format!("checks[{i}]");
        unknown_keys(&what, c, CHECK_KEYS, &mut out);
        for k in CHECK_KEYS {
            if c.get(k).is_none() {
                out.push(format!("{what}: `{k}` missing"));
            }
        }
        for k in ["src", "dst"] {
            if c.get(k).is_some() && !nonempty_str(c.get(k)) {
                out.push(format!("{what}: `{k}` must be ns/pod or an IP address"));
            }
        }
        if c.get("protocol").is_some_and(|p| !protocol_ok(p)) {
            out.push(format!("{what}: `protocol` must be TCP, UDP or SCTP"));
        }
        if c.get("port").is_some_and(|p| !port_ok(p)) {
            out.push(format!("{what}: `port` must be a number 1-65535"));
        }
        if c.get("allowed").is_some_and(|a| !a.is_boolean()) {
            out.push(format!("{what}: `allowed` must be true or false"));
        }
    }
    for (i, p) in probes.iter().enumerate() {
        let what = format!("probes[{i}]");
        unknown_keys(&what, p, PROBE_KEYS, &mut out);
        if !p.get("protocol").is_some_and(protocol_ok) {
            out.push(format!("{what}: `protocol` must be TCP, UDP or SCTP"));
        }
        if !p.get("port").is_some_and(port_ok) {
            out.push(format!("{what}: `port` must be a number 1-65535"));
        }
        if !nonempty_str(p.get("table")) {
            out.push(format!("{what}: `table` missing"));
        }
    }
    for (i, e) in errors.iter().enumerate() {
        let what = format!("errors[{i}]");
        unknown_keys(&what, e, ERROR_KEYS, &mut out);
        if !e.get("path").is_some_and(Value::is_string) || !nonempty_str(e.get("contains")) {
            out.push(format!("{what}: `path` and `contains` are required"));
        }
        for k in ["line", "column"] {
            if e.get(k).is_some_and(|v| v.as_u64().is_none_or(|n| n == 0)) {
                out.push(format!("{what}: `{k}` must be a 1-based number"));
            }
        }
    }
    let expects_answers = !checks.is_empty() || !probes.is_empty();
    match (expects_answers, !errors.is_empty()) {
        (true, true) => {
            out.push("header: a fixture has either checks/probes or errors, not both".into())
        }
        (false, false) => out
            .push("header: no `checks`, `probes` or `errors`: the fixture asserts nothing".into()),
        _ => {}
    }
    if dir == "invalid" && errors.is_empty() {
        out.push("header: files under invalid/ list the `errors` they expect".into());
    }
    if dir.starts_with("admin-conformance") && checks.is_empty() {
        out.push(
            "header: a transcribed admin conformance step lists its probes as `checks`".into(),
        );
    }
    out
}

/// The problems of one file: its header must exist and be well formed.
fn file_problems(dir: &str, text: &str) -> Vec<String> {
    match netfence_model::fixture::split(text) {
        Some((header, _)) => problems(dir, &header),
        None => vec!["no leading `netfenceTest:` header document".into()],
    }
}

#[test]
fn every_fixture_header_is_well_formed() {
    let root = fixtures_dir();
    let mut failures = Vec::new();
    let mut files = 0;
    let mut checks = 0;
    for dir in HEADER_DIRS {
        let paths = netfence_model::fixture::files(&root.join(dir)).unwrap();
        assert!(!paths.is_empty(), "fixtures/{dir} has no fixture");
        for path in paths {
            let text = std::fs::read_to_string(&path).unwrap();
            files += 1;
            if let Some((h, _)) = netfence_model::fixture::split(&text) {
                checks += h
                    .get("checks")
                    .and_then(Value::as_array)
                    .map_or(0, Vec::len);
            }
            for p in file_problems(dir, &text) {
                failures.push(format!(
                    "fixtures/{dir}/{}: {p}",
                    path.file_name().unwrap().to_string_lossy()
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} problems:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // The admin transcriptions alone hold 590 checks (289 + 301 probes); a walk
    // that silently found fewer files would pass the loop above.
    assert!(
        files >= 250 && checks >= 700,
        "only {files} files / {checks} checks read"
    );
}

#[test]
fn every_admin_conformance_generation_is_checked() {
    let dir = fixtures_dir().join("admin-conformance");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            let name = format!("admin-conformance/{}", entry.file_name().to_string_lossy());
            assert!(
                HEADER_DIRS.contains(&name.as_str()),
                "{name} is not in HEADER_DIRS"
            );
            assert!(
                entry.path().join("_model.yaml").is_file(),
                "{name} has no _model.yaml"
            );
        }
    }
}

fn problems_of(dir: &str, yaml: &str) -> Vec<String> {
    file_problems(dir, yaml)
}

const GOOD: &str = r#"netfenceTest:
  title: t
  upstream: "kubernetes-sigs/network-policy-api@0eec1b0e5fa92715b4c0f4c48d3c8d2913ed2159 conformance/tests/x.go: CNPX"
  features: [SupportClusterNetworkPolicy]
  checks:
    - {src: a/b, dst: c/d, protocol: TCP, port: 80, allowed: true}
---
apiVersion: v1
kind: Namespace
metadata: {name: a}
"#;

#[test]
fn a_well_formed_header_passes() {
    assert_eq!(
        problems_of("admin-conformance/v1alpha2", GOOD),
        Vec::<String>::new()
    );
}

#[test]
fn malformed_headers_are_rejected() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "allowed: true}",
            "port: 80}",
            "checks[0]: `allowed` missing",
        ),
        (
            "protocol: TCP",
            "protocol: tcp",
            "`protocol` must be TCP, UDP or SCTP",
        ),
        ("port: 80", "port: 0", "`port` must be a number 1-65535"),
        (
            "allowed: true",
            "allowed: yes please",
            "`allowed` must be true or false",
        ),
        (
            "allowed: true}",
            "allowed: true, alowed: false}",
            "checks[0]: unknown key `alowed`",
        ),
        (
            "  title: t\n",
            "  title: t\n  expect: []\n",
            "header: unknown key `expect`",
        ),
        (
            "@0eec1b0e5fa92715b4c0f4c48d3c8d2913ed2159",
            " main",
            "`upstream` must cite the revision read",
        ),
        (
            "  features: [SupportClusterNetworkPolicy]\n",
            "",
            "`features` missing",
        ),
        (
            "  checks:\n    - {src: a/b, dst: c/d, protocol: TCP, port: 80, allowed: true}\n",
            "  checks: []\n",
            "`checks` must be a non-empty list",
        ),
    ];
    for (from, to, want) in cases {
        assert!(GOOD.contains(from), "{from}");
        let bad = GOOD.replacen(from, to, 1);
        let got = problems_of("admin-conformance/v1alpha2", &bad);
        assert!(
            got.iter().any(|p| p.contains(want)),
            "replacing {from:?} by {to:?}: expected a problem containing {want:?}, got {got:?}"
        );
    }
    let no_header = "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n";
    assert_eq!(
        problems_of("semantics", no_header),
        ["no leading `netfenceTest:` header document"]
    );
    let no_case = "netfenceTest:\n  title: t\n  checks:\n    - {src: a/b, dst: c/d, protocol: TCP, port: 80, allowed: true}\n";
    assert!(
        problems_of("semantics", no_case)
            .iter()
            .any(|p| p.contains("`case`"))
    );
    let nothing = "netfenceTest:\n  case: 1\n  title: t\n";
    assert!(
        problems_of("semantics", nothing)
            .iter()
            .any(|p| p.contains("asserts nothing"))
    );
}
