//! Every command shown in README.md and in the --help texts runs as written
//! (from the repository root): exit 0 or 1, never a usage error or exit 2.
//! Data-plane commands (enforce, status, lab) need root; without it they are
//! skipped, unless NETFENCE_REQUIRE_LAB=1 makes that a failure.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{netfence, root};

/// A placeholder of a synopsis (`PATHS`, `SRC`, `[--port P]`, `a|b`): not a
/// command to run.
fn is_synopsis(cmd: &str) -> bool {
    cmd.contains('[')
        || cmd.contains('|')
        || cmd.contains("...")
        || cmd
            .split_whitespace()
            .any(|w| w.chars().all(|c| c.is_ascii_uppercase() || c == '_') && !w.is_empty())
}

/// `netfence ...` commands of README.md: console lines (`$ netfence`, `$ sudo
/// netfence`) and inline spans with arguments and no placeholders.
fn readme_commands() -> Vec<String> {
    let text = std::fs::read_to_string(root().join("README.md")).unwrap();
    let mut out = Vec::new();
    // In a `console` block only prompted lines are commands (the rest is
    // output); in a `sh` block every line is.
    let mut fence: Option<&str> = None;
    for line in text.lines() {
        if let Some(lang) = line.strip_prefix("```") {
            fence = if fence.is_some() { None } else { Some(lang) };
            continue;
        }
        if let Some(lang) = fence {
            let l = line.trim_start();
            let l = match l.strip_prefix("$ ") {
                Some(l) => l,
                None if lang == "sh" => l,
                None => continue,
            };
            let l = l.strip_prefix("sudo ").unwrap_or(l);
            if l.starts_with("netfence ") {
                out.push(l.to_string());
            }
            continue;
        }
        for (i, span) in line.split('`').enumerate() {
            if i % 2 == 1
                && span.starts_with("netfence ")
                && span.split_whitespace().count() > 2
                && !is_synopsis(span)
            {
                out.push(span.to_string());
            }
        }
    }
    out
}

/// Example lines of every command's help, in an order where `lab up` comes
/// before the commands that use its lab and `lab down` last.
fn help_commands() -> Vec<String> {
    let pages: &[&[&str]] = &[
        &[],
        &["check"],
        &["describe"],
        &["matrix"],
        &["report"],
        &["compile"],
        &["gen"],
        &["diff"],
        &["lint"],
        &["lab"],
        &["lab", "run"],
        &["lab", "up"],
        &["enforce"],
        &["agent"],
        &["status"],
        &["lab", "probe"],
        &["lab", "down"],
    ];
    let mut out = Vec::new();
    for page in pages {
        let mut args: Vec<&str> = page.to_vec();
        args.push("--help");
        let r = netfence(&args);
        assert_eq!(r.code, 0, "{args:?}");
        for line in r.stdout.lines() {
            if let Some(cmd) = line.trim_start().strip_prefix("netfence ") {
                out.push(format!("netfence {cmd}"));
            }
        }
    }
    out
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false)
}

fn run_all(commands: &[String]) {
    let require = std::env::var_os("NETFENCE_REQUIRE_LAB").is_some_and(|v| v == "1");
    let dir = tempfile::tempdir().unwrap();
    for cmd in commands {
        // A trailing comment or a redirect is the shell's, not netfence's.
        let cmd = cmd.split(" #").next().unwrap().trim();
        let cmd = cmd.split(" > ").next().unwrap().trim();
        let mut args: Vec<String> = cmd.split_whitespace().skip(1).map(String::from).collect();
        // Examples that write files write them under a temporary directory,
        // and the documented lab name `demo` becomes one of this run's own, so
        // that parallel runs (other checkouts, CI) never share a lab.
        let lab = format!("demo{}", std::process::id());
        for a in &mut args {
            if a == "demo" {
                *a = lab.clone();
            } else if let Some(rest) = a.strip_prefix("netfence-lab-up-demo-") {
                *a = format!("netfence-lab-up-{lab}-{rest}");
            }
            if let Some(rest) = a.strip_prefix("/tmp/") {
                *a = dir.path().join(rest).to_str().unwrap().to_string();
            }
        }
        let data_plane = matches!(args[0].as_str(), "enforce" | "agent" | "status" | "lab");
        if data_plane && !is_root() {
            assert!(!require, "`{cmd}` needs root (NETFENCE_REQUIRE_LAB=1)");
            eprintln!("skipped (needs root): {cmd}");
            continue;
        }
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let r = netfence(&argv);
        assert!(
            r.code == 0 || r.code == 1,
            "`{cmd}` exited {}:\n{}\n{}",
            r.code,
            r.stderr,
            r.stdout
        );
    }
}

#[test]
fn readme_commands_run_as_written() {
    let commands = readme_commands();
    // The extraction finds what the README shows (guards against a format
    // change that would silently test nothing).
    for expected in [
        "netfence check app/deployment/frontend kube-system/deployment/coredns examples/guide-no-dns --port 53 --protocol UDP",
        "netfence diff examples/guide examples/guide --with examples/allow-all.yaml",
        "netfence lint --explain NF012",
        "netfence lab run examples/nodes",
    ] {
        assert!(
            commands.iter().any(|c| c.starts_with(expected)),
            "{expected} not found in {commands:?}"
        );
    }
    run_all(&commands);
}

/// Removes the `demo` lab of the help examples even when an example fails.
struct DemoLab;
impl Drop for DemoLab {
    fn drop(&mut self) {
        if is_root() {
            let _ = netfence(&["lab", "down", "--name", "demo"]);
        }
    }
}

#[test]
fn help_examples_run_as_written() {
    let _demo = DemoLab;
    let commands = help_commands();
    assert!(commands.len() >= 20, "{commands:?}");
    run_all(&commands);
}
