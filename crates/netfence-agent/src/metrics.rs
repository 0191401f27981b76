//! What `/metrics`, `/readyz` and `/healthz` serve: one shared record the
//! event loop updates and the HTTP thread reads.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

/// Upper bounds (seconds) of the event-to-kernel histogram: from the 10 ms
/// target up to a full recompile at XL.
pub const BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

#[derive(Debug, Default, Clone)]
pub struct State {
    /// After the first complete load applied to the kernel.
    pub ready: bool,
    /// Why not ready, when nothing was applied yet.
    pub not_ready_reason: Option<String>,
    /// Files whose current text does not load, with the located errors.
    pub failing: BTreeMap<String, String>,
    /// A problem with the directory as a whole.
    pub general: Option<String>,
    pub latency_counts: [u64; BUCKETS.len()],
    pub latency_sum: f64,
    pub latency_count: u64,
    pub rules: usize,
    pub set_elements: usize,
    pub pods: usize,
    pub sync_errors: u64,
    pub load_errors: u64,
    pub applies: u64,
    /// Looks at the directory (one per coalesced batch of events).
    pub syncs: u64,
    pub drift_repairs: u64,
    /// The generation mark of the ruleset last applied (as in the table's
    /// `generation` set).
    pub generation: Option<u32>,
    /// Read from the table's counters at each drift check: connections each
    /// rule's allow-set elements accepted, and the dropped flows on record per
    /// (kind, policy, direction) (`netfence status`'s numbers).
    pub counters: PolicyCounters,
}

/// What `netfence status` reads from the table, as labelled series.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct PolicyCounters {
    /// Rule (`namespace/policy direction[i]`, or an admin policy's rule) →
    /// new connections its allow-set elements matched.
    pub accepted: BTreeMap<String, u64>,
    /// (drop kind, policy or "", direction or "") → flows on record.
    pub dropped: BTreeMap<(String, String, String), u64>,
}

/// A Prometheus label value: backslash, quote and newline escaped.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[derive(Debug, Default)]
pub struct Metrics(Mutex<State>);

impl Metrics {
    pub fn update(&self, f: impl FnOnce(&mut State)) {
        // A panic elsewhere while holding the lock leaves usable numbers.
        let mut guard = self.0.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut guard)
    }

    pub fn get(&self) -> State {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn observe_latency(&self, seconds: f64) {
        self.update(|s| {
            for (i, bound) in BUCKETS.iter().enumerate() {
                if seconds <= *bound {
                    s.latency_counts[i] += 1;
                }
            }
            s.latency_sum += seconds;
            s.latency_count += 1;
        })
    }

    /// `/readyz`: 200 once the first complete load is in the kernel; the body
    /// names the files that do not load (then still 200: their last good
    /// objects are enforced).
    pub fn readiness(&self) -> (u16, String) {
        let s = self.get();
        let mut body = String::new();
        if s.ready {
            body.push_str("ready\n");
        } else {
            let _ = writeln!(
                body,
                "not ready: {}",
                s.not_ready_reason
                    .as_deref()
                    .unwrap_or("first sync not done")
            );
        }
        if let Some(g) = &s.general {
            let _ = writeln!(body, "{}", g.trim_end());
        }
        for (file, errors) in &s.failing {
            let _ = writeln!(
                body,
                "{file}: does not load; {}",
                if s.ready {
                    "its last good version is enforced"
                } else {
                    "nothing is applied until it does"
                }
            );
            for line in errors.lines() {
                let _ = writeln!(body, "  {line}");
            }
        }
        (if s.ready { 200 } else { 503 }, body)
    }

    /// Prometheus text exposition format 0.0.4.
    pub fn render(&self) -> String {
        let s = self.get();
        let mut o = String::new();
        let mut metric = |name: &str, kind: &str, help: &str, value: String| {
            let _ = writeln!(
                o,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        };
        metric(
            "netfence_agent_ready",
            "gauge",
            "1 once the first complete load was applied to the kernel.",
            u8::from(s.ready).to_string(),
        );
        metric(
            "netfence_agent_rules",
            "gauge",
            "Rules in the applied ruleset.",
            s.rules.to_string(),
        );
        metric(
            "netfence_agent_set_elements",
            "gauge",
            "Set and map elements in the applied ruleset.",
            s.set_elements.to_string(),
        );
        metric(
            "netfence_agent_pods",
            "gauge",
            "Pods of this node the applied ruleset enforces.",
            s.pods.to_string(),
        );
        metric(
            "netfence_agent_files_failing",
            "gauge",
            "Files whose current text does not load (their last good version is enforced).",
            s.failing.len().to_string(),
        );
        metric(
            "netfence_agent_load_errors_total",
            "counter",
            "Looks at the directory that found a file that does not load.",
            s.load_errors.to_string(),
        );
        metric(
            "netfence_agent_sync_errors_total",
            "counter",
            "Transactions the kernel refused or that could not be sent (the kernel kept its table).",
            s.sync_errors.to_string(),
        );
        metric(
            "netfence_agent_applies_total",
            "counter",
            "Transactions committed.",
            s.applies.to_string(),
        );
        metric(
            "netfence_agent_syncs_total",
            "counter",
            "Looks at the directory: one per batch of coalesced events.",
            s.syncs.to_string(),
        );
        metric(
            "netfence_agent_drift_repairs_total",
            "counter",
            "Periodic checks that found the kernel's table changed by hand and repaired it.",
            s.drift_repairs.to_string(),
        );
        if let Some(g) = s.generation {
            metric(
                "netfence_agent_applied_generation",
                "gauge",
                "Generation mark of the ruleset last applied (the table's generation set).",
                g.to_string(),
            );
        }
        let name = "netfence_agent_event_to_kernel_seconds";
        let _ = writeln!(
            o,
            "# HELP {name} From a change in the directory to the kernel committing the transaction that enforces it.\n# TYPE {name} histogram"
        );
        for (bound, count) in BUCKETS.iter().zip(s.latency_counts) {
            let _ = writeln!(o, "{name}_bucket{{le=\"{bound}\"}} {count}");
        }
        let _ = writeln!(o, "{name}_bucket{{le=\"+Inf\"}} {}", s.latency_count);
        let _ = writeln!(o, "{name}_sum {}", s.latency_sum);
        let _ = writeln!(o, "{name}_count {}", s.latency_count);
        let name = "netfence_policy_accepted_connections";
        let _ = writeln!(
            o,
            "# HELP {name} New connections accepted by each rule's allow-set elements (the table's counters, read at each drift check).\n# TYPE {name} gauge"
        );
        for (rule, n) in &s.counters.accepted {
            let _ = writeln!(o, "{name}{{rule=\"{}\"}} {n}", label(rule));
        }
        let name = "netfence_dropped_flows";
        let _ = writeln!(
            o,
            "# HELP {name} Dropped flows on record in the table, by why and, for policy drops, by the policy isolating the pod and the direction (read at each drift check).\n# TYPE {name} gauge"
        );
        for ((kind, policy, direction), n) in &s.counters.dropped {
            let _ = writeln!(
                o,
                "{name}{{kind=\"{}\",policy=\"{}\",direction=\"{}\"}} {n}",
                label(kind),
                label(policy),
                label(direction)
            );
        }
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_histogram_is_cumulative() {
        let m = Metrics::default();
        m.observe_latency(0.003);
        m.observe_latency(0.2);
        let text = m.render();
        assert!(text.contains("netfence_agent_event_to_kernel_seconds_bucket{le=\"0.0025\"} 0\n"));
        assert!(text.contains("netfence_agent_event_to_kernel_seconds_bucket{le=\"0.005\"} 1\n"));
        assert!(text.contains("netfence_agent_event_to_kernel_seconds_bucket{le=\"0.25\"} 2\n"));
        assert!(text.contains("netfence_agent_event_to_kernel_seconds_bucket{le=\"+Inf\"} 2\n"));
        assert!(text.contains("netfence_agent_event_to_kernel_seconds_count 2\n"));
        // Every sample line is `name value` or `name{labels} value`.
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (name, value) = line.rsplit_once(' ').unwrap(); // ok: test
            assert!(name.starts_with("netfence_agent_"), "{line}");
            assert!(value.parse::<f64>().is_ok(), "{line}");
        }
    }

    #[test]
    fn readiness_names_failing_files() {
        let m = Metrics::default();
        assert_eq!(m.readiness().0, 503);
        m.update(|s| {
            s.ready = true;
            s.failing
                .insert("d/a.yaml".into(), "d/a.yaml:3:7: error: bad".into());
        });
        let (code, body) = m.readiness();
        assert_eq!(code, 200);
        assert!(body.contains("d/a.yaml: does not load; its last good version is enforced"));
        assert!(body.contains("  d/a.yaml:3:7: error: bad"));
    }
}
