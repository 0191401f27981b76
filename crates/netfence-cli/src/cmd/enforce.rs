//! `netfence enforce`: the ruleset applied as one delta transaction.

use clap::Args;
use netfence_engine::Engine;
use netfence_nft::apply::{self, Target};
use netfence_nft::{compile as compile_ruleset, revoke};

use crate::EXIT_ERROR;
use crate::args::Global;
use crate::cmd::compile::{CompileArgs, warn_unaddressed};
use crate::input::load;
use crate::output::{TextJson, format, print_data};

#[derive(Args)]
pub(crate) struct EnforceArgs {
    #[command(flatten)]
    compile: CompileArgs,
    /// Apply inside this network namespace (`ip netns`) instead of the current one.
    #[arg(long)]
    netns: Option<String>,
    /// Print the transaction instead of applying it.
    #[arg(long)]
    dry_run: bool,
    /// Cut established connections the new ruleset denies.
    #[arg(long)]
    revoke_established: bool,
    /// The CNI's pod interface prefix (e.g. `cali`, `lxc`, `veth`): each local
    /// pod is bound to the interface its address is routed to, and a packet from
    /// an interface with this prefix whose source is not that pod's address is
    /// dropped (anti-spoofing). Without it pods are matched by address only.
    #[arg(long, value_name = "PREFIX")]
    pod_interface_prefix: Option<String>,
    /// Output format.
    #[arg(short = 'o', long = "output", value_name = "FORMAT")]
    output: Option<TextJson>,
}

pub(crate) fn target(netns: &Option<String>) -> Target {
    match netns {
        Some(ns) => Target::Netns(ns.clone()),
        None => Target::Current,
    }
}

pub(crate) fn run(g: &Global, args: EnforceArgs) -> Result<u8, String> {
    let fmt = format(args.output, g, "enforce")?;
    if args.compile.audit && args.revoke_established {
        eoutln!(
            "error: --audit accepts every flow and --revoke-established cuts flows: use one of them"
        );
        return Ok(EXIT_ERROR);
    }
    // Bad input stops here: nothing is read from or sent to the kernel.
    let (_, loaded) = match load(g, &args.compile.paths, &args.compile.inputs) {
        Ok(x) => x,
        Err(code) => return Ok(code),
    };
    let engine = Engine::new(&loaded.cluster);
    warn_unaddressed(&engine);
    if let Some(why) = super::compile::admin_not_enforced(engine.cluster) {
        eoutln!("warning: {why}");
    }
    let target = target(&args.netns);
    let mut opts = args.compile.options();
    match &args.pod_interface_prefix {
        Some(prefix) if !prefix.is_empty() => {
            let routes = match netfence_nft::discover::host_routes(&target, prefix) {
                Ok(r) => r,
                Err(e) => {
                    eoutln!("error: {e}\nnothing was changed in {}", target.describe());
                    return Ok(EXIT_ERROR);
                }
            };
            let (ifs, unbound) = netfence_nft::discover::node_interfaces(
                &engine,
                opts.node.as_ref(),
                prefix,
                &routes,
            );
            if unbound > 0 {
                eoutln!(
                    "warning: {} have no host route through a `{prefix}*` interface in {}: their traffic is dropped until they are wired",
                    netfence_text::count(unbound, "pod"),
                    target.describe()
                );
            }
            opts.interfaces = Some(ifs);
        }
        Some(_) => return Err("--pod-interface-prefix must not be empty".into()),
        None if !args.dry_run => eoutln!(
            "note: without --pod-interface-prefix forged sources are stopped by a strict reverse-path check (a packet must come in on the interface its source is routed to); give the CNI's interface prefix to bind each pod to its interface (see docs/dataplane.md)"
        ),
        None => {}
    }
    let compiled = compile_ruleset(&engine, &opts);
    // One enforce at a time per table, from reading the kernel to writing the
    // records `status` reads.
    let _lock = match netfence_nft::status::lock(&target) {
        Ok(l) => l,
        Err(e) => {
            eoutln!(
                "error: locking {}: {e}\nnothing was changed in {}",
                netfence_nft::status::STATE_DIR,
                target.describe()
            );
            return Ok(EXIT_ERROR);
        }
    };
    let record = netfence_nft::status::record_path(&target);
    let mut nft = netfence_nft::backend::Nft::open(&target);
    if let Some(why) = nft.fallback() {
        eoutln!("note: libnftables not used ({why}): applying with the nft binary");
    }
    let plan = match apply::enforce_with(&mut nft, &compiled.ruleset, args.dry_run, Some(&record)) {
        Ok(p) => p,
        Err(e) => {
            eoutln!("error: {e}\nnothing was changed in {}", target.describe());
            return Ok(EXIT_ERROR);
        }
    };
    if args.dry_run && fmt != TextJson::Text {
        print_data(
            &serde_json::json!({
                "dry_run": true,
                "changed": !plan.is_empty(),
                "summary": plan.summary(),
                "commands": plan.text(),
            }),
            fmt == TextJson::Yaml,
        )?;
        return Ok(0);
    }
    if args.dry_run {
        out!("{}", plan.text());
        eoutln!("dry run: {}", plan.summary());
        return Ok(0);
    }
    // Provenance beside the ruleset, for `netfence status`.
    if let Err(e) = netfence_nft::status::write_sidecar(&target, &compiled, args.compile.audit) {
        eoutln!("warning: could not record provenance for `netfence status`: {e}");
    }
    let revoked = if args.revoke_established {
        revoke::revoke_denied(&target, &engine).map_err(|e| e.to_string())?
    } else {
        Vec::new()
    };
    if fmt != TextJson::Text {
        print_data(
            &serde_json::json!({
                "changed": !plan.is_empty(),
                "summary": plan.summary(),
                "pods": compiled.pods,
                "revoked": revoked,
            }),
            fmt == TextJson::Yaml,
        )?;
    } else if plan.is_empty() {
        outln!("{}: up to date, nothing sent", target.describe());
    } else {
        outln!(
            "{}: applied in one transaction ({}) for {}",
            target.describe(),
            plan.summary(),
            netfence_text::count(compiled.pods.len(), "pod")
        );
    }
    for flow in &revoked {
        outln!(
            "revoked {} {}:{} -> {}:{}",
            flow.protocol.as_str(),
            flow.src,
            flow.sport,
            flow.dst,
            flow.dport
        );
    }
    Ok(0)
}
