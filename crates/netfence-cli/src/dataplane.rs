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

#[derive(Args)]
pub struct GenArgs {
    /// Workloads (Deployments, or Pods with --pods-per-workload). Sizes: S 100,
    /// M 1000, L 10000, XL 50000.
    #[arg(long)]
    workloads: usize,
    /// NetworkPolicies (S 20, M 200, L 2000, XL 10000).
    #[arg(long)]
    policies: usize,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Write this many Pods with IPs per workload instead of Deployments (for the data plane).
    #[arg(long)]
    pods_per_workload: Option<usize>,
    /// Spread the pods over this many Nodes.
    #[arg(long, default_value_t = 1)]
    nodes: usize,
}

/// `netfence gen ... -o DIR`: the directory comes from the global `-o`.
pub fn gen_cluster(g: &Global, args: GenArgs) -> Result<u8, String> {
    let Output::Dir(dir) = &g.output else {
        return Err("gen writes files: give the directory with -o DIR".into());
    };
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let files = netfence_gen::generate(&netfence_gen::GenOptions {
        workloads: args.workloads,
        policies: args.policies,
        seed: args.seed,
        pods_per_workload: args.pods_per_workload,
        nodes: args.nodes,
    });
    for (name, text) in &files {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    eprintln!(
        "wrote {} file(s) to {}: {} workloads, {} policies (seed {})",
        files.len(),
        dir.display(),
        args.workloads,
        args.policies,
        args.seed
    );
    Ok(0)
}

#[derive(Args)]
pub struct StatusArgs {
    /// The network namespace `enforce --netns` applied to.
    #[arg(long)]
    netns: Option<String>,
}

pub fn status(g: &Global, args: StatusArgs) -> Result<u8, String> {
    let target = match &args.netns {
        Some(ns) => Target::Netns(ns.clone()),
        None => Target::Current,
    };
    let s = netfence_nft::status::status(&target)?;
    match g.output {
        Output::Json => print_json(&s)?,
        _ => out!("{}", netfence_nft::status::render_text(&s)),
    }
    Ok(0)
}

pub fn compile(g: &Global, args: CompileArgs) -> Result<u8, String> {
    let (_, loaded) = match load(g, &args.paths, &args.inputs) {
        Ok(x) => x,
        Err(code) => return Ok(code),
    };
    let engine = Engine::new(&loaded.cluster);
    warn_unaddressed(&engine);
    let compiled = compile_ruleset(&engine, &options(&args));
    match g.output {
        Output::Json => print_json(&compiled.ruleset.to_json())?,
        Output::Text | Output::Nft => out!("{}", compiled.to_nft()),
        _ => return Err("compile supports -o nft (the default) and -o json".into()),
    }
    Ok(0)
}

/// Pods without an IP in the input cannot be matched by a ruleset: say so.
fn warn_unaddressed(engine: &Engine) {
    let missing: Vec<&str> = engine
        .pods()
        .map(|p| engine.endpoint(p))
        .filter(|e| e.selectable && e.ips.is_empty())
        .map(|e| e.id.as_str())
        .collect();
    if !missing.is_empty() {
        eprintln!(
            "warning: {} endpoint(s) have no pod IP in the input, so no rule can match their traffic: {}\n  give Pod objects with status.podIP (kubectl get pods -A -o yaml), or try the policies in `netfence lab run`",
            missing.len(),
            netfence_text::short_list(&missing.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        );
    }
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
    warn_unaddressed(&engine);
    let compiled = compile_ruleset(&engine, &options(&args.compile));
    let target = match &args.netns {
        Some(ns) => Target::Netns(ns.clone()),
        None => Target::Current,
    };
    let cache = netfence_nft::status::cache_path(&target);
    let plan = match apply::enforce(&target, &compiled.ruleset, args.dry_run, Some(&cache)) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}\nnothing was changed in {}", target.describe());
            return Ok(EXIT_ERROR);
        }
    };
    if args.dry_run {
        out!("{}", plan.commands);
        eprintln!("dry run: {}", plan.summary());
        return Ok(0);
    }
    // Provenance beside the ruleset, for `netfence status`.
    if let Err(e) = netfence_nft::status::write_sidecar(&target, &compiled, args.compile.audit) {
        eprintln!("warning: could not record provenance for `netfence status`: {e}");
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
        outln!("{}: up to date, nothing sent", target.describe());
    } else {
        outln!(
            "{}: applied in one transaction ({}) for {} pod(s)",
            target.describe(),
            plan.summary(),
            compiled.pods.len()
        );
    }
    for flow in &revoked {
        outln!(
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
        /// Add one external host per address range the ipBlocks distinguish
        /// (documentation addresses where possible), to probe ipBlock rules.
        #[arg(long)]
        externals: bool,
        #[command(flatten)]
        inputs: Inputs,
    },
    /// Build a lab that stays up: pods in named namespaces with listeners, policies enforced.
    Up {
        paths: Vec<PathBuf>,
        #[arg(long, default_value_t = 1)]
        nodes: usize,
        /// Lab name (lowercase letters, digits, dashes).
        #[arg(long, default_value = "default")]
        name: String,
        #[command(flatten)]
        inputs: Inputs,
    },
    /// Probe a lab made by `lab up` and compare with the engine.
    Probe {
        #[arg(long, default_value = "default")]
        name: String,
    },
    /// Remove a lab made by `lab up` (and, with --all, whatever crashed labs left).
    Down {
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        all: bool,
    },
    /// The listener process of `lab up` (internal).
    #[command(hide = true)]
    Serve {
        #[arg(long)]
        name: String,
    },
}

const MAX_NODES: usize = 64;

fn lab_input(g: &Global, paths: &[PathBuf], inputs: &Inputs) -> Result<netfence_model::Loaded, u8> {
    load(g, paths, inputs).map(|(_, l)| l)
}

fn lab_up(
    g: &Global,
    paths: Vec<PathBuf>,
    nodes: usize,
    name: &str,
    inputs: Inputs,
) -> Result<u8, String> {
    use netfence_lab::{net::Topology, session};
    if !session::valid_name(name) {
        return Err(format!(
            "lab name `{name}`: use lowercase letters, digits and dashes (at most 32)"
        ));
    }
    if !(1..=MAX_NODES).contains(&nodes) {
        return Err(format!("--nodes must be between 1 and {MAX_NODES}"));
    }
    let mut all: Vec<PathBuf> = paths;
    all.extend(inputs.files.iter().cloned());
    if all.iter().any(|p| p.as_os_str() == "-") {
        return Err("lab up re-reads its inputs for `lab probe`: give files, not stdin".into());
    }
    let absolute: Vec<PathBuf> = all
        .iter()
        .map(|p| std::fs::canonicalize(p).unwrap_or_else(|_| p.clone()))
        .collect();
    let loaded = match lab_input(g, &absolute, &Inputs { files: Vec::new() }) {
        Ok(l) => l,
        Err(code) => return Ok(code),
    };
    if session::read(name).is_ok() {
        return Err(format!(
            "lab `{name}` is up already; `netfence lab down --name {name}` first"
        ));
    }
    netfence_lab::check_capabilities().map_err(|e| e.to_string())?;
    let plan = netfence_lab::plan::plan(&loaded.cluster, nodes);
    let id = session::up_id(name);
    let names = Topology::names(&plan, &id);
    let mut state = session::LabState {
        name: name.to_string(),
        inputs: absolute,
        nodes,
        node_namespaces: names.node_ns.clone(),
        pods: plan
            .pods
            .iter()
            .enumerate()
            .map(|(i, p)| session::PodState {
                id: p.id.clone(),
                netns: names.pod_ns[i].clone(),
                ip: p.ip,
                node: plan.nodes[p.node].clone(),
                ports: p
                    .ports
                    .iter()
                    .map(|(proto, port)| format!("{port}/{}", proto.as_str()))
                    .collect(),
            })
            .collect(),
        server_pid: None,
    };
    // Recorded before anything exists, so `lab down` can always clean up.
    session::save(&state).map_err(|e| format!("{}: {e}", session::STATE_DIR))?;
    let built = Topology::build(&plan, &id).map_err(|e| e.to_string());
    let topology = match built {
        Ok(mut t) => {
            t.keep = true;
            t
        }
        Err(e) => {
            session::down(&state);
            return Err(e);
        }
    };
    let lab = netfence_lab::Lab::attach(plan, topology);
    let setup = (|| -> Result<(), String> {
        lab.enforce(&lab.plan.cluster, false)
            .map_err(|e| e.to_string())?;
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let ready = session::state_path(name).with_extension("ready");
        let _ = std::fs::remove_file(&ready);
        let child = std::process::Command::new(exe)
            .args(["lab", "serve", "--name", name])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .map_err(|e| format!("starting the listener process: {e}"))?;
        state.server_pid = Some(child.id());
        session::save(&state).map_err(|e| e.to_string())?;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !ready.exists() {
            if std::time::Instant::now() > deadline {
                return Err("the listener process did not start".into());
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        Ok(())
    })();
    if let Err(e) = setup {
        session::down(&state);
        return Err(e);
    }
    match g.output {
        Output::Json => print_json(&state)?,
        _ => {
            outln!(
                "lab `{name}` is up: {} node(s), {} pod(s)",
                nodes,
                state.pods.len()
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
            if let Some(p) = state.pods.iter().find(|p| !p.ports.is_empty()) {
                let port = p.ports[0].split('/').next().unwrap_or("80");
                outln!(
                    "try: ip netns exec {} nc -zv -w 1 {} {port}",
                    state
                        .pods
                        .iter()
                        .find(|q| q.id != p.id)
                        .map_or(&p.netns, |q| &q.netns),
                    p.ip
                );
            }
            outln!(
                "probe: netfence lab probe --name {name}; remove: netfence lab down --name {name}"
            );
        }
    }
    Ok(0)
}

fn lab_probe(g: &Global, name: &str) -> Result<u8, String> {
    use netfence_lab::{net::Topology, session};
    let state = session::read(name).map_err(|e| format!("lab `{name}`: {e} (is it up?)"))?;
    let loaded = match lab_input(g, &state.inputs, &Inputs { files: Vec::new() }) {
        Ok(l) => l,
        Err(code) => return Ok(code),
    };
    let plan = netfence_lab::plan::plan(&loaded.cluster, state.nodes);
    let same = plan.pods.len() == state.pods.len()
        && plan
            .pods
            .iter()
            .zip(&state.pods)
            .all(|(a, b)| a.id == b.id && a.ip == b.ip);
    if !same {
        return Err(format!(
            "the inputs of lab `{name}` changed their pods since `lab up`; run `netfence lab down --name {name}` and `lab up` again"
        ));
    }
    let topology = Topology::names(&plan, &session::up_id(name));
    let lab = netfence_lab::Lab::attach(plan, topology);
    let cluster = lab.plan.cluster.clone();
    let report = lab.probe(&cluster).map_err(|e| e.to_string())?;
    match g.output {
        Output::Json => print_json(&report)?,
        _ => out!("{}", netfence_lab::render_text(&report)),
    }
    Ok(if report.mismatches == 0 { 0 } else { 1 })
}

fn lab_down(name: Option<&str>, all: bool) -> Result<u8, String> {
    use netfence_lab::session;
    let mut states = Vec::new();
    if all {
        states = session::all_states();
    } else {
        let name = name.unwrap_or("default");
        match session::read(name) {
            Ok(s) => states.push(s),
            Err(e) => return Err(format!("lab `{name}`: {e} (see `netfence lab down --all`)")),
        }
    }
    let mut removed = 0;
    for s in &states {
        removed += session::down(s);
        outln!("lab `{}` removed", s.name);
    }
    if all {
        let orphans = session::orphaned_run_namespaces();
        removed += orphans.len();
        netfence_lab::net::delete_namespaces(&orphans);
    }
    outln!("{removed} namespace(s) removed");
    Ok(0)
}

/// Runs until `lab down` ends it: the listeners of a `lab up` lab.
fn lab_serve(name: &str) -> Result<u8, String> {
    use netfence_lab::session;
    // Own session: a Ctrl-C in the terminal that ran `lab up` must not end it.
    let _ = nix::unistd::setsid();
    let state = session::read(name).map_err(|e| e.to_string())?;
    let listeners: Vec<netfence_lab::serve::Listen> = state
        .pods
        .iter()
        .map(|p| {
            let ports = p
                .ports
                .iter()
                .filter_map(|s| {
                    let (port, proto) = s.split_once('/')?;
                    Some((netfence_model::Protocol::parse(proto)?, port.parse().ok()?))
                })
                .collect();
            netfence_lab::serve::Listen {
                netns: p.netns.clone(),
                addr: std::net::Ipv4Addr::UNSPECIFIED,
                ports,
            }
        })
        .collect();
    let _servers = netfence_lab::serve::start(&listeners).map_err(|e| e.to_string())?;
    std::fs::write(session::state_path(name).with_extension("ready"), b"")
        .map_err(|e| e.to_string())?;
    loop {
        std::thread::sleep(std::time::Duration::from_secs(3600));
    }
}

pub fn lab(g: &Global, cmd: LabCommand) -> Result<u8, String> {
    match cmd {
        LabCommand::Up {
            paths,
            nodes,
            name,
            inputs,
        } => lab_up(g, paths, nodes, &name, inputs),
        LabCommand::Probe { name } => lab_probe(g, &name),
        LabCommand::Down { name, all } => lab_down(name.as_deref(), all),
        LabCommand::Serve { name } => lab_serve(&name),
        LabCommand::Run {
            paths,
            nodes,
            keep,
            externals,
            inputs,
        } => {
            let (_, loaded) = match load(g, &paths, &inputs) {
                Ok(x) => x,
                Err(code) => return Ok(code),
            };
            netfence_lab::check_capabilities().map_err(|e| e.to_string())?;
            let mut lab = netfence_lab::Lab::up_with(&loaded.cluster, nodes, externals)
                .map_err(|e| e.to_string())?;
            lab.topology.keep = keep;
            let cluster = lab.plan.cluster.clone();
            lab.enforce(&cluster, false).map_err(|e| e.to_string())?;
            let report = lab.probe(&cluster).map_err(|e| e.to_string())?;
            match g.output {
                Output::Json => print_json(&report)?,
                _ => out!("{}", netfence_lab::render_text(&report)),
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
