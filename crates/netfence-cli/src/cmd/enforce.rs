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
    // Bad input stops here: nothing is read from or sent to the kernel.
    let (_, loaded) = match load(g, &args.compile.paths, &args.compile.inputs) {
        Ok(x) => x,
        Err(code) => return Ok(code),
    };
    let engine = Engine::new(&loaded.cluster);
    warn_unaddressed(&engine);
    let compiled = compile_ruleset(&engine, &args.compile.options());
    let target = target(&args.netns);
    let cache = netfence_nft::status::cache_path(&target);
    let plan = match apply::enforce(&target, &compiled.ruleset, args.dry_run, Some(&cache)) {
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
                "commands": plan.commands,
            }),
            fmt == TextJson::Yaml,
        )?;
        return Ok(0);
    }
    if args.dry_run {
        out!("{}", plan.commands);
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
