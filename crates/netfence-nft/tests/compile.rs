//! The compiler's output: safe against hostile names, and loadable by nft.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

use netfence_engine::Engine;
use netfence_model::{Cluster, LoadOptions, Sources, load};
use netfence_nft::{CompileOptions, compile};

fn conformance(policy: &str) -> Cluster {
    let model =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/conformance/_model.yaml");
    let mut sources = Sources::default();
    sources.add(
        model.display().to_string(),
        std::fs::read_to_string(&model).unwrap(),
    );
    let id = sources.add("policy.yaml".into(), policy.into());
    sources.files[id.0 as usize].overlay = true;
    load(&mut sources, &LoadOptions::default()).unwrap().cluster
}

const POLICIES: &str = r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-y, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Ingress, Egress]
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {ns: "y"}}
    ports: [{port: serve-80-tcp}]
  egress:
  - to:
    - ipBlock: {cidr: 10.0.0.0/8, except: [10.244.2.0/24]}
    ports: [{protocol: UDP, port: 53}, {port: 8000, endPort: 9000}]
"#;

fn without_comments(text: &str) -> String {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .map(|l| match l.find(" comment \"") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Names Kubernetes would reject, but that a buggy or hostile loader could let
/// through: quotes, braces, newlines, semicolons, and 253 characters.
fn hostile(i: usize) -> String {
    format!(
        "evil{i}\"; flush ruleset; }}\n{{ chain x {{ accept; }}\r#{}",
        "n".repeat(253)
    )
}

#[test]
fn hostile_names_change_nothing_but_comments() {
    let benign = conformance(POLICIES);
    let mut evil = benign.clone();
    for (i, ns) in evil.namespaces.iter_mut().enumerate() {
        let new = hostile(i);
        for e in evil.endpoints.iter_mut().filter(|e| e.namespace == ns.name) {
            e.namespace = new.clone();
        }
        for p in evil.policies.iter_mut().filter(|p| p.namespace == ns.name) {
            p.namespace = new.clone();
        }
        ns.name = new;
    }
    for (i, e) in evil.endpoints.iter_mut().enumerate() {
        e.name = hostile(100 + i);
        e.id = format!("{}/{}", e.namespace, e.name);
    }
    for (i, p) in evil.policies.iter_mut().enumerate() {
        p.name = hostile(200 + i);
    }
    let opts = CompileOptions::default();
    let a = compile(&Engine::new(&benign), &opts);
    let b = compile(&Engine::new(&evil), &opts);
    assert_eq!(a.pods.len(), b.pods.len());
    let (ta, tb) = (a.to_nft(), b.to_nft());
    assert_eq!(without_comments(&ta), without_comments(&tb));
    // The names did reach the header comments, one line each, defanged.
    let header: Vec<&str> = tb.lines().take_while(|l| l.starts_with('#')).collect();
    assert_eq!(header.len(), b.pods.len() + 1);
    for line in &header[1..] {
        assert!(line.contains("evil"), "{line}");
        assert!(!line.contains(['"', ';', '{', '}', '\r']), "{line}");
    }
    assert_eq!(ta.lines().count(), tb.lines().count());
}

#[test]
fn every_allow_element_has_its_policy() {
    let cluster = conformance(POLICIES);
    let compiled = compile(&Engine::new(&cluster), &CompileOptions::default());
    let ingress: Vec<_> = compiled
        .provenance
        .iter()
        .filter(|o| o.direction == "ingress")
        .collect();
    assert!(!ingress.is_empty());
    assert!(
        ingress
            .iter()
            .all(|o| o.allowed_by == ["x/allow-y ingress[0]"])
    );
    // Named port resolved on the destination: only TCP 80 is opened.
    assert!(
        ingress.iter().all(|o| o.element.ends_with(". tcp . 80")),
        "{ingress:?}"
    );
    let egress: Vec<_> = compiled
        .provenance
        .iter()
        .filter(|o| o.direction == "egress")
        .collect();
    // The except range is carved out of the ipBlock: no element covers y's pods.
    assert!(
        egress.iter().all(|o| !o.element.starts_with("10.244.2.")),
        "{egress:?}"
    );
    assert!(egress.iter().any(|o| o.element.contains("udp . 53")));
    assert!(egress.iter().any(|o| o.element.contains("tcp . 8000-9000")));
}

fn root_netns() -> Option<String> {
    let name = format!("netfence-test-{}", std::process::id());
    let ok = Command::new("ip")
        .args(["netns", "add", &name])
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        Some(name)
    } else if std::env::var("NETFENCE_REQUIRE_LAB").as_deref() == Ok("1") {
        panic!("NETFENCE_REQUIRE_LAB=1 but `ip netns add` failed");
    } else {
        eprintln!("skipping: needs root and network namespaces");
        None
    }
}

struct Netns(String);
impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn nft_in(ns: &str, args: &[&str], stdin: &str) -> (bool, String) {
    use std::io::Write;
    let mut child = Command::new("ip")
        .args(["netns", "exec", ns, "nft"])
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn nft_accepts_the_text_and_the_json() {
    let Some(ns) = root_netns() else { return };
    let ns = Netns(ns);
    let cluster = conformance(POLICIES);
    let compiled = compile(&Engine::new(&cluster), &CompileOptions::default());
    let (ok, err) = nft_in(&ns.0, &["-f", "-"], &compiled.to_nft());
    assert!(ok, "{err}");
    let (_, listed_text) = nft_in(&ns.0, &["-j", "list", "table", "inet", "netfence"], "");
    nft_in(&ns.0, &["delete", "table", "inet", "netfence"], "");

    // libnftables 1.0.6 cannot read the `dynamic` set flag from JSON (later
    // versions can): load the JSON without the dynamic sets and their users.
    let mut json = compiled.ruleset.to_json();
    let items = json["nftables"].as_array_mut().unwrap();
    let is_dynamic = |i: &serde_json::Value| {
        i["set"]["flags"]
            .as_array()
            .is_some_and(|f| f.iter().any(|x| x == "dynamic"))
    };
    let dynamic_refs: Vec<String> = items
        .iter()
        .filter(|i| is_dynamic(i))
        .map(|i| format!("\"@{}\"", i["set"]["name"].as_str().unwrap()))
        .collect();
    items.retain(|i| {
        let uses_dynamic = i["rule"]["expr"].as_array().is_some_and(|e| {
            e.iter().any(|x| x.get("set").is_some())
                || dynamic_refs
                    .iter()
                    .any(|r| e.iter().any(|x| x.to_string().contains(r)))
        });
        !is_dynamic(i) && !uses_dynamic
    });
    let (ok, err) = nft_in(&ns.0, &["-j", "-f", "-"], &json.to_string());
    assert!(ok, "{err}");
    let (_, listed_json) = nft_in(&ns.0, &["-j", "list", "table", "inet", "netfence"], "");
    // Same chains and same elements in every set they share.
    let names = |listing: &str, kind: &str| -> Vec<String> {
        let v: serde_json::Value = serde_json::from_str(listing).unwrap();
        let mut n: Vec<String> = v["nftables"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|i| i.get(kind))
            .map(|o| format!("{}{}", o["name"], o["elem"]))
            .collect();
        n.sort();
        n
    };
    assert_eq!(names(&listed_text, "chain"), names(&listed_json, "chain"));
    let json_sets = names(&listed_json, "set");
    let text_sets: Vec<String> = names(&listed_text, "set")
        .into_iter()
        // Dynamic sets (records and their rate meters) are left out of the JSON path.
        .filter(|s| !s.contains("drops") && !s.contains("spoofed_rate"))
        .collect();
    assert_eq!(text_sets, json_sets);
    assert_eq!(names(&listed_text, "map"), names(&listed_json, "map"));
}
