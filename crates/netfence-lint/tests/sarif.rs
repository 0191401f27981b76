//! SARIF output validated against the SARIF 2.1.0 JSON schema (vendored, see
//! tests/README.md), on inputs with findings of every severity.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use netfence_lint::Settings;

#[test]
fn sarif_output_is_valid_sarif_2_1_0() {
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("sarif-schema-2.1.0.json")).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    for paths in [
        &["examples/guide-no-dns"][..],
        &[
            "fixtures/lint/NF001/bad.yaml",
            "fixtures/lint/NF012/bad.yaml",
        ][..],
        &["examples/shop"][..],
    ] {
        let (sources, run) = common::lint_paths(paths, &Settings::default());
        assert!(!run.findings.is_empty(), "{paths:?}: nothing to validate");
        let sarif = netfence_lint::output::sarif(&run, &sources);
        let errors: Vec<String> = validator
            .iter_errors(&sarif)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{paths:?}:\n{}", errors.join("\n"));
        let results = sarif["runs"][0]["results"].as_array().unwrap();
        assert_eq!(results.len(), run.findings.len());
        for r in results {
            let region = &r["locations"][0]["physicalLocation"]["region"];
            assert!(region["startLine"].as_u64().unwrap() >= 1, "{r}");
            let uri = r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
                .as_str()
                .unwrap();
            assert!(
                !uri.starts_with('/'),
                "relative URIs for code scanning: {uri}"
            );
        }
    }
}

#[test]
fn the_schema_rejects_what_it_should() {
    // Guards the test above against a schema that accepts anything.
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("sarif-schema-2.1.0.json")).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let bad = serde_json::json!({"version": "2.1.0", "runs": [{"results": [{"level": "fatal"}]}]});
    assert!(!validator.is_valid(&bad));
}
