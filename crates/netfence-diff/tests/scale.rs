//! 2,000 pods on 10 nodes (every replica of a workload on its own node, so
//! splitting by node would make every pod its own group): the diff is decided
//! per class pair and stays fast, and its answer is exact.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fmt::Write as _;
use std::time::{Duration, Instant};

mod common;

use common::{diff_engines, lines, load};
use netfence_diff::Callout;
use netfence_engine::Engine;

/// 20 namespaces × 10 workloads × 10 replicas. `change` drops allow-dns in ns3
/// and moves app2's egress port in ns5 from 8080 to 8081.
fn cluster(change: bool) -> String {
    let mut out = String::new();
    let mut doc = |text: String| {
        out.push_str(&text);
        out.push_str("\n---\n");
    };
    doc("apiVersion: v1\nkind: Namespace\nmetadata: {name: kube-system}".into());
    doc("apiVersion: v1\nkind: Pod\nmetadata: {name: coredns-0, namespace: kube-system, labels: {k8s-app: kube-dns}}\nspec: {nodeName: node-0, containers: [{name: c, image: i, ports: [{name: dns, containerPort: 53, protocol: UDP}]}]}\nstatus: {podIP: 10.1.0.2}".into());
    for n in 0..10 {
        doc(format!(
            "apiVersion: v1\nkind: Node\nmetadata: {{name: node-{n}}}\nstatus: {{addresses: [{{type: InternalIP, address: 192.168.0.{}}}]}}",
            n + 1
        ));
    }
    let mut ip = 10u32;
    for ns in 0..20 {
        doc(format!(
            "apiVersion: v1\nkind: Namespace\nmetadata: {{name: ns{ns}, labels: {{team: t{}}}}}",
            ns % 4
        ));
        doc(format!(
            "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: default-deny, namespace: ns{ns}}}\nspec: {{podSelector: {{}}, policyTypes: [Ingress, Egress]}}"
        ));
        if !(change && ns == 3) {
            doc(format!(
                "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: allow-dns, namespace: ns{ns}}}\nspec: {{podSelector: {{}}, policyTypes: [Egress], egress: [{{to: [{{namespaceSelector: {{matchLabels: {{kubernetes.io/metadata.name: kube-system}}}}, podSelector: {{matchLabels: {{k8s-app: kube-dns}}}}}}], ports: [{{protocol: UDP, port: 53}}, {{protocol: TCP, port: 53}}]}}]}}"
            ));
        }
        for app in 0..10 {
            let port = if change && ns == 5 && app == 2 {
                8081
            } else {
                8080
            };
            let mut p = String::new();
            let _ = write!(
                p,
                "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: app{app}, namespace: ns{ns}}}\nspec:\n  podSelector: {{matchLabels: {{app: app{app}}}}}\n  policyTypes: [Ingress, Egress]\n  ingress: [{{from: [{{podSelector: {{matchLabels: {{app: app{}}}}}}}, {{namespaceSelector: {{matchLabels: {{team: t{}}}}}, podSelector: {{matchLabels: {{app: app{app}}}}}}}], ports: [{{protocol: TCP, port: http}}]}}]\n  egress: [{{to: [{{podSelector: {{matchLabels: {{app: app{}}}}}}}], ports: [{{protocol: TCP, port: {port}}}]}}, {{to: [{{ipBlock: {{cidr: 203.0.{app}.0/24}}}}]}}]",
                (app + 9) % 10,
                ns % 4,
                (app + 1) % 10
            );
            doc(p);
            for r in 0..10 {
                ip += 1;
                doc(format!(
                    "apiVersion: v1\nkind: Pod\nmetadata: {{name: app{app}-{r}, namespace: ns{ns}, labels: {{app: app{app}}}, ownerReferences: [{{apiVersion: apps/v1, kind: ReplicaSet, name: app{app}-abc, uid: u, controller: true}}]}}\nspec: {{nodeName: node-{r}, containers: [{{name: c, image: i, ports: [{{name: http, containerPort: 8080}}]}}]}}\nstatus: {{podIP: 10.{}.{}.1}}",
                    2 + ip / 250,
                    ip % 250
                ));
            }
        }
    }
    out
}

#[test]
fn two_thousand_pods_are_compared_per_class_pair() {
    let (before, after) = (cluster(false), cluster(true));
    let (sb, lb) = load(&[("before.yaml", &before)]);
    let (sa, la) = load(&[("after.yaml", &after)]);
    assert_eq!(lb.cluster.endpoints.len(), 2001);
    let (eb, ea) = (Engine::new(&lb.cluster), Engine::new(&la.cluster));
    let start = Instant::now();
    let d = diff_engines((&sb, &eb), (&sa, &ea));
    let took = start.elapsed();
    eprintln!("diff of 2,000 pods: {took:?}");
    let mut want: Vec<String> = (0..10)
        .map(|a| format!("ns3/replicaset/app{a}-abc -> kube-system/coredns-0: -TCP 53; -UDP 53"))
        .collect();
    want.push("ns5/replicaset/app2-abc -> ns5/replicaset/app3-abc: -TCP 8080".into());
    assert_eq!(lines(&d), want);
    assert!(d.changes.iter().all(|c| c.only.is_empty()));
    let dns: Vec<&str> = d
        .callouts
        .iter()
        .filter_map(|c| match c {
            Callout::DnsBroken { pod, only, .. } if only.is_empty() => Some(pod.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(dns.len(), 10, "{:?}", d.callouts);
    assert_eq!(d.callouts.len(), 10);
    // Per pod pair this is 4 million decisions per side; per class pair it is a
    // blink. The bound is loose for a shared, unoptimised test build.
    assert!(took < Duration::from_secs(10), "diff took {took:?}");
}
