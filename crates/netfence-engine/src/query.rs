//! Endpoint queries as users write them (`ns/pod`, `ns/kind/name`,
//! `ns/svc/NAME[:PORT]`, `node:NAME`, an IP address), parsed in one place for
//! every surface, with kubectl's kind names and short names.

use std::net::IpAddr;

/// Kubernetes kinds as kubectl accepts them: the singular, the plural and the
/// short name, case-insensitively (`deploy`, `sts`, `netpol`, `svc`, ...).
const KINDS: &[(&str, &[&str])] = &[
    ("pod", &["pods", "po"]),
    ("deployment", &["deployments", "deploy"]),
    ("statefulset", &["statefulsets", "sts"]),
    ("daemonset", &["daemonsets", "ds"]),
    ("replicaset", &["replicasets", "rs"]),
    ("replicationcontroller", &["replicationcontrollers", "rc"]),
    ("job", &["jobs"]),
    ("cronjob", &["cronjobs", "cj"]),
    ("service", &["services", "svc"]),
    // `policy` as `describe policy` says it.
    (
        "networkpolicy",
        &["networkpolicies", "netpol", "policy", "policies"],
    ),
    ("namespace", &["namespaces", "ns"]),
    ("node", &["nodes", "no"]),
    ("adminnetworkpolicy", &["adminnetworkpolicies", "anp"]),
    (
        "baselineadminnetworkpolicy",
        &["baselineadminnetworkpolicies", "banp"],
    ),
    ("clusternetworkpolicy", &["clusternetworkpolicies", "cnp"]),
];

/// The lowercase singular kind for a kind name, plural or short name
/// (`netpol` → `networkpolicy`, `Deployment` → `deployment`); a group suffix
/// (`deployments.apps`) is ignored. `None` for a word that names no kind.
pub fn canonical_kind(word: &str) -> Option<&'static str> {
    let lower = word.to_ascii_lowercase();
    let base = lower.split('.').next().unwrap_or(&lower);
    KINDS
        .iter()
        .find(|(kind, aliases)| *kind == base || aliases.contains(&base))
        .map(|(kind, _)| *kind)
}

/// The workload kinds whose pods an endpoint can stand for.
const WORKLOAD_KINDS: &[&str] = &[
    "deployment",
    "statefulset",
    "daemonset",
    "replicaset",
    "replicationcontroller",
    "job",
    "cronjob",
];

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EndpointQuery {
    Ip(IpAddr),
    /// `node:NAME`.
    Node(String),
    /// `ns/name` or `ns/pod/name`.
    Pod {
        namespace: String,
        name: String,
    },
    /// `ns/kind/name`; `kind` is canonical for the workload kinds, else as written
    /// in lowercase (e.g. `synthetic`).
    Workload {
        namespace: String,
        kind: String,
        name: String,
    },
    /// `ns/svc/NAME[:PORT]`.
    Service {
        namespace: String,
        name: String,
        port: Option<u16>,
    },
    /// Anything else, looked up by id as written (external groups are CIDR lists).
    Id(String),
}

impl EndpointQuery {
    /// Parses `text`; with `namespace` (`-n`), `NAME` and `KIND/NAME` are in it.
    pub fn parse(text: &str, namespace: Option<&str>) -> Result<EndpointQuery, String> {
        if let Ok(ip) = text.parse::<IpAddr>() {
            return Ok(EndpointQuery::Ip(ip));
        }
        if let Some(node) = text.strip_prefix("node:") {
            return Ok(EndpointQuery::Node(node.to_string()));
        }
        // External groups: `10.0.0.0/8`, `0.0.0.0/0,::/0`.
        if text.contains(',') || text.parse::<ipnet::IpNet>().is_ok() {
            return Ok(EndpointQuery::Id(text.to_string()));
        }
        let parts: Vec<&str> = text.split('/').collect();
        match (parts.as_slice(), namespace) {
            ([name], Some(ns)) => Ok(EndpointQuery::Pod {
                namespace: ns.to_string(),
                name: name.to_string(),
            }),
            ([kind, name], Some(ns)) if canonical_kind(kind).is_some() => {
                Self::with_kind(ns, kind, name)
            }
            ([ns, name], _) => Ok(EndpointQuery::Pod {
                namespace: ns.to_string(),
                name: name.to_string(),
            }),
            ([ns, kind, name], _) => Self::with_kind(ns, kind, name),
            _ => Ok(EndpointQuery::Id(text.to_string())),
        }
    }

    fn with_kind(ns: &str, kind: &str, name: &str) -> Result<EndpointQuery, String> {
        let (namespace, name) = (ns.to_string(), name.to_string());
        Ok(match canonical_kind(kind) {
            Some("pod") => EndpointQuery::Pod { namespace, name },
            Some("service") => {
                let (name, port) = match name.split_once(':') {
                    Some((n, p)) => (
                        n.to_string(),
                        Some(
                            p.parse::<u16>()
                                .map_err(|_| format!("`{p}` is not a port number"))?,
                        ),
                    ),
                    None => (name, None),
                };
                EndpointQuery::Service {
                    namespace,
                    name,
                    port,
                }
            }
            Some(k) if WORKLOAD_KINDS.contains(&k) => EndpointQuery::Workload {
                namespace,
                kind: k.to_string(),
                name,
            },
            _ => EndpointQuery::Workload {
                namespace,
                kind: kind.to_ascii_lowercase(),
                name,
            },
        })
    }

    /// The query as an endpoint id (`ns/svc/NAME[:PORT]` for a Service).
    pub fn id(&self) -> String {
        match self {
            EndpointQuery::Ip(ip) => ip.to_string(),
            EndpointQuery::Node(n) => format!("node:{n}"),
            EndpointQuery::Pod { namespace, name } => format!("{namespace}/{name}"),
            EndpointQuery::Workload {
                namespace,
                kind,
                name,
            } => format!("{namespace}/{kind}/{name}"),
            EndpointQuery::Service {
                namespace,
                name,
                port: Some(p),
            } => format!("{namespace}/svc/{name}:{p}"),
            EndpointQuery::Service {
                namespace,
                name,
                port: None,
            } => format!("{namespace}/svc/{name}"),
            EndpointQuery::Id(id) => id.clone(),
        }
    }
}

/// Up to `n` of `candidates` nearest to `query`: those that end with its name
/// or contain it first, then by the edit distance of the names (the last
/// segment) plus that of the namespaces; ties by id.
pub fn nearest<'a>(
    query: &str,
    candidates: impl Iterator<Item = &'a str>,
    n: usize,
) -> Vec<&'a str> {
    let (q_ns, q_name) = ns_and_name(query);
    let mut scored: Vec<(usize, &str)> = candidates
        .map(|c| {
            let (ns, name) = ns_and_name(c);
            let score = if (!q_name.is_empty() && c.ends_with(q_name)) || c.contains(query) {
                0
            } else {
                1 + edit_distance(q_name, name) + edit_distance(q_ns, ns)
            };
            (score, c)
        })
        .collect();
    scored.sort();
    scored.dedup();
    scored.into_iter().take(n).map(|(_, c)| c).collect()
}

/// An id's namespace (empty when it has none) and name (its last segment).
fn ns_and_name(s: &str) -> (&str, &str) {
    let name = s.rsplit('/').next().unwrap_or(s);
    let ns = s
        .split('/')
        .next()
        .filter(|ns| ns.len() < s.len())
        .unwrap_or("");
    (ns, name)
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(text: &str, ns: Option<&str>) -> String {
        EndpointQuery::parse(text, ns).map(|q| q.id()).unwrap() // ok: test
    }

    #[test]
    fn kubectl_kind_names_and_short_names() {
        assert_eq!(canonical_kind("netpol"), Some("networkpolicy"));
        assert_eq!(canonical_kind("NetworkPolicies"), Some("networkpolicy"));
        assert_eq!(canonical_kind("deployments.apps"), Some("deployment"));
        assert_eq!(canonical_kind("sts"), Some("statefulset"));
        assert_eq!(canonical_kind("po"), Some("pod"));
        assert_eq!(canonical_kind("frontend"), None);
        assert_eq!(id("app/deploy/frontend", None), "app/deployment/frontend");
        assert_eq!(
            id("app/Deployment/frontend", None),
            "app/deployment/frontend"
        );
        assert_eq!(id("app/po/web-1", None), "app/web-1");
        assert_eq!(
            id("kube-system/synthetic/cluster-dns", None),
            "kube-system/synthetic/cluster-dns"
        );
    }

    #[test]
    fn nearest_names_first_by_suffix_then_by_edit_distance() {
        let ids = [
            "app/deployment/frontend",
            "app/deployment/api",
            "shop/web",
            "kube-system/synthetic/cluster-dns",
        ];
        assert_eq!(
            nearest("app/frontend", ids.iter().copied(), 1),
            ["app/deployment/frontend"]
        );
        assert_eq!(
            nearest("app/frontnd", ids.iter().copied(), 2),
            ["app/deployment/frontend", "app/deployment/api"]
        );
        assert_eq!(nearest("shop/wbe", ids.iter().copied(), 1), ["shop/web"]);
        assert_eq!(
            nearest("kube-system/coredns", ids.iter().copied(), 1),
            ["kube-system/synthetic/cluster-dns"]
        );
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
    }

    #[test]
    fn namespace_flag_qualifies_short_forms() {
        assert_eq!(id("frontend", Some("app")), "app/frontend");
        assert_eq!(
            id("deploy/frontend", Some("app")),
            "app/deployment/frontend"
        );
        assert_eq!(id("svc/web:80", Some("app")), "app/svc/web:80");
        // Already qualified, an IP, a node: unchanged.
        assert_eq!(id("other/frontend", Some("app")), "other/frontend");
        assert_eq!(id("10.0.0.1", Some("app")), "10.0.0.1");
        assert_eq!(id("node:a", Some("app")), "node:a");
        assert_eq!(id("frontend", None), "frontend");
    }

    #[test]
    fn services_and_external_groups() {
        assert_eq!(
            EndpointQuery::parse("shop/services/web:8080", None).unwrap(), // ok: test
            EndpointQuery::Service {
                namespace: "shop".into(),
                name: "web".into(),
                port: Some(8080)
            }
        );
        assert!(EndpointQuery::parse("shop/svc/web:http", None).is_err());
        assert_eq!(id("10.0.0.0/8", None), "10.0.0.0/8");
        assert_eq!(id("0.0.0.0/0,::/0", None), "0.0.0.0/0,::/0");
    }
}
