//! Pod interfaces on a real node, found in its routing table: a CNI routes each
//! local pod's address to that pod's own interface (host routes such as
//! `10.1.2.3 dev cali1234`). With the interfaces known, the ruleset binds every
//! pod address to its interface (anti-spoofing, see `compile`).

use std::collections::HashMap;
use std::net::IpAddr;

use serde_json::Value;

use crate::apply::{ApplyError, Target, run};
use crate::compile::Interfaces;

/// Host routes (`/32`, `/128`) whose device starts with `prefix`: address →
/// device.
pub fn host_routes(target: &Target, prefix: &str) -> Result<HashMap<IpAddr, String>, ApplyError> {
    let mut out = HashMap::new();
    for family in ["-4", "-6"] {
        let mut cmd = target.command("ip");
        cmd.args([family, "-j", "route", "show"]);
        let text = run(cmd, None)?;
        let routes: Value = serde_json::from_str(&text).map_err(|e| ApplyError::Output {
            command: format!("ip {family} -j route show"),
            detail: e.to_string(),
        })?;
        for route in routes.as_array().into_iter().flatten() {
            let (Some(dst), Some(dev)) = (route["dst"].as_str(), route["dev"].as_str()) else {
                continue;
            };
            let addr = dst
                .strip_suffix("/32")
                .or_else(|| dst.strip_suffix("/128"))
                .unwrap_or(dst);
            if let Ok(ip) = addr.parse::<IpAddr>()
                && dev.starts_with(prefix)
            {
                out.insert(ip, dev.to_string());
            }
        }
    }
    Ok(out)
}

/// The interfaces of `pods` (`id`, addresses): a pod is bound to the device its
/// addresses are routed to. A pod without such a route is left out, and the
/// prefix rule drops whatever it sends (fail closed) until the next `enforce`.
pub fn interfaces(
    prefix: &str,
    routes: &HashMap<IpAddr, String>,
    pods: &[(String, Vec<IpAddr>)],
) -> Interfaces {
    let by_endpoint = pods
        .iter()
        .filter_map(|(id, ips)| {
            let dev = ips.iter().find_map(|ip| routes.get(ip))?;
            // Every address of the pod must go to the same device.
            ips.iter()
                .all(|ip| routes.get(ip) == Some(dev))
                .then(|| (id.clone(), dev.clone()))
        })
        .collect();
    Interfaces {
        prefix: prefix.to_string(),
        by_endpoint,
    }
}

/// The interfaces of the pods `engine` places on `node` (every pod when
/// `None`), from the node's host `routes`, and how many pods with an address
/// have no route through a prefixed interface (what they send is dropped until
/// they are wired).
pub fn node_interfaces(
    engine: &netfence_engine::Engine,
    node: Option<&String>,
    prefix: &str,
    routes: &HashMap<IpAddr, String>,
) -> (Interfaces, usize) {
    let pods: Vec<(String, Vec<IpAddr>)> = engine
        .pods()
        .map(|p| engine.endpoint(p))
        .filter(|e| node.is_none() || e.node.as_ref() == node)
        .map(|e| (e.id.clone(), e.ips.clone()))
        .collect();
    let ifs = interfaces(prefix, routes, &pods);
    let unbound = pods
        .iter()
        .filter(|(id, ips)| !ips.is_empty() && !ifs.by_endpoint.contains_key(id))
        .count();
    (ifs, unbound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pods_are_bound_to_the_device_their_addresses_route_to() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap(); // ok: test
        let routes: HashMap<IpAddr, String> = [
            (ip("10.1.0.2"), "cali2".to_string()),
            (ip("fd00::2"), "cali2".to_string()),
            (ip("10.1.0.3"), "cali3".to_string()),
            (ip("fd00::3"), "cali9".to_string()),
        ]
        .into();
        let pods = vec![
            ("a/one".to_string(), vec![ip("10.1.0.2"), ip("fd00::2")]),
            // Its two addresses go to two devices: not bound (fail closed).
            ("a/two".to_string(), vec![ip("10.1.0.3"), ip("fd00::3")]),
            ("a/elsewhere".to_string(), vec![ip("10.1.0.4")]),
        ];
        let ifs = interfaces("cali", &routes, &pods);
        assert_eq!(ifs.prefix, "cali");
        assert_eq!(
            ifs.by_endpoint,
            [("a/one".to_string(), "cali2".to_string())].into()
        );
    }
}
