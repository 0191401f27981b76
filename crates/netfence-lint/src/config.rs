//! Which rules run, at which severity, and what fails a run: `.netfence.yaml`,
//! then the command line.
//!
//! ```yaml
//! lint:
//!   disable: [NF005, all-namespaces-selector]   # IDs or names; `all` for every rule
//!   enable: [NF005]                             # applied after disable
//!   fail-on: warning                            # error | warning | info
//!   severity:                                   # per-rule overrides
//!     NF032: warning
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use netfence_model::{Anchor, Diagnostic, Sources};
use netfence_yaml::{Node, Value};

use crate::finding::Level;
use crate::rules::{self, RULES, Rule};

/// The file name searched in the current directory and its parents.
pub const CONFIG_FILE: &str = ".netfence.yaml";

/// The contents of a configuration file (or nothing, without one).
#[derive(Clone, Debug, Default)]
pub struct Config {
    pub enable: Vec<String>,
    pub disable: Vec<String>,
    pub fail_on: Option<Level>,
    pub severity: Vec<(String, Level)>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    /// A malformed file: every problem with its position, in `sources`.
    #[error("{} in {file}", netfence_text::count(diagnostics.len(), "problem"))]
    Invalid {
        file: String,
        sources: Sources,
        diagnostics: Vec<Diagnostic>,
    },
    #[error(
        "unknown rule `{0}`: write an ID such as NF012 or a name such as dns-blocked (`netfence lint --explain all` lists them)"
    )]
    UnknownRule(String),
}

impl Config {
    /// `.netfence.yaml` in `dir` or the nearest parent that has one.
    pub fn discover(dir: &Path) -> Option<PathBuf> {
        dir.ancestors()
            .map(|d| d.join(CONFIG_FILE))
            .find(|p| p.is_file())
    }

    pub fn read(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Config::parse(&path.display().to_string(), &text)
    }

    /// Parses a configuration file; every problem is reported with its position.
    pub fn parse(name: &str, text: &str) -> Result<Config, ConfigError> {
        let mut sources = Sources::default();
        let file = sources.add(name.to_string(), text.to_string());
        let (docs, errors) = netfence_yaml::parse_documents(text);
        let mut diags: Vec<Diagnostic> = errors
            .iter()
            .map(|e| Diagnostic::error(e.kind.to_string(), Anchor::Text { file, span: e.span }))
            .collect();
        let mut config = Config::default();
        let mut problem = |node: &Node, key: bool, message: String, help: &str| {
            let span = match (key, node.key_span) {
                (true, Some(k)) => k,
                _ => node.span,
            };
            diags.push(Diagnostic::error(message, Anchor::Text { file, span }).with_help(help));
        };
        for doc in docs.iter().take(1) {
            let root = &doc.root;
            let Value::Map(entries) = &root.value else {
                if !matches!(root.value, Value::Null) {
                    problem(
                        root,
                        false,
                        "the configuration must be a mapping".into(),
                        "start with `lint:`",
                    );
                }
                continue;
            };
            for (k, v) in entries {
                match k.value.key_text().as_deref() {
                    Some("lint") => parse_lint(v, &mut config, &mut problem),
                    other => problem(
                        k,
                        false,
                        format!("unknown key `{}`", other.unwrap_or("?")),
                        "the only top-level key is `lint`",
                    ),
                }
            }
        }
        if docs.len() > 1 {
            problem(
                &docs[1].root,
                false,
                "the configuration has more than one document".into(),
                "keep one document",
            );
        }
        if diags.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError::Invalid {
                file: name.to_string(),
                sources,
                diagnostics: diags,
            })
        }
    }
}

type Problem<'p> = dyn FnMut(&Node, bool, String, &str) + 'p;

fn parse_lint(node: &Node, config: &mut Config, problem: &mut Problem<'_>) {
    let Value::Map(entries) = &node.value else {
        problem(
            node,
            false,
            format!("`lint` must be a mapping, not a {}", node.value.kind_name()),
            "write `lint:` followed by indented `disable:`, `enable:`, `fail-on:` or `severity:`",
        );
        return;
    };
    for (k, v) in entries {
        match k.value.key_text().as_deref() {
            Some("enable") => config.enable = rule_list(v, problem),
            Some("disable") => config.disable = rule_list(v, problem),
            Some("fail-on") => config.fail_on = level(v, problem),
            Some("severity") => match &v.value {
                Value::Map(items) => {
                    for (rk, rv) in items {
                        let name = rk.value.key_text().unwrap_or_default();
                        if rules::find(&name).is_none() {
                            problem(
                                rk,
                                false,
                                format!("unknown rule `{name}`"),
                                "write an ID such as NF012 or a name such as dns-blocked",
                            );
                        }
                        if let Some(l) = level(rv, problem) {
                            config.severity.push((name, l));
                        }
                    }
                }
                _ => problem(
                    v,
                    false,
                    format!(
                        "`severity` must be a mapping, not a {}",
                        v.value.kind_name()
                    ),
                    "write `RULE: error|warning|info` entries, e.g. `NF032: warning`",
                ),
            },
            other => problem(
                k,
                false,
                format!("unknown key `{}` in `lint`", other.unwrap_or("?")),
                "`lint` takes `enable`, `disable`, `fail-on` and `severity`",
            ),
        }
    }
}

fn rule_list(node: &Node, problem: &mut Problem<'_>) -> Vec<String> {
    let Value::Seq(items) = &node.value else {
        problem(
            node,
            false,
            format!("expected a list of rules, not a {}", node.value.kind_name()),
            "write `[NF005, NF032]`",
        );
        return Vec::new();
    };
    let mut out = Vec::new();
    for item in items {
        match item.value.key_text() {
            Some(name) if name == "all" || rules::find(&name).is_some() => out.push(name),
            Some(name) => problem(
                item,
                false,
                format!("unknown rule `{name}`"),
                "write an ID such as NF012, a name such as dns-blocked, or `all`",
            ),
            None => problem(
                item,
                false,
                "expected a rule ID or name".into(),
                "write an ID such as NF012",
            ),
        }
    }
    out
}

fn level(node: &Node, problem: &mut Problem<'_>) -> Option<Level> {
    let parsed = node.as_str().and_then(Level::parse);
    if parsed.is_none() {
        problem(
            node,
            false,
            "expected `error`, `warning` or `info`".into(),
            "severities are `error`, `warning` and `info`",
        );
    }
    parsed
}

/// The effective choice of rules, severities and failure threshold.
#[derive(Clone, Debug)]
pub struct Settings {
    enabled: BTreeMap<&'static str, bool>,
    severity: BTreeMap<&'static str, Level>,
    /// Findings at or above this severity make the run fail (exit 1).
    pub fail_on: Level,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            enabled: RULES.iter().map(|r| (r.id, true)).collect(),
            severity: BTreeMap::new(),
            fail_on: Level::Warning,
        }
    }
}

impl Settings {
    /// The configuration file first, then the command line: later wins.
    pub fn new(
        config: &Config,
        enable: &[String],
        disable: &[String],
        fail_on: Option<Level>,
    ) -> Result<Settings, ConfigError> {
        let mut s = Settings::default();
        s.set(&config.disable, false)?;
        s.set(&config.enable, true)?;
        s.set(disable, false)?;
        s.set(enable, true)?;
        for (name, level) in &config.severity {
            let rule = rules::find(name).ok_or_else(|| ConfigError::UnknownRule(name.clone()))?;
            s.severity.insert(rule.id, *level);
        }
        if let Some(l) = fail_on.or(config.fail_on) {
            s.fail_on = l;
        }
        Ok(s)
    }

    fn set(&mut self, keys: &[String], on: bool) -> Result<(), ConfigError> {
        for key in keys {
            if key == "all" {
                self.enabled.values_mut().for_each(|v| *v = on);
                continue;
            }
            let rule = rules::find(key).ok_or_else(|| ConfigError::UnknownRule(key.clone()))?;
            self.enabled.insert(rule.id, on);
        }
        Ok(())
    }

    pub fn enabled(&self, rule: &Rule) -> bool {
        self.enabled.get(rule.id).copied().unwrap_or(true)
    }

    pub fn severity(&self, rule: &Rule) -> Level {
        self.severity.get(rule.id).copied().unwrap_or(rule.severity)
    }
}
