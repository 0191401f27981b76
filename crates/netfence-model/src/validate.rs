//! The apiserver's syntax rules for names, labels, ports and CIDRs. Each function
//! returns `None` when the input is valid, or why it is not.

use std::net::IpAddr;

use ipnet::IpNet;

fn is_alnum(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}

/// A label name part: at most 63 characters, alphanumeric at both ends, `-_.` inside.
fn name_part_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("the name part must not be empty".into());
    }
    if name.len() > 63 {
        return Some(format!(
            "the name part has {} characters, at most 63 are allowed",
            name.len()
        ));
    }
    let b = name.as_bytes();
    if !is_alnum(b[0]) || !is_alnum(b[b.len() - 1]) {
        return Some("it must start and end with a letter or digit".into());
    }
    if !b
        .iter()
        .all(|&c| is_alnum(c) || matches!(c, b'-' | b'_' | b'.'))
    {
        return Some("only letters, digits, `-`, `_` and `.` are allowed".into());
    }
    None
}

/// A qualified name (label key): optional DNS-subdomain prefix and `/`, then a name part.
pub fn qualified_name_problem(key: &str) -> Option<String> {
    let mut parts = key.split('/');
    let (prefix, name) = match (parts.next(), parts.next(), parts.next()) {
        (Some(name), None, _) => (None, name),
        (Some(prefix), Some(name), None) => (Some(prefix), name),
        _ => return Some("at most one `/` is allowed".into()),
    };
    if let Some(prefix) = prefix {
        if prefix.is_empty() {
            return Some("the prefix before `/` must not be empty".into());
        }
        if let Some(p) = dns1123_subdomain_problem(prefix) {
            return Some(format!("the prefix `{prefix}` is not a DNS subdomain: {p}"));
        }
    }
    name_part_problem(name)
}

/// A label value: empty, or a valid name part.
pub fn label_value_problem(value: &str) -> Option<String> {
    if value.is_empty() {
        return None;
    }
    name_part_problem(value).map(|p| p.replace("the name part", "the value"))
}

/// A DNS-1123 subdomain (object names): at most 253 characters, lowercase
/// alphanumerics, `-` and `.`, alphanumeric at both ends of each label.
pub fn dns1123_subdomain_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("it must not be empty".into());
    }
    if name.len() > 253 {
        return Some(format!(
            "it has {} characters, at most 253 are allowed",
            name.len()
        ));
    }
    for label in name.split('.') {
        if let Some(p) = dns1123_label_problem_inner(label, usize::MAX) {
            return Some(p);
        }
    }
    None
}

/// A DNS-1123 label (namespace names): at most 63 lowercase alphanumerics or `-`.
pub fn dns1123_label_problem(name: &str) -> Option<String> {
    dns1123_label_problem_inner(name, 63)
}

/// A DNS-1035 label (Service names): a DNS-1123 label that starts with a letter.
pub fn dns1035_label_problem(name: &str) -> Option<String> {
    dns1123_label_problem(name).or_else(|| {
        (!name.starts_with(|c: char| c.is_ascii_lowercase()))
            .then(|| "it must start with a lowercase letter".to_string())
    })
}

fn dns1123_label_problem_inner(label: &str, max: usize) -> Option<String> {
    if label.is_empty() {
        return Some("empty label between dots".into());
    }
    if label.len() > max {
        return Some(format!(
            "it has {} characters, at most {max} are allowed",
            label.len()
        ));
    }
    let b = label.as_bytes();
    if !b
        .iter()
        .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
    {
        return Some("only lowercase letters, digits, `-` and `.` are allowed".into());
    }
    if b[0] == b'-' || b[b.len() - 1] == b'-' {
        return Some("it must start and end with a letter or digit".into());
    }
    None
}

/// An IANA service name as used for named ports: 1-15 characters of `[a-z0-9-]`,
/// at least one letter, no leading, trailing or doubled `-`.
pub fn port_name_problem(name: &str) -> Option<String> {
    if name.is_empty() || name.len() > 15 {
        return Some(format!(
            "a port name has 1 to 15 characters, `{name}` has {}",
            name.len()
        ));
    }
    if !name
        .bytes()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
    {
        return Some("a port name uses only lowercase letters, digits and `-`".into());
    }
    if !name.bytes().any(|c| c.is_ascii_lowercase()) {
        return Some(
            "a port name needs at least one letter (a number must be written unquoted)".into(),
        );
    }
    if name.starts_with('-') || name.ends_with('-') {
        return Some("a port name must not start or end with `-`".into());
    }
    if name.contains("--") {
        return Some("a port name must not contain `--`".into());
    }
    None
}

/// Parses a CIDR as the apiserver's strict validation does: no leading zeros, no
/// IPv4-mapped IPv6. Host bits are masked off; the flag says so (a warning upstream).
pub fn parse_cidr(text: &str) -> Result<(IpNet, bool), String> {
    let Some((addr, len)) = text.split_once('/') else {
        return Err(format!(
            "`{text}` is not a CIDR: add a prefix length, e.g. `{text}/32`"
        ));
    };
    let ip = parse_ip(addr)?;
    if len.is_empty()
        || !len.bytes().all(|b| b.is_ascii_digit())
        || (len.len() > 1 && len.starts_with('0'))
    {
        return Err(format!("`{len}` is not a valid prefix length"));
    }
    let len: u8 = len
        .parse()
        .map_err(|_| format!("`{len}` is not a valid prefix length"))?;
    let net = IpNet::new(ip, len).map_err(|_| {
        let max = if ip.is_ipv4() { 32 } else { 128 };
        format!("prefix length {len} is longer than {max}")
    })?;
    let trunc = net.trunc();
    Ok((trunc, trunc != net))
}

/// Parses an IP address, rejecting the ambiguous forms the apiserver rejects.
pub fn parse_ip(text: &str) -> Result<IpAddr, String> {
    if !text.contains(':')
        && text
            .split('.')
            .any(|octet| octet.len() > 1 && octet.starts_with('0'))
    {
        let cleaned: Vec<String> = text
            .split('.')
            .map(|o| o.trim_start_matches('0'))
            .map(|o| {
                if o.is_empty() {
                    "0".to_string()
                } else {
                    o.to_string()
                }
            })
            .collect();
        return Err(format!(
            "`{text}` has leading zeros, which are ambiguous (octal or decimal); write `{}`",
            cleaned.join(".")
        ));
    }
    let ip: IpAddr = text
        .parse()
        .map_err(|_| format!("`{text}` is not an IP address"))?;
    if let IpAddr::V6(v6) = ip
        && v6.to_ipv4_mapped().is_some()
        && text.contains('.')
    {
        return Err(format!(
            "`{text}` is an IPv4-mapped IPv6 address; write the IPv4 address `{}` instead",
            v6.to_ipv4_mapped()
                .map(|v| v.to_string())
                .unwrap_or_default()
        ));
    }
    Ok(ip)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_keys() {
        assert!(qualified_name_problem("app").is_none());
        assert!(qualified_name_problem("app.kubernetes.io/name").is_none());
        assert!(qualified_name_problem("kubernetes.io/metadata.name").is_none());
        assert!(qualified_name_problem("a/b/c").is_some());
        assert!(qualified_name_problem("/b").is_some());
        assert!(qualified_name_problem("Bad_Prefix/b").is_some());
        assert!(qualified_name_problem(&"a".repeat(64)).is_some());
        assert!(qualified_name_problem("-app").is_some());
    }

    #[test]
    fn label_values() {
        assert!(label_value_problem("").is_none());
        assert!(label_value_problem("v1.2_x-y").is_none());
        assert!(label_value_problem("has space").is_some());
        assert!(label_value_problem(&"a".repeat(64)).is_some());
    }

    #[test]
    fn port_names() {
        for ok in ["web", "http-alt", "dns", "p80", "a1"] {
            assert!(port_name_problem(ok).is_none(), "{ok}");
        }
        for bad in ["80", "HTTP", "a--b", "-web", "web-", "abcdefghijklmnop", ""] {
            assert!(port_name_problem(bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn cidrs() {
        assert_eq!(parse_cidr("10.0.0.0/8").map(|c| c.1), Ok(false));
        assert_eq!(
            parse_cidr("10.0.0.1/24").map(|(n, w)| (n.to_string(), w)),
            Ok(("10.0.0.0/24".into(), true))
        );
        assert!(parse_cidr("010.0.0.0/8").is_err());
        assert!(parse_cidr("::ffff:1.2.3.4/128").is_err());
        assert!(parse_cidr("10.0.0.0").is_err());
        assert!(parse_cidr("10.0.0.0/33").is_err());
        assert!(parse_cidr("fd00::/8").is_ok());
    }
}
