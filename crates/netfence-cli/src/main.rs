//! The `netfence` command: argument parsing and dispatch. Each command has its
//! module in `cmd/`; everything it computes lives in the library crates.

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
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
    /// Exit 0 allowed, 1 denied, 2 error.
    #[command(after_help = "Formats (-o): text (default), json, yaml.
Examples:
  netfence check app/deployment/frontend kube-system/deployment/coredns examples/guide-no-dns --port 53 --protocol UDP
  netfence check ingress-nginx/deployment/ingress-nginx-controller storefront/deployment/web examples/shop --port 8080 -o json")]
    Check(cmd::check::CheckArgs),
    /// Explain a policy, a pod (or workload) or a namespace.
    #[command(after_help = "Formats (-o): text (default), json, yaml.
Examples:
  netfence describe netpol app/default-deny-all examples/guide
  netfence describe deploy frontend -n app examples/guide -o yaml
  netfence describe ns app examples/guide -o json")]
    Describe(cmd::describe::DescribeArgs),
    /// The allowed connections of every ordered pair of endpoints.
    #[command(
        after_help = "Formats (-o): text (default), json, yaml, csv, md, dot (Graphviz).
Examples:
  netfence matrix examples/guide
  netfence matrix examples/shop -n storefront --port 8080 -o csv"
    )]
    Matrix(cmd::matrix::MatrixArgs),
    /// The page a reviewer reads instead of the YAML.
    #[command(
        after_help = "Formats (-o): text (default), json, yaml, html (one self-contained page).
Examples:
  netfence report examples/shop
  netfence report examples/guide-no-dns -o json
  netfence report examples/shop -o html > report.html"
    )]
    Report(cmd::report::ReportArgs),
    /// Print the nftables ruleset that enforces the policies on one node.
    #[command(
        after_help = "Formats (-o): nft (default; `text` means the same), json (libnftables JSON), yaml.
Examples:
  netfence compile examples/nodes --node node-a
  netfence compile examples/nodes --node node-a -o json"
    )]
    Compile(cmd::compile::CompileCommand),
    /// Write a synthetic cluster (namespaces, workloads or pods, policies) to -o DIR.
    #[command(after_help = "-o here is the directory to write, not a format.
Example:
  netfence gen --workloads 100 --policies 20 --seed 1 -o /tmp/netfence-gen-s")]
    Gen(cmd::gen_cluster::GenArgs),
    /// Apply the ruleset to this node (or a network namespace) as one delta transaction.
    /// Needs root and nft.
    #[command(after_help = "Formats (-o): text (default), json, yaml.
Example (in the node namespace of `netfence lab up examples/nodes --name demo`):
  netfence enforce examples/nodes --node node-a --netns netfence-lab-up-demo-n0 --dry-run
  netfence enforce examples/nodes --node node-a --netns netfence-lab-up-demo-n0 --dry-run -o json")]
    Enforce(cmd::enforce::EnforceArgs),
    /// Keep enforcing a watched directory or the Kubernetes API's objects on
    /// this node (or a network namespace): each change applied as one delta
    /// transaction. Needs root and nftables.
    ///
    /// Long-running; SIGTERM leaves the ruleset in force and exits 0. A file
    /// (or API object) that stops loading keeps its last good version in force;
    /// on the first start nothing is applied until every file loads (every
    /// first list of the API server is complete). `netfence status` reads what
    /// it applied.
    #[command(
        after_help = "Example (in the node namespace of `netfence lab up examples/nodes --name demo`):
  netfence agent --node node-a --dir examples/nodes --netns netfence-lab-up-demo-n0 --once
Without --once, watching, with metrics:
  sudo netfence agent --node NODE --dir DIR --listen 127.0.0.1:9464 --log-format json"
    )]
    Agent(cmd::agent::AgentArgs),
    /// Which policies let traffic through and what was dropped, on an enforced node.
    #[command(after_help = "Formats (-o): text (default), json, yaml.
Example (a node of `netfence lab up examples/nodes --name demo`):
  netfence status --netns netfence-lab-up-demo-n0 -o json")]
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
    #[command(
        after_help = "Formats (-o): text (default), json, yaml, md (a pull-request comment), html (one self-contained page).
Examples:
  netfence diff examples/guide examples/guide-no-dns
  netfence diff examples/guide examples/guide --with examples/allow-all.yaml -o md
  netfence diff examples/guide examples/guide-no-dns -o html > diff.html
  netfence diff examples/guide examples/guide --without netpol/app/default-deny-all --fail-on added"
    )]
    Diff(cmd::diff::DiffArgs),
    /// Find NetworkPolicy mistakes: file:line:col, the offending field, the fix.
    /// Exit 0 when nothing is at or above --fail-on, 1 otherwise, 2 on error.
    #[command(
        after_help = "Formats (-o): text (default), json, yaml, sarif (GitHub code scanning), github (workflow annotations).
Examples:
  netfence lint examples/guide-no-dns
  netfence lint examples/shop --fail-on error -o sarif
  netfence lint --explain NF012"
    )]
    Lint(cmd::lint::LintCommand),
    /// Print a shell completion script.
    #[command(after_help = "Examples:
  netfence completions bash > ~/.local/share/bash-completion/completions/netfence
  netfence completions zsh > ~/.zfunc/_netfence
  netfence completions fish > ~/.config/fish/completions/netfence.fish")]
    Completions {
        /// The shell: bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), generated from these help texts.
    #[command(after_help = "Example:
  netfence man > netfence.1 && man ./netfence.1")]
    Man,
}

pub(crate) fn parse_protocol(s: &str) -> Result<Protocol, String> {
    Protocol::parse(&s.to_ascii_uppercase()).ok_or_else(|| format!("`{s}` is not TCP, UDP or SCTP"))
}

/// Exit codes: 0 success (allowed), 1 denied, 2 error.
pub(crate) const EXIT_ERROR: u8 = 2;

fn main() -> ExitCode {
    netfence_text::set_width(terminal_width());
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(message) => {
            eoutln!("error: {message}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

/// Columns to wrap text at: `COLUMNS` when set, else the terminal's (stdout,
/// then stderr), else 100.
fn terminal_width() -> usize {
    if let Some(n) = std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok()) {
        return n;
    }
    terminal_size::terminal_size_of(std::io::stdout())
        .or_else(|| terminal_size::terminal_size_of(std::io::stderr()))
        .map_or(100, |(w, _)| usize::from(w.0))
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
        Command::Agent(a) => cmd::agent::run(g, a),
        Command::Gen(a) => cmd::gen_cluster::run(g, a),
        Command::Lab(c) => cmd::lab::run(g, c),
        Command::Completions { shell } => {
            let mut buf = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "netfence", &mut buf);
            out!("{}", String::from_utf8_lossy(&buf));
            Ok(0)
        }
        Command::Man => {
            let mut buf = Vec::new();
            clap_mangen::Man::new(Cli::command())
                .render(&mut buf)
                .map_err(|e| e.to_string())?;
            out!("{}", String::from_utf8_lossy(&buf));
            Ok(0)
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    /// The manual page covers every command, from the same definitions as --help.
    #[test]
    fn man_page_names_every_command() {
        let mut buf = Vec::new();
        clap_mangen::Man::new(Cli::command())
            .render(&mut buf)
            .unwrap(); // ok: test
        let roff = String::from_utf8(buf).unwrap(); // ok: test
        assert!(roff.starts_with(".ie \\n(.g .ds Aq"), "{}", &roff[..80]);
        for (path, _) in commands() {
            if !path.contains(' ') {
                assert!(
                    roff.contains(&format!("netfence\\-{path}")),
                    "{path} missing from the man page"
                );
            }
        }
    }

    /// Every visible command, with its path (`lab up`).
    fn commands() -> Vec<(String, clap::Command)> {
        fn walk(prefix: &str, c: &clap::Command, out: &mut Vec<(String, clap::Command)>) {
            for sub in c.get_subcommands().filter(|s| !s.is_hide_set()) {
                let path = format!("{prefix} {}", sub.get_name()).trim().to_string();
                out.push((path.clone(), sub.clone()));
                walk(&path, sub, out);
            }
        }
        let mut out = Vec::new();
        walk("", &Cli::command(), &mut out);
        out
    }

    #[test]
    fn every_argument_is_described() {
        let mut missing = Vec::new();
        for (path, c) in commands() {
            for arg in c.get_arguments().filter(|a| !a.is_hide_set()) {
                if arg.get_help().is_none() && arg.get_id() != "help" && arg.get_id() != "version" {
                    missing.push(format!("{path}: {}", arg.get_id()));
                }
            }
        }
        assert!(missing.is_empty(), "arguments without help: {missing:?}");
    }

    /// Each command's help names exactly the formats its `-o` accepts, and
    /// shows an example.
    #[test]
    fn each_command_lists_exactly_its_formats_with_an_example() {
        for (path, c) in commands() {
            if c.has_subcommands() {
                continue;
            }
            let after = c
                .get_after_help()
                .map(|h| h.to_string())
                .unwrap_or_default();
            assert!(
                after.contains("netfence "),
                "{path}: no example in its help"
            );
            let Some(output) = c.get_arguments().find(|a| a.get_id() == "output") else {
                continue;
            };
            let mut accepted: Vec<String> = output
                .get_possible_values()
                .iter()
                .map(|v| v.get_name().to_string())
                .collect();
            let line = after
                .lines()
                .find_map(|l| l.strip_prefix("Formats (-o): "))
                .unwrap_or_else(|| panic!("{path}: no `Formats (-o):` line"));
            let mut listed: Vec<String> = line
                .trim_end_matches('.')
                .split(", ")
                .map(|item| item.split_whitespace().next().unwrap_or("").to_string())
                .collect();
            accepted.sort();
            listed.sort();
            assert_eq!(listed, accepted, "{path}");
            assert!(after.contains(" -o "), "{path}: no example with -o");
        }
    }
}
