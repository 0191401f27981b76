//! From decoded objects to a [`Cluster`]: one builder per kind (`core`,
//! `workloads`), the fields they share (`fields`), and what the input lacks
//! (undeclared namespaces, the cluster DNS: `dns`).

mod core;
mod dns;
mod fields;
mod workloads;

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::{
    apps::v1 as apps, batch::v1 as batch, core::v1 as corev1, networking::v1 as net,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, OwnerReference};
use netfence_yaml::PathSegment;

use crate::decode::decode_strict;
use crate::diag::{Anchor, Diagnostic, DiagnosticKind, Severity};
use crate::kinds::{self, Kind, KindInfo};
use crate::labels::Labels;
use crate::load::LoadOptions;
use crate::model::*;
use crate::objects::RawObject;
use crate::policy::convert_policy;
use crate::sources::{FieldLoc, ObjectOrigin};
use crate::validate;

use workloads::Workload;

pub(crate) struct ClusterBuilder<'a> {
    opts: &'a LoadOptions,
    cluster: Cluster,
    workloads: Vec<Workload>,
    pod_owners: Vec<Option<OwnerReference>>,
    /// First place each namespace was referenced, for the "not declared" warning.
    referenced: BTreeMap<String, FieldLoc>,
    /// Namespaces whose Namespace object was rejected: "not declared" would be
    /// a consequence of that error, not news.
    rejected_namespaces: BTreeSet<String>,
}

impl<'a> ClusterBuilder<'a> {
    pub(crate) fn new(opts: &'a LoadOptions) -> Self {
        ClusterBuilder {
            opts,
            cluster: Cluster {
                semantics: opts.semantics.clone(),
                ..Cluster::default()
            },
            workloads: Vec::new(),
            pod_owners: Vec::new(),
            referenced: BTreeMap::new(),
            rejected_namespaces: BTreeSet::new(),
        }
    }

    fn reference(&mut self, ns: &str, origin: &ObjectOrigin) {
        self.referenced
            .entry(ns.to_string())
            .or_insert_with(|| FieldLoc {
                origin: origin.clone(),
                path: vec![PathSegment::Key("metadata".into())],
            });
    }

    pub(crate) fn add(&mut self, obj: &RawObject, diags: &mut Vec<Diagnostic>) {
        let ns = obj.namespace.clone().unwrap_or_else(|| "default".into());
        let before = diags.len();
        let info = kinds::lookup(&obj.api_version, &obj.kind);
        // Kinds the `extensions` group served until Kubernetes 1.16.
        let legacy = (obj.api_version.split('/').next() == Some("extensions"))
            .then(|| {
                kinds::KINDS.iter().find(|k| {
                    k.name == obj.kind
                        && matches!(
                            k.kind,
                            Kind::NetworkPolicy
                                | Kind::Deployment
                                | Kind::DaemonSet
                                | Kind::ReplicaSet
                        )
                })
            })
            .flatten();
        if let Some(k) = info {
            check_names(k, obj, diags);
        }
        let misspelled = match info {
            None if legacy.is_none() => kinds::similar(&obj.api_version, &obj.kind),
            _ => None,
        };
        match info {
            Some(k) if k.kind == Kind::NetworkPolicy && obj.api_version == k.api_version => {
                if let Some(np) = decode_strict::<net::NetworkPolicy>(&obj.json, &obj.origin, diags)
                    && let Some(p) = convert_policy(&np, &ns, &obj.name, &obj.origin, diags)
                {
                    self.reference(&ns, &obj.origin);
                    self.cluster.policies.push(p);
                }
            }
            Some(k)
                if matches!(
                    k.kind,
                    Kind::AdminNetworkPolicy
                        | Kind::BaselineAdminNetworkPolicy
                        | Kind::ClusterNetworkPolicy
                ) =>
            {
                self.add_admin(k.kind, obj, diags)
            }
            None if let Some(k) = legacy => unserved_version(k, obj, diags),
            Some(k) if obj.api_version != k.api_version => unserved_version(k, obj, diags),
            Some(k) => self.add_known(k.kind, obj, &ns, diags),
            None if let Some(k) = misspelled => diags.push(
                Diagnostic::error(
                    format!("unknown kind `{}` in `{}`", obj.kind, obj.api_version),
                    Anchor::Field {
                        loc: root_loc(&obj.origin).key("kind"),
                        key: false,
                    },
                )
                .with_help(format!("did you mean `{}`?", k.name)),
            ),
            _ if is_policy_like(&obj.api_version, &obj.kind) => {
                self.cluster.unanalyzed.push(Unanalyzed {
                    api_version: obj.api_version.clone(),
                    kind: obj.kind.clone(),
                    namespace: obj.namespace.clone(),
                    name: obj.name.clone(),
                });
                diags.push(
                    Diagnostic::warning(
                        format!("{} is present but NOT analyzed: netfence evaluates networking.k8s.io/v1 NetworkPolicy only, so the answers below ignore it", obj.describe()),
                        Anchor::Field { loc: root_loc(&obj.origin).key("kind"), key: false },
                    )
                    .with_help("if your CNI enforces this object, real traffic may be more restricted (or more open) than reported"),
                );
            }
            _ => diags.push(Diagnostic::note(
                format!(
                    "skipped {} ({}): not relevant to NetworkPolicy",
                    obj.describe(),
                    obj.api_version
                ),
                Anchor::Field {
                    loc: root_loc(&obj.origin).key("kind"),
                    key: false,
                },
            )),
        }
        if diags[before..]
            .iter()
            .any(|d| d.severity == Severity::Error)
        {
            if info.is_some_and(|k| k.kind == Kind::Namespace) {
                self.rejected_namespaces.insert(obj.name.clone());
            }
            let what = obj.describe();
            for d in &mut diags[before..] {
                if d.object.is_none() {
                    d.object = Some(what.clone());
                    d.object_kind = Some(obj.kind.clone());
                }
            }
        }
    }

    /// Builds an object of a kind netfence reads, other than NetworkPolicy.
    fn add_known(&mut self, kind: Kind, obj: &RawObject, ns: &str, diags: &mut Vec<Diagnostic>) {
        match kind {
            // Built by `add` itself.
            Kind::NetworkPolicy
            | Kind::AdminNetworkPolicy
            | Kind::BaselineAdminNetworkPolicy
            | Kind::ClusterNetworkPolicy => {}
            Kind::Namespace => {
                if let Some(n) = decode_strict::<corev1::Namespace>(&obj.json, &obj.origin, diags) {
                    self.add_namespace(n.metadata, obj, diags);
                }
            }
            Kind::Node => {
                if let Some(n) = decode_strict::<corev1::Node>(&obj.json, &obj.origin, diags) {
                    self.add_node(n, obj, diags);
                }
            }
            Kind::Pod => {
                if let Some(p) = decode_strict::<corev1::Pod>(&obj.json, &obj.origin, diags) {
                    self.add_pod(p, ns, obj, diags);
                }
            }
            Kind::Service => {
                if let Some(s) = decode_strict::<corev1::Service>(&obj.json, &obj.origin, diags) {
                    self.add_service(s, ns, obj, diags);
                }
            }
            Kind::Deployment => self.workload::<apps::Deployment>(obj, ns, diags, |d| {
                d.spec.map(|s| (Some(s.selector), Some(s.template)))
            }),
            Kind::StatefulSet => self.workload::<apps::StatefulSet>(obj, ns, diags, |d| {
                d.spec.map(|s| (Some(s.selector), Some(s.template)))
            }),
            Kind::DaemonSet => self.workload::<apps::DaemonSet>(obj, ns, diags, |d| {
                d.spec.map(|s| (Some(s.selector), Some(s.template)))
            }),
            Kind::ReplicaSet => self.workload::<apps::ReplicaSet>(obj, ns, diags, |d| {
                d.spec.map(|s| (Some(s.selector), s.template))
            }),
            Kind::ReplicationController => {
                self.workload::<corev1::ReplicationController>(obj, ns, diags, |d| {
                    d.spec.map(|s| {
                        let sel = s.selector.map(|m| LabelSelector {
                            match_labels: Some(m),
                            match_expressions: None,
                        });
                        (sel, s.template)
                    })
                })
            }
            Kind::Job => self.workload::<batch::Job>(obj, ns, diags, |d| {
                d.spec.map(|s| (s.selector, Some(s.template)))
            }),
            Kind::CronJob => self.workload::<batch::CronJob>(obj, ns, diags, |d| {
                d.spec
                    .and_then(|s| s.job_template.spec)
                    .map(|s| (s.selector, Some(s.template)))
            }),
        }
    }

    pub(crate) fn finish(mut self, diags: &mut Vec<Diagnostic>) -> Cluster {
        self.attach_workloads();
        let declared: BTreeSet<String> = self
            .cluster
            .namespaces
            .iter()
            .map(|n| n.name.clone())
            .collect();
        for (ns, loc) in std::mem::take(&mut self.referenced) {
            if declared.contains(&ns) || self.rejected_namespaces.contains(&ns) {
                continue;
            }
            diags.push(
                Diagnostic::warning(
                    format!("namespace `{ns}` is used but not declared; netfence assumes it exists with only the label {NAMESPACE_NAME_LABEL}={ns} (its other labels are unknown)"),
                    Anchor::Field { loc, key: true },
                )
                .with_help(format!("add the Namespace object (`kubectl get namespace {ns} -o yaml`) so namespaceSelectors are evaluated on its real labels"))
                .with_kind(DiagnosticKind::UndeclaredNamespace),
            );
            self.implicit_namespace(&ns);
        }
        self.add_cluster_dns(diags);
        let c = &mut self.cluster;
        c.namespaces.sort_by(|a, b| a.name.cmp(&b.name));
        c.endpoints.sort_by(|a, b| a.id.cmp(&b.id));
        c.nodes.sort_by(|a, b| a.name.cmp(&b.name));
        c.services
            .sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
        c.policies
            .sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
        c.admin_policies
            .sort_by(|a, b| a.order_key().cmp(&b.order_key()));
        self.cluster
    }

    /// An admin policy of either generation (semantics.md §2.1).
    fn add_admin(&mut self, kind: Kind, obj: &RawObject, diags: &mut Vec<Diagnostic>) {
        use crate::admin::{self, AdminKind};
        let akind = match kind {
            Kind::AdminNetworkPolicy => AdminKind::Anp,
            Kind::BaselineAdminNetworkPolicy => AdminKind::Banp,
            _ => AdminKind::Cnp,
        };
        let version = obj.api_version.split_once('/').map(|(_, v)| v);
        if !version.is_some_and(|v| akind.versions().contains(&v)) {
            let served: Vec<String> = akind
                .versions()
                .iter()
                .map(|v| format!("`{}/{v}`", admin::GROUP))
                .collect();
            diags.push(
                Diagnostic::error(
                    format!(
                        "`{}` is not a served {} version",
                        obj.api_version,
                        akind.name()
                    ),
                    Anchor::Field {
                        loc: root_loc(&obj.origin).key("apiVersion"),
                        key: false,
                    },
                )
                .with_help(format!("write `apiVersion:` {}", served.join(" or "))),
            );
            return;
        }
        let raw = match akind {
            AdminKind::Anp => {
                decode_strict::<admin::AdminNetworkPolicyObject>(&obj.json, &obj.origin, diags)
                    .map(|o| o.0)
            }
            AdminKind::Banp => decode_strict::<admin::BaselineAdminNetworkPolicyObject>(
                &obj.json,
                &obj.origin,
                diags,
            )
            .map(|o| o.0),
            AdminKind::Cnp => {
                decode_strict::<admin::ClusterNetworkPolicyObject>(&obj.json, &obj.origin, diags)
                    .map(|o| o.0)
            }
        };
        if let Some(raw) = raw
            && let Some(p) = admin::convert_admin_policy(
                &raw,
                akind,
                &obj.api_version,
                &obj.name,
                &obj.origin,
                diags,
            )
        {
            self.cluster.admin_policies.push(p);
        }
    }

    pub(super) fn implicit_namespace(&mut self, ns: &str) {
        self.cluster.namespaces.push(Namespace {
            name: ns.to_string(),
            labels: Labels::from([(NAMESPACE_NAME_LABEL.to_string(), ns.to_string())]),
            labels_known: false,
            origin: None,
        });
    }
}

pub(crate) fn root_loc(origin: &ObjectOrigin) -> FieldLoc {
    FieldLoc {
        origin: origin.clone(),
        path: Vec::new(),
    }
}

/// An API version of a kind netfence reads that no supported Kubernetes serves
/// (`extensions/v1beta1`, `apps/v1beta2`): refused, as the API server does.
fn unserved_version(k: &KindInfo, obj: &RawObject, diags: &mut Vec<Diagnostic>) {
    let help = if k.kind == Kind::NetworkPolicy {
        "write `apiVersion: networking.k8s.io/v1` (the only NetworkPolicy version since Kubernetes 1.16)".to_string()
    } else {
        format!("write `apiVersion: {}`", k.api_version)
    };
    diags.push(
        Diagnostic::error(
            format!("`{}` is not a served {} version", obj.api_version, k.name),
            Anchor::Field {
                loc: root_loc(&obj.origin).key("apiVersion"),
                key: false,
            },
        )
        .with_help(help),
    );
}

/// Names as the API server validates them per kind (apimachinery's
/// `NameIsDNSSubdomain`, `NameIsDNS1035Label`, `ValidateNamespaceName`).
/// Namespace and NetworkPolicy names are checked where they are built.
fn check_names(k: &KindInfo, obj: &RawObject, diags: &mut Vec<Diagnostic>) {
    let meta = root_loc(&obj.origin).key("metadata");
    if !k.cluster_scoped
        && let Some(ns) = obj
            .json
            .get("metadata")
            .and_then(|m| m.get("namespace"))
            .and_then(|n| n.as_str())
            .filter(|n| !n.is_empty())
        && let Some(problem) = validate::dns1123_label_problem(ns)
    {
        diags.push(
            Diagnostic::error(
                format!("invalid namespace `{ns}`: {problem}"),
                Anchor::Field {
                    loc: meta.key("namespace"),
                    key: false,
                },
            )
            .with_help("a namespace name is a DNS label: at most 63 lowercase letters, digits and `-`, starting and ending with a letter or digit"),
        );
    }
    let (problem, rule) = match k.kind {
        Kind::Namespace | Kind::NetworkPolicy => return,
        Kind::Service => (
            validate::dns1035_label_problem(&obj.name),
            "a Service name is a DNS-1035 label: at most 63 lowercase letters, digits and `-`, starting with a letter and ending with a letter or digit",
        ),
        _ => (
            validate::dns1123_subdomain_problem(&obj.name),
            "the name is a DNS subdomain: at most 253 lowercase letters, digits, `-` and `.`, each part starting and ending with a letter or digit",
        ),
    };
    if let Some(problem) = problem {
        diags.push(
            Diagnostic::error(
                format!(
                    "invalid {} name `{}`: {problem}",
                    k.name,
                    obj.name.escape_debug()
                ),
                Anchor::Field {
                    loc: meta.key("name"),
                    key: false,
                },
            )
            .with_help(rule),
        );
    }
}

fn is_policy_like(api_version: &str, kind: &str) -> bool {
    let group = api_version.split('/').next().unwrap_or_default();
    group.ends_with("projectcalico.org")
        || group.ends_with("cilium.io")
        || group == "policy.networking.k8s.io"
        || group.ends_with("antrea.io")
        || kind.contains("NetworkPolicy")
}
