//! Running the binary, shared by the end-to-end test files. Each test binary
//! uses only some of these helpers.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// The repository root, where the examples are.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn netfence(args: &[&str]) -> Run {
    netfence_in(None, args, None)
}

pub fn netfence_stdin(args: &[&str], stdin: Option<&str>) -> Run {
    netfence_in(None, args, stdin)
}

/// Runs netfence in `dir` (the repository root when `None`), without colour.
pub fn netfence_in(dir: Option<&Path>, args: &[&str], stdin: Option<&str>) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_netfence"))
        .args(args)
        .current_dir(dir.map(Path::to_path_buf).unwrap_or_else(root))
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}
