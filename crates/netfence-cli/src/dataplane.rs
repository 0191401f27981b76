//! `compile` and `enforce`: the nftables data plane.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use netfence_engine::Engine;
use netfence_nft::apply::{self, Target};
use netfence_nft::{CompileOptions, compile as compile_ruleset, revoke};

use crate::{EXIT_ERROR, Global, Inputs, Output, load, print_json};

#[derive(Args)]
pub struct CompileArgs {
    paths: Vec<PathBuf>,
    /// Enforce for the pods on this node (spec.nodeName); default: every pod.
    #[arg(long)]
    node: Option<String>,
    /// Let would-be drops pass; they are still recorded.
    #[arg(long)]
    audit: bool,
    #[command(flatten)]
    inputs: Inputs,
}

#[derive(Args)]
pub struct EnforceArgs {
    #[command(flatten)]
    compile: CompileArgs,
    /// Apply inside this network namespace (`ip netns`) instead of the current one.
    #[arg(long)]
    netns: Option<String>,
    /// Print the transaction instead of applying it.
    #[arg(long)]
    dry_run: bool,
    /// Cut established connections the new ruleset denies.
    #[arg(long)]
    revoke_established: bool,
}

pub fn compile(g: &Global, args: CompileArgs) -> Result<u8, String> {
    let (_, loaded) = match load(g, &args.paths, &args.inputs) {
        Ok(x) => x,
        Err(code) => return Ok(code),
    };
    let engine = Engine::new(&loaded.cluster);
    let compiled = compile_ruleset(&engine, &options(&args));
    match g.output {
        Output::Json => print_json(&compiled.ruleset.to_json())?,
        Output::Text | Output::Nft => print!("{}", compiled.to_nft()),
        _ => return Err("compile supports -o nft (the default) and -o json".into()),
    }
    Ok(0)
}

fn options(args: &CompileArgs) -> CompileOptions {
    CompileOptions {
        node: args.node.clone(),
        interfaces: None,
        audit: args.audit,
    }
}

pub fn enforce(g: &Global, args: EnforceArgs) -> Result<u8, String> {
    // Bad input stops here: nothing is read from or sent to the kernel.
    let (_, loaded) = match load(g, &args.compile.paths, &args.compile.inputs) {
        Ok(x) => x,
        Err(code) => return Ok(code),
    };
    let engine = Engine::new(&loaded.cluster);
    let compiled = compile_ruleset(&engine, &options(&args.compile));
    let target = match &args.netns {
        Some(ns) => Target::Netns(ns.clone()),
        None => Target::Current,
    };
    let plan = match apply::enforce(&target, &compiled.ruleset, args.dry_run) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}\nnothing was changed in {}", target.describe());
            return Ok(EXIT_ERROR);
        }
    };
    if args.dry_run {
        print!("{}", plan.commands);
        eprintln!("dry run: {}", plan.summary());
        return Ok(0);
    }
    let revoked = if args.revoke_established {
        revoke::revoke_denied(&target, &engine).map_err(|e| e.to_string())?
    } else {
        Vec::new()
    };
    if g.output == Output::Json {
        print_json(&serde_json::json!({
            "changed": !plan.is_empty(),
            "summary": plan.summary(),
            "pods": compiled.pods,
            "revoked": revoked,
        }))?;
    } else if plan.is_empty() {
        println!("{}: up to date, nothing sent", target.describe());
    } else {
        println!(
            "{}: applied in one transaction ({}) for {} pod(s)",
            target.describe(),
            plan.summary(),
            compiled.pods.len()
        );
    }
    for flow in &revoked {
        println!(
            "revoked {} {}:{} -> {}:{}",
            flow.protocol.as_str(),
            flow.src,
            flow.sport,
            flow.dst,
            flow.dport
        );
    }
    Ok(0)
}

#[derive(Subcommand)]
pub enum LabCommand {
    /// Build the lab, enforce, probe every pod pair and port, compare, tear down.
    Run {
        paths: Vec<PathBuf>,
        /// Spread pods without spec.nodeName over this many nodes.
        #[arg(long, default_value_t = 1)]
        nodes: usize,
        /// Leave the namespaces in place (remove them with `netfence lab down --all`).
        #[arg(long)]
        keep: bool,
        #[command(flatten)]
        inputs: Inputs,
    },
}

pub fn lab(g: &Global, cmd: LabCommand) -> Result<u8, String> {
    match cmd {
        LabCommand::Run {
            paths,
            nodes,
            keep,
            inputs,
        } => {
            let (_, loaded) = match load(g, &paths, &inputs) {
                Ok(x) => x,
                Err(code) => return Ok(code),
            };
            netfence_lab::check_capabilities().map_err(|e| e.to_string())?;
            let mut lab =
                netfence_lab::Lab::up(&loaded.cluster, nodes).map_err(|e| e.to_string())?;
            lab.topology.keep = keep;
            let cluster = lab.plan.cluster.clone();
            lab.enforce(&cluster, false).map_err(|e| e.to_string())?;
            let report = lab.probe(&cluster).map_err(|e| e.to_string())?;
            match g.output {
                Output::Json => print_json(&report)?,
                _ => print!("{}", netfence_lab::render_text(&report)),
            }
            if keep {
                eprintln!(
                    "kept namespaces: {} (remove with `netfence lab down --all`)",
                    lab.topology.all_namespaces().join(" ")
                );
            }
            Ok(if report.mismatches == 0 { 0 } else { 1 })
        }
    }
}
