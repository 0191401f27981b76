//! Text building blocks shared by every surface that prints (views, lint, diff,
//! the CLI): how a list is shortened, counts in plain English, how a proposed
//! manifest is written, how a policy field is located. Presentation only:
//! nothing here decides a fact.

pub mod yaml;

use netfence_model::{Cluster, FieldLoc, Sources};
use netfence_yaml::PathSegment;

/// `file:line:col` of a policy field such as `spec.ingress[0]`.
pub fn policy_location(sources: &Sources, cluster: &Cluster, policy: usize, path: &str) -> String {
    locate_path(sources, &cluster.policies[policy].origin, path)
}

fn locate_path(sources: &Sources, origin: &netfence_model::ObjectOrigin, path: &str) -> String {
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
        origin: origin.clone(),
        path: segs,
    };
    match sources.locate(&loc, false) {
        Some(l) => format!("{}:{}:{}", sources.name(l.file), l.span.line, l.span.col),
        None => sources.name(origin.file).to_string(),
    }
}

/// `file:line:col` of `path` (`spec.egress[1]`) inside admin policy `policy`
/// (index into `Cluster::admin_policies`).
pub fn admin_policy_location(
    sources: &Sources,
    cluster: &Cluster,
    policy: usize,
    path: &str,
) -> String {
    let p = &cluster.admin_policies[policy];
    locate_path(sources, &p.origin, path)
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

/// `--color`: what the user asked for.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

/// The one colour policy of every command: `--color always`/`never` win;
/// otherwise colour only on a terminal, and never with `NO_COLOR` set (to
/// anything but the empty string, as no-color.org says) or `TERM=dumb`.
pub fn color_enabled(choice: ColorChoice, terminal: bool) -> bool {
    color_policy(
        choice,
        terminal,
        std::env::var_os("NO_COLOR").as_deref(),
        std::env::var_os("TERM").as_deref(),
    )
}

fn color_policy(
    choice: ColorChoice,
    terminal: bool,
    no_color: Option<&std::ffi::OsStr>,
    term: Option<&std::ffi::OsStr>,
) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            terminal && no_color.is_none_or(|v| v.is_empty()) && term.is_none_or(|t| t != "dumb")
        }
    }
}

/// ANSI styles for the few words netfence highlights.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Style {
    /// A verdict that allows (green, bold).
    Good,
    /// A verdict that denies, an error (red, bold).
    Bad,
    /// A warning or callout (yellow).
    Warn,
    /// Added (green).
    Added,
    /// Removed (red).
    Removed,
    /// A section heading (bold).
    Heading,
}

/// `text` in `style` when `on`.
pub fn paint(text: &str, style: Style, on: bool) -> String {
    if !on {
        return text.to_string();
    }
    let code = match style {
        Style::Good => "1;32",
        Style::Bad => "1;31",
        Style::Warn => "33",
        Style::Added => "32",
        Style::Removed => "31",
        Style::Heading => "1",
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}

/// Colours the words of a rendered report that carry its meaning: verdicts
/// (`ALLOWED:`, `DENIED:`, `[DENY]`, `[ok  ]`), warnings, callouts, and diff's
/// added and removed connections. Plain text comes back unchanged when `on` is
/// false, so every surface can pass its output through.
pub fn highlight(text: &str, on: bool) -> String {
    if !on {
        return text.to_string();
    }
    const PREFIXES: &[(&str, Style)] = &[
        ("ALLOWED", Style::Good),
        ("DENIED", Style::Bad),
        ("[DENY]", Style::Bad),
        ("[ok  ]", Style::Good),
        ("NOT ANALYZED", Style::Warn),
        ("warning:", Style::Warn),
        ("error:", Style::Bad),
        ("! ", Style::Warn),
    ];
    let mut out = String::with_capacity(text.len() + 64);
    for line in text.split_inclusive('\n') {
        let body = line.trim_start();
        let indent = &line[..line.len() - body.len()];
        let styled = PREFIXES.iter().find_map(|(p, s)| {
            body.strip_prefix(p)
                .map(|rest| format!("{indent}{}{rest}", paint(p, *s, true)))
        });
        let styled = styled.or_else(|| {
            // A heading: `may receive from:`, `Callouts:`.
            let t = body.trim_end();
            (t.ends_with(':') && !t.contains(": ") && t.len() > 1).then(|| {
                let newline = &body[t.len()..];
                format!("{indent}{}{newline}", paint(t, Style::Heading, true))
            })
        });
        let styled = styled.or_else(|| {
            // diff: `-> dst: +TCP 80; -UDP 53`
            let (head, conns) = body.split_once(": ")?;
            if !head.starts_with("-> ") {
                return None;
            }
            let parts: Vec<String> = conns
                .trim_end_matches('\n')
                .split("; ")
                .map(|c| match c.chars().next() {
                    Some('+') => paint(c, Style::Added, true),
                    Some('-') => paint(c, Style::Removed, true),
                    _ => c.to_string(),
                })
                .collect();
            let newline = if line.ends_with('\n') { "\n" } else { "" };
            Some(format!("{indent}{head}: {}{newline}", parts.join("; ")))
        });
        // `file:line:col: error: ...` lines (report's lint summary).
        let styled = styled.unwrap_or_else(|| {
            line.replacen(
                ": error: ",
                &format!(": {}: ", paint("error", Style::Bad, true)),
                1,
            )
            .replacen(
                ": warning: ",
                &format!(": {}: ", paint("warning", Style::Warn, true)),
                1,
            )
        });
        out.push_str(&styled);
    }
    out
}

/// The width text is wrapped to: the terminal's, set once by the binary, else
/// 100 columns. Kept in the model, whose diagnostics are the first text wrapped.
pub use netfence_model::diag::{set_width, width};

#[cfg(test)]
mod style_tests {
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn one_colour_policy() {
        let t = Some(OsStr::new("xterm-256color"));
        assert!(color_policy(ColorChoice::Auto, true, None, t));
        assert!(!color_policy(ColorChoice::Auto, false, None, t));
        assert!(!color_policy(
            ColorChoice::Auto,
            true,
            Some(OsStr::new("1")),
            t
        ));
        assert!(color_policy(
            ColorChoice::Auto,
            true,
            Some(OsStr::new("")),
            t
        ));
        assert!(!color_policy(
            ColorChoice::Auto,
            true,
            None,
            Some(OsStr::new("dumb"))
        ));
        assert!(color_policy(
            ColorChoice::Always,
            false,
            Some(OsStr::new("1")),
            Some(OsStr::new("dumb"))
        ));
        assert!(!color_policy(ColorChoice::Never, true, None, t));
    }

    #[test]
    fn highlight_colours_verdicts_and_changes_only_when_on() {
        let text = "DENIED: a -> b (TCP/80)\n  [DENY] egress\n    -> c: +TCP 80; -UDP 53\nplain\n";
        assert_eq!(highlight(text, false), text);
        let on = highlight(text, true);
        assert!(on.starts_with("\x1b[1;31mDENIED\x1b[0m: a -> b"));
        assert!(on.contains("  \x1b[1;31m[DENY]\x1b[0m egress\n"));
        assert!(on.contains("-> c: \x1b[32m+TCP 80\x1b[0m; \x1b[31m-UDP 53\x1b[0m\n"));
        assert!(on.ends_with("plain\n"));
    }

    #[test]
    fn width_is_clamped() {
        set_width(20);
        assert_eq!(width(), 60);
        set_width(132);
        assert_eq!(width(), 132);
        set_width(100);
    }
}
