//! Admin policies (semantics.md §2): both generations decode into one form, and
//! every CRD rule (and the documented ones the CRDs do not enforce) is an error
//! located at the offending field.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use netfence_model::{
    AdminAction, AdminApi, AdminPeerKind, AdminPort, AdminSubject, AdminTier, LoadOptions,
    Protocol, Selector, load_texts,
};

fn load(text: &str) -> Result<netfence_model::Loaded, String> {
    let (sources, result) = load_texts(&[("in.yaml", text)], &LoadOptions::default());
    result.map_err(|d| netfence_model::diag::render_short(&d, &sources))
}

fn errors(text: &str) -> String {
    match load(text) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => e,
    }
}

const CNP: &str = "\
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: cnp}
spec:
  tier: Admin
  priority: 10
  subject:
    pods: {podSelector: {matchLabels: {app: web}}}
  egress:
  - name: dns
    action: Accept
    to: [{pods: {namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: kube-system}}, podSelector: {}}}]
    protocols: [{udp: {destinationPort: {number: 53}}}, {tcp: {destinationPort: {range: {start: 8000, end: 8080}}}}]
  - action: Pass
    to: [{nodes: {}}]
  - action: Deny
    to: [{networks: [0.0.0.0/0, '::/0']}]
  ingress:
  - action: Accept
    from: [{namespaces: {}}]
    protocols: [{destinationNamedPort: web}]
";

#[test]
fn a_cluster_network_policy_decodes_into_the_admin_form() {
    for api in ["v1alpha2", "v1beta1"] {
        let text = CNP.replace("v1alpha2", api);
        let loaded = load(&text).unwrap();
        let c = &loaded.cluster;
        assert!(c.unanalyzed.is_empty());
        assert!(
            !loaded
                .diagnostics
                .iter()
                .any(|d| d.message.contains("NOT analyzed")),
        );
        let [p] = &c.admin_policies[..] else {
            panic!("{:?}", c.admin_policies)
        };
        assert_eq!(p.id(), "ClusterNetworkPolicy/cnp");
        assert_eq!(
            p.api,
            if api == "v1beta1" {
                AdminApi::V1beta1
            } else {
                AdminApi::V1alpha2
            }
        );
        assert_eq!((p.tier, p.priority), (AdminTier::Admin, Some(10)));
        // v1alpha2: a pods subject without namespaceSelector is every namespace.
        assert_eq!(
            p.subject,
            AdminSubject::Pods {
                namespace_selector: Selector::everything(),
                pod_selector: Selector::parse_kubectl("app=web").unwrap(),
            }
        );
        assert_eq!(p.egress.len(), 3);
        assert_eq!(p.egress[0].name.as_deref(), Some("dns"));
        assert_eq!(
            p.egress[0].ports,
            Some(vec![
                AdminPort::Numbers {
                    protocol: Protocol::Udp,
                    lo: 53,
                    hi: 53
                },
                AdminPort::Numbers {
                    protocol: Protocol::Tcp,
                    lo: 8000,
                    hi: 8080
                },
            ])
        );
        assert_eq!(
            [p.egress[1].action, p.egress[2].action],
            [AdminAction::Pass, AdminAction::Deny]
        );
        assert!(matches!(&p.egress[1].peers[0].kind, AdminPeerKind::Nodes(s) if s.is_empty()));
        assert!(matches!(&p.egress[2].peers[0].kind, AdminPeerKind::Networks(n) if n.len() == 2));
        assert_eq!(p.egress[2].ports, None);
        assert_eq!(
            p.ingress[0].ports,
            Some(vec![AdminPort::Named("web".into())])
        );
    }
}

#[test]
fn v1alpha1_kinds_decode_with_their_tiers_and_list_types() {
    let loaded = load(
        "\
apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicyList
items:
- metadata: {name: b-second}
  spec:
    priority: 5
    subject: {namespaces: {}}
    ingress:
    - action: Allow
      from: [{pods: {namespaceSelector: {}, podSelector: {matchLabels: {a: b}}}}]
      ports: [{portNumber: {port: 80}}, {portRange: {protocol: UDP, start: 1, end: 9}}, {namedPort: dns}]
- metadata: {name: a-first}
  spec: {priority: 5, subject: {namespaces: {}}, egress: [{action: Deny, to: [{domainNames: ['*.example.com']}]}]}
---
apiVersion: policy.networking.k8s.io/v1alpha1
kind: BaselineAdminNetworkPolicy
metadata: {name: default}
spec:
  subject: {namespaces: {}}
  egress: [{action: Deny, to: [{networks: [10.0.0.0/8]}]}]
",
    );
    // domainNames on a Deny rule: the tool rejects it (documented, not in the schema).
    let text = loaded.err().unwrap();
    assert!(
        text.contains("in.yaml:13:80: error: AdminNetworkPolicy a-first: domainNames can only be used in Allow rules, not Deny [spec.egress[0].to[0].domainNames]"),
        "{text}"
    );
    let loaded = load(
        "\
apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicyList
items:
- metadata: {name: b-second}
  spec:
    priority: 5
    subject: {namespaces: {}}
    ingress:
    - action: Allow
      from: [{pods: {namespaceSelector: {}, podSelector: {matchLabels: {a: b}}}}]
      ports: [{portNumber: {port: 80}}, {portRange: {protocol: UDP, start: 1, end: 9}}, {namedPort: dns}]
- metadata: {name: a-first}
  spec: {priority: 5, subject: {namespaces: {}}, egress: [{action: Allow, to: [{domainNames: ['*.example.com']}]}]}
---
apiVersion: policy.networking.k8s.io/v1alpha1
kind: BaselineAdminNetworkPolicy
metadata: {name: default}
spec:
  subject: {namespaces: {}}
  egress: [{action: Deny, to: [{networks: [10.0.0.0/8]}]}]
",
    )
    .unwrap();
    let ids: Vec<String> = loaded
        .cluster
        .admin_policies
        .iter()
        .map(|p| format!("{}:{:?}", p.id(), p.tier))
        .collect();
    // Admin before Baseline; same priority ordered by name.
    assert_eq!(
        ids,
        [
            "AdminNetworkPolicy/a-first:Admin",
            "AdminNetworkPolicy/b-second:Admin",
            "BaselineAdminNetworkPolicy/default:Baseline"
        ]
    );
    let anp = &loaded.cluster.admin_policies[1];
    assert_eq!(anp.api, AdminApi::V1alpha1);
    assert_eq!(anp.ingress[0].action, AdminAction::Accept);
    assert_eq!(
        anp.ingress[0].ports.as_deref().unwrap()[..2],
        [
            AdminPort::Numbers {
                protocol: Protocol::Tcp,
                lo: 80,
                hi: 80
            },
            AdminPort::Numbers {
                protocol: Protocol::Udp,
                lo: 1,
                hi: 9
            }
        ]
    );
    assert_eq!(loaded.cluster.admin_policies[2].priority, None);
}

/// Every error of one input in one run, each with its field path.
#[test]
fn every_crd_rule_is_an_error_at_its_field() {
    let text = errors(
        "\
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: bad}
spec:
  tier: admin
  priority: 1001
  subject: {namespaces: {}, pods: {podSelector: {}}}
  egress:
  - action: Allow
    to: [{networks: [10.0.0.0/8], nodes: {}}]
  - action: Accept
    to: [{networks: [10.0.0.0/8]}]
    protocols: [{destinationNamedPort: web}]
  - action: Deny
    to: [{domainNames: [foo*.example.com]}]
    protocols: [{tcp: {}}, {tcp: {destinationPort: {range: {start: 80, end: 80}}}}, {udp: {destinationPort: {number: 0}}}]
  - action: Pass
    to: []
  - action: Accept
    to: [{namespaces: {}}]
    protocols: []
    ports: [{portNumber: {port: 80}}]
  ingress:
  - action: Deny
    from: [{networks: [1.2.3.4/32]}]
",
    );
    for expected in [
        "unsupported tier `admin` [spec.tier]",
        "priority 1001 is out of range: it must be between 0 and 1000 [spec.priority]",
        "subject sets both `namespaces` and `pods`; exactly one is allowed [spec.subject.pods]",
        "unsupported action `Allow` in a ClusterNetworkPolicy [spec.egress[0].action]",
        "this peer sets networks and nodes; exactly one is allowed [spec.egress[0].to[0]]",
        "a named port cannot be used in a rule with a networks/nodes/domainNames peer (`protocols` has `networks`): there are no named ports for them [spec.egress[1]]",
        "domainNames can only be used in Accept rules, not Deny [spec.egress[2].to[0].domainNames]",
        "invalid domain name `foo*.example.com`",
        "`tcp` needs `destinationPort` [spec.egress[2].protocols[0].tcp]",
        "range start 80 must be less than end 80 [spec.egress[2].protocols[1].tcp.destinationPort.range]",
        "port 0 is out of range [spec.egress[2].protocols[2].udp.destinationPort.number]",
        "`to` is empty; it needs at least one peer [spec.egress[3].to]",
        "`protocols` is empty: it must have at least 1 entry [spec.egress[4].protocols]",
        "unknown field `ports` in a ClusterNetworkPolicy [spec.egress[4].ports]",
        "unknown field `networks` in an ingress peer [spec.ingress[0].from[0].networks]",
    ] {
        assert!(text.contains(expected), "missing `{expected}` in:\n{text}");
    }
    // file:line:col of the first: `tier: admin`, the value.
    assert!(
        text.contains("in.yaml:5:9: error: ClusterNetworkPolicy bad: unsupported tier"),
        "{text}"
    );
}

#[test]
fn generation_specific_rules() {
    let text = errors(
        "\
apiVersion: policy.networking.k8s.io/v1alpha1
kind: BaselineAdminNetworkPolicy
metadata: {name: other}
spec:
  priority: 3
  subject: {pods: {podSelector: {}}}
  ingress:
  - action: Pass
    from: [{namespaces: {}}]
  egress:
  - action: Allow
    to: [{domainNames: [a.example.com]}]
    ports: [{portRange: {start: 90, end: 80}}, {portNumber: {protocol: ICMP, port: 1}}]
",
    );
    for expected in [
        "a BaselineAdminNetworkPolicy must be named `default`, not `other` [metadata.name]",
        "unknown field `priority` in a BaselineAdminNetworkPolicy [spec.priority]",
        // v1alpha1 `pods` needs both selectors.
        "required field `namespaceSelector` is missing [spec.subject.pods]",
        "unsupported action `Pass` in a BaselineAdminNetworkPolicy [spec.ingress[0].action]",
        "unknown field `domainNames` in a BaselineAdminNetworkPolicy egress peer [spec.egress[0].to[0].domainNames]",
        "range start 90 must be less than end 80 [spec.egress[0].ports[0].portRange]",
        "unsupported protocol `ICMP` [spec.egress[0].ports[1].portNumber.protocol]",
    ] {
        assert!(text.contains(expected), "missing `{expected}` in:\n{text}");
    }
    let text = errors(
        "apiVersion: policy.networking.k8s.io/v1alpha1\nkind: AdminNetworkPolicy\nmetadata: {name: a}\nspec:\n  subject: {namespaces: {}}\n  tier: Admin\n  egress:\n  - {action: Deny, to: [{namespaces: {}}], ports: []}\n",
    );
    for expected in [
        "required field `priority` is missing [spec]",
        "unknown field `tier` in a AdminNetworkPolicy [spec.tier]",
        "`ports` is empty: it must have at least 1 entry [spec.egress[0].ports]",
    ] {
        assert!(text.contains(expected), "missing `{expected}` in:\n{text}");
    }
    let text = errors(
        "apiVersion: policy.networking.k8s.io/v1alpha2\nkind: ClusterNetworkPolicy\nmetadata: {name: a}\nspec:\n  priority: 1\n  subject: {namespaces: {}}\n",
    );
    assert!(
        text.contains("required field `tier` is missing [spec]"),
        "{text}"
    );
    let text = errors(
        "apiVersion: policy.networking.k8s.io/v1alpha1\nkind: ClusterNetworkPolicy\nmetadata: {name: a}\nspec: {}\n",
    );
    assert!(
        text.contains(
            "`policy.networking.k8s.io/v1alpha1` is not a served ClusterNetworkPolicy version"
        ),
        "{text}"
    );
}

#[test]
fn list_limits_follow_the_generation() {
    let rule = "  - {action: Deny, to: [{namespaces: {}}]}\n";
    let cnp = format!(
        "apiVersion: policy.networking.k8s.io/v1alpha2\nkind: ClusterNetworkPolicy\nmetadata: {{name: a}}\nspec:\n  tier: Baseline\n  priority: 0\n  subject: {{namespaces: {{}}}}\n  egress:\n{}",
        rule.repeat(26)
    );
    assert!(errors(&cnp).contains(
        "egress has 26 rules, at most 25 are allowed in a ClusterNetworkPolicy [spec.egress]"
    ));
    assert!(load(&cnp.replace(&rule.repeat(26), &rule.repeat(25))).is_ok());
    let anp = format!(
        "apiVersion: policy.networking.k8s.io/v1alpha1\nkind: AdminNetworkPolicy\nmetadata: {{name: a}}\nspec:\n  priority: 0\n  subject: {{namespaces: {{}}}}\n  egress:\n{}",
        rule.repeat(101)
    );
    assert!(errors(&anp).contains("egress has 101 rules, at most 100 are allowed"));
    assert!(load(&anp.replace(&rule.repeat(101), &rule.repeat(100))).is_ok());
}
