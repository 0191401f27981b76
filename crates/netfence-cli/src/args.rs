//! The options every command takes, and what they mean for loading.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use netfence_engine::EndpointQuery;
use netfence_engine::query::canonical_kind;
use netfence_model::{LoadOptions, Semantics};

#[derive(Args, Clone)]
pub(crate) struct Global {
    /// Namespace for objects without one (as `kubectl apply -n`), and the namespace
    /// the output covers.
    #[arg(short = 'n', long = "namespace", global = true)]
    pub namespace: Option<String>,
    /// Cover all namespaces (the default when -n is not given).
    #[arg(short = 'A', long = "all-namespaces", global = true)]
    pub all_namespaces: bool,
    /// Add or replace objects before answering (what-if).
    #[arg(long = "with", global = true, value_name = "FILE")]
    pub with: Vec<PathBuf>,
    /// Leave an object out (what-if): KIND/NAMESPACE/NAME.
    #[arg(long = "without", global = true, value_name = "KIND/NS/NAME")]
    pub without: Vec<String>,
    /// Skip files and directories found in input directories that match GLOB
    /// (`*` within a path part, `**` across parts), e.g. `--exclude 'legacy/**'`.
    #[arg(long = "exclude", global = true, value_name = "GLOB")]
    pub exclude: Vec<String>,
    /// Cluster DNS pods as NAMESPACE/SELECTOR (default: kube-system/k8s-app in (kube-dns,coredns)).
    #[arg(long = "cluster-dns", global = true, value_name = "NS/SELECTOR")]
    pub cluster_dns: Option<String>,
    /// Whether ipBlock peers match pod IPs (most CNIs: true; Cilium: false).
    #[arg(long, global = true, default_value_t = true, action = clap::ArgAction::Set)]
    pub ip_block_matches_pods: bool,
    /// hostNetwork pods: `node` (their traffic is node traffic; selectors ignore them) or `pod`.
    #[arg(long, global = true, default_value = "node")]
    pub host_network: HostNetwork,
    /// Whether a pod may always reach its own node.
    #[arg(long, global = true, default_value_t = true, action = clap::ArgAction::Set)]
    pub egress_to_own_node: bool,
    /// Admin policies: a pod any NetworkPolicy selects skips the Baseline tier in
    /// both directions (kube-network-policies' reading) instead of per direction.
    #[arg(long, global = true, default_value_t = false, action = clap::ArgAction::Set)]
    pub np_selected_is_final: bool,
    /// Colour: auto (only on a terminal), always, never.
    #[arg(long, global = true, default_value = "auto")]
    pub color: ColorChoice,
    /// Also print notes (skipped objects, assumptions).
    #[arg(short, long, global = true)]
    pub verbose: bool,
    /// Set by `-o` before the command (`netfence -o json matrix ...`); each
    /// command checks it against its own formats.
    #[arg(skip)]
    pub output: Option<String>,
}

/// `--without KIND/NS/NAME` with kubectl's kind names and short names
/// (`netpol/app/deny`, `policy/app/deny`, `deploy/app/web`): the kind as the
/// loader matches it. Kinds netfence does not know (e.g. CiliumNetworkPolicy)
/// stay as written.
fn without_spec(spec: &str) -> String {
    match spec.split_once('/') {
        Some((kind, rest)) => match canonical_kind(kind) {
            Some(k) => format!("{k}/{rest}"),
            None => spec.to_string(),
        },
        None => spec.to_string(),
    }
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum HostNetwork {
    Node,
    Pod,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Args, Clone)]
pub(crate) struct Inputs {
    /// Manifest files or directories (*.yaml, *.yml, *.json, recursively); `-` for stdin.
    #[arg(short = 'f', long = "filename", value_name = "PATH")]
    pub files: Vec<PathBuf>,
}

impl Global {
    /// The namespace the output is limited to: `-n` without `-A`.
    pub fn only_namespace(&self) -> Option<&str> {
        match (&self.namespace, self.all_namespaces) {
            (Some(ns), false) => Some(ns),
            _ => None,
        }
    }

    pub fn load_options(&self) -> LoadOptions {
        LoadOptions {
            namespace: self.namespace.clone(),
            cluster_dns: self.cluster_dns.clone(),
            semantics: Semantics {
                ip_block_matches_pods: self.ip_block_matches_pods,
                host_network_as_node: self.host_network == HostNetwork::Node,
                egress_to_own_node: self.egress_to_own_node,
                np_selected_is_final: self.np_selected_is_final,
            },
            without: self.without.iter().map(|w| without_spec(w)).collect(),
        }
    }

    /// A namespaced object's `NS/NAME`: with `-n NS`, a bare `NAME` is in NS.
    pub fn object(&self, name: &str) -> String {
        match &self.namespace {
            Some(ns) if !name.contains('/') => format!("{ns}/{name}"),
            _ => name.to_string(),
        }
    }

    /// An endpoint as written on the command line, as an id; with `-n NS`,
    /// `api` and `deployment/api` mean `NS/api` and `NS/deployment/api`.
    pub fn endpoint(&self, text: &str) -> Result<String, String> {
        EndpointQuery::parse(text, self.namespace.as_deref()).map(|q| q.id())
    }
}
