//! Whatever the bytes, the loader answers with a model or with located errors:
//! never a panic, never an error without a position.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use netfence_model::{Anchor, LoadOptions, Severity, load_texts};
use proptest::prelude::*;

const GUIDE: &str = include_str!("../../../examples/guide/policies.yaml");
const WORKLOADS: &str = include_str!("../../../examples/guide/workloads.yaml");
/// Both admin generations, every peer and port form: mutations reach the admin
/// decoder and validation.
const ADMIN: &str = "\
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: c}
spec:
  tier: Admin
  priority: 10
  subject: {pods: {namespaceSelector: {matchLabels: {a: b}}, podSelector: {}}}
  egress:
  - {name: r, action: Accept, to: [{domainNames: ['*.example.com']}, {nodes: {}}], protocols: [{tcp: {destinationPort: {number: 443}}}]}
  - {action: Pass, to: [{pods: {podSelector: {matchExpressions: [{key: k, operator: In, values: [v]}]}}}], protocols: [{destinationNamedPort: web}]}
  - {action: Deny, to: [{networks: [0.0.0.0/0, '::/0']}], protocols: [{udp: {destinationPort: {range: {start: 1, end: 9}}}}]}
  ingress:
  - {action: Deny, from: [{namespaces: {}}]}
---
apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata: {name: a}
spec:
  priority: 3
  subject: {namespaces: {}}
  ingress:
  - {action: Allow, from: [{pods: {namespaceSelector: {}, podSelector: {}}}], ports: [{portNumber: {protocol: UDP, port: 53}}, {portRange: {start: 1, end: 2}}, {namedPort: dns}]}
---
apiVersion: policy.networking.k8s.io/v1alpha1
kind: BaselineAdminNetworkPolicy
metadata: {name: default}
spec:
  subject: {namespaces: {}}
  egress: [{action: Deny, to: [{networks: [10.0.0.0/8]}]}]
";

fn check(text: &str) -> Result<(), TestCaseError> {
    let (sources, result) = load_texts(&[("input.yaml", text)], &LoadOptions::default());
    if let Err(diags) = result {
        prop_assert!(diags.iter().any(|d| d.severity == Severity::Error));
        for d in diags.iter().filter(|d| d.severity == Severity::Error) {
            if matches!(d.anchor, Anchor::Field { .. } | Anchor::Text { .. }) {
                let pos = d.position(&sources);
                prop_assert!(
                    pos.is_some_and(|(_, line, col)| line >= 1 && col >= 1),
                    "{d:?} has no position"
                );
            }
        }
    }
    Ok(())
}

fn mutate(base: &str, edits: &[(usize, u8, u8)]) -> String {
    let mut bytes = base.as_bytes().to_vec();
    const ALPHABET: &[u8] = b" :-{}[]\n#&*!|>'\"0123456789abcxyz.,/\t";
    for &(pos, op, ch) in edits {
        if bytes.is_empty() {
            break;
        }
        let at = pos % bytes.len();
        let c = ALPHABET[ch as usize % ALPHABET.len()];
        match op % 3 {
            0 => bytes[at] = c,
            1 => bytes.insert(at, c),
            _ => {
                bytes.remove(at);
            }
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,300}") {
        check(&text)?;
    }

    #[test]
    fn mutated_manifests_never_panic(edits in prop::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..8), which in 0..3usize) {
        let base = [GUIDE, WORKLOADS, ADMIN][which];
        check(&mutate(base, &edits))?;
    }
}

#[test]
fn the_admin_seed_loads() {
    let (_, result) = load_texts(&[("input.yaml", ADMIN)], &LoadOptions::default());
    assert_eq!(result.unwrap().cluster.admin_policies.len(), 3);
}

#[test]
fn every_error_of_a_file_is_reported_at_once() {
    let text = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: a, namespace: x}\nspec:\n  podSelector: {matchLabels: {app: yes}}\n  policyTypes: [Ingress, egress]\n  ingress:\n  - from: [{ipBlock: {cidr: 10.0.0.0/8, except: [11.0.0.0/8]}}]\n    ports: [{port: HTTP}, {port: 1, endPort: 0}]\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: x}\nspec:\n  containers: [{name: c, image: i, ports: [{containerPort: 70000}]}]\n";
    let (sources, result) = load_texts(&[("input.yaml", text)], &LoadOptions::default());
    let diags = result.unwrap_err();
    let rendered = netfence_model::diag::render_short(&diags, &sources);
    for want in [
        "input.yaml:5:36: error: NetworkPolicy x/a: wrong type: expected a string, found the boolean true [spec.podSelector.matchLabels.app] (help: YAML reads unquoted `yes` as a boolean; quote it: \"yes\")",
        "input.yaml:15:60: error: Pod x/p: port 70000 is out of range [spec.containers[0].ports[0].containerPort]",
    ] {
        assert!(rendered.contains(want), "missing {want:?} in\n{rendered}");
    }
    // The type error stops that policy's semantic checks; the pod's own error is
    // still reported: two objects, both errors.
    assert_eq!(
        diags
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count(),
        2,
        "{rendered}"
    );
}
