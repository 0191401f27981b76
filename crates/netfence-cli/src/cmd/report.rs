//! `netfence report`: the page a reviewer reads instead of the YAML.

use std::path::PathBuf;

use clap::Args;
use netfence_engine::Engine;
use netfence_views::report;

use crate::args::{Global, Inputs};
use crate::cmd::lint::{LintArgs, lint_settings, run_lint};
use crate::input::load;
use crate::output::{Progress, format, long_work, print_data, print_text};

/// How many findings `netfence report` quotes from lint.
const REPORT_TOP_FINDINGS: usize = 5;

/// The `-o` format of `netfence report`.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, clap::ValueEnum)]
pub(crate) enum ReportFormat {
    /// For people.
    #[default]
    Text,
    /// For programs (schema in docs/json.md).
    Json,
    /// The JSON document as YAML.
    Yaml,
    /// One self-contained page (graph and tables) drawn from the JSON document.
    Html,
}

#[derive(Args)]
pub(crate) struct ReportArgs {
    /// Manifest files or directories (*.yaml, *.yml, *.json, recursively); `-` for stdin.
    paths: Vec<PathBuf>,
    /// Output format.
    #[arg(short = 'o', long = "output", value_name = "FORMAT")]
    output: Option<ReportFormat>,
    #[command(flatten)]
    inputs: Inputs,
}

pub(crate) fn run(g: &Global, a: ReportArgs) -> Result<u8, String> {
    let fmt = format(a.output, g, "report")?;
    let (sources, loaded) = match load(g, &a.paths, &a.inputs) {
        Ok(x) => x,
        Err(code) => return Ok(code),
    };
    let settings = match lint_settings(g, &LintArgs::default()) {
        Ok(s) => s,
        Err(code) => return Ok(code),
    };
    let progress = Progress::spinner(long_work(&loaded.cluster), "building the engine");
    let engine = Engine::new(&loaded.cluster);
    progress.stage("computing the report");
    let mut r = report::report(&engine, &sources, &loaded.diagnostics);
    drop(progress);
    if let Some(ns) = g.only_namespace() {
        r.retain_namespace(ns);
    }
    // The lint summary is added here rather than in netfence-views so the
    // views stay independent of the lint rules (lint depends on views).
    let lint = run_lint(g, &engine, &sources, &settings);
    match fmt {
        ReportFormat::Json | ReportFormat::Yaml | ReportFormat::Html => {
            let mut doc = serde_json::to_value(&r).map_err(|e| e.to_string())?;
            doc["lint"] = netfence_lint::output::summary_json(&lint, &sources, REPORT_TOP_FINDINGS);
            if fmt == ReportFormat::Html {
                out!("{}", netfence_views::html::report_page(&doc));
            } else {
                print_data(&doc, fmt == ReportFormat::Yaml)?
            }
        }
        ReportFormat::Text => {
            print_text(g, &report::text(&r));
            print_text(
                g,
                &format!(
                    "\n{}",
                    netfence_lint::output::summary_text(&lint, &sources, REPORT_TOP_FINDINGS)
                ),
            );
        }
    }
    Ok(0)
}
