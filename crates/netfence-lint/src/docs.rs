//! The rule documentation, generated from the rules' own doc comments: one
//! section per rule for `netfence lint --explain`, and `docs/rules.md`.

use std::fmt::Write as _;

use crate::rules::{RULES, Rule};

/// The section of one rule: heading, ID, name and default severity, then its
/// documentation.
pub fn explain(rule: &Rule) -> String {
    let doc = rule.doc();
    let mut lines = doc.lines();
    let title = lines.next().unwrap_or_default();
    let mut out = format!("## {} {}: {title}\n\n", rule.id, rule.name);
    let _ = writeln!(out, "Default severity: **{}**.", rule.severity);
    for line in lines {
        // Rule docs use `#` headings for their parts; nest them under the rule.
        if line.starts_with('#') {
            let _ = writeln!(out, "##{line}");
        } else {
            let _ = writeln!(out, "{line}");
        }
    }
    out
}

/// The whole of `docs/rules.md`.
pub fn rules_markdown() -> String {
    let mut out = String::from(
        "# netfence lint rules\n\n\
         <!-- Generated from crates/netfence-lint/src/rules/*.rs; do not edit. Regenerate with\n     \
         `UPDATE_RULES_DOC=1 cargo test -p netfence-lint --test docs`. -->\n\n\
         Every finding is computed with the engine over the whole input. Rules that\n\
         reason about which pods a policy selects or admits only speak when the input\n\
         contains pods or workloads (a directory of policies alone cannot tell).\n\
         Silence a rule for one object (or, on a Namespace, for everything in it) with\n\
         the annotation `netfence.io/lint-ignore: NF004,NF012`.\n\n\
         | ID | name | severity | summary |\n|---|---|---|---|\n",
    );
    for r in RULES {
        let _ = writeln!(
            out,
            "| [{}](#{}) | `{}` | {} | {} |",
            r.id,
            anchor(r),
            r.name,
            r.severity,
            r.summary()
        );
    }
    for r in RULES {
        out.push('\n');
        out.push_str(&explain(r));
    }
    out
}

/// GitHub's anchor for the heading `## NF001 name: title`.
fn anchor(rule: &Rule) -> String {
    let heading = format!("{} {}: {}", rule.id, rule.name, rule.summary());
    heading
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            'a'..='z' | '0'..='9' | '-' | '_' => Some(c),
            ' ' => Some('-'),
            _ => None,
        })
        .collect()
}
