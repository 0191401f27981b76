//! Every rule against its fixtures: `fixtures/lint/NFxxx/bad.yaml` must produce
//! exactly the findings its `# expect: NFxxx LINE:COL` comments list, and
//! `ok.yaml` (a near miss) none of that rule.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use netfence_lint::RULES;

fn expected(text: &str, rule: &str) -> Vec<(u32, u32)> {
    let prefix = format!("# expect: {rule} ");
    let mut out: Vec<(u32, u32)> = text
        .lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .map(|pos| {
            let (line, col) = pos.trim().split_once(':').unwrap();
            (line.parse().unwrap(), col.parse().unwrap())
        })
        .collect();
    out.sort_unstable();
    out
}

fn found(path: &str, rule: &str) -> Vec<(u32, u32)> {
    let (sources, run) = common::lint_paths(&[path], &common::only(rule));
    let mut out: Vec<(u32, u32)> = run
        .findings
        .iter()
        .filter(|f| f.rule == rule)
        .map(|f| {
            let l = f
                .location(&sources)
                .unwrap_or_else(|| panic!("{path}: {rule} finding without location"));
            (l.line, l.column)
        })
        .collect();
    out.sort_unstable();
    out
}

#[test]
fn every_rule_has_a_triggering_fixture_and_a_near_miss() {
    let mut failures = Vec::new();
    for rule in RULES {
        let dir = format!("fixtures/lint/{}", rule.id);
        let bad = format!("{dir}/bad.yaml");
        let ok = format!("{dir}/ok.yaml");
        let (Ok(bad_text), true) = (
            std::fs::read_to_string(common::root().join(&bad)),
            common::root().join(&ok).is_file(),
        ) else {
            failures.push(format!("{}: missing {bad} or {ok}", rule.id));
            continue;
        };
        let want = expected(&bad_text, rule.id);
        if want.is_empty() {
            failures.push(format!(
                "{bad}: no `# expect: {} LINE:COL` comment",
                rule.id
            ));
        }
        let got = found(&bad, rule.id);
        if got != want {
            failures.push(format!("{bad}: expected {want:?}, found {got:?}"));
        }
        let near_miss = found(&ok, rule.id);
        if !near_miss.is_empty() {
            failures.push(format!(
                "{ok}: expected no {}, found {near_miss:?}",
                rule.id
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn every_fixture_directory_names_a_rule() {
    for entry in std::fs::read_dir(common::root().join("fixtures/lint")).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().to_string();
        if name.starts_with("NF") {
            assert!(
                RULES.iter().any(|r| r.id == name),
                "fixtures/lint/{name} names no rule"
            );
        }
    }
}
