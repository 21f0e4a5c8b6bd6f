//! `reproduce verify`: re-hash every cached file against the registry, trusting no stamp.
//!
//! A file that hashes right gets a fresh stamp; one that does not loses its stamp, so the next
//! `reproduce fetch` replaces it and `cached_path` stops handing it out.

use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::Serialize;

use super::extract::is_extracted;
use super::plan::{FileMeta, Stamp};
use crate::hash::sha256_file;
use crate::progress::Progress;
use crate::zoo::Zoo;

/// The verdict on one registry entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Check {
    /// Present and its sha256 is the registry's.
    Ok,
    /// Not at its final path (a `.part` download does not count).
    NotCached,
    /// Present with a size other than the registry's.
    WrongSize {
        /// The size found.
        len: u64,
    },
    /// Present with the right size and the wrong content.
    Mismatch {
        /// The sha256 found.
        got: String,
    },
}

/// One line of the `verify` report.
#[derive(Debug, Clone, Serialize)]
pub struct Verified {
    /// Registry name.
    pub name: String,
    /// Where the file is expected.
    pub path: PathBuf,
    /// The registry's sha256.
    pub expected: String,
    /// What was found.
    #[serde(flatten)]
    pub check: Check,
    /// For archives that hashed right: whether their contents are unpacked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extracted: Option<bool>,
}

/// Re-hashes the named entries (all when `names` is empty) under `data_dir`.
pub fn verify(
    zoo: &Zoo,
    data_dir: &Path,
    names: &[String],
    progress: &dyn Progress,
) -> Result<Vec<Verified>> {
    let artifacts = if names.is_empty() {
        zoo.artifacts().collect()
    } else {
        zoo.resolve(names)?
    };
    let mut report = Vec::with_capacity(artifacts.len());
    for a in artifacts {
        let path = a.path(data_dir);
        let check = match FileMeta::of(&path) {
            None => Check::NotCached,
            Some(m) if m.len != a.bytes => Check::WrongSize { len: m.len },
            Some(_) => {
                let got = sha256_file(&path, &format!("{} (verifying)", a.name), progress)?;
                if got == a.sha256 {
                    Stamp::write(&path, &got)?;
                    Check::Ok
                } else {
                    Check::Mismatch { got }
                }
            }
        };
        if matches!(check, Check::WrongSize { .. } | Check::Mismatch { .. }) {
            Stamp::remove(&path);
        }
        let extracted = (a.extract && check == Check::Ok).then(|| is_extracted(&path, &a.sha256));
        report.push(Verified {
            name: a.name.clone(),
            path,
            expected: a.sha256.clone(),
            check,
            extracted,
        });
    }
    Ok(report)
}
