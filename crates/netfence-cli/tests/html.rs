//! `netfence report -o html` in a real browser: headless Chromium loads the page
//! from file:// and the tests read the DOM its script built (`--dump-dom`).
//! Without Chromium the tests skip, unless NETFENCE_REQUIRE_BROWSER=1 (CI).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{netfence, root};

fn browser() -> Option<PathBuf> {
    let found = ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|name| {
            std::env::var_os("PATH").and_then(|paths| {
                std::env::split_paths(&paths)
                    .map(|d| d.join(name))
                    .find(|p| p.is_file())
            })
        });
    if found.is_none() {
        assert!(
            std::env::var("NETFENCE_REQUIRE_BROWSER").as_deref() != Ok("1"),
            "NETFENCE_REQUIRE_BROWSER=1 but no chromium on PATH (apt-get install chromium)"
        );
        eprintln!("skipped: no chromium on PATH (set NETFENCE_REQUIRE_BROWSER=1 to fail instead)");
    }
    found
}

/// Where the pages and screenshots go: under target/, kept for a look.
fn out_dir() -> PathBuf {
    let dir = root().join("target/html-test");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn render(paths: &[&str], file: &str) -> PathBuf {
    let mut args = vec!["report"];
    args.extend_from_slice(paths);
    args.extend_from_slice(&["-o", "html"]);
    let run = netfence(&args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.starts_with("<!DOCTYPE html>"));
    let path = out_dir().join(file);
    std::fs::write(&path, &run.stdout).unwrap();
    path
}

/// Runs headless Chromium on `page` (with `fragment`, e.g. `#ns=app`) and
/// returns its standard output; `extra` adds `--dump-dom` or `--screenshot=...`.
fn chromium(bin: &Path, page: &Path, fragment: &str, extra: &[String]) -> String {
    let profile = tempfile::tempdir().unwrap();
    let mut child = Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1400,900",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(format!("file://{}{fragment}", page.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within 120 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn dump(bin: &Path, page: &Path, fragment: &str) -> String {
    let dom = chromium(bin, page, fragment, &["--dump-dom".to_string()]);
    assert!(
        dom.contains("data-ready=\"1\""),
        "the page's script did not finish:\n{dom}"
    );
    dom
}

/// The report's own JSON: what the page must show.
fn report_json(path: &str) -> serde_json::Value {
    let run = netfence(&["report", path, "-o", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    serde_json::from_str(&run.stdout).unwrap()
}

fn destinations(doc: &serde_json::Value) -> Vec<String> {
    doc["reachability"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["destination"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn guide_draws_every_workload_and_the_posture_table_and_filters() {
    let Some(bin) = browser() else { return };
    let page = render(&["examples/guide"], "guide.html");
    let doc = report_json("examples/guide");
    let dom = dump(&bin, &page, "");
    assert!(dom.contains("<svg id=\"graph\""), "{dom}");
    let dsts = destinations(&doc);
    assert!(dsts.len() >= 3);
    for d in &dsts {
        assert!(
            dom.contains(&format!("data-id=\"{d}\" data-ns=")),
            "workload {d} not drawn"
        );
    }
    // The guide's workloads are not isolated for ingress: drawn as open.
    for r in doc["reachability"].as_array().unwrap() {
        if r["ingress_isolated"] == false {
            let d = r["destination"].as_str().unwrap();
            assert!(dom.contains("class=\"wl open"), "{d}");
        }
    }
    let postures = &dom[dom.find("id=\"postures\"").expect("posture section")..];
    let postures = &postures[..postures.find("</section>").unwrap()];
    for ns in doc["namespaces"].as_array().unwrap() {
        let name = ns["namespace"].as_str().unwrap();
        assert!(
            postures.contains(&format!("<td>{name}</td>")),
            "namespace {name} missing from the posture table"
        );
    }

    // The namespace filter from the URL: only app's workloads are drawn.
    let filtered = dump(&bin, &page, "#ns=app");
    let (inside, outside): (Vec<&String>, Vec<&String>) =
        dsts.iter().partition(|d| d.starts_with("app/"));
    assert!(!inside.is_empty() && !outside.is_empty());
    for d in inside {
        assert!(
            filtered.contains(&format!("data-id=\"{d}\"")),
            "{d} hidden by #ns=app"
        );
    }
    for d in outside {
        assert!(
            !filtered.contains(&format!("data-id=\"{d}\"")),
            "{d} drawn despite #ns=app"
        );
    }
}

#[test]
fn cluster_posture_is_shown_in_words() {
    let Some(bin) = browser() else { return };
    let page = render(
        &["examples/cluster-default-deny"],
        "cluster-default-deny.html",
    );
    let doc = report_json("examples/cluster-default-deny");
    let dom = dump(&bin, &page, "");
    let section = &dom[dom.find("id=\"cluster\"").expect("cluster section")..];
    let section = &section[..section.find("</section>").unwrap()];
    let entries = doc["cluster"].as_array().unwrap();
    assert_eq!(entries.len(), 3);
    for c in entries {
        let text = c["text"].as_str().unwrap();
        assert!(
            section.contains(&format!("<li>{text}</li>")),
            "{text} in {section}"
        );
    }
}

#[test]
fn shop_renders_and_its_screenshot_is_not_blank() {
    let Some(bin) = browser() else { return };
    let page = render(&["examples/shop"], "shop.html");
    let shop = page.clone();
    let doc = report_json("examples/shop");
    let dom = dump(&bin, &page, "");
    // Allowed connections are drawn as edges.
    assert!(dom.contains("class=\"edge"), "no edge drawn");
    for d in destinations(&doc) {
        assert!(dom.contains(&format!("data-id=\"{d}\"")), "{d} not drawn");
    }
    // Cluster DNS is marked.
    assert!(
        dom.contains("class=\"wl open dns\""),
        "cluster DNS not highlighted"
    );
    // A search dims what does not match and keeps what does.
    let searched = dump(&bin, &page, "#q=postgres");
    assert!(searched.contains("data-id=\"data/statefulset/postgres\""));
    assert!(searched.contains("class=\"wl dim\" data-id=\"data/statefulset/redis\""));
    assert!(!searched.contains("data-id=\"storefront/deployment/web\""));

    // Selecting a workload lists what reaches it, from the report's sources.
    let target = doc["reachability"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| !r["sources"].as_array().unwrap().is_empty())
        .expect("a destination with sources");
    let id = target["destination"].as_str().unwrap();
    let selected = dump(&bin, &shop, &format!("#select={id}"));
    let aside = &selected[selected.find("<aside id=\"details\"").unwrap()..];
    let aside = &aside[..aside.find("</aside>").unwrap()];
    assert!(aside.contains(&format!("<h2>{id}</h2>")), "{aside}");
    assert!(aside.contains("Reached by"));
    for s in target["sources"].as_array().unwrap() {
        let from = s["from"].as_str().unwrap();
        assert!(aside.contains(from), "source {from} missing from {aside}");
        // With the policies responsible for each edge.
        let policies = s["policies"].as_array().unwrap();
        assert!(
            !policies.is_empty(),
            "{from}: no policy grants an allowed edge"
        );
        for p in policies {
            assert!(
                aside.contains(p.as_str().unwrap()),
                "policy {p} of {from} missing"
            );
        }
    }

    let png = out_dir().join("shop.png");
    let _ = std::fs::remove_file(&png);
    chromium(
        &bin,
        &page,
        "",
        &[format!("--screenshot={}", png.display())],
    );
    let bytes = std::fs::read(&png).expect("chromium wrote no screenshot");
    assert!(bytes.starts_with(b"\x89PNG"), "not a PNG");
    // A blank 1400x900 page compresses to a few kilobytes.
    assert!(bytes.len() > 30_000, "screenshot is {} bytes", bytes.len());
}

#[test]
fn input_names_are_shown_as_text_never_as_markup() {
    let Some(bin) = browser() else { return };
    // Object names are validated as the API server does, so hostile text
    // reaches the page through what is not: file names, which lint findings
    // and warnings quote.
    let dir = tempfile::tempdir().unwrap();
    let img = "<img src=x onerror=document.title='pwned'>";
    let svg = "<svg onload=document.title='pwned2'>";
    std::fs::write(
        dir.path().join("pods.yaml"),
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: app\n---\n\
         apiVersion: v1\nkind: Pod\nmetadata:\n  name: plain\n  namespace: app\n  labels: {app: plain}\nstatus: {podIP: 10.0.0.6}\n---\n\
         apiVersion: v1\nkind: Pod\nmetadata:\n  name: caller\n  namespace: app\n  labels: {app: caller}\nstatus: {podIP: 10.0.0.5}\n",
    )
    .unwrap();
    // A policy that selects no pod (a lint warning located in the file) ...
    std::fs::write(
        dir.path().join(format!("{img}.yaml")),
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: nothing\n  namespace: app\n\
         spec:\n  podSelector: {matchLabels: {app: nobody}}\n  ingress: [{}]\n",
    )
    .unwrap();
    // ... and one that isolates `plain`, admitting `caller`.
    std::fs::write(
        dir.path().join(format!("{svg}.yaml")),
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: plain\n  namespace: app\n\
         spec:\n  podSelector: {matchLabels: {app: plain}}\n  ingress:\n  - from:\n    - podSelector: {matchLabels: {app: nobody-either}}\n",
    )
    .unwrap();
    let input = dir.path().to_str().unwrap();
    let json = netfence(&["report", input, "-o", "json"]);
    assert!(
        json.stdout.contains("onerror=document.title") && json.stdout.contains("<svg onload"),
        "the hostile file names must reach the report data: {}",
        json.stdout
    );
    let page = render(&[input], "escape.html");
    let dom = dump(&bin, &page, "#select=app/plain");
    // Neither payload ran.
    assert!(dom.contains("<title>netfence report</title>"), "{dom}");
    // The names show as text, in the lint findings.
    assert!(dom.contains("&lt;img src=x onerror"), "{dom}");
    assert!(dom.contains("&lt;svg onload"), "{dom}");
    // Only the page's own two script elements, and no injected img or svg
    // element beyond the page's own graph.
    assert_eq!(dom.matches("<script").count(), 2, "{dom}");
    assert!(!dom.contains("<img"), "{dom}");
    assert!(!dom.contains("<svg onload"), "{dom}");
}

/// `netfence diff -o html`: the same graph of the changed connections only,
/// added edges green and removed ones red, and the changes as a table.
#[test]
fn diff_page_draws_added_green_and_removed_red() {
    let Some(bin) = browser() else { return };
    for (before, after, class, file) in [
        (
            "examples/guide",
            "examples/guide-no-dns",
            "edge removed",
            "diff-removed.html",
        ),
        (
            "examples/guide-no-dns",
            "examples/guide",
            "edge added",
            "diff-added.html",
        ),
    ] {
        let json = netfence(&["diff", before, after, "-o", "json"]);
        let doc: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
        let changes = doc["changes"].as_array().unwrap();
        assert!(!changes.is_empty());
        let run = netfence(&["diff", before, after, "-o", "html"]);
        assert!(run.stdout.starts_with("<!DOCTYPE html>"), "{}", run.stderr);
        let page = out_dir().join(file);
        std::fs::write(&page, &run.stdout).unwrap();
        let dom = dump(&bin, &page, "");
        assert!(dom.contains("<h1>netfence diff</h1>"), "{dom}");
        assert!(
            dom.contains(&format!("class=\"{class}")),
            "{class} not drawn"
        );
        let other = if class == "edge added" {
            "edge removed"
        } else {
            "edge added"
        };
        assert!(!dom.contains(&format!("class=\"{other}")));
        for c in changes {
            for end in ["src", "dst"] {
                let id = c[end].as_str().unwrap();
                assert!(dom.contains(&format!("data-id=\"{id}\"")), "{id} not drawn");
            }
        }
        let table = &dom[dom.find("id=\"changes\"").expect("changes section")..];
        let table = &table[..table.find("</section>").unwrap()];
        assert_eq!(table.matches("<tr>").count(), changes.len() + 1, "{table}");
        if class == "edge added" {
            let shot = out_dir().join("diff-added.png");
            let _ = std::fs::remove_file(&shot);
            chromium(
                &bin,
                &page,
                "",
                &[format!("--screenshot={}", shot.display())],
            );
            assert!(std::fs::metadata(&shot).unwrap().len() > 10_000);
        }
    }
}
