//! Interactive labs (`lab up` / `lab probe` / `lab down`): named namespaces that
//! outlive the command, a listener process, and a state file that records
//! everything created, written before anything is created, so `lab down` can
//! remove what a crashed `lab up` left.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use netfence_model::{Cluster, Protocol};
use serde::{Deserialize, Serialize};

use crate::net::{self, NETNS_PREFIX, Topology};
use crate::{Lab, LabError, LabReport};

pub const STATE_DIR: &str = "/run/netfence/labs";

/// At most this many lab nodes.
pub const MAX_NODES: usize = 64;

/// How long `up` waits for the listener process to bind every port.
const LISTENER_START: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("lab name `{0}`: use lowercase letters, digits and dashes (at most 32)")]
    InvalidName(String),
    #[error("--nodes must be between 1 and {MAX_NODES}")]
    Nodes,
    #[error("lab up re-reads its inputs for `lab probe`: give files, not stdin")]
    Stdin,
    #[error("lab `{0}` is up already; `netfence lab down --name {0}` first")]
    AlreadyUp(String),
    #[error("lab `{name}`: {source} (is it up? see `netfence lab down --all`)")]
    NotUp {
        name: String,
        source: std::io::Error,
    },
    #[error("{STATE_DIR}: {0}")]
    State(std::io::Error),
    #[error(
        "the inputs of lab `{0}` changed their pods since `lab up`; run `netfence lab down --name {0}` and `lab up` again"
    )]
    InputsChanged(String),
    #[error("the listener process: {0}")]
    Listener(String),
    #[error(transparent)]
    Lab(#[from] LabError),
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PodState {
    pub id: String,
    pub netns: String,
    pub ip: std::net::Ipv4Addr,
    pub node: String,
    pub ports: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LabState {
    pub name: String,
    /// Inputs as given to `lab up` (absolute), re-read by `lab probe`.
    pub inputs: Vec<PathBuf>,
    pub nodes: usize,
    pub node_namespaces: Vec<String>,
    pub pods: Vec<PodState>,
    /// The listener process `lab up` started; `lab down` ends it (and only it).
    pub server_pid: Option<u32>,
}

pub fn state_path(name: &str) -> PathBuf {
    Path::new(STATE_DIR).join(format!("{name}.json"))
}

/// Lab names become namespace and file names: keep them plain.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 32
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// The id under which `lab up NAME` creates its namespaces.
pub fn up_id(name: &str) -> String {
    format!("up-{name}")
}

pub fn save(state: &LabState) -> std::io::Result<()> {
    let text = serde_json::to_string_pretty(state).map_err(std::io::Error::other)?;
    netfence_nft::status::write_private(&state_path(&state.name), &text)
}

/// Refuses, before any input is read, what `up` could not do.
pub fn check_request(name: &str, nodes: usize, inputs: &[PathBuf]) -> Result<(), SessionError> {
    if !valid_name(name) {
        return Err(SessionError::InvalidName(name.to_string()));
    }
    if !(1..=MAX_NODES).contains(&nodes) {
        return Err(SessionError::Nodes);
    }
    if inputs.iter().any(|p| p.as_os_str() == "-") {
        return Err(SessionError::Stdin);
    }
    Ok(())
}

/// Builds lab `name` for `cluster` (read from `inputs`, absolute paths) and
/// leaves it up: namespaces, enforced policies, and the listener process started
/// by `listener` (which must run [`serve`] for `name`). Anything made is removed
/// again on error.
pub fn up(
    cluster: &Cluster,
    name: &str,
    inputs: Vec<PathBuf>,
    nodes: usize,
    mut listener: std::process::Command,
) -> Result<LabState, SessionError> {
    check_request(name, nodes, &inputs)?;
    if read(name).is_ok() {
        return Err(SessionError::AlreadyUp(name.to_string()));
    }
    crate::check_capabilities()?;
    let plan = crate::plan::plan(cluster, nodes);
    let id = up_id(name);
    let names = Topology::names(&plan, &id);
    let mut state = LabState {
        name: name.to_string(),
        inputs,
        nodes,
        node_namespaces: names.node_ns.clone(),
        pods: plan
            .pods
            .iter()
            .enumerate()
            .map(|(i, p)| PodState {
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
    save(&state).map_err(SessionError::State)?;
    let topology = match Topology::build(&plan, &id) {
        Ok(mut t) => {
            t.keep = true;
            t
        }
        Err(e) => {
            down(&state);
            return Err(LabError::from(e).into());
        }
    };
    let lab = Lab::attach(plan, topology);
    let setup = (|| -> Result<(), SessionError> {
        lab.enforce(&lab.plan.cluster, false)?;
        let ready = state_path(name).with_extension("ready");
        let _ = std::fs::remove_file(&ready);
        let child = listener
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .map_err(|e| SessionError::Listener(format!("starting it: {e}")))?;
        state.server_pid = Some(child.id());
        save(&state).map_err(SessionError::State)?;
        let deadline = Instant::now() + LISTENER_START;
        while !ready.exists() {
            if Instant::now() > deadline {
                return Err(SessionError::Listener("it did not start".into()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    })();
    if let Err(e) = setup {
        down(&state);
        return Err(e);
    }
    Ok(state)
}

/// The state of lab `name`, or why it is not up.
pub fn read_up(name: &str) -> Result<LabState, SessionError> {
    read(name).map_err(|source| SessionError::NotUp {
        name: name.to_string(),
        source,
    })
}

/// Probes lab `state` with `cluster` (its inputs, read again) and compares with
/// the engine. Refused when the inputs no longer give the pods that were wired.
pub fn probe(
    state: &LabState,
    cluster: &Cluster,
    filter: &crate::ProbeFilter,
) -> Result<LabReport, SessionError> {
    let plan = crate::plan::plan(cluster, state.nodes);
    let same = plan.pods.len() == state.pods.len()
        && plan
            .pods
            .iter()
            .zip(&state.pods)
            .all(|(a, b)| a.id == b.id && a.ip == b.ip);
    if !same {
        return Err(SessionError::InputsChanged(state.name.clone()));
    }
    let topology = Topology::names(&plan, &up_id(&state.name));
    let lab = Lab::attach(plan, topology);
    let cluster = lab.plan.cluster.clone();
    Ok(lab.probe_only(&cluster, filter)?)
}

/// What `down_labs` removed.
#[derive(Debug, Default, Serialize)]
pub struct Removed {
    pub labs: Vec<String>,
    pub namespaces: usize,
}

/// Removes lab `name` (default `default`), or with `all` every lab and the
/// namespaces of `lab run`s whose process is gone.
pub fn down_labs(name: Option<&str>, all: bool) -> Result<Removed, SessionError> {
    let states = if all {
        all_states()
    } else {
        vec![read_up(name.unwrap_or("default"))?]
    };
    let mut removed = Removed::default();
    for s in &states {
        removed.namespaces += down(s);
        removed.labs.push(s.name.clone());
    }
    if all {
        let orphans = orphaned_run_namespaces();
        removed.namespaces += orphans.len();
        net::delete_namespaces(&orphans);
    }
    Ok(removed)
}

/// The listener process of lab `name`: binds every declared port of every pod,
/// signals readiness, and runs until `down` ends it.
pub fn serve(name: &str) -> Result<std::convert::Infallible, SessionError> {
    // Own session: a Ctrl-C in the terminal that ran `lab up` must not end it.
    let _ = nix::unistd::setsid();
    let state = read_up(name)?;
    let listeners: Vec<crate::serve::Listen> = state
        .pods
        .iter()
        .map(|p| crate::serve::Listen {
            netns: p.netns.clone(),
            addr: std::net::Ipv4Addr::UNSPECIFIED,
            ports: p
                .ports
                .iter()
                .filter_map(|s| {
                    let (port, proto) = s.split_once('/')?;
                    Some((Protocol::parse(proto)?, port.parse().ok()?))
                })
                .collect(),
        })
        .collect();
    let _servers = crate::serve::start(&listeners).map_err(LabError::from)?;
    std::fs::write(state_path(name).with_extension("ready"), b"").map_err(SessionError::State)?;
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

pub fn read(name: &str) -> std::io::Result<LabState> {
    let text = std::fs::read_to_string(state_path(name))?;
    serde_json::from_str(&text).map_err(std::io::Error::other)
}

pub fn all_states() -> Vec<LabState> {
    let Ok(dir) = std::fs::read_dir(STATE_DIR) else {
        return Vec::new();
    };
    dir.filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .filter_map(|t| serde_json::from_str(&t).ok())
        .collect()
}

/// Whether `pid` is a `netfence lab serve` process (never end anything else).
fn is_our_server(pid: u32) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|raw| {
        let args: Vec<String> = raw
            .split(|&b| b == 0)
            .map(|a| String::from_utf8_lossy(a).to_string())
            .collect();
        args.first().is_some_and(|a| a.ends_with("netfence")) && args.iter().any(|a| a == "serve")
    })
}

/// Removes a lab: its listener process, its namespaces, its state file.
pub fn down(state: &LabState) -> usize {
    if let Some(pid) = state
        .server_pid
        .filter(|&p| is_our_server(p))
        .and_then(|p| i32::try_from(p).ok())
    {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGTERM,
        );
    }
    let mut names: Vec<String> = state.node_namespaces.clone();
    names.extend(state.pods.iter().map(|p| p.netns.clone()));
    // Also whatever a crash left between the state file and the pods list.
    let prefix = format!("{NETNS_PREFIX}{}-", up_id(&state.name));
    names.extend(
        net::existing_lab_namespaces()
            .into_iter()
            .filter(|n| n.starts_with(&prefix)),
    );
    names.sort();
    names.dedup();
    let existing = net::existing_lab_namespaces();
    let removed = names.iter().filter(|n| existing.contains(n)).count();
    net::delete_namespaces(&names);
    let _ = std::fs::remove_file(state_path(&state.name));
    let _ = std::fs::remove_file(state_path(&state.name).with_extension("ready"));
    removed
}

/// Namespaces of `lab run`s whose process is gone (`netfence-lab-PID-...`).
pub fn orphaned_run_namespaces() -> Vec<String> {
    net::existing_lab_namespaces()
        .into_iter()
        .filter(|n| {
            let rest = &n[NETNS_PREFIX.len()..];
            let pid = rest.split('-').next().unwrap_or("");
            !pid.is_empty()
                && pid.chars().all(|c| c.is_ascii_digit())
                && !Path::new(&format!("/proc/{pid}")).exists()
        })
        .collect()
}
