//! How nft commands reach the kernel: libnftables in-process (one long-lived
//! context, no process per change) or, when the library cannot be loaded, the
//! `nft` binary. Both read the same text (`Transaction::to_nft`), so what
//! `compile -o nft` shows is what is sent, and both send it as one batch.

use std::sync::mpsc;
use std::thread::JoinHandle;

use serde_json::Value;

use crate::apply::{ApplyError, Target, run};

/// Set to `binary` to skip the library (benchmarks' baseline, tests of the
/// fallback).
pub const BACKEND_ENV: &str = "NETFENCE_NFT";

const LIBRARY: &str = "libnftables (in-process)";

type Job = (String, bool, mpsc::Sender<Result<String, String>>);

/// A libnftables context on its own thread: a context is not thread-safe, and
/// for a named network namespace the thread enters it before the context opens
/// its netlink socket, so the caller's namespace never changes.
struct Worker {
    jobs: Option<mpsc::Sender<Job>>,
    thread: Option<JoinHandle<()>>,
}

impl Worker {
    fn start(target: &Target) -> Result<Worker, String> {
        let (jobs, rx) = mpsc::channel::<Job>();
        let (ready_tx, ready) = mpsc::channel::<Result<(), String>>();
        let target = target.clone();
        let thread = std::thread::Builder::new()
            .name("netfence-libnft".into())
            .spawn(move || {
                if let Target::Netns(ns) = &target
                    && let Err(e) = enter_netns(ns)
                {
                    let _ = ready_tx.send(Err(format!("entering network namespace {ns}: {e}")));
                    return;
                }
                let lib = match netfence_libnft::Library::open() {
                    Ok(l) => l,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e.to_string()));
                        return;
                    }
                };
                let mut ctx = match lib.context() {
                    Ok(c) => c,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e.to_string()));
                        return;
                    }
                };
                let _ = ready_tx.send(Ok(()));
                for (text, json, reply) in rx {
                    let _ = reply.send(ctx.run(&text, json).map_err(|e| e.to_string()));
                }
            })
            .map_err(|e| e.to_string())?;
        match ready.recv() {
            Ok(Ok(())) => Ok(Worker {
                jobs: Some(jobs),
                thread: Some(thread),
            }),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => {
                let _ = thread.join();
                Err("the libnftables thread stopped".into())
            }
        }
    }

    fn run(&self, text: &str, json: bool) -> Result<String, String> {
        let (tx, rx) = mpsc::channel();
        self.jobs
            .as_ref()
            .ok_or("the libnftables thread stopped")?
            .send((text.to_string(), json, tx))
            .map_err(|_| "the libnftables thread stopped".to_string())?;
        rx.recv()
            .map_err(|_| "the libnftables thread stopped".to_string())?
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.jobs.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn enter_netns(name: &str) -> std::io::Result<()> {
    let f = std::fs::File::open(format!("/run/netns/{name}"))?;
    nix::sched::setns(&f, nix::sched::CloneFlags::CLONE_NEWNET).map_err(std::io::Error::from)
}

/// The way to one target's nf_tables.
pub struct Nft {
    target: Target,
    worker: Option<Worker>,
    fallback: Option<String>,
}

impl Nft {
    /// libnftables when it loads, else the `nft` binary; [`Nft::fallback`] says
    /// why the library was not used.
    pub fn open(target: &Target) -> Nft {
        let (worker, fallback) = if std::env::var(BACKEND_ENV).is_ok_and(|v| v == "binary") {
            (None, Some(format!("{BACKEND_ENV}=binary")))
        } else {
            match Worker::start(target) {
                Ok(w) => (Some(w), None),
                Err(e) => (None, Some(e)),
            }
        };
        Nft {
            target: target.clone(),
            worker,
            fallback,
        }
    }

    /// The `nft` binary, whatever is installed (the benchmarks' baseline).
    pub fn open_binary(target: &Target) -> Nft {
        Nft {
            target: target.clone(),
            worker: None,
            fallback: Some("asked for the binary".into()),
        }
    }

    pub fn target(&self) -> &Target {
        &self.target
    }

    /// Why the `nft` binary is used instead of the library; `None` when the
    /// library is used.
    pub fn fallback(&self) -> Option<&str> {
        self.fallback.as_deref()
    }

    pub fn backend(&self) -> &'static str {
        if self.worker.is_some() {
            LIBRARY
        } else {
            "the nft binary"
        }
    }

    /// Sends `text` as one transaction. The binary reads it from a complete
    /// private file (see `apply::execute`); the library from memory.
    pub fn apply_text(&mut self, text: &str) -> Result<(), ApplyError> {
        match &self.worker {
            Some(w) => w
                .run(text, false)
                .map(|_| ())
                .map_err(|stderr| ApplyError::Failed {
                    command: LIBRARY.into(),
                    stderr,
                }),
            None => {
                let staged = crate::apply::stage(text).map_err(|source| ApplyError::Spawn {
                    command: "writing the transaction to a temporary file".into(),
                    source,
                })?;
                let mut cmd = self.target.command("nft");
                cmd.arg("-f").arg(staged.path());
                run(cmd, None).map(|_| ())
            }
        }
    }

    /// `nft -j list ...`: the listed items, or `None` when the object does not
    /// exist.
    pub fn list_json(&mut self, what: &str) -> Result<Option<Vec<Value>>, ApplyError> {
        let command = format!("list {what}");
        let out = match &self.worker {
            Some(w) => w.run(&command, true).map_err(|stderr| ApplyError::Failed {
                command: format!("{LIBRARY}: {command}"),
                stderr,
            }),
            None => {
                let mut cmd = self.target.command("nft");
                cmd.arg("-j").arg("list").args(what.split(' '));
                run(cmd, None)
            }
        };
        let out = match out {
            Ok(o) => o,
            Err(ApplyError::Failed { stderr, .. })
                if stderr.contains("No such file or directory") =>
            {
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        let v: Value = serde_json::from_str(&out).map_err(|e| ApplyError::Output {
            command: format!("nft -j {command}"),
            detail: e.to_string(),
        })?;
        Ok(Some(
            v.get("nftables")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
        ))
    }
}
