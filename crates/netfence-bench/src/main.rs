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
        /// Phases to measure (comma-separated): matrix, check, diff, lint,
        /// lint-rules (each lint rule on its own). Load and the engine always run.
        #[arg(long, value_delimiter = ',', default_value = "matrix,check,diff,lint")]
        phases: Vec<Phase>,
        /// `cluster`: `netfence gen`'s realistic cluster; `same-pods`: the
        /// one-policy-per-port habit, every policy selecting the same pods
        /// (`--workloads` is ignored; check and diff need the cluster shape).
        #[arg(long, value_enum, default_value = "cluster")]
        shape: Shape,
        /// ClusterNetworkPolicies added to the cluster shape (`netfence gen
        /// --admin-policies`).
        #[arg(long, default_value_t = 0)]
        admin_policies: usize,
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

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Phase {
    Matrix,
    Check,
    Diff,
    Lint,
    LintRules,
    /// The report view's data (as `report -o json` without its lint summary).
    Report,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Shape {
    Cluster,
    SamePods,
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Engine {
            workloads,
            policies,
            runs,
            seed,
            phases,
            shape,
            admin_policies,
        } => engine(
            workloads,
            policies,
            runs.max(1),
            seed,
            &phases,
            shape,
            admin_policies,
        ),
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

/// Starts a new peak: VmHWM is reset to the current resident size (Linux 4.0+),
/// so each phase reports its own peak rather than the largest one so far.
fn reset_peak_rss() {
    // Without the file (not Linux) the peak is the process's so far: still an
    // upper bound.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Peak resident memory of this process since the last reset (VmHWM), in MiB.
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

/// Adds `value` under `key`; with its phase's peak resident memory when `rss`.
fn put(out: &mut serde_json::Map<String, Value>, key: &str, mut value: Value, rss: bool) {
    if rss && let Value::Object(m) = &mut value {
        m.insert("peak_rss_mib".into(), json!(peak_rss_mib()));
    }
    out.insert(key.into(), value);
}

fn engine(
    workloads: usize,
    policies: usize,
    runs: usize,
    seed: u64,
    phases: &[Phase],
    shape: Shape,
    admin_policies: usize,
) -> Result<Value, String> {
    let files = match shape {
        Shape::Cluster => generate(&GenOptions {
            workloads,
            policies,
            seed,
            pods_per_workload: None,
            nodes: 1,
            admin_policies,
        }),
        Shape::SamePods => netfence_gen::same_pods(policies),
    };
    let bytes: usize = files.iter().map(|(_, t)| t.len()).sum();
    let opts = LoadOptions::default();
    let mut out = serde_json::Map::new();
    out.insert("shape".into(), json!(format!("{shape:?}")));
    out.insert("workloads".into(), json!(workloads));
    out.insert("policies".into(), json!(policies));
    out.insert("admin_policies".into(), json!(admin_policies));
    out.insert("input_bytes".into(), json!(bytes));
    out.insert("runs".into(), json!(runs));

    // Baselines. The YAML parser's events alone (yaml-rust2, which netfence
    // does not change, so figures of different versions compare), and parsing
    // into netfence's tree with positions.
    let (events, _) = time(runs, || {
        let mut count = 0usize;
        for (_, text) in &files {
            let mut parser = yaml_rust2::parser::Parser::new_from_str(text);
            while let Ok((event, _)) = parser.next_token() {
                if event == yaml_rust2::Event::StreamEnd {
                    break;
                }
                count += 1;
            }
        }
        count
    });
    put(&mut out, "yaml_events_baseline", events, false);
    let (yaml, _) = time(runs, || {
        files
            .iter()
            .map(|(_, t)| netfence_yaml::parse_documents(t).0.len())
            .sum::<usize>()
    });
    put(&mut out, "yaml_baseline", yaml, false);
    reset_peak_rss();
    let (load_t, loaded) = time(runs, || {
        let mut sources = sources_of(&files);
        load(&mut sources, &opts).map(|l| (sources, l))
    });
    put(&mut out, "load", load_t, true);
    let (sources, loaded) = loaded.map_err(|d| format!("{} load error(s)", d.len()))?;
    let cluster = &loaded.cluster;
    reset_peak_rss();
    let (engine_t, _) = time(runs, || Engine::new(cluster).classes.len());
    put(&mut out, "engine", engine_t, true);
    let engine = Engine::new(cluster);
    out.insert("pods_and_workloads".into(), json!(engine.pods().count()));
    out.insert("classes".into(), json!(engine.classes.len()));

    if phases.contains(&Phase::Matrix) {
        reset_peak_rss();
        let (matrix_t, matrix_bytes) = time(runs, || {
            let m = engine.matrix(&MatrixFilter::default());
            serde_json::to_string(&m).map(|s| s.len()).unwrap_or(0)
        });
        put(&mut out, "matrix_json", matrix_t, true);
        out.insert("matrix_json_bytes".into(), json!(matrix_bytes));
    }

    if phases.contains(&Phase::Check) {
        // A caller and a callee with policies of their own (the proposal path
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
        reset_peak_rss();
        let (check_t, verdict) = time(runs, || {
            let mut sources = sources_of(&files);
            let loaded = load(&mut sources, &opts).map_err(|d| d.len())?;
            let engine = Engine::new(&loaded.cluster);
            netfence_views::check::check(&engine, &sources, &opts, &query)
                .map(|r| {
                    (
                        r.allowed,
                        r.proposal.map(|p| (p.verified, p.also_opens_total)),
                    )
                })
                .map_err(|_| 0)
        });
        put(&mut out, "check_end_to_end", check_t, true);
        let (allowed, proposal) = verdict.map_err(|_| "check failed")?;
        out.insert("check_allowed".into(), json!(allowed));
        out.insert(
            "check_proposal_verified".into(),
            json!(proposal.map(|p| p.0)),
        );
        out.insert("check_also_opens".into(), json!(proposal.map(|p| p.1)));
    }

    if phases.contains(&Phase::Diff) {
        // A one-policy change: the first app policy removed.
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
        reset_peak_rss();
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
        put(&mut out, "diff_one_policy", diff_t, true);
        out.insert("diff_removed_policy".into(), json!(victim));
        out.insert("diff_changes".into(), json!(changes));
    }

    if phases.contains(&Phase::Report) {
        reset_peak_rss();
        let (report_t, bytes) = time(runs, || {
            let r = netfence_views::report::report(&engine, &sources, &loaded.diagnostics);
            serde_json::to_string(&r).map(|s| s.len()).unwrap_or(0)
        });
        put(&mut out, "report_json", report_t, true);
        out.insert("report_json_bytes".into(), json!(bytes));
    }

    let settings = netfence_lint::Settings::default();
    if phases.contains(&Phase::Lint) {
        reset_peak_rss();
        let (lint_t, findings) = time(runs, || {
            netfence_lint::lint(&engine, &sources, &opts, &settings)
                .findings
                .len()
        });
        put(&mut out, "lint", lint_t, true);
        out.insert("lint_findings".into(), json!(findings));
    }

    if phases.contains(&Phase::LintRules) {
        // Each rule on a fresh context, so shared analyses (flows, DNS) are
        // charged to the first rule that asks for them.
        let mut per_rule = serde_json::Map::new();
        for rule in netfence_lint::RULES {
            let (t, _) = time(runs, || {
                let ctx = netfence_lint::LintContext::new(&engine, &sources, &opts);
                let mut found = Vec::new();
                (rule.check)(&ctx, &mut found);
                found.len()
            });
            per_rule.insert(rule.id.into(), t["median_ms"].clone());
        }
        out.insert("lint_rules_median_ms".into(), Value::Object(per_rule));
    }

    Ok(Value::Object(out))
}
