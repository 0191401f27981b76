//! Which kinds and API versions the loader builds, refuses or skips, and the
//! help it attaches by a diagnostic's kind.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use netfence_model::{LoadOptions, load_texts};

fn short(text: &str) -> (bool, String) {
    let (sources, result) = load_texts(&[("in.yaml", text)], &LoadOptions::default());
    match result {
        Ok(l) => (
            true,
            netfence_model::diag::render_short(&l.diagnostics, &sources),
        ),
        Err(d) => (false, netfence_model::diag::render_short(&d, &sources)),
    }
}

#[test]
fn networkpolicy_versions_other_than_v1_are_refused() {
    for api in ["networking.k8s.io/v1beta1", "extensions/v1beta1"] {
        let (ok, text) = short(&format!(
            "apiVersion: {api}\nkind: NetworkPolicy\nmetadata: {{name: a}}\nspec: {{podSelector: {{}}}}\n"
        ));
        assert!(!ok, "{api}: {text}");
        assert!(
            text.contains(&format!(
                "in.yaml:1:13: error: NetworkPolicy default/a: `{api}` is not a served NetworkPolicy version [apiVersion]"
            )),
            "{text}"
        );
    }
}

#[test]
fn a_kind_is_read_only_in_its_own_api_group() {
    // A Deployment of apps is read; one in another group is skipped.
    let (ok, text) = short(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  selector: {matchLabels: {a: b}}\n  template: {metadata: {labels: {a: b}}}\n---\napiVersion: example.com/v1\nkind: Deployment\nmetadata: {name: e}\n",
    );
    assert!(ok, "{text}");
    assert!(
        text.contains(
            "note: skipped Deployment default/e (example.com/v1): not relevant to NetworkPolicy"
        ),
        "{text}"
    );
    assert!(!text.contains("Deployment default/d"), "{text}");
    // Namespace and Node are cluster-scoped: described without a namespace.
    let (_, text) = short("apiVersion: v2\nkind: Node\nmetadata: {name: n1}\n");
    assert!(
        text.contains("skipped Node n1 (v2): not relevant to NetworkPolicy"),
        "{text}"
    );
}

#[test]
fn an_unquoted_number_where_a_string_belongs_gets_the_word_quoted() {
    let (ok, text) = short(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p, labels: {version: 1.10}}\nspec: {containers: [{name: c, image: i}]}\n",
    );
    assert!(!ok);
    assert!(
        text.contains("(help: YAML reads unquoted `1.10` as a number; quote it: \"1.10\")"),
        "{text}"
    );
}

#[test]
fn workload_versions_no_kubernetes_serves_are_refused_not_skipped() {
    for (api, write) in [
        ("apps/v1beta2", "apps/v1"),
        ("extensions/v1beta1", "apps/v1"),
    ] {
        let (ok, text) = short(&format!(
            "apiVersion: {api}\nkind: Deployment\nmetadata: {{name: d}}\nspec:\n  selector: {{matchLabels: {{a: b}}}}\n  template: {{metadata: {{labels: {{a: b}}}}}}\n"
        ));
        assert!(!ok, "{api}: {text}");
        assert!(
            text.contains(&format!(
                "in.yaml:1:13: error: Deployment default/d: `{api}` is not a served Deployment version [apiVersion] (help: write `apiVersion: {write}`)"
            )),
            "{text}"
        );
    }
}

#[test]
fn an_unquoted_name_or_namespace_is_named_as_written() {
    let (ok, text) = short("apiVersion: v1\nkind: Namespace\nmetadata: {name: n}\n");
    assert!(!ok);
    assert!(
        text.contains("`metadata.name` must be a string, but YAML reads `n` as a boolean"),
        "{text}"
    );
    let (ok, text) = short("apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: on}\n");
    assert!(!ok);
    assert!(text.contains("error: Pod on/p: wrong type"), "{text}");
}
