//! From files to a [`Cluster`]: parse, decode strictly, validate, default, and
//! build endpoints. Every error of the input is collected before giving up.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read as _;
use std::net::IpAddr;
use std::path::PathBuf;

use k8s_openapi::api::{
    apps::v1 as apps, batch::v1 as batch, core::v1 as core, networking::v1 as net,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use netfence_yaml::{PathSegment, Value};

use crate::decode::decode_strict;
use crate::diag::{Anchor, Diagnostic, Severity};
use crate::labels::{Labels, Selector};
use crate::model::*;
use crate::policy::convert_policy;
use crate::sources::{FieldLoc, FileId, ObjectOrigin, Sources, collect_paths};
use crate::validate;

/// How to read the input.
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    /// Namespace for objects without one (`-n`); `default` otherwise.
    pub namespace: Option<String>,
    /// `NAMESPACE/SELECTOR` of the cluster DNS pods; default `kube-system/k8s-app=kube-dns`.
    pub cluster_dns: Option<String>,
    pub semantics: Semantics,
    /// Objects to leave out, as `Kind/namespace/name` or `Kind/name`.
    pub without: Vec<String>,
}

/// A successful load: the model and the warnings and notes about the input.
#[derive(Debug)]
pub struct Loaded {
    pub cluster: Cluster,
    pub diagnostics: Vec<Diagnostic>,
}

/// Reads files, directories and `-` into `sources`. `overlay` marks files whose
/// objects replace same-named objects of earlier files without a warning.
pub fn read_inputs(paths: &[PathBuf], sources: &mut Sources, overlay: bool) -> Vec<Diagnostic> {
    let mut diags = Vec::new();
    let files = match collect_paths(paths) {
        Ok(f) => f,
        Err(e) => {
            diags.push(Diagnostic::error(
                format!("cannot read input: {e}"),
                Anchor::None,
            ));
            return diags;
        }
    };
    if files.is_empty() {
        diags.push(Diagnostic::error("no input files", Anchor::None).with_help(
            "pass manifest files or directories (*.yaml, *.yml, *.json), or `-` for standard input",
        ));
    }
    for path in files {
        let (name, text) = if path.as_os_str() == "-" {
            let mut text = String::new();
            match std::io::stdin().read_to_string(&mut text) {
                Ok(_) => ("<stdin>".to_string(), text),
                Err(e) => {
                    diags.push(Diagnostic::error(
                        format!("cannot read standard input: {e}"),
                        Anchor::File {
                            name: "<stdin>".into(),
                        },
                    ));
                    continue;
                }
            }
        } else {
            let name = path.display().to_string();
            match std::fs::read(&path) {
                Ok(bytes) => match String::from_utf8(bytes) {
                    Ok(text) => (name, text),
                    Err(_) => {
                        diags.push(
                            Diagnostic::error("the file is not UTF-8 text", Anchor::File { name })
                                .with_help("save manifests as UTF-8"),
                        );
                        continue;
                    }
                },
                Err(e) => {
                    diags.push(Diagnostic::error(
                        format!("cannot read file: {e}"),
                        Anchor::File { name },
                    ));
                    continue;
                }
            }
        };
        let id = sources.add(name, text);
        sources.files[id.0 as usize].overlay = overlay;
    }
    diags
}

/// One object found in the input, before typed decoding.
struct RawObject {
    api_version: String,
    kind: String,
    namespace: Option<String>,
    name: String,
    origin: ObjectOrigin,
    json: serde_json::Value,
    overlay: bool,
}

impl RawObject {
    fn describe(&self) -> String {
        match &self.namespace {
            Some(ns) if !is_cluster_scoped(&self.kind) => {
                format!("{} {}/{}", self.kind, ns, self.name)
            }
            _ => format!("{} {}", self.kind, self.name),
        }
    }
}

fn is_cluster_scoped(kind: &str) -> bool {
    matches!(kind, "Namespace" | "Node")
}

/// Parses every file in `sources` and builds the cluster. On any error, returns
/// all diagnostics (errors, warnings and notes) and no model.
pub fn load(sources: &mut Sources, opts: &LoadOptions) -> Result<Loaded, Vec<Diagnostic>> {
    let mut diags = Vec::new();
    let mut raw = Vec::new();
    for fi in 0..sources.files.len() {
        parse_file(sources, fi, opts, &mut raw, &mut diags);
    }

    let raw = dedupe(raw, &opts.without, &mut diags);
    let mut builder = ClusterBuilder::new(opts);
    for obj in &raw {
        builder.add(obj, &mut diags);
    }
    let cluster = builder.finish(&mut diags);
    quote_hints(&mut diags, sources);
    if diags.iter().any(|d| d.severity == Severity::Error) {
        return Err(diags);
    }
    Ok(Loaded {
        cluster,
        diagnostics: diags,
    })
}

/// Parses file `fi` of `sources` (keeping its documents there) and collects its
/// objects.
fn parse_file(
    sources: &mut Sources,
    fi: usize,
    opts: &LoadOptions,
    raw: &mut Vec<RawObject>,
    diags: &mut Vec<Diagnostic>,
) {
    let file = FileId(fi as u32);
    let (docs, errors) = netfence_yaml::parse_documents(&sources.files[fi].text);
    for e in errors {
        let help = match &e.kind {
            netfence_yaml::YamlErrorKind::Syntax(_) => {
                "check indentation and quoting near this position; tabs are not allowed for indentation"
            }
            _ => "fix the YAML at this position",
        };
        diags.push(
            Diagnostic::error(e.kind.to_string(), Anchor::Text { file, span: e.span })
                .with_help(help),
        );
    }
    let overlay = sources.files[fi].overlay;
    for (di, doc) in docs.iter().enumerate() {
        let origin = ObjectOrigin {
            file,
            document: di,
            prefix: Vec::new(),
        };
        collect_objects(&doc.root, origin, overlay, &opts.namespace, raw, diags);
    }
    sources.files[fi].documents = docs;
}

/// What [`load`] of every file of `sources` gives, when files `..first` are the
/// input `base` was loaded from (with `opts`) and files `first..` hold only
/// NetworkPolicies: the base files are not parsed again (check verifies a
/// proposed fix this way), the policies reach the cluster through
/// [`Cluster::with_policy_change`]. As in `load`, a later object
/// replaces an earlier one with the same identity and `--without` drops what it
/// names; a policy adds no workload or endpoint (an undeclared namespace only by name). `None` when the
/// overlays hold anything else: then only a full `load` gives the answer. Files
/// `..first` of `sources` are not read.
pub fn load_policy_overlays(
    base: &Cluster,
    sources: &mut Sources,
    first: usize,
    opts: &LoadOptions,
) -> Option<Result<Cluster, Vec<Diagnostic>>> {
    let mut diags = Vec::new();
    let mut raw = Vec::new();
    for fi in first..sources.files.len() {
        parse_file(sources, fi, opts, &mut raw, &mut diags);
    }
    let policy_ns = |o: &RawObject| o.namespace.clone().unwrap_or_else(|| "default".into());
    if raw
        .iter()
        .any(|o| o.kind != "NetworkPolicy" || o.api_version != "networking.k8s.io/v1")
    {
        return None;
    }
    let mut upsert = Vec::new();
    for obj in &raw {
        if opts.without.iter().any(|w| matches_without(obj, w)) {
            continue;
        }
        let ns = policy_ns(obj);
        let Some(np) = decode_strict::<net::NetworkPolicy>(&obj.json, &obj.origin, &mut diags)
        else {
            continue;
        };
        upsert.extend(convert_policy(&np, &ns, &obj.name, &obj.origin, &mut diags));
    }
    if diags.iter().any(|d| d.severity == Severity::Error) {
        return Some(Err(diags));
    }
    Some(Ok(base.with_policy_change(crate::PolicyChange {
        upsert,
        remove: Vec::new(),
    })))
}

fn collect_objects(
    node: &netfence_yaml::Node,
    origin: ObjectOrigin,
    overlay: bool,
    default_ns: &Option<String>,
    out: &mut Vec<RawObject>,
    diags: &mut Vec<Diagnostic>,
) {
    let loc = FieldLoc {
        origin: origin.clone(),
        path: Vec::new(),
    };
    match &node.value {
        Value::Null => return,
        Value::Map(_) => {}
        other => {
            diags.push(
                Diagnostic::error(
                    format!(
                        "expected a Kubernetes object (a mapping), found a {}",
                        other.kind_name()
                    ),
                    Anchor::Field { loc, key: false },
                )
                .with_help(
                    "each YAML document must be one object with apiVersion, kind and metadata",
                ),
            );
            return;
        }
    }
    let text = |key: &str| node.get(key).and_then(|n| n.as_str()).map(str::to_string);
    let (Some(api_version), Some(kind)) = (text("apiVersion"), text("kind")) else {
        let missing = if text("apiVersion").is_none() {
            "apiVersion"
        } else {
            "kind"
        };
        diags.push(
            Diagnostic::error(
                format!("`{missing}` is missing or not a string"),
                Anchor::Field { loc, key: false },
            )
            .with_help("every object starts with `apiVersion:` and `kind:`, e.g. `apiVersion: networking.k8s.io/v1` and `kind: NetworkPolicy`"),
        );
        return;
    };
    if kind == "List" || (kind.ends_with("List") && node.get("items").is_some()) {
        if let Some(items) = node.get("items")
            && let Value::Seq(list) = &items.value
        {
            for (i, item) in list.iter().enumerate() {
                let mut o = origin.clone();
                o.prefix.push(PathSegment::Key("items".into()));
                o.prefix.push(PathSegment::Index(i));
                collect_objects(item, o, overlay, default_ns, out, diags);
            }
            return;
        }
        diags.push(Diagnostic::error(
            "a List needs `items:` with a list of objects",
            Anchor::Field { loc, key: false },
        ));
        return;
    }
    let meta = node.get("metadata");
    if let Some(name_node) = meta.and_then(|m| m.get("name"))
        && let Some(text) = name_node
            .as_str()
            .is_none()
            .then(|| name_node.value.key_text())
            .flatten()
    {
        diags.push(
                Diagnostic::error(
                    format!("`metadata.name` must be a string, but YAML reads `{text}` as a {}", name_node.value.kind_name()),
                    Anchor::Field { loc: loc.key("metadata").key("name"), key: false },
                )
                .with_help("quote it: unquoted y, n, yes, no, on, off, true, false and numbers are not strings in YAML"),
            );
        return;
    }
    let name = meta.and_then(|m| m.get("name")).and_then(|n| n.as_str());
    let Some(name) = name.map(str::to_string) else {
        diags.push(
            Diagnostic::error(
                format!("{kind} has no `metadata.name`"),
                Anchor::Field {
                    loc: if meta.is_some() {
                        loc.key("metadata")
                    } else {
                        loc
                    },
                    key: true,
                },
            )
            .with_help("add `metadata: {name: ...}`"),
        );
        return;
    };
    let namespace = meta
        .and_then(|m| m.get("namespace"))
        .and_then(|n| n.as_str())
        .map(str::to_string)
        .or_else(|| default_ns.clone())
        .or_else(|| Some("default".to_string()));
    out.push(RawObject {
        api_version,
        kind,
        namespace,
        name,
        origin,
        json: node.to_json(),
        overlay,
    });
}

/// The same object twice: the later one wins (as `kubectl apply` of both would
/// leave it); silently for overlays (`--with`), with a warning otherwise.
fn dedupe(raw: Vec<RawObject>, without: &[String], diags: &mut Vec<Diagnostic>) -> Vec<RawObject> {
    let identity = |o: &RawObject| {
        let group = o
            .api_version
            .split('/')
            .next()
            .unwrap_or_default()
            .to_string();
        let ns = if is_cluster_scoped(&o.kind) {
            String::new()
        } else {
            o.namespace.clone().unwrap_or_default()
        };
        (group, o.kind.clone(), ns, o.name.clone())
    };
    let mut index: BTreeMap<(String, String, String, String), usize> = BTreeMap::new();
    let mut out: Vec<Option<RawObject>> = Vec::new();
    for obj in raw {
        let id = identity(&obj);
        if let Some(&prev) = index.get(&id) {
            if !obj.overlay {
                diags.push(
                    Diagnostic::warning(
                        format!(
                            "{} is defined more than once; the later definition is used",
                            obj.describe()
                        ),
                        Anchor::Field {
                            loc: FieldLoc {
                                origin: obj.origin.clone(),
                                path: vec![PathSegment::Key("metadata".into())],
                            },
                            key: true,
                        },
                    )
                    .with_help("remove one of the definitions"),
                );
            }
            out[prev] = None;
        }
        index.insert(id, out.len());
        out.push(Some(obj));
    }
    let mut result: Vec<RawObject> = out.into_iter().flatten().collect();
    for w in without {
        let before = result.len();
        result.retain(|o| !matches_without(o, w));
        if result.len() == before {
            diags.push(
                Diagnostic::error(format!("--without {w}: no such object in the input"), Anchor::None)
                    .with_help("write KIND/NAMESPACE/NAME (or KIND/NAME for cluster-scoped kinds), e.g. NetworkPolicy/app/default-deny-all"),
            );
        }
    }
    result
}

fn matches_without(o: &RawObject, spec: &str) -> bool {
    let parts: Vec<&str> = spec.split('/').collect();
    let (kind, ns, name) = match parts.as_slice() {
        [kind, name] => (*kind, None, *name),
        [kind, ns, name] => (*kind, Some(*ns), *name),
        _ => return false,
    };
    o.kind.eq_ignore_ascii_case(kind)
        && o.name == name
        && ns.is_none_or(|ns| o.namespace.as_deref() == Some(ns))
}

struct Workload {
    kind: String,
    namespace: String,
    name: String,
    selector: Option<Selector>,
    template_labels: Labels,
    ports: Vec<ContainerPort>,
    host_network: bool,
    origin: ObjectOrigin,
}

struct ClusterBuilder<'a> {
    opts: &'a LoadOptions,
    cluster: Cluster,
    workloads: Vec<Workload>,
    pod_owners: Vec<Option<OwnerReference>>,
    /// First place each namespace was referenced, for the "not declared" warning.
    referenced: BTreeMap<String, FieldLoc>,
}

impl<'a> ClusterBuilder<'a> {
    fn new(opts: &'a LoadOptions) -> Self {
        ClusterBuilder {
            opts,
            cluster: Cluster {
                semantics: opts.semantics.clone(),
                ..Cluster::default()
            },
            workloads: Vec::new(),
            pod_owners: Vec::new(),
            referenced: BTreeMap::new(),
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

    fn add(&mut self, obj: &RawObject, diags: &mut Vec<Diagnostic>) {
        let ns = obj.namespace.clone().unwrap_or_else(|| "default".into());
        let before = diags.len();
        let group = obj.api_version.split('/').next().unwrap_or_default();
        let api_known = |expected: &str| obj.api_version == expected;
        match (obj.kind.as_str(), group) {
            ("NetworkPolicy", "networking.k8s.io") if api_known("networking.k8s.io/v1") => {
                if let Some(np) = decode_strict::<net::NetworkPolicy>(&obj.json, &obj.origin, diags)
                    && let Some(p) = convert_policy(&np, &ns, &obj.name, &obj.origin, diags)
                {
                    self.reference(&ns, &obj.origin);
                    self.cluster.policies.push(p);
                }
            }
            ("NetworkPolicy", "networking.k8s.io" | "extensions") => {
                diags.push(
                    Diagnostic::error(
                        format!("`{}` is not a served NetworkPolicy version", obj.api_version),
                        Anchor::Field { loc: root_loc(&obj.origin).key("apiVersion"), key: false },
                    )
                    .with_help("write `apiVersion: networking.k8s.io/v1` (the only NetworkPolicy version since Kubernetes 1.16)"),
                );
            }
            ("Namespace", "v1") => {
                if let Some(n) = decode_strict::<core::Namespace>(&obj.json, &obj.origin, diags) {
                    self.add_namespace(n.metadata, obj, diags);
                }
            }
            ("Node", "v1") => {
                if let Some(n) = decode_strict::<core::Node>(&obj.json, &obj.origin, diags) {
                    self.add_node(n, obj, diags);
                }
            }
            ("Pod", "v1") => {
                if let Some(p) = decode_strict::<core::Pod>(&obj.json, &obj.origin, diags) {
                    self.add_pod(p, &ns, obj, diags);
                }
            }
            ("Service", "v1") => {
                if let Some(s) = decode_strict::<core::Service>(&obj.json, &obj.origin, diags) {
                    self.add_service(s, &ns, obj, diags);
                }
            }
            ("Deployment", "apps") => self.workload::<apps::Deployment>(obj, &ns, diags, |d| {
                d.spec.map(|s| (Some(s.selector), Some(s.template)))
            }),
            ("StatefulSet", "apps") => self.workload::<apps::StatefulSet>(obj, &ns, diags, |d| {
                d.spec.map(|s| (Some(s.selector), Some(s.template)))
            }),
            ("DaemonSet", "apps") => self.workload::<apps::DaemonSet>(obj, &ns, diags, |d| {
                d.spec.map(|s| (Some(s.selector), Some(s.template)))
            }),
            ("ReplicaSet", "apps") => self.workload::<apps::ReplicaSet>(obj, &ns, diags, |d| {
                d.spec.map(|s| (Some(s.selector), s.template))
            }),
            ("ReplicationController", "v1") => {
                self.workload::<core::ReplicationController>(obj, &ns, diags, |d| {
                    d.spec.map(|s| {
                        let sel = s.selector.map(|m| LabelSelector {
                            match_labels: Some(m),
                            match_expressions: None,
                        });
                        (sel, s.template)
                    })
                })
            }
            ("Job", "batch") => self.workload::<batch::Job>(obj, &ns, diags, |d| {
                d.spec.map(|s| (s.selector, Some(s.template)))
            }),
            ("CronJob", "batch") => self.workload::<batch::CronJob>(obj, &ns, diags, |d| {
                d.spec
                    .and_then(|s| s.job_template.spec)
                    .map(|s| (s.selector, Some(s.template)))
            }),
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
            let what = obj.describe();
            for d in &mut diags[before..] {
                if d.object.is_none() {
                    d.object = Some(what.clone());
                }
            }
        }
    }

    fn add_namespace(&mut self, meta: ObjectMeta, obj: &RawObject, diags: &mut Vec<Diagnostic>) {
        if let Some(problem) = validate::dns1123_label_problem(&obj.name) {
            diags.push(Diagnostic::error(
                format!("invalid namespace name `{}`: {problem}", obj.name),
                Anchor::Field {
                    loc: root_loc(&obj.origin).key("metadata").key("name"),
                    key: false,
                },
            ));
        }
        let mut labels = meta.labels.unwrap_or_default();
        check_labels(
            &labels,
            &root_loc(&obj.origin).key("metadata").key("labels"),
            diags,
        );
        labels.insert(NAMESPACE_NAME_LABEL.into(), obj.name.clone());
        self.cluster.namespaces.push(Namespace {
            name: obj.name.clone(),
            labels,
            labels_known: true,
            origin: Some(obj.origin.clone()),
        });
    }

    fn add_node(&mut self, node: core::Node, obj: &RawObject, diags: &mut Vec<Diagnostic>) {
        let mut addresses = Vec::new();
        let loc = root_loc(&obj.origin).key("status").key("addresses");
        for (i, a) in node
            .status
            .iter()
            .flat_map(|s| s.addresses.iter().flatten())
            .enumerate()
        {
            if a.type_ == "Hostname" || a.type_.ends_with("DNS") {
                continue;
            }
            match validate::parse_ip(&a.address) {
                Ok(ip) => addresses.push(ip),
                Err(e) => diags.push(Diagnostic::error(
                    format!("invalid node address: {e}"),
                    Anchor::Field {
                        loc: loc.index(i).key("address"),
                        key: false,
                    },
                )),
            }
        }
        addresses.sort();
        addresses.dedup();
        self.cluster.nodes.push(Node {
            name: obj.name.clone(),
            labels: node.metadata.labels.unwrap_or_default(),
            addresses,
            origin: Some(obj.origin.clone()),
        });
    }

    fn add_pod(&mut self, pod: core::Pod, ns: &str, obj: &RawObject, diags: &mut Vec<Diagnostic>) {
        let root = root_loc(&obj.origin);
        let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
        if matches!(phase, Some("Succeeded" | "Failed")) {
            diags.push(Diagnostic::note(
                format!("Pod {ns}/{} is {}: it is not an endpoint (its IP may belong to another pod now)", obj.name, phase.unwrap_or_default()),
                Anchor::Field { loc: root.key("status").key("phase"), key: false },
            ));
            return;
        }
        let labels = pod.metadata.labels.clone().unwrap_or_default();
        check_labels(&labels, &root.key("metadata").key("labels"), diags);
        let mut ips = Vec::new();
        if let Some(status) = &pod.status {
            let sloc = root.key("status");
            let listed: Vec<(FieldLoc, &str)> = match &status.pod_ips {
                Some(list) if !list.is_empty() => list
                    .iter()
                    .enumerate()
                    .map(|(i, p)| (sloc.key("podIPs").index(i).key("ip"), p.ip.as_str()))
                    .collect(),
                _ => status
                    .pod_ip
                    .iter()
                    .map(|ip| (sloc.key("podIP"), ip.as_str()))
                    .collect(),
            };
            for (loc, text) in listed {
                match validate::parse_ip(text) {
                    Ok(ip) => {
                        if !ips.contains(&ip) {
                            ips.push(ip)
                        }
                    }
                    Err(e) => diags.push(Diagnostic::error(
                        format!("invalid pod IP: {e}"),
                        Anchor::Field { loc, key: false },
                    )),
                }
            }
        }
        let spec = pod.spec.unwrap_or_default();
        let ports = container_ports(&spec, &root.key("spec"), diags);
        self.reference(ns, &obj.origin);
        let owner = pod
            .metadata
            .owner_references
            .unwrap_or_default()
            .into_iter()
            .max_by_key(|o| o.controller.unwrap_or(false));
        self.cluster.endpoints.push(Endpoint {
            id: format!("{ns}/{}", obj.name),
            namespace: ns.to_string(),
            name: obj.name.clone(),
            source: EndpointSource::Pod,
            labels,
            ips,
            node: spec.node_name.clone(),
            ports,
            host_network: spec.host_network.unwrap_or(false),
            workload: None,
            origin: Some(obj.origin.clone()),
        });
        self.pod_owners.push(owner);
    }

    fn add_service(
        &mut self,
        svc: core::Service,
        ns: &str,
        obj: &RawObject,
        diags: &mut Vec<Diagnostic>,
    ) {
        let root = root_loc(&obj.origin).key("spec");
        let spec = svc.spec.unwrap_or_default();
        let mut ports = Vec::new();
        for (i, p) in spec.ports.iter().flatten().enumerate() {
            let ploc = root.key("ports").index(i);
            let protocol = parse_protocol(p.protocol.as_deref(), &ploc.key("protocol"), diags);
            let Some(port) = port_number(p.port, &ploc.key("port"), diags) else {
                continue;
            };
            let target = match &p.target_port {
                None => PortRef::Range { lo: port, hi: port },
                Some(IntOrString::Int(n)) => {
                    match port_number(*n, &ploc.key("targetPort"), diags) {
                        Some(t) => PortRef::Range { lo: t, hi: t },
                        None => continue,
                    }
                }
                Some(IntOrString::String(s)) => PortRef::Named(s.clone()),
            };
            if let Some(protocol) = protocol {
                ports.push(ServicePort {
                    name: p.name.clone(),
                    port,
                    protocol,
                    target,
                });
            }
        }
        let mut cluster_ips = Vec::new();
        for ip in spec
            .cluster_ips
            .iter()
            .flatten()
            .chain(spec.cluster_ip.iter())
        {
            if let Ok(ip) = validate::parse_ip(ip)
                && !cluster_ips.contains(&ip)
            {
                cluster_ips.push(ip);
            }
        }
        self.reference(ns, &obj.origin);
        self.cluster.services.push(Service {
            namespace: ns.to_string(),
            name: obj.name.clone(),
            selector: spec.selector,
            ports,
            cluster_ips,
            origin: Some(obj.origin.clone()),
        });
    }

    fn workload<T: serde::de::DeserializeOwned>(
        &mut self,
        obj: &RawObject,
        ns: &str,
        diags: &mut Vec<Diagnostic>,
        parts: impl FnOnce(T) -> Option<(Option<LabelSelector>, Option<core::PodTemplateSpec>)>,
    ) {
        let Some(decoded) = decode_strict::<T>(&obj.json, &obj.origin, diags) else {
            return;
        };
        let root = root_loc(&obj.origin);
        let template_path = if obj.kind == "CronJob" {
            root.key("spec")
                .key("jobTemplate")
                .key("spec")
                .key("template")
        } else {
            root.key("spec").key("template")
        };
        let Some((selector, template)) = parts(decoded) else {
            return;
        };
        let template = template.unwrap_or_default();
        let labels = template.metadata.and_then(|m| m.labels).unwrap_or_default();
        check_labels(&labels, &template_path.key("metadata").key("labels"), diags);
        let selector = selector.and_then(|s| {
            crate::labels::convert_selector(&s, &template_path.key("selector"), diags)
        });
        let spec = template.spec.unwrap_or_default();
        let ports = container_ports(&spec, &template_path.key("spec"), diags);
        self.reference(ns, &obj.origin);
        self.workloads.push(Workload {
            kind: obj.kind.clone(),
            namespace: ns.to_string(),
            name: obj.name.clone(),
            selector,
            template_labels: labels,
            ports,
            host_network: spec.host_network.unwrap_or(false),
            origin: obj.origin.clone(),
        });
    }

    fn finish(mut self, diags: &mut Vec<Diagnostic>) -> Cluster {
        self.attach_workloads();
        let declared: BTreeSet<String> = self
            .cluster
            .namespaces
            .iter()
            .map(|n| n.name.clone())
            .collect();
        for (ns, loc) in std::mem::take(&mut self.referenced) {
            if declared.contains(&ns) {
                continue;
            }
            diags.push(
                Diagnostic::warning(
                    format!("namespace `{ns}` is used but not declared; netfence assumes it exists with only the label {NAMESPACE_NAME_LABEL}={ns} (its other labels are unknown)"),
                    Anchor::Field { loc, key: true },
                )
                .with_help(format!("add the Namespace object (`kubectl get namespace {ns} -o yaml`) so namespaceSelectors are evaluated on its real labels")),
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
        self.cluster
    }

    fn implicit_namespace(&mut self, ns: &str) {
        self.cluster.namespaces.push(Namespace {
            name: ns.to_string(),
            labels: Labels::from([(NAMESPACE_NAME_LABEL.to_string(), ns.to_string())]),
            labels_known: false,
            origin: None,
        });
    }

    /// Pods of a workload present in the input stand for it; otherwise the
    /// workload's template becomes one endpoint.
    fn attach_workloads(&mut self) {
        let workloads = std::mem::take(&mut self.workloads);
        for w in workloads {
            let mut has_pods = false;
            for (ep, owner) in self.cluster.endpoints.iter_mut().zip(&self.pod_owners) {
                if ep.namespace != w.namespace || ep.workload.is_some() {
                    continue;
                }
                let Some(owner) = owner else { continue };
                let owned = (owner.kind == w.kind && owner.name == w.name)
                    || (w.kind == "Deployment"
                        && owner.kind == "ReplicaSet"
                        && owner
                            .name
                            .strip_prefix(&w.name)
                            .is_some_and(|r| r.starts_with('-')))
                    || (w.kind == "CronJob"
                        && owner.kind == "Job"
                        && owner
                            .name
                            .strip_prefix(&w.name)
                            .is_some_and(|r| r.starts_with('-')));
                let selected = w.selector.as_ref().is_none_or(|s| s.matches(&ep.labels));
                if owned && selected {
                    ep.workload = Some(WorkloadRef {
                        kind: w.kind.clone(),
                        name: w.name.clone(),
                    });
                    has_pods = true;
                }
            }
            if !has_pods {
                self.cluster.endpoints.push(Endpoint {
                    id: format!("{}/{}/{}", w.namespace, w.kind.to_lowercase(), w.name),
                    namespace: w.namespace.clone(),
                    name: w.name.clone(),
                    source: EndpointSource::Workload {
                        workload_kind: w.kind.clone(),
                    },
                    labels: w.template_labels,
                    ips: Vec::new(),
                    node: None,
                    ports: w.ports,
                    host_network: w.host_network,
                    workload: Some(WorkloadRef {
                        kind: w.kind,
                        name: w.name,
                    }),
                    origin: Some(w.origin),
                });
            }
        }
        // Pods whose owner is not in the input still group by their owner.
        for (ep, owner) in self.cluster.endpoints.iter_mut().zip(&self.pod_owners) {
            if ep.workload.is_none()
                && let Some(o) = owner
            {
                ep.workload = Some(WorkloadRef {
                    kind: o.kind.clone(),
                    name: o.name.clone(),
                });
            }
        }
    }

    fn add_cluster_dns(&mut self, diags: &mut Vec<Diagnostic>) {
        if let Some(spec) = &self.opts.cluster_dns {
            match ClusterDns::parse(spec) {
                Ok(dns) => self.cluster.cluster_dns = dns,
                Err(e) => {
                    diags.push(
                        Diagnostic::error(format!("--cluster-dns `{spec}`: {e}"), Anchor::None)
                            .with_help(
                                "write NAMESPACE/SELECTOR, e.g. `kube-system/k8s-app=kube-dns`",
                            ),
                    );
                    return;
                }
            }
        }
        let cluster = &self.cluster;
        if cluster.endpoints.iter().any(|e| cluster.is_cluster_dns(e)) {
            return;
        }
        let ns = cluster.cluster_dns.namespace.clone();
        if !self.cluster.namespaces.iter().any(|n| n.name == ns) {
            self.implicit_namespace(&ns);
        }
        let labels = self.cluster.cluster_dns.synthetic_labels.clone();
        diags.push(Diagnostic::note(
            format!("no cluster DNS pods in the input ({}); assuming a synthetic cluster-DNS endpoint serving 53/UDP and 53/TCP", self.cluster.cluster_dns.display()),
            Anchor::None,
        ));
        self.cluster.endpoints.push(Endpoint {
            id: format!("{ns}/synthetic/cluster-dns"),
            namespace: ns,
            name: "cluster-dns".into(),
            source: EndpointSource::SyntheticDns,
            labels,
            ips: Vec::new(),
            node: None,
            ports: vec![
                ContainerPort {
                    name: Some("dns".into()),
                    port: 53,
                    protocol: Protocol::Udp,
                },
                ContainerPort {
                    name: Some("dns-tcp".into()),
                    port: 53,
                    protocol: Protocol::Tcp,
                },
            ],
            host_network: false,
            workload: None,
            origin: None,
        });
    }
}

fn root_loc(origin: &ObjectOrigin) -> FieldLoc {
    FieldLoc {
        origin: origin.clone(),
        path: Vec::new(),
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

fn check_labels(labels: &Labels, loc: &FieldLoc, diags: &mut Vec<Diagnostic>) {
    for (k, v) in labels {
        if let Some(p) = validate::qualified_name_problem(k) {
            diags.push(Diagnostic::error(
                format!("invalid label key `{k}`: {p}"),
                Anchor::Field {
                    loc: loc.key(k),
                    key: true,
                },
            ));
        }
        if let Some(p) = validate::label_value_problem(v) {
            diags.push(Diagnostic::error(
                format!("invalid label value `{v}`: {p}"),
                Anchor::Field {
                    loc: loc.key(k),
                    key: false,
                },
            ));
        }
    }
}

fn parse_protocol(
    p: Option<&str>,
    loc: &FieldLoc,
    diags: &mut Vec<Diagnostic>,
) -> Option<Protocol> {
    match p {
        None => Some(Protocol::Tcp),
        Some(text) => Protocol::parse(text).or_else(|| {
            diags.push(
                Diagnostic::error(
                    format!("unsupported protocol `{text}`"),
                    Anchor::Field {
                        loc: loc.clone(),
                        key: false,
                    },
                )
                .with_help("write `TCP`, `UDP` or `SCTP` (exactly this case)"),
            );
            None
        }),
    }
}

fn port_number(n: i32, loc: &FieldLoc, diags: &mut Vec<Diagnostic>) -> Option<u16> {
    match u16::try_from(n).ok().filter(|&p| p >= 1) {
        Some(p) => Some(p),
        None => {
            diags.push(
                Diagnostic::error(
                    format!("port {n} is out of range"),
                    Anchor::Field {
                        loc: loc.clone(),
                        key: false,
                    },
                )
                .with_help("a port number is between 1 and 65535"),
            );
            None
        }
    }
}

/// Named ports come from `containers` and from restartable init containers
/// (sidecars), which serve for the pod's whole life.
fn container_ports(
    spec: &core::PodSpec,
    loc: &FieldLoc,
    diags: &mut Vec<Diagnostic>,
) -> Vec<ContainerPort> {
    let mut out = Vec::new();
    let lists = [
        ("containers", Some(&spec.containers)),
        ("initContainers", spec.init_containers.as_ref()),
    ];
    for (field, list) in lists {
        for (ci, c) in list.into_iter().flatten().enumerate() {
            if field == "initContainers" && c.restart_policy.as_deref() != Some("Always") {
                continue;
            }
            for (pi, p) in c.ports.iter().flatten().enumerate() {
                let ploc = loc.key(field).index(ci).key("ports").index(pi);
                let protocol = parse_protocol(p.protocol.as_deref(), &ploc.key("protocol"), diags);
                let port = port_number(p.container_port, &ploc.key("containerPort"), diags);
                if let Some(name) = &p.name
                    && let Some(problem) = validate::port_name_problem(name)
                {
                    diags.push(Diagnostic::error(
                        format!("invalid container port name `{name}`: {problem}"),
                        Anchor::Field {
                            loc: ploc.key("name"),
                            key: false,
                        },
                    ));
                }
                if let (Some(protocol), Some(port)) = (protocol, port) {
                    let cp = ContainerPort {
                        name: p.name.clone(),
                        port,
                        protocol,
                    };
                    if !out.contains(&cp) {
                        out.push(cp);
                    }
                }
            }
        }
    }
    out
}

/// Parses one IP address for command-line arguments.
pub fn parse_ip_arg(text: &str) -> Option<IpAddr> {
    validate::parse_ip(text).ok()
}

/// A boolean or number where a string belongs: show the word the user wrote,
/// quoted, as the fix.
fn quote_hints(diags: &mut [Diagnostic], sources: &Sources) {
    for d in diags.iter_mut() {
        if !d
            .message
            .starts_with("wrong type: expected a string, found the")
        {
            continue;
        }
        let Anchor::Field { loc, .. } = &d.anchor else {
            continue;
        };
        let Some(at) = sources.locate(loc, false).filter(|l| l.exact) else {
            continue;
        };
        let text = &sources.file(at.file).text;
        let Some(word) = text.get(at.span.offset..at.span.offset + at.span.len) else {
            continue;
        };
        d.help = Some(format!(
            "YAML reads unquoted `{word}` as a {}; quote it: \"{word}\"",
            if d.message.contains("boolean") {
                "boolean"
            } else {
                "number"
            }
        ));
    }
}
