//! `netfence lint`: NetworkPolicy mistakes with file:line:col and the fix.

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::{Args, ValueEnum};
use netfence_engine::Engine;
use netfence_lint::{Config, ConfigError, Level, LintRun, Settings};
use netfence_model::Sources;

use crate::EXIT_ERROR;
use crate::args::{Global, Inputs};
use crate::input::{Failure, build, print_warnings};
use crate::output::{Progress, color, color_for, format, long_work, print_data, print_json};

#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, ValueEnum)]
enum Format {
    #[default]
    Text,
    Json,
    /// The JSON document as YAML.
    Yaml,
    /// SARIF 2.1.0, for GitHub code scanning.
    Sarif,
    /// GitHub Actions workflow commands: annotations on the pull request.
    Github,
}

#[derive(Args)]
pub(crate) struct LintCommand {
    /// Manifest files or directories (*.yaml, *.yml, *.json, recursively); `-` for stdin.
    paths: Vec<PathBuf>,
    #[command(flatten)]
    inputs: Inputs,
    #[command(flatten)]
    lint: LintArgs,
    /// Print a rule's documentation (ID, name, or `all` for every rule) and exit.
    #[arg(long, value_name = "RULE")]
    explain: Option<String>,
    /// Output format.
    #[arg(short = 'o', long = "output", value_name = "FORMAT")]
    output: Option<Format>,
}

#[derive(Args, Clone, Default)]
pub(crate) struct LintArgs {
    /// Run a rule (ID, name, or `all`); applied after --disable and the config file.
    #[arg(long, value_name = "RULE")]
    enable: Vec<String>,
    /// Do not run a rule (ID, name, or `all`).
    #[arg(long, value_name = "RULE")]
    disable: Vec<String>,
    /// Exit 1 when a finding is at or above this severity [default: warning].
    #[arg(long, value_name = "SEVERITY", value_parser = parse_level)]
    fail_on: Option<Level>,
    /// Configuration file [default: .netfence.yaml in the current directory or a parent].
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

fn parse_level(s: &str) -> Result<Level, String> {
    Level::parse(s).ok_or_else(|| format!("`{s}` is not error, warning or info"))
}

/// The lint settings: the configuration file (given, or found from the current
/// directory up), then the command line. A malformed file is printed with its
/// positions and ends the run with exit code 2.
pub(crate) fn lint_settings(g: &Global, args: &LintArgs) -> Result<Settings, u8> {
    let path = match &args.config {
        Some(p) => Some(p.clone()),
        None => std::env::current_dir()
            .ok()
            .and_then(|d| Config::discover(&d)),
    };
    let config = match path.as_deref().map(Config::read).transpose() {
        Ok(c) => c.unwrap_or_default(),
        Err(e) => return Err(config_error(g, e)),
    };
    Settings::new(&config, &args.enable, &args.disable, args.fail_on)
        .map_err(|e| config_error(g, e))
}

fn config_error(g: &Global, e: ConfigError) -> u8 {
    match e {
        ConfigError::Invalid {
            file,
            sources,
            diagnostics,
        } => {
            eout!(
                "{}",
                netfence_model::diag::render(&diagnostics, &sources, color(g))
            );
            eoutln!("error: invalid configuration file {file}");
        }
        other => eoutln!("error: {other}"),
    }
    EXIT_ERROR
}

/// Runs the lint rules, keeping only the namespace asked for with `-n`.
pub(crate) fn run_lint(
    g: &Global,
    engine: &Engine,
    sources: &Sources,
    settings: &Settings,
) -> LintRun {
    let rules = netfence_lint::RULES
        .iter()
        .filter(|r| settings.enabled(r))
        .count();
    let progress = Progress::bar(long_work(engine.cluster), rules, "linting");
    let mut run =
        netfence_lint::lint_observed(engine, sources, &g.load_options(), settings, &mut |rule| {
            progress.stage(&format!("linting: {} {}", rule.id, rule.name));
            progress.step();
        });
    if let Some(ns) = g.only_namespace() {
        run.retain_namespace(ns);
    }
    run
}

fn explain(rule: &str) -> Result<u8, String> {
    if rule == "all" {
        out!("{}", netfence_lint::docs::rules_markdown());
        return Ok(0);
    }
    let rule = netfence_lint::rules::find(rule).ok_or_else(|| {
        format!(
            "unknown rule `{rule}`: write an ID such as NF012, a name such as dns-blocked, or `all`"
        )
    })?;
    out!("{}", netfence_lint::docs::explain(rule));
    Ok(0)
}

pub(crate) fn run(g: &Global, a: LintCommand) -> Result<u8, String> {
    if let Some(rule) = a.explain {
        return explain(&rule);
    }
    let fmt = format(a.output, g, "lint")?;
    let settings = match lint_settings(g, &a.lint) {
        Ok(s) => s,
        Err(code) => return Ok(code),
    };
    let (sources, loaded) = match build(g, &a.paths, &a.inputs) {
        Ok(x) => x,
        Err(failure) => return Ok(input_failed(g, fmt, &failure, &settings)),
    };
    let engine = {
        let _progress = Progress::spinner(long_work(&loaded.cluster), "building the engine");
        Engine::new(&loaded.cluster)
    };
    let mut run = run_lint(g, &engine, &sources, &settings);
    // Input warnings are findings (so --fail-on counts them); notes stay on stderr.
    let notes: Vec<_> = loaded
        .diagnostics
        .iter()
        .filter(|d| d.severity == netfence_model::Severity::Note)
        .cloned()
        .collect();
    print_warnings(g, &sources, &notes);
    run.add_input(&loaded.diagnostics);
    print_run(g, fmt, &run, &sources)?;
    Ok(if run.failed() { 1 } else { 0 })
}

/// An input that gives no model still gets its machine output: the commonest
/// CI failure is a bad manifest, and it deserves an annotation. Exit 2.
fn input_failed(g: &Global, fmt: Format, failure: &Failure, settings: &Settings) -> u8 {
    let code = failure.print(g, None);
    if fmt != Format::Text {
        let run = LintRun::input_only(&failure.diagnostics(), settings.fail_on);
        if let Err(e) = print_run(g, fmt, &run, failure.sources()) {
            eoutln!("error: {e}");
        }
    }
    code
}

fn print_run(g: &Global, fmt: Format, run: &LintRun, sources: &Sources) -> Result<(), String> {
    match fmt {
        Format::Json => print_json(&netfence_lint::output::json(run, sources))?,
        Format::Yaml => print_data(&netfence_lint::output::json(run, sources), true)?,
        Format::Sarif => print_json(&netfence_lint::output::sarif(run, sources))?,
        Format::Github => out!("{}", netfence_lint::output::github(run, sources)),
        Format::Text => out!(
            "{}",
            netfence_lint::output::text(
                run,
                sources,
                color_for(g, std::io::stdout().is_terminal())
            )
        ),
    }
    Ok(())
}
