//! Label selectors, parsed once, with the apiserver's validation.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use serde::Serialize;

use crate::diag::{Anchor, Diagnostic};
use crate::sources::FieldLoc;
use crate::validate;

pub type Labels = BTreeMap<String, String>;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Operator {
    In,
    NotIn,
    Exists,
    DoesNotExist,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Requirement {
    pub key: String,
    pub operator: Operator,
    pub values: BTreeSet<String>,
}

/// A validated label selector. Equal selectors compare equal whatever the way they
/// were written (`matchLabels` vs `In` with one value), so they can be resolved
/// once and shared.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Selector {
    /// Sorted; `matchLabels` entries become `In` with one value.
    pub requirements: Vec<Requirement>,
}

impl Selector {
    /// The selector `{}`, which matches everything.
    pub fn everything() -> Self {
        Selector::default()
    }

    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Label-selector semantics: all requirements AND-ed; `NotIn` and
    /// `DoesNotExist` also match objects that lack the key.
    pub fn matches(&self, labels: &Labels) -> bool {
        self.requirements.iter().all(|r| {
            let value = labels.get(&r.key);
            match r.operator {
                Operator::In => value.is_some_and(|v| r.values.contains(v)),
                Operator::NotIn => value.is_none_or(|v| !r.values.contains(v)),
                Operator::Exists => value.is_some(),
                Operator::DoesNotExist => value.is_none(),
            }
        })
    }

    /// Every label key the selector looks at.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.requirements.iter().map(|r| r.key.as_str())
    }

    /// `app=api,tier in (web,api),!legacy`, as `kubectl get -l` writes selectors.
    pub fn to_kubectl(&self) -> String {
        if self.requirements.is_empty() {
            return "{} (everything)".into();
        }
        self.requirements
            .iter()
            .map(|r| {
                let values: Vec<&str> = r.values.iter().map(String::as_str).collect();
                match r.operator {
                    Operator::In if values.len() == 1 => format!("{}={}", r.key, values[0]),
                    Operator::In => format!("{} in ({})", r.key, values.join(",")),
                    Operator::NotIn => format!("{} notin ({})", r.key, values.join(",")),
                    Operator::Exists => r.key.clone(),
                    Operator::DoesNotExist => format!("!{}", r.key),
                }
            })
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Builds a selector from `key=value` labels (used for proposals and tests).
    pub fn from_labels(labels: &Labels) -> Self {
        let mut requirements: Vec<Requirement> = labels
            .iter()
            .map(|(k, v)| Requirement {
                key: k.clone(),
                operator: Operator::In,
                values: BTreeSet::from([v.clone()]),
            })
            .collect();
        requirements.sort();
        Selector { requirements }
    }

    /// Parses the `kubectl -l` form for equality and set-based selectors:
    /// `k=v`, `k==v`, `k!=v`, `k`, `!k`, `k in (a,b)`, `k notin (a,b)`.
    pub fn parse_kubectl(text: &str) -> Result<Self, String> {
        let mut requirements = Vec::new();
        for part in split_top_level(text) {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            let req = if let Some(key) = part.strip_prefix('!') {
                Requirement {
                    key: key.trim().into(),
                    operator: Operator::DoesNotExist,
                    values: BTreeSet::new(),
                }
            } else if let Some((k, v)) = part.split_once("!=") {
                Requirement {
                    key: k.trim().into(),
                    operator: Operator::NotIn,
                    values: BTreeSet::from([v.trim().to_string()]),
                }
            } else if let Some((k, v)) = part.split_once('=') {
                Requirement {
                    key: k.trim().into(),
                    operator: Operator::In,
                    values: BTreeSet::from([v.trim_start_matches('=').trim().to_string()]),
                }
            } else if let Some((k, rest)) = part.split_once(" notin ") {
                Requirement {
                    key: k.trim().into(),
                    operator: Operator::NotIn,
                    values: set_values(rest)?,
                }
            } else if let Some((k, rest)) = part.split_once(" in ") {
                Requirement {
                    key: k.trim().into(),
                    operator: Operator::In,
                    values: set_values(rest)?,
                }
            } else {
                Requirement {
                    key: part.into(),
                    operator: Operator::Exists,
                    values: BTreeSet::new(),
                }
            };
            if let Some(problem) = validate::qualified_name_problem(&req.key) {
                return Err(format!("label key `{}`: {problem}", req.key));
            }
            requirements.push(req);
        }
        requirements.sort();
        requirements.dedup();
        Ok(Selector { requirements })
    }
}

fn split_top_level(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

fn set_values(rest: &str) -> Result<BTreeSet<String>, String> {
    let inner = rest
        .trim()
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| format!("expected `(value,...)` in `{rest}`"))?;
    Ok(inner.split(',').map(|v| v.trim().to_string()).collect())
}

/// Validates and converts an API label selector; problems are appended to `diags`
/// and an invalid selector yields `None`.
pub fn convert_selector(
    sel: &LabelSelector,
    loc: &FieldLoc,
    diags: &mut Vec<Diagnostic>,
) -> Option<Selector> {
    let before = diags.len();
    let mut requirements = Vec::new();
    for (k, v) in sel.match_labels.iter().flatten() {
        let kloc = loc.key("matchLabels").key(k);
        if let Some(problem) = validate::qualified_name_problem(k) {
            diags.push(
                Diagnostic::error(
                    format!("invalid label key `{k}`: {problem}"),
                    Anchor::Field {
                        loc: kloc.clone(),
                        key: true,
                    },
                )
                .with_help("a label key is an optional DNS-subdomain prefix and `/`, then a name of at most 63 characters: alphanumerics with `-`, `_`, `.` inside, e.g. `app.kubernetes.io/name`"),
            );
        }
        if let Some(problem) = validate::label_value_problem(v) {
            diags.push(
                Diagnostic::error(
                    format!("invalid label value `{v}`: {problem}"),
                    Anchor::Field {
                        loc: kloc,
                        key: false,
                    },
                )
                .with_help("a label value is empty or at most 63 characters: alphanumerics with `-`, `_`, `.` inside"),
            );
        }
        requirements.push(Requirement {
            key: k.clone(),
            operator: Operator::In,
            values: BTreeSet::from([v.clone()]),
        });
    }
    for (i, expr) in sel.match_expressions.iter().flatten().enumerate() {
        let eloc = loc.key("matchExpressions").index(i);
        if let Some(problem) = validate::qualified_name_problem(&expr.key) {
            diags.push(
                Diagnostic::error(
                    format!("invalid label key `{}`: {problem}", expr.key),
                    Anchor::Field {
                        loc: eloc.key("key"),
                        key: false,
                    },
                )
                .with_help("use a key such as `app` or `app.kubernetes.io/name`"),
            );
        }
        let values: BTreeSet<String> = expr.values.iter().flatten().cloned().collect();
        let operator = match expr.operator.as_str() {
            "In" => Operator::In,
            "NotIn" => Operator::NotIn,
            "Exists" => Operator::Exists,
            "DoesNotExist" => Operator::DoesNotExist,
            other => {
                diags.push(
                    Diagnostic::error(
                        format!("unsupported operator `{other}` in a label selector"),
                        Anchor::Field {
                            loc: eloc.key("operator"),
                            key: false,
                        },
                    )
                    .with_help("write one of `In`, `NotIn`, `Exists`, `DoesNotExist` (exactly this case); `Gt`/`Lt` exist only for node selectors"),
                );
                continue;
            }
        };
        match operator {
            Operator::In | Operator::NotIn if values.is_empty() => diags.push(
                Diagnostic::error(
                    format!("operator `{}` needs at least one value", expr.operator),
                    Anchor::Field {
                        loc: if expr.values.is_some() {
                            eloc.key("values")
                        } else {
                            eloc.clone()
                        },
                        key: false,
                    },
                )
                .with_help(
                    "add `values: [...]`, or use `Exists`/`DoesNotExist` to test only for the key",
                ),
            ),
            Operator::Exists | Operator::DoesNotExist if !values.is_empty() => diags.push(
                Diagnostic::error(
                    format!("operator `{}` must not have values", expr.operator),
                    Anchor::Field {
                        loc: eloc.key("values"),
                        key: false,
                    },
                )
                .with_help("remove `values`, or use `In`/`NotIn` to compare values"),
            ),
            _ => {}
        }
        for (j, v) in expr.values.iter().flatten().enumerate() {
            if let Some(problem) = validate::label_value_problem(v) {
                diags.push(Diagnostic::error(
                    format!("invalid label value `{v}`: {problem}"),
                    Anchor::Field {
                        loc: eloc.key("values").index(j),
                        key: false,
                    },
                ));
            }
        }
        requirements.push(Requirement {
            key: expr.key.clone(),
            operator,
            values,
        });
    }
    if diags.len() > before {
        return None;
    }
    requirements.sort();
    requirements.dedup();
    Some(Selector { requirements })
}

/// Labels controllers set per pod, revision or run: a selector on them stops
/// matching at the next rollout, restart or job run.
pub const UNSTABLE_LABELS: &[&str] = &[
    "pod-template-hash",
    "controller-revision-hash",
    "statefulset.kubernetes.io/pod-name",
    "apps.kubernetes.io/pod-index",
    "pod-template-generation",
    "batch.kubernetes.io/controller-uid",
    "controller-uid",
    "batch.kubernetes.io/job-name",
    "job-name",
];

/// The labels that identify a workload's pods and survive rollouts.
pub fn stable_labels(labels: &Labels) -> Labels {
    labels
        .iter()
        .filter(|(k, _)| !UNSTABLE_LABELS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}
