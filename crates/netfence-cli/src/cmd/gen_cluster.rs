//! `netfence gen`: a synthetic cluster written to a directory.

use std::path::PathBuf;

use clap::Args;

use crate::args::Global;

#[derive(Args)]
pub(crate) struct GenArgs {
    /// Workloads (Deployments, or Pods with --pods-per-workload). Sizes: S 100,
    /// M 1000, L 10000, XL 50000.
    #[arg(long)]
    workloads: usize,
    /// NetworkPolicies (S 20, M 200, L 2000, XL 10000).
    #[arg(long)]
    policies: usize,
    /// Random seed: the same seed and sizes write the same files.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Write this many Pods with IPs per workload instead of Deployments (for the data plane).
    #[arg(long)]
    pods_per_workload: Option<usize>,
    /// Spread the pods over this many Nodes.
    #[arg(long, default_value_t = 1)]
    nodes: usize,
    /// Also write this many ClusterNetworkPolicies (v1alpha2): cluster DNS
    /// allowed, cloud metadata denied, a baseline, and per team Deny, Pass and
    /// Accept rules.
    #[arg(long, default_value_t = 0)]
    admin_policies: usize,
    /// The directory to write (created if missing).
    #[arg(short = 'o', long = "dir", value_name = "DIR")]
    dir: Option<PathBuf>,
}

pub(crate) fn run(g: &Global, args: GenArgs) -> Result<u8, String> {
    // `netfence -o DIR gen ...` (before the command) names the directory too.
    let Some(dir) = args.dir.or_else(|| g.output.as_ref().map(PathBuf::from)) else {
        return Err("gen writes files: give the directory with -o DIR".into());
    };
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let files = netfence_gen::generate(&netfence_gen::GenOptions {
        workloads: args.workloads,
        policies: args.policies,
        seed: args.seed,
        pods_per_workload: args.pods_per_workload,
        nodes: args.nodes,
        admin_policies: args.admin_policies,
    });
    for (name, text) in &files {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    eoutln!(
        "wrote {} to {}: {}, {} (seed {})",
        netfence_text::count(files.len(), "file"),
        dir.display(),
        netfence_text::count(args.workloads, "workload"),
        netfence_text::count(args.policies, "policy"),
        args.seed
    );
    Ok(0)
}
