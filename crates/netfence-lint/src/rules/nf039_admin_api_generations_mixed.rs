//! v1alpha1 AdminNetworkPolicy/BaselineAdminNetworkPolicy objects alongside
//! v1alpha2/v1beta1 ClusterNetworkPolicy objects in one input.
//!
//! # Why it matters
//!
//! The two generations of the admin policy API (`policy.networking.k8s.io`) are
//! different resources: AdminNetworkPolicy and BaselineAdminNetworkPolicy
//! (v1alpha1, network-policy-api v0.1.x) were replaced by ClusterNetworkPolicy
//! (v1alpha2, then v1beta1 in v0.3.0). A cluster serves the CRDs of the
//! releases it installed and its network plugin implements one generation, so
//! the objects of the other are rejected by the API server (CRD not installed)
//! or stored and not enforced. netfence evaluates both together, in tiers,
//! which is not what such a cluster does.
//!
//! # Bad
//!
//! ```yaml
//! apiVersion: policy.networking.k8s.io/v1alpha1
//! kind: AdminNetworkPolicy
//! ...
//! ---
//! apiVersion: policy.networking.k8s.io/v1alpha2
//! kind: ClusterNetworkPolicy
//! ...
//! ```
//!
//! # Good
//!
//! ```yaml
//! # One generation: the one `kubectl api-resources --api-group=policy.networking.k8s.io`
//! # lists on the cluster.
//! apiVersion: policy.networking.k8s.io/v1alpha2
//! kind: ClusterNetworkPolicy
//! ...
//! ```
//!
//! # Fix
//!
//! Check which generation the cluster serves (`kubectl api-resources
//! --api-group=policy.networking.k8s.io`) and rewrite the other's objects in it:
//! an AdminNetworkPolicy becomes a ClusterNetworkPolicy with `tier: Admin`
//! (`Allow` is `Accept`, `ports` become `protocols`), the
//! BaselineAdminNetworkPolicy one with `tier: Baseline` and a priority.

use netfence_model::{AdminApi, FieldLoc};
use netfence_yaml::PathSegment;

use crate::context::LintContext;
use crate::finding::{Finding, Level};
use crate::rules::Rule;

pub static RULE: Rule = Rule {
    id: "NF039",
    name: "admin-api-generations-mixed",
    severity: Level::Warning,
    check,
    source: include_str!("nf039_admin_api_generations_mixed.rs"),
};

fn check(ctx: &LintContext, out: &mut Vec<Finding>) {
    let policies = &ctx.cluster().admin_policies;
    let newer: Vec<String> = policies
        .iter()
        .filter(|p| p.api != AdminApi::V1alpha1)
        .map(|p| p.id())
        .collect();
    if newer.is_empty() {
        return;
    }
    for (a, policy) in policies.iter().enumerate() {
        if policy.api != AdminApi::V1alpha1 {
            continue;
        }
        let at = FieldLoc {
            origin: policy.origin.clone(),
            path: vec![PathSegment::Key("apiVersion".into())],
        };
        out.push(
            Finding::new(
                &RULE,
                format!(
                    "{} is v1alpha1 while {} {} v1alpha2/v1beta1: two generations of the admin policy API, of which a network plugin implements one, so the other's objects are not enforced (netfence evaluates both together)",
                    policy.id(),
                    netfence_text::short_list(&newer),
                    if newer.len() == 1 { "is" } else { "are" }
                ),
            )
            .at(at)
            .object(ctx.admin_ref(a))
            .help("check which generation the cluster serves (`kubectl api-resources --api-group=policy.networking.k8s.io`) and rewrite the other's objects in it (AdminNetworkPolicy: ClusterNetworkPolicy with `tier: Admin`, `Allow` becomes `Accept`, `ports` become `protocols`; BaselineAdminNetworkPolicy: `tier: Baseline` with a priority)")
            .related(newer.clone()),
        );
    }
}
