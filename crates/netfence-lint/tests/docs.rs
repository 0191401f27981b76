//! docs/rules.md is generated from the rules' doc comments and must be current.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use netfence_lint::RULES;

#[test]
fn rules_md_is_up_to_date() {
    let path = common::root().join("docs/rules.md");
    let generated = netfence_lint::docs::rules_markdown();
    if std::env::var_os("UPDATE_RULES_DOC").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        current == generated,
        "docs/rules.md is stale: regenerate it with `UPDATE_RULES_DOC=1 cargo test -p netfence-lint --test docs`"
    );
}

#[test]
fn every_rule_is_documented_with_why_bad_good_and_fix() {
    for (i, rule) in RULES.iter().enumerate() {
        assert_eq!(
            rule.id,
            format!("NF{:03}", i + 1),
            "IDs are dense and ordered"
        );
        assert!(
            rule.name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
            "{}: kebab-case name",
            rule.id
        );
        let doc = rule.doc();
        for part in ["# Why it matters", "# Bad", "# Good", "# Fix", "```yaml"] {
            assert!(
                doc.contains(part),
                "{}: documentation lacks `{part}`",
                rule.id
            );
        }
        assert!(!rule.summary().is_empty(), "{}: no summary line", rule.id);
    }
}
