//! `netfence agent`: continuous enforcement of a watched directory.

use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use netfence_agent::{Agent, Event, NftKernel, http, run_loop, watch};
use netfence_nft::CompileOptions;
use tracing::{error, info, warn};

use crate::EXIT_ERROR;
use crate::args::Global;
use crate::cmd::enforce::target;

#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, ValueEnum)]
enum LogFormat {
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

#[derive(Args)]
pub(crate) struct AgentArgs {
    /// Enforce for the pods of this node (their spec.nodeName).
    #[arg(long)]
    node: String,
    /// The manifests to enforce, watched: editing, adding, renaming and
    /// deleting files are changes. A file that stops loading keeps its last
    /// good version in force.
    #[arg(long)]
    dir: PathBuf,
    /// Apply inside this network namespace (`ip netns`) instead of the current one.
    #[arg(long)]
    netns: Option<String>,
    /// Let would-be drops pass; they are still recorded.
    #[arg(long)]
    audit: bool,
    /// The CNI's pod interface prefix (e.g. `cali`, `lxc`, `veth`): each local
    /// pod is bound to the interface its address is routed to (read again at
    /// every change and every check), and forged source addresses are dropped.
    /// Without it a strict reverse-path check stops forged sources.
    #[arg(long, value_name = "PREFIX")]
    pod_interface_prefix: Option<String>,
    /// Serve /healthz, /readyz and /metrics (Prometheus) on this address.
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    /// Log lines as text or JSON (on stderr).
    #[arg(long, value_name = "FORMAT", default_value = "text")]
    log_format: LogFormat,
    /// Seconds between checks that the kernel's table is still what was
    /// applied (repaired when not).
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    check_interval: u64,
    /// Apply the directory once and exit: 0 when the kernel holds its ruleset,
    /// 2 when it could not be applied.
    #[arg(long)]
    once: bool,
}

fn init_logs(format: LogFormat) {
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_target(false);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

pub(crate) fn run(g: &Global, a: AgentArgs) -> Result<u8, String> {
    init_logs(a.log_format);
    if !a.dir.is_dir() {
        eoutln!("error: --dir {}: not a directory", a.dir.display());
        return Ok(EXIT_ERROR);
    }
    let target = target(&a.netns);
    let kernel = NftKernel::new(&target, a.audit);
    if let Some(why) = kernel.fallback() {
        warn!(reason = %why, "libnftables not used: applying with the nft binary");
    }
    let compile = CompileOptions {
        node: Some(a.node.clone()),
        interfaces: None,
        audit: a.audit,
    };
    if a.pod_interface_prefix.as_deref() == Some("") {
        return Err("--pod-interface-prefix must not be empty".into());
    }
    if a.pod_interface_prefix.is_none() {
        info!(
            "without --pod-interface-prefix forged sources are stopped by a strict reverse-path check (a packet must come in on the interface its source is routed to); give the CNI's interface prefix to bind each pod to its interface (see docs/dataplane.md)"
        );
    }
    let mut agent = Agent::new(
        a.dir.clone(),
        g.exclude.clone(),
        g.load_options(),
        compile,
        kernel,
    )
    .with_pod_interface_prefix(a.pod_interface_prefix.clone());
    if a.once {
        agent.sync(Instant::now());
        let ready = agent.metrics.get().ready;
        return Ok(if ready { 0 } else { EXIT_ERROR });
    }
    let (tx, rx) = mpsc::channel();
    // Watching starts before the first look, so no change is missed.
    let _watcher = match watch(&a.dir, tx.clone()) {
        Ok(w) => w,
        Err(e) => {
            eoutln!("error: {e}");
            return Ok(EXIT_ERROR);
        }
    };
    if let Some(addr) = &a.listen {
        match http::serve(addr, agent.metrics.clone()) {
            Ok(bound) => info!(address = %bound, "serving /healthz, /readyz, /metrics"),
            Err(e) => {
                eoutln!("error: --listen {addr}: {e}");
                return Ok(EXIT_ERROR);
            }
        }
    }
    let stop = tx.clone();
    if let Err(e) = ctrlc::set_handler(move || {
        let _ = stop.send(Event::Stop);
    }) {
        error!(error = %e, "cannot handle SIGTERM");
    }
    info!(
        node = %a.node,
        dir = %a.dir.display(),
        target = %target.describe(),
        "agent started"
    );
    run_loop(
        &mut agent,
        &rx,
        Duration::from_secs(a.check_interval.max(1)),
    );
    info!("stopping; the ruleset stays in force");
    Ok(0)
}
