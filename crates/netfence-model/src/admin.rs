//! Cluster-scoped admin policies (`policy.networking.k8s.io`): the decoded
//! shapes of AdminNetworkPolicy and BaselineAdminNetworkPolicy (v1alpha1) and
//! ClusterNetworkPolicy (v1alpha2, and v1beta1 with the same schema), their
//! validation as the CRDs' schema and CEL rules do (plus what the API documents
//! but does not enforce, semantics.md §2.4-2.5), and their conversion into the
//! one [`AdminPolicy`] form.
//!
//! One decoded shape serves every generation: a field of another generation
//! (`tier` in an AdminNetworkPolicy, `ports` in a ClusterNetworkPolicy) is
//! reported here as unknown in that kind, as the API server would.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use serde::Deserialize;

use crate::diag::{Anchor, Diagnostic};
use crate::labels::{Selector, convert_selector};
use crate::model::{
    AdminAction, AdminApi, AdminPeer, AdminPeerKind, AdminPolicy, AdminPort, AdminRule,
    AdminSubject, AdminTier, Direction, Protocol,
};
use crate::sources::{FieldLoc, ObjectOrigin};
use crate::validate;

/// The API group of every admin kind.
pub const GROUP: &str = "policy.networking.k8s.io";

macro_rules! admin_resource {
    ($ty:ident, $kind:literal, $version:literal, $plural:literal) => {
        impl k8s_openapi::Resource for $ty {
            const API_VERSION: &'static str = concat!("policy.networking.k8s.io/", $version);
            const GROUP: &'static str = GROUP;
            const KIND: &'static str = $kind;
            const VERSION: &'static str = $version;
            const URL_PATH_SEGMENT: &'static str = $plural;
            type Scope = k8s_openapi::ClusterResourceScope;
        }
    };
}

/// The decoded object; the wrappers below only give each kind its name.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawAdminPolicy {
    pub api_version: Option<String>,
    pub kind: Option<String>,
    #[serde(default)]
    pub metadata: ObjectMeta,
    pub spec: Option<RawSpec>,
    /// Conditions written by the implementation; no policy meaning.
    pub status: Option<serde_json::Value>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(transparent)]
pub struct AdminNetworkPolicyObject(pub RawAdminPolicy);
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(transparent)]
pub struct BaselineAdminNetworkPolicyObject(pub RawAdminPolicy);
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(transparent)]
pub struct ClusterNetworkPolicyObject(pub RawAdminPolicy);

admin_resource!(
    AdminNetworkPolicyObject,
    "AdminNetworkPolicy",
    "v1alpha1",
    "adminnetworkpolicies"
);
admin_resource!(
    BaselineAdminNetworkPolicyObject,
    "BaselineAdminNetworkPolicy",
    "v1alpha1",
    "baselineadminnetworkpolicies"
);
admin_resource!(
    ClusterNetworkPolicyObject,
    "ClusterNetworkPolicy",
    "v1alpha2",
    "clusternetworkpolicies"
);

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawSpec {
    pub tier: Option<String>,
    pub priority: Option<i64>,
    pub subject: Option<RawSubject>,
    pub ingress: Option<Vec<RawRule>>,
    pub egress: Option<Vec<RawRule>>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawSubject {
    pub namespaces: Option<LabelSelector>,
    pub pods: Option<RawNamespacedPod>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawNamespacedPod {
    pub namespace_selector: Option<LabelSelector>,
    pub pod_selector: Option<LabelSelector>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawRule {
    pub name: Option<String>,
    pub action: Option<String>,
    pub from: Option<Vec<RawPeer>>,
    pub to: Option<Vec<RawPeer>>,
    /// v1alpha1.
    pub ports: Option<Vec<RawPort>>,
    /// v1alpha2 / v1beta1.
    pub protocols: Option<Vec<RawProtocol>>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawPeer {
    pub namespaces: Option<LabelSelector>,
    pub pods: Option<RawNamespacedPod>,
    pub networks: Option<Vec<String>>,
    pub nodes: Option<LabelSelector>,
    pub domain_names: Option<Vec<String>>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawPort {
    pub port_number: Option<RawPortNumber>,
    pub port_range: Option<RawPortRange>,
    pub named_port: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawPortNumber {
    pub protocol: Option<String>,
    pub port: Option<i64>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawPortRange {
    pub protocol: Option<String>,
    pub start: Option<i64>,
    pub end: Option<i64>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawProtocol {
    pub tcp: Option<RawProtocolPorts>,
    pub udp: Option<RawProtocolPorts>,
    pub sctp: Option<RawProtocolPorts>,
    pub destination_named_port: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawProtocolPorts {
    pub destination_port: Option<RawDestinationPort>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawDestinationPort {
    pub number: Option<i64>,
    pub range: Option<RawPortRange>,
}

/// Which of the three kinds an object is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AdminKind {
    Anp,
    Banp,
    Cnp,
}

impl AdminKind {
    pub fn name(self) -> &'static str {
        match self {
            AdminKind::Anp => "AdminNetworkPolicy",
            AdminKind::Banp => "BaselineAdminNetworkPolicy",
            AdminKind::Cnp => "ClusterNetworkPolicy",
        }
    }

    /// The API versions that serve the kind.
    pub fn versions(self) -> &'static [&'static str] {
        match self {
            AdminKind::Anp | AdminKind::Banp => &["v1alpha1"],
            AdminKind::Cnp => &["v1alpha2", "v1beta1"],
        }
    }

    /// Limits of the generation: (rules per direction, peers per rule, ports per rule).
    fn limits(self) -> (usize, usize, usize) {
        match self {
            AdminKind::Anp | AdminKind::Banp => (100, 100, 100),
            AdminKind::Cnp => (25, 25, 25),
        }
    }

    fn accept_word(self) -> &'static str {
        match self {
            AdminKind::Cnp => "Accept",
            _ => "Allow",
        }
    }
}

fn err(
    loc: &FieldLoc,
    key: bool,
    message: impl Into<String>,
    help: impl Into<String>,
) -> Diagnostic {
    Diagnostic::error(
        message,
        Anchor::Field {
            loc: loc.clone(),
            key,
        },
    )
    .with_help(help)
}

/// A field of another generation or direction: unknown in this kind, as the API
/// server's schema says.
fn not_here(loc: &FieldLoc, field: &str, kind: AdminKind, help: impl Into<String>) -> Diagnostic {
    err(
        &loc.key(field),
        true,
        format!("unknown field `{field}` in a {}", kind.name()),
        help,
    )
}

struct Ctx<'d> {
    kind: AdminKind,
    api: AdminApi,
    diags: &'d mut Vec<Diagnostic>,
}

/// Validates and converts one decoded admin policy; every problem is appended to
/// `diags` and `None` is returned if there was any error.
pub fn convert_admin_policy(
    raw: &RawAdminPolicy,
    kind: AdminKind,
    api_version: &str,
    name: &str,
    origin: &ObjectOrigin,
    diags: &mut Vec<Diagnostic>,
) -> Option<AdminPolicy> {
    let errors = |d: &Vec<Diagnostic>| {
        d.iter()
            .filter(|d| d.severity == crate::Severity::Error)
            .count()
    };
    let before = errors(diags);
    let root = FieldLoc {
        origin: origin.clone(),
        path: Vec::new(),
    };
    let api = match api_version.split_once('/').map(|(_, v)| v) {
        Some("v1alpha2") => AdminApi::V1alpha2,
        Some("v1beta1") => AdminApi::V1beta1,
        _ => AdminApi::V1alpha1,
    };
    let mut cx = Ctx { kind, api, diags };
    if kind == AdminKind::Banp && name != "default" {
        cx.diags.push(err(
            &root.key("metadata").key("name"),
            false,
            format!("a BaselineAdminNetworkPolicy must be named `default`, not `{name}`"),
            "there is one per cluster: write `name: default` (merge the rules of several into it)",
        ));
    }
    let spec_loc = root.key("spec");
    let Some(spec) = &raw.spec else {
        cx.diags.push(err(
            &root,
            false,
            format!("a {} needs a `spec`", kind.name()),
            "add `spec:` with `subject:` and the `ingress:`/`egress:` rules",
        ));
        return None;
    };
    let tier = match kind {
        AdminKind::Anp => Some(AdminTier::Admin),
        AdminKind::Banp => Some(AdminTier::Baseline),
        AdminKind::Cnp => match spec.tier.as_deref() {
            None => {
                cx.diags.push(err(
                    &spec_loc,
                    true,
                    "required field `tier` is missing",
                    "add `tier: Admin` (before NetworkPolicy) or `tier: Baseline` (after it)",
                ));
                None
            }
            Some("Admin") => Some(AdminTier::Admin),
            Some("Baseline") => Some(AdminTier::Baseline),
            Some(other) => {
                cx.diags.push(err(
                    &spec_loc.key("tier"),
                    false,
                    format!("unsupported tier `{other}`"),
                    "write `Admin` or `Baseline` (exactly this case)",
                ));
                None
            }
        },
    };
    if kind != AdminKind::Cnp && spec.tier.is_some() {
        cx.diags.push(not_here(
            &spec_loc,
            "tier",
            kind,
            "the kind is the tier in v1alpha1 (AdminNetworkPolicy: Admin, BaselineAdminNetworkPolicy: Baseline); remove it",
        ));
    }
    let priority = match (kind, spec.priority) {
        (AdminKind::Banp, None) => None,
        (AdminKind::Banp, Some(_)) => {
            cx.diags.push(not_here(
                &spec_loc,
                "priority",
                kind,
                "a BaselineAdminNetworkPolicy has no priority (there is only one); remove it",
            ));
            None
        }
        (_, None) => {
            cx.diags.push(err(
                &spec_loc,
                true,
                "required field `priority` is missing",
                "add `priority:` between 0 (first) and 1000 (last)",
            ));
            None
        }
        (_, Some(p)) => match u32::try_from(p).ok().filter(|p| *p <= 1000) {
            Some(p) => Some(p),
            None => {
                cx.diags.push(err(
                    &spec_loc.key("priority"),
                    false,
                    format!("priority {p} is out of range: it must be between 0 and 1000"),
                    "0 is evaluated first, 1000 last",
                ));
                None
            }
        },
    };
    let subject = match &spec.subject {
        None => {
            cx.diags.push(err(
                &spec_loc,
                true,
                "required field `subject` is missing",
                "add `subject: {namespaces: {}}` for every pod, or `subject: {pods: {...}}`",
            ));
            None
        }
        Some(s) => convert_subject(s, &spec_loc.key("subject"), &mut cx),
    };
    let ingress = convert_rules(
        spec.ingress.as_deref(),
        Direction::Ingress,
        &spec_loc,
        &mut cx,
    );
    let egress = convert_rules(
        spec.egress.as_deref(),
        Direction::Egress,
        &spec_loc,
        &mut cx,
    );
    if errors(cx.diags) > before {
        return None;
    }
    if kind == AdminKind::Banp && priority.is_some() {
        return None;
    }
    Some(AdminPolicy {
        kind: kind.name().to_string(),
        api,
        name: name.to_string(),
        tier: tier?,
        priority: if kind == AdminKind::Banp {
            None
        } else {
            Some(priority?)
        },
        subject: subject?,
        ingress,
        egress,
        origin: origin.clone(),
        loc: spec_loc,
    })
}

fn selector(sel: &LabelSelector, loc: &FieldLoc, cx: &mut Ctx) -> Option<Selector> {
    convert_selector(sel, loc, cx.diags)
}

/// `pods: {namespaceSelector, podSelector}`: v1alpha1 requires both; later
/// generations default an absent namespaceSelector to every namespace.
fn namespaced_pod(
    raw: &RawNamespacedPod,
    loc: &FieldLoc,
    cx: &mut Ctx,
) -> Option<(Selector, Selector)> {
    let ns = match &raw.namespace_selector {
        Some(s) => selector(s, &loc.key("namespaceSelector"), cx),
        None if cx.api == AdminApi::V1alpha1 => {
            cx.diags.push(err(
                loc,
                true,
                "required field `namespaceSelector` is missing",
                "add `namespaceSelector: {}` for every namespace, or a selector of the namespaces",
            ));
            None
        }
        None => Some(Selector::everything()),
    };
    let pods = match &raw.pod_selector {
        Some(s) => selector(s, &loc.key("podSelector"), cx),
        None => {
            cx.diags.push(err(
                loc,
                true,
                "required field `podSelector` is missing",
                "add `podSelector: {}` for every pod of the namespaces, or a selector of the pods; for whole namespaces write `namespaces:` instead of `pods:`",
            ));
            None
        }
    };
    Some((ns?, pods?))
}

fn convert_subject(raw: &RawSubject, loc: &FieldLoc, cx: &mut Ctx) -> Option<AdminSubject> {
    match (&raw.namespaces, &raw.pods) {
        (Some(_), Some(_)) => {
            cx.diags.push(err(
                &loc.key("pods"),
                true,
                "subject sets both `namespaces` and `pods`; exactly one is allowed",
                "keep `namespaces:` for whole namespaces, or `pods:` (namespaceSelector and podSelector) for some pods",
            ));
            None
        }
        (None, None) => {
            cx.diags.push(err(
                loc,
                true,
                "subject sets neither `namespaces` nor `pods`; exactly one is required",
                "write `namespaces: {}` for every pod of the cluster, or `pods: {namespaceSelector: ..., podSelector: ...}`",
            ));
            None
        }
        (Some(ns), None) => selector(ns, &loc.key("namespaces"), cx).map(AdminSubject::Namespaces),
        (None, Some(p)) => {
            namespaced_pod(p, &loc.key("pods"), cx).map(|(namespace_selector, pod_selector)| {
                AdminSubject::Pods {
                    namespace_selector,
                    pod_selector,
                }
            })
        }
    }
}

fn convert_rules(
    raw: Option<&[RawRule]>,
    dir: Direction,
    spec_loc: &FieldLoc,
    cx: &mut Ctx,
) -> Vec<AdminRule> {
    let Some(raw) = raw else {
        return Vec::new();
    };
    let list_loc = spec_loc.key(dir.as_str());
    let (max_rules, _, _) = cx.kind.limits();
    if raw.len() > max_rules {
        cx.diags.push(err(
            &list_loc,
            true,
            format!(
                "{} has {} rules, at most {max_rules} are allowed in a {}",
                dir.as_str(),
                raw.len(),
                cx.kind.name()
            ),
            "merge rules with the same action, or split the policy into several at neighbouring priorities",
        ));
    }
    raw.iter()
        .enumerate()
        .filter_map(|(i, r)| convert_rule(r, dir, &list_loc.index(i), cx))
        .collect()
}

fn convert_rule(raw: &RawRule, dir: Direction, loc: &FieldLoc, cx: &mut Ctx) -> Option<AdminRule> {
    let before = cx.diags.len();
    let (_, max_peers, max_ports) = cx.kind.limits();
    if let Some(name) = &raw.name
        && name.chars().count() > 100
    {
        cx.diags.push(err(
            &loc.key("name"),
            false,
            format!(
                "rule name has {} characters, at most 100 are allowed",
                name.chars().count()
            ),
            "shorten the name",
        ));
    }
    let accept = cx.kind.accept_word();
    let action = match raw.action.as_deref() {
        None => {
            cx.diags.push(err(
                loc,
                true,
                "required field `action` is missing",
                format!(
                    "add `action: {accept}`, `action: Deny`{}",
                    if cx.kind == AdminKind::Banp {
                        ""
                    } else {
                        " or `action: Pass`"
                    }
                ),
            ));
            None
        }
        Some(a) => match (a, cx.kind) {
            ("Allow", AdminKind::Anp | AdminKind::Banp) | ("Accept", AdminKind::Cnp) => {
                Some(AdminAction::Accept)
            }
            ("Deny", _) => Some(AdminAction::Deny),
            ("Pass", AdminKind::Anp | AdminKind::Cnp) => Some(AdminAction::Pass),
            _ => {
                let help = match (a, cx.kind) {
                    ("Pass", AdminKind::Banp) => "a BaselineAdminNetworkPolicy rule cannot Pass (there is no tier after it but the default, which allows): write `Allow` or `Deny`, or remove the rule".to_string(),
                    ("Accept", _) => "v1alpha1 spells it `Allow`".to_string(),
                    ("Allow", _) => "ClusterNetworkPolicy spells it `Accept`".to_string(),
                    _ if cx.kind == AdminKind::Banp => "write `Allow` or `Deny` (exactly this case)".to_string(),
                    _ => format!("write `{accept}`, `Deny` or `Pass` (exactly this case)"),
                };
                cx.diags.push(err(
                    &loc.key("action"),
                    false,
                    format!("unsupported action `{a}` in a {}", cx.kind.name()),
                    help,
                ));
                None
            }
        },
    };
    let (field, other) = match dir {
        Direction::Ingress => ("from", "to"),
        Direction::Egress => ("to", "from"),
    };
    let (peers_raw, stray) = match dir {
        Direction::Ingress => (&raw.from, &raw.to),
        Direction::Egress => (&raw.to, &raw.from),
    };
    if stray.is_some() {
        cx.diags.push(err(
            &loc.key(other),
            true,
            format!("unknown field `{other}` in an {} rule", dir.as_str()),
            format!("{} rules list their peers under `{field}`", dir.as_str()),
        ));
    }
    let mut peers = Vec::new();
    match peers_raw {
        None => cx.diags.push(err(
            loc,
            true,
            format!("required field `{field}` is missing"),
            format!("add `{field}:` with at least one peer, e.g. `- namespaces: {{}}` for every pod of the cluster"),
        )),
        Some(list) if list.is_empty() => cx.diags.push(err(
            &loc.key(field),
            false,
            format!("`{field}` is empty; it needs at least one peer"),
            "add a peer, e.g. `- namespaces: {}`; to match nothing, remove the rule",
        )),
        Some(list) => {
            if list.len() > max_peers {
                cx.diags.push(err(
                    &loc.key(field),
                    true,
                    format!("`{field}` has {} peers, at most {max_peers} are allowed", list.len()),
                    "merge peers (one `networks` entry holds up to 25 CIDRs) or split the rule",
                ));
            }
            for (j, p) in list.iter().enumerate() {
                if let Some(p) = convert_peer(p, dir, action, &loc.key(field).index(j), cx) {
                    peers.push(p);
                }
            }
        }
    }
    let ports = match cx.api {
        AdminApi::V1alpha1 => {
            if raw.protocols.is_some() {
                cx.diags.push(not_here(
                    loc,
                    "protocols",
                    cx.kind,
                    "v1alpha1 writes `ports:` with `portNumber`, `portRange` or `namedPort` items",
                ));
            }
            raw.ports.as_ref().map(|list| {
                check_count(list.len(), max_ports, &loc.key("ports"), "ports", cx);
                list.iter()
                    .enumerate()
                    .filter_map(|(j, p)| convert_v1alpha1_port(p, &loc.key("ports").index(j), cx))
                    .collect::<Vec<_>>()
            })
        }
        AdminApi::V1alpha2 | AdminApi::V1beta1 => {
            if raw.ports.is_some() {
                cx.diags.push(not_here(loc, "ports", cx.kind, "ClusterNetworkPolicy writes `protocols:` with `tcp`, `udp`, `sctp` or `destinationNamedPort` items"));
            }
            raw.protocols.as_ref().map(|list| {
                check_count(
                    list.len(),
                    max_ports,
                    &loc.key("protocols"),
                    "protocols",
                    cx,
                );
                list.iter()
                    .enumerate()
                    .filter_map(|(j, p)| convert_protocol(p, &loc.key("protocols").index(j), cx))
                    .collect::<Vec<_>>()
            })
        }
    };
    // The experimental CRDs' CEL rule: a named port is resolved on a pod, so it
    // cannot go with peers that are not pods.
    if let Some(ports) = &ports
        && ports.iter().any(|p| matches!(p, AdminPort::Named(_)))
        && let Some(j) = peers.iter().position(|p| {
            matches!(
                p.kind,
                AdminPeerKind::Networks(_)
                    | AdminPeerKind::Nodes(_)
                    | AdminPeerKind::DomainNames(_)
            )
        })
    {
        let field = ports_field(cx.api);
        cx.diags.push(err(
            loc,
            false,
            format!(
                "a named port cannot be used in a rule with a networks/nodes/domainNames peer (`{}` has `{}`): there are no named ports for them",
                field,
                peer_field(&peers[j].kind)
            ),
            "split the rule: one with the pod peers and the named port, one with the other peers and port numbers",
        ));
    }
    if cx.diags[before..]
        .iter()
        .any(|d| d.severity == crate::Severity::Error)
    {
        return None;
    }
    Some(AdminRule {
        name: raw.name.clone().filter(|n| !n.is_empty()),
        action: action?,
        peers,
        ports,
        loc: loc.clone(),
    })
}

fn ports_field(api: AdminApi) -> &'static str {
    match api {
        AdminApi::V1alpha1 => "ports",
        _ => "protocols",
    }
}

fn peer_field(kind: &AdminPeerKind) -> &'static str {
    match kind {
        AdminPeerKind::Namespaces(_) => "namespaces",
        AdminPeerKind::Pods { .. } => "pods",
        AdminPeerKind::Networks(_) => "networks",
        AdminPeerKind::Nodes(_) => "nodes",
        AdminPeerKind::DomainNames(_) => "domainNames",
    }
}

fn check_count(n: usize, max: usize, loc: &FieldLoc, field: &str, cx: &mut Ctx) {
    if n == 0 {
        cx.diags.push(err(
            loc,
            false,
            format!("`{field}` is empty: it must have at least 1 entry"),
            format!("to match every protocol and port, remove `{field}`"),
        ));
    } else if n > max {
        cx.diags.push(err(
            loc,
            true,
            format!("`{field}` has {n} entries, at most {max} are allowed"),
            "use port ranges, or split the rule",
        ));
    }
}

fn convert_peer(
    raw: &RawPeer,
    dir: Direction,
    action: Option<AdminAction>,
    loc: &FieldLoc,
    cx: &mut Ctx,
) -> Option<AdminPeer> {
    let mut set: Vec<&str> = Vec::new();
    if raw.namespaces.is_some() {
        set.push("namespaces");
    }
    if raw.pods.is_some() {
        set.push("pods");
    }
    if raw.networks.is_some() {
        set.push("networks");
    }
    if raw.nodes.is_some() {
        set.push("nodes");
    }
    if raw.domain_names.is_some() {
        set.push("domainNames");
    }
    let mut ok = true;
    for f in &set {
        let allowed = match (*f, dir) {
            ("namespaces" | "pods", _) => true,
            (_, Direction::Ingress) => false,
            ("domainNames", _) => cx.kind != AdminKind::Banp,
            _ => true,
        };
        if !allowed {
            ok = false;
            let help = if dir == Direction::Ingress {
                "ingress peers are `namespaces` or `pods`; traffic from nodes and external addresses cannot be matched by an admin ingress rule".to_string()
            } else {
                "a BaselineAdminNetworkPolicy has no domainNames peers; use a ClusterNetworkPolicy with `tier: Baseline`, or `networks`".to_string()
            };
            cx.diags.push(err(
                &loc.key(f),
                true,
                format!(
                    "unknown field `{f}` in {} {} peer",
                    if dir == Direction::Ingress { "an" } else { "a" },
                    if dir == Direction::Ingress {
                        "ingress".to_string()
                    } else {
                        format!("{} egress", cx.kind.name())
                    }
                ),
                help,
            ));
        }
    }
    if set.len() != 1 {
        cx.diags.push(err(
            loc,
            false,
            if set.is_empty() {
                "this peer sets no field; exactly one of namespaces, pods, networks, nodes, domainNames is required".to_string()
            } else {
                format!("this peer sets {}; exactly one is allowed", set.join(" and "))
            },
            "write each kind of peer as its own list item (items are OR-ed)",
        ));
        return None;
    }
    if !ok {
        return None;
    }
    let kind = if let Some(ns) = &raw.namespaces {
        AdminPeerKind::Namespaces(selector(ns, &loc.key("namespaces"), cx)?)
    } else if let Some(p) = &raw.pods {
        let (namespace_selector, pod_selector) = namespaced_pod(p, &loc.key("pods"), cx)?;
        AdminPeerKind::Pods {
            namespace_selector,
            pod_selector,
        }
    } else if let Some(n) = &raw.nodes {
        AdminPeerKind::Nodes(selector(n, &loc.key("nodes"), cx)?)
    } else if let Some(nets) = &raw.networks {
        AdminPeerKind::Networks(networks(nets, &loc.key("networks"), cx)?)
    } else if let Some(names) = &raw.domain_names {
        let misplaced = action.is_some_and(|a| a != AdminAction::Accept);
        if let Some(a) = action.filter(|_| misplaced) {
            cx.diags.push(err(
                &loc.key("domainNames"),
                true,
                format!("domainNames can only be used in {} rules, not {}", cx.kind.accept_word(), a.spelled(cx.api)),
                format!("write the rule with `action: {}` and put a Deny rule for `networks` after it to make an allowlist", cx.kind.accept_word()),
            ));
        }
        let names = domain_names(names, &loc.key("domainNames"), cx);
        if misplaced {
            return None;
        }
        AdminPeerKind::DomainNames(names?)
    } else {
        return None;
    };
    Some(AdminPeer {
        kind,
        loc: loc.clone(),
    })
}

fn list_limits(n: usize, loc: &FieldLoc, field: &str, cx: &mut Ctx) -> bool {
    if n == 0 || n > 25 {
        cx.diags.push(err(
            loc,
            false,
            format!("`{field}` has {n} entries; between 1 and 25 are allowed"),
            if n == 0 {
                "add an entry, or remove the peer".to_string()
            } else {
                "split the entries over several peers".to_string()
            },
        ));
        return false;
    }
    true
}

fn duplicates(items: &[String], loc: &FieldLoc, field: &str, cx: &mut Ctx) -> bool {
    let mut ok = true;
    for (i, a) in items.iter().enumerate() {
        if items[..i].contains(a) {
            ok = false;
            cx.diags.push(err(
                &loc.index(i),
                false,
                format!("duplicate value `{a}` in `{field}`"),
                "remove the repeated entry",
            ));
        }
    }
    ok
}

fn networks(raw: &[String], loc: &FieldLoc, cx: &mut Ctx) -> Option<Vec<ipnet::IpNet>> {
    let mut ok = list_limits(raw.len(), loc, "networks", cx);
    ok &= duplicates(raw, loc, "networks", cx);
    let mut out = Vec::new();
    for (i, text) in raw.iter().enumerate() {
        let l = loc.index(i);
        if text.len() > 43 {
            ok = false;
            cx.diags.push(err(
                &l,
                false,
                format!(
                    "`{text}` has {} characters, at most 43 are allowed",
                    text.len()
                ),
                "write the CIDR without padding, e.g. `fd00::/8`",
            ));
            continue;
        }
        match validate::parse_cidr(text) {
            Ok((net, masked)) => {
                if masked {
                    cx.diags.push(
                        Diagnostic::warning(
                            format!("`{text}` has host bits set; it means `{net}`"),
                            Anchor::Field {
                                loc: l.clone(),
                                key: false,
                            },
                        )
                        .with_help(format!("write `{net}`")),
                    );
                }
                out.push(net);
            }
            Err(problem) => {
                ok = false;
                cx.diags.push(err(
                    &l,
                    false,
                    format!("invalid CIDR: {problem}"),
                    "write an address and prefix length such as `10.0.0.0/8` or `fd00::/8`",
                ));
            }
        }
    }
    ok.then_some(out)
}

/// The CRD's pattern for a domain name: an optional `*.` prefix, then labels of
/// letters, digits, `-` and `_` (not at either end), at least two, an optional
/// final dot. (The pattern's `A-z` also admits `[\]^_\``; netfence requires the
/// letters the documentation describes.)
pub fn domain_name_problem(name: &str) -> Option<&'static str> {
    let rest = name.strip_prefix("*.").unwrap_or(name);
    let rest = rest.strip_suffix('.').unwrap_or(rest);
    let labels: Vec<&str> = rest.split('.').collect();
    if labels.len() < 2 {
        return Some("a domain name has at least two labels, e.g. `example.com`");
    }
    for l in labels {
        if l.is_empty() {
            return Some("a label is empty (two dots in a row)");
        }
        if l.contains('*') {
            return Some(
                "the wildcard `*` is only allowed as a whole first label (`*.example.com`)",
            );
        }
        if !l
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Some("labels are letters, digits, `-` and `_`");
        }
        let first = l.chars().next();
        let last = l.chars().last();
        if !first.is_some_and(|c| c.is_ascii_alphanumeric())
            || !last.is_some_and(|c| c.is_ascii_alphanumeric())
        {
            return Some("a label starts and ends with a letter or digit");
        }
    }
    None
}

fn domain_names(raw: &[String], loc: &FieldLoc, cx: &mut Ctx) -> Option<Vec<String>> {
    let mut ok = list_limits(raw.len(), loc, "domainNames", cx);
    ok &= duplicates(raw, loc, "domainNames", cx);
    for (i, name) in raw.iter().enumerate() {
        if let Some(problem) = domain_name_problem(name) {
            ok = false;
            cx.diags.push(err(
                &loc.index(i),
                false,
                format!("invalid domain name `{name}`: {problem}"),
                "write an exact name (`api.example.com`) or `*.` and a name for its subdomains (`*.example.com`)",
            ));
        }
    }
    ok.then(|| raw.to_vec())
}

fn port_number(n: Option<i64>, loc: &FieldLoc, field: &str, cx: &mut Ctx) -> Option<u16> {
    match n {
        None => {
            cx.diags.push(err(
                loc,
                true,
                format!("required field `{field}` is missing"),
                format!("add `{field}:` with a port number between 1 and 65535"),
            ));
            None
        }
        Some(n) => match u16::try_from(n).ok().filter(|p| *p >= 1) {
            Some(p) => Some(p),
            None => {
                cx.diags.push(err(
                    &loc.key(field),
                    false,
                    format!("port {n} is out of range"),
                    "a port number is between 1 and 65535",
                ));
                None
            }
        },
    }
}

fn range(raw: &RawPortRange, loc: &FieldLoc, cx: &mut Ctx) -> Option<(u16, u16)> {
    let start = port_number(raw.start, loc, "start", cx);
    let end = port_number(raw.end, loc, "end", cx);
    let (start, end) = (start?, end?);
    if start >= end {
        cx.diags.push(err(
            loc,
            false,
            format!("range start {start} must be less than end {end}"),
            if start == end {
                format!("for the single port {start} write a port number instead of a range")
            } else {
                format!("write `start: {end}` and `end: {start}`")
            },
        ));
        return None;
    }
    Some((start, end))
}

fn protocol(raw: Option<&str>, loc: &FieldLoc, cx: &mut Ctx) -> Option<Protocol> {
    match raw {
        None => Some(Protocol::Tcp),
        Some(p) => match Protocol::parse(p) {
            Some(p) => Some(p),
            None => {
                let upper = p.to_ascii_uppercase();
                cx.diags.push(err(
                    &loc.key("protocol"),
                    false,
                    format!("unsupported protocol `{p}`"),
                    if Protocol::parse(&upper).is_some() {
                        format!("write `{upper}`: protocols are case-sensitive")
                    } else {
                        "write `TCP`, `UDP` or `SCTP`; to match every protocol (ICMP included), remove `ports`".to_string()
                    },
                ));
                None
            }
        },
    }
}

fn convert_v1alpha1_port(raw: &RawPort, loc: &FieldLoc, cx: &mut Ctx) -> Option<AdminPort> {
    let n = [
        raw.port_number.is_some(),
        raw.port_range.is_some(),
        raw.named_port.is_some(),
    ]
    .iter()
    .filter(|b| **b)
    .count();
    if n != 1 {
        cx.diags.push(err(
            loc,
            false,
            format!("this port entry sets {n} of portNumber, portRange, namedPort; exactly one is required"),
            "write each as its own list item",
        ));
        return None;
    }
    if let Some(p) = &raw.port_number {
        let l = loc.key("portNumber");
        let protocol = protocol(p.protocol.as_deref(), &l, cx);
        let port = port_number(p.port, &l, "port", cx);
        return Some(AdminPort::Numbers {
            protocol: protocol?,
            lo: port?,
            hi: port?,
        });
    }
    if let Some(r) = &raw.port_range {
        let l = loc.key("portRange");
        let protocol = protocol(r.protocol.as_deref(), &l, cx);
        let (lo, hi) = range(r, &l, cx)?;
        return Some(AdminPort::Numbers {
            protocol: protocol?,
            lo,
            hi,
        });
    }
    named(raw.named_port.as_deref(), &loc.key("namedPort"), cx)
}

fn named(name: Option<&str>, loc: &FieldLoc, cx: &mut Ctx) -> Option<AdminPort> {
    let name = name?;
    if name.is_empty() {
        cx.diags.push(err(
            loc,
            false,
            "the named port is empty",
            "write a container port name such as `http`",
        ));
        return None;
    }
    Some(AdminPort::Named(name.to_string()))
}

fn convert_protocol(raw: &RawProtocol, loc: &FieldLoc, cx: &mut Ctx) -> Option<AdminPort> {
    let set: Vec<(&str, Protocol, &RawProtocolPorts)> = [
        ("tcp", Protocol::Tcp, &raw.tcp),
        ("udp", Protocol::Udp, &raw.udp),
        ("sctp", Protocol::Sctp, &raw.sctp),
    ]
    .into_iter()
    .filter_map(|(f, p, v)| v.as_ref().map(|v| (f, p, v)))
    .collect();
    let n = set.len() + usize::from(raw.destination_named_port.is_some());
    if n != 1 {
        cx.diags.push(err(
            loc,
            false,
            format!("this protocols entry sets {n} of tcp, udp, sctp, destinationNamedPort; exactly one is required"),
            "write each as its own list item",
        ));
        return None;
    }
    let Some((field, protocol, ports)) = set.first() else {
        return named(
            raw.destination_named_port.as_deref(),
            &loc.key("destinationNamedPort"),
            cx,
        );
    };
    let l = loc.key(field);
    let Some(dp) = &ports.destination_port else {
        cx.diags.push(err(
            &l,
            false,
            format!("`{field}` needs `destinationPort`"),
            format!(
                "for every {} port write `destinationPort: {{range: {{start: 1, end: 65535}}}}`",
                protocol.as_str()
            ),
        ));
        return None;
    };
    let l = l.key("destinationPort");
    match (dp.number, &dp.range) {
        (Some(n), None) => {
            let p = port_number(Some(n), &l, "number", cx)?;
            Some(AdminPort::Numbers {
                protocol: *protocol,
                lo: p,
                hi: p,
            })
        }
        (None, Some(r)) => {
            let (lo, hi) = range(r, &l.key("range"), cx)?;
            Some(AdminPort::Numbers {
                protocol: *protocol,
                lo,
                hi,
            })
        }
        _ => {
            cx.diags.push(err(
                &l,
                false,
                "destinationPort needs exactly one of `number` and `range`",
                "write `number: 443` or `range: {start: 8000, end: 8080}`",
            ));
            None
        }
    }
}
