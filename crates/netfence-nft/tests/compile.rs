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

/// A pod reaching its own node is out of the NetworkPolicy tier but still
/// judged by the admin tiers: the input hook sends the pods an admin policy
/// judges to a chain that denies what the admin Deny denies on the node's
/// addresses. Pods no admin policy judges keep the plain accept.
#[test]
fn admin_rules_judge_a_pods_traffic_to_its_own_node() {
    let base = "apiVersion: v1
kind: Node
metadata: {name: node-1}
status: {addresses: [{type: InternalIP, address: 192.168.0.1}]}
---
apiVersion: v1
kind: Namespace
metadata: {name: app}
---
apiVersion: v1
kind: Namespace
metadata: {name: other}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: app}
spec: {nodeName: node-1, containers: [{name: c, image: x}]}
status: {podIP: 10.0.0.5}
---
apiVersion: v1
kind: Pod
metadata: {name: free, namespace: other}
spec: {nodeName: node-1, containers: [{name: c, image: x}]}
status: {podIP: 10.0.0.6}
";
    let deny = "---
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: no-kubelet}
spec:
  tier: Admin
  priority: 1
  subject: {namespaces: {matchLabels: {kubernetes.io/metadata.name: app}}}
  egress:
  - name: deny-kubelet
    action: Deny
    to: [{nodes: {}}]
    protocols: [{tcp: {destinationPort: {number: 10250}}}]
";
    let ruleset = |text: String| {
        let mut sources = Sources::default();
        sources.add("c.yaml".into(), text);
        let cluster = load(&mut sources, &LoadOptions::default()).unwrap().cluster;
        let opts = CompileOptions {
            node: Some("node-1".into()),
            ..CompileOptions::default()
        };
        compile(&Engine::new(&cluster), &opts).ruleset
    };
    let plain = ruleset(base.to_string());
    assert!(!plain.to_nft().contains("to_own_node"));
    let judged = ruleset(format!("{base}{deny}"));
    let text = judged.to_nft();
    let map = &judged.sets["to_own_node_pods4"];
    assert_eq!(map.elements.len(), 1, "only app/web is judged:\n{text}");
    assert!(
        map.elements[0].text().starts_with("10.0.0.5 : goto o_"),
        "{text}"
    );
    let (name, chain) = judged
        .chains
        .iter()
        .find(|(n, _)| n.starts_with("o_"))
        .unwrap();
    let rules: Vec<String> = chain.rules.iter().map(|r| r.text()).collect();
    // Allowed to the node: every TCP port but 10250 (and the rest): accept.
    let allow_set = rules[0]
        .split('@')
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap();
    let allowed: Vec<String> = judged.sets[allow_set]
        .elements
        .iter()
        .map(|e| e.text())
        .collect();
    assert!(
        allowed.contains(&"192.168.0.1 . tcp . 0-10249".to_string()),
        "{allowed:?}"
    );
    assert!(
        allowed.contains(&"192.168.0.1 . tcp . 10251-65535".to_string()),
        "{allowed:?}"
    );
    assert!(
        !allowed.iter().any(|e| e.contains("tcp . 10250")),
        "{allowed:?}"
    );
    assert!(
        rules.iter().any(|r| r.contains("goto deny_egress_")),
        "{name}: {rules:?}"
    );
    // The input hook asks the map before the node's plain accept.
    let input = judged
        .chains
        .values()
        .find(|c| c.hook.is_some() && c.rules.iter().any(|r| r.text().contains("to_own_node")))
        .unwrap();
    let texts: Vec<String> = input.rules.iter().map(|r| r.text()).collect();
    let vmap = texts
        .iter()
        .position(|t| t.contains("to_own_node_pods4"))
        .unwrap();
    let accept = texts.iter().position(|t| t.contains("@node4_")).unwrap();
    assert!(vmap < accept, "{texts:?}");
}
