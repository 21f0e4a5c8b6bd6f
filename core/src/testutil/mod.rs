//! Helpers for tests that read the shared mirror and reference files, shared by this crate's unit
//! tests and the `bfpgm` crate's unit and end-to-end tests (feature `testutil`), so every test
//! finds the shared folders the same way.
//!
//! Without `BFPGM_MIRROR` / `BFPGM_REFERENCE` such tests skip with a message; under CI (`CI`
//! set) a missing variable fails instead, so real-file tests never silently skip there.
//! [`npy`] reads the upstream reference tensors. [`parity_fixture`] finds the small committed
//! fixtures that pin hand-written ports to the library they copy; those are always there.

use std::path::{Path, PathBuf};

pub mod npy;

/// The folder an environment variable names, canonical; a relative path is taken from the
/// workspace root, as `.ci/run` and the README give it. `None` when the variable is not set,
/// except under CI, where that is a failure.
fn shared_dir(var: &str) -> Option<PathBuf> {
    match std::env::var_os(var) {
        Some(v) => {
            let p = workspace_root().join(v);
            Some(
                p.canonicalize()
                    .unwrap_or_else(|e| panic!("{var}={}: {e}", p.display())),
            )
        }
        None if std::env::var_os("CI").is_some() => {
            panic!("{var} is not set, but CI must run the tests that need it")
        }
        None => None,
    }
}

/// The shared download mirror (`BFPGM_MIRROR`), if configured.
pub fn mirror() -> Option<PathBuf> {
    shared_dir("BFPGM_MIRROR")
}

/// The shared reference folder (`BFPGM_REFERENCE`, holding `reference/` and `fixtures/`), if
/// configured.
pub fn reference() -> Option<PathBuf> {
    shared_dir("BFPGM_REFERENCE")
}

fn shared(var: &str, rel: &str) -> Option<PathBuf> {
    let Some(dir) = shared_dir(var) else {
        eprintln!("skipped: {var} is not set");
        return None;
    };
    let p = dir.join(rel);
    assert!(p.exists(), "{} does not exist ({var})", p.display());
    Some(p)
}

/// A file of the shared download mirror, e.g. `EResFD-30-pruned.pth`.
pub fn mirror_file(name: &str) -> Option<PathBuf> {
    shared("BFPGM_MIRROR", name)
}

/// A file of the shared reference folder, e.g. `fixtures/wider_face_val_bbx_gt.txt`.
pub fn reference_file(rel: &str) -> Option<PathBuf> {
    shared("BFPGM_REFERENCE", rel)
}

/// A committed parity fixture under `tests/fixtures/parity/`, made by the script of the same
/// name in `scripts/fixtures/`.
pub fn parity_fixture(rel: &str) -> PathBuf {
    workspace_root().join("tests/fixtures/parity").join(rel)
}

/// The repository root: this crate's parent folder.
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Reads and parses a JSON parity fixture, naming the file when that fails.
pub fn parity_json<T: serde::de::DeserializeOwned>(rel: &str) -> T {
    let path = parity_fixture(rel);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
}
