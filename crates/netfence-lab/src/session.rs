//! Interactive labs (`lab up` / `lab probe` / `lab down`): named namespaces that
//! outlive the command, a listener process, and a state file that records
//! everything created, written before anything is created, so `lab down` can
//! remove what a crashed `lab up` left.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::net::{self, NETNS_PREFIX};

pub const STATE_DIR: &str = "/run/netfence/labs";

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
