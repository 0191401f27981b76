//! `netfence diff` end to end: the outputs reviewers read (snapshots), exit
//! codes, what-if on the AFTER side, git revisions in a temporary repository,
//! and bad input on either side.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Run, netfence, netfence_in, root};

/// A pull request on the shop, given as a what-if overlay.
fn shop_pull_request(output: &str) -> Run {
    let pr = "crates/netfence-cli/tests/data/shop-payments-webhooks.yaml";
    netfence(&[
        "-o",
        output,
        "diff",
        "examples/shop",
        "examples/shop",
        "--with",
        pr,
    ])
}

#[test]
fn shop_pull_request_text() {
    let r = shop_pull_request("text");
    assert_eq!(r.code, 1, "changes exit 1: {}", r.stderr);
    insta::assert_snapshot!(r.stdout);
}

#[test]
fn shop_pull_request_markdown() {
    let r = shop_pull_request("md");
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stdout.contains("<details>"));
    insta::assert_snapshot!(r.stdout);
}

/// A change to the cluster-wide default-deny example: an admin policy moved to
/// another priority, and an Admin Deny added that closes a flow a
/// NetworkPolicy allowed.
fn cluster_admin_change(output: &str) -> Run {
    let change = "crates/netfence-cli/tests/data/cluster-admin-change.yaml";
    netfence(&[
        "-o",
        output,
        "diff",
        "examples/cluster-default-deny",
        "examples/cluster-default-deny",
        "--with",
        change,
    ])
}

#[test]
fn admin_tier_changes_text() {
    let r = cluster_admin_change("text");
    assert_eq!(r.code, 1, "{}", r.stderr);
    insta::assert_snapshot!(r.stdout);
}

#[test]
fn admin_tier_changes_json() {
    let r = cluster_admin_change("json");
    assert_eq!(r.code, 1, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["summary"]["admin_policies"], 2);
    assert_eq!(v["callouts"][0]["kind"], "admin-deny-closes");
    assert_eq!(
        v["callouts"][0]["allowed_before_by"],
        serde_json::json!(["frontend/web"])
    );
    assert_eq!(v["changes"][0]["why"]["after"][0]["role"], "admin");
    assert_eq!(v["changes"][0]["why"]["after"][0]["action"], "Deny");
    insta::assert_snapshot!(
        serde_json::to_string_pretty(&serde_json::json!({
            "admin_policies": v["admin_policies"],
            "callouts": v["callouts"],
            "why": v["changes"][0]["why"],
        }))
        .unwrap()
    );
}

#[test]
fn admin_tier_changes_markdown() {
    let r = cluster_admin_change("md");
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stdout
            .contains("<summary>admin policies: 2 changes</summary>"),
        "{}",
        r.stdout
    );
}

#[test]
fn shop_pull_request_json() {
    let r = shop_pull_request("json");
    assert_eq!(r.code, 1, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["summary"]["changes"], 2);
    assert_eq!(v["summary"]["added"], 2);
    assert_eq!(v["callouts"][0]["kind"], "external-exposure");
    assert_eq!(
        v["callouts"][0]["from"],
        serde_json::json!(["203.0.113.0/24"])
    );
    let webhook = &v["changes"][1];
    assert_eq!(webhook["src"], "203.0.113.0/24");
    assert_eq!(webhook["dst"], "payments/deployment/payments-api");
    assert_eq!(webhook["added"]["TCP"], serde_json::json!([[8080, 8080]]));
    assert_eq!(webhook["why"]["after"][0]["role"], "allows");
    assert_eq!(webhook["why"]["after"][0]["rule"], "spec.ingress[1]");
}

#[test]
fn guide_without_allow_dns_breaks_dns() {
    let r = netfence(&["diff", "examples/guide", "examples/guide-no-dns"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stdout.contains(
            "! DNS newly broken: app/deployment/frontend can no longer reach cluster DNS on TCP 53; UDP 53 (egress isolated by app/default-deny-all)"
        ),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("-> kube-system/deployment/coredns: -TCP 53; -UDP 53")
    );
    // Only removals: --fail-on added lets it pass, --fail-on removed does not.
    let added = netfence(&[
        "diff",
        "examples/guide",
        "examples/guide-no-dns",
        "--fail-on",
        "added",
    ]);
    assert_eq!(added.code, 0, "{}", added.stdout);
    let removed = netfence(&[
        "diff",
        "examples/guide",
        "examples/guide-no-dns",
        "--fail-on",
        "removed",
    ]);
    assert_eq!(removed.code, 1);
}

#[test]
fn no_change_exits_zero() {
    let r = netfence(&["diff", "examples/shop", "examples/shop"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("No change"), "{}", r.stdout);
}

#[test]
fn what_if_flags_apply_to_after() {
    let r = netfence(&[
        "diff",
        "examples/guide",
        "examples/guide",
        "--without",
        "NetworkPolicy/app/allow-dns",
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stdout.starts_with(
        "netfence diff: examples/guide -> examples/guide --without NetworkPolicy/app/allow-dns\n"
    ));
    assert!(r.stdout.contains("DNS newly broken"), "{}", r.stdout);
    // The guide's debugging step: a wide-open policy, offline.
    let allow_all = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: allow-all, namespace: app}\nspec:\n  podSelector: {}\n  policyTypes: [Ingress, Egress]\n  ingress: [{}]\n  egress: [{}]\n";
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("allow-all.yaml");
    std::fs::write(&file, allow_all).unwrap();
    let r = netfence(&[
        "diff",
        "examples/guide",
        "examples/guide",
        "--with",
        file.to_str().unwrap(),
        "--fail-on",
        "removed",
    ]);
    assert_eq!(r.code, 0, "only additions: {}", r.stdout);
    assert!(
        r.stdout.contains("    -> app/deployment/api: +all\n"),
        "{}",
        r.stdout
    );
}

#[test]
fn namespace_flag_keeps_what_touches_it() {
    let r = netfence(&[
        "-n",
        "default",
        "diff",
        "examples/guide",
        "examples/guide-no-dns",
    ]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    let r = netfence(&[
        "-n",
        "kube-system",
        "-o",
        "json",
        "diff",
        "examples/guide",
        "examples/guide-no-dns",
    ]);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    // The DNS connections end in kube-system; the callouts are about app pods.
    assert_eq!(v["summary"]["changes"], 2);
    assert_eq!(v["summary"]["callouts"], 0);
}

const BAD_POLICY: &str = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: bad\n  namespace: app\nspec:\n  podSelector: {}\n  ingres:\n  - from:\n    - {}\n";

#[test]
fn malformed_before_from_stdin() {
    let r = netfence_in(None, &["diff", "-", "examples/guide"], Some(BAD_POLICY));
    assert_eq!(r.code, 2);
    assert!(r.stdout.is_empty(), "no diff on bad input: {}", r.stdout);
    for want in [
        "<stdin>:8:3",
        "unknown field `ingres`",
        "in the BEFORE input",
    ] {
        assert!(
            r.stderr.contains(want),
            "missing {want:?} in:\n{}",
            r.stderr
        );
    }
}

#[test]
fn malformed_on_both_sides_reports_both() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.yaml");
    std::fs::write(&file, BAD_POLICY.replace("ingres", "egres")).unwrap();
    let r = netfence_in(
        None,
        &["diff", "-", file.to_str().unwrap()],
        Some(BAD_POLICY),
    );
    assert_eq!(r.code, 2);
    assert!(r.stdout.is_empty());
    let at = format!("{}:8:3", file.display());
    for want in [
        "<stdin>:8:3",
        "unknown field `ingres`",
        at.as_str(),
        "unknown field `egres`",
        "in the BEFORE input",
        "in the AFTER input",
    ] {
        assert!(
            r.stderr.contains(want),
            "missing {want:?} in:\n{}",
            r.stderr
        );
    }
}

#[test]
fn usage_errors() {
    // Refused before reading anything (so no input is written to it).
    let both_stdin = netfence(&["diff", "-", "-"]);
    assert_eq!(both_stdin.code, 2);
    assert!(both_stdin.stderr.contains("only one side"));
    let csv = netfence(&["-o", "csv", "diff", "examples/guide", "examples/guide"]);
    assert_eq!(csv.code, 2);
    assert!(
        csv.stderr
            .contains("-o text, -o json, -o yaml, -o md and -o html")
    );
    let missing = netfence(&["diff", "examples/guide", "does/not/exist"]);
    assert_eq!(missing.code, 2);
    assert!(
        missing.stderr.contains("does/not/exist"),
        "{}",
        missing.stderr
    );
}

/// A git repository with the guide's cluster under `deploy/`: HEAD~1 without
/// allow-dns, HEAD with it.
struct Repo {
    dir: tempfile::TempDir,
}

impl Repo {
    fn new() -> Repo {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repo { dir };
        repo.git(&["init", "-q", "-b", "main"]);
        repo.commit_example("examples/guide-no-dns", "default-deny");
        repo.commit_example("examples/guide", "allow dns");
        repo
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn deploy(&self) -> PathBuf {
        self.path().join("deploy")
    }

    fn git(&self, args: &[&str]) {
        let out = Command::new("git")
            .args([
                "-c",
                "user.name=netfence",
                "-c",
                "user.email=dev@netfence.invalid",
                "-c",
                "commit.gpgsign=false",
            ])
            .args(args)
            .current_dir(self.path())
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {:?}", out);
    }

    fn write_example(&self, example: &str) {
        std::fs::create_dir_all(self.deploy()).unwrap();
        for file in ["namespaces.yaml", "workloads.yaml", "policies.yaml"] {
            std::fs::copy(root().join(example).join(file), self.deploy().join(file)).unwrap();
        }
    }

    fn commit_example(&self, example: &str, message: &str) {
        self.write_example(example);
        // Not a manifest: directory loading skips it, and so must git loading.
        std::fs::write(self.deploy().join("README.md"), message).unwrap();
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "-m", message]);
    }
}

#[test]
fn git_revisions_from_the_repository_root_and_from_the_directory() {
    let repo = Repo::new();
    let from_root = netfence_in(
        Some(repo.path()),
        &["diff", "git:HEAD~1:deploy", "git:HEAD:deploy"],
        None,
    );
    assert_eq!(from_root.code, 1, "{}", from_root.stderr);
    assert!(
        from_root
            .stdout
            .contains("-> kube-system/deployment/coredns: +TCP 53; +UDP 53"),
        "{}",
        from_root.stdout
    );
    // Locations point into the revision, as `git show` names it.
    assert!(
        from_root
            .stdout
            .contains("allowed by app/allow-dns spec.egress[0] (HEAD:deploy/policies.yaml:23:7)"),
        "{}",
        from_root.stdout
    );
    assert!(
        from_root
            .stdout
            .contains("(HEAD~1:deploy/policies.yaml:10:16)"),
        "{}",
        from_root.stdout
    );
    // From inside deploy/, PATH defaults to the current directory.
    let inside = netfence_in(
        Some(&repo.deploy()),
        &["diff", "git:HEAD~1", "git:HEAD"],
        None,
    );
    assert_eq!(inside.code, 1, "{}", inside.stderr);
    assert_eq!(
        inside.stdout,
        from_root.stdout.replace(
            "git:HEAD~1:deploy -> git:HEAD:deploy",
            "git:HEAD~1 -> git:HEAD"
        )
    );
    // One file of a revision.
    let file = netfence_in(
        Some(repo.path()),
        &[
            "diff",
            "git:HEAD:deploy/policies.yaml",
            "deploy/policies.yaml",
        ],
        None,
    );
    assert_eq!(file.code, 0, "{}{}", file.stdout, file.stderr);
}

#[test]
fn git_revision_against_the_working_tree() {
    let repo = Repo::new();
    let clean = netfence_in(Some(&repo.deploy()), &["diff", "git:HEAD", "."], None);
    assert_eq!(clean.code, 0, "{}{}", clean.stdout, clean.stderr);
    assert!(clean.stdout.contains("No change"));
    // An uncommitted edit: the working tree loses allow-dns.
    repo.write_example("examples/guide-no-dns");
    let edited = netfence_in(Some(&repo.deploy()), &["diff", "git:HEAD", "."], None);
    assert_eq!(edited.code, 1, "{}", edited.stderr);
    assert!(
        edited.stdout.contains("DNS newly broken"),
        "{}",
        edited.stdout
    );
    // A branch name, from the root, with the directory as PATH.
    let main = netfence_in(
        Some(repo.path()),
        &["diff", "git:main:deploy", "deploy"],
        None,
    );
    assert_eq!(main.code, 1);
    assert!(
        main.stdout
            .contains("allowed by app/allow-dns spec.egress[0] (main:deploy/policies.yaml:23:7)"),
        "{}",
        main.stdout
    );
}

#[test]
fn git_errors_exit_2() {
    let repo = Repo::new();
    let bad_rev = netfence_in(Some(repo.path()), &["diff", "git:nope", "deploy"], None);
    assert_eq!(bad_rev.code, 2);
    assert!(bad_rev.stdout.is_empty());
    assert!(
        bad_rev
            .stderr
            .contains("`nope` is not a revision of this git repository"),
        "{}",
        bad_rev.stderr
    );
    let no_files = netfence_in(
        Some(repo.path()),
        &["diff", "git:HEAD:nowhere", "deploy"],
        None,
    );
    assert_eq!(no_files.code, 2);
    assert!(
        no_files.stderr.contains("no manifest files"),
        "{}",
        no_files.stderr
    );
    let elsewhere = tempfile::tempdir().unwrap();
    let no_repo = netfence_in(Some(elsewhere.path()), &["diff", "git:HEAD", "."], None);
    assert_eq!(no_repo.code, 2);
    assert!(
        no_repo.stderr.contains("not a git repository"),
        "{}",
        no_repo.stderr
    );
}

#[test]
fn malformed_input_in_a_revision_points_into_it() {
    let repo = Repo::new();
    std::fs::write(repo.deploy().join("bad.yaml"), BAD_POLICY).unwrap();
    repo.git(&["add", "-A"]);
    repo.git(&["commit", "-q", "-m", "typo"]);
    let r = netfence_in(
        Some(&repo.deploy()),
        &["diff", "git:HEAD~1", "git:HEAD"],
        None,
    );
    assert_eq!(r.code, 2);
    assert!(r.stdout.is_empty(), "{}", r.stdout);
    assert!(
        r.stderr.contains("HEAD:deploy/bad.yaml:8:3"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("in the AFTER input"), "{}", r.stderr);
}
