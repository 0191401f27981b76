//! `netfence lint`: NetworkPolicy mistakes that break production, each computed
//! with the engine over the whole input and pointing at the exact field.
//!
//! Data flow: the CLI loads the input and builds the [`Engine`]; [`lint`] runs
//! every enabled rule of [`rules::RULES`] over a [`LintContext`], applies the
//! severity overrides and the `netfence.io/lint-ignore` annotations, and sorts the
//! findings by position; [`output`] renders them as text, JSON, SARIF or GitHub
//! workflow commands. Rules never evaluate selectors or ports themselves: they
//! ask the engine (`selected_by`, `peer_members`, `side_classes`, `allowed`, ...).

pub mod analysis;
pub mod config;
pub mod context;
pub mod docs;
pub mod finding;
pub mod output;
pub mod rules;

use netfence_engine::Engine;
use netfence_model::{Diagnostic, FieldLoc, LoadOptions, ObjectOrigin, Sources};
use netfence_yaml::PathSegment;
use serde::Serialize;

pub use config::{Config, ConfigError, Settings};
pub use context::LintContext;
pub use finding::{Finding, INPUT_RULE, Level, Location, ObjectRef};
pub use rules::{RULES, Rule};

/// The annotation that silences rules for one object (and, on a Namespace, for
/// everything in it): `netfence.io/lint-ignore: NF004,NF012`.
pub const IGNORE_ANNOTATION: &str = "netfence.io/lint-ignore";

/// The outcome of a lint run.
#[derive(Debug)]
pub struct LintRun {
    /// Sorted by file, line, column and rule.
    pub findings: Vec<Finding>,
    /// Findings silenced by `netfence.io/lint-ignore` annotations.
    pub suppressed: usize,
    pub fail_on: Level,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub error: usize,
    pub warning: usize,
    pub info: usize,
}

impl LintRun {
    pub fn counts(&self) -> Counts {
        let mut c = Counts::default();
        for f in &self.findings {
            match f.severity {
                Level::Error => c.error += 1,
                Level::Warning => c.warning += 1,
                Level::Info => c.info += 1,
            }
        }
        c
    }

    /// Keeps the findings of `namespace` (`-n`): on objects in it, on the
    /// Namespace itself, and those on no object.
    pub fn retain_namespace(&mut self, namespace: &str) {
        self.findings.retain(|f| {
            f.object
                .as_ref()
                .is_none_or(|o| o.namespace.as_deref().unwrap_or(o.name.as_str()) == namespace)
        });
    }

    /// The run of an input that could not be analyzed: its errors (and
    /// warnings) are the findings, so machine formats still annotate them.
    pub fn input_only(diagnostics: &[Diagnostic], fail_on: Level) -> LintRun {
        let mut run = LintRun {
            findings: Vec::new(),
            suppressed: 0,
            fail_on,
        };
        run.add_input(diagnostics);
        run
    }

    /// Adds the input's errors and warnings as findings of the `input`
    /// pseudo-rule, before the rules' findings: they are what to fix first.
    pub fn add_input(&mut self, diagnostics: &[Diagnostic]) {
        let input: Vec<Finding> = diagnostics.iter().filter_map(Finding::from_input).collect();
        self.findings.splice(0..0, input);
    }

    /// True when a finding is at or above `fail_on`: the run exits 1.
    pub fn failed(&self) -> bool {
        self.findings.iter().any(|f| f.severity >= self.fail_on)
    }
}

/// Runs every enabled rule over the input.
pub fn lint(
    engine: &Engine,
    sources: &Sources,
    load_options: &LoadOptions,
    settings: &Settings,
) -> LintRun {
    lint_observed(engine, sources, load_options, settings, &mut |_| {})
}

/// [`lint`], calling `before_rule` as each rule starts (for a progress bar).
pub fn lint_observed(
    engine: &Engine,
    sources: &Sources,
    load_options: &LoadOptions,
    settings: &Settings,
    before_rule: &mut dyn FnMut(&Rule),
) -> LintRun {
    let ctx = LintContext::new(engine, sources, load_options);
    let mut findings = Vec::new();
    for rule in RULES.iter().filter(|r| settings.enabled(r)) {
        before_rule(rule);
        let mut found = Vec::new();
        (rule.check)(&ctx, &mut found);
        for f in &mut found {
            f.severity = settings.severity(rule);
        }
        findings.extend(found);
    }
    let before = findings.len();
    findings.retain(|f| !suppressed(&ctx, f));
    let suppressed = before - findings.len();
    let mut keyed: Vec<(Option<Location>, Finding)> = findings
        .into_iter()
        .map(|f| (f.location(sources), f))
        .collect();
    keyed.sort_by(|(la, a), (lb, b)| {
        let pos = |l: &Option<Location>| {
            l.as_ref()
                .map(|l| (0, l.file.clone(), l.line, l.column))
                .unwrap_or((1, String::new(), 0, 0))
        };
        pos(la).cmp(&pos(lb)).then(a.rule.cmp(b.rule))
    });
    LintRun {
        findings: keyed.into_iter().map(|(_, f)| f).collect(),
        suppressed,
        fail_on: settings.fail_on,
    }
}

/// Whether the finding's object, or the namespace it is in, lists the rule in
/// its `netfence.io/lint-ignore` annotation.
fn suppressed(ctx: &LintContext, finding: &Finding) -> bool {
    let Some(object) = &finding.object else {
        return false;
    };
    let namespace = object
        .namespace
        .as_deref()
        .or((object.kind == "Namespace").then_some(object.name.as_str()));
    let ns_origin = namespace
        .and_then(|ns| ctx.cluster().namespace(ns))
        .and_then(|n| n.origin.as_ref());
    [object.origin.as_ref(), ns_origin]
        .into_iter()
        .flatten()
        .any(|origin| ignores(ctx.sources, origin, finding))
}

fn ignores(sources: &Sources, origin: &ObjectOrigin, finding: &Finding) -> bool {
    let loc = FieldLoc {
        origin: origin.clone(),
        path: vec![
            PathSegment::Key("metadata".into()),
            PathSegment::Key("annotations".into()),
            PathSegment::Key(IGNORE_ANNOTATION.into()),
        ],
    };
    sources
        .node(&loc)
        .and_then(|n| n.as_str())
        .is_some_and(|list| {
            list.split(',').map(str::trim).any(|key| {
                key.eq_ignore_ascii_case(finding.rule) || key == finding.name || key == "all"
            })
        })
}
