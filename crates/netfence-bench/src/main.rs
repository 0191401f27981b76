//! `netfence-bench`: measures netfence's phases in process, on generated
//! clusters, and prints one JSON object per run (bench/run.sh collects them into
//! BENCHMARKS.md). Every phase runs several times; min, median and max are kept.
//! Figures are compared with a baseline measured in the same run (parsing the
//! same YAML), because these machines are noisy.

use std::time::Instant;

mod dataplane;

use clap::{Parser, Subcommand};
use netfence_engine::{Engine, MatrixFilter};
use netfence_gen::{GenOptions, generate};
use netfence_model::{Direction, LoadOptions, Protocol, Sources, load};
use serde_json::{Value, json};

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Engine phases on a generated cluster.
    Engine {
        #[arg(long)]
        workloads: usize,
        #[arg(long)]
        policies: usize,
        #[arg(long, default_value_t = 5)]
        runs: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Compile + apply at a size, and one-policy changes as delta transactions (root).
    Apply {
        #[arg(long)]
        workloads: usize,
        #[arg(long)]
        policies: usize,
        #[arg(long, default_value_t = 40)]
        changes: usize,
    },
    /// New TCP connections per second through an enforced node (root).
    Rate {
        #[arg(long, value_delimiter = ',', default_values_t = [10, 1000, 10000])]
        policies: Vec<usize>,
        #[arg(long, default_value_t = 2.0)]
        seconds: f64,
        #[arg(long, default_value_t = 5)]
        runs: usize,
    },
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Engine {
            workloads,
            policies,
            runs,
            seed,
        } => engine(workloads, policies, runs.max(1), seed),
        Command::Apply {
            workloads,
            policies,
            changes,
        } => dataplane::apply_bench(workloads, policies, changes),
        Command::Rate {
            policies,
            seconds,
            runs,
        } => dataplane::rate_bench(&policies, seconds, runs),
    };
    match result {
        Ok(v) => println!("{v}"),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    }
}

/// Runs `f` `runs` times; returns [min, median, max] in milliseconds.
fn time<T>(runs: usize, mut f: impl FnMut() -> T) -> (Value, T) {
    let mut times = Vec::with_capacity(runs);
    let mut last = None;
    for _ in 0..runs {
        let start = Instant::now();
        let out = f();
        times.push(start.elapsed().as_secs_f64() * 1000.0);
        last = Some(out);
    }
    times.sort_by(f64::total_cmp);
    let stats = json!({
        "min_ms": round(times[0]),
        "median_ms": round(times[times.len() / 2]),
        "max_ms": round(times[times.len() - 1]),
    });
    match last {
        Some(out) => (stats, out),
        None => unreachable!("runs >= 1"),
    }
}

fn round(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Peak resident memory of this process so far (VmHWM), in MiB.
fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| round(kb / 1024.0))
}

fn sources_of(files: &[(String, String)]) -> Sources {
    let mut sources = Sources::default();
    for (name, text) in files {
        sources.add(name.clone(), text.clone());
    }
    sources
}

fn engine(workloads: usize, policies: usize, runs: usize, seed: u64) -> Result<Value, String> {
    let files = generate(&GenOptions {
        workloads,
        policies,
        seed,
        pods_per_workload: None,
        nodes: 1,
    });
    let bytes: usize = files.iter().map(|(_, t)| t.len()).sum();
    let opts = LoadOptions::default();

    // Baseline: parsing the YAML alone.
    let (yaml, _) = time(runs, || {
        files
            .iter()
            .map(|(_, t)| netfence_yaml::parse_documents(t).0.len())
            .sum::<usize>()
    });
    let (load_t, loaded) = time(runs, || {
        let mut sources = sources_of(&files);
        load(&mut sources, &opts).map(|l| (sources, l))
    });
    let (sources, loaded) = loaded.map_err(|d| format!("{} load error(s)", d.len()))?;
    let cluster = &loaded.cluster;
    let (engine_t, _) = time(runs, || Engine::new(cluster).classes.len());
    let engine = Engine::new(cluster);
    let classes = engine.classes.len();
    let pods = engine.pods().count();
    let (matrix_t, matrix_bytes) = time(runs, || {
        let m = engine.matrix(&MatrixFilter::default());
        serde_json::to_string(&m).map(|s| s.len()).unwrap_or(0)
    });

    // check: a caller and a callee with policies of their own (the proposal path
    // is taken when the pair is denied).
    let isolated: Vec<usize> = engine
        .pods()
        .filter(|&p| !engine.isolating(p, Direction::Ingress).is_empty())
        .collect();
    let (src, dst) = match (isolated.first(), isolated.get(1)) {
        (Some(&a), Some(&b)) => (engine.endpoint(a).id.clone(), engine.endpoint(b).id.clone()),
        _ => return Err("the generated cluster has fewer than two isolated pods".into()),
    };
    let query = netfence_views::check::CheckQuery {
        src,
        dst,
        port: Some(8080),
        protocol: Protocol::Tcp,
    };
    // End to end, as the CLI does it: load, engine, check.
    let (check_t, verdict) = time(runs, || {
        let mut sources = sources_of(&files);
        let loaded = load(&mut sources, &opts).map_err(|d| d.len())?;
        let engine = Engine::new(&loaded.cluster);
        netfence_views::check::check(&engine, &sources, &opts, &query)
            .map(|r| r.allowed)
            .map_err(|_| 0)
    });

    // diff of a one-policy change: the first app policy removed.
    let victim = cluster
        .policies
        .iter()
        .find(|p| p.name != "default-deny-all" && p.name != "allow-dns")
        .map(|p| format!("networkpolicy/{}/{}", p.namespace, p.name))
        .ok_or("no app policy to remove")?;
    let after_opts = LoadOptions {
        without: vec![victim.clone()],
        ..LoadOptions::default()
    };
    let mut after_sources = sources_of(&files);
    let after =
        load(&mut after_sources, &after_opts).map_err(|d| format!("{} error(s)", d.len()))?;
    let after_engine = Engine::new(&after.cluster);
    let (diff_t, changes) = time(runs, || {
        let d = netfence_diff::diff(
            &netfence_diff::Side {
                label: "before".into(),
                engine: &engine,
                sources: &sources,
            },
            &netfence_diff::Side {
                label: "after".into(),
                engine: &after_engine,
                sources: &after_sources,
            },
        );
        d.changes.len()
    });

    Ok(json!({
        "workloads": workloads,
        "policies": policies,
        "pods_and_workloads": pods,
        "classes": classes,
        "input_bytes": bytes,
        "runs": runs,
        "yaml_baseline": yaml,
        "load": load_t,
        "engine": engine_t,
        "matrix_json": matrix_t,
        "matrix_json_bytes": matrix_bytes,
        "check_end_to_end": check_t,
        "check_allowed": verdict.ok(),
        "diff_one_policy": diff_t,
        "diff_removed_policy": victim,
        "diff_changes": changes,
        "peak_rss_mib": peak_rss_mib(),
    }))
}
