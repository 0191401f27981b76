//! The `netfence` command: argument parsing and dispatch. Each command has its
//! module in `cmd/`; everything it computes lives in the library crates.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use netfence_model::Protocol;

#[macro_use]
mod output;
mod args;
mod cmd;
mod input;

use args::Global;

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
    /// Output format, as the command's own -o (its help lists its formats);
    /// for `gen`, the directory to write.
    #[arg(short = 'o', long = "output", value_name = "FORMAT")]
    output: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Is SRC → DST allowed, why, and what to change.
    Check(cmd::check::CheckArgs),
    /// Explain a policy, a pod or a namespace.
    Describe(cmd::describe::DescribeArgs),
    /// The allowed connections of every ordered pair of endpoints.
    Matrix(cmd::matrix::MatrixArgs),
    /// The page a reviewer reads instead of the YAML.
    Report(cmd::report::ReportArgs),
    /// Print the nftables ruleset that enforces the policies on one node.
    Compile(cmd::compile::CompileCommand),
    /// Write a synthetic cluster (namespaces, workloads or pods, policies) to -o DIR.
    Gen(cmd::gen_cluster::GenArgs),
    /// Apply the ruleset to this node (or a network namespace) as one delta transaction.
    Enforce(cmd::enforce::EnforceArgs),
    /// Which policies let traffic through and what was dropped, on an enforced node.
    Status(cmd::status::StatusArgs),
    /// A network-namespace lab that proves kernel verdicts equal engine verdicts.
    #[command(subcommand)]
    Lab(cmd::lab::LabCommand),
    /// What a change does to reachability: AFTER compared with BEFORE.
    ///
    /// Each side is a file, a directory, `-` (stdin) or git:REV[:PATH] (read from
    /// the git repository of the current directory; PATH is relative to the
    /// current directory and defaults to it). --with and --without apply to
    /// AFTER. Exit 0 no change, 1 changes found (of the kind --fail-on names),
    /// 2 error.
    Diff(cmd::diff::DiffArgs),
    /// Find NetworkPolicy mistakes: file:line:col, the offending field, the fix.
    /// Exit 0 when nothing is at or above --fail-on, 1 otherwise, 2 on error.
    Lint(cmd::lint::LintCommand),
}

pub(crate) fn parse_protocol(s: &str) -> Result<Protocol, String> {
    Protocol::parse(&s.to_ascii_uppercase()).ok_or_else(|| format!("`{s}` is not TCP, UDP or SCTP"))
}

/// Exit codes: 0 success (allowed), 1 denied, 2 error.
pub(crate) const EXIT_ERROR: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(message) => {
            eoutln!("error: {message}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

fn run(cli: Cli) -> Result<u8, String> {
    let mut g = cli.global;
    g.output = cli.output;
    let g = &g;
    match cli.command {
        Command::Check(a) => cmd::check::run(g, a),
        Command::Describe(a) => cmd::describe::run(g, a),
        Command::Matrix(a) => cmd::matrix::run(g, a),
        Command::Report(a) => cmd::report::run(g, a),
        Command::Lint(a) => cmd::lint::run(g, a),
        Command::Diff(a) => cmd::diff::run(g, a),
        Command::Compile(a) => cmd::compile::run(g, a),
        Command::Enforce(a) => cmd::enforce::run(g, a),
        Command::Status(a) => cmd::status::run(g, a),
        Command::Gen(a) => cmd::gen_cluster::run(g, a),
        Command::Lab(c) => cmd::lab::run(g, c),
    }
}
