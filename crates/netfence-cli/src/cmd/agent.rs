//! `netfence agent`: continuous enforcement of a watched directory or of the
//! Kubernetes API's objects.

use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use netfence_agent::kube::{Connection, KubeInput};
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
    #[arg(long, conflicts_with = "kubeconfig")]
    dir: Option<PathBuf>,
    /// Enforce the objects of the Kubernetes API server this kubeconfig names
    /// (Namespaces, Pods, Nodes, NetworkPolicies, the admin policy kinds; listed, then watched). An
    /// object that stops loading keeps its last good version in force. Without
    /// --dir and --kubeconfig, inside a pod (KUBERNETES_SERVICE_HOST set), the
    /// pod's service account is used.
    #[arg(long, value_name = "FILE")]
    kubeconfig: Option<PathBuf>,
    /// The kubeconfig's context to use (its current context otherwise).
    #[arg(long)]
    context: Option<String>,
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
    /// Apply the input once and exit: 0 when the kernel holds its ruleset,
    /// 2 when it could not be applied (with --kubeconfig: after the first
    /// lists, waiting at most 30 seconds for them).
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

/// Where the agent's objects come from.
enum Source {
    Dir(PathBuf),
    Api(Connection),
}

impl Source {
    fn describe(&self) -> String {
        match self {
            Source::Dir(d) => format!("directory {}", d.display()),
            Source::Api(Connection::Kubeconfig { path, context }) => format!(
                "API server of {}{}",
                path.display(),
                context
                    .as_ref()
                    .map(|c| format!(" (context {c})"))
                    .unwrap_or_default()
            ),
            Source::Api(Connection::InCluster) => "API server (in-cluster service account)".into(),
        }
    }
}

fn source(a: &AgentArgs) -> Result<Source, String> {
    if a.context.is_some() && a.kubeconfig.is_none() {
        return Err("--context needs --kubeconfig FILE".into());
    }
    match (&a.dir, &a.kubeconfig) {
        (Some(dir), _) if !dir.is_dir() => {
            Err(format!("--dir {}: not a directory", dir.display()))
        }
        (Some(dir), _) => Ok(Source::Dir(dir.clone())),
        (None, Some(path)) => Ok(Source::Api(Connection::Kubeconfig {
            path: path.clone(),
            context: a.context.clone(),
        })),
        (None, None) if std::env::var_os("KUBERNETES_SERVICE_HOST").is_some() => {
            Ok(Source::Api(Connection::InCluster))
        }
        (None, None) => Err(
            "give the objects to enforce: --dir DIR (a directory of manifests) or --kubeconfig FILE (an API server); inside a pod the service account is used"
                .into(),
        ),
    }
}

pub(crate) fn run(g: &Global, a: AgentArgs) -> Result<u8, String> {
    init_logs(a.log_format);
    let source = match source(&a) {
        Ok(s) => s,
        Err(e) => {
            eoutln!("error: {e}");
            return Ok(EXIT_ERROR);
        }
    };
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
    let (tx, rx) = mpsc::channel();
    // Watching starts before the first look, so no change is missed.
    let mut _watcher = None;
    let mut agent = match &source {
        Source::Dir(dir) => {
            if !a.once {
                _watcher = match watch(dir, tx.clone()) {
                    Ok(w) => Some(w),
                    Err(e) => {
                        eoutln!("error: {e}");
                        return Ok(EXIT_ERROR);
                    }
                };
            }
            Agent::new(
                dir.clone(),
                g.exclude.clone(),
                g.load_options(),
                compile,
                kernel,
            )
        }
        Source::Api(connection) => match KubeInput::start(connection.clone(), tx.clone()) {
            Ok(input) => Agent::with_input(Box::new(input), g.load_options(), compile, kernel),
            Err(e) => {
                eoutln!("error: {e}");
                return Ok(EXIT_ERROR);
            }
        },
    }
    .with_pod_interface_prefix(a.pod_interface_prefix.clone());
    if a.once {
        agent.sync(Instant::now());
        if matches!(source, Source::Api(_)) {
            // The first lists take a moment: sync at each change until ready.
            let deadline = Instant::now() + Duration::from_secs(30);
            while !agent.metrics.get().ready && Instant::now() < deadline {
                let _ = rx.recv_timeout(Duration::from_millis(100));
                agent.sync(Instant::now());
            }
        }
        let ready = agent.metrics.get().ready;
        return Ok(if ready { 0 } else { EXIT_ERROR });
    }
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
        source = %source.describe(),
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
