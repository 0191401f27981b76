//! `check`'s proposals against the plain way of verifying them: the whole input
//! loaded again with the changes as overlays, and every ordered pair of
//! endpoints compared (external addresses on the overlaps of both sides'
//! address groups, as `diff` compares them). Same verdict, same "also opens"
//! list, same count.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use netfence_engine::{EndpointKind, Engine};
use netfence_gen::{GenOptions, generate};
use netfence_model::{LoadOptions, Protocol, Sources, load};
use netfence_views::check::{CheckQuery, CheckReport, check};

fn sources_of(files: &[(String, String)]) -> Sources {
    let mut s = Sources::default();
    for (name, text) in files {
        s.add(name.clone(), text.clone());
    }
    s
}

fn example(dir: &str) -> Vec<(String, String)> {
    let root = format!("{}/../../examples/{dir}", env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<(String, String)> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .map(|p| {
            (
                p.display().to_string(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect();
    files.sort();
    files
}

/// The proposal verified the plain way: (verified, also opens, total).
fn plain(engine: &Engine, sources: &Sources, report: &CheckReport) -> (bool, Vec<String>, usize) {
    let proposal = report.proposal.as_ref().unwrap();
    let mut trial = Sources::default();
    for f in &sources.files {
        let id = trial.add(f.name.clone(), f.text.clone());
        trial.files[id.0 as usize].overlay = f.overlay;
    }
    for (i, c) in proposal.changes.iter().enumerate() {
        let id = trial.add(format!("<proposal {}>", i + 1), c.yaml.clone());
        trial.files[id.0 as usize].overlay = true;
    }
    let Ok(loaded) = load(&mut trial, &LoadOptions::default()) else {
        return (false, Vec::new(), 0);
    };
    let after = Engine::new(&loaded.cluster);
    let (src, dst) = (
        engine.find(&report.src).unwrap(),
        engine.find(&report.dst).unwrap(),
    );
    let (Ok(s2), Ok(d2)) = (after.find(&report.src), after.find(&report.dst)) else {
        return (false, Vec::new(), 0);
    };
    let set = after.allowed(s2, d2);
    let verified = match report.port {
        Some(p) => set.allows(report.protocol.unwrap_or(Protocol::Tcp), p),
        None => !set.is_empty(),
    };
    // Every endpoint on both sides: pods and nodes by id, external addresses on
    // the overlaps of both sides' address groups (an address compared with
    // itself), in endpoint order.
    let mut units: Vec<(String, usize, usize)> = Vec::new();
    let external = |e: &Engine, i: usize| e.endpoint(i).kind == EndpointKind::External;
    for a in (0..engine.endpoints.len()).filter(|&a| !external(engine, a)) {
        if let Ok(a2) = after.find(&engine.endpoint(a).id) {
            units.push((engine.endpoint(a).id.clone(), a, a2));
        }
    }
    let group_ep = |e: &Engine, g: usize| {
        (0..e.endpoints.len()).find(|&i| external(e, i) && e.endpoint(i).addr_group == Some(g))
    };
    for o in engine.space.overlaps(&after.space) {
        if let (Some(a), Some(a2)) = (group_ep(engine, o.left), group_ep(&after, o.right)) {
            units.push((o.id(), a, a2));
        }
    }
    let order: Vec<usize> = {
        let mut v: Vec<usize> = (0..units.len()).collect();
        v.sort_by_key(|&u| (units[u].1, u));
        v
    };
    let mut also = Vec::new();
    let mut total = 0;
    for &x in &order {
        for &y in &order {
            let ((ida, a, a2), (idb, b, b2)) = (&units[x], &units[y]);
            if x == y || (*a == src && *b == dst) {
                continue;
            }
            let gained = after.allowed(*a2, *b2).difference(&engine.allowed(*a, *b));
            if !gained.is_empty() {
                total += 1;
                if also.len() < 20 {
                    also.push(format!("{ida} -> {idb}: {gained}"));
                }
            }
        }
    }
    (verified, also, total)
}

/// Checks up to `limit` proposals (for one in `stride` denied pairs, with and
/// without a port) of an input; returns how many there were.
fn compare(files: &[(String, String)], stride: usize, limit: usize) -> usize {
    let opts = LoadOptions::default();
    let mut sources = sources_of(files);
    let loaded = load(&mut sources, &opts).unwrap();
    let engine = Engine::new(&loaded.cluster);
    let eps: Vec<usize> = (0..engine.endpoints.len())
        .filter(|&e| engine.endpoint(e).kind != EndpointKind::External || e % 3 == 0)
        .collect();
    let mut proposals = 0;
    for (i, &s) in eps.iter().enumerate() {
        for (j, &d) in eps.iter().enumerate() {
            if s == d || (i * 7 + j * 3) % stride != 0 {
                continue;
            }
            let e = engine.endpoint(d);
            let port = e
                .model_index
                .filter(|_| e.is_pod_like())
                .and_then(|m| loaded.cluster.endpoints[m].ports.first())
                .map(|p| (p.port, p.protocol));
            for (port, protocol) in [
                (port.map(|p| p.0), port.map_or(Protocol::Tcp, |p| p.1)),
                (None, Protocol::Tcp),
            ] {
                let q = CheckQuery {
                    src: engine.endpoint(s).id.clone(),
                    dst: engine.endpoint(d).id.clone(),
                    port,
                    protocol,
                };
                let Ok(report) = check(&engine, &sources, &opts, &q) else {
                    continue;
                };
                let Some(p) = &report.proposal else { continue };
                let want = plain(&engine, &sources, &report);
                assert_eq!(
                    (p.verified, p.also_opens.clone(), p.also_opens_total),
                    want,
                    "{} -> {} {port:?}",
                    q.src,
                    q.dst
                );
                proposals += 1;
                if proposals >= limit {
                    return proposals;
                }
            }
        }
    }
    proposals
}

#[test]
fn examples() {
    for dir in ["shop", "guide", "guide-no-dns", "nodes"] {
        assert!(compare(&example(dir), 1, 80) > 0, "{dir}");
    }
}

#[test]
fn generated_clusters_with_pods_and_nodes() {
    for seed in 1..4 {
        let files = generate(&GenOptions {
            workloads: 30,
            policies: 12,
            seed,
            pods_per_workload: Some(2),
            nodes: 3,
            admin_policies: 0,
        });
        assert!(compare(&files, 5, 40) > 0);
        let files = generate(&GenOptions {
            workloads: 40,
            policies: 15,
            seed,
            pods_per_workload: None,
            nodes: 1,
            admin_policies: 0,
        });
        assert!(compare(&files, 5, 40) > 0);
    }
    // Many replicas: a fix for one pair opens dozens of others (more than the
    // 20 listed).
    let files = generate(&GenOptions {
        workloads: 8,
        policies: 6,
        seed: 5,
        pods_per_workload: Some(9),
        nodes: 2,
        admin_policies: 0,
    });
    assert!(compare(&files, 7, 40) > 0);
}
