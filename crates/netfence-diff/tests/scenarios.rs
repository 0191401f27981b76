//! Diffs asserted exactly: the guide's rollout step by step, equivalent
//! refactorings that must give no change, external ranges split differently on
//! each side, and replicas that change differently.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

mod common;

use common::{diff_engines, lines, load};
use netfence_diff::{Callout, Diff, FailOn, Reason};
use netfence_engine::Engine;

fn example(path: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(path),
    )
    .unwrap()
}

fn diff_texts(before: &[(&str, &str)], after: &[(&str, &str)]) -> Diff {
    let (sb, lb) = load(before);
    let (sa, la) = load(after);
    let (eb, ea) = (Engine::new(&lb.cluster), Engine::new(&la.cluster));
    diff_engines((&sb, &eb), (&sa, &ea))
}

fn callouts(d: &Diff) -> Vec<String> {
    d.callouts
        .iter()
        .map(|c| match c {
            Callout::ExternalExposure {
                destination,
                from,
                added,
                ..
            } => format!("external {destination} from {}: {added}", from.join(",")),
            Callout::CrossNamespace {
                destination,
                from,
                added,
                ..
            } => format!(
                "cross-namespace {destination} from {}: {added}",
                from.join(",")
            ),
            Callout::DnsBroken {
                pod,
                lost,
                isolated_by,
                only,
                ..
            } => format!(
                "dns {pod}{}: {lost} (isolated by {})",
                if only.is_empty() {
                    String::new()
                } else {
                    format!(" [{}]", only.join(","))
                },
                isolated_by.join(",")
            ),
            Callout::AdminDenyCloses {
                policy,
                rule,
                pairs,
                allowed_before_by,
                ..
            } => format!(
                "admin-deny {policy} {rule}: {} (allowed before by {})",
                pairs.join(","),
                allowed_before_by.join(",")
            ),
            Callout::DefaultDenyLost {
                namespace,
                direction,
                policies,
            } => format!(
                "default-deny lost {namespace} {}: {}",
                direction.as_str(),
                policies.join(",")
            ),
        })
        .collect()
}

/// The guide's cluster with the first `n` of its policies (default-deny-all,
/// allow-dns, api-allow-frontend), plus `extra` policies.
fn guide_step(n: usize, extra: &str) -> Diff2Input {
    let policies = example("examples/guide/policies.yaml");
    let docs: Vec<&str> = policies.split("\n---\n").collect();
    assert_eq!(docs.len(), 3, "the guide has three policies");
    let mut text = docs[..n].join("\n---\n");
    if !extra.is_empty() {
        text.push_str("\n---\n");
        text.push_str(extra);
    }
    Diff2Input {
        namespaces: example("examples/guide/namespaces.yaml"),
        workloads: example("examples/guide/workloads.yaml"),
        policies: text,
    }
}

struct Diff2Input {
    namespaces: String,
    workloads: String,
    policies: String,
}

impl Diff2Input {
    fn texts(&self) -> Vec<(&str, &str)> {
        vec![
            ("namespaces.yaml", self.namespaces.as_str()),
            ("workloads.yaml", self.workloads.as_str()),
            ("policies.yaml", self.policies.as_str()),
        ]
    }
}

fn guide_diff(from: usize, to: usize, extra_after: &str) -> Diff {
    let (b, a) = (guide_step(from, ""), guide_step(to, extra_after));
    diff_texts(&b.texts(), &a.texts())
}

#[test]
fn rollout_step_1_default_deny_cuts_everything_and_breaks_dns() {
    let d = guide_diff(0, 1, "");
    let api = "app/deployment/api";
    let fe = "app/deployment/frontend";
    let dns = "kube-system/deployment/coredns";
    // IPv4 and IPv6 change alike and read as one range.
    let ext = "0.0.0.0/0,::/0";
    let want: Vec<String> = [
        (api, ext),
        (api, fe),
        (api, dns),
        (fe, ext),
        (fe, api),
        (fe, dns),
        // External sources into app after app's own sources, then kube-system.
        (ext, api),
        (ext, fe),
        (dns, api),
        (dns, fe),
    ]
    .iter()
    .map(|(s, t)| format!("{s} -> {t}: -all"))
    .collect();
    assert_eq!(lines(&d), want);
    assert_eq!(
        callouts(&d),
        [
            "dns app/deployment/api: TCP 53; UDP 53 (isolated by app/default-deny-all)",
            "dns app/deployment/frontend: TCP 53; UDP 53 (isolated by app/default-deny-all)",
        ]
    );
    let postures: Vec<String> = d
        .default_deny
        .iter()
        .map(|p| {
            format!(
                "{} {} {:?} {}",
                p.namespace,
                p.direction.as_str(),
                p.change,
                p.policies.join(",")
            )
        })
        .collect();
    assert_eq!(
        postures,
        [
            "app ingress Gained app/default-deny-all",
            "app egress Gained app/default-deny-all"
        ]
    );
    assert!(d.appeared.is_empty() && d.disappeared.is_empty());
    assert_eq!((d.summary.added, d.summary.removed), (0, 10));
    assert!(d.fails(FailOn::Removed) && !d.fails(FailOn::Added) && d.fails(FailOn::Any));
    // Provenance: the egress denial names the policy and where it is.
    let c = &d.changes[0];
    assert_eq!(c.src, api);
    let json = serde_json::to_value(&c.why).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "before": [{"role": "not-isolated", "direction": "egress"}],
            "after": [{"role": "isolates", "policy": "app/default-deny-all", "direction": "egress",
                       "location": "policies.yaml:8:16"}],
        })
    );
}

#[test]
fn rollout_step_2_allow_dns_restores_dns_only() {
    let d = guide_diff(1, 2, "");
    assert_eq!(
        lines(&d),
        [
            "app/deployment/api -> kube-system/deployment/coredns: +TCP 53; +UDP 53",
            "app/deployment/frontend -> kube-system/deployment/coredns: +TCP 53; +UDP 53",
        ]
    );
    // Reaching DNS, which accepted everyone already, exposes nothing.
    assert!(callouts(&d).is_empty(), "{:?}", callouts(&d));
    assert!(d.default_deny.is_empty());
    let why = serde_json::to_value(&d.changes[0].why).unwrap();
    assert_eq!(why["before"][0]["policy"], "app/default-deny-all");
    assert_eq!(why["after"][0]["policy"], "app/allow-dns");
    assert_eq!(why["after"][0]["rule"], "spec.egress[0]");
    assert_eq!(why["after"][1]["role"], "not-isolated");
    assert!(d.fails(FailOn::Added) && !d.fails(FailOn::Removed));
}

#[test]
fn rollout_step_3_api_allow_frontend_changes_nothing_without_frontend_egress() {
    // The guide's gap: frontend's egress is isolated by default-deny-all and no
    // policy lets it out to api, so the new ingress rule opens nothing.
    let d = guide_diff(2, 3, "");
    assert!(d.is_empty(), "{:?}", lines(&d));
    assert!(!d.fails(FailOn::Any));
}

#[test]
fn rollout_step_4_frontend_egress_opens_8080_only() {
    let egress = "apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: frontend-to-api
  namespace: app
spec:
  podSelector:
    matchLabels:
      app: frontend
  policyTypes: [Egress]
  egress:
    - to:
        - podSelector:
            matchLabels:
              app: api
      ports:
        - protocol: TCP
          port: 8080
";
    let (b, a) = (guide_step(3, ""), guide_step(3, egress));
    let d = diff_texts(&b.texts(), &a.texts());
    assert_eq!(
        lines(&d),
        ["app/deployment/frontend -> app/deployment/api: +TCP 8080"]
    );
    // Same namespace: no callout.
    assert!(callouts(&d).is_empty());
    let why = serde_json::to_value(&d.changes[0].why).unwrap();
    assert_eq!(why["after"][0]["policy"], "app/frontend-to-api");
    assert_eq!(why["after"][1]["policy"], "app/api-allow-frontend");
}

#[test]
fn removing_the_guide_policies_reports_the_lost_default_deny() {
    let d = guide_diff(3, 0, "");
    assert_eq!(d.summary.added, 10);
    assert_eq!(
        callouts(&d),
        [
            "external app/deployment/api from 0.0.0.0/0, ::/0: all",
            "external app/deployment/frontend from 0.0.0.0/0, ::/0: all",
            "cross-namespace app/deployment/api from kube-system/deployment/coredns: all",
            "cross-namespace app/deployment/frontend from kube-system/deployment/coredns: all",
            "default-deny lost app ingress: app/default-deny-all",
            // allow-dns selects every pod and isolates egress too: by the
            // definition `report` uses, it was a default-deny as well.
            "default-deny lost app egress: app/allow-dns,app/default-deny-all",
        ]
    );
}

const PODS: &str = "apiVersion: v1
kind: Namespace
metadata: {name: app}
---
apiVersion: v1
kind: Namespace
metadata: {name: other, labels: {team: other}}
---
apiVersion: v1
kind: List
items:
  - {apiVersion: v1, kind: Pod, metadata: {name: web-1, namespace: app, labels: {app: web, tier: front}},
     spec: {nodeName: n1, containers: [{name: c, image: i, ports: [{name: http, containerPort: 8080}]}]},
     status: {podIP: 10.0.1.1}}
  - {apiVersion: v1, kind: Pod, metadata: {name: web-2, namespace: app, labels: {app: web, tier: front}},
     spec: {nodeName: n2, containers: [{name: c, image: i, ports: [{name: http, containerPort: 8080}]}]},
     status: {podIP: 10.0.2.1}}
  - {apiVersion: v1, kind: Pod, metadata: {name: db-1, namespace: app, labels: {app: db}},
     spec: {containers: [{name: c, image: i, ports: [{name: pg, containerPort: 5432}]}]},
     status: {podIP: 10.0.1.9}}
  - {apiVersion: v1, kind: Pod, metadata: {name: cli, namespace: other, labels: {app: cli}},
     spec: {containers: [{name: c, image: i}]},
     status: {podIP: 10.0.3.1}}
";

/// Two ingress rules for db, several peers and ports: the base of the
/// equivalent rewrites below.
const DB_POLICY: &str = "apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: db, namespace: app}
spec:
  podSelector:
    matchLabels: {app: db}
  policyTypes: [Ingress, Egress]
  ingress:
    - from:
        - podSelector:
            matchLabels: {app: web, tier: front}
        - namespaceSelector:
            matchLabels: {team: other}
          podSelector:
            matchLabels: {app: cli}
      ports:
        - {protocol: TCP, port: pg}
        - {protocol: TCP, port: 9000, endPort: 9010}
    - from:
        - ipBlock: {cidr: 192.0.2.0/24, except: [192.0.2.128/25]}
      ports:
        - {protocol: TCP, port: 5432}
  egress:
    - to:
        - ipBlock: {cidr: 10.0.0.0/8}
";

fn with_pods(policies: &str) -> Vec<(&'static str, String)> {
    vec![
        ("pods.yaml", PODS.to_string()),
        ("policies.yaml", policies.to_string()),
    ]
}

fn diff_policies(before: &str, after: &str) -> Diff {
    let (b, a) = (with_pods(before), with_pods(after));
    let bt: Vec<(&str, &str)> = b.iter().map(|(n, t)| (*n, t.as_str())).collect();
    let at: Vec<(&str, &str)> = a.iter().map(|(n, t)| (*n, t.as_str())).collect();
    diff_texts(&bt, &at)
}

#[test]
fn reordered_rules_peers_and_ports_give_no_change() {
    let reordered = "apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: db, namespace: app}
spec:
  policyTypes: [Egress, Ingress]
  egress:
    - to:
        - ipBlock: {cidr: 10.0.0.0/8}
  ingress:
    - ports:
        - {protocol: TCP, port: 5432}
      from:
        - ipBlock: {cidr: 192.0.2.0/24, except: [192.0.2.128/25]}
    - ports:
        - {protocol: TCP, port: 9000, endPort: 9010}
        - {protocol: TCP, port: pg}
      from:
        - podSelector:
            matchLabels: {app: cli}
          namespaceSelector:
            matchLabels: {team: other}
        - podSelector:
            matchLabels: {tier: front, app: web}
  podSelector:
    matchLabels: {app: db}
";
    let d = diff_policies(DB_POLICY, reordered);
    assert!(d.is_empty(), "{:?}", lines(&d));
}

#[test]
fn a_policy_split_in_two_gives_no_change() {
    let split = "apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: db-from-pods, namespace: app}
spec:
  podSelector:
    matchLabels: {app: db}
  policyTypes: [Ingress]
  ingress:
    - from:
        - podSelector:
            matchLabels: {app: web, tier: front}
      ports:
        - {protocol: TCP, port: pg}
        - {protocol: TCP, port: 9000, endPort: 9010}
    - from:
        - namespaceSelector:
            matchLabels: {team: other}
          podSelector:
            matchLabels: {app: cli}
      ports:
        - {protocol: TCP, port: pg}
        - {protocol: TCP, port: 9000, endPort: 9010}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: db-from-partner-and-out, namespace: app}
spec:
  podSelector:
    matchLabels: {app: db}
  policyTypes: [Ingress, Egress]
  ingress:
    - from:
        - ipBlock: {cidr: 192.0.2.0/24, except: [192.0.2.128/25]}
      ports:
        - {protocol: TCP, port: 5432}
  egress:
    - to:
        - ipBlock: {cidr: 10.0.0.0/9}
        - ipBlock: {cidr: 10.128.0.0/9}
";
    let d = diff_policies(DB_POLICY, split);
    assert!(d.is_empty(), "{:?}", lines(&d));
}

#[test]
fn match_labels_as_match_expressions_in_gives_no_change() {
    let expressions = DB_POLICY
        .replace(
            "matchLabels: {app: web, tier: front}",
            "matchExpressions: [{key: app, operator: In, values: [web]}, {key: tier, operator: In, values: [front, never]}]",
        )
        .replace(
            "matchLabels: {team: other}",
            "matchExpressions: [{key: team, operator: In, values: [other]}]",
        );
    assert_ne!(expressions, DB_POLICY);
    let d = diff_policies(DB_POLICY, &expressions);
    assert!(d.is_empty(), "{:?}", lines(&d));
}

#[test]
fn a_real_change_next_to_the_refactorings_is_found() {
    // The control for the three tests above: the same comparison sees a port.
    let changed = DB_POLICY.replace("port: 9000, endPort: 9010", "port: 9000, endPort: 9011");
    let d = diff_policies(DB_POLICY, &changed);
    assert_eq!(
        lines(&d),
        [
            "app/web-1 -> app/db-1: +TCP 9011",
            "app/web-2 -> app/db-1: +TCP 9011",
            "other/cli -> app/db-1: +TCP 9011",
        ]
    );
    // other/cli was already allowed in on other ports: not newly reachable, but
    // its ingress refused 9011 before, so the callout names it.
    assert_eq!(
        callouts(&d),
        ["cross-namespace app/db-1 from other/cli: TCP 9011"]
    );
}

#[test]
fn consistent_label_renames_give_no_change_on_the_shop() {
    let rename = |text: &str| -> String {
        text.lines()
            .map(|l| {
                let indent = l.len() - l.trim_start().len();
                match l.trim_start().strip_prefix("app: ") {
                    Some(v) => format!("{}app.kubernetes.io/name: {v}", &l[..indent]),
                    None => l.to_string(),
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    let ns = example("examples/shop/namespaces.yaml");
    let wl = example("examples/shop/workloads.yaml");
    let pol = example("examples/shop/policies.yaml");
    let (wl2, pol2) = (rename(&wl), rename(&pol));
    assert!(pol2.contains("app.kubernetes.io/name: payments-api"));
    let before = [
        ("n.yaml", ns.as_str()),
        ("w.yaml", wl.as_str()),
        ("p.yaml", pol.as_str()),
    ];
    let after = [
        ("n.yaml", ns.as_str()),
        ("w.yaml", wl2.as_str()),
        ("p.yaml", pol2.as_str()),
    ];
    let d = diff_texts(&before, &after);
    assert!(d.is_empty(), "{:?}", lines(&d));
    // Renaming on one side only is a change.
    let half = [
        ("n.yaml", ns.as_str()),
        ("w.yaml", wl.as_str()),
        ("p.yaml", pol2.as_str()),
    ];
    assert!(!diff_texts(&before, &half).is_empty());
}

#[test]
fn shop_match_expressions_everywhere_give_no_change() {
    // Every matchLabels block of the shop's policies rewritten as In expressions.
    let pol = example("examples/shop/policies.yaml");
    let mut out: Vec<String> = Vec::new();
    let mut in_block: Option<usize> = None;
    for l in pol.lines() {
        let indent = l.len() - l.trim_start().len();
        if let Some(block) = in_block {
            if indent > block && l.trim_start().contains(": ") {
                let (k, v) = l.trim_start().split_once(": ").unwrap();
                out.push(format!(
                    "{}- {{key: {k}, operator: In, values: [{v}]}}",
                    " ".repeat(block + 2)
                ));
                continue;
            }
            in_block = None;
        }
        if l.trim_start() == "matchLabels:" {
            in_block = Some(indent);
            out.push(format!("{}matchExpressions:", " ".repeat(indent)));
        } else {
            out.push(l.to_string());
        }
    }
    let pol2 = out.join("\n");
    assert!(!pol2.contains("matchLabels"));
    let ns = example("examples/shop/namespaces.yaml");
    let wl = example("examples/shop/workloads.yaml");
    let d = diff_texts(
        &[("n.yaml", &ns), ("w.yaml", &wl), ("p.yaml", &pol)],
        &[("n.yaml", &ns), ("w.yaml", &wl), ("p.yaml", &pol2)],
    );
    assert!(d.is_empty(), "{:?}", lines(&d));
}

#[test]
fn external_ranges_compare_on_the_common_refinement() {
    // Before: db may answer the whole partner /24; after: only its lower half.
    let narrowed = DB_POLICY.replace(
        "{cidr: 192.0.2.0/24, except: [192.0.2.128/25]}",
        "{cidr: 192.0.2.0/25, except: [192.0.2.0/26]}",
    );
    let d = diff_policies(DB_POLICY, &narrowed);
    assert_eq!(lines(&d), ["192.0.2.0/26 -> app/db-1: -TCP 5432"]);
    // Widening to the whole /24 is an exposure, on exactly the new half.
    let widened = DB_POLICY.replace(
        "{cidr: 192.0.2.0/24, except: [192.0.2.128/25]}",
        "{cidr: 192.0.2.0/24}",
    );
    let d = diff_policies(DB_POLICY, &widened);
    assert_eq!(lines(&d), ["192.0.2.128/25 -> app/db-1: +TCP 5432"]);
    assert_eq!(
        callouts(&d),
        ["external app/db-1 from 192.0.2.128/25: TCP 5432"]
    );
}

/// IPv4 minus 10.0.1.0/24, as the engine writes an address group.
fn outside_10_0_1() -> String {
    [
        "0.0.0.0/5",
        "8.0.0.0/7",
        "10.0.0.0/24",
        "10.0.2.0/23",
        "10.0.4.0/22",
        "10.0.8.0/21",
        "10.0.16.0/20",
        "10.0.32.0/19",
        "10.0.64.0/18",
        "10.0.128.0/17",
        "10.1.0.0/16",
        "10.2.0.0/15",
        "10.4.0.0/14",
        "10.8.0.0/13",
        "10.16.0.0/12",
        "10.32.0.0/11",
        "10.64.0.0/10",
        "10.128.0.0/9",
        "11.0.0.0/8",
        "12.0.0.0/6",
        "16.0.0.0/4",
        "32.0.0.0/3",
        "64.0.0.0/2",
        "128.0.0.0/1",
    ]
    .join(",")
}

#[test]
fn replicas_that_change_differently_say_which_pods() {
    // An ipBlock that matches web-1's IP only: the web workload's pods split.
    let pods = PODS.replace("name: web-1, namespace: app", "name: web-1, namespace: app, ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: web-5d4f, uid: u, controller: true}]")
        .replace("name: web-2, namespace: app", "name: web-2, namespace: app, ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: web-5d4f, uid: u, controller: true}]");
    let allow = "apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: db, namespace: app}
spec:
  podSelector:
    matchLabels: {app: db}
  ingress:
    - from:
        - ipBlock: {cidr: 10.0.1.0/24}
";
    let d = diff_texts(
        &[("pods.yaml", &pods)],
        &[("pods.yaml", &pods), ("policy.yaml", allow)],
    );
    assert_eq!(
        lines(&d),
        [
            "app/replicaset/web-5d4f -> app/db-1: -all [only app/web-2 -> app/db-1]",
            &format!("{},::/0 -> app/db-1: -all", outside_10_0_1()),
            // The input has no DNS pods: netfence assumes a synthetic one.
            "kube-system/synthetic/cluster-dns -> app/db-1: -all",
            "other/cli -> app/db-1: -all",
        ]
    );
}

#[test]
fn appearing_and_disappearing_endpoints_are_listed_not_compared() {
    let fewer = PODS.replace(
        "  - {apiVersion: v1, kind: Pod, metadata: {name: cli, namespace: other, labels: {app: cli}},
     spec: {containers: [{name: c, image: i}]},
     status: {podIP: 10.0.3.1}}
",
        "",
    );
    let d = diff_texts(&[("pods.yaml", PODS)], &[("pods.yaml", &fewer)]);
    assert!(d.changes.is_empty(), "{:?}", lines(&d));
    let gone: Vec<&str> = d.disappeared.iter().map(|e| e.group.as_str()).collect();
    assert_eq!(gone, ["other/cli"]);
    assert!(d.appeared.is_empty());
    assert!(d.fails(FailOn::Any) && !d.fails(FailOn::Added) && !d.fails(FailOn::Removed));
}

/// A pod may always reach its own node, so opening egress to a node's address
/// changes nothing for the pods on that node. Each pod being its own output
/// group (no owner) once hid this: one pod's decision stood for pods on other
/// nodes.
#[test]
fn egress_to_a_node_changes_nothing_for_pods_on_that_node() {
    let cluster = example("examples/nodes/cluster.yaml");
    let policies = example("examples/nodes/policies.yaml");
    let to_node_b = "apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: to-node-b, namespace: app}
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress:
  - to: [{ipBlock: {cidr: 192.168.10.12/32}}]
    ports: [{protocol: UDP, port: 53}]
";
    let d = diff_texts(
        &[("cluster.yaml", &cluster), ("policies.yaml", &policies)],
        &[
            ("cluster.yaml", &cluster),
            ("policies.yaml", &policies),
            ("to-node-b.yaml", to_node_b),
        ],
    );
    let to_node: Vec<String> = lines(&d)
        .into_iter()
        .filter(|l| l.contains("-> node:node-b"))
        .collect();
    // Only the pods on node-a gain; api-5c6b7-pqrst and frontend-7d9f8-fghij
    // run on node-b.
    assert_eq!(
        to_node,
        [
            "app/api-5c6b7-klmno -> node:node-b: +UDP 53",
            "app/frontend-7d9f8-abcde -> node:node-b: +UDP 53",
        ]
    );
}

/// The cluster-wide default-deny example with its admin policies replaced.
fn cluster_default_deny(admin: &str) -> Vec<(&'static str, String)> {
    vec![
        (
            "namespaces.yaml",
            example("examples/cluster-default-deny/namespaces.yaml"),
        ),
        (
            "workloads.yaml",
            example("examples/cluster-default-deny/workloads.yaml"),
        ),
        (
            "policies.yaml",
            example("examples/cluster-default-deny/policies.yaml"),
        ),
        ("admin.yaml", admin.to_string()),
    ]
}

fn diff_admin(before: &str, after: &str) -> Diff {
    let (b, a) = (cluster_default_deny(before), cluster_default_deny(after));
    let b: Vec<(&str, &str)> = b.iter().map(|(n, t)| (*n, t.as_str())).collect();
    let a: Vec<(&str, &str)> = a.iter().map(|(n, t)| (*n, t.as_str())).collect();
    diff_texts(&b, &a)
}

/// Two Admin policies on the web tier's ingress from batch: a Deny and an Accept.
fn deny_and_accept(deny_priority: u32, accept_priority: u32) -> String {
    format!(
        "
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {{name: batch-denied}}
spec:
  tier: Admin
  priority: {deny_priority}
  subject: {{namespaces: {{matchLabels: {{kubernetes.io/metadata.name: frontend}}}}}}
  ingress:
    - name: no-batch
      action: Deny
      from: [{{namespaces: {{matchLabels: {{kubernetes.io/metadata.name: batch}}}}}}]
---
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {{name: batch-allowed}}
spec:
  tier: Admin
  priority: {accept_priority}
  subject: {{namespaces: {{matchLabels: {{kubernetes.io/metadata.name: frontend}}}}}}
  ingress:
    - name: batch-in
      action: Accept
      from: [{{namespaces: {{matchLabels: {{kubernetes.io/metadata.name: batch}}}}}}]
"
    )
}

#[test]
fn a_priority_change_that_reorders_admin_policies_names_both() {
    // Accept first (20 < 30), then the Deny moves to 10 and comes first.
    let d = diff_admin(&deny_and_accept(30, 20), &deny_and_accept(10, 20));
    let moved: Vec<String> = d
        .admin_policies
        .iter()
        .map(|a| {
            format!(
                "{} {:?} {:?}->{:?} before:{:?} after:{:?}",
                a.policy, a.change, a.priority_before, a.priority_after, a.now_before, a.now_after
            )
        })
        .collect();
    assert_eq!(
        moved,
        [
            "ClusterNetworkPolicy/batch-denied Moved Some(30)->Some(10) \
             before:[\"ClusterNetworkPolicy/batch-allowed\"] after:[]"
        ]
    );
    // An Admin Accept is final for ingress: it allowed more than web's
    // NetworkPolicy (TCP 8080), and the Deny now takes all of it.
    assert_eq!(
        lines(&d),
        ["batch/deployment/worker -> frontend/deployment/web: -all"]
    );
    let change = &d.changes[0];
    assert!(
        matches!(
            &change.why.before[..],
            [Reason::NotIsolated { .. }, Reason::Admin { policy, action, .. }] if policy == "ClusterNetworkPolicy/batch-allowed" && action == "Accept"
        ),
        "{:?}",
        change.why.before
    );
    assert!(
        matches!(
            &change.why.after[..],
            [Reason::Admin { policy, action, priority: Some(10), .. }] if policy == "ClusterNetworkPolicy/batch-denied" && action == "Deny"
        ),
        "{:?}",
        change.why.after
    );
    // It was an admin Accept, not a NetworkPolicy, that allowed it before.
    assert_eq!(callouts(&d), Vec::<String>::new());
}

#[test]
fn an_admin_deny_that_closes_network_policy_flows_is_called_out() {
    let deny = "
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: batch-denied}
spec:
  tier: Admin
  priority: 5
  subject: {namespaces: {}}
  ingress:
    - name: no-batch
      action: Deny
      from: [{namespaces: {matchLabels: {kubernetes.io/metadata.name: batch}}}]
";
    let none = "apiVersion: v1\nkind: Namespace\nmetadata: {name: extra}\n";
    let d = diff_admin(none, &format!("{none}---\n{deny}"));
    assert_eq!(
        callouts(&d)[0],
        "admin-deny ClusterNetworkPolicy/batch-denied spec.ingress[0]: \
         batch/deployment/worker -> frontend/deployment/web (allowed before by frontend/web)"
    );
    assert_eq!(d.admin_policies.len(), 1);
    assert_eq!(
        d.admin_policies[0].change,
        netfence_diff::AdminChangeKind::Added
    );
    assert_eq!(d.summary.admin_policies, 1);
}

#[test]
fn inputs_without_admin_policies_serialize_as_before() {
    let d = guide_diff(0, 1, "");
    let json = serde_json::to_value(&d).unwrap();
    assert!(json.get("admin_policies").is_none());
    assert!(json["summary"].get("admin_policies").is_none());
}
