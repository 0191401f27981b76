//! `netfence describe policy|pod|namespace NAME`.

use std::path::PathBuf;

use clap::Args;
use netfence_engine::Engine;
use netfence_engine::query::canonical_kind;
use netfence_views::describe;

use crate::args::{Global, Inputs};
use crate::input::load;
use crate::output::{TextJson, format, print_data, print_text};

#[derive(Clone, PartialEq, Eq, Debug)]
enum DescribeKind {
    Policy,
    Pod,
    /// A workload kind (`deployment`, `sts`, ...): its pods, or its stand-in.
    Workload(&'static str),
    Namespace,
    /// An admin policy kind (canonical lowercase): cluster-scoped, NAME only.
    Admin(&'static str),
}

/// kubectl's kind names and short names: `netpol`, `po`, `deploy`, `ns`, ...
fn parse_kind(word: &str) -> Result<DescribeKind, String> {
    match canonical_kind(word) {
        Some("networkpolicy") => Ok(DescribeKind::Policy),
        Some("pod") => Ok(DescribeKind::Pod),
        Some("namespace") => Ok(DescribeKind::Namespace),
        Some(
            k @ ("adminnetworkpolicy" | "baselineadminnetworkpolicy" | "clusternetworkpolicy"),
        ) => Ok(DescribeKind::Admin(k)),
        Some(
            k @ ("deployment"
            | "statefulset"
            | "daemonset"
            | "replicaset"
            | "replicationcontroller"
            | "job"
            | "cronjob"),
        ) => Ok(DescribeKind::Workload(k)),
        _ => Err(format!(
            "`{word}`: describe takes policy (networkpolicy, netpol), pod (po), a workload kind \
             (deployment, statefulset, daemonset, replicaset, job, cronjob, or their short names), \
             namespace (ns), or an admin policy kind (clusternetworkpolicy/cnp, \
             adminnetworkpolicy/anp, baselineadminnetworkpolicy/banp)"
        )),
    }
}

#[derive(Args)]
pub(crate) struct DescribeArgs {
    /// policy, pod, a workload kind (deployment, statefulset, ...), namespace, or
    /// an admin policy kind (cnp, anp, banp); kubectl's plurals and short names
    /// work too (netpol, po, deploy, ns).
    #[arg(value_parser = parse_kind)]
    kind: DescribeKind,
    /// ns/name (or name with -n).
    name: String,
    /// Manifest files or directories (*.yaml, *.yml, *.json, recursively); `-` for stdin.
    paths: Vec<PathBuf>,
    /// Output format.
    #[arg(short = 'o', long = "output", value_name = "FORMAT")]
    output: Option<TextJson>,
    #[command(flatten)]
    inputs: Inputs,
}

pub(crate) fn run(g: &Global, a: DescribeArgs) -> Result<u8, String> {
    let fmt = format(a.output, g, "describe")?;
    let json = fmt != TextJson::Text;
    let yaml = fmt == TextJson::Yaml;
    let (sources, loaded) = match load(g, &a.paths, &a.inputs) {
        Ok(x) => x,
        Err(code) => return Ok(code),
    };
    let engine = Engine::new(&loaded.cluster);
    match a.kind {
        DescribeKind::Policy => {
            let d = describe::describe_policy(&engine, &sources, &g.object(&a.name))?;
            if json {
                print_data(&d, yaml)?
            } else {
                print_text(g, &describe::policy_text(&d))
            }
        }
        DescribeKind::Pod | DescribeKind::Workload(_) => {
            let name = match a.kind {
                // `describe deploy frontend -n app` is `app/deployment/frontend`.
                DescribeKind::Workload(kind) if !a.name.contains('/') || g.namespace.is_none() => {
                    match a.name.split_once('/') {
                        Some((ns, name)) => format!("{ns}/{kind}/{name}"),
                        None => format!("{kind}/{}", a.name),
                    }
                }
                _ => a.name.clone(),
            };
            let d = describe::describe_pod(&engine, &g.endpoint(&name)?)?;
            if json {
                print_data(&d, yaml)?
            } else {
                print_text(g, &describe::pod_text(&d))
            }
        }
        DescribeKind::Admin(kind) => {
            let d = netfence_views::describe_admin::describe_admin_policy(
                &engine, &sources, kind, &a.name,
            )?;
            if json {
                print_data(&d, yaml)?
            } else {
                print_text(g, &netfence_views::describe_admin::admin_policy_text(&d))
            }
        }
        DescribeKind::Namespace => {
            let d = describe::describe_namespace(&engine, &a.name)?;
            if json {
                print_data(&d, yaml)?
            } else {
                print_text(g, &describe::namespace_text(&d))
            }
        }
    }
    Ok(0)
}
