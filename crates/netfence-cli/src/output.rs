//! Writing to the terminal: stdout that ends quietly on a closed pipe, JSON,
//! the `-o` format of each command, and the colour policy.

use std::io::IsTerminal;

use clap::ValueEnum;

use crate::args::{ColorChoice, Global};

/// `print!` that ends quietly when stdout is closed (`netfence ... | head`)
/// instead of panicking on the broken pipe.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if std::io::stdout().write_fmt(format_args!($($arg)*)).is_err() {
            std::process::exit(0);
        }
    }};
}

macro_rules! outln {
    () => { out!("\n") };
    ($($arg:tt)*) => {{
        out!($($arg)*);
        out!("\n");
    }};
}

/// `eprint!` that never panics: with standard error closed (`2>&1 | head`)
/// the message is lost, and the command goes on to its exit code.
macro_rules! eout {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = std::io::stderr().write_fmt(format_args!($($arg)*));
    }};
}

macro_rules! eoutln {
    ($($arg:tt)*) => {{
        eout!($($arg)*);
        eout!("\n");
    }};
}

pub(crate) fn print_json<T: serde::Serialize>(value: &T) -> Result<(), String> {
    let text = serde_json::to_string_pretty(value).map_err(|e| e.to_string())?;
    outln!("{text}");
    Ok(())
}

/// The `-o` format of a command that prints text or data.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, ValueEnum)]
pub(crate) enum TextJson {
    /// For people.
    #[default]
    Text,
    /// For programs (schemas in docs/json.md).
    Json,
    /// The JSON document as YAML.
    Yaml,
}

/// Prints `value` as JSON, or with `yaml` as the same document in YAML.
pub(crate) fn print_data<T: serde::Serialize>(value: &T, yaml: bool) -> Result<(), String> {
    if !yaml {
        return print_json(value);
    }
    let doc = serde_json::to_value(value).map_err(|e| e.to_string())?;
    out!("{}", netfence_text::yaml::to_yaml(&doc));
    Ok(())
}

/// The format a command prints: its own `-o` (a value of its format enum,
/// checked by clap), else `-o` given before the command, checked here against
/// the same enum, else the enum's default.
pub(crate) fn format<F: ValueEnum + Default + Clone>(
    own: Option<F>,
    g: &Global,
    command: &str,
) -> Result<F, String> {
    if let Some(f) = own {
        return Ok(f);
    }
    let Some(name) = &g.output else {
        return Ok(F::default());
    };
    F::from_str(name, false).map_err(|_| {
        let names: Vec<String> = F::value_variants()
            .iter()
            .filter_map(|v| v.to_possible_value())
            .map(|p| format!("-o {}", p.get_name()))
            .collect();
        let list = match names.split_last() {
            Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
            _ => names.join(""),
        };
        format!("{command} supports {list}")
    })
}

/// Whether to colour what goes to standard error.
pub(crate) fn color(g: &Global) -> bool {
    color_for(g, std::io::stderr().is_terminal())
}

/// The one colour policy (netfence_text::color_enabled) for a stream that is
/// or is not a terminal.
pub(crate) fn color_for(g: &Global, terminal: bool) -> bool {
    let choice = match g.color {
        ColorChoice::Always => netfence_text::ColorChoice::Always,
        ColorChoice::Never => netfence_text::ColorChoice::Never,
        ColorChoice::Auto => netfence_text::ColorChoice::Auto,
    };
    netfence_text::color_enabled(choice, terminal)
}

/// Prints a text report, its verdicts and changes coloured when stdout gets colour.
pub(crate) fn print_text(g: &Global, text: &str) {
    let on = color_for(g, std::io::stdout().is_terminal());
    out!("{}", netfence_text::highlight(text, on));
}

/// Inputs at least this large (endpoints plus policies) take long enough to
/// analyze that a terminal gets a progress line.
pub(crate) const LONG_WORK: usize = 2_000;

/// Whether analyzing `cluster` is long work (see [`LONG_WORK`]).
pub(crate) fn long_work(cluster: &netfence_model::Cluster) -> bool {
    cluster.endpoints.len() + cluster.policies.len() >= LONG_WORK
}

/// A progress line on standard error for long work, drawn only when standard
/// error is a terminal: piped and redirected runs (CI logs) stay clean. It is
/// cleared when dropped, so the answer is not interleaved with it.
pub(crate) struct Progress(Option<indicatif::ProgressBar>);

impl Progress {
    /// A spinner with `message`, when `long` and standard error is a terminal.
    pub(crate) fn spinner(long: bool, message: &str) -> Progress {
        Progress::start(long, None, message)
    }

    /// A bar of `len` steps, when `long` and standard error is a terminal.
    pub(crate) fn bar(long: bool, len: usize, message: &str) -> Progress {
        Progress::start(long, Some(len), message)
    }

    fn start(long: bool, len: Option<usize>, message: &str) -> Progress {
        if !long || !std::io::stderr().is_terminal() {
            return Progress(None);
        }
        let (bar, template) = match len {
            Some(n) => (
                indicatif::ProgressBar::new(n as u64),
                "{spinner} {msg} [{bar:30}] {pos}/{len} ({elapsed})",
            ),
            None => (
                indicatif::ProgressBar::new_spinner(),
                "{spinner} {msg} ({elapsed})",
            ),
        };
        if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
        bar.set_message(message.to_string());
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        Progress(Some(bar))
    }

    /// Says what is being done now.
    pub(crate) fn stage(&self, message: &str) {
        if let Some(bar) = &self.0 {
            bar.set_message(message.to_string());
        }
    }

    /// One step of a bar done.
    pub(crate) fn step(&self) {
        if let Some(bar) = &self.0 {
            bar.inc(1);
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}
