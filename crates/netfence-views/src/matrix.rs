//! Renderers of the grouped matrix: text, CSV, Markdown and Graphviz dot. JSON is
//! the engine's `MatrixJson` serialised as is.

use std::fmt::Write as _;

use netfence_engine::MatrixJson;

/// One line per entry: `SRC... -> DST...: TCP 80; UDP 53`.
pub fn text(m: &MatrixJson) -> String {
    let mut out = String::new();
    let synthetic: Vec<&str> = m
        .endpoints
        .iter()
        .filter(|e| e.synthetic)
        .map(|e| e.id.as_str())
        .collect();
    let unknown_ip: Vec<&str> = m
        .endpoints
        .iter()
        .filter(|e| !e.ip_known)
        .map(|e| e.id.as_str())
        .collect();
    let _ = writeln!(
        out,
        "{} endpoints, {} connection groups (a pod to itself is always allowed and not listed)",
        m.endpoints.len(),
        m.connections.len()
    );
    if !synthetic.is_empty() {
        let _ = writeln!(
            out,
            "synthetic (assumed, not in the input): {}",
            synthetic.join(", ")
        );
    }
    if !unknown_ip.is_empty() {
        let _ = writeln!(
            out,
            "IP unknown (ipBlock rules cannot match): {}",
            unknown_ip.join(", ")
        );
    }
    let _ = writeln!(out);
    for c in &m.connections {
        let _ = writeln!(
            out,
            "{} -> {}: {}",
            netfence_text::short_list(&c.src),
            netfence_text::short_list(&c.dst),
            c.allowed
        );
    }
    out
}

fn pairs(m: &MatrixJson) -> impl Iterator<Item = (&str, &str, String)> {
    m.connections.iter().flat_map(|c| {
        c.src.iter().flat_map(move |s| {
            c.dst
                .iter()
                .filter(move |d| *d != s)
                .map(move |d| (s.as_str(), d.as_str(), c.allowed.to_string()))
        })
    })
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', ';']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// `src,dst,allowed`, one row per allowed pair.
pub fn csv(m: &MatrixJson) -> String {
    let mut out = String::from("src,dst,allowed\n");
    for (s, d, a) in pairs(m) {
        let _ = writeln!(out, "{},{},{}", csv_field(s), csv_field(d), csv_field(&a));
    }
    out
}

/// A Markdown table of the grouped entries.
pub fn markdown(m: &MatrixJson) -> String {
    let mut out = String::from("| from | to | allowed |\n|---|---|---|\n");
    let esc = |s: String| s.replace('|', "\\|");
    for c in &m.connections {
        let _ = writeln!(
            out,
            "| {} | {} | {} |",
            esc(c.src.join(", ")),
            esc(c.dst.join(", ")),
            esc(c.allowed.to_string())
        );
    }
    out
}

/// A Graphviz digraph, one edge per allowed pair, labelled with the ports.
pub fn dot(m: &MatrixJson) -> String {
    let mut out = String::from("digraph netfence {\n  rankdir=LR;\n  node [shape=box];\n");
    for e in &m.endpoints {
        let shape = match e.kind {
            netfence_engine::EndpointKind::External => "ellipse",
            netfence_engine::EndpointKind::Node => "diamond",
            _ => "box",
        };
        let _ = writeln!(out, "  {:?} [shape={shape}];", e.id);
    }
    for (s, d, a) in pairs(m) {
        let _ = writeln!(out, "  {s:?} -> {d:?} [label={a:?}];");
    }
    out.push_str("}\n");
    out
}
