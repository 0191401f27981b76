//! `netfence diff BEFORE AFTER`: what a change does to reachability.

use clap::{Args, ValueEnum};
use netfence_engine::Engine;
use netfence_model::LoadOptions;

use crate::args::Global;
use crate::input::{load_read, nothing_found, nothing_found_message, read_overlays, read_side};
use crate::output::{format, print_data, print_text};

#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, ValueEnum)]
enum Format {
    #[default]
    Text,
    Json,
    Yaml,
    Md,
    /// One self-contained page: the changed connections as a graph (added
    /// green, removed red) and as tables.
    Html,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum FailOn {
    Added,
    Removed,
    Any,
}

#[derive(Args)]
pub(crate) struct DiffArgs {
    /// The input before the change: a file, a directory, `-` or git:REV[:PATH].
    before: String,
    /// The input after the change, likewise.
    after: String,
    /// Which changes exit 1: `added` (connections added or a default-deny
    /// lost), `removed` (connections removed) or `any`.
    #[arg(long, default_value = "any")]
    fail_on: FailOn,
    /// Output format.
    #[arg(short = 'o', long = "output", value_name = "FORMAT")]
    output: Option<Format>,
}

/// AFTER as the user will read it: with the what-if flags that changed it.
fn after_label(g: &Global, after: &str) -> String {
    let mut label = after.to_string();
    for w in &g.with {
        label.push_str(&format!(" --with {}", w.display()));
    }
    for w in &g.without {
        label.push_str(&format!(" --without {w}"));
    }
    label
}

pub(crate) fn run(g: &Global, a: DiffArgs) -> Result<u8, String> {
    let (before, after) = (a.before.as_str(), a.after.as_str());
    if before == "-" && after == "-" {
        return Err("only one side of diff can be standard input (`-`)".into());
    }
    let fmt = format(a.output, g, "diff")?;
    // What-if flags describe the change under review: they apply to AFTER only.
    let before_opts = LoadOptions {
        without: Vec::new(),
        ..g.load_options()
    };
    let (sources, diags) = read_side(g, before);
    let loaded_before = load_read(g, sources, diags, &before_opts, Some("BEFORE"));
    let (mut sources, mut diags) = read_side(g, after);
    read_overlays(g, &mut sources, &mut diags);
    let loaded_after = load_read(g, sources, diags, &g.load_options(), Some("AFTER"));
    let ((sources_b, loaded_b), (sources_a, loaded_a)) = match (loaded_before, loaded_after) {
        (Ok(b), Ok(a)) => (b, a),
        (Err(code), _) | (_, Err(code)) => return Ok(code),
    };
    // An empty side is a real diff (policies added to nothing), but say so: a
    // wrong path would otherwise read as "everything removed".
    let empty_b = nothing_found(&loaded_b.cluster);
    let empty_a = nothing_found(&loaded_a.cluster);
    for (side, sources, empty) in [
        ("BEFORE", &sources_b, empty_b),
        ("AFTER", &sources_a, empty_a),
    ] {
        if empty {
            eoutln!("warning: {side}: {}", nothing_found_message(sources));
        }
    }
    if empty_b && empty_a {
        eoutln!("error: both inputs are empty; nothing was compared");
        return Ok(crate::EXIT_ERROR);
    }
    let (engine_b, engine_a) = (
        Engine::new(&loaded_b.cluster),
        Engine::new(&loaded_a.cluster),
    );
    let mut d = netfence_diff::diff(
        &netfence_diff::Side {
            label: before.to_string(),
            engine: &engine_b,
            sources: &sources_b,
        },
        &netfence_diff::Side {
            label: after_label(g, after),
            engine: &engine_a,
            sources: &sources_a,
        },
    );
    if let Some(ns) = g.only_namespace() {
        d.retain_namespace(ns);
    }
    match fmt {
        Format::Json => print_data(&d, false)?,
        Format::Yaml => print_data(&d, true)?,
        Format::Md => out!("{}", netfence_diff::render::markdown(&d)),
        Format::Html => {
            let doc = serde_json::to_value(&d).map_err(|e| e.to_string())?;
            out!("{}", netfence_views::html::diff_page(&doc));
        }
        Format::Text => print_text(g, &netfence_diff::render::text(&d)),
    }
    let fail_on = match a.fail_on {
        FailOn::Added => netfence_diff::FailOn::Added,
        FailOn::Removed => netfence_diff::FailOn::Removed,
        FailOn::Any => netfence_diff::FailOn::Any,
    };
    Ok(u8::from(d.fails(fail_on)))
}
