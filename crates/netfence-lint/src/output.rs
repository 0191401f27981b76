//! Renderers: text (rustc/miette style), JSON (docs/json.md), SARIF 2.1.0 (GitHub
//! code scanning) and GitHub Actions workflow commands.

use std::fmt::Write as _;

use netfence_model::Sources;
use serde::Serialize;
use serde_json::{Value, json};

use crate::finding::{Finding, INPUT_RULE, Level, Location};
use crate::rules::{RULES, Rule};
use crate::{Counts, LintRun};

/// The message and help as one plain text, for formats without a help field.
fn full_message(f: &Finding) -> String {
    let mut text = f.message.clone();
    if !f.related.is_empty() {
        let _ = write!(text, "\nconcerns: {}", f.related.join(", "));
    }
    if let Some(h) = &f.help {
        let _ = write!(text, "\nhelp: {h}");
    }
    text
}

/// Every finding with the offending field's snippet, then a summary line.
pub fn text(run: &LintRun, sources: &Sources, color: bool) -> String {
    let mut out = String::new();
    for f in &run.findings {
        out.push_str(&netfence_model::diag::render(
            &[f.diagnostic()],
            sources,
            color,
        ));
        out.push('\n');
    }
    out.push_str(&summary_line(run));
    out.push('\n');
    out
}

/// `2 errors, 1 warning, 3 info (fail-on: warning): failed`.
pub fn summary_line(run: &LintRun) -> String {
    let c = run.counts();
    let plural = |n: usize, word: &str| {
        if n == 1 || word == "info" {
            format!("{n} {word}")
        } else {
            format!("{n} {word}s")
        }
    };
    let mut line = format!(
        "netfence lint: {}, {}, {}",
        plural(c.error, "error"),
        plural(c.warning, "warning"),
        plural(c.info, "info")
    );
    if run.suppressed > 0 {
        let _ = write!(line, ", {} suppressed by annotation", run.suppressed);
    }
    let verdict = if run.failed() { "failed" } else { "passed" };
    let _ = write!(line, " (fail-on: {}): {verdict}", run.fail_on);
    line
}

#[derive(Serialize)]
struct JsonFinding<'a> {
    rule: &'a str,
    name: &'a str,
    severity: Level,
    message: &'a str,
    help: Option<&'a str>,
    location: Option<Location>,
    object: Option<String>,
    related: &'a [String],
}

#[derive(Serialize)]
struct JsonRun<'a> {
    findings: Vec<JsonFinding<'a>>,
    counts: Counts,
    suppressed: usize,
    fail_on: Level,
    failed: bool,
}

/// The stable JSON document of docs/json.md (`netfence lint -o json`).
pub fn json(run: &LintRun, sources: &Sources) -> Value {
    let doc = JsonRun {
        findings: run
            .findings
            .iter()
            .map(|f| JsonFinding {
                rule: f.rule,
                name: f.name,
                severity: f.severity,
                message: &f.message,
                help: f.help.as_deref(),
                location: f.location(sources),
                object: f.object.as_ref().map(|o| o.to_string()),
                related: &f.related,
            })
            .collect(),
        counts: run.counts(),
        suppressed: run.suppressed,
        fail_on: run.fail_on,
        failed: run.failed(),
    };
    serde_json::to_value(doc).unwrap_or(Value::Null)
}

fn sarif_level(level: Level) -> &'static str {
    match level {
        Level::Error => "error",
        Level::Warning => "warning",
        Level::Info => "note",
    }
}

/// A file name as a relative URI: GitHub code scanning matches results to
/// repository files by path relative to the checkout.
fn artifact_uri(file: &str) -> String {
    let path = file.strip_prefix("./").unwrap_or(file).replace('\\', "/");
    path.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn sarif_rule(rule: &Rule) -> Value {
    let doc = rule.doc();
    json!({
        "id": rule.id,
        "name": rule.name,
        "shortDescription": {"text": rule.summary()},
        "fullDescription": {"text": rule.summary()},
        "help": {"text": doc, "markdown": doc},
        "defaultConfiguration": {"level": sarif_level(rule.severity)},
        "properties": {"tags": ["kubernetes", "networkpolicy"]},
    })
}

/// The descriptor of the `input` pseudo-rule, after the real rules.
fn input_rule() -> Value {
    let text = "A problem found while reading the input (YAML syntax, an unknown field, a value the API server would reject). Nothing is analyzed until every input error is fixed.";
    json!({
        "id": INPUT_RULE,
        "name": INPUT_RULE,
        "shortDescription": {"text": "The input cannot be read as Kubernetes objects"},
        "fullDescription": {"text": text},
        "help": {"text": text, "markdown": text},
        "defaultConfiguration": {"level": "error"},
        "properties": {"tags": ["kubernetes", "networkpolicy"]},
    })
}

fn sarif_rule_index(rule: &str) -> usize {
    RULES
        .iter()
        .position(|r| r.id == rule)
        .unwrap_or(RULES.len())
}

/// A SARIF 2.1.0 log with one run; every rule is described in the driver so
/// code scanning can show its help next to each result.
pub fn sarif(run: &LintRun, sources: &Sources) -> Value {
    let results: Vec<Value> = run
        .findings
        .iter()
        .map(|f| {
            let mut result = json!({
                "ruleId": f.rule,
                "ruleIndex": sarif_rule_index(f.rule),
                "level": sarif_level(f.severity),
                "message": {"text": full_message(f)},
            });
            if let Some(loc) = f.location(sources) {
                result["locations"] = json!([{
                    "physicalLocation": {
                        "artifactLocation": {"uri": artifact_uri(&loc.file)},
                        "region": {
                            "startLine": loc.line,
                            "startColumn": loc.column,
                            "endLine": loc.end_line,
                            "endColumn": loc.end_column,
                        },
                    },
                    "message": {"text": loc.path},
                }]);
            }
            result
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "netfence",
                "informationUri": "https://example.invalid/netfence",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": RULES.iter().map(|r| sarif_rule(r)).chain([input_rule()]).collect::<Vec<_>>(),
            }},
            "columnKind": "unicodeCodePoints",
            "results": results,
        }],
    })
}

/// Escapes a workflow command's message (`%`, CR, LF).
fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a workflow command's property value (also `:` and `,`).
fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// One `::error file=…,line=…,col=…,title=NF012 dns-blocked::message` line per
/// finding: GitHub Actions shows them as annotations on the pull request.
pub fn github(run: &LintRun, sources: &Sources) -> String {
    let mut out = String::new();
    for f in &run.findings {
        let command = match f.severity {
            Level::Error => "error",
            Level::Warning => "warning",
            Level::Info => "notice",
        };
        let mut props = Vec::new();
        if let Some(loc) = f.location(sources) {
            props.push(format!("file={}", escape_property(&loc.file)));
            props.push(format!("line={}", loc.line));
            props.push(format!("col={}", loc.column));
            props.push(format!("endLine={}", loc.end_line));
            props.push(format!("endColumn={}", loc.end_column));
        }
        let title = if f.rule == INPUT_RULE {
            INPUT_RULE.to_string()
        } else {
            format!("{} {}", f.rule, f.name)
        };
        props.push(format!("title={}", escape_property(&title)));
        let _ = writeln!(
            out,
            "::{command} {}::{}",
            props.join(","),
            escape_data(&full_message(f))
        );
    }
    out
}

/// The most severe findings first, then by position.
fn top(run: &LintRun, n: usize) -> Vec<&Finding> {
    let mut all: Vec<&Finding> = run.findings.iter().collect();
    all.sort_by_key(|f| std::cmp::Reverse(f.severity));
    all.truncate(n);
    all
}

/// The lint section of `netfence report`: counts per severity and the `n` most
/// severe findings, one line each.
pub fn summary_text(run: &LintRun, sources: &Sources, n: usize) -> String {
    let c = run.counts();
    let mut out = format!(
        "Lint: {}, {}, {} info (details: netfence lint PATHS)\n",
        netfence_text::count(c.error, "error"),
        netfence_text::count(c.warning, "warning"),
        c.info
    );
    for f in top(run, n) {
        let at = f
            .location(sources)
            .map(|l| format!("{}:{}:{}: ", l.file, l.line, l.column))
            .unwrap_or_default();
        let _ = writeln!(out, "  {at}{}: {}", f.severity, f.headline());
    }
    if run.findings.len() > n {
        let _ = writeln!(out, "  ... ({} findings in all)", run.findings.len());
    }
    out
}

/// The lint section of `netfence report -o json` (docs/json.md).
pub fn summary_json(run: &LintRun, sources: &Sources, n: usize) -> Value {
    let shown = LintRun {
        findings: top(run, n).into_iter().cloned().collect(),
        suppressed: run.suppressed,
        fail_on: run.fail_on,
    };
    let mut doc = json(&shown, sources);
    doc["counts"] = serde_json::to_value(run.counts()).unwrap_or(Value::Null);
    doc["failed"] = Value::Bool(run.failed());
    doc["top"] = doc["findings"].take();
    if let Value::Object(map) = &mut doc {
        map.remove("findings");
    }
    doc
}
