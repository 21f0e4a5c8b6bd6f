//! Shared helpers for the end-to-end tests: a fresh data folder per test, the binary under test,
//! and (from `bfpgm_core::testutil`, which the unit tests use too) where the shared files are.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub use bfpgm_core::testutil::{mirror, reference};

/// Returns the mirror folder or makes the calling test return early with a message.
#[macro_export]
macro_rules! require_mirror {
    () => {
        match $crate::util::mirror() {
            Some(p) => p,
            None => {
                eprintln!("skipped: BFPGM_MIRROR is not set");
                return;
            }
        }
    };
}

/// Returns the reference folder or makes the calling test return early with a message.
#[macro_export]
macro_rules! require_reference {
    () => {
        match $crate::util::reference() {
            Some(p) => p,
            None => {
                eprintln!("skipped: BFPGM_REFERENCE is not set");
                return;
            }
        }
    };
}

/// The Python that has torch 2.11, set up by `./reproduce`.
pub fn python() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    assert!(
        p.exists(),
        "{} is missing; run ./reproduce once",
        p.display()
    );
    p
}

/// A temporary folder that is removed when the test ends.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("bfpgm-test-")
        .tempdir()
        .expect("temporary folder")
}

/// The binary under test, with no inherited BFPGM_* settings and the given data folder.
pub fn reproduce(data_dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_reproduce"));
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("BFPGM_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("BFPGM_DATA", data_dir).current_dir(data_dir);
    cmd
}

/// Runs a command and returns its output, printing it for failing tests.
pub fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("the binary runs");
    eprintln!("--- stdout\n{}", String::from_utf8_lossy(&out.stdout));
    eprintln!("--- stderr\n{}", String::from_utf8_lossy(&out.stderr));
    out
}

/// Stdout of a command that must succeed.
pub fn run_ok(cmd: &mut Command) -> String {
    let out = run(cmd);
    assert!(out.status.success(), "command failed with {:?}", out.status);
    String::from_utf8(out.stdout).expect("utf-8 stdout")
}

/// A data folder shared by every test of this binary (`target/test-data/`), holding the named
/// entries or groups, fetched from `BFPGM_MIRROR` through the real `reproduce fetch`.
///
/// Safe to call from parallel tests: a process-wide lock serialises the fetches, each name is
/// fetched once per test run, and fetching is idempotent across runs (verified files are not even
/// re-hashed). Treat the folder as read-only. Needs the mirror: call `require_mirror!()` first.
pub fn fetched(names: &[&str]) -> PathBuf {
    static DONE: std::sync::Mutex<std::collections::BTreeSet<String>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    let mirror = mirror().expect("util::fetched needs BFPGM_MIRROR; call require_mirror!() first");
    let bin = Path::new(env!("CARGO_BIN_EXE_reproduce"));
    let dir = bin
        .parent()
        .and_then(Path::parent)
        .expect("the binary lives in target/<profile>/")
        .join("test-data");
    let mut done = DONE.lock().unwrap_or_else(|e| e.into_inner());
    let todo: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| !done.contains(*n))
        .collect();
    if !todo.is_empty() {
        std::fs::create_dir_all(&dir).expect("create target/test-data");
        let out = run(reproduce(&dir)
            .env("BFPGM_MIRROR", &mirror)
            .arg("fetch")
            .args(&todo));
        assert!(
            out.status.success(),
            "`reproduce fetch {}` into {} failed",
            todo.join(" "),
            dir.display()
        );
        done.extend(todo.iter().map(|n| n.to_string()));
    }
    dir
}
