//! The front door end to end: what the API server, kubectl, Helm and kustomize
//! hand out is read and answered; repository folders are read for what is in
//! them; every refusal is short, located, and says what to write instead.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{netfence, netfence_in, netfence_stdin, root};

const RW: &str = "fixtures/realworld";

fn rw(name: &str) -> String {
    format!("{RW}/{name}")
}

/// Lines of each distinct error (from its `×` to the next), to hold refusals
/// to a size a person reads.
fn longest_error(stderr: &str) -> usize {
    let mut longest = 0;
    let mut current = 0;
    for line in stderr.lines() {
        if line.trim_start().starts_with('×') || line.trim_start().starts_with('⚠') {
            current = 0;
        }
        current += 1;
        longest = longest.max(current);
    }
    longest
}

#[test]
fn helm_template_output() {
    let f = rw("helm-template.yaml");
    let r = netfence(&[
        "check",
        "default/deployment/shop-web",
        "default/deployment/shop-api",
        &f,
        "--port",
        "8080",
    ]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.starts_with("ALLOWED"), "{}", r.stdout);
    // The chart's test pod is not `web`: the named port `http` admits only web.
    let r = netfence(&[
        "check",
        "default/shop-test-connection",
        "default/deployment/shop-api",
        &f,
        "--port",
        "8080",
    ]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.starts_with("DENIED"), "{}", r.stdout);
}

#[test]
fn kustomize_build_output() {
    let f = rw("kustomize-build.yaml");
    let r = netfence(&[
        "check",
        "payments-prod/deployment/prod-checkout",
        "payments-prod/deployment/prod-ledger",
        &f,
        "--port",
        "9090",
    ]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let r = netfence(&[
        "check",
        "payments-prod/deployment/prod-ledger",
        "payments-prod/deployment/prod-checkout",
        &f,
        "--port",
        "8080",
    ]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("payments-prod/prod-default-deny"),
        "{}",
        r.stdout
    );
}

#[test]
fn kubectl_get_all_yaml_and_json() {
    for f in [rw("kubectl-get-all-A.yaml"), rw("kubectl-get-shop.json")] {
        let r = netfence(&["report", &f]);
        assert_eq!(r.code, 0, "{f}: {}", r.stderr);
        // ReplicaSets of Deployments in the input are part of them: no
        // phantom endpoint per ReplicaSet.
        assert!(!r.stdout.contains("replicaset/"), "{f}: {}", r.stdout);
        assert!(
            r.stdout.contains("  shop/deployment/api:\n      from shop/deployment/web: TCP 8080\n  shop/deployment/web: nothing can reach it"),
            "{f}: {}",
            r.stdout
        );
        // `status: {}` of a NetworkPolicy (Kubernetes 1.24-1.27) is accepted,
        // and noted with -v only.
        assert!(!r.stderr.contains("status"), "{f}: {}", r.stderr);
        let r = netfence(&["report", "-v", &f]);
        assert!(
            r.stderr
                .contains("ignored `status`: NetworkPolicy had a `status`"),
            "{f}: {}",
            r.stderr
        );
        let r = netfence(&[
            "check",
            "shop/web-6b8d7f9c4-m2n3p",
            "shop/api-7c9f8b6d5-qwz4r",
            &f,
            "--port",
            "8080",
        ]);
        assert_eq!(r.code, 0, "{f}: {}{}", r.stdout, r.stderr);
        let r = netfence(&[
            "check",
            "shop/api-7c9f8b6d5-qwz4r",
            "shop/web-6b8d7f9c4-m2n3p",
            &f,
            "--port",
            "3000",
        ]);
        assert_eq!(r.code, 1, "{f}: {}{}", r.stdout, r.stderr);
    }
}

#[test]
fn typed_lists_from_the_api() {
    // `kubectl get --raw` lists: items carry neither apiVersion nor kind.
    let files = [
        rw("podlist-raw.json"),
        rw("namespacelist-raw.yaml"),
        rw("networkpolicylist-raw.yaml"),
    ];
    let mut args = vec!["report"];
    args.extend(files.iter().map(String::as_str));
    let r = netfence(&args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.is_empty(),
        "Namespaces declared, nothing to warn: {}",
        r.stderr
    );
    assert!(
        r.stdout
            .starts_with("netfence report: 2 namespaces, 3 pods/workloads, 4 NetworkPolicies"),
        "{}",
        r.stdout
    );
    let mut args = vec![
        "check",
        "shop/web-6b8d7f9c4-m2n3p",
        "shop/api-7c9f8b6d5-qwz4r",
    ];
    args.extend(files.iter().map(String::as_str));
    args.extend(["--port", "8080"]);
    assert_eq!(netfence(&args).code, 0);
    // `kind: List` still needs apiVersion and kind on each item.
    let r = netfence_stdin(
        &["report", "-"],
        Some("apiVersion: v1\nkind: List\nitems:\n- metadata: {name: a}\n"),
    );
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("`apiVersion` is missing or not a string"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("each item of a `kind: List` says what it is"),
        "{}",
        r.stderr
    );
}

#[test]
fn crlf_bom_and_empty_list() {
    let r = netfence(&["report", &rw("crlf.yaml")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout
            .contains("legacy/app: UDP and TCP blocked (isolated by legacy/deny-all)"),
        "{}",
        r.stdout
    );
    // Positions in a CRLF file are those an editor shows.
    let r = netfence_stdin(
        &["report", "-"],
        Some(
            "apiVersion: v1\r\nkind: Pod\r\nmetadata:\r\n  name: p\r\nspec:\r\n  containers: [{name: c, image: i}]\r\n  hostNetwrk: true\r\n",
        ),
    );
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("at: <stdin>:7:3"), "{}", r.stderr);
    // A byte-order mark does not hide line 1.
    let r = netfence_stdin(
        &["report", "-"],
        Some("\u{feff}apiVersion: v1\nkind: Namespace\nmetadata: {name: team-a}\n"),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("team-a"), "{}", r.stdout);
    // `[]` is read as no objects, not as a malformed object; an input with no
    // objects at all is still no answer.
    let r = netfence(&["report", &rw("empty-list.json")]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        !r.stderr.contains("expected a Kubernetes object"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("no Kubernetes objects found in fixtures/realworld/empty-list.json"),
        "{}",
        r.stderr
    );
    let r = netfence(&["report", &rw("empty-list.json"), &rw("crlf.yaml")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
}

#[test]
fn a_repository_folder() {
    let repo = rw("repo");
    let r = netfence(&["report", "--exclude", "legacy", &repo]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("repo/charts/shop is a Helm chart"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains(
            "`helm template RELEASE fixtures/realworld/repo/charts/shop | netfence ... -`"
        ),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("a kustomization with 2 patch file(s)"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains(
            "`kustomize build fixtures/realworld/repo/deploy/overlays/prod | netfence ... -`"
        ),
        "{}",
        r.stderr
    );
    assert!(
        !r.stderr.contains("package.json"),
        "notes only with -v: {}",
        r.stderr
    );
    // The base's policy as written, not the overlay's patch (port 8443).
    let r = netfence(&[
        "check",
        "orders/deployment/frontend",
        "orders/deployment/orders",
        "--exclude",
        "legacy",
        &repo,
        "--port",
        "8080",
    ]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let r = netfence(&["report", "-v", "--exclude", "legacy/**", &repo]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    for skipped in [
        "repo/charts/shop/templates/networkpolicy.yaml: note: skipped: part of a Helm chart",
        "repo/deploy/overlays/prod/policy-port.yaml: note: skipped: a patch that a kustomization names",
        "repo/docker-compose.yml: note: skipped: a Compose file",
        "repo/package.json: note: skipped: an npm package manifest",
        "repo/config/settings.yaml: note: skipped: not a Kubernetes manifest",
        "repo/legacy/old-policy.yaml: note: skipped: excluded by --exclude legacy/**",
    ] {
        assert!(
            r.stderr.contains(skipped),
            "missing {skipped:?} in {}",
            r.stderr
        );
    }
    // Without --exclude the old policy is read, and refused.
    let r = netfence(&["report", &repo]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains("`extensions/v1beta1` is not a served NetworkPolicy version"),
        "{}",
        r.stderr
    );
    // A file named on the command line stays strict.
    let r = netfence(&["report", &rw("repo/config/settings.yaml")]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("`apiVersion` is missing"), "{}", r.stderr);
}

#[test]
fn skipping_never_hides_a_misspelled_policy() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("values.yaml"), "replicas: 2\n").unwrap();
    std::fs::write(
        dir.path().join("policy.yaml"),
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolcy\nmetadata: {name: deny, namespace: app}\nspec: {podSelector: {}}\n",
    )
    .unwrap();
    let r = netfence_in(Some(dir.path()), &["report", "."], None);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("unknown kind `NetworkPolcy` in `networking.k8s.io/v1`"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("did you mean `NetworkPolicy`?"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("values.yaml"), "{}", r.stderr);
}

/// A `kubectl get --raw` PodList whose 38 pods all misspell `containerPort`.
fn pod_list_flood() -> String {
    let mut text =
        String::from("apiVersion: v1\nkind: PodList\nmetadata: {resourceVersion: \"9\"}\nitems:\n");
    for i in 0..38 {
        text.push_str(&format!(
            "- metadata:\n    name: web-{i}\n    namespace: app\n    labels: {{app: web}}\n  spec:\n    containers:\n    - name: web\n      image: nginx\n      ports:\n      - containerport: 8080\n  status:\n    podIP: 10.0.0.{}\n",
            i + 1
        ));
    }
    text
}

#[test]
fn refusal_of_a_list_is_one_error_not_a_flood() {
    let r = netfence_stdin(&["report", "-"], Some(&pod_list_flood()));
    assert_eq!(r.code, 2);
    assert!(r.stdout.is_empty());
    assert!(r.stderr.lines().count() <= 15, "{}", r.stderr);
    assert!(
        !r.stderr.contains("out of range"),
        "no follow-on error: {}",
        r.stderr
    );
    insta::assert_snapshot!(r.stderr);
}

#[test]
fn refusals_are_located_short_and_say_what_to_write() {
    let cases: &[(&str, &str)] = &[
        (
            "ports_too_deep",
            "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: web, namespace: app}\nspec:\n  podSelector: {}\n  ingress:\n  - from:\n    - podSelector: {}\n      ports:\n      - port: 80\nstatus: {}\n",
        ),
        (
            "namespace_y",
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n  namespace: y\nspec:\n  containers: [{name: c, image: i}]\n",
        ),
        (
            "rejected_namespace_is_not_also_undeclared",
            "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop, labels: {team: true}}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: web, namespace: shop}\nspec:\n  containers: [{name: c, image: i}]\n",
        ),
        (
            "pod_name_with_an_escape",
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: \"web\\e[31m\"\n  namespace: app\nspec:\n  nodeName: Node_1\n  containers: [{name: c, image: i}]\n",
        ),
        (
            "whole_object_is_one_line",
            "apiVersion: v1\nkind: List\nitems:\n- metadata:\n    name: a\n    labels: {app: a}\n  spec:\n    containers:\n    - name: c\n      image: i\n",
        ),
    ];
    for (name, text) in cases {
        let r = netfence_stdin(&["report", "-"], Some(text));
        assert_eq!(r.code, 2, "{name}: {}", r.stderr);
        assert!(r.stdout.is_empty());
        assert!(longest_error(&r.stderr) <= 15, "{name}: {}", r.stderr);
        assert!(
            !r.stderr.contains("did you mean `ports`"),
            "{name}: {}",
            r.stderr
        );
        assert!(
            !r.stderr.contains('\u{1b}'),
            "{name}: control characters printed: {:?}",
            r.stderr
        );
        insta::assert_snapshot!(*name, r.stderr);
    }
}

#[test]
fn exclude_is_in_the_help() {
    let r = netfence(&["report", "--help"]);
    assert!(r.stdout.contains("--exclude <GLOB>"), "{}", r.stdout);
    let _ = root();
}

/// Issue 10.2: fields that older Kubernetes versions defined and exports still
/// carry (`metadata.clusterName` until 1.24, Service `topologyKeys` and
/// `ipFamily`) are accepted and noted with -v; a misspelled field is not.
#[test]
fn fields_of_older_kubernetes_versions_are_accepted() {
    let old = r#"apiVersion: v1
kind: Namespace
metadata: {name: app, clusterName: ""}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: app, clusterName: ""}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}, clusterName: ""}
    spec: {containers: [{name: web, image: nginx}]}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: app}
spec:
  selector: {app: web}
  ipFamily: IPv4
  topologyKeys: ["*"]
  ports: [{port: 80}]
"#;
    let r = netfence_stdin(&["report", "-"], Some(old));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stderr.contains("clusterName"), "{}", r.stderr);
    let v = netfence_stdin(&["report", "-v", "-"], Some(old));
    for field in [
        "ignored `metadata.clusterName`",
        "ignored `spec.template.metadata.clusterName`",
        "ignored `spec.topologyKeys`",
        "ignored `spec.ipFamily`",
    ] {
        assert!(v.stderr.contains(field), "{field}: {}", v.stderr);
    }
    let typo = old.replace("ipFamily:", "ipFamly:");
    let bad = netfence_stdin(&["report", "-"], Some(&typo));
    assert_eq!(bad.code, 2, "{}", bad.stderr);
}
