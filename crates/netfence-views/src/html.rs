//! `netfence report -o html`: one self-contained page (styles and script
//! inlined, nothing fetched) drawn from the very JSON document `-o json` prints.
//! The document is embedded as data and laid out by the page's script, so the
//! page can show no fact the JSON does not hold.

const STYLE: &str = include_str!("html/report.css");
const SCRIPT: &str = include_str!("html/report.js");

/// The page for `doc`, the document of `netfence report -o json`.
pub fn report_page(doc: &serde_json::Value) -> String {
    page("netfence report", doc)
}

/// The page for `diff`, the document of `netfence diff -o json`: the same
/// graph, drawn from the changed connections only (added green, removed red),
/// and the changes, callouts and default-deny changes as tables.
pub fn diff_page(diff: &serde_json::Value) -> String {
    page("netfence diff", &diff_as_graph(diff))
}

fn page(title: &str, doc: &serde_json::Value) -> String {
    let data = embed_json(doc);
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; \
         style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">\n\
         <title>{title}</title>\n<style>\n{STYLE}</style>\n</head>\n<body>\n\
         <noscript>This page draws its graph and tables with JavaScript; \
         the command's `-o json` holds the same data.</noscript>\n\
         <script type=\"application/json\" id=\"netfence-data\">{data}</script>\n\
         <script>\n{SCRIPT}</script>\n</body>\n</html>\n"
    )
}

/// A diff document in the shape the page draws: one edge per change and
/// direction of change (`change`: `added` or `removed`, `allowed`: what was
/// added or removed), with the policies the diff names as responsible; the
/// diff itself rides along for the tables.
fn diff_as_graph(diff: &serde_json::Value) -> serde_json::Value {
    use serde_json::{Value, json};
    let empty = Vec::new();
    let nonempty = |set: &Value| {
        ["TCP", "UDP", "SCTP"]
            .iter()
            .any(|p| set[p].as_array().is_some_and(|a| !a.is_empty()))
            || set["other"].as_bool() == Some(true)
    };
    // Address ranges (`10.0.0.0/8,192.0.2.0/24`) and nodes are outside any namespace.
    let external = |id: &str| {
        id.starts_with("node:")
            || id
                .split(',')
                .all(|c| c.parse::<ipnet::IpNet>().is_ok() || c.parse::<std::net::IpAddr>().is_ok())
    };
    let mut by_dst: std::collections::BTreeMap<String, Vec<Value>> = Default::default();
    for c in diff["changes"].as_array().unwrap_or(&empty) {
        let (Some(src), Some(dst)) = (c["src"].as_str(), c["dst"].as_str()) else {
            continue;
        };
        for (change, side) in [("added", "after"), ("removed", "before")] {
            if !nonempty(&c[change]) {
                continue;
            }
            let mut policies: Vec<String> = c["why"][side]
                .as_array()
                .unwrap_or(&empty)
                .iter()
                .filter_map(|w| w["policy"].as_str().map(str::to_string))
                .collect();
            policies.dedup();
            by_dst.entry(dst.to_string()).or_default().push(json!({
                "from": src,
                "external": external(src),
                "allowed": c[change],
                "change": change,
                "policies": policies,
            }));
        }
    }
    let reachability: Vec<Value> = by_dst
        .into_iter()
        .map(|(dst, sources)| {
            json!({
                "destination": dst,
                "external_destination": external(&dst),
                "ingress_isolated": null,
                "cluster_dns": false,
                "sources": sources,
            })
        })
        .collect();
    json!({
        "mode": "diff",
        "summary": diff["summary"],
        "before": diff["before"],
        "after": diff["after"],
        "reachability": reachability,
        "diff": diff,
    })
}

/// JSON that is safe inside a `<script>` element: every `<`, `>` and `&` is
/// written as a JSON escape, so no input name can close the element or open a
/// comment, and `JSON.parse` reads back the same strings.
fn embed_json(doc: &serde_json::Value) -> String {
    let text = serde_json::to_string(doc).unwrap_or_else(|_| "{}".into());
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn input_names_cannot_close_the_data_element() {
        let doc = json!({
            "reachability": [{"destination": "ns/pod/</script><script>alert(1)</script>",
                              "ingress_isolated": false, "cluster_dns": false, "sources": []}],
            "warnings": ["<!-- & -->"]
        });
        let page = report_page(&doc);
        assert!(!page.contains("alert(1)</script>"), "{page}");
        assert!(!page.contains("<!--"));
        // Exactly the two script elements of the template.
        assert_eq!(page.matches("</script>").count(), 2);
        let start = page
            .find("id=\"netfence-data\">")
            .map(|i| i + 19)
            .unwrap_or(0);
        let end = page[start..]
            .find("</script>")
            .map(|i| i + start)
            .unwrap_or(0);
        let back: serde_json::Value = serde_json::from_str(&page[start..end]).unwrap_or_default();
        assert_eq!(back, doc, "the embedded JSON reads back as the document");
    }

    #[test]
    fn the_page_fetches_nothing() {
        let page = report_page(&json!({}));
        for needle in [
            "http://", "https://", "src=", "href=", "@import", "url(http",
        ] {
            // The SVG namespace URI is an identifier, not a fetch.
            let hits = page.matches(needle).count()
                - if needle == "http://" {
                    page.matches("http://www.w3.org/2000/svg").count()
                } else {
                    0
                };
            assert_eq!(hits, 0, "{needle} in the page");
        }
        assert!(page.contains("default-src 'none'"));
    }
}
