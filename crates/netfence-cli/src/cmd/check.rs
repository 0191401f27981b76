//! `netfence check SRC DST`.

use std::path::PathBuf;

use clap::Args;
use netfence_engine::Engine;
use netfence_model::Protocol;
use netfence_views::check;

use crate::args::{Global, Inputs};
use crate::input::load;
use crate::output::{TextJson, format, print_data, print_text};

#[derive(Args)]
pub(crate) struct CheckArgs {
    /// ns/pod, ns/kind/name, node:NAME or an IP.
    src: String,
    /// Like SRC, or ns/svc/NAME[:PORT] for a Service.
    dst: String,
    /// Manifest files or directories (*.yaml, *.yml, *.json, recursively); `-` for stdin.
    paths: Vec<PathBuf>,
    /// The destination port to decide (after Service DNAT: the pod's port);
    /// without it, any connection counts and every allowed port is listed.
    #[arg(long)]
    port: Option<u16>,
    /// The protocol of --port: TCP, UDP or SCTP.
    #[arg(long, default_value = "TCP", value_parser = crate::parse_protocol)]
    protocol: Protocol,
    /// Output format.
    #[arg(short = 'o', long = "output", value_name = "FORMAT")]
    output: Option<TextJson>,
    #[command(flatten)]
    inputs: Inputs,
}

pub(crate) fn run(g: &Global, a: CheckArgs) -> Result<u8, String> {
    let fmt = format(a.output, g, "check")?;
    let (sources, loaded) = match load(g, &a.paths, &a.inputs) {
        Ok(x) => x,
        Err(code) => return Ok(code),
    };
    let engine = Engine::new(&loaded.cluster);
    let q = check::CheckQuery {
        src: g.endpoint(&a.src)?,
        dst: g.endpoint(&a.dst)?,
        port: a.port,
        protocol: a.protocol,
    };
    let report = check::check(&engine, &sources, &g.load_options(), &q)?;
    match fmt {
        TextJson::Json | TextJson::Yaml => print_data(&report, fmt == TextJson::Yaml)?,
        TextJson::Text => print_text(g, &check::render_text(&engine, &sources, &report, &q)),
    }
    Ok(if report.allowed { 0 } else { 1 })
}
