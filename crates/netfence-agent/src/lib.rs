//! `netfence agent`: keeps one node's nf_tables equal to the engine's answer
//! for a watched directory of manifests or the objects of the Kubernetes API.
//!
//! - [`snapshot`]: the input as enforced (last good text per file or object);
//!   [`Input`] is where the texts come from.
//! - [`Agent`]: one look at the directory → engine → compile → the delta sent
//!   as one transaction, planned from what the agent last applied (kept in
//!   memory; the kernel is read at start, after a refused transaction and by the
//!   periodic drift check).
//! - [`kube`]: the Kubernetes API as an [`Input`].
//! - [`run_loop`]: events coalesced, drift checks, stop.
//! - [`http`], [`metrics`]: `/healthz`, `/readyz`, `/metrics`.

pub mod http;
pub mod kernel;
pub mod kube;
pub mod metrics;
pub mod snapshot;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::time::{Duration, Instant};

use netfence_engine::Engine;
use netfence_model::LoadOptions;
use netfence_nft::{CompileOptions, Compiled, compile};
use tracing::{error, info, warn};

pub use kernel::{Kernel, KernelState, NftKernel};
pub use metrics::{Metrics, PolicyCounters};
pub use snapshot::{DirInput, Input, Read, Snapshot};

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("cannot watch {dir}: {source}")]
    Watch { dir: PathBuf, source: notify::Error },
    #[error("{0} is not a directory")]
    NotADirectory(PathBuf),
}

/// What the event loop is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// Something in the input changed at this moment.
    Changed(Instant),
    /// SIGTERM or SIGINT: leave the ruleset in place and return.
    Stop,
}

/// One node's enforcement.
pub struct Agent<K: Kernel> {
    snapshot: Snapshot,
    kernel: K,
    compile: CompileOptions,
    /// What the kernel holds, as last read or applied; `None`: unknown (read
    /// before the next transaction).
    state: Option<KernelState>,
    /// The ruleset last applied (for the drift check).
    last: Option<Compiled>,
    /// A change that could not be applied yet: retried at the next tick.
    pending: bool,
    /// The CNI's pod interface prefix: pods are bound to the interfaces their
    /// addresses are routed to, found again at every sync and tick.
    prefix: Option<String>,
    pub metrics: Arc<Metrics>,
}

impl<K: Kernel> Agent<K> {
    pub fn new(
        dir: PathBuf,
        exclude: Vec<String>,
        load: LoadOptions,
        compile: CompileOptions,
        kernel: K,
    ) -> Agent<K> {
        Agent::with_input(Box::new(DirInput { dir, exclude }), load, compile, kernel)
    }

    /// An agent reading its objects from `input` instead of a directory.
    pub fn with_input(
        input: Box<dyn Input>,
        load: LoadOptions,
        compile: CompileOptions,
        kernel: K,
    ) -> Agent<K> {
        Agent {
            snapshot: Snapshot::with_input(input, load),
            kernel,
            compile,
            state: None,
            last: None,
            pending: false,
            prefix: None,
            metrics: Arc::new(Metrics::default()),
        }
    }

    /// Binds each local pod to the interface its address is routed to (see
    /// `enforce --pod-interface-prefix`); routes are read again at every sync
    /// and every tick, so pods wired later get bound.
    pub fn with_pod_interface_prefix(mut self, prefix: Option<String>) -> Agent<K> {
        self.prefix = prefix.filter(|p| !p.is_empty());
        self
    }

    pub fn kernel(&self) -> &K {
        &self.kernel
    }

    /// Looks at the input and brings the kernel to the engine's answer for
    /// it. `since`: when the change being answered happened (for the latency
    /// histogram).
    pub fn sync(&mut self, since: Instant) {
        let outcome = self.snapshot.refresh();
        self.metrics.update(|s| s.syncs += 1);
        for (file, errors) in &outcome.failing {
            warn!(
                file = %file,
                errors = %errors.trim_end(),
                "file does not load; {}",
                if self.snapshot.loaded() {
                    "its last good version stays enforced"
                } else {
                    "nothing is applied until every file loads"
                }
            );
        }
        if let Some(g) = &outcome.general {
            error!(errors = %g.trim_end(), "cannot read the input; the kernel keeps its table");
        }
        if let Some(w) = &outcome.waiting {
            info!(waiting = %w, "nothing is applied until the input is complete");
        }
        self.metrics.update(|s| {
            s.failing = outcome.failing.clone();
            s.general = outcome.general.clone();
            if !outcome.failing.is_empty() || outcome.general.is_some() {
                s.load_errors += 1;
            }
            if outcome.cluster.is_none() && !s.ready {
                s.not_ready_reason = Some(match &outcome.waiting {
                    Some(w) => format!("{w}; the kernel keeps what it had"),
                    None => "the input does not load yet; the kernel keeps what it had".into(),
                });
            }
        });
        let Some(cluster) = outcome.cluster else {
            return;
        };
        if !outcome.changed && !self.pending && self.last.is_some() {
            return;
        }
        let unenforced = netfence_nft::compile::unenforced_admin_rules(&cluster);
        if !unenforced.is_empty() {
            warn!(
                rules = %unenforced.join(", "),
                "admin rules with domainNames are not enforced: the data plane resolves no names"
            );
        }
        let engine = Engine::new(&cluster);
        let mut opts = self.compile.clone();
        if let Some(prefix) = self.prefix.clone() {
            let routes = match self.kernel.host_routes(&prefix) {
                Ok(r) => r,
                Err(e) => {
                    // Without the bindings the ruleset would stop less: keep
                    // the one in force.
                    error!(error = %e, "cannot read the node's routes; the kernel keeps its table");
                    self.failed();
                    return;
                }
            };
            let (ifs, unbound) = netfence_nft::discover::node_interfaces(
                &engine,
                opts.node.as_ref(),
                &prefix,
                &routes,
            );
            if unbound > 0 {
                warn!(
                    pods = unbound,
                    prefix = %prefix,
                    "pods without a host route through a prefixed interface: their traffic is dropped until they are wired"
                );
            }
            opts.interfaces = Some(ifs);
        }
        let compiled = compile(&engine, &opts);
        self.apply(compiled, since);
    }

    fn apply(&mut self, compiled: Compiled, since: Instant) {
        // A refused transaction changes nothing; it usually means the table
        // changed under us (an `enforce`, a hand edit): read it and plan again.
        for attempt in 0..2 {
            let state = match self.state.take() {
                Some(s) => s,
                None => match self.kernel.read() {
                    Ok(s) => s,
                    Err(e) => {
                        error!(error = %e, "cannot read the kernel's table");
                        self.failed();
                        return;
                    }
                },
            };
            match self.kernel.apply(&compiled, &state) {
                Ok((plan, committed)) => {
                    let seconds = committed.saturating_duration_since(since).as_secs_f64();
                    if !plan.is_empty() {
                        self.metrics.observe_latency(seconds);
                        info!(
                            summary = %plan.summary(),
                            pods = compiled.pods.len(),
                            event_to_kernel_ms = seconds * 1000.0,
                            "applied in one transaction"
                        );
                    }
                    let generation = netfence_nft::apply::generation(&compiled.ruleset);
                    self.state = Some((
                        Some(netfence_nft::apply::applied_of(&compiled.ruleset)),
                        Some(generation),
                    ));
                    self.metrics.update(|s| {
                        s.ready = true;
                        s.not_ready_reason = None;
                        s.applies += u64::from(!plan.is_empty());
                        s.rules = compiled
                            .ruleset
                            .chains
                            .values()
                            .map(|c| c.rules.len())
                            .sum();
                        s.set_elements = compiled
                            .ruleset
                            .sets
                            .values()
                            .map(|set| set.elements.len())
                            .sum();
                        s.pods = compiled.pods.len();
                        s.generation = Some(generation);
                    });
                    self.last = Some(compiled);
                    self.pending = false;
                    return;
                }
                Err(e) => {
                    warn!(error = %e, attempt, "transaction refused; the kernel keeps its table");
                    self.metrics.update(|s| s.sync_errors += 1);
                }
            }
        }
        self.failed();
    }

    fn failed(&mut self) {
        self.state = None;
        self.pending = true;
        self.metrics.update(|s| {
            if !s.ready {
                s.not_ready_reason = Some("the first transaction has not been applied".into());
            }
        });
    }

    /// Reads the kernel's table and repairs what differs from what was applied
    /// (a chain flushed or an element deleted by hand), or retries a change
    /// that could not be applied.
    pub fn tick(&mut self) {
        if self.pending || (self.prefix.is_some() && self.last.is_some()) {
            // Routes may have changed (pods wired or gone): compile again; the
            // delta is empty when nothing moved.
            self.pending = true;
            self.sync(Instant::now());
            if self.pending {
                return;
            }
        }
        let Some(compiled) = self.last.take() else {
            return;
        };
        let state = match self.kernel.read() {
            Ok(s) => s,
            Err(e) => {
                error!(error = %e, "drift check: cannot read the kernel's table");
                self.last = Some(compiled);
                return;
            }
        };
        match self.kernel.counters() {
            Ok(c) => self.metrics.update(|s| s.counters = c),
            Err(e) => warn!(error = %e, "cannot read the table's counters"),
        }
        let plan = netfence_nft::apply::plan(&compiled.ruleset, state.0.as_ref());
        let generation = netfence_nft::apply::generation(&compiled.ruleset);
        if plan.is_empty() && state.1 == Some(generation) {
            self.state = Some(state);
            self.last = Some(compiled);
            return;
        }
        warn!(differences = %plan.summary(), "the kernel's table differs from what was applied; repairing");
        self.metrics.update(|s| s.drift_repairs += 1);
        self.state = Some(state);
        self.apply(compiled, Instant::now());
    }
}

/// How long a burst of events may take to settle before the directory is read:
/// an editor's save is several events.
pub const SETTLE: Duration = Duration::from_millis(5);

/// Syncs once, then on every batch of events until [`Event::Stop`] (or the
/// sender is gone); every `check` without events, a drift check. Events that
/// arrive while a change is applied are answered together by the next look at
/// the directory: the kernel always holds the answer for one whole reading of
/// it, never a mixture.
pub fn run_loop<K: Kernel>(agent: &mut Agent<K>, events: &Receiver<Event>, check: Duration) {
    agent.sync(Instant::now());
    let mut next_check = Instant::now() + check;
    loop {
        let wait = next_check.saturating_duration_since(Instant::now());
        let first = match events.recv_timeout(wait) {
            Ok(Event::Stop) | Err(RecvTimeoutError::Disconnected) => return,
            Ok(Event::Changed(at)) => at,
            Err(RecvTimeoutError::Timeout) => {
                agent.tick();
                next_check = Instant::now() + check;
                continue;
            }
        };
        // Coalesce: take every event already queued, and those of the next
        // moments while they keep coming.
        let mut quiet_since = Instant::now();
        loop {
            match events.try_recv() {
                Ok(Event::Changed(_)) => quiet_since = Instant::now(),
                Ok(Event::Stop) => return,
                Err(TryRecvError::Disconnected) => break,
                Err(TryRecvError::Empty) => {
                    if quiet_since.elapsed() >= SETTLE
                        || first.elapsed() >= Duration::from_millis(200)
                    {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        }
        agent.sync(first);
    }
}

/// Watches `dir` (recursively) and sends [`Event::Changed`] for every change
/// of a file in it. The returned watcher must be kept alive.
pub fn watch(
    dir: &std::path::Path,
    events: Sender<Event>,
) -> Result<notify::RecommendedWatcher, AgentError> {
    use notify::{RecursiveMode, Watcher};
    if !dir.is_dir() {
        return Err(AgentError::NotADirectory(dir.to_path_buf()));
    }
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        match res {
            Ok(ev) if ev.kind.is_access() => {}
            Ok(_) => {
                let _ = events.send(Event::Changed(Instant::now()));
            }
            Err(e) => {
                // The watch may have lost events (queue overflow): look again.
                warn!(error = %e, "watching the directory");
                let _ = events.send(Event::Changed(Instant::now()));
            }
        }
    })
    .map_err(|source| AgentError::Watch {
        dir: dir.to_path_buf(),
        source,
    })?;
    watcher
        .watch(dir, RecursiveMode::Recursive)
        .map_err(|source| AgentError::Watch {
            dir: dir.to_path_buf(),
            source,
        })?;
    Ok(watcher)
}
