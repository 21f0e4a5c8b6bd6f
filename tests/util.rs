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

/// The shared data folder (`fetched`) with every zoo entry, and `also`: for a test whose commands
/// read the whole zoo (`tables`, a walk over the registry). The names come from the registry, so no
/// entry passes only because another test happened to fetch it first.
pub fn fetched_zoo(also: &[&str]) -> PathBuf {
    let zoo = bfpgm_core::zoo::Zoo::builtin();
    let names: Vec<&str> = zoo
        .models
        .iter()
        .map(|m| m.name())
        .chain(also.iter().copied())
        .collect();
    fetched(&names)
}

/// `jpeg` with its frame header (SOF) rewritten to declare `width` × `height`: a small file that
/// claims to be huge, as a forged or damaged header does.
pub fn with_declared_size(jpeg: &[u8], width: u16, height: u16) -> Vec<u8> {
    let mut bytes = jpeg.to_vec();
    let mut at = 2;
    loop {
        let marker = bytes[at + 1];
        let len = u16::from_be_bytes([bytes[at + 2], bytes[at + 3]]) as usize;
        if (0xC0..=0xCF).contains(&marker) && ![0xC4, 0xC8, 0xCC].contains(&marker) {
            bytes[at + 5..at + 7].copy_from_slice(&height.to_be_bytes());
            bytes[at + 7..at + 9].copy_from_slice(&width.to_be_bytes());
            return bytes;
        }
        at += 2 + len;
    }
}

/// Runs `cmd` as a user without write access to what root created: as `nobody` (uid and gid
/// 65534) when the tests run as root, who could write anywhere regardless of permissions; as the
/// test user otherwise, whom the permission bits stop already.
pub fn unprivileged(cmd: &mut Command) -> &mut Command {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        use std::os::unix::process::CommandExt;
        cmd.uid(65534).gid(65534);
    }
    cmd
}

/// Sets the permission bits of `path` and everything below it: `mode` for files, `mode` plus
/// the search bits for folders.
pub fn chmod_tree(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    let md = std::fs::symlink_metadata(path).unwrap();
    if md.is_dir() {
        for entry in std::fs::read_dir(path).unwrap() {
            chmod_tree(&entry.unwrap().path(), mode);
        }
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode | 0o111)).unwrap();
    } else if md.is_file() {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }
}

/// Every path below `dir`, hidden ones included, relative and sorted: to show that a command
/// wrote nothing.
pub fn tree(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            out.push(path.strip_prefix(root).unwrap().display().to_string());
            if path.is_dir() {
                walk(root, &path, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}
