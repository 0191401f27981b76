//! `netfence status`: counters and drops on an enforced node.

use clap::Args;

use crate::args::Global;
use crate::cmd::enforce::target;
use crate::output::{TextJson, format, print_data, print_text};

#[derive(Args)]
pub(crate) struct StatusArgs {
    /// The network namespace `enforce --netns` applied to.
    #[arg(long)]
    netns: Option<String>,
    /// Output format.
    #[arg(short = 'o', long = "output", value_name = "FORMAT")]
    output: Option<TextJson>,
}

pub(crate) fn run(g: &Global, args: StatusArgs) -> Result<u8, String> {
    let fmt = format(args.output, g, "status")?;
    let s = netfence_nft::status::status(&target(&args.netns))?;
    match fmt {
        TextJson::Json | TextJson::Yaml => print_data(&s, fmt == TextJson::Yaml)?,
        TextJson::Text => print_text(g, &netfence_nft::status::render_text(&s)),
    }
    Ok(0)
}
