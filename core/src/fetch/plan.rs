//! Deciding before acting: what is on disk for an artifact, read with a few `stat` calls and no
//! hashing, and what that means.
//!
//! [`observe`] gathers an [`Observation`]; [`assess`] is a pure function from it to a [`State`],
//! so every case (missing, partial, verified, unchecked, wrong size) is tested without a network
//! or a file system. The verified-stamp ([`Stamp`]) is what keeps a second run from re-hashing
//! multi-gigabyte archives: it records the sha256 together with the size, modification time and
//! status-change time the file had when it hashed right, and any change to one of them makes the
//! file "unchecked" again.

use std::path::Path;
use std::time::UNIX_EPOCH;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use super::files::{hidden_sibling, part_path};
use crate::fsutil::write_atomic;
use crate::zoo::Artifact;

/// Size, modification time and status-change time of a file, the things a stamp is keyed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileMeta {
    /// Length in bytes.
    pub len: u64,
    /// Modification time in nanoseconds since the Unix epoch (0 where the platform has none).
    pub mtime_ns: u64,
    /// Status-change time (ctime) in nanoseconds since the Unix epoch: unlike the mtime, no user
    /// can set it back, so an in-place edit that restores the mtime (`touch -r`) still changes
    /// it. A copied or restored folder hashes once more. 0 where the platform has none, and in
    /// stamps written before it was recorded (which therefore hash once more too).
    #[serde(default)]
    pub ctime_ns: u64,
}

impl FileMeta {
    /// Reads the size and mtime of `path`, `None` if it does not exist.
    pub fn of(path: &Path) -> Option<FileMeta> {
        let md = std::fs::metadata(path).ok()?;
        if !md.is_file() {
            return None;
        }
        let mtime_ns = md
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        Some(FileMeta {
            len: md.len(),
            mtime_ns,
            ctime_ns: ctime_ns(&md),
        })
    }
}

#[cfg(unix)]
fn ctime_ns(md: &std::fs::Metadata) -> u64 {
    use std::os::unix::fs::MetadataExt;
    u64::try_from(md.ctime())
        .ok()
        .and_then(|s| s.checked_mul(1_000_000_000))
        .and_then(|ns| ns.checked_add(u64::try_from(md.ctime_nsec()).ok()?))
        .unwrap_or(0)
}

#[cfg(not(unix))]
fn ctime_ns(_: &std::fs::Metadata) -> u64 {
    0
}

/// The verified-stamp: "this file, at this size, mtime and ctime, had this sha256". It catches
/// replaced, truncated and edited files, also an in-place edit that keeps the size and restores
/// the mtime; `reproduce verify` re-hashes regardless.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamp {
    /// The sha256 the file hashed to.
    pub sha256: String,
    /// The file's size and mtime when it was hashed.
    #[serde(flatten)]
    pub meta: FileMeta,
}

impl Stamp {
    /// Reads the stamp beside `path`; a missing or unreadable stamp is simply absent.
    pub fn read(path: &Path) -> Option<Stamp> {
        let text = std::fs::read(hidden_sibling(path, "verified")).ok()?;
        serde_json::from_slice(&text).ok()
    }

    /// Records that `path`, as it is now, hashed to `sha256`; writes nothing when that stamp is
    /// there already, so re-verifying a read-only folder needs no write.
    pub fn write(path: &Path, sha256: &str) -> Result<()> {
        let meta = FileMeta::of(path)
            .ok_or_else(|| anyhow::anyhow!("{} vanished while stamping it", path.display()))?;
        let stamp = Stamp {
            sha256: sha256.to_string(),
            meta,
        };
        if Stamp::read(path).as_ref() == Some(&stamp) {
            return Ok(());
        }
        write_atomic(
            &hidden_sibling(path, "verified"),
            serde_json::to_string(&stamp)?.as_bytes(),
        )
    }

    /// Forgets that `path` was verified (after a mismatch, or before replacing it).
    pub fn remove(path: &Path) {
        let _ = std::fs::remove_file(hidden_sibling(path, "verified"));
    }
}

/// Everything [`assess`] needs, gathered without reading file contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    /// The file at its final path.
    pub file: Option<FileMeta>,
    /// Its verified-stamp.
    pub stamp: Option<Stamp>,
    /// Length of `<file>.part`, if one exists.
    pub part: Option<u64>,
}

/// What an artifact's files amount to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum State {
    /// At its final path and stamped as verified at its current size and mtime.
    Verified,
    /// At its final path with the right size, but not stamped (copied in by hand, or touched
    /// since): it must be hashed before it is trusted.
    Unchecked,
    /// At its final path with the wrong size: damaged or a different file.
    WrongSize {
        /// The size found.
        len: u64,
    },
    /// Not at its final path; `<file>.part` holds the first `have` bytes of a download.
    Partial {
        /// Bytes already downloaded (at most the expected size).
        have: u64,
    },
    /// Not there, and no usable part file.
    Missing,
}

/// Reads the [`Observation`] for `artifact` under `data_dir`.
pub fn observe(artifact: &Artifact, data_dir: &Path) -> Observation {
    let path = artifact.path(data_dir);
    Observation {
        file: FileMeta::of(&path),
        stamp: Stamp::read(&path),
        part: FileMeta::of(&part_path(&path)).map(|m| m.len),
    }
}

/// Classifies what is on disk. A stamp counts only if it names the registry's sha256 and the
/// file's current size and mtime; a part file longer than the artifact cannot be resumed.
pub fn assess(artifact: &Artifact, obs: &Observation) -> State {
    match obs.file {
        Some(meta) if meta.len != artifact.bytes => State::WrongSize { len: meta.len },
        Some(meta) => match &obs.stamp {
            Some(s) if s.sha256 == artifact.sha256 && s.meta == meta => State::Verified,
            _ => State::Unchecked,
        },
        None => match obs.part {
            Some(have) if have > 0 && have <= artifact.bytes => State::Partial { have },
            _ => State::Missing,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zoo::Zoo;

    fn artifact() -> Artifact {
        Zoo::builtin().model("eresfd-30").unwrap().artifact.clone()
    }

    fn meta(len: u64) -> FileMeta {
        FileMeta {
            len,
            mtime_ns: 1_700_000_000_000_000_000,
            ctime_ns: 1_700_000_000_000_000_000,
        }
    }

    fn obs(file: Option<FileMeta>, stamp: Option<Stamp>, part: Option<u64>) -> Observation {
        Observation { file, stamp, part }
    }

    #[test]
    fn nothing_on_disk_is_missing() {
        assert_eq!(assess(&artifact(), &obs(None, None, None)), State::Missing);
    }

    #[test]
    fn a_part_file_is_resumable_unless_empty_or_too_long() {
        let a = artifact();
        assert_eq!(
            assess(&a, &obs(None, None, Some(1000))),
            State::Partial { have: 1000 }
        );
        assert_eq!(
            assess(&a, &obs(None, None, Some(a.bytes))),
            State::Partial { have: a.bytes }
        );
        assert_eq!(assess(&a, &obs(None, None, Some(0))), State::Missing);
        assert_eq!(
            assess(&a, &obs(None, None, Some(a.bytes + 1))),
            State::Missing
        );
    }

    #[test]
    fn a_matching_stamp_verifies_without_hashing() {
        let a = artifact();
        let m = meta(a.bytes);
        let stamp = Stamp {
            sha256: a.sha256.clone(),
            meta: m,
        };
        assert_eq!(
            assess(&a, &obs(Some(m), Some(stamp), None)),
            State::Verified
        );
    }

    #[test]
    fn a_stale_or_foreign_stamp_means_hash_again() {
        let a = artifact();
        let m = meta(a.bytes);
        let touched = Stamp {
            sha256: a.sha256.clone(),
            meta: FileMeta {
                mtime_ns: m.mtime_ns + 1,
                ..m
            },
        };
        let edited_in_place = Stamp {
            sha256: a.sha256.clone(),
            meta: FileMeta {
                ctime_ns: m.ctime_ns - 1,
                ..m
            },
        };
        let other_file = Stamp {
            sha256: "0".repeat(64),
            meta: m,
        };
        assert_eq!(assess(&a, &obs(Some(m), None, None)), State::Unchecked);
        assert_eq!(
            assess(&a, &obs(Some(m), Some(touched), None)),
            State::Unchecked
        );
        assert_eq!(
            assess(&a, &obs(Some(m), Some(edited_in_place), None)),
            State::Unchecked
        );
        assert_eq!(
            assess(&a, &obs(Some(m), Some(other_file), None)),
            State::Unchecked
        );
    }

    #[test]
    fn the_wrong_size_at_the_final_path_is_reported_first() {
        let a = artifact();
        let stamp = Stamp {
            sha256: a.sha256.clone(),
            meta: meta(5),
        };
        assert_eq!(
            assess(&a, &obs(Some(meta(5)), Some(stamp), Some(10))),
            State::WrongSize { len: 5 }
        );
    }

    #[test]
    fn stamps_round_trip_and_follow_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.bin");
        std::fs::write(&p, b"abc").unwrap();
        Stamp::write(&p, "ab").unwrap();
        let s = Stamp::read(&p).unwrap();
        assert_eq!(s.sha256, "ab");
        assert_eq!(Some(s.meta), FileMeta::of(&p));
        Stamp::remove(&p);
        assert_eq!(Stamp::read(&p), None);
    }

    /// Issue 14: same size, bytes changed in place, mtime set back (`touch -r`): the stamp no
    /// longer matches, because the ctime moved.
    #[test]
    fn an_in_place_edit_with_the_mtime_restored_leaves_the_stamp_behind() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.bin");
        std::fs::write(&p, b"abcd").unwrap();
        Stamp::write(&p, "ab").unwrap();
        let before = FileMeta::of(&p).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let modified = std::fs::metadata(&p).unwrap().modified().unwrap();
        std::fs::write(&p, b"abce").unwrap();
        std::fs::File::options()
            .write(true)
            .open(&p)
            .unwrap()
            .set_modified(modified)
            .unwrap();
        let after = FileMeta::of(&p).unwrap();
        assert_eq!((after.len, after.mtime_ns), (before.len, before.mtime_ns));
        assert_ne!(Some(after), Stamp::read(&p).map(|s| s.meta));
    }
}
