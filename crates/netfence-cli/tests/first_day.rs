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

#[test]
fn kubectl_kind_names_and_short_names_everywhere() {
    // describe: a Deployment by its name with -n, by kind, by short kind.
    for args in [
        vec!["describe", "pod", "frontend", "-n", "app", "examples/guide"],
        vec!["describe", "po", "app/frontend", "examples/guide"],
        vec![
            "describe",
            "deploy",
            "frontend",
            "-n",
            "app",
            "examples/guide",
        ],
        vec!["describe", "deployment", "app/frontend", "examples/guide"],
        vec!["describe", "pods", "app/deploy/frontend", "examples/guide"],
    ] {
        let r = netfence(&args);
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
        assert!(
            r.stdout.starts_with("app/deployment/frontend"),
            "{args:?}: {}",
            r.stdout
        );
    }
    for kind in ["policy", "netpol", "networkpolicy", "NetworkPolicies"] {
        let r = netfence(&["describe", kind, "app/default-deny-all", "examples/guide"]);
        assert_eq!(r.code, 0, "{kind}: {}", r.stderr);
        assert!(
            r.stdout.starts_with("NetworkPolicy app/default-deny-all"),
            "{kind}: {}",
            r.stdout
        );
    }
    for kind in ["ns", "namespace", "namespaces"] {
        let r = netfence(&["describe", kind, "app", "examples/guide"]);
        assert_eq!(r.code, 0, "{kind}: {}", r.stderr);
    }
    let r = netfence(&["describe", "foo", "x", "examples/guide"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("describe takes policy"), "{}", r.stderr);
    // --without: kubectl's names and describe's word for a policy.
    let full = netfence(&[
        "diff",
        "examples/guide",
        "examples/guide",
        "--without",
        "NetworkPolicy/app/default-deny-all",
    ]);
    assert_eq!(full.code, 1, "{}", full.stderr);
    for spec in [
        "netpol/app/default-deny-all",
        "policy/app/default-deny-all",
        "networkpolicies/app/default-deny-all",
    ] {
        let r = netfence(&[
            "diff",
            "examples/guide",
            "examples/guide",
            "--without",
            spec,
        ]);
        assert_eq!(r.code, 1, "{spec}: {}", r.stderr);
        assert_eq!(
            r.stdout.lines().skip(1).collect::<Vec<_>>(),
            full.stdout.lines().skip(1).collect::<Vec<_>>(),
            "{spec}"
        );
    }
    // check: short workload kinds in endpoints.
    let r = netfence(&[
        "check",
        "app/deploy/frontend",
        "app/deploy/api",
        "examples/guide",
        "--port",
        "8080",
    ]);
    let long = netfence(&[
        "check",
        "app/deployment/frontend",
        "app/deployment/api",
        "examples/guide",
        "--port",
        "8080",
    ]);
    assert_eq!(r.code, long.code);
    assert_eq!(r.stdout, long.stdout);
}

/// The guide's namespaces and policies with a frontend but no DNS pods, so
/// netfence assumes the cluster DNS.
fn no_dns_pods(dir: &std::path::Path) -> Vec<String> {
    let workload = dir.join("frontend.yaml");
    std::fs::write(
        &workload,
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: frontend, namespace: app}\n\
         spec:\n  selector: {matchLabels: {app: frontend}}\n  template:\n    metadata: {labels: {app: frontend}}\n\
         \x20   spec: {containers: [{name: web, image: nginx}]}\n",
    )
    .unwrap();
    vec![
        "examples/guide-no-dns/namespaces.yaml".into(),
        "examples/guide-no-dns/policies.yaml".into(),
        workload.to_str().unwrap().into(),
    ]
}

#[test]
fn natural_names_for_cluster_dns_and_nearest_ids_in_errors() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = no_dns_pods(dir.path());
    let check = |dst: &str| {
        let mut args = vec!["check", "app/deployment/frontend", dst];
        args.extend(inputs.iter().map(String::as_str));
        args.extend(["--port", "53", "--protocol", "UDP"]);
        netfence(&args)
    };
    let synthetic = check("kube-system/synthetic/cluster-dns");
    assert_eq!(synthetic.code, 1, "{}", synthetic.stderr);
    for natural in [
        "kube-system/deployment/coredns",
        "kube-system/deploy/coredns",
        "kube-system/coredns",
        "kube-system/kube-dns",
        "kube-system/svc/kube-dns",
    ] {
        let r = check(natural);
        assert_eq!(r.code, 1, "{natural}: {}", r.stderr);
        assert!(
            r.stdout.starts_with(
                "DENIED: app/deployment/frontend -> kube-system/synthetic/cluster-dns (UDP/53)"
            ),
            "{natural}: {}",
            r.stdout
        );
    }
    // A typo: the nearest real ids, not just "no endpoint".
    let r = check("app/frontnd");
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains(
            "no endpoint `app/frontnd` in the input; did you mean app/deployment/frontend"
        ),
        "{}",
        r.stderr
    );
    let r = netfence(&["check", "shop/nope", "app/deployment/api", "examples/guide"]);
    assert!(r.stderr.contains("did you mean"), "{}", r.stderr);
    let r = netfence(&["describe", "policy", "app/default-deny", "examples/guide"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("did you mean app/default-deny-all"),
        "{}",
        r.stderr
    );
    let r = netfence(&["describe", "namespace", "ap", "examples/guide"]);
    assert!(r.stderr.contains("did you mean app"), "{}", r.stderr);
}

#[test]
fn check_never_claims_what_was_not_verified() {
    // Without --port the proposer's changes open different ports on the two
    // sides, so the engine still denies: no "fix", no "opens nothing else".
    let r = netfence(&[
        "check",
        "app/deployment/api",
        "app/deployment/frontend",
        "examples/guide",
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(!r.stdout.contains("Proposed fix"), "{}", r.stdout);
    assert!(!r.stdout.contains("opens nothing else"), "{}", r.stdout);
    assert!(!r.stdout.contains("already opens the port"), "{}", r.stdout);
    assert!(
        r.stdout.contains("No verified fix. Tried, and NOT enough"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("--port"), "{}", r.stdout);
    let json = netfence(&[
        "check",
        "app/deployment/api",
        "app/deployment/frontend",
        "examples/guide",
        "-o",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(v["proposal"]["verified"], false);
    assert_eq!(v["proposal"]["also_opens_total"], 0);
    // A verified fix still says what else it opens.
    let ok = netfence(&[
        "check",
        "app/deployment/frontend",
        "kube-system/deployment/coredns",
        "examples/guide-no-dns",
        "--port",
        "53",
        "--protocol",
        "UDP",
    ]);
    assert!(
        ok.stdout.contains("Proposed fix (verified"),
        "{}",
        ok.stdout
    );
    assert!(
        ok.stdout.contains("It would also open 1 other pair:"),
        "{}",
        ok.stdout
    );
}

#[test]
fn counts_agree_with_their_nouns() {
    let r = netfence(&["report", "examples/guide"]);
    assert!(r.stdout.contains("0 policies, 1 pod\n"), "{}", r.stdout);
    assert!(
        r.stdout.contains("Lint: 0 errors, 1 warning, 3 info"),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains("(s)"), "{}", r.stdout);
    let d = netfence(&[
        "diff",
        "examples/guide",
        "examples/guide",
        "--with",
        "examples/allow-all.yaml",
    ]);
    assert!(
        d.stdout
            .contains("10 changes: 10 add connections, 0 remove connections"),
        "{}",
        d.stdout
    );
    let bad = netfence_stdin(&["report", "-"], Some("kind: NetworkPolicy\n"));
    assert!(
        bad.stderr.contains("error: 1 error in the input"),
        "{}",
        bad.stderr
    );
}

#[test]
fn one_colour_policy_everywhere() {
    let esc = "\x1b[";
    let cases: Vec<Vec<&str>> = vec![
        vec![
            "check",
            "app/deployment/frontend",
            "app/deployment/api",
            "examples/guide",
            "--port",
            "8080",
        ],
        vec!["report", "examples/guide-no-dns"],
        vec!["describe", "pod", "app/deployment/api", "examples/guide"],
        vec![
            "diff",
            "examples/guide",
            "examples/guide",
            "--with",
            "examples/allow-all.yaml",
        ],
        vec!["lint", "examples/guide-no-dns"],
    ];
    for args in cases {
        // The harness sets NO_COLOR and pipes stdout: no colour...
        let plain = netfence(&args);
        assert!(!plain.stdout.contains(esc), "{args:?}");
        // ...unless asked for: --color always wins over NO_COLOR and a pipe.
        let mut always = args.clone();
        always.extend(["--color", "always"]);
        let r = netfence(&always);
        assert!(
            r.stdout.contains(esc),
            "{args:?}: no colour with --color always"
        );
        let mut never = args.clone();
        never.extend(["--color", "never"]);
        assert!(!netfence(&never).stdout.contains(esc), "{args:?}");
    }
}

#[test]
fn text_wraps_at_the_terminal_width_between_words_only() {
    let run = |columns: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_netfence"))
            .args(["lint", "examples/guide-no-dns", "--color", "never"])
            .current_dir(root())
            .env("COLUMNS", columns)
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap()
    };
    let narrow = run("60");
    // The wrapped message lines of each finding (source snippets are quoted as they are).
    let wrapped = narrow.lines().filter(|l| {
        ["  │ ", "  ☞ ", "  × ", "  ⚠ "]
            .iter()
            .any(|p| l.starts_with(p))
    });
    for line in wrapped {
        assert!(line.chars().count() <= 60, "too wide: {line}");
        // Never inside a name: an id is split neither at `/` nor at `-`.
        let t = line.trim_end();
        assert!(
            !t.ends_with('/') && !t.ends_with("kube-"),
            "broken name: {line}"
        );
    }
    assert!(narrow.contains("kube-system/deployment/coredns"));
    let wide = run("160");
    assert!(wide.lines().any(|l| l.chars().count() > 100), "{wide}");
}

#[test]
fn completions_and_man_page() {
    for (shell, marker) in [
        ("bash", "_netfence()"),
        ("zsh", "#compdef netfence"),
        ("fish", "complete -c netfence"),
    ] {
        let r = netfence(&["completions", shell]);
        assert_eq!(r.code, 0, "{shell}: {}", r.stderr);
        assert!(r.stdout.contains(marker), "{shell}");
        // Subcommands and their flags are completed.
        assert!(
            r.stdout.contains("check") && r.stdout.contains("per-pair"),
            "{shell}"
        );
    }
    let man = netfence(&["man"]);
    assert_eq!(man.code, 0);
    assert!(man.stdout.contains(".TH netfence 1"), "{}", man.stdout);
    assert!(man.stdout.contains("netfence\\-lint"));
}

#[test]
fn matrix_leaves_out_pairs_of_two_external_ranges() {
    let externals = |args: &[&str]| -> usize {
        let r = netfence(args);
        assert_eq!(r.code, 0, "{}", r.stderr);
        let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
        let external: std::collections::HashSet<&str> = v["endpoints"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == "external")
            .map(|e| e["id"].as_str().unwrap())
            .collect();
        let mut pairs = 0;
        for c in v["connections"].as_array().unwrap() {
            let ids = |k: &str| -> Vec<&str> {
                c[k].as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_str().unwrap())
                    .collect()
            };
            for s in ids("src") {
                for d in ids("dst") {
                    pairs += usize::from(external.contains(s) && external.contains(d));
                }
            }
        }
        pairs
    };
    for per_pair in [false, true] {
        let mut args = vec!["matrix", "examples/shop", "-o", "json"];
        if per_pair {
            args.push("--per-pair");
        }
        assert_eq!(externals(&args), 0, "per_pair {per_pair}");
        args.push("--external-pairs");
        assert!(externals(&args) > 0, "per_pair {per_pair}");
    }
    let text = netfence(&["matrix", "examples/guide"]);
    assert!(
        !text.stdout.contains("0.0.0.0/0 -> ::/0"),
        "{}",
        text.stdout
    );
}

/// Item 7: input errors and warnings are findings of every machine format, and
/// warnings count for `--fail-on`.
#[test]
fn input_problems_in_every_machine_format() {
    let host_bits = "apiVersion: v1\nkind: Namespace\nmetadata: {name: app}\n---\n\
apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: app}\n\
spec:\n  podSelector: {}\n  policyTypes: [Egress]\n  egress:\n  - to:\n    - ipBlock: {cidr: 10.0.0.1/8}\n";
    // A warning of the input fails the run at the default --fail-on warning,
    // not at --fail-on error.
    let run = netfence_stdin(&["lint", "-", "-o", "json"], Some(host_bits));
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let input: Vec<&serde_json::Value> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "input")
        .collect();
    assert_eq!(input.len(), 1, "{doc}");
    assert_eq!(input[0]["severity"], "warning");
    assert!(input[0]["message"].as_str().unwrap().contains("host bits"));
    assert_eq!(input[0]["location"]["line"], 13);
    assert_eq!(
        input[0]["location"]["path"],
        "spec.egress[0].to[0].ipBlock.cidr"
    );
    let lenient = netfence_stdin(&["lint", "-", "--fail-on", "error"], Some(host_bits));
    assert_eq!(lenient.code, 0, "{}", lenient.stdout);
    assert!(lenient.stdout.contains("[input]"), "{}", lenient.stdout);

    // Input that cannot be analyzed still annotates the pull request (exit 2).
    let broken = "apiVersion: v1\nkind: Pod\nmetadata: {name: a\n";
    let gh = netfence_stdin(&["lint", "-", "-o", "github"], Some(broken));
    assert_eq!(gh.code, 2);
    assert!(
        gh.stdout.starts_with("::error file=") && gh.stdout.contains("title=input::"),
        "{}",
        gh.stdout
    );
    let sarif = netfence_stdin(&["lint", "-", "-o", "sarif"], Some(broken));
    assert_eq!(sarif.code, 2);
    let log: serde_json::Value = serde_json::from_str(&sarif.stdout).unwrap();
    let run = &log["runs"][0];
    let result = &run["results"][0];
    assert_eq!(result["ruleId"], "input");
    assert_eq!(result["level"], "error");
    let index = result["ruleIndex"].as_u64().unwrap() as usize;
    assert_eq!(run["tool"]["driver"]["rules"][index]["id"], "input");
    assert!(result["locations"][0]["physicalLocation"]["region"]["startLine"].is_u64());
    // The human rendering still goes to stderr for the log.
    assert!(
        sarif.stderr.contains("1 error in the input"),
        "{}",
        sarif.stderr
    );

    // An empty input is an error finding too.
    let empty = netfence_stdin(&["lint", "-", "-o", "json"], Some("# nothing\n"));
    assert_eq!(empty.code, 2);
    let doc: serde_json::Value = serde_json::from_str(&empty.stdout).unwrap();
    assert_eq!(doc["findings"][0]["rule"], "input");
    assert!(
        doc["findings"][0]["message"]
            .as_str()
            .unwrap()
            .contains("no Kubernetes objects")
    );
}

/// Item 14: long work shows progress on a terminal (run under `script`, which
/// gives the command a pseudo-terminal), and nothing when standard error is a pipe.
#[test]
fn progress_on_a_terminal_only() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().to_str().unwrap();
    let generated = netfence(&[
        "gen",
        "--workloads",
        "1800",
        "--policies",
        "300",
        "--seed",
        "1",
        "-o",
        big,
    ]);
    assert_eq!(generated.code, 0, "{}", generated.stderr);
    let exe = env!("CARGO_BIN_EXE_netfence");
    let tty = Command::new("script")
        .args([
            "-qfec",
            &format!("{exe} lint {big} --fail-on error"),
            "/dev/null",
        ])
        .output()
        .expect("`script` (util-linux) gives the command a terminal");
    let shown = String::from_utf8_lossy(&tty.stdout);
    assert!(tty.status.success(), "{shown}");
    assert!(
        shown.contains("linting"),
        "no progress on a terminal: {shown}"
    );
    let piped = netfence(&["lint", big, "--fail-on", "error"]);
    assert_eq!(piped.code, 0);
    assert!(!piped.stderr.contains("linting"), "{}", piped.stderr);
    // A small input is not long work: no progress even on a terminal.
    let small = Command::new("script")
        .args([
            "-qfec",
            &format!(
                "{exe} lint {}/examples/guide --fail-on error",
                root().display()
            ),
            "/dev/null",
        ])
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&small.stdout).contains("linting"));
}
