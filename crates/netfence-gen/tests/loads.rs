//! Generated clusters are valid input: they load without errors, and policies open
//! the flows they describe.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use netfence_gen::{GenOptions, generate};
use netfence_model::{LoadOptions, Severity, load_texts};

fn load_with_sources(opts: &GenOptions) -> (netfence_model::Sources, netfence_model::Loaded) {
    let files = generate(opts);
    let texts: Vec<(&str, &str)> = files
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    let (sources, loaded) = load_texts(&texts, &LoadOptions::default());
    match loaded {
        Ok(l) => (sources, l),
        Err(d) => panic!("{}", netfence_model::diag::render_short(&d, &sources)),
    }
}

fn load(opts: &GenOptions) -> netfence_model::Loaded {
    load_with_sources(opts).1
}

#[test]
fn generated_clusters_are_lint_clean() {
    // Realistic means no mistakes a linter would flag: every admitted caller has
    // its egress open, every selector matches something.
    for (workloads, policies) in [(100, 20), (1_000, 200)] {
        let (sources, loaded) = load_with_sources(&GenOptions {
            workloads,
            policies,
            seed: 3,
            pods_per_workload: None,
            nodes: 1,
            admin_policies: 0,
        });
        let engine = netfence_engine::Engine::new(&loaded.cluster);
        let run = netfence_lint::lint(
            &engine,
            &sources,
            &LoadOptions::default(),
            &netfence_lint::Settings::default(),
        );
        let serious: Vec<String> = run
            .findings
            .iter()
            .filter(|f| f.severity >= netfence_lint::Level::Warning)
            .map(|f| format!("{} {}", f.rule, f.message))
            .collect();
        assert!(serious.is_empty(), "{workloads}/{policies}: {serious:#?}");
    }
}

#[test]
fn size_s_loads_cleanly() {
    let opts = GenOptions {
        workloads: 100,
        policies: 20,
        seed: 1,
        pods_per_workload: None,
        nodes: 1,
        admin_policies: 0,
    };
    let loaded = load(&opts);
    assert_eq!(loaded.cluster.policies.len(), 20);
    assert!(loaded.cluster.endpoints.len() >= 100);
    assert!(
        loaded
            .diagnostics
            .iter()
            .all(|d| d.severity < Severity::Warning),
        "{:?}",
        loaded.diagnostics
    );
    // Ingress at the callee and egress at the caller match: app-to-app flows
    // really open, on the callee's port only.
    let engine = netfence_engine::Engine::new(&loaded.cluster);
    let apps: Vec<usize> = engine
        .pods()
        .filter(|&p| {
            !engine
                .isolating(p, netfence_model::Direction::Egress)
                .is_empty()
        })
        .collect();
    let mut open = 0;
    for &a in &apps {
        for &b in &apps {
            let c = engine.allowed(a, b);
            if a != b && !c.is_empty() && !c.allows(netfence_model::Protocol::Udp, 53) {
                open += 1;
                assert!(!c.is_all(), "an app-to-app flow opened everything");
            }
        }
    }
    assert!(open >= 10, "only {open} app-to-app flows open");
}

#[test]
fn pods_mode_writes_pods_with_ips_on_nodes() {
    let opts = GenOptions {
        workloads: 50,
        policies: 30,
        seed: 2,
        pods_per_workload: Some(3),
        nodes: 4,
        admin_policies: 0,
    };
    let loaded = load(&opts);
    let pods: Vec<_> = loaded
        .cluster
        .endpoints
        .iter()
        .filter(|e| !e.ips.is_empty())
        .collect();
    assert!(pods.len() >= 150);
    assert_eq!(loaded.cluster.nodes.len(), 4);
    assert!(pods.iter().all(|p| p.node.is_some()));
}

#[test]
fn same_pods_shape_isolates_one_workload_with_every_policy() {
    let files = netfence_gen::same_pods(300);
    let texts: Vec<(&str, &str)> = files
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    let (_, loaded) = load_texts(&texts, &LoadOptions::default());
    let cluster = loaded.unwrap().cluster;
    assert_eq!(cluster.policies.len(), 300);
    let selector = &cluster.policies[0].pod_selector;
    assert!(cluster.policies.iter().all(|p| p.pod_selector == *selector));
    assert!(
        cluster
            .endpoints
            .iter()
            .any(|e| selector.matches(&e.labels) && e.id == "app/deployment/api")
    );
}

/// The admin policies `gen --admin-policies` writes load as their CRDs
/// require, never tie on priority, and decide something: the cluster DNS
/// Accept and the database Deny change verdicts the NetworkPolicies gave.
#[test]
fn generated_admin_policies_load_and_decide() {
    let opts = |admin_policies| GenOptions {
        workloads: 300,
        policies: 60,
        seed: 5,
        pods_per_workload: None,
        nodes: 1,
        admin_policies,
    };
    let plain = load(&opts(0));
    let loaded = load(&opts(40));
    assert_eq!(loaded.cluster.admin_policies.len(), 40);
    assert!(
        loaded
            .diagnostics
            .iter()
            .all(|d| d.severity < Severity::Warning),
        "{:?}",
        loaded.diagnostics
    );
    let engine = netfence_engine::Engine::new(&loaded.cluster);
    assert!(engine.same_priority_overlaps().is_empty());
    let before = netfence_engine::Engine::new(&plain.cluster);
    let differs = (0..engine.endpoints.len()).any(|a| {
        (0..engine.endpoints.len()).any(|b| a != b && engine.allowed(a, b) != before.allowed(a, b))
    });
    assert!(differs, "the admin policies change some verdict");
}
