//! The admin tiers in the engine (semantics.md §2.2, §2.6): the compat flag for
//! the NetworkPolicy tier, same-priority overlaps, per-tier provenance, and
//! domain endpoints.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use netfence_engine::Engine;
use netfence_model::{AdminAction, AdminTier, Direction, LoadOptions, Protocol, load_texts};

const BASE: &str = "
apiVersion: v1
kind: Namespace
metadata: {name: x}
---
apiVersion: v1
kind: Namespace
metadata: {name: z}
---
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: x, labels: {pod: a}}
spec: {containers: [{name: c, image: i, ports: [{name: web, containerPort: 8080}]}]}
status: {podIP: 10.0.0.1}
---
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: z, labels: {pod: a}}
spec: {containers: [{name: c, image: i}]}
status: {podIP: 10.0.1.1}
---
";

fn cluster(extra: &str, opts: &LoadOptions) -> netfence_model::Cluster {
    let text = format!("{BASE}{extra}");
    let (sources, result) = load_texts(&[("in.yaml", &text)], opts);
    match result {
        Ok(l) => l.cluster,
        Err(d) => panic!("{}", netfence_model::diag::render_short(&d, &sources)),
    }
}

fn allows(engine: &Engine, src: &str, dst: &str, port: u16) -> bool {
    let (s, d) = (engine.find(src).unwrap(), engine.find(dst).unwrap());
    engine.allows(s, d, Protocol::Tcp, port)
}

/// §3 case 47: x/a is selected only by an Egress NetworkPolicy; an Admin Pass
/// hands ingress on, and a Baseline Deny decides it per direction. With
/// `np_selected_is_final` (kube-network-policies) the NetworkPolicy tier ends
/// the evaluation for any selected pod: allowed.
#[test]
fn compat_flag_makes_the_networkpolicy_tier_final_for_selected_pods() {
    let extra = "
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: egress-only, namespace: x}
spec: {podSelector: {}, policyTypes: [Egress], egress: [{}]}
---
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: pass}
spec:
  tier: Admin
  priority: 1
  subject: {namespaces: {}}
  ingress: [{action: Pass, from: [{namespaces: {}}]}]
---
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: deny}
spec:
  tier: Baseline
  priority: 1
  subject: {namespaces: {}}
  ingress: [{action: Deny, from: [{namespaces: {}}]}]
";
    let c = cluster(extra, &LoadOptions::default());
    assert!(!allows(&Engine::new(&c), "z/a", "x/a", 80));
    let mut opts = LoadOptions::default();
    opts.semantics.np_selected_is_final = true;
    let c = cluster(extra, &opts);
    let engine = Engine::new(&c);
    assert!(allows(&engine, "z/a", "x/a", 80));
    // z/a is selected by no NetworkPolicy: the Baseline Deny holds either way.
    assert!(!allows(&engine, "x/a", "z/a", 80));
}

/// §3 case 49 and §2.6: same priority, differing verdicts: applied by name,
/// and reported.
#[test]
fn same_priority_overlap_is_resolved_by_name_and_reported() {
    let policy = |name: &str, action: &str, prio: u32| {
        format!(
            "apiVersion: policy.networking.k8s.io/v1alpha2\nkind: ClusterNetworkPolicy\nmetadata: {{name: {name}}}\nspec:\n  tier: Admin\n  priority: {prio}\n  subject: {{namespaces: {{matchLabels: {{kubernetes.io/metadata.name: x}}}}}}\n  ingress: [{{action: {action}, from: [{{namespaces: {{}}}}], protocols: [{{tcp: {{destinationPort: {{number: 80}}}}}}]}}]\n---\n"
        )
    };
    let c = cluster(
        &format!(
            "{}{}",
            policy("b-deny", "Deny", 5),
            policy("a-accept", "Accept", 5)
        ),
        &LoadOptions::default(),
    );
    let engine = Engine::new(&c);
    // `a-accept` sorts first: its Accept decides.
    assert!(allows(&engine, "z/a", "x/a", 80));
    let overlaps = engine.same_priority_overlaps();
    assert_eq!(overlaps.len(), 1, "{overlaps:?}");
    let o = &overlaps[0];
    assert_eq!(c.admin_policies[o.first].name, "a-accept");
    assert_eq!(c.admin_policies[o.second].name, "b-deny");
    assert_eq!(
        (o.tier, o.priority, o.direction),
        (AdminTier::Admin, 5, Direction::Ingress)
    );
    assert_eq!(engine.endpoint(o.subject).id, "x/a");
    assert_eq!(o.conns.parts(), ["TCP 80"]);
    // Different priorities, or the same verdict: nothing to report.
    let c = cluster(
        &format!(
            "{}{}",
            policy("b-deny", "Deny", 6),
            policy("a-accept", "Accept", 5)
        ),
        &LoadOptions::default(),
    );
    assert!(Engine::new(&c).same_priority_overlaps().is_empty());
    let c = cluster(
        &format!("{}{}", policy("b", "Deny", 5), policy("a", "Deny", 5)),
        &LoadOptions::default(),
    );
    assert!(Engine::new(&c).same_priority_overlaps().is_empty());
}

/// Provenance per tier: which rule decided which connections, what reached the
/// NetworkPolicy and Baseline tiers, what the default allowed.
#[test]
fn tiers_report_where_each_connection_was_decided() {
    let c = cluster(
        "
apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata: {name: web}
spec:
  priority: 3
  subject: {namespaces: {matchLabels: {kubernetes.io/metadata.name: x}}}
  ingress:
  - {name: web, action: Allow, from: [{namespaces: {}}], ports: [{namedPort: web}]}
  - {name: ssh, action: Pass, from: [{namespaces: {}}], ports: [{portNumber: {port: 22}}]}
  - {name: rest, action: Deny, from: [{pods: {namespaceSelector: {}, podSelector: {matchLabels: {pod: a}}}}], ports: [{portRange: {start: 1, end: 1000}}]}
---
apiVersion: policy.networking.k8s.io/v1alpha1
kind: BaselineAdminNetworkPolicy
metadata: {name: default}
spec:
  subject: {namespaces: {}}
  ingress: [{action: Deny, from: [{namespaces: {}}], ports: [{portNumber: {port: 22}}]}]
",
        &LoadOptions::default(),
    );
    let engine = Engine::new(&c);
    let (y, x) = (engine.find("z/a").unwrap(), engine.find("x/a").unwrap());
    let t = engine.tiers(
        Direction::Ingress,
        engine.class_of[x],
        engine.class_of[y],
        false,
    );
    let steps: Vec<(AdminTier, &str, usize, AdminAction, Vec<String>)> = t
        .steps
        .iter()
        .map(|s| {
            (
                s.tier,
                c.admin_policies[s.policy].name.as_str(),
                s.rule,
                s.action,
                s.conns.parts(),
            )
        })
        .collect();
    assert_eq!(
        steps,
        [
            (
                AdminTier::Admin,
                "web",
                0,
                AdminAction::Accept,
                vec!["TCP 8080".to_string()]
            ),
            (
                AdminTier::Admin,
                "web",
                1,
                AdminAction::Pass,
                vec!["TCP 22".to_string()]
            ),
            (
                AdminTier::Admin,
                "web",
                2,
                AdminAction::Deny,
                vec!["TCP 1-21,23-1000".to_string()]
            ),
            (
                AdminTier::Baseline,
                "default",
                0,
                AdminAction::Deny,
                vec!["TCP 22".to_string()]
            ),
        ]
    );
    assert!(t.to_network_policy.allows(Protocol::Tcp, 22));
    assert!(!t.to_network_policy.allows(Protocol::Tcp, 80));
    assert!(t.to_network_policy.allows(Protocol::Tcp, 1001));
    assert!(!t.default.allows(Protocol::Tcp, 22));
    assert!(t.default.allows(Protocol::Udp, 22));
    assert!(allows(&engine, "z/a", "x/a", 8080));
    assert!(!allows(&engine, "z/a", "x/a", 22));
    assert!(!allows(&engine, "z/a", "x/a", 80));
    assert!(allows(&engine, "z/a", "x/a", 1001));
    // The matrix and every other surface answer through `allowed`.
    let mut cached = netfence_engine::CachedDecisions::new(&engine);
    assert_eq!(cached.allowed(y, x), engine.allowed(y, x));
}

/// Domain endpoints: a name connects to the pattern written exactly, else the
/// most specific covering wildcard, else `dns:*`; the address of a name is
/// unknown, so only a whole-family `networks` block holds it.
#[test]
fn domain_endpoints_answer_for_names() {
    let c = cluster(
        "
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: fqdn}
spec:
  tier: Admin
  priority: 1
  subject: {namespaces: {}}
  egress:
  - {action: Accept, to: [{domainNames: ['*.example.com', api.other.org]}], protocols: [{tcp: {destinationPort: {number: 443}}}]}
  - {action: Deny, to: [{networks: [0.0.0.0/0]}]}
  - {action: Deny, to: [{networks: [10.0.0.0/8]}]}
",
        &LoadOptions::default(),
    );
    let engine = Engine::new(&c);
    let id = |q: &str| engine.endpoint(engine.find(q).unwrap()).id.clone();
    assert_eq!(id("dns:a.b.Example.COM."), "dns:*.example.com");
    assert_eq!(id("dns:api.other.org"), "dns:api.other.org");
    assert_eq!(id("dns:example.com"), "dns:*");
    assert!(allows(&engine, "x/a", "dns:www.example.com", 443));
    assert!(!allows(&engine, "x/a", "dns:www.example.com", 80));
    assert!(!allows(&engine, "x/a", "dns:example.com", 443));
    assert!(allows(&engine, "x/a", "dns:api.other.org", 443));
    // 0.0.0.0/0 covers pod IPs too.
    assert!(!allows(&engine, "x/a", "z/a", 443));
}
