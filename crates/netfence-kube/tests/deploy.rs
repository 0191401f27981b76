//! deploy/ and the Helm chart: the security-relevant fields, read from the
//! YAML files as shipped.

#![allow(clippy::unwrap_used, clippy::expect_used)] // ok: test

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use netfence_kube::KINDS;
use serde_json::Value;

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy")
}

fn documents(text: &str) -> Vec<Value> {
    let (docs, errors) = netfence_yaml::parse_documents(text);
    assert!(errors.is_empty(), "{errors:?}");
    docs.iter().map(|d| d.root.to_json()).collect()
}

fn read(path: &Path) -> Vec<Value> {
    documents(&std::fs::read_to_string(path).unwrap())
}

fn the<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    let mut found = docs.iter().filter(|d| d["kind"] == kind);
    let one = found.next().unwrap_or_else(|| panic!("no {kind}"));
    assert!(found.next().is_none(), "more than one {kind}");
    one
}

fn strings(v: &Value) -> BTreeSet<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

/// The ClusterRole allows get, list and watch only, on exactly what the
/// source watches.
fn check_role(role: &Value) {
    let mut granted = BTreeSet::new();
    for rule in role["rules"].as_array().unwrap() {
        assert_eq!(
            strings(&rule["verbs"]),
            ["get", "list", "watch"].map(String::from).into(),
            "{rule}"
        );
        assert!(rule.get("resourceNames").is_none() && rule.get("nonResourceURLs").is_none());
        for group in strings(&rule["apiGroups"]) {
            for resource in strings(&rule["resources"]) {
                granted.insert((group.clone(), resource));
            }
        }
    }
    let watched: BTreeSet<(String, String)> = KINDS
        .iter()
        .map(|k| (k.group.to_string(), k.plural.to_string()))
        .collect();
    assert_eq!(granted, watched);
}

#[test]
fn rbac_is_read_only_on_exactly_the_watched_kinds() {
    let docs = read(&deploy().join("rbac.yaml"));
    check_role(the(&docs, "ClusterRole"));
    let sa = the(&docs, "ServiceAccount");
    let binding = the(&docs, "ClusterRoleBinding");
    assert_eq!(binding["roleRef"]["kind"], "ClusterRole");
    assert_eq!(
        binding["roleRef"]["name"],
        the(&docs, "ClusterRole")["metadata"]["name"]
    );
    assert_eq!(binding["subjects"][0]["name"], sa["metadata"]["name"]);
    assert_eq!(
        binding["subjects"][0]["namespace"],
        sa["metadata"]["namespace"]
    );
    assert_eq!(binding["subjects"].as_array().unwrap().len(), 1);
}

fn check_daemonset(ds: &Value, service_account: &Value) {
    let pod = &ds["spec"]["template"]["spec"];
    assert_eq!(pod["hostNetwork"], true);
    assert_eq!(pod["serviceAccountName"], *service_account);
    let containers = pod["containers"].as_array().unwrap();
    assert_eq!(containers.len(), 1);
    let c = &containers[0];
    let args: Vec<&str> = c["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(args[0], "agent");
    assert!(args.contains(&"--node=$(NODE_NAME)"), "{args:?}");
    // The API source by the service account: neither --dir nor --kubeconfig.
    assert!(
        !args
            .iter()
            .any(|a| a.starts_with("--dir") || a.starts_with("--kubeconfig"))
    );
    let env = c["env"].as_array().unwrap();
    let node = env.iter().find(|e| e["name"] == "NODE_NAME").unwrap();
    assert_eq!(node["valueFrom"]["fieldRef"]["fieldPath"], "spec.nodeName");
    let sc = &c["securityContext"];
    assert_eq!(sc["privileged"], false);
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(
        strings(&sc["capabilities"]["drop"]),
        ["ALL".to_string()].into()
    );
    let added = strings(&sc["capabilities"]["add"]);
    assert!(added.contains("NET_ADMIN"));
    assert!(
        added.iter().all(|c| c == "NET_ADMIN" || c == "NET_RAW"),
        "{added:?}"
    );
    let port = &c["ports"][0];
    assert_eq!(port["name"], "metrics");
    assert!(args.iter().any(|a| a.starts_with("--listen=")), "{args:?}");
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(c["livenessProbe"]["httpGet"]["port"], "metrics");
    assert_eq!(c["readinessProbe"]["httpGet"]["port"], "metrics");
    let mount = c["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["mountPath"] == "/run/netfence")
        .unwrap();
    let volume = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == mount["name"])
        .unwrap();
    assert_eq!(volume["hostPath"]["path"], "/run/netfence");
    assert_eq!(
        pod["volumes"].as_array().unwrap().len(),
        1,
        "no other host path"
    );
}

#[test]
fn the_daemonset_runs_with_net_admin_only_and_the_downward_node_name() {
    let ds = read(&deploy().join("daemonset.yaml"));
    let rbac = read(&deploy().join("rbac.yaml"));
    check_daemonset(
        the(&ds, "DaemonSet"),
        &the(&rbac, "ServiceAccount")["metadata"]["name"],
    );
}

/// The chart's templates with its default values, rendered the way Helm
/// would for these few constructs (Helm is not on the test machines): a
/// value substitution, one `if`, one `toYaml | nindent`.
fn render(template: &str, values: &Value) -> String {
    let mut out = Vec::new();
    let mut skipping = false;
    for line in template.lines() {
        let t = line.trim();
        if let Some(cond) = t
            .strip_prefix("{{- if .Values.")
            .and_then(|c| c.strip_suffix(" }}"))
        {
            skipping = values[cond] != true;
            continue;
        }
        if t == "{{- end }}" {
            skipping = false;
            continue;
        }
        if skipping {
            continue;
        }
        if let Some(key) = t
            .strip_prefix("{{- toYaml .Values.")
            .and_then(|c| c.split(' ').next())
        {
            let indent = " ".repeat(12);
            out.push(format!("{indent}{}", values[key]));
            continue;
        }
        let mut line = line
            .replace("{{ .Release.Name }}", "netfence")
            .replace("{{ .Release.Namespace }}", "netfence");
        while let Some(start) = line.find("{{ .Values.") {
            let end = start + line[start..].find(" }}").unwrap();
            let path = &line[start + "{{ .Values.".len()..end];
            let v = path.split('.').fold(values, |v, k| &v[k]);
            let text = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            line.replace_range(start..end + 3, &text);
        }
        assert!(
            !line.contains("{{"),
            "a construct the test does not render: {line}"
        );
        out.push(line);
    }
    out.join("\n")
}

#[test]
fn the_helm_chart_renders_the_same_security_fields() {
    let chart = deploy().join("helm/netfence");
    let values = read(&chart.join("values.yaml")).remove(0);
    for key in ["image", "resources", "audit", "logFormat", "metricsPort"] {
        assert!(values.get(key).is_some(), "values.yaml has no {key}");
    }
    let rbac = documents(&render(
        &std::fs::read_to_string(chart.join("templates/rbac.yaml")).unwrap(),
        &values,
    ));
    check_role(the(&rbac, "ClusterRole"));
    let ds_text = render(
        &std::fs::read_to_string(chart.join("templates/daemonset.yaml")).unwrap(),
        &values,
    );
    let ds = documents(&ds_text);
    let ds = the(&ds, "DaemonSet");
    check_daemonset(ds, &the(&rbac, "ServiceAccount")["metadata"]["name"]);
    let c = &ds["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["image"], "ghcr.io/example/netfence:0.1.0");
    assert_eq!(c["ports"][0]["containerPort"], values["metricsPort"]);
    assert_eq!(c["resources"], values["resources"]);
    let args = c["args"].to_string();
    assert!(args.contains("--log-format=json"), "{args}");
    assert!(!args.contains("--audit"), "audit is off by default: {args}");
    let mut audited = values.clone();
    audited["audit"] = Value::Bool(true);
    let with_audit = render(
        &std::fs::read_to_string(chart.join("templates/daemonset.yaml")).unwrap(),
        &audited,
    );
    assert!(with_audit.contains("- --audit"));
}
