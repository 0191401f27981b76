//! `netfence lab run|up|probe|down`: the network-namespace lab. What a lab is
//! and how an interactive one is kept up lives in `netfence-lab`; this module
//! reads the inputs and prints.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use netfence_lab::session;

use crate::args::{Global, Inputs};
use crate::input::load;
use crate::output::{Progress, TextJson, format, print_data, print_text};

#[derive(Args)]
pub(crate) struct Output {
    /// Output format.
    #[arg(short = 'o', long = "output", value_name = "FORMAT")]
    output: Option<TextJson>,
}

#[derive(Subcommand)]
pub(crate) enum LabCommand {
    /// Build the lab, enforce, probe every pod pair and port, compare, tear down.
    /// Needs root. Exit 0 when the kernel agrees with the engine everywhere, 1 otherwise.
    #[command(after_help = "Formats (-o): text (default), json, yaml.
Examples:
  netfence lab run examples/nodes
  netfence lab run examples/guide --nodes 2 -o json")]
    Run {
        /// Manifest files or directories (*.yaml, *.yml, *.json, recursively); `-` for stdin.
        paths: Vec<PathBuf>,
        /// Spread pods without spec.nodeName over this many nodes.
        #[arg(long, default_value_t = 1)]
        nodes: usize,
        /// Leave the namespaces in place (remove them with `netfence lab down --all`).
        #[arg(long)]
        keep: bool,
        /// Add one external host per address range the ipBlocks distinguish
        /// (documentation addresses where possible), to probe ipBlock rules.
        #[arg(long)]
        externals: bool,
        #[command(flatten)]
        inputs: Inputs,
        #[command(flatten)]
        output: Output,
    },
    /// Build a lab that stays up: pods in named namespaces with listeners, policies enforced.
    #[command(after_help = "Formats (-o): text (default), json, yaml.
Example:
  netfence lab up examples/nodes --name demo -o yaml")]
    Up {
        /// Manifest files or directories (*.yaml, *.yml, *.json, recursively); `-` for stdin.
        paths: Vec<PathBuf>,
        /// Spread pods without spec.nodeName over this many nodes.
        #[arg(long, default_value_t = 1)]
        nodes: usize,
        /// Lab name (lowercase letters, digits, dashes).
        #[arg(long, default_value = "default")]
        name: String,
        #[command(flatten)]
        inputs: Inputs,
        #[command(flatten)]
        output: Output,
    },
    /// Probe a lab made by `lab up` and compare with the engine: every pod pair
    /// and served port, or only those the filters name.
    #[command(after_help = "Formats (-o): text (default), json, yaml.
Examples:
  netfence lab probe --name demo -o json
  netfence lab probe --name demo --from app/frontend-7d9f8-abcde --to app/api-5c6b7-klmno --port 8080")]
    Probe {
        /// The name given to `lab up`.
        #[arg(long, default_value = "default")]
        name: String,
        /// Only probes from this pod or workload (an id `lab up` lists, or `NS/KIND/NAME`).
        #[arg(long, value_name = "SRC")]
        from: Option<String>,
        /// Only probes to this pod or workload.
        #[arg(long, value_name = "DST")]
        to: Option<String>,
        /// Only this destination port.
        #[arg(long)]
        port: Option<u16>,
        /// Only this protocol: TCP, UDP or SCTP.
        #[arg(long, value_parser = crate::parse_protocol)]
        protocol: Option<netfence_model::Protocol>,
        #[command(flatten)]
        output: Output,
    },
    /// Remove a lab made by `lab up` (and, with --all, whatever crashed labs left).
    #[command(after_help = "Example:
  netfence lab down --name demo")]
    Down {
        /// The name given to `lab up` [default: default].
        #[arg(long)]
        name: Option<String>,
        /// Every lab, and the namespaces of `lab run`s whose process is gone.
        #[arg(long)]
        all: bool,
    },
    /// The listener process of `lab up` (internal).
    #[command(hide = true)]
    Serve {
        /// The lab whose pods to listen in.
        #[arg(long)]
        name: String,
    },
}

pub(crate) fn run(g: &Global, cmd: LabCommand) -> Result<u8, String> {
    match cmd {
        LabCommand::Run {
            paths,
            nodes,
            keep,
            externals,
            inputs,
            output,
        } => run_lab(g, &paths, nodes, keep, externals, &inputs, output),
        LabCommand::Up {
            paths,
            nodes,
            name,
            inputs,
            output,
        } => up(g, paths, nodes, &name, inputs, output),
        LabCommand::Probe {
            name,
            from,
            to,
            port,
            protocol,
            output,
        } => {
            let filter = netfence_lab::ProbeFilter {
                from,
                to,
                protocol,
                port,
            };
            probe(g, &name, &filter, output)
        }
        LabCommand::Down { name, all } => {
            let removed = session::down_labs(name.as_deref(), all).map_err(|e| e.to_string())?;
            for lab in &removed.labs {
                outln!("lab `{lab}` removed");
            }
            outln!(
                "{} removed",
                netfence_text::count(removed.namespaces, "namespace")
            );
            Ok(0)
        }
        LabCommand::Serve { name } => match session::serve(&name) {
            Ok(never) => match never {},
            Err(e) => Err(e.to_string()),
        },
    }
}

fn run_lab(
    g: &Global,
    paths: &[PathBuf],
    nodes: usize,
    keep: bool,
    externals: bool,
    inputs: &Inputs,
    output: Output,
) -> Result<u8, String> {
    let fmt = format(output.output, g, "lab run")?;
    let (_, loaded) = match load(g, paths, inputs) {
        Ok(x) => x,
        Err(code) => return Ok(code),
    };
    if let Some(why) = super::compile::admin_not_enforced(&loaded.cluster) {
        eoutln!("warning: {why}");
    }
    // The lab takes seconds at least: always long work.
    let progress = Progress::spinner(true, "checking what the lab needs");
    netfence_lab::check_capabilities().map_err(|e| e.to_string())?;
    progress.stage("building the lab's namespaces");
    let mut lab =
        netfence_lab::Lab::up_with(&loaded.cluster, nodes, externals).map_err(|e| e.to_string())?;
    lab.topology.keep = keep;
    let cluster = lab.plan.cluster.clone();
    progress.stage("enforcing on every lab node");
    lab.enforce(&cluster, false).map_err(|e| e.to_string())?;
    progress.stage("probing every pod pair and port");
    let report = lab.probe(&cluster).map_err(|e| e.to_string())?;
    drop(progress);
    match fmt {
        TextJson::Json | TextJson::Yaml => print_data(&report, fmt == TextJson::Yaml)?,
        TextJson::Text => print_text(g, &netfence_lab::render_text(&report)),
    }
    if keep {
        eoutln!(
            "kept namespaces: {} (remove with `netfence lab down --all`)",
            lab.topology.all_namespaces().join(" ")
        );
    }
    Ok(if report.mismatches == 0 { 0 } else { 1 })
}

fn up(
    g: &Global,
    paths: Vec<PathBuf>,
    nodes: usize,
    name: &str,
    inputs: Inputs,
    output: Output,
) -> Result<u8, String> {
    let fmt = format(output.output, g, "lab up")?;
    let mut all: Vec<PathBuf> = paths;
    all.extend(inputs.files.iter().cloned());
    session::check_request(name, nodes, &all).map_err(|e| e.to_string())?;
    // `lab probe` re-reads the inputs, maybe from another directory.
    let absolute: Vec<PathBuf> = all
        .iter()
        .map(|p| std::fs::canonicalize(p).unwrap_or_else(|_| p.clone()))
        .collect();
    let (_, loaded) = match load(g, &absolute, &Inputs { files: Vec::new() }) {
        Ok(l) => l,
        Err(code) => return Ok(code),
    };
    if let Some(why) = super::compile::admin_not_enforced(&loaded.cluster) {
        eoutln!("warning: {why}");
    }
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut listener = std::process::Command::new(exe);
    listener.args(["lab", "serve", "--name", name]);
    let state =
        session::up(&loaded.cluster, name, absolute, nodes, listener).map_err(|e| e.to_string())?;
    if fmt != TextJson::Text {
        print_data(&state, fmt == TextJson::Yaml)?;
        return Ok(0);
    }
    outln!(
        "lab `{name}` is up: {}, {}",
        netfence_text::count(nodes, "node"),
        netfence_text::count(state.pods.len(), "pod")
    );
    for p in &state.pods {
        outln!(
            "  {:<40} {:<15} {:<32} {}",
            p.id,
            p.ip,
            p.netns,
            p.ports.join(",")
        );
    }
    // One probe people can run by hand, with netfence itself (no `nc` needed).
    if let Some(p) = state.pods.iter().find(|p| !p.ports.is_empty()) {
        let (port, protocol) = p.ports[0].split_once('/').unwrap_or((&p.ports[0], "TCP"));
        if let Some(q) = state.pods.iter().find(|q| q.id != p.id) {
            outln!(
                "try: netfence lab probe --name {name} --from {} --to {} --port {port} --protocol {protocol}",
                q.id,
                p.id
            );
        }
    }
    outln!("probe: netfence lab probe --name {name}; remove: netfence lab down --name {name}");
    Ok(0)
}

fn probe(
    g: &Global,
    name: &str,
    filter: &netfence_lab::ProbeFilter,
    output: Output,
) -> Result<u8, String> {
    let fmt = format(output.output, g, "lab probe")?;
    let state = session::read_up(name).map_err(|e| e.to_string())?;
    let (_, loaded) = match load(g, &state.inputs, &Inputs { files: Vec::new() }) {
        Ok(l) => l,
        Err(code) => return Ok(code),
    };
    let report = session::probe(&state, &loaded.cluster, filter).map_err(|e| e.to_string())?;
    match fmt {
        TextJson::Json | TextJson::Yaml => print_data(&report, fmt == TextJson::Yaml)?,
        TextJson::Text if !filter.is_empty() => print_text(g, &netfence_lab::render_lines(&report)),
        TextJson::Text => print_text(g, &netfence_lab::render_text(&report)),
    }
    Ok(if report.mismatches == 0 { 0 } else { 1 })
}
