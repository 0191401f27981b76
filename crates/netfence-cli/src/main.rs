//! The `netfence` command: argument parsing, loading, and printing. Everything
//! else lives in the library crates.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use netfence_engine::{Engine, MatrixFilter};
use netfence_lint::{Config, ConfigError, Level, LintRun, Settings};
use netfence_model::{Diagnostic, LoadOptions, Loaded, Protocol, Semantics, Severity, Sources};
use netfence_views::{check, describe, matrix, report};

/// `print!` that ends quietly when stdout is closed (`netfence ... | head`)
/// instead of panicking on the broken pipe.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if std::io::stdout().write_fmt(format_args!($($arg)*)).is_err() {
            std::process::exit(0);
        }
    }};
}

macro_rules! outln {
    () => { out!("\n") };
    ($($arg:tt)*) => {{
        out!($($arg)*);
        out!("\n");
    }};
}

mod dataplane;

#[derive(Parser)]
#[command(
    name = "netfence",
    version,
    about = "Kubernetes NetworkPolicy, exactly: what is allowed, why, and what to change"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    global: Global,
}

#[derive(Args, Clone)]
struct Global {
    /// Output format: text, json, csv, md, dot, nft, sarif, github (what each
    /// command supports is in its help); for `gen`, the directory to write.
    #[arg(short = 'o', long = "output", global = true, default_value = "text", value_parser = parse_output)]
    output: Output,
    /// Namespace for objects without one (as `kubectl apply -n`), and the namespace
    /// the output covers.
    #[arg(short = 'n', long = "namespace", global = true)]
    namespace: Option<String>,
    /// Cover all namespaces (the default when -n is not given).
    #[arg(short = 'A', long = "all-namespaces", global = true)]
    all_namespaces: bool,
    /// Add or replace objects before answering (what-if).
    #[arg(long = "with", global = true, value_name = "FILE")]
    with: Vec<PathBuf>,
    /// Leave an object out (what-if): KIND/NAMESPACE/NAME.
    #[arg(long = "without", global = true, value_name = "KIND/NS/NAME")]
    without: Vec<String>,
    /// Skip files and directories found in input directories that match GLOB
    /// (`*` within a path part, `**` across parts), e.g. `--exclude 'legacy/**'`.
    #[arg(long = "exclude", global = true, value_name = "GLOB")]
    exclude: Vec<String>,
    /// Cluster DNS pods as NAMESPACE/SELECTOR (default: kube-system/k8s-app in (kube-dns,coredns)).
    #[arg(long = "cluster-dns", global = true, value_name = "NS/SELECTOR")]
    cluster_dns: Option<String>,
    /// Whether ipBlock peers match pod IPs (most CNIs: true; Cilium: false).
    #[arg(long, global = true, default_value_t = true, action = clap::ArgAction::Set)]
    ip_block_matches_pods: bool,
    /// hostNetwork pods: `node` (their traffic is node traffic; selectors ignore them) or `pod`.
    #[arg(long, global = true, default_value = "node")]
    host_network: HostNetwork,
    /// Whether a pod may always reach its own node.
    #[arg(long, global = true, default_value_t = true, action = clap::ArgAction::Set)]
    egress_to_own_node: bool,
    /// Colour: auto (only on a terminal), always, never.
    #[arg(long, global = true, default_value = "auto")]
    color: ColorChoice,
    /// Also print notes (skipped objects, assumptions).
    #[arg(short, long, global = true)]
    verbose: bool,
}

#[derive(Clone, PartialEq, Eq, Debug)]
enum Output {
    Text,
    Json,
    Csv,
    Md,
    Dot,
    Nft,
    /// SARIF 2.1.0 (lint), for GitHub code scanning.
    Sarif,
    /// GitHub Actions workflow commands (lint): annotations on the pull request.
    Github,
    /// Not a format: the directory `gen` writes to (any other command refuses it).
    Dir(PathBuf),
}

const OUTPUT_FORMATS: &[(&str, Output)] = &[
    ("text", Output::Text),
    ("json", Output::Json),
    ("csv", Output::Csv),
    ("md", Output::Md),
    ("dot", Output::Dot),
    ("nft", Output::Nft),
    ("sarif", Output::Sarif),
    ("github", Output::Github),
];

fn parse_output(s: &str) -> Result<Output, String> {
    Ok(OUTPUT_FORMATS
        .iter()
        .find(|(name, _)| *name == s)
        .map(|(_, o)| o.clone())
        .unwrap_or_else(|| Output::Dir(PathBuf::from(s))))
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum HostNetwork {
    Node,
    Pod,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Args, Clone)]
pub(crate) struct Inputs {
    /// Manifest files or directories (*.yaml, *.yml, *.json, recursively); `-` for stdin.
    #[arg(short = 'f', long = "filename", value_name = "PATH")]
    pub(crate) files: Vec<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Is SRC → DST allowed, why, and what to change.
    Check {
        /// ns/pod, ns/kind/name, node:NAME or an IP.
        src: String,
        /// Like SRC, or ns/svc/NAME[:PORT] for a Service.
        dst: String,
        /// Manifest files or directories.
        paths: Vec<PathBuf>,
        #[arg(long)]
        port: Option<u16>,
        #[arg(long, default_value = "TCP", value_parser = parse_protocol)]
        protocol: Protocol,
        #[command(flatten)]
        inputs: Inputs,
    },
    /// Explain a policy, a pod or a namespace.
    Describe {
        kind: DescribeKind,
        /// ns/name (or name with -n).
        name: String,
        paths: Vec<PathBuf>,
        #[command(flatten)]
        inputs: Inputs,
    },
    /// The allowed connections of every ordered pair of endpoints.
    Matrix {
        paths: Vec<PathBuf>,
        /// Only this port.
        #[arg(long)]
        port: Option<u16>,
        /// Only this protocol.
        #[arg(long, value_parser = parse_protocol)]
        protocol: Option<Protocol>,
        /// One entry per pair instead of grouped entries.
        #[arg(long)]
        per_pair: bool,
        #[command(flatten)]
        inputs: Inputs,
    },
    /// The page a reviewer reads instead of the YAML.
    Report {
        paths: Vec<PathBuf>,
        #[command(flatten)]
        inputs: Inputs,
    },
    /// Print the nftables ruleset that enforces the policies on one node.
    Compile(dataplane::CompileArgs),
    /// Write a synthetic cluster (namespaces, workloads or pods, policies) to -o DIR.
    Gen(dataplane::GenArgs),
    /// Apply the ruleset to this node (or a network namespace) as one delta transaction.
    Enforce(dataplane::EnforceArgs),
    /// Which policies let traffic through and what was dropped, on an enforced node.
    Status(dataplane::StatusArgs),
    /// A network-namespace lab that proves kernel verdicts equal engine verdicts.
    #[command(subcommand)]
    Lab(dataplane::LabCommand),
    /// What a change does to reachability: AFTER compared with BEFORE.
    ///
    /// Each side is a file, a directory, `-` (stdin) or git:REV[:PATH] (read from
    /// the git repository of the current directory; PATH is relative to the
    /// current directory and defaults to it). --with and --without apply to
    /// AFTER. Exit 0 no change, 1 changes found (of the kind --fail-on names),
    /// 2 error.
    Diff {
        /// The input before the change: a file, a directory, `-` or git:REV[:PATH].
        before: String,
        /// The input after the change, likewise.
        after: String,
        /// Which changes exit 1: `added` (connections added or a default-deny
        /// lost), `removed` (connections removed) or `any`.
        #[arg(long, default_value = "any")]
        fail_on: FailOn,
    },
    /// Find NetworkPolicy mistakes: file:line:col, the offending field, the fix.
    /// Exit 0 when nothing is at or above --fail-on, 1 otherwise, 2 on error.
    Lint {
        paths: Vec<PathBuf>,
        #[command(flatten)]
        inputs: Inputs,
        #[command(flatten)]
        lint: LintArgs,
        /// Print a rule's documentation (ID, name, or `all` for every rule) and exit.
        #[arg(long, value_name = "RULE")]
        explain: Option<String>,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum FailOn {
    Added,
    Removed,
    Any,
}

#[derive(Args, Clone, Default)]
struct LintArgs {
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

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum DescribeKind {
    Policy,
    #[value(alias = "networkpolicy", alias = "netpol")]
    Pod,
    #[value(alias = "ns")]
    Namespace,
}

fn parse_protocol(s: &str) -> Result<Protocol, String> {
    Protocol::parse(&s.to_ascii_uppercase()).ok_or_else(|| format!("`{s}` is not TCP, UDP or SCTP"))
}

fn parse_level(s: &str) -> Result<Level, String> {
    Level::parse(s).ok_or_else(|| format!("`{s}` is not error, warning or info"))
}

/// Exit codes: 0 success (allowed), 1 denied, 2 error.
pub(crate) const EXIT_ERROR: u8 = 2;

/// How many findings `netfence report` quotes from lint.
const REPORT_TOP_FINDINGS: usize = 5;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

/// Whether to colour what goes to standard error.
fn color(g: &Global) -> bool {
    color_for(g, std::io::stderr().is_terminal())
}

fn color_for(g: &Global, terminal: bool) -> bool {
    match g.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => terminal && std::env::var_os("NO_COLOR").is_none(),
    }
}

/// The lint settings: the configuration file (given, or found from the current
/// directory up), then the command line. A malformed file is printed with its
/// positions and ends the run with exit code 2.
fn lint_settings(g: &Global, args: &LintArgs) -> Result<Settings, u8> {
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
            eprint!(
                "{}",
                netfence_model::diag::render(&diagnostics, &sources, color(g))
            );
            eprintln!("error: invalid configuration file {file}");
        }
        other => eprintln!("error: {other}"),
    }
    EXIT_ERROR
}

/// Runs the lint rules, keeping only the namespace asked for with `-n`.
fn run_lint(g: &Global, engine: &Engine, sources: &Sources, settings: &Settings) -> LintRun {
    let mut run = netfence_lint::lint(engine, sources, &load_options(g), settings);
    if let (Some(ns), false) = (&g.namespace, g.all_namespaces) {
        run.findings.retain(|f| {
            f.object
                .as_ref()
                .is_none_or(|o| o.namespace.as_deref().unwrap_or(o.name.as_str()) == ns.as_str())
        });
    }
    run
}

/// Loads the inputs and the what-if overlays; on any error prints every
/// diagnostic and returns the exit code.
pub(crate) fn load(
    g: &Global,
    paths: &[PathBuf],
    inputs: &Inputs,
) -> Result<(Sources, Loaded), u8> {
    let mut all: Vec<PathBuf> = paths.to_vec();
    all.extend(inputs.files.iter().cloned());
    let mut sources = Sources::default();
    let mut diags = netfence_model::read_inputs_excluding(&all, &mut sources, false, &g.exclude);
    read_overlays(g, &mut sources, &mut diags);
    load_read(g, sources, diags, &load_options(g), None)
}

fn read_overlays(g: &Global, sources: &mut Sources, diags: &mut Vec<Diagnostic>) {
    if !g.with.is_empty() {
        diags.extend(netfence_model::read_inputs(&g.with, sources, true));
    }
}

/// Builds the model from files already read (with the diagnostics of reading
/// them); on any error prints every diagnostic, naming `side` when there are two
/// inputs, and returns the exit code.
fn load_read(
    g: &Global,
    mut sources: Sources,
    mut diags: Vec<Diagnostic>,
    opts: &LoadOptions,
    side: Option<&str>,
) -> Result<(Sources, Loaded), u8> {
    let result = if diags.iter().any(|d| d.severity == Severity::Error) {
        Err(diags)
    } else {
        netfence_model::load(&mut sources, opts).map(|mut l| {
            diags.append(&mut l.diagnostics);
            l.diagnostics = diags;
            l
        })
    };
    match result {
        Ok(loaded) => {
            let shown: Vec<Diagnostic> = loaded
                .diagnostics
                .iter()
                .filter(|d| g.verbose || d.severity >= Severity::Warning)
                .cloned()
                .collect();
            if !shown.is_empty() {
                eprint!("{}", netfence_model::diag::render_short(&shown, &sources));
            }
            Ok((sources, loaded))
        }
        Err(diags) => {
            let errors = diags
                .iter()
                .filter(|d| d.severity == Severity::Error)
                .count();
            let shown: Vec<Diagnostic> = diags
                .iter()
                .filter(|d| g.verbose || d.severity >= Severity::Warning)
                .cloned()
                .collect();
            let mut err = std::io::stderr().lock();
            let _ = write!(
                err,
                "{}",
                netfence_model::diag::render(&shown, &sources, color(g))
            );
            let input = match side {
                Some(side) => format!("the {side} input"),
                None => "the input".to_string(),
            };
            let why = netfence_model::diag::withheld_reason(&diags);
            let _ = writeln!(err, "error: {errors} error(s) in {input}; {why}");
            Err(EXIT_ERROR)
        }
    }
}

/// Reads one side of `diff`: `git:REV[:PATH]`, or a file, directory or `-`.
fn read_side(g: &Global, spec: &str) -> (Sources, Vec<Diagnostic>) {
    let mut sources = Sources::default();
    let diags = match spec.strip_prefix("git:") {
        Some(rev) => netfence_model::read_git(rev, &mut sources),
        None => netfence_model::read_inputs_excluding(
            &[PathBuf::from(spec)],
            &mut sources,
            false,
            &g.exclude,
        ),
    };
    (sources, diags)
}

/// AFTER as the user will read it: with the what-if flags that changed it.
fn after_label(g: &Global, after: &str) -> String {
    let mut label = after.to_string();
    for w in &g.with {
        label.push_str(&format!(" --with {}", w.display()));
    }
    for w in &g.without {
        label.push_str(&format!(" --without {w}"));
    }
    label
}

fn diff(g: &Global, before: &str, after: &str, fail_on: FailOn) -> Result<u8, String> {
    if before == "-" && after == "-" {
        return Err("only one side of diff can be standard input (`-`)".into());
    }
    if !matches!(g.output, Output::Text | Output::Json | Output::Md) {
        return Err("diff supports -o text, -o json and -o md".into());
    }
    // What-if flags describe the change under review: they apply to AFTER only.
    let before_opts = LoadOptions {
        without: Vec::new(),
        ..load_options(g)
    };
    let (sources, diags) = read_side(g, before);
    let loaded_before = load_read(g, sources, diags, &before_opts, Some("BEFORE"));
    let (mut sources, mut diags) = read_side(g, after);
    read_overlays(g, &mut sources, &mut diags);
    let loaded_after = load_read(g, sources, diags, &load_options(g), Some("AFTER"));
    let ((sources_b, loaded_b), (sources_a, loaded_a)) = match (loaded_before, loaded_after) {
        (Ok(b), Ok(a)) => (b, a),
        (Err(code), _) | (_, Err(code)) => return Ok(code),
    };
    let (engine_b, engine_a) = (
        Engine::new(&loaded_b.cluster),
        Engine::new(&loaded_a.cluster),
    );
    let mut d = netfence_diff::diff(
        &netfence_diff::Side {
            label: before.to_string(),
            engine: &engine_b,
            sources: &sources_b,
        },
        &netfence_diff::Side {
            label: after_label(g, after),
            engine: &engine_a,
            sources: &sources_a,
        },
    );
    if let (Some(ns), false) = (&g.namespace, g.all_namespaces) {
        d.retain_namespace(ns);
    }
    match g.output {
        Output::Json => print_json(&d)?,
        Output::Md => out!("{}", netfence_diff::render::markdown(&d)),
        _ => out!("{}", netfence_diff::render::text(&d)),
    }
    let fail_on = match fail_on {
        FailOn::Added => netfence_diff::FailOn::Added,
        FailOn::Removed => netfence_diff::FailOn::Removed,
        FailOn::Any => netfence_diff::FailOn::Any,
    };
    Ok(u8::from(d.fails(fail_on)))
}

fn load_options(g: &Global) -> LoadOptions {
    LoadOptions {
        namespace: g.namespace.clone(),
        cluster_dns: g.cluster_dns.clone(),
        semantics: Semantics {
            ip_block_matches_pods: g.ip_block_matches_pods,
            host_network_as_node: g.host_network == HostNetwork::Node,
            egress_to_own_node: g.egress_to_own_node,
        },
        without: g.without.clone(),
    }
}

/// With `-n NS`, `api` and `deployment/api` mean `NS/api` and `NS/deployment/api`.
fn qualify(g: &Global, name: &str) -> String {
    const KINDS: &[&str] = &[
        "deployment",
        "statefulset",
        "daemonset",
        "replicaset",
        "replicationcontroller",
        "job",
        "cronjob",
        "svc",
        "service",
    ];
    let Some(ns) = &g.namespace else {
        return name.to_string();
    };
    if name.parse::<std::net::IpAddr>().is_ok() || name.starts_with("node:") {
        return name.to_string();
    }
    match name.split_once('/') {
        None => format!("{ns}/{name}"),
        Some((first, rest))
            if KINDS.contains(&first.to_ascii_lowercase().as_str()) && !rest.contains('/') =>
        {
            format!("{ns}/{name}")
        }
        _ => name.to_string(),
    }
}

pub(crate) fn print_json<T: serde::Serialize>(value: &T) -> Result<(), String> {
    let text = serde_json::to_string_pretty(value).map_err(|e| e.to_string())?;
    outln!("{text}");
    Ok(())
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

fn text_only(g: &Global, what: &str) -> Result<(), String> {
    match g.output {
        Output::Text | Output::Json => Ok(()),
        _ => Err(format!("{what} supports -o text and -o json")),
    }
}

fn run(cli: Cli) -> Result<u8, String> {
    let g = cli.global.clone();
    if let (Output::Dir(dir), false) = (&g.output, matches!(cli.command, Command::Gen(_))) {
        let names: Vec<&str> = OUTPUT_FORMATS.iter().map(|(n, _)| *n).collect();
        return Err(format!(
            "-o {}: not an output format; use one of {}",
            dir.display(),
            names.join(", ")
        ));
    }
    match cli.command {
        Command::Check {
            src,
            dst,
            paths,
            port,
            protocol,
            inputs,
        } => {
            text_only(&g, "check")?;
            let (sources, loaded) = match load(&g, &paths, &inputs) {
                Ok(x) => x,
                Err(code) => return Ok(code),
            };
            let engine = Engine::new(&loaded.cluster);
            let q = check::CheckQuery {
                src: qualify(&g, &src),
                dst: qualify(&g, &dst),
                port,
                protocol,
            };
            let report = check::check(&engine, &sources, &load_options(&g), &q)?;
            match g.output {
                Output::Json => print_json(&report)?,
                _ => out!("{}", check::render_text(&engine, &sources, &report, &q)),
            }
            Ok(if report.allowed { 0 } else { 1 })
        }
        Command::Describe {
            kind,
            name,
            paths,
            inputs,
        } => {
            text_only(&g, "describe")?;
            let (sources, loaded) = match load(&g, &paths, &inputs) {
                Ok(x) => x,
                Err(code) => return Ok(code),
            };
            let engine = Engine::new(&loaded.cluster);
            let json = g.output == Output::Json;
            match kind {
                DescribeKind::Policy => {
                    let d = describe::describe_policy(&engine, &sources, &qualify(&g, &name))?;
                    if json {
                        print_json(&d)?
                    } else {
                        out!("{}", describe::policy_text(&d))
                    }
                }
                DescribeKind::Pod => {
                    let d = describe::describe_pod(&engine, &qualify(&g, &name))?;
                    if json {
                        print_json(&d)?
                    } else {
                        out!("{}", describe::pod_text(&d))
                    }
                }
                DescribeKind::Namespace => {
                    let d = describe::describe_namespace(&engine, &name)?;
                    if json {
                        print_json(&d)?
                    } else {
                        out!("{}", describe::namespace_text(&d))
                    }
                }
            }
            Ok(0)
        }
        Command::Matrix {
            paths,
            port,
            protocol,
            per_pair,
            inputs,
        } => {
            let (_, loaded) = match load(&g, &paths, &inputs) {
                Ok(x) => x,
                Err(code) => return Ok(code),
            };
            let engine = Engine::new(&loaded.cluster);
            let filter = MatrixFilter {
                namespaces: if g.all_namespaces {
                    None
                } else {
                    g.namespace.clone().map(|n| vec![n])
                },
                port,
                protocol,
                per_pair,
            };
            let m = engine.matrix(&filter);
            match g.output {
                Output::Json => print_json(&m)?,
                Output::Text => out!("{}", matrix::text(&m)),
                Output::Csv => out!("{}", matrix::csv(&m)),
                Output::Md => out!("{}", matrix::markdown(&m)),
                Output::Dot => out!("{}", matrix::dot(&m)),
                Output::Nft | Output::Sarif | Output::Github | Output::Dir(_) => {
                    return Err("matrix supports -o text|json|csv|md|dot".into());
                }
            }
            Ok(0)
        }
        Command::Report { paths, inputs } => {
            text_only(&g, "report")?;
            let (sources, loaded) = match load(&g, &paths, &inputs) {
                Ok(x) => x,
                Err(code) => return Ok(code),
            };
            let settings = match lint_settings(&g, &LintArgs::default()) {
                Ok(s) => s,
                Err(code) => return Ok(code),
            };
            let engine = Engine::new(&loaded.cluster);
            let mut r = report::report(&engine, &sources, &loaded.diagnostics);
            if let (Some(ns), false) = (&g.namespace, g.all_namespaces) {
                r.namespaces.retain(|p| &p.namespace == ns);
                r.reachability
                    .retain(|p| p.destination.starts_with(&format!("{ns}/")));
                r.dns.retain(|p| p.pod.starts_with(&format!("{ns}/")));
            }
            // The lint summary is added here rather than in netfence-views so the
            // views stay independent of the lint rules (lint depends on views).
            let lint = run_lint(&g, &engine, &sources, &settings);
            match g.output {
                Output::Json => {
                    let mut doc = serde_json::to_value(&r).map_err(|e| e.to_string())?;
                    doc["lint"] =
                        netfence_lint::output::summary_json(&lint, &sources, REPORT_TOP_FINDINGS);
                    print_json(&doc)?
                }
                _ => {
                    out!("{}", report::text(&r));
                    out!(
                        "\n{}",
                        netfence_lint::output::summary_text(&lint, &sources, REPORT_TOP_FINDINGS)
                    );
                }
            }
            Ok(0)
        }
        Command::Lint {
            paths,
            inputs,
            lint,
            explain: rule,
        } => {
            if let Some(rule) = rule {
                return explain(&rule);
            }
            if matches!(
                g.output,
                Output::Csv | Output::Md | Output::Dot | Output::Nft
            ) {
                return Err("lint supports -o text, json, sarif and github".into());
            }
            let settings = match lint_settings(&g, &lint) {
                Ok(s) => s,
                Err(code) => return Ok(code),
            };
            let (sources, loaded) = match load(&g, &paths, &inputs) {
                Ok(x) => x,
                Err(code) => return Ok(code),
            };
            let engine = Engine::new(&loaded.cluster);
            let run = run_lint(&g, &engine, &sources, &settings);
            match g.output {
                Output::Json => print_json(&netfence_lint::output::json(&run, &sources))?,
                Output::Sarif => print_json(&netfence_lint::output::sarif(&run, &sources))?,
                Output::Github => out!("{}", netfence_lint::output::github(&run, &sources)),
                _ => out!(
                    "{}",
                    netfence_lint::output::text(
                        &run,
                        &sources,
                        color_for(&g, std::io::stdout().is_terminal())
                    )
                ),
            }
            Ok(if run.failed() { 1 } else { 0 })
        }
        Command::Compile(args) => dataplane::compile(&g, args),
        Command::Enforce(args) => dataplane::enforce(&g, args),
        Command::Lab(cmd) => dataplane::lab(&g, cmd),
        Command::Gen(args) => dataplane::gen_cluster(&g, args),
        Command::Status(args) => dataplane::status(&g, args),
        Command::Diff {
            before,
            after,
            fail_on,
        } => diff(&g, &before, &after, fail_on),
    }
}
