//! The one way to derive a cluster from another by changing its policies. Every
//! what-if goes through it: `check` verifying a proposed fix, `--with` overlays
//! that hold only policies, and (next) an agent applying a policy event.
//! [`netfence_engine::delta::Delta`] then says what the change does.

use crate::labels::Labels;
use crate::model::{Cluster, NAMESPACE_NAME_LABEL, Namespace, Policy};

/// Policies to add or replace (same namespace and name) and to remove.
#[derive(Clone, Debug, Default)]
pub struct PolicyChange {
    pub upsert: Vec<Policy>,
    /// (namespace, name).
    pub remove: Vec<(String, String)>,
}

impl Cluster {
    /// This cluster with `change` applied, in order: removals, then upserts (a
    /// later upsert of the same policy wins). A policy in a namespace the
    /// cluster lacks brings that namespace with its name label only, as the
    /// loader does for a namespace referenced but not declared.
    pub fn with_policy_change(&self, change: PolicyChange) -> Cluster {
        let mut cluster = self.clone();
        cluster.policies.retain(|p| {
            !change
                .remove
                .iter()
                .any(|(ns, name)| p.namespace == *ns && p.name == *name)
        });
        for p in change.upsert {
            if cluster.namespace(&p.namespace).is_none() {
                let at = cluster
                    .namespaces
                    .partition_point(|n| n.name.as_str() < p.namespace.as_str());
                cluster.namespaces.insert(
                    at,
                    Namespace {
                        name: p.namespace.clone(),
                        labels: Labels::from([(
                            NAMESPACE_NAME_LABEL.to_string(),
                            p.namespace.clone(),
                        )]),
                        labels_known: false,
                        origin: None,
                    },
                );
            }
            match cluster
                .policies
                .iter_mut()
                .find(|q| q.namespace == p.namespace && q.name == p.name)
            {
                Some(q) => *q = p,
                None => cluster.policies.push(p),
            }
        }
        cluster
            .policies
            .sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
        cluster
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::{LoadOptions, load_texts};

    const BASE: &str = "
apiVersion: v1
kind: Namespace
metadata: {name: b}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny, namespace: b}
spec: {podSelector: {}}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: old, namespace: b}
spec: {podSelector: {}, policyTypes: [Egress]}
";

    fn policy(text: &str) -> Policy {
        let (_, loaded) = load_texts(&[("p.yaml", text)], &LoadOptions::default());
        loaded.unwrap().cluster.policies.remove(0) // ok: test
    }

    #[test]
    fn removes_replaces_adds_and_keeps_order() {
        let (_, base) = load_texts(&[("base.yaml", BASE)], &LoadOptions::default());
        let base = base.unwrap().cluster; // ok: test
        let replaced = policy(
            "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny, namespace: b}\nspec: {podSelector: {matchLabels: {app: x}}}\n",
        );
        let added = policy(
            "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: new, namespace: a}\nspec: {podSelector: {}}\n",
        );
        let after = base.with_policy_change(PolicyChange {
            upsert: vec![replaced, added],
            remove: vec![("b".into(), "old".into())],
        });
        let ids: Vec<String> = after.policies.iter().map(Policy::id).collect();
        assert_eq!(ids, ["a/new", "b/deny"]);
        assert!(!after.policies[1].pod_selector.is_empty(), "replaced");
        // `a` arrives as a namespace known by name only, in name order.
        let names: Vec<(&str, bool)> = after
            .namespaces
            .iter()
            .map(|n| (n.name.as_str(), n.labels_known))
            .collect();
        assert!(names.starts_with(&[("a", false)]), "{names:?}");
        // The base is untouched.
        assert_eq!(base.policies.len(), 2);
    }
}
