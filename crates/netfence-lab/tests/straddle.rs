//! Packets that straddle a commit. The kernel runs a packet through the rules
//! of the generation it saw entering a base chain, but looks map elements up
//! in the generation current at the lookup; a change that adds a chain and
//! points a map entry at it in one transaction lets such a packet into a chain
//! with no rules in its generation, and out through the base chain's policy
//! (accept). Here pod a's egress chain is replaced back and forth while a
//! floods pod b with UDP that both rulesets deny: not one datagram may arrive.
//! Root; skipped unless the lab can run (a failure with NETFENCE_REQUIRE_LAB=1).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use netfence_lab::Lab;
use netfence_model::{Cluster, LoadOptions, Sources, load};

fn lab_available() -> bool {
    match netfence_lab::check_capabilities() {
        Ok(()) => true,
        Err(e) if std::env::var("NETFENCE_REQUIRE_LAB").as_deref() == Ok("1") => {
            panic!("NETFENCE_REQUIRE_LAB=1 but the lab cannot run: {e}")
        }
        Err(e) => {
            eprintln!("skipping: {e}");
            false
        }
    }
}

const PODS: &str = "apiVersion: v1
kind: Namespace
metadata: {name: app}
---
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: app, labels: {app: a}}
spec: {nodeName: node-1, containers: [{name: c, image: x, ports: [{containerPort: 80}]}]}
status: {podIP: 10.0.0.1}
---
apiVersion: v1
kind: Pod
metadata: {name: b, namespace: app, labels: {app: b}}
spec: {nodeName: node-1, containers: [{name: c, image: x, ports: [{containerPort: 80}]}]}
status: {podIP: 10.0.0.2}
---
apiVersion: v1
kind: Pod
metadata: {name: c, namespace: app, labels: {app: c}}
spec: {nodeName: node-1, containers: [{name: c, image: x, ports: [{containerPort: 80}]}]}
status: {podIP: 10.0.0.3}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: default-deny, namespace: app}
spec: {podSelector: {}, policyTypes: [Ingress, Egress]}
";

/// Everything denied but a → c on `port`: each port gives pod a another
/// egress chain, and a → b is denied by both.
fn cluster(port: u16) -> Cluster {
    let text = format!(
        "{PODS}---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {{name: a-to-c, namespace: app}}
spec:
  podSelector: {{matchLabels: {{app: a}}}}
  policyTypes: [Egress]
  egress: [{{to: [{{podSelector: {{matchLabels: {{app: c}}}}}}], ports: [{{port: {port}}}]}}]
"
    );
    let mut sources = Sources::default();
    sources.add("straddle.yaml".into(), text);
    load(&mut sources, &LoadOptions::default()).unwrap().cluster
}

#[test]
fn a_packet_straddling_a_commit_never_meets_an_empty_chain() {
    if !lab_available() {
        return;
    }
    let changes: usize = std::env::var("NETFENCE_STRADDLE_CHANGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(400);
    let lab = Lab::up(&cluster(81), 1).unwrap();
    let states = [lab.adopt(&cluster(81)), lab.adopt(&cluster(82))];
    lab.enforce(&states[0], false).unwrap();
    let pod = |name: &str| {
        let i = lab
            .plan
            .pods
            .iter()
            .position(|p| p.id == format!("app/{name}"))
            .unwrap();
        (lab.topology.pod_ns[i].clone(), lab.plan.pods[i].ip)
    };
    let ((a_ns, a_ip), (b_ns, b_ip)) = (pod("a"), pod("b"));
    let stop = AtomicBool::new(false);
    let (sent, leaked) = (AtomicU64::new(0), AtomicU64::new(0));
    let target = SocketAddr::from((b_ip, 7777));
    let receiver = {
        let (b_ns, leaked, stop) = (b_ns.clone(), &leaked, &stop);
        move || {
            netfence_lab::serve::enter_netns(&b_ns).unwrap();
            let socket = UdpSocket::bind(target).unwrap();
            socket
                .set_read_timeout(Some(Duration::from_millis(100)))
                .unwrap();
            let mut buf = [0u8; 16];
            while !stop.load(Ordering::SeqCst) {
                if socket.recv(&mut buf).is_ok() {
                    leaked.fetch_add(1, Ordering::SeqCst);
                }
            }
        }
    };
    let sender = {
        let (sent, stop) = (&sent, &stop);
        move || {
            netfence_lab::serve::enter_netns(&a_ns).unwrap();
            let socket = UdpSocket::bind(SocketAddr::from((a_ip, 0))).unwrap();
            while !stop.load(Ordering::SeqCst) {
                if socket.send_to(b"straddle", target).is_ok() {
                    sent.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    };
    std::thread::scope(|scope| {
        scope.spawn(receiver);
        scope.spawn(sender);
        for k in 0..changes {
            let plans = lab.enforce(&states[(k + 1) % 2], false).unwrap();
            assert!(
                plans.iter().all(|p| !p.staging.is_empty()),
                "each change replaces a's egress chain"
            );
        }
        std::thread::sleep(Duration::from_millis(200));
        stop.store(true, Ordering::SeqCst);
    });
    let (sent, leaked) = (sent.into_inner(), leaked.into_inner());
    eprintln!("{changes} changes, {sent} datagrams sent, {leaked} arrived");
    assert!(
        sent > changes as u64 * 10,
        "the flood ran ({sent} datagrams)"
    );
    assert_eq!(leaked, 0, "datagrams that both rulesets deny arrived");
}
