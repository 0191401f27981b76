//! `netfence matrix`.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use netfence_engine::{Engine, MatrixFilter};
use netfence_model::Protocol;
use netfence_views::matrix;

use crate::args::{Global, Inputs};
use crate::input::load;
use crate::output::{Progress, format, long_work, print_data, print_text};

#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, ValueEnum)]
enum Format {
    #[default]
    Text,
    Json,
    Yaml,
    Csv,
    Md,
    Dot,
}

#[derive(Args)]
pub(crate) struct MatrixArgs {
    /// Manifest files or directories (*.yaml, *.yml, *.json, recursively); `-` for stdin.
    paths: Vec<PathBuf>,
    /// Only this port.
    #[arg(long)]
    port: Option<u16>,
    /// Only this protocol.
    #[arg(long, value_parser = crate::parse_protocol)]
    protocol: Option<Protocol>,
    /// One entry per pair instead of grouped entries.
    #[arg(long)]
    per_pair: bool,
    /// Also list connections between two external address ranges (left out
    /// by default: that traffic never crosses the cluster).
    #[arg(long)]
    external_pairs: bool,
    /// Output format.
    #[arg(short = 'o', long = "output", value_name = "FORMAT")]
    output: Option<Format>,
    #[command(flatten)]
    inputs: Inputs,
}

pub(crate) fn run(g: &Global, a: MatrixArgs) -> Result<u8, String> {
    let fmt = format(a.output, g, "matrix")?;
    let (_, loaded) = match load(g, &a.paths, &a.inputs) {
        Ok(x) => x,
        Err(code) => return Ok(code),
    };
    let progress = Progress::spinner(long_work(&loaded.cluster), "building the engine");
    let engine = Engine::new(&loaded.cluster);
    progress.stage("computing the matrix");
    let filter = MatrixFilter {
        namespaces: g.only_namespace().map(|n| vec![n.to_string()]),
        port: a.port,
        protocol: a.protocol,
        per_pair: a.per_pair,
        skip_external_pairs: !a.external_pairs,
    };
    let m = engine.matrix(&filter);
    drop(progress);
    match fmt {
        Format::Json => print_data(&m, false)?,
        Format::Yaml => print_data(&m, true)?,
        Format::Text => print_text(g, &matrix::text(&m)),
        Format::Csv => out!("{}", matrix::csv(&m)),
        Format::Md => out!("{}", matrix::markdown(&m)),
        Format::Dot => out!("{}", matrix::dot(&m)),
    }
    Ok(0)
}
