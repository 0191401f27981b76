//! The two ways to the kernel (libnftables in-process, the `nft` binary) apply
//! the same transactions to the same table. Root and network namespaces;
//! skipped without them unless `NETFENCE_REQUIRE_LAB=1`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

use netfence_engine::Engine;
use netfence_model::{LoadOptions, Sources, load};
use netfence_nft::apply::{self, Target};
use netfence_nft::backend::Nft;
use netfence_nft::{CompileOptions, Ruleset, compile};

struct Netns(String);

impl Netns {
    fn new(tag: &str) -> Option<Netns> {
        let name = format!("nf-backend-{tag}-{}", std::process::id());
        let ok = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return Some(Netns(name));
        }
        assert!(
            std::env::var("NETFENCE_REQUIRE_LAB").as_deref() != Ok("1"),
            "NETFENCE_REQUIRE_LAB=1 but network namespaces are not available"
        );
        eprintln!("skipping: needs root and network namespaces");
        None
    }

    fn listing(&self) -> String {
        let out = Command::new("ip")
            .args([
                "netns", "exec", &self.0, "nft", "list", "table", "inet", "netfence",
            ])
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn ruleset(node: &str) -> Ruleset {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/nodes");
    let mut sources = Sources::default();
    for f in ["cluster.yaml", "policies.yaml"] {
        let p = dir.join(f);
        sources.add(
            p.display().to_string(),
            std::fs::read_to_string(&p).unwrap(),
        );
    }
    let cluster = load(&mut sources, &LoadOptions::default()).unwrap().cluster;
    let engine = Engine::new(&cluster);
    compile(
        &engine,
        &CompileOptions {
            node: Some(node.into()),
            ..CompileOptions::default()
        },
    )
    .ruleset
}

#[test]
fn library_and_binary_leave_the_same_table() {
    let (Some(lib_ns), Some(bin_ns)) = (Netns::new("lib"), Netns::new("bin")) else {
        return;
    };
    let mut lib = Nft::open(&Target::Netns(lib_ns.0.clone()));
    if let Some(why) = lib.fallback() {
        assert!(
            std::env::var("NETFENCE_REQUIRE_LAB").as_deref() != Ok("1"),
            "libnftables is not usable: {why}"
        );
        return;
    }
    assert_eq!(lib.backend(), "libnftables (in-process)");
    let mut bin = Nft::open_binary(&Target::Netns(bin_ns.0.clone()));
    // First apply, a change of node (a delta both ways), and back.
    for node in ["node-a", "node-b", "node-a"] {
        let desired = ruleset(node);
        let a = apply::enforce_with(&mut lib, &desired, false, None).unwrap();
        let b = apply::enforce_with(&mut bin, &desired, false, None).unwrap();
        assert_eq!(a.text(), b.text(), "both planned the same delta");
        assert!(!a.is_empty());
        assert_eq!(lib_ns.listing(), bin_ns.listing(), "after applying {node}");
        assert!(lib_ns.listing().contains("egress_pods4"));
        // Unchanged input: nothing to send, through either.
        assert!(
            apply::enforce_with(&mut lib, &desired, false, None)
                .unwrap()
                .is_empty()
        );
    }
    // A transaction the kernel refuses changes nothing, and says why.
    let before = lib_ns.listing();
    let mut plan = apply::plan(&ruleset("node-b"), None);
    plan.transaction
        .ops
        .push(netfence_nft::ruleset::Op::DeleteChain {
            name: "no_such_chain".into(),
        });
    let err = apply::execute_with(&mut lib, &plan)
        .unwrap_err()
        .to_string();
    assert!(err.contains("No such file or directory"), "{err}");
    assert_eq!(
        lib_ns.listing(),
        before,
        "a refused transaction left the table as it was"
    );
}

#[test]
fn a_missing_table_reads_as_none() {
    let Some(ns) = Netns::new("none") else {
        return;
    };
    let mut nft = Nft::open(&Target::Netns(ns.0.clone()));
    assert!(apply::read_applied_with(&mut nft).unwrap().is_none());
}
