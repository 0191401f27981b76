//! Text building blocks shared by every surface that prints (views, lint, diff,
//! the CLI): how a list is shortened, counts in plain English, how a proposed
//! manifest is written, how a policy field is located. Presentation only:
//! nothing here decides a fact.

pub mod yaml;

use netfence_model::{Cluster, FieldLoc, Sources};
use netfence_yaml::PathSegment;

/// `file:line:col` of a policy field such as `spec.ingress[0]`.
pub fn policy_location(sources: &Sources, cluster: &Cluster, policy: usize, path: &str) -> String {
    let p = &cluster.policies[policy];
    let mut segs = Vec::new();
    for part in path.split('.') {
        match part.split_once('[') {
            Some((key, rest)) => {
                segs.push(PathSegment::Key(key.to_string()));
                if let Ok(i) = rest.trim_end_matches(']').parse::<usize>() {
                    segs.push(PathSegment::Index(i));
                }
            }
            None => segs.push(PathSegment::Key(part.to_string())),
        }
    }
    let loc = FieldLoc {
        origin: p.origin.clone(),
        path: segs,
    };
    match sources.locate(&loc, false) {
        Some(l) => format!("{}:{}:{}", sources.name(l.file), l.span.line, l.span.col),
        None => sources.name(p.origin.file).to_string(),
    }
}

/// At most six ids, then `... (N in all)`: lists stay readable at scale.
pub fn short_list(ids: &[String]) -> String {
    if ids.len() <= 6 {
        ids.join(", ")
    } else {
        format!("{}, ... ({} in all)", ids[..5].join(", "), ids.len())
    }
}

/// Why a pair exception lets traffic through, for people.
pub fn exception_text(e: netfence_engine::Exception) -> &'static str {
    match e {
        netfence_engine::Exception::SelfTraffic => "a pod can always reach itself",
        netfence_engine::Exception::FromOwnNode => {
            "traffic from a pod's own node (kubelet probes) is always allowed"
        }
        netfence_engine::Exception::ToOwnNode => {
            "a pod may always reach its own node (--egress-to-own-node)"
        }
    }
}

/// `n` and the noun in agreement: `count(1, "pod")` is "1 pod", `count(2,
/// "policy")` "2 policies", `count(0, "mismatch")` "0 mismatches".
pub fn count(n: usize, noun: &str) -> String {
    format!("{n} {}", noun_for(n, noun))
}

/// The noun for `n` of them: singular for exactly one, else its plural.
pub fn noun_for(n: usize, noun: &str) -> String {
    if n == 1 {
        noun.to_string()
    } else {
        plural(noun)
    }
}

/// `one` when `n` is 1, else `many` (verbs: "adds"/"add").
pub fn agree<'a>(n: usize, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 { one } else { many }
}

/// English plural of the nouns netfence prints.
fn plural(noun: &str) -> String {
    // The last word carries the number ("other pair" → "other pairs").
    let (head, last) = match noun.rsplit_once(' ') {
        Some((h, l)) => (format!("{h} "), l),
        None => (String::new(), noun),
    };
    let irregular = match last {
        "info" => Some("info"),
        "address" => Some("addresses"),
        _ => None,
    };
    let word = if let Some(w) = irregular {
        w.to_string()
    } else if let Some(stem) = last
        .strip_suffix('y')
        .filter(|s| !s.ends_with(['a', 'e', 'i', 'o', 'u']))
    {
        format!("{stem}ies")
    } else if ["s", "x", "ch", "sh"].iter().any(|e| last.ends_with(e)) {
        format!("{last}es")
    } else {
        format!("{last}s")
    };
    format!("{head}{word}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_agree_with_their_nouns() {
        assert_eq!(count(1, "pod"), "1 pod");
        assert_eq!(count(0, "pod"), "0 pods");
        assert_eq!(count(2, "policy"), "2 policies");
        assert_eq!(count(1, "policy"), "1 policy");
        assert_eq!(count(3, "mismatch"), "3 mismatches");
        assert_eq!(count(2, "namespace"), "2 namespaces");
        assert_eq!(count(2, "other pair"), "2 other pairs");
        assert_eq!(count(2, "key"), "2 keys");
        assert_eq!(count(3, "info"), "3 info");
        assert_eq!(count(2, "NetworkPolicy"), "2 NetworkPolicies");
        assert_eq!(agree(1, "adds", "add"), "adds");
        assert_eq!(agree(0, "adds", "add"), "add");
    }
}
