//! The kinds of object netfence reads, named by k8s-openapi's resource constants
//! so that a kind, its API group and its scope are spelled in one place.

use crate::admin;
use k8s_openapi::api::{
    apps::v1 as apps, batch::v1 as batch, core::v1 as core, networking::v1 as net,
};
use k8s_openapi::{ClusterResourceScope, NamespaceResourceScope, Resource};

/// A kind netfence reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    NetworkPolicy,
    Namespace,
    Node,
    Pod,
    Service,
    Deployment,
    StatefulSet,
    DaemonSet,
    ReplicaSet,
    ReplicationController,
    Job,
    CronJob,
    AdminNetworkPolicy,
    BaselineAdminNetworkPolicy,
    ClusterNetworkPolicy,
}

/// What k8s-openapi says of one kind.
pub(crate) struct KindInfo {
    pub kind: Kind,
    /// `NetworkPolicy`.
    pub name: &'static str,
    /// `networking.k8s.io/v1`.
    pub api_version: &'static str,
    /// The first part of `apiVersion` (`v1` for the core group), as written.
    pub group_text: &'static str,
    pub cluster_scoped: bool,
}

trait Scope {
    const CLUSTER: bool;
}

impl Scope for ClusterResourceScope {
    const CLUSTER: bool = true;
}

impl Scope for NamespaceResourceScope {
    const CLUSTER: bool = false;
}

const fn info<T: Resource>(kind: Kind) -> KindInfo
where
    T::Scope: Scope,
{
    KindInfo {
        kind,
        name: T::KIND,
        api_version: T::API_VERSION,
        group_text: if T::GROUP.is_empty() {
            T::API_VERSION
        } else {
            T::GROUP
        },
        cluster_scoped: <T::Scope as Scope>::CLUSTER,
    }
}

pub(crate) const KINDS: &[KindInfo] = &[
    info::<net::NetworkPolicy>(Kind::NetworkPolicy),
    info::<core::Namespace>(Kind::Namespace),
    info::<core::Node>(Kind::Node),
    info::<core::Pod>(Kind::Pod),
    info::<core::Service>(Kind::Service),
    info::<apps::Deployment>(Kind::Deployment),
    info::<apps::StatefulSet>(Kind::StatefulSet),
    info::<apps::DaemonSet>(Kind::DaemonSet),
    info::<apps::ReplicaSet>(Kind::ReplicaSet),
    info::<core::ReplicationController>(Kind::ReplicationController),
    info::<batch::Job>(Kind::Job),
    info::<batch::CronJob>(Kind::CronJob),
    info::<admin::AdminNetworkPolicyObject>(Kind::AdminNetworkPolicy),
    info::<admin::BaselineAdminNetworkPolicyObject>(Kind::BaselineAdminNetworkPolicy),
    info::<admin::ClusterNetworkPolicyObject>(Kind::ClusterNetworkPolicy),
];

/// The kind of an object written with `apiVersion` and `kind`: same kind, same
/// API group (any version of the group; which versions are served is checked
/// where the object is built).
pub(crate) fn lookup(api_version: &str, kind: &str) -> Option<&'static KindInfo> {
    let group = api_version.split('/').next().unwrap_or_default();
    KINDS
        .iter()
        .find(|k| k.name == kind && k.group_text == group)
}

/// Whether objects of `kind` have no namespace (judged by the kind's name alone,
/// as identities of objects of unknown groups are).
pub(crate) fn is_cluster_scoped(kind: &str) -> bool {
    KINDS.iter().any(|k| k.name == kind && k.cluster_scoped)
}

/// A kind netfence reads that `kind` in `api_version`'s group is a misspelling
/// of (another case, or at most two edits), when that group has no such kind.
pub(crate) fn similar(api_version: &str, kind: &str) -> Option<&'static KindInfo> {
    let group = api_version.split('/').next().unwrap_or_default();
    KINDS.iter().filter(|k| k.group_text == group).find(|k| {
        k.name.eq_ignore_ascii_case(kind)
            || (kind.len() > 3
                && crate::decode::edit_distance(
                    &k.name.to_ascii_lowercase(),
                    &kind.to_ascii_lowercase(),
                ) <= 2)
    })
}
