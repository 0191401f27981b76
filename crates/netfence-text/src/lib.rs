//! Text rendering helpers shared by every surface that prints for people.

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
