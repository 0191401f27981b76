//! The diff as text (terminal) and Markdown (a pull-request comment). JSON is the
//! `Diff` serialised as is.

use std::fmt::Write as _;

use netfence_engine::ConnSet;
use netfence_model::{AdminTier, Direction};
use netfence_text::{exception_text, short_list};

use crate::{
    AdminChangeKind, AdminPolicyChange, Callout, Change, Diff, EndpointGroup, Posture, Reason,
};

/// `+TCP 8080; -UDP 53`.
pub fn delta_text(added: &ConnSet, removed: &ConnSet) -> String {
    let plus = added.parts().into_iter().map(|p| format!("+{p}"));
    let minus = removed.parts().into_iter().map(|p| format!("-{p}"));
    plus.chain(minus).collect::<Vec<_>>().join("; ")
}

/// One side's reasons as a sentence; the subject of a direction is the change's
/// source (egress) or destination (ingress).
fn why_text(reasons: &[Reason], c: &Change) -> String {
    let subject = |d: Direction| match d {
        Direction::Egress => &c.src_label,
        Direction::Ingress => &c.dst_label,
    };
    let mut phrases = Vec::new();
    for r in reasons {
        match r {
            Reason::Allows {
                policy,
                rule,
                location,
                ..
            } => phrases.push(format!("allowed by {policy} {rule} ({location})")),
            Reason::NotIsolated { direction } => phrases.push(format!(
                "{} of {} not isolated",
                direction.as_str(),
                subject(*direction)
            )),
            Reason::Exception { exception, .. } => {
                phrases.push(exception_text(*exception).to_string())
            }
            Reason::Admin {
                policy,
                tier,
                priority,
                rule,
                action,
                location,
                ..
            } => phrases.push(format!(
                "{} by {} {policy} {rule} ({location})",
                match action.as_str() {
                    "Deny" => "denied",
                    _ => "allowed",
                },
                rank(*tier, *priority)
            )),
            Reason::Isolates { .. } => {}
        }
    }
    for d in Direction::BOTH.into_iter().rev() {
        let isolating: Vec<String> = reasons
            .iter()
            .filter_map(|r| match r {
                Reason::Isolates {
                    policy,
                    direction,
                    location,
                } if *direction == d => Some(format!("{policy} ({location})")),
                _ => None,
            })
            .collect();
        if !isolating.is_empty() {
            phrases.push(format!(
                "{} of {} isolated by {}; no rule allows it",
                d.as_str(),
                subject(d),
                isolating.join(", ")
            ));
        }
    }
    phrases.join("; ")
}

/// `Admin priority 10`, `Baseline`: where an admin policy is evaluated.
fn rank(tier: AdminTier, priority: Option<u32>) -> String {
    match priority {
        Some(p) => format!("{} priority {p}", tier.as_str()),
        None => tier.as_str().to_string(),
    }
}

/// Under a change: which pods it covers when not all, and why on each side.
fn detail_lines(c: &Change) -> Vec<String> {
    let mut lines = Vec::new();
    if !c.only.is_empty() {
        let pairs: Vec<String> = c
            .only
            .iter()
            .map(|p| format!("{} -> {}", short_list(&p.src), short_list(&p.dst)))
            .collect();
        lines.push(format!("only for pods {}", pairs.join("; ")));
    }
    lines.push(format!("before: {}", why_text(&c.why.before, c)));
    lines.push(format!("after:  {}", why_text(&c.why.after, c)));
    lines
}

fn callout_text(c: &Callout) -> String {
    match c {
        Callout::ExternalExposure {
            destination,
            from,
            added,
            ..
        } => format!(
            "newly exposed to external addresses: {destination} accepts {} from {}",
            delta_text(added, &ConnSet::none()),
            from.join("; ")
        ),
        Callout::CrossNamespace {
            destination,
            from,
            added,
            ..
        } => format!(
            "newly reachable from other namespaces: {destination} accepts {} from {}",
            delta_text(added, &ConnSet::none()),
            short_list(from)
        ),
        Callout::DnsBroken {
            pod,
            lost,
            isolated_by,
            only,
            ..
        } => {
            let pods = if only.is_empty() {
                String::new()
            } else {
                format!(" (pods {})", short_list(only))
            };
            let why = if isolated_by.is_empty() {
                "cluster DNS no longer accepts it".to_string()
            } else {
                format!("egress isolated by {}", isolated_by.join(", "))
            };
            format!(
                "DNS newly broken: {pod}{pods} can no longer reach cluster DNS on {lost} ({why})"
            )
        }
        Callout::AdminDenyCloses {
            policy,
            rule,
            location,
            pairs,
            allowed_before_by,
            ..
        } => format!(
            "admin Deny closes what NetworkPolicies allowed: {policy} {rule} ({location}) now denies {} (allowed before by {}; no NetworkPolicy can re-open it)",
            short_list(pairs),
            short_list(allowed_before_by)
        ),
        Callout::DefaultDenyLost {
            namespace,
            direction,
            policies,
        } => format!(
            "default-deny lost: namespace {namespace} has no default-deny for {} any more (it had {})",
            direction.as_str(),
            policies.join(", ")
        ),
    }
}

/// Endpoints that appeared (`+`), then those that disappeared (`-`).
fn endpoint_lines(d: &Diff) -> Vec<String> {
    let plus = d.appeared.iter().map(|e| endpoint_text('+', e));
    let minus = d.disappeared.iter().map(|e| endpoint_text('-', e));
    plus.chain(minus).collect()
}

fn endpoint_text(sign: char, e: &EndpointGroup) -> String {
    let kind = serde_plain(&e.kind);
    if e.endpoints.is_empty() {
        format!("{sign} {} ({kind})", e.group)
    } else {
        format!(
            "{sign} {}: {}: {}",
            e.group,
            netfence_text::count(e.endpoints.len(), &kind),
            short_list(&e.endpoints)
        )
    }
}

/// The kebab-case name serde gives a unit variant (`pod`, `synthetic-dns`).
fn serde_plain<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn posture_lines(d: &Diff) -> Vec<String> {
    d.default_deny
        .iter()
        .map(|p| match p.change {
            Posture::Lost => format!(
                "{}: {} default-deny lost (it had {})",
                p.namespace,
                p.direction.as_str(),
                p.policies.join(", ")
            ),
            Posture::Gained => format!(
                "{}: {} default-deny gained ({})",
                p.namespace,
                p.direction.as_str(),
                p.policies.join(", ")
            ),
        })
        .collect()
}

fn summary_line(d: &Diff) -> String {
    let s = &d.summary;
    if d.is_empty() {
        return "No change: every connection between endpoints on both sides is allowed exactly as before.".into();
    }
    let admin = if s.admin_policies > 0 {
        format!("; admin policies: {} changed", s.admin_policies)
    } else {
        String::new()
    };
    format!(
        "{}: {} {} connections, {} {} connections; endpoints: {} appeared, {} disappeared; default-deny: {} changed{admin}",
        netfence_text::count(s.changes, "change"),
        s.added,
        netfence_text::agree(s.added, "adds", "add"),
        s.removed,
        netfence_text::agree(s.removed, "removes", "remove"),
        s.appeared,
        s.disappeared,
        s.default_deny
    )
}

/// Changes per section (namespace), then per source.
fn sections(d: &Diff) -> Vec<(String, Vec<&Change>)> {
    let mut out: Vec<(String, Vec<&Change>)> = Vec::new();
    for c in &d.changes {
        let name = match c.section() {
            Some(ns) => format!("namespace {ns}"),
            None => "outside namespaces".to_string(),
        };
        match out.last_mut() {
            Some((last, list)) if *last == name => list.push(c),
            _ => out.push((name, vec![c])),
        }
    }
    out
}

pub fn text(d: &Diff) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "netfence diff: {} -> {}", d.before, d.after);
    let _ = writeln!(out, "{}", summary_line(d));
    if !d.callouts.is_empty() {
        let _ = writeln!(out, "\nCallouts:");
        for c in &d.callouts {
            let _ = writeln!(out, "  ! {}", callout_text(c));
        }
    }
    if !d.changes.is_empty() {
        let _ = writeln!(
            out,
            "\nConnections (+ added, - removed), by source namespace and workload:"
        );
        for (section, changes) in sections(d) {
            let _ = writeln!(out, "\n{section}");
            // Changes come sorted; keep their order, one heading per source.
            let mut by_src: Vec<(&str, Vec<&Change>)> = Vec::new();
            for c in changes {
                match by_src.last_mut() {
                    Some((src, list)) if *src == c.src_label => list.push(c),
                    _ => by_src.push((&c.src_label, vec![c])),
                }
            }
            for (src, list) in by_src {
                let _ = writeln!(out, "  {src}");
                for c in list {
                    let _ = writeln!(
                        out,
                        "    -> {}: {}",
                        c.dst_label,
                        delta_text(&c.added, &c.removed)
                    );
                    for line in detail_lines(c) {
                        let _ = writeln!(out, "         {line}");
                    }
                }
            }
        }
    }
    if !d.appeared.is_empty() || !d.disappeared.is_empty() {
        let _ = writeln!(out, "\nEndpoints (not compared):");
        for line in endpoint_lines(d) {
            let _ = writeln!(out, "  {line}");
        }
    }
    let postures = posture_lines(d);
    if !postures.is_empty() {
        let _ = writeln!(out, "\nDefault-deny:");
        for p in postures {
            let _ = writeln!(out, "  {p}");
        }
    }
    if !d.admin_policies.is_empty() {
        let _ = writeln!(
            out,
            "\nAdmin policies (tiers: Admin by priority, NetworkPolicy, Baseline):"
        );
        for a in &d.admin_policies {
            let _ = writeln!(out, "  {}", admin_change_text(a));
        }
    }
    out
}

/// `~ ClusterNetworkPolicy/x: Admin priority 60 -> Admin priority 40, now before
/// ClusterNetworkPolicy/y (file:line:col)`.
pub fn admin_change_text(a: &AdminPolicyChange) -> String {
    let at = |tier: Option<AdminTier>, priority: Option<u32>| {
        tier.map(|t| rank(t, priority)).unwrap_or_default()
    };
    let (before, after) = (
        at(a.tier_before, a.priority_before),
        at(a.tier_after, a.priority_after),
    );
    let mut text = match a.change {
        AdminChangeKind::Added => format!("+ {}: added, {after}", a.policy),
        AdminChangeKind::Removed => format!("- {}: removed, was {before}", a.policy),
        AdminChangeKind::Moved => format!("~ {}: {before} -> {after}", a.policy),
        AdminChangeKind::Changed if before == after => {
            format!("~ {}: rules or subject changed, {after}", a.policy)
        }
        AdminChangeKind::Changed => {
            format!(
                "~ {}: rules or subject changed, {before} -> {after}",
                a.policy
            )
        }
    };
    if !a.now_before.is_empty() {
        let _ = write!(text, "; now evaluated before {}", short_list(&a.now_before));
    }
    if !a.now_after.is_empty() {
        let _ = write!(text, "; now evaluated after {}", short_list(&a.now_after));
    }
    let _ = write!(text, " ({})", a.location);
    text
}

/// Rows of the summary table before the rest is left to the details.
const TABLE_ROWS: usize = 50;

pub fn markdown(d: &Diff) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "### netfence diff: `{}` → `{}`\n", d.before, d.after);
    let _ = writeln!(out, "{}\n", summary_line(d));
    if !d.callouts.is_empty() {
        let _ = writeln!(out, "> [!WARNING]");
        for c in &d.callouts {
            let _ = writeln!(out, "> - {}", callout_text(c));
        }
        let _ = writeln!(out);
    }
    if !d.changes.is_empty() {
        let _ = writeln!(out, "| from | to | change |\n|---|---|---|");
        for c in d.changes.iter().take(TABLE_ROWS) {
            let some = if c.only.is_empty() {
                ""
            } else {
                " (some pods)"
            };
            let _ = writeln!(
                out,
                "| `{}` | `{}` | {}{some} |",
                c.src_label,
                c.dst_label,
                delta_text(&c.added, &c.removed)
            );
        }
        if d.changes.len() > TABLE_ROWS {
            let _ = writeln!(
                out,
                "| … | … | {} more in the details below |",
                d.changes.len() - TABLE_ROWS
            );
        }
        let _ = writeln!(out);
        for (section, changes) in sections(d) {
            let _ = writeln!(
                out,
                "<details>\n<summary>{section}: {}</summary>\n",
                netfence_text::count(changes.len(), "change")
            );
            for c in changes {
                let _ = writeln!(
                    out,
                    "- `{}` → `{}`: **{}**",
                    c.src_label,
                    c.dst_label,
                    delta_text(&c.added, &c.removed)
                );
                for line in detail_lines(c) {
                    let _ = writeln!(out, "  - {line}");
                }
            }
            let _ = writeln!(out, "\n</details>\n");
        }
    }
    if !d.appeared.is_empty() || !d.disappeared.is_empty() {
        let _ = writeln!(
            out,
            "<details>\n<summary>endpoints: {} appeared, {} disappeared (not compared)</summary>\n",
            d.appeared.len(),
            d.disappeared.len()
        );
        for line in endpoint_lines(d) {
            let _ = writeln!(out, "- {line}");
        }
        let _ = writeln!(out, "\n</details>\n");
    }
    let postures = posture_lines(d);
    if !postures.is_empty() {
        let _ = writeln!(
            out,
            "<details>\n<summary>default-deny: {}</summary>\n",
            netfence_text::count(postures.len(), "change")
        );
        for p in postures {
            let _ = writeln!(out, "- {p}");
        }
        let _ = writeln!(out, "\n</details>\n");
    }
    if !d.admin_policies.is_empty() {
        let _ = writeln!(
            out,
            "<details open>\n<summary>admin policies: {}</summary>\n",
            netfence_text::count(d.admin_policies.len(), "change")
        );
        for a in &d.admin_policies {
            let _ = writeln!(out, "- `{}`", admin_change_text(a));
        }
        let _ = writeln!(out, "\n</details>\n");
    }
    out
}
