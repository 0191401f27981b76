//! `netfence compile`: the nftables ruleset for one node.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use netfence_engine::Engine;
use netfence_nft::{CompileOptions, compile as compile_ruleset};

use crate::args::{Global, Inputs};
use crate::input::load;
use crate::output::{format, print_data};

#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, ValueEnum)]
enum Format {
    /// nft syntax, for `nft -f`.
    #[default]
    #[value(alias = "text")]
    Nft,
    /// libnftables JSON, for `nft -j -f`.
    Json,
    /// The libnftables JSON as YAML.
    Yaml,
}

#[derive(Args)]
pub(crate) struct CompileArgs {
    /// Manifest files or directories (*.yaml, *.yml, *.json, recursively); `-` for stdin.
    pub(crate) paths: Vec<PathBuf>,
    /// Enforce for the pods on this node (spec.nodeName); default: every pod.
    #[arg(long)]
    node: Option<String>,
    /// Let would-be drops pass; they are still recorded.
    #[arg(long)]
    pub(crate) audit: bool,
    #[command(flatten)]
    pub(crate) inputs: Inputs,
}

#[derive(Args)]
pub(crate) struct CompileCommand {
    #[command(flatten)]
    compile: CompileArgs,
    /// Output format.
    #[arg(short = 'o', long = "output", value_name = "FORMAT")]
    output: Option<Format>,
}

impl CompileArgs {
    pub(crate) fn options(&self) -> CompileOptions {
        CompileOptions {
            node: self.node.clone(),
            interfaces: None,
            audit: self.audit,
        }
    }
}

pub(crate) fn run(g: &Global, a: CompileCommand) -> Result<u8, String> {
    let fmt = format(a.output, g, "compile")?;
    let (_, loaded) = match load(g, &a.compile.paths, &a.compile.inputs) {
        Ok(x) => x,
        Err(code) => return Ok(code),
    };
    let engine = Engine::new(&loaded.cluster);
    warn_unaddressed(&engine);
    if let Some(why) = admin_not_enforced(engine.cluster) {
        eoutln!("warning: {why}");
    }
    let compiled = compile_ruleset(&engine, &a.compile.options());
    match fmt {
        Format::Json => print_data(&compiled.ruleset.to_json(), false)?,
        Format::Yaml => print_data(&compiled.ruleset.to_json(), true)?,
        Format::Nft => out!("{}", compiled.to_nft()),
    }
    Ok(0)
}

/// Admin rules naming `domainNames`: the data plane resolves no names, so
/// traffic to such a domain is judged as traffic to its (external) addresses.
/// Said per rule; everything else of the admin tiers is in the ruleset.
pub(crate) fn admin_not_enforced(cluster: &netfence_model::Cluster) -> Option<String> {
    let rules = netfence_nft::compile::unenforced_admin_rules(cluster);
    if rules.is_empty() {
        return None;
    }
    Some(format!(
        "{} with domainNames {} NOT enforced: the data plane resolves no names, so traffic to those domains is judged as traffic to any external address ({})
  check and report answer for the domain names themselves (dns:NAME)",
        netfence_text::count(rules.len(), "admin rule"),
        netfence_text::agree(rules.len(), "is", "are"),
        netfence_text::short_list(&rules)
    ))
}

/// Pods without an IP in the input cannot be matched by a ruleset: say so.
pub(crate) fn warn_unaddressed(engine: &Engine) {
    let missing: Vec<&str> = engine
        .pods()
        .map(|p| engine.endpoint(p))
        .filter(|e| e.selectable && e.ips.is_empty())
        .map(|e| e.id.as_str())
        .collect();
    if !missing.is_empty() {
        eoutln!(
            "warning: {} {} no pod IP in the input, so no rule can match their traffic: {}\n  give Pod objects with status.podIP (kubectl get pods -A -o yaml), or try the policies in `netfence lab run`",
            netfence_text::count(missing.len(), "endpoint"),
            netfence_text::agree(missing.len(), "has", "have"),
            netfence_text::short_list(&missing.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        );
    }
}
