//! `netfence describe policy|pod|namespace NAME`.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use netfence_engine::Engine;
use netfence_views::describe;

use crate::args::{Global, Inputs};
use crate::input::load;
use crate::output::{TextJson, format, print_json};

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum DescribeKind {
    Policy,
    #[value(alias = "networkpolicy", alias = "netpol")]
    Pod,
    #[value(alias = "ns")]
    Namespace,
}

#[derive(Args)]
pub(crate) struct DescribeArgs {
    kind: DescribeKind,
    /// ns/name (or name with -n).
    name: String,
    paths: Vec<PathBuf>,
    #[arg(short = 'o', long = "output", value_name = "FORMAT")]
    output: Option<TextJson>,
    #[command(flatten)]
    inputs: Inputs,
}

pub(crate) fn run(g: &Global, a: DescribeArgs) -> Result<u8, String> {
    let json = format(a.output, g, "describe")? == TextJson::Json;
    let (sources, loaded) = match load(g, &a.paths, &a.inputs) {
        Ok(x) => x,
        Err(code) => return Ok(code),
    };
    let engine = Engine::new(&loaded.cluster);
    match a.kind {
        DescribeKind::Policy => {
            let d = describe::describe_policy(&engine, &sources, &g.endpoint(&a.name)?)?;
            if json {
                print_json(&d)?
            } else {
                out!("{}", describe::policy_text(&d))
            }
        }
        DescribeKind::Pod => {
            let d = describe::describe_pod(&engine, &g.endpoint(&a.name)?)?;
            if json {
                print_json(&d)?
            } else {
                out!("{}", describe::pod_text(&d))
            }
        }
        DescribeKind::Namespace => {
            let d = describe::describe_namespace(&engine, &a.name)?;
            if json {
                print_json(&d)?
            } else {
                out!("{}", describe::namespace_text(&d))
            }
        }
    }
    Ok(0)
}
