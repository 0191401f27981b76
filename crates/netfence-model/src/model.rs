//! The normalized cluster model every surface works from. Defaults are applied
//! (policyTypes, protocol TCP, namespace name labels), invalid input never reaches
//! it, and every object remembers where it was written.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::Serialize;

use crate::labels::{Labels, Selector};
use crate::sources::{FieldLoc, ObjectOrigin};

/// The label the apiserver sets on every namespace (KEP-2161).
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Protocol {
    #[serde(rename = "TCP")]
    Tcp,
    #[serde(rename = "UDP")]
    Udp,
    #[serde(rename = "SCTP")]
    Sctp,
}

impl Protocol {
    pub const ALL: [Protocol; 3] = [Protocol::Tcp, Protocol::Udp, Protocol::Sctp];

    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
            Protocol::Sctp => "SCTP",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }

    /// Exactly `TCP`, `UDP` or `SCTP`: the API is case-sensitive.
    pub fn parse(text: &str) -> Option<Protocol> {
        match text {
            "TCP" => Some(Protocol::Tcp),
            "UDP" => Some(Protocol::Udp),
            "SCTP" => Some(Protocol::Sctp),
            _ => None,
        }
    }
}

impl std::fmt::Display for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Namespace {
    pub name: String,
    /// Includes `kubernetes.io/metadata.name`.
    pub labels: Labels,
    /// False when the namespace was referenced but not declared in the input.
    pub labels_known: bool,
    #[serde(skip)]
    pub origin: Option<ObjectOrigin>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Node {
    pub name: String,
    pub labels: Labels,
    pub addresses: Vec<IpAddr>,
    #[serde(skip)]
    pub origin: Option<ObjectOrigin>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct ContainerPort {
    pub name: Option<String>,
    pub port: u16,
    pub protocol: Protocol,
}

/// What an endpoint stands for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum EndpointSource {
    /// A Pod object in the input.
    Pod,
    /// A workload whose pods are not in the input, standing for all of them.
    Workload { workload_kind: String },
    /// Cluster DNS assumed because the input has none.
    SyntheticDns,
}

/// A workload (Deployment, ...) that groups pods in outputs.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct WorkloadRef {
    pub kind: String,
    pub name: String,
}

/// Something that sends and receives traffic as a pod: a pod, or a stand-in for a
/// workload's pods.
#[derive(Clone, Debug, Serialize)]
pub struct Endpoint {
    /// `ns/pod`, `ns/kind/name` for workloads, `kube-system/synthetic/cluster-dns`.
    pub id: String,
    pub namespace: String,
    pub name: String,
    pub source: EndpointSource,
    pub labels: Labels,
    /// From `status.podIPs` (or `status.podIP`); empty when unknown.
    pub ips: Vec<IpAddr>,
    pub node: Option<String>,
    pub ports: Vec<ContainerPort>,
    pub host_network: bool,
    /// The workload the pod belongs to, for grouping.
    pub workload: Option<WorkloadRef>,
    #[serde(skip)]
    pub origin: Option<ObjectOrigin>,
}

impl Endpoint {
    pub fn is_synthetic(&self) -> bool {
        self.source == EndpointSource::SyntheticDns
    }

    /// The group outputs show: the workload when known, else the endpoint itself.
    pub fn group(&self) -> String {
        match &self.workload {
            Some(w) => format!("{}/{}/{}", self.namespace, w.kind.to_lowercase(), w.name),
            None => self.id.clone(),
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct ServicePort {
    pub name: Option<String>,
    pub port: u16,
    pub protocol: Protocol,
    /// A number, or a container port name resolved per backend pod.
    pub target: PortRef,
}

#[derive(Clone, Debug, Serialize)]
pub struct Service {
    pub namespace: String,
    pub name: String,
    /// None: a Service without selector (manually managed endpoints).
    pub selector: Option<Labels>,
    pub ports: Vec<ServicePort>,
    pub cluster_ips: Vec<IpAddr>,
    #[serde(skip)]
    pub origin: Option<ObjectOrigin>,
}

impl Service {
    /// Whether the Service routes to a pod with these labels (equality selector;
    /// a Service without selector routes to no pod by itself).
    pub fn selects(&self, labels: &Labels) -> bool {
        self.selector
            .as_ref()
            .is_some_and(|s| s.iter().all(|(k, v)| labels.get(k) == Some(v)))
    }
}

/// A port as a policy or Service writes it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(untagged)]
pub enum PortRef {
    /// Inclusive range; a single port has `lo == hi`.
    Range {
        lo: u16,
        hi: u16,
    },
    Named(String),
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct PortSpec {
    pub protocol: Protocol,
    /// None: every port of the protocol.
    pub port: Option<PortRef>,
    #[serde(skip)]
    pub loc: FieldLoc,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum PeerKind {
    /// `podSelector` and/or `namespaceSelector`. A missing namespace selector means
    /// the policy's own namespace; a missing pod selector means every pod.
    Pods {
        namespace_selector: Option<Selector>,
        pod_selector: Option<Selector>,
    },
    IpBlock {
        cidr: IpNet,
        except: Vec<IpNet>,
    },
}

/// How a peer reads: `ipBlock 10.0.0.0/8 except 10.1.0.0/16`,
/// `namespaceSelector team=a AND podSelector app=web`.
impl std::fmt::Display for PeerKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PeerKind::IpBlock { cidr, except } if except.is_empty() => write!(f, "ipBlock {cidr}"),
            PeerKind::IpBlock { cidr, except } => {
                let except: Vec<String> = except.iter().map(|e| e.to_string()).collect();
                write!(f, "ipBlock {cidr} except {}", except.join(","))
            }
            PeerKind::Pods {
                namespace_selector,
                pod_selector,
            } => match (namespace_selector, pod_selector) {
                (Some(n), Some(p)) => write!(
                    f,
                    "namespaceSelector {} AND podSelector {}",
                    n.to_kubectl(),
                    p.to_kubectl()
                ),
                (Some(n), None) => {
                    write!(f, "namespaceSelector {} (all pods there)", n.to_kubectl())
                }
                (None, Some(p)) => write!(
                    f,
                    "podSelector {} (policy's namespace only)",
                    p.to_kubectl()
                ),
                (None, None) => f.write_str("nothing"),
            },
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Peer {
    #[serde(flatten)]
    pub kind: PeerKind,
    #[serde(skip)]
    pub loc: FieldLoc,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Ingress,
    Egress,
}

impl Direction {
    pub const BOTH: [Direction; 2] = [Direction::Ingress, Direction::Egress];

    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Ingress => "ingress",
            Direction::Egress => "egress",
        }
    }

    /// `Ingress` / `Egress` as policyTypes spells it.
    pub fn policy_type(self) -> &'static str {
        match self {
            Direction::Ingress => "Ingress",
            Direction::Egress => "Egress",
        }
    }

    /// `from` or `to`.
    pub fn peer_field(self) -> &'static str {
        match self {
            Direction::Ingress => "from",
            Direction::Egress => "to",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Rule {
    /// None: every peer (`from`/`to` absent or empty), external addresses included.
    pub peers: Option<Vec<Peer>>,
    /// None: every port of every protocol.
    pub ports: Option<Vec<PortSpec>>,
    #[serde(skip)]
    pub loc: FieldLoc,
}

#[derive(Clone, Debug, Serialize)]
pub struct Policy {
    pub namespace: String,
    pub name: String,
    pub pod_selector: Selector,
    /// After the apiserver's defaulting: `Ingress` always unless written otherwise,
    /// `Egress` when written or when egress rules exist.
    pub ingress_isolates: bool,
    pub egress_isolates: bool,
    /// Whether `policyTypes` was written (false: defaulted).
    pub policy_types_written: bool,
    /// Rules as written, even for a direction the policy does not cover (those are
    /// inert; lint reports them).
    pub ingress: Vec<Rule>,
    pub egress: Vec<Rule>,
    #[serde(skip)]
    pub origin: ObjectOrigin,
    /// The span of the object, for messages: `spec.podSelector`.
    #[serde(skip)]
    pub loc: FieldLoc,
}

impl Policy {
    pub fn id(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    pub fn isolates(&self, dir: Direction) -> bool {
        match dir {
            Direction::Ingress => self.ingress_isolates,
            Direction::Egress => self.egress_isolates,
        }
    }

    /// Whether the policy makes its namespace default-deny in `dir`: it selects
    /// every pod there and isolates that direction.
    pub fn makes_default_deny(&self, dir: Direction) -> bool {
        self.pod_selector.is_empty() && self.isolates(dir)
    }

    /// The rules that take effect for `dir` (none if the direction is not covered).
    pub fn effective_rules(&self, dir: Direction) -> &[Rule] {
        match dir {
            Direction::Ingress if self.ingress_isolates => &self.ingress,
            Direction::Egress if self.egress_isolates => &self.egress,
            _ => &[],
        }
    }

    pub fn rules(&self, dir: Direction) -> &[Rule] {
        match dir {
            Direction::Ingress => &self.ingress,
            Direction::Egress => &self.egress,
        }
    }
}

/// The tier of a cluster-scoped admin policy (semantics.md §2.2): Admin before
/// NetworkPolicy, Baseline after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum AdminTier {
    Admin,
    Baseline,
}

impl AdminTier {
    pub fn as_str(self) -> &'static str {
        match self {
            AdminTier::Admin => "Admin",
            AdminTier::Baseline => "Baseline",
        }
    }
}

/// What a matching admin rule does. v1alpha1's `Allow` is `Accept`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum AdminAction {
    Accept,
    Deny,
    Pass,
}

/// Which API generation an admin policy was written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum AdminApi {
    /// `policy.networking.k8s.io/v1alpha1` AdminNetworkPolicy or
    /// BaselineAdminNetworkPolicy (`Allow` for Accept, `ports`).
    V1alpha1,
    /// `policy.networking.k8s.io/v1alpha2` ClusterNetworkPolicy.
    V1alpha2,
    /// `policy.networking.k8s.io/v1beta1` ClusterNetworkPolicy (the v1alpha2 schema).
    V1beta1,
}

impl AdminAction {
    /// As the policy's generation spells it (`Allow` in v1alpha1).
    pub fn spelled(self, api: AdminApi) -> &'static str {
        match (self, api) {
            (AdminAction::Accept, AdminApi::V1alpha1) => "Allow",
            (AdminAction::Accept, _) => "Accept",
            (AdminAction::Deny, _) => "Deny",
            (AdminAction::Pass, _) => "Pass",
        }
    }
}

/// Whose traffic an admin policy judges. hostNetwork pods are never subjects.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum AdminSubject {
    /// Every pod of the namespaces the selector matches.
    Namespaces(Selector),
    /// Pods matching `pod_selector` in namespaces matching `namespace_selector`
    /// (v1alpha2 without namespaceSelector: every namespace).
    Pods {
        namespace_selector: Selector,
        pod_selector: Selector,
    },
}

/// One peer entry of an admin rule (exactly one field set, as the CRDs require).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum AdminPeerKind {
    /// Pods of the matching namespaces (never hostNetwork pods, nodes, external).
    Namespaces(Selector),
    Pods {
        namespace_selector: Selector,
        pod_selector: Selector,
    },
    /// Egress only: every destination address inside, pod IPs included.
    Networks(Vec<IpNet>),
    /// Egress only: the addresses of the matching nodes (and hostNetwork pods there).
    Nodes(Selector),
    /// Egress only, Accept only: names as written (`*.example.com`).
    DomainNames(Vec<String>),
}

impl std::fmt::Display for AdminPeerKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AdminPeerKind::Namespaces(s) => write!(f, "namespaces {}", s.to_kubectl()),
            AdminPeerKind::Pods {
                namespace_selector,
                pod_selector,
            } => write!(
                f,
                "pods {} in namespaces {}",
                pod_selector.to_kubectl(),
                namespace_selector.to_kubectl()
            ),
            AdminPeerKind::Networks(n) => {
                let n: Vec<String> = n.iter().map(|n| n.to_string()).collect();
                write!(f, "networks {}", n.join(","))
            }
            AdminPeerKind::Nodes(s) => write!(f, "nodes {}", s.to_kubectl()),
            AdminPeerKind::DomainNames(d) => write!(f, "domainNames {}", d.join(",")),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct AdminPeer {
    pub kind: AdminPeerKind,
    #[serde(skip)]
    pub loc: FieldLoc,
}

/// A destination port entry of an admin rule.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum AdminPort {
    /// Inclusive range; a single port has `lo == hi`.
    Numbers {
        protocol: Protocol,
        lo: u16,
        hi: u16,
    },
    /// A container port name, resolved on the destination pod with the
    /// container port's own protocol.
    Named(String),
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct AdminRule {
    pub name: Option<String>,
    pub action: AdminAction,
    /// OR-ed; never empty.
    pub peers: Vec<AdminPeer>,
    /// None: every protocol and port (ICMP included).
    pub ports: Option<Vec<AdminPort>>,
    #[serde(skip)]
    pub loc: FieldLoc,
}

/// AdminNetworkPolicy, BaselineAdminNetworkPolicy (v1alpha1) or
/// ClusterNetworkPolicy (v1alpha2, v1beta1), in one form.
#[derive(Clone, Debug, Serialize)]
pub struct AdminPolicy {
    /// `AdminNetworkPolicy`, `BaselineAdminNetworkPolicy` or `ClusterNetworkPolicy`.
    pub kind: String,
    pub api: AdminApi,
    pub name: String,
    pub tier: AdminTier,
    /// 0-1000, lower first. None: a v1alpha1 BaselineAdminNetworkPolicy, which
    /// has none (ordered after every Baseline policy that has one).
    pub priority: Option<u32>,
    pub subject: AdminSubject,
    /// Written order is precedence.
    pub ingress: Vec<AdminRule>,
    pub egress: Vec<AdminRule>,
    #[serde(skip)]
    pub origin: ObjectOrigin,
    /// `spec`, for messages.
    #[serde(skip)]
    pub loc: FieldLoc,
}

impl AdminPolicy {
    /// `kind/name`, e.g. `ClusterNetworkPolicy/deny-all`.
    pub fn id(&self) -> String {
        format!("{}/{}", self.kind, self.name)
    }

    pub fn rules(&self, dir: Direction) -> &[AdminRule] {
        match dir {
            Direction::Ingress => &self.ingress,
            Direction::Egress => &self.egress,
        }
    }

    /// The evaluation order inside a tier: priority, then name (the
    /// deterministic tie-break of semantics.md §2.6), then kind.
    pub fn order_key(&self) -> (AdminTier, u32, &str, &str) {
        (
            self.tier,
            self.priority.unwrap_or(u32::MAX),
            &self.name,
            &self.kind,
        )
    }
}

/// An object netfence recognised but does not analyze (Calico, Cilium, ...).
#[derive(Clone, Debug, Serialize)]
pub struct Unanalyzed {
    pub api_version: String,
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
}

/// Choices semantics.md §4 leaves to implementations; each is a flag.
#[derive(Clone, Debug, Serialize)]
pub struct Semantics {
    /// ipBlock peers match pod IPs too (most CNIs do; Cilium does not).
    pub ip_block_matches_pods: bool,
    /// hostNetwork pods are node-IP traffic: never selected by pod/namespace
    /// selectors nor as subjects (true), or ordinary pods (false).
    pub host_network_as_node: bool,
    /// A pod may always reach its own node (docs say "to and from the node").
    pub egress_to_own_node: bool,
    /// The NetworkPolicy tier is final in both directions for a pod any
    /// NetworkPolicy selects, as kube-network-policies does (semantics.md §2.2
    /// caveat); false: per direction, a pod not isolated in a direction goes on
    /// to the Baseline tier there.
    pub np_selected_is_final: bool,
}

impl Default for Semantics {
    fn default() -> Self {
        Semantics {
            ip_block_matches_pods: true,
            host_network_as_node: true,
            egress_to_own_node: true,
            np_selected_is_final: false,
        }
    }
}

/// Where cluster DNS runs: the pods of `namespace` that `selector` matches
/// (hostNetwork pods aside: a pod selector cannot reach them), or the synthetic
/// endpoint the loader adds when the input has none. Decided here once; every
/// surface asks [`Cluster::is_cluster_dns`].
#[derive(Clone, Debug, Serialize)]
pub struct ClusterDns {
    pub namespace: String,
    pub selector: Selector,
    /// The labels the synthetic endpoint carries when the input has no DNS pods.
    pub synthetic_labels: Labels,
}

impl Default for ClusterDns {
    /// kubeadm's CoreDNS (`k8s-app: kube-dns`), and charts that label it
    /// `k8s-app: coredns`.
    fn default() -> Self {
        ClusterDns {
            namespace: "kube-system".into(),
            selector: Selector {
                requirements: vec![crate::labels::Requirement {
                    key: "k8s-app".into(),
                    operator: crate::labels::Operator::In,
                    values: ["coredns".to_string(), "kube-dns".to_string()].into(),
                }],
            },
            synthetic_labels: [("k8s-app".to_string(), "kube-dns".to_string())].into(),
        }
    }
}

impl ClusterDns {
    /// `NAMESPACE/SELECTOR` as `--cluster-dns` takes it (namespace defaults to
    /// `kube-system`); the synthetic endpoint gets the selector's equality labels.
    pub fn parse(spec: &str) -> Result<ClusterDns, String> {
        let (namespace, selector) = spec.split_once('/').unwrap_or(("kube-system", spec));
        let selector = Selector::parse_kubectl(selector)?;
        let synthetic_labels = selector
            .requirements
            .iter()
            .filter(|r| r.operator == crate::labels::Operator::In)
            .filter_map(|r| r.values.iter().next().map(|v| (r.key.clone(), v.clone())))
            .collect();
        Ok(ClusterDns {
            namespace: namespace.to_string(),
            selector,
            synthetic_labels,
        })
    }

    pub fn matches(&self, e: &Endpoint) -> bool {
        e.is_synthetic()
            || (e.namespace == self.namespace
                && !e.host_network
                && self.selector.matches(&e.labels))
    }

    /// `ns/selector`, for messages.
    pub fn display(&self) -> String {
        format!("{}/{}", self.namespace, self.selector.to_kubectl())
    }
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Cluster {
    /// Sorted by name.
    pub namespaces: Vec<Namespace>,
    pub nodes: Vec<Node>,
    /// Sorted by id.
    pub endpoints: Vec<Endpoint>,
    pub services: Vec<Service>,
    /// Sorted by namespace, then name.
    pub policies: Vec<Policy>,
    /// Cluster-scoped admin policies of both tiers, in evaluation order
    /// ([`AdminPolicy::order_key`]).
    pub admin_policies: Vec<AdminPolicy>,
    pub unanalyzed: Vec<Unanalyzed>,
    pub semantics: Semantics,
    /// Where cluster DNS runs (`--cluster-dns`).
    pub cluster_dns: ClusterDns,
}

impl Cluster {
    /// Whether `endpoint` is cluster DNS (see [`ClusterDns`]).
    pub fn is_cluster_dns(&self, endpoint: &Endpoint) -> bool {
        self.cluster_dns.matches(endpoint)
    }

    /// The policies that make `namespace` default-deny in `dir`: those selecting
    /// every pod there (`podSelector: {}`) and isolating that direction.
    pub fn default_deny_policies(&self, namespace: &str, dir: Direction) -> Vec<usize> {
        self.policies
            .iter()
            .enumerate()
            .filter(|(_, p)| p.namespace == namespace && p.makes_default_deny(dir))
            .map(|(i, _)| i)
            .collect()
    }

    /// [`Cluster::default_deny_policies`] of every namespace at once: namespace →
    /// (ingress, egress) policies.
    pub fn default_deny_by_namespace(&self) -> std::collections::HashMap<&str, [Vec<usize>; 2]> {
        let mut out: std::collections::HashMap<&str, [Vec<usize>; 2]> = Default::default();
        for (i, p) in self.policies.iter().enumerate() {
            for (d, dir) in Direction::BOTH.into_iter().enumerate() {
                if p.makes_default_deny(dir) {
                    out.entry(p.namespace.as_str()).or_default()[d].push(i);
                }
            }
        }
        out
    }

    pub fn namespace(&self, name: &str) -> Option<&Namespace> {
        self.namespaces
            .binary_search_by(|n| n.name.as_str().cmp(name))
            .ok()
            .map(|i| &self.namespaces[i])
    }

    pub fn endpoint(&self, id: &str) -> Option<&Endpoint> {
        self.endpoints
            .binary_search_by(|e| e.id.as_str().cmp(id))
            .ok()
            .map(|i| &self.endpoints[i])
    }

    pub fn policy(&self, namespace: &str, name: &str) -> Option<&Policy> {
        self.policies
            .iter()
            .find(|p| p.namespace == namespace && p.name == name)
    }

    pub fn service(&self, namespace: &str, name: &str) -> Option<&Service> {
        self.services
            .iter()
            .find(|s| s.namespace == namespace && s.name == name)
    }
}
