//! Outputs, configuration and suppression.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use netfence_lint::{Config, ConfigError, Level, Settings};

#[test]
fn text_output_of_the_guide_without_dns() {
    let (sources, run) = common::lint_paths(&["examples/guide-no-dns"], &Settings::default());
    insta::assert_snapshot!(netfence_lint::output::text(&run, &sources, false));
}

#[test]
fn json_output_has_the_documented_fields() {
    let (sources, run) =
        common::lint_paths(&["fixtures/lint/NF003/bad.yaml"], &common::only("NF003"));
    let doc = netfence_lint::output::json(&run, &sources);
    let f = &doc["findings"][0];
    assert_eq!(f["rule"], "NF003");
    assert_eq!(f["name"], "namespace-selector-matches-no-namespace");
    assert_eq!(f["severity"], "warning");
    assert_eq!(f["location"]["file"], "fixtures/lint/NF003/bad.yaml");
    assert_eq!(f["location"]["line"], 15);
    assert_eq!(f["location"]["column"], 15);
    assert_eq!(f["location"]["end_column"], 19);
    assert_eq!(
        f["location"]["path"],
        "spec.ingress[0].from[0].namespaceSelector.matchLabels.name"
    );
    assert_eq!(f["object"], "NetworkPolicy app/web-from-monitoring");
    assert!(
        f["help"]
            .as_str()
            .unwrap()
            .contains("kubernetes.io/metadata.name: monitoring")
    );
    assert_eq!(doc["counts"]["warning"], 1);
    assert_eq!(doc["failed"], true);
}

#[test]
fn github_output_is_one_escaped_workflow_command_per_finding() {
    let (sources, run) =
        common::lint_paths(&["fixtures/lint/NF012/bad.yaml"], &common::only("NF012"));
    let out = netfence_lint::output::github(&run, &sources);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 1, "{out}");
    assert!(
        lines[0].starts_with(
            "::error file=fixtures/lint/NF012/bad.yaml,line=11,col=7,endLine=11,endColumn=13,title=NF012 dns-blocked::"
        ),
        "{out}"
    );
    assert!(lines[0].contains("%0Ahelp: "), "newlines escaped: {out}");
}

#[test]
fn annotations_silence_a_rule_on_the_object_or_its_namespace() {
    let base =
        std::fs::read_to_string(common::root().join("fixtures/lint/NF010/bad.yaml")).unwrap();
    let on_policy = base.replacen(
        "  name: web\n  namespace: app\n",
        "  name: web\n  namespace: app\n  annotations:\n    netfence.io/lint-ignore: NF005, allow-all-rule\n",
        1,
    );
    let on_namespace = base.replacen(
        "kind: Namespace\nmetadata:\n  name: app\n",
        "kind: Namespace\nmetadata:\n  name: app\n  annotations:\n    netfence.io/lint-ignore: NF010\n",
        1,
    );
    assert_ne!(on_policy, base);
    assert_ne!(on_namespace, base);
    for (text, silenced) in [(&base, false), (&on_policy, true), (&on_namespace, true)] {
        let (sources, loaded) =
            netfence_model::load_texts(&[("in.yaml", text)], &Default::default());
        let loaded = loaded.unwrap();
        let engine = netfence_engine::Engine::new(&loaded.cluster);
        let run = netfence_lint::lint(
            &engine,
            &sources,
            &Default::default(),
            &common::only("NF010"),
        );
        assert_eq!(run.findings.is_empty(), silenced, "{text}");
        assert_eq!(run.suppressed, usize::from(silenced));
    }
}

#[test]
fn configuration_file_and_command_line() {
    let config = Config::parse(
        ".netfence.yaml",
        "lint:\n  disable: [all]\n  enable: [NF012, dns-udp-only]\n  fail-on: error\n  severity:\n    NF013: error\n",
    )
    .unwrap();
    let s = Settings::new(&config, &[], &[], None).unwrap();
    let rule = |id| netfence_lint::rules::find(id).unwrap();
    assert!(s.enabled(rule("NF012")) && s.enabled(rule("NF013")));
    assert!(!s.enabled(rule("NF001")));
    assert_eq!(s.severity(rule("NF013")), Level::Error);
    assert_eq!(s.fail_on, Level::Error);
    // The command line wins over the file.
    let s = Settings::new(
        &config,
        &["NF001".into()],
        &["NF012".into()],
        Some(Level::Info),
    )
    .unwrap();
    assert!(s.enabled(rule("NF001")) && !s.enabled(rule("NF012")));
    assert_eq!(s.fail_on, Level::Info);
    assert!(matches!(
        Settings::new(&config, &["NF999".into()], &[], None),
        Err(ConfigError::UnknownRule(_))
    ));
}

#[test]
fn a_malformed_configuration_is_reported_with_positions() {
    let err = Config::parse(
        ".netfence.yaml",
        "lint:\n  disable: [NF001, NF999]\n  fail-on: sometimes\n  colour: red\n",
    )
    .unwrap_err();
    let ConfigError::Invalid {
        sources,
        diagnostics,
        ..
    } = err
    else {
        panic!("expected located problems");
    };
    let short = netfence_model::diag::render_short(&diagnostics, &sources);
    assert!(
        short.contains(".netfence.yaml:2:20: error: unknown rule `NF999`"),
        "{short}"
    );
    assert!(
        short.contains(".netfence.yaml:3:12: error: expected `error`, `warning` or `info`"),
        "{short}"
    );
    assert!(
        short.contains(".netfence.yaml:4:3: error: unknown key `colour` in `lint`"),
        "{short}"
    );
}
