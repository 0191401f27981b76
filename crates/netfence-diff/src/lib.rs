//! `netfence diff`: what a change does to reachability, before it ships.
//!
//! Each version of the input has its own engine; this crate only compares their
//! answers. Endpoints are matched by id, and external addresses on the common
//! refinement of both sides' address groups (`AddressSpace::overlaps`), so a
//! /25 on one side and a /24 on the other compare address by address. Pairs are
//! decided once per pair of decision keys (class and node, on both sides), so the
//! cost follows the number of classes, not of pods. Results are grouped by
//! workload, as `report` groups them.

mod compare;
pub mod render;

pub use compare::diff;

mod admin;

use netfence_engine::{ConnSet, EndpointKind, Engine, Exception};
use netfence_model::{AdminTier, Direction, Sources};
use serde::Serialize;

/// One version of the input: its engine, its sources (for file:line:col) and
/// how the user named it.
pub struct Side<'a> {
    pub label: String,
    pub engine: &'a Engine<'a>,
    pub sources: &'a Sources,
}

/// Everything that differs between two versions, as `-o json` prints it
/// (schema in docs/json.md).
#[derive(Debug, Serialize)]
pub struct Diff {
    pub before: String,
    pub after: String,
    pub summary: Summary,
    pub callouts: Vec<Callout>,
    pub changes: Vec<Change>,
    pub appeared: Vec<EndpointGroup>,
    pub disappeared: Vec<EndpointGroup>,
    pub default_deny: Vec<PostureChange>,
    /// Admin policies added, removed, moved to another tier or priority, or
    /// with changed rules (absent when none changed).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub admin_policies: Vec<AdminPolicyChange>,
}

/// How one cluster-scoped admin policy (`Kind/name`) changed.
#[derive(Debug, PartialEq, Eq, Serialize)]
pub struct AdminPolicyChange {
    pub policy: String,
    pub change: AdminChangeKind,
    /// `Admin` or `Baseline` on each side that has the policy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tier_before: Option<AdminTier>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tier_after: Option<AdminTier>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority_before: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority_after: Option<u32>,
    /// Policies of the same tier on both sides that it was evaluated after and
    /// now comes before.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub now_before: Vec<String>,
    /// Policies of the same tier on both sides that it was evaluated before and
    /// now comes after.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub now_after: Vec<String>,
    /// Where the policy is on the side that has it (after, unless removed).
    pub location: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AdminChangeKind {
    Added,
    Removed,
    /// Same rules; its tier or priority changed.
    Moved,
    /// Its subject or rules changed (tier and priority may have too).
    Changed,
}

#[derive(Debug, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Entries of `changes`.
    pub changes: usize,
    /// Entries that add connections.
    pub added: usize,
    /// Entries that remove connections.
    pub removed: usize,
    pub appeared: usize,
    pub disappeared: usize,
    pub default_deny: usize,
    pub callouts: usize,
    /// Entries of `admin_policies` (absent when 0).
    #[serde(skip_serializing_if = "is_zero")]
    pub admin_policies: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// How one workload pair's connections changed. When replicas of a workload
/// differ (pod labels, ipBlocks matching some pod IPs, nodes), a pair has one
/// entry per distinct change and `only` says which pods each covers.
#[derive(Debug, Serialize)]
pub struct Change {
    /// Workload (`ns/kind/name`), pod, `node:NAME`, or a CIDR list.
    pub src: String,
    pub dst: String,
    pub before: ConnSet,
    pub after: ConnSet,
    pub added: ConnSet,
    pub removed: ConnSet,
    /// Empty when the change holds for every pod pair of `src` × `dst`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub only: Vec<PodPairs>,
    pub why: Why,
    #[serde(skip)]
    pub src_label: String,
    #[serde(skip)]
    pub dst_label: String,
    #[serde(skip)]
    pub src_external: bool,
    #[serde(skip)]
    pub src_namespace: Option<String>,
    #[serde(skip)]
    pub dst_namespace: Option<String>,
}

impl Change {
    /// The namespace a reader looks under: the source's, or for traffic from
    /// outside the namespaces (external ranges, nodes) the destination's.
    pub fn section(&self) -> Option<&str> {
        self.src_namespace
            .as_deref()
            .or(self.dst_namespace.as_deref())
    }

    fn touches(&self, namespace: &str) -> bool {
        [&self.src_namespace, &self.dst_namespace]
            .iter()
            .any(|n| n.as_deref() == Some(namespace))
    }
}

/// Every pod of `src` to every pod of `dst`.
#[derive(Debug, PartialEq, Eq, Serialize)]
pub struct PodPairs {
    pub src: Vec<String>,
    pub dst: Vec<String>,
}

/// The policies responsible, per side: for added connections what denied them
/// before and what allows them after; for removed ones the reverse.
#[derive(Debug, Default, PartialEq, Eq, Serialize)]
pub struct Why {
    pub before: Vec<Reason>,
    pub after: Vec<Reason>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "role", rename_all = "kebab-case")]
pub enum Reason {
    /// A rule of a policy selecting the subject (the source for egress, the
    /// destination for ingress) allows part of the change.
    Allows {
        policy: String,
        direction: Direction,
        /// `spec.egress[0]`.
        rule: String,
        location: String,
    },
    /// The policy isolates the subject and no rule allows part of the change.
    Isolates {
        policy: String,
        direction: Direction,
        location: String,
    },
    /// No policy selecting the subject isolates this direction.
    NotIsolated { direction: Direction },
    /// A pair exception (a pod and its own node).
    Exception {
        direction: Direction,
        exception: Exception,
    },
    /// An admin or baseline rule decided part of the change (Accept where it
    /// is allowed, Deny where it is denied) before or after the
    /// NetworkPolicy tier (semantics.md §2.2).
    Admin {
        policy: String,
        tier: AdminTier,
        #[serde(skip_serializing_if = "Option::is_none")]
        priority: Option<u32>,
        direction: Direction,
        /// `spec.egress[0]`.
        rule: String,
        /// As the policy's API spells it (`Allow` in v1alpha1).
        action: String,
        location: String,
    },
}

#[derive(Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Callout {
    /// Ingress from external addresses newly allowed: the destination's ingress
    /// refused connections from there that are now allowed.
    ExternalExposure {
        destination: String,
        from: Vec<String>,
        added: ConnSet,
        #[serde(skip)]
        namespace: Option<String>,
    },
    /// Ingress from pods of other namespaces newly allowed, as for external addresses.
    CrossNamespace {
        destination: String,
        from: Vec<String>,
        added: ConnSet,
        #[serde(skip)]
        namespace: Option<String>,
    },
    /// Pods that reached cluster DNS on port 53 and no longer do.
    DnsBroken {
        pod: String,
        /// `UDP 53`, `TCP 53` or both.
        lost: ConnSet,
        /// Policies isolating the pod's egress after the change (empty when DNS
        /// itself stopped accepting it).
        isolated_by: Vec<String>,
        /// When only some pods of the workload are affected.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        only: Vec<String>,
        #[serde(skip)]
        namespace: Option<String>,
    },
    /// An Admin-tier Deny that closes connections NetworkPolicies allowed
    /// before (no NetworkPolicy can re-open them).
    AdminDenyCloses {
        policy: String,
        /// `spec.ingress[0]`.
        rule: String,
        location: String,
        /// `src -> dst` of the changes it closes.
        pairs: Vec<String>,
        /// The NetworkPolicies that allowed them before.
        allowed_before_by: Vec<String>,
        #[serde(skip)]
        namespace: Option<String>,
    },
    /// A namespace that had a default-deny for a direction and has none now.
    DefaultDenyLost {
        namespace: String,
        direction: Direction,
        /// The default-deny policies it had.
        policies: Vec<String>,
    },
}

impl Callout {
    fn namespace(&self) -> Option<&str> {
        match self {
            Callout::ExternalExposure { namespace, .. }
            | Callout::CrossNamespace { namespace, .. }
            | Callout::DnsBroken { namespace, .. }
            | Callout::AdminDenyCloses { namespace, .. } => namespace.as_deref(),
            Callout::DefaultDenyLost { namespace, .. } => Some(namespace),
        }
    }
}

/// Endpoints of one workload (or one endpoint) present on one side only.
#[derive(Debug, PartialEq, Eq, Serialize)]
pub struct EndpointGroup {
    pub group: String,
    pub kind: EndpointKind,
    /// The pods, when the group is a workload whose pods are in the input.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub endpoints: Vec<String>,
    #[serde(skip)]
    pub namespace: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Posture {
    Lost,
    Gained,
}

/// A namespace's default-deny (a policy with `podSelector: {}` isolating a
/// direction) appearing or disappearing.
#[derive(Debug, PartialEq, Eq, Serialize)]
pub struct PostureChange {
    pub namespace: String,
    pub direction: Direction,
    pub change: Posture,
    /// The default-deny policies of the side that has them.
    pub policies: Vec<String>,
}

/// Which changes make `netfence diff` exit 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailOn {
    /// Connections added, or a default-deny lost (it opens future pods).
    Added,
    /// Connections removed.
    Removed,
    /// Anything in the diff, endpoints appearing and default-deny gained included.
    Any,
}

impl Diff {
    pub fn is_empty(&self) -> bool {
        self.summary == Summary::default()
    }

    /// Whether the diff holds a change of the kind `fail_on` asks about.
    pub fn fails(&self, fail_on: FailOn) -> bool {
        let lost = self.default_deny.iter().any(|p| p.change == Posture::Lost);
        match fail_on {
            FailOn::Added => self.summary.added > 0 || lost,
            FailOn::Removed => self.summary.removed > 0,
            FailOn::Any => !self.is_empty(),
        }
    }

    /// Keeps what involves `namespace` (`-n`): changes with an end there,
    /// endpoints, callouts and postures of that namespace.
    pub fn retain_namespace(&mut self, namespace: &str) {
        let here = |n: Option<&str>| n == Some(namespace);
        self.changes.retain(|c| c.touches(namespace));
        self.callouts.retain(|c| here(c.namespace()));
        self.appeared.retain(|e| here(e.namespace.as_deref()));
        self.disappeared.retain(|e| here(e.namespace.as_deref()));
        self.default_deny.retain(|p| p.namespace == namespace);
        self.summary = summarize(self);
    }
}

fn summarize(d: &Diff) -> Summary {
    Summary {
        changes: d.changes.len(),
        added: d.changes.iter().filter(|c| !c.added.is_empty()).count(),
        removed: d.changes.iter().filter(|c| !c.removed.is_empty()).count(),
        appeared: d.appeared.len(),
        disappeared: d.disappeared.len(),
        default_deny: d.default_deny.len(),
        callouts: d.callouts.len(),
        admin_policies: d.admin_policies.len(),
    }
}
