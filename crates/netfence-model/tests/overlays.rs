//! `load_policy_overlays` gives exactly the cluster `load` gives for the base
//! files followed by the overlays, and declines what it cannot do alone.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use netfence_model::{LoadOptions, Sources, load, load_policy_overlays};

const BASE: &[(&str, &str)] = &[
    (
        "namespaces.yaml",
        include_str!("../../../examples/shop/namespaces.yaml"),
    ),
    (
        "workloads.yaml",
        include_str!("../../../examples/shop/workloads.yaml"),
    ),
    (
        "policies.yaml",
        include_str!("../../../examples/shop/policies.yaml"),
    ),
];

/// The guide's allow-dns of ingress-nginx, with an extra port: replaces it.
const MODIFY: &str = "
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-dns, namespace: ingress-nginx}
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress:
  - to:
    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: kube-system}}
      podSelector: {matchLabels: {k8s-app: kube-dns}}
    ports: [{protocol: UDP, port: 53}, {protocol: TCP, port: 53}, {port: 8053}]
";

const CREATE: &str = "
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: a-new-one, namespace: storefront}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from: [{podSelector: {}}]
    ports: [{port: http}]
";

const INVALID: &str = "
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: broken, namespace: storefront}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - ports: [{port: 70000}]
";

const NEW_NAMESPACE: &str = "
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: elsewhere, namespace: nowhere}
spec: {podSelector: {}}
";

const POD: &str = "
apiVersion: v1
kind: Pod
metadata: {name: extra, namespace: storefront}
spec: {containers: [{name: c, image: i}]}
";

fn sources(overlays: &[&str]) -> (Sources, usize) {
    let mut s = Sources::default();
    for (name, text) in BASE {
        s.add((*name).to_string(), (*text).to_string());
    }
    for (i, text) in overlays.iter().enumerate() {
        let id = s.add(format!("<overlay {i}>"), (*text).to_string());
        s.files[id.0 as usize].overlay = true;
    }
    (s, BASE.len())
}

/// Both ways, as `Debug` text (every field, origins included), or `Err`.
fn both(overlays: &[&str], opts: &LoadOptions) -> (Result<String, ()>, Option<Result<String, ()>>) {
    let (mut full, _) = sources(overlays);
    let whole = load(&mut full, opts)
        .map(|l| format!("{:?}", l.cluster))
        .map_err(|_| ());
    let (mut base_sources, first) = sources(&[]);
    let base = load(&mut base_sources, opts).unwrap().cluster;
    let (mut trial, _) = sources(overlays);
    let fast = load_policy_overlays(&base, &mut trial, first, opts)
        .map(|r| r.map(|c| format!("{c:?}")).map_err(|_| ()));
    (whole, fast)
}

#[test]
fn policy_overlays_equal_a_full_load() {
    let opts = LoadOptions::default();
    for overlays in [
        vec![],
        vec![MODIFY],
        vec![CREATE],
        vec![MODIFY, CREATE],
        vec![CREATE, MODIFY, CREATE],
        vec![INVALID],
        vec![CREATE, INVALID],
        // A policy in a namespace the input lacks brings it by name, as a full
        // load does.
        vec![CREATE, NEW_NAMESPACE],
    ] {
        let (whole, fast) = both(&overlays, &opts);
        assert_eq!(whole.is_err(), overlays.contains(&INVALID));
        assert_eq!(Some(whole), fast, "{overlays:?}");
    }
}

#[test]
fn without_drops_an_overlay_it_names() {
    let opts = LoadOptions {
        without: vec!["NetworkPolicy/ingress-nginx/allow-dns".into()],
        ..LoadOptions::default()
    };
    for overlays in [vec![MODIFY], vec![CREATE, MODIFY]] {
        let (whole, fast) = both(&overlays, &opts);
        assert!(whole.is_ok());
        assert_eq!(Some(whole), fast);
    }
}

#[test]
fn declines_what_a_policy_overlay_cannot_say() {
    let opts = LoadOptions::default();
    for overlays in [vec![POD], vec![CREATE, POD]] {
        let (whole, fast) = both(&overlays, &opts);
        assert!(whole.is_ok(), "{overlays:?}");
        assert_eq!(fast, None, "{overlays:?}");
    }
}
