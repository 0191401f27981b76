//! What a first day with netfence hit (issue 14), each as it must behave now.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Command, Stdio};

use common::{netfence, netfence_stdin, root};

/// A pipe whose reading end is already closed: every write to it fails with
/// EPIPE, as when `netfence ... | head -5` has read its five lines.
fn closed_pipe() -> Stdio {
    let (read, write) = nix::unistd::pipe().unwrap();
    drop(read);
    Stdio::from(write)
}

/// Runs netfence with stdout and/or stderr on a closed pipe; the exit code.
fn with_closed(args: &[&str], stdout_closed: bool, stderr_closed: bool) -> i32 {
    let pick = |closed: bool| if closed { closed_pipe() } else { Stdio::null() };
    Command::new(env!("CARGO_BIN_EXE_netfence"))
        .args(args)
        .current_dir(root())
        .stdin(Stdio::null())
        .stdout(pick(stdout_closed))
        .stderr(pick(stderr_closed))
        .status()
        .unwrap()
        .code()
        .unwrap_or(-1)
}

#[test]
fn no_panic_on_a_closed_pipe() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("gen");
    let out = out.to_str().unwrap();
    let gen_args = ["gen", "--workloads", "3", "--policies", "1", "-o", out];
    // `gen` writes only to stderr: with it closed the work is still done.
    assert_eq!(with_closed(&gen_args, false, true), 0);
    // A warning (pods without IPs) on stderr, the ruleset on stdout.
    let compile = ["compile", "examples/guide"];
    assert_eq!(with_closed(&compile, false, true), 0);
    assert_eq!(with_closed(&compile, true, false), 0);
    assert_eq!(with_closed(&compile, true, true), 0);
    // An error message on a closed stderr: still exit 2, not a panic's 101.
    assert_eq!(
        with_closed(&["check", "a/b", "c/d", "does/not/exist"], true, true),
        2
    );
    // Help on a closed pipe.
    assert_eq!(with_closed(&["--help"], true, true), 0);
}

#[test]
fn empty_or_comment_only_input_says_so_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let comments = dir.path().join("comments.yaml");
    std::fs::write(&comments, "# only a comment\n---\n# and another\n").unwrap();
    let empty = dir.path().join("empty.yaml");
    std::fs::write(&empty, "").unwrap();
    for file in [&comments, &empty] {
        let f = file.to_str().unwrap();
        for args in [
            vec!["report", f],
            vec!["lint", f],
            vec!["matrix", f],
            vec!["describe", "namespace", "default", f],
            vec!["compile", f],
            vec!["check", "a/b", "c/d", f],
        ] {
            let r = netfence(&args);
            assert_eq!(r.code, 2, "{args:?}: {}", r.stdout);
            assert!(
                r.stderr.contains("no Kubernetes objects found in") && r.stderr.contains(f),
                "{args:?}: {}",
                r.stderr
            );
            assert!(r.stdout.is_empty(), "{args:?}: {}", r.stdout);
        }
    }
    let stdin = netfence_stdin(&["lint", "-"], Some("# nothing\n"));
    assert_eq!(stdin.code, 2);
    assert!(
        stdin
            .stderr
            .contains("no Kubernetes objects found in <stdin>"),
        "{}",
        stdin.stderr
    );
    // diff: an empty side is a real comparison, said out loud; two are an error.
    let c = comments.to_str().unwrap();
    let one = netfence(&["diff", c, "examples/guide"]);
    assert_eq!(one.code, 1, "{}", one.stderr);
    assert!(
        one.stderr
            .contains("warning: BEFORE: no Kubernetes objects found"),
        "{}",
        one.stderr
    );
    let both = netfence(&["diff", c, c]);
    assert_eq!(both.code, 2);
    assert!(
        both.stderr.contains("both inputs are empty"),
        "{}",
        both.stderr
    );
}
