//! `reproduce verify`: re-hash every cached file against the registry, trusting no stamp, and
//! check what each archive unpacked against the list its extraction recorded.
//!
//! A file that hashes right gets a fresh stamp; one that does not loses its stamp, so the next
//! `reproduce fetch` replaces it and `cached_path` stops handing it out. In a folder that cannot
//! be written, the stamps are left as they are, with a note: verifying needs to read only.
//! An archive's unpacked files are checked by name and size, and with `deep` by their CRC-32s.

use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::Serialize;

use super::extract::{Unpacked, unpacked, unpacked_deep};
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
    /// For archives that hashed right: what is on disk of their unpacked files.
    #[serde(skip_serializing_if = "Option::is_none", flatten)]
    pub unpacked: Option<Unpacked>,
}

impl Verified {
    /// Whether the entry is damaged: the wrong file, or an archive not (or no longer completely)
    /// unpacked. An absent entry is not damaged.
    pub fn is_bad(&self) -> bool {
        match self.check {
            Check::WrongSize { .. } | Check::Mismatch { .. } => true,
            Check::Ok => !matches!(self.unpacked, None | Some(Unpacked::Complete)),
            Check::NotCached => false,
        }
    }
}

/// Re-hashes the named entries (all when `names` is empty) under `data_dir`; `deep` also reads
/// every unpacked file of the archives and compares its CRC-32.
pub fn verify(
    zoo: &Zoo,
    data_dir: &Path,
    names: &[String],
    deep: bool,
    progress: &dyn Progress,
) -> Result<Vec<Verified>> {
    let artifacts = if names.is_empty() {
        zoo.artifacts().collect()
    } else {
        zoo.resolve(names)?
    };
    let mut report = Vec::with_capacity(artifacts.len());
    let mut noted_read_only = false;
    for a in artifacts {
        let path = a.path(data_dir);
        let check = match FileMeta::of(&path) {
            None => Check::NotCached,
            Some(m) if m.len != a.bytes => Check::WrongSize { len: m.len },
            Some(_) => {
                let got = sha256_file(&path, &format!("{} (verifying)", a.name), progress)?;
                if got == a.sha256 {
                    if let Err(e) = Stamp::write(&path, &got)
                        && !std::mem::replace(&mut noted_read_only, true)
                    {
                        progress.note(&format!(
                            "cannot record that {} verified ({e:#}); verifying works without \
                             it, and later runs hash the files again",
                            path.display()
                        ));
                    }
                    Check::Ok
                } else {
                    Check::Mismatch { got }
                }
            }
        };
        if matches!(check, Check::WrongSize { .. } | Check::Mismatch { .. }) {
            Stamp::remove(&path);
        }
        let unpacked = if a.extract && check == Check::Ok {
            Some(if deep {
                unpacked_deep(
                    &path,
                    &a.sha256,
                    &format!("{} (reading the unpacked files)", a.name),
                    progress,
                )?
            } else {
                unpacked(&path, &a.sha256)
            })
        } else {
            None
        };
        report.push(Verified {
            name: a.name.clone(),
            path,
            expected: a.sha256.clone(),
            check,
            unpacked,
        });
    }
    Ok(report)
}
