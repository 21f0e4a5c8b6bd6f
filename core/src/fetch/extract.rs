//! Unpacking verified zip archives into their folder, safely and once.
//!
//! Every entry name is checked before anything is written: a name that would land outside the
//! target folder (`../x`, `/etc/x`, `a/../../x`: zip-slip) or a symbolic link refuses the whole
//! archive. Entries are written into a hidden temporary folder beside the target; only when all of
//! them have been written (and their CRC-32s checked by the zip reader) are the top-level entries
//! moved into place, replacing an earlier copy (a half-finished or older extraction). A marker
//! (`.<archive>.extracted`) then records the archive's sha256, the top-level entries and every
//! file written with its size and CRC-32. The next run does nothing while each of those files is
//! there with its size ([`unpacked`]); a deleted or truncated image makes it unpack again, and
//! `reproduce verify --deep` compares the CRC-32s too ([`unpacked_deep`]). A top-level entry that
//! another archive's marker claims is refused rather than overwritten. A truncated or damaged
//! archive is an error that names the archive, and leaves nothing behind.

use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use serde::{Deserialize, Serialize};
use zip::ZipArchive;

use super::files::hidden_sibling;
use crate::fsutil::write_atomic;
use crate::hash::BLOCK;
use crate::progress::{Progress, Unit};

/// What [`extract`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "extraction", rename_all = "snake_case")]
pub enum Extraction {
    /// The marker matched and its files were present: nothing was touched.
    AlreadyDone,
    /// The archive was unpacked.
    Extracted {
        /// Number of entries (files and folders) written.
        entries: usize,
        /// Top-level names created in the target folder.
        top: Vec<String>,
    },
}

/// One file an extraction wrote, as the marker records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Written {
    /// Path relative to the archive's folder, `/`-separated.
    name: String,
    /// Size in bytes.
    bytes: u64,
    /// CRC-32 of the content, as the archive recorded and the zip reader checked it.
    crc32: u32,
}

/// The record written after a complete extraction.
#[derive(Debug, Serialize, Deserialize)]
struct Marker {
    sha256: String,
    top: Vec<String>,
    /// Absent in markers of older versions, which count as not unpacked (so it happens again,
    /// once, with a list).
    #[serde(default)]
    files: Option<Vec<Written>>,
}

/// What is on disk of an archive's extraction, judged against its marker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "unpacked", rename_all = "snake_case")]
pub enum Unpacked {
    /// Every file the extraction wrote is there with its size (and, checked deeply, its CRC-32).
    Complete,
    /// No complete extraction of this archive is recorded: it was never unpacked, or unpacking
    /// failed.
    NotUnpacked,
    /// Files the extraction wrote are gone or differ.
    Changed {
        /// Files no longer there.
        missing: usize,
        /// Files with another size (or, checked deeply, other content).
        changed: usize,
        /// The first problem, for the message.
        first: String,
    },
}

impl Unpacked {
    /// One line for people: what is wrong, or `unpacked`.
    pub fn describe(&self) -> String {
        match self {
            Unpacked::Complete => "unpacked".to_string(),
            Unpacked::NotUnpacked => "not unpacked (or unpacking failed)".to_string(),
            Unpacked::Changed {
                missing,
                changed,
                first,
            } => format!(
                "{missing} unpacked file(s) missing and {changed} changed since unpacking (first: \
                 {first})"
            ),
        }
    }
}

fn read_marker(archive: &Path, sha256: &str) -> Option<(Marker, Vec<Written>)> {
    let mut marker: Marker =
        serde_json::from_slice(&std::fs::read(hidden_sibling(archive, "extracted")).ok()?).ok()?;
    let files = marker.files.take()?;
    (marker.sha256 == sha256).then_some((marker, files))
}

/// Whether `archive` (with this `sha256`) has been completely unpacked beside itself and every
/// file it wrote is there with its size.
pub fn is_extracted(archive: &Path, sha256: &str) -> bool {
    unpacked(archive, sha256) == Unpacked::Complete
}

/// The state of `archive`'s extraction by names and sizes (a `stat` per file, no reading).
pub fn unpacked(archive: &Path, sha256: &str) -> Unpacked {
    compare(archive, sha256, |_, _| Ok(true)).expect("a size check reads nothing")
}

/// [`unpacked`], and every file's CRC-32 read and compared with the archive's, so damage that
/// keeps a file's size is found too (`reproduce verify --deep`).
pub fn unpacked_deep(
    archive: &Path,
    sha256: &str,
    label: &str,
    progress: &dyn Progress,
) -> Result<Unpacked> {
    let total =
        read_marker(archive, sha256).map_or(0, |(_, files)| files.iter().map(|f| f.bytes).sum());
    let mut task = progress.task(label, Unit::Bytes, Some(total));
    let state = compare(archive, sha256, |path, expected| {
        let mut f = File::open(path).with_context(|| format!("reading {}", path.display()))?;
        let mut hasher = crc32fast::Hasher::new();
        let mut buf = vec![0u8; BLOCK];
        loop {
            let n = f
                .read(&mut buf)
                .with_context(|| format!("reading {}", path.display()))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            task.add(n as u64);
        }
        Ok(hasher.finalize() == expected)
    })?;
    task.finish("");
    Ok(state)
}

/// Compares the files the marker lists with the disk: each must exist with its size, and
/// `content_ok(path, crc32)` must accept it.
fn compare(
    archive: &Path,
    sha256: &str,
    mut content_ok: impl FnMut(&Path, u32) -> Result<bool>,
) -> Result<Unpacked> {
    let dest = archive.parent().expect("archives live in a folder");
    let Some((_, files)) = read_marker(archive, sha256) else {
        return Ok(Unpacked::NotUnpacked);
    };
    let (mut missing, mut changed, mut first) = (0, 0, None);
    for f in &files {
        let path = dest.join(&f.name);
        let problem = match std::fs::metadata(&path) {
            Ok(md) if md.is_file() && md.len() == f.bytes => {
                if content_ok(&path, f.crc32)? {
                    continue;
                }
                changed += 1;
                format!("{} has other content than the archive's", path.display())
            }
            Ok(md) if md.is_file() => {
                changed += 1;
                format!(
                    "{} has {} bytes, the archive's has {}",
                    path.display(),
                    md.len(),
                    f.bytes
                )
            }
            _ => {
                missing += 1;
                format!("{} is missing", path.display())
            }
        };
        first.get_or_insert(problem);
    }
    Ok(match first {
        None => Unpacked::Complete,
        Some(first) => Unpacked::Changed {
            missing,
            changed,
            first,
        },
    })
}

/// Unpacks `archive`, whose content hashes to `sha256`, into the folder that holds it.
pub fn extract(
    archive: &Path,
    sha256: &str,
    label: &str,
    progress: &dyn Progress,
) -> Result<Extraction> {
    if is_extracted(archive, sha256) {
        return Ok(Extraction::AlreadyDone);
    }
    let dest = archive.parent().expect("archives live in a folder");
    let staging = hidden_sibling(archive, "extracting");
    remove_any(&staging)?;
    std::fs::create_dir(&staging).with_context(|| format!("creating {}", staging.display()))?;
    let unpacked = unpack(archive, &staging, label, progress);
    let (entries, top, files) = match unpacked {
        Ok(done) => done,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(e.context(format!(
                "extracting {} (nothing was extracted)",
                archive.display()
            )));
        }
    };
    if let Some((name, owner)) = claimed_elsewhere(archive, &top) {
        let _ = std::fs::remove_dir_all(&staging);
        bail!(
            "extracting {} (nothing was extracted): its top-level entry '{name}' was unpacked \
             from {owner} too; archives sharing a folder would overwrite each other, so the \
             registry must give them different `dest` folders",
            archive.display()
        );
    }
    for name in &top {
        let target = dest.join(name);
        let aside = hidden_sibling(&target, &format!("replaced{}", std::process::id()));
        let existed = target.symlink_metadata().is_ok();
        if existed {
            std::fs::rename(&target, &aside)
                .with_context(|| format!("moving the old {} aside", target.display()))?;
        }
        std::fs::rename(staging.join(name), &target)
            .with_context(|| format!("moving {} into place", target.display()))?;
        if existed {
            remove_any(&aside)?;
        }
    }
    std::fs::remove_dir(&staging).with_context(|| format!("removing {}", staging.display()))?;
    let marker = Marker {
        sha256: sha256.to_string(),
        top: top.clone(),
        files: Some(files),
    };
    write_atomic(
        &hidden_sibling(archive, "extracted"),
        serde_json::to_string(&marker)?.as_bytes(),
    )?;
    Ok(Extraction::Extracted { entries, top })
}

/// A top-level name of `top` that the marker of another archive in the same folder lists, with
/// that archive's file name.
fn claimed_elsewhere(archive: &Path, top: &[String]) -> Option<(String, String)> {
    let dest = archive.parent()?;
    let own = hidden_sibling(archive, "extracted");
    std::fs::read_dir(dest).ok()?.flatten().find_map(|entry| {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let owner = name
            .strip_prefix('.')?
            .strip_suffix(".extracted")?
            .to_string();
        if path == own {
            return None;
        }
        let marker: Marker = serde_json::from_slice(&std::fs::read(&path).ok()?).ok()?;
        let shared = top.iter().find(|t| marker.top.contains(t))?;
        Some((shared.clone(), owner))
    })
}

/// Checks every entry name, then writes the entries under `into`. Returns the entry count, the
/// sorted top-level names and the files written.
fn unpack(
    archive: &Path,
    into: &Path,
    label: &str,
    progress: &dyn Progress,
) -> Result<(usize, Vec<String>, Vec<Written>)> {
    let file = File::open(archive).with_context(|| format!("opening {}", archive.display()))?;
    let mut zip = ZipArchive::new(BufReader::new(file))
        .map_err(|e| anyhow!("not a complete zip archive (truncated or damaged?): {e}"))?;
    let mut plan = Vec::with_capacity(zip.len());
    let mut total = 0u64;
    for i in 0..zip.len() {
        let entry = zip
            .by_index_raw(i)
            .map_err(|e| anyhow!("entry #{i}: {e}"))?;
        let name = String::from_utf8_lossy(entry.name_raw()).into_owned();
        // zip's `enclosed_name` quietly makes absolute names relative; an archive that holds one
        // was not made for extraction here, so it is refused like `../`.
        let absolute = name.starts_with(['/', '\\']) || name.get(1..2) == Some(":");
        let rel = entry
            .enclosed_name()
            .filter(|p| {
                !absolute
                    && p.components()
                        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
            })
            .ok_or_else(|| {
                anyhow!(
                    "entry '{name}' would be written outside {}; refusing this archive",
                    into.parent().unwrap_or(into).display()
                )
            })?;
        if entry.is_symlink() {
            bail!("entry '{name}' is a symbolic link; refusing this archive");
        }
        if rel.components().next().is_none() {
            continue;
        }
        total += entry.size();
        plan.push((i, name, rel, entry.is_dir()));
    }
    let mut top: Vec<String> = plan
        .iter()
        .filter_map(|(_, _, rel, _)| rel.components().find(|c| matches!(c, Component::Normal(_))))
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    top.sort();
    top.dedup();
    let mut task = progress.task(label, Unit::Bytes, Some(total));
    let mut buf = vec![0u8; BLOCK];
    let mut written = Vec::new();
    for (i, name, rel, is_dir) in &plan {
        let out: PathBuf = into.join(rel);
        let fail = |e: &dyn std::fmt::Display| anyhow!("entry '{name}': {e}");
        if *is_dir {
            std::fs::create_dir_all(&out).map_err(|e| fail(&e))?;
            continue;
        }
        if let Some(parent) = out.parent() {
            std::fs::create_dir_all(parent).map_err(|e| fail(&e))?;
        }
        let mut entry = zip.by_index(*i).map_err(|e| fail(&e))?;
        let mut f = File::create(&out).map_err(|e| fail(&e))?;
        let mut bytes = 0u64;
        loop {
            let n = entry.read(&mut buf).map_err(|e| fail(&e))?;
            if n == 0 {
                break;
            }
            f.write_all(&buf[..n])
                .with_context(|| format!("writing {}", out.display()))?;
            bytes += n as u64;
            task.add(n as u64);
        }
        written.push(Written {
            name: rel
                .components()
                .filter_map(|c| match c {
                    Component::Normal(part) => Some(part.to_string_lossy().into_owned()),
                    _ => None,
                })
                .collect::<Vec<_>>()
                .join("/"),
            bytes,
            crc32: entry.crc32(),
        });
    }
    task.finish("");
    Ok((plan.len(), top, written))
}

/// Removes a file or a folder tree, if present.
fn remove_any(path: &Path) -> Result<()> {
    let Ok(md) = path.symlink_metadata() else {
        return Ok(());
    };
    if md.is_dir() {
        std::fs::remove_dir_all(path)
    } else {
        std::fs::remove_file(path)
    }
    .with_context(|| format!("removing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::Hidden;
    use zip::write::SimpleFileOptions;

    /// An uncompressed archive, so tests can find and damage entry bytes.
    fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let opts = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for (name, data) in entries {
            if name.ends_with('/') {
                w.add_directory(*name, opts).unwrap();
            } else {
                w.start_file(*name, opts).unwrap();
                w.write_all(data).unwrap();
            }
        }
        w.finish().unwrap().into_inner()
    }

    fn listing(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn unpacks_once_and_records_a_marker() {
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("set.zip");
        std::fs::write(
            &archive,
            zip_of(&[
                ("set/", b""),
                ("set/a.txt", b"alpha"),
                ("set/sub/b.txt", b"beta"),
                ("top.txt", b"t"),
            ]),
        )
        .unwrap();
        let got = extract(&archive, "s1", "set.zip", &Hidden).unwrap();
        assert_eq!(
            got,
            Extraction::Extracted {
                entries: 4,
                top: vec!["set".into(), "top.txt".into()]
            }
        );
        assert_eq!(
            std::fs::read(dir.path().join("set/sub/b.txt")).unwrap(),
            b"beta"
        );
        assert!(is_extracted(&archive, "s1"));
        assert!(!is_extracted(&archive, "another sha"));
        // An edit that keeps the size is not looked for on every run (verify --deep finds it).
        std::fs::write(dir.path().join("set/a.txt"), b"edit!").unwrap();
        assert_eq!(
            extract(&archive, "s1", "set.zip", &Hidden).unwrap(),
            Extraction::AlreadyDone
        );
        assert_eq!(
            std::fs::read(dir.path().join("set/a.txt")).unwrap(),
            b"edit!"
        );
        assert_eq!(
            listing(dir.path()),
            [".set.zip.extracted", "set", "set.zip", "top.txt"]
        );
    }

    #[test]
    fn a_removed_entry_or_a_new_archive_extracts_again_replacing_the_old_copy() {
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("set.zip");
        std::fs::write(&archive, zip_of(&[("set/a.txt", b"alpha")])).unwrap();
        extract(&archive, "s1", "set.zip", &Hidden).unwrap();
        std::fs::write(dir.path().join("set/stale.txt"), b"old").unwrap();
        std::fs::write(&archive, zip_of(&[("set/a.txt", b"new alpha")])).unwrap();
        assert!(matches!(
            extract(&archive, "s2", "set.zip", &Hidden).unwrap(),
            Extraction::Extracted { .. }
        ));
        assert_eq!(listing(&dir.path().join("set")), ["a.txt"]);
        assert_eq!(
            std::fs::read(dir.path().join("set/a.txt")).unwrap(),
            b"new alpha"
        );
        std::fs::remove_dir_all(dir.path().join("set")).unwrap();
        assert!(!is_extracted(&archive, "s2"));
    }

    #[test]
    fn a_deleted_or_changed_file_is_found_and_unpacked_again() {
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("set.zip");
        std::fs::write(
            &archive,
            zip_of(&[("set/a.jpg", b"alpha"), ("set/sub/b.jpg", b"beta")]),
        )
        .unwrap();
        extract(&archive, "s1", "set.zip", &Hidden).unwrap();
        assert_eq!(unpacked(&archive, "s1"), Unpacked::Complete);
        assert_eq!(
            unpacked_deep(&archive, "s1", "set.zip", &Hidden).unwrap(),
            Unpacked::Complete
        );
        // Same size, other bytes: only the deep check sees it.
        std::fs::write(dir.path().join("set/a.jpg"), b"ALPHA").unwrap();
        assert_eq!(unpacked(&archive, "s1"), Unpacked::Complete);
        let deep = unpacked_deep(&archive, "s1", "set.zip", &Hidden).unwrap();
        assert_eq!(
            deep,
            Unpacked::Changed {
                missing: 0,
                changed: 1,
                first: format!(
                    "{} has other content than the archive's",
                    dir.path().join("set/a.jpg").display()
                )
            }
        );
        std::fs::remove_file(dir.path().join("set/sub/b.jpg")).unwrap();
        let Unpacked::Changed { missing, first, .. } = unpacked(&archive, "s1") else {
            panic!("a deleted file goes unnoticed");
        };
        assert_eq!(missing, 1);
        assert!(first.ends_with("set/sub/b.jpg is missing"), "{first}");
        assert!(matches!(
            extract(&archive, "s1", "set.zip", &Hidden).unwrap(),
            Extraction::Extracted { .. }
        ));
        assert_eq!(
            std::fs::read(dir.path().join("set/sub/b.jpg")).unwrap(),
            b"beta"
        );
        assert_eq!(
            std::fs::read(dir.path().join("set/a.jpg")).unwrap(),
            b"alpha"
        );
        // A marker of an older version (no file list) counts as not unpacked.
        std::fs::write(
            hidden_sibling(&archive, "extracted"),
            r#"{"sha256":"s1","top":["set"]}"#,
        )
        .unwrap();
        assert_eq!(unpacked(&archive, "s1"), Unpacked::NotUnpacked);
    }

    #[test]
    fn archives_that_share_a_top_level_folder_are_refused_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let first = dir.path().join("one.zip");
        let second = dir.path().join("two.zip");
        std::fs::write(&first, zip_of(&[("set/a.txt", b"from one")])).unwrap();
        std::fs::write(&second, zip_of(&[("set/b.txt", b"from two")])).unwrap();
        extract(&first, "s1", "one.zip", &Hidden).unwrap();
        let err = format!(
            "{:#}",
            extract(&second, "s2", "two.zip", &Hidden).unwrap_err()
        );
        assert!(
            err.contains("its top-level entry 'set' was unpacked from one.zip too"),
            "{err}"
        );
        assert_eq!(listing(&dir.path().join("set")), ["a.txt"]);
        assert!(!is_extracted(&second, "s2"));
        assert!(is_extracted(&first, "s1"));
    }

    #[test]
    fn zip_slip_is_refused_before_anything_is_written() {
        for evil in [
            "../evil.txt",
            "set/../../evil.txt",
            "/tmp/evil.txt",
            "C:/evil.txt",
        ] {
            let root = tempfile::tempdir().unwrap();
            let dir = root.path().join("data");
            std::fs::create_dir(&dir).unwrap();
            let archive = dir.join("bad.zip");
            std::fs::write(&archive, zip_of(&[("set/ok.txt", b"ok"), (evil, b"pwned")])).unwrap();
            let err = format!(
                "{:#}",
                extract(&archive, "s", "bad.zip", &Hidden).unwrap_err()
            );
            assert!(
                err.contains(&format!("entry '{evil}' would be written outside")),
                "{err}"
            );
            assert!(err.contains("bad.zip (nothing was extracted)"), "{err}");
            assert_eq!(listing(&dir), ["bad.zip"], "{evil}");
            assert_eq!(listing(root.path()), ["data"], "{evil}");
        }
    }

    #[test]
    fn a_truncated_archive_is_a_clear_error_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("cut.zip");
        let bytes = zip_of(&[("set/a.txt", &[7u8; 5000])]);
        std::fs::write(&archive, &bytes[..bytes.len() / 2]).unwrap();
        let err = format!(
            "{:#}",
            extract(&archive, "s", "cut.zip", &Hidden).unwrap_err()
        );
        assert!(
            err.contains("cut.zip (nothing was extracted): not a complete zip archive"),
            "{err}"
        );
        assert_eq!(listing(dir.path()), ["cut.zip"]);
    }

    #[test]
    fn a_damaged_entry_fails_its_crc_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("bad.zip");
        let mut bytes = zip_of(&[("set/a.txt", b"hello world, hello world")]);
        let at = bytes.windows(5).position(|w| w == b"hello").unwrap();
        bytes[at] = b'j';
        std::fs::write(&archive, &bytes).unwrap();
        let err = format!(
            "{:#}",
            extract(&archive, "s", "bad.zip", &Hidden).unwrap_err()
        );
        assert!(err.contains("entry 'set/a.txt'"), "{err}");
        assert_eq!(listing(dir.path()), ["bad.zip"]);
    }
}
