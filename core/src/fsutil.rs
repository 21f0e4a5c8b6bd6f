//! Writes that never leave a half-written file behind: the one way results reach the disk.
//!
//! Checkpoints, prediction files (how an interrupted `reproduce eval` resumes), stamps beside
//! downloads and the reports CI reads must each either hold their complete content or not exist.
//! The bytes go to a hidden temporary name in the same folder (`.<name>.<pid>.part`, so readers
//! that skip hidden files never see a leftover, and two processes never share one), are synced,
//! and the temporary file is renamed over the target.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// The hidden temporary name this process uses while writing `path`.
pub fn temporary_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.{}.part", std::process::id()))
}

/// Writes `bytes` to `path` through a temporary file and a rename, creating parent folders.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the folder {}", dir.display()))?;
    }
    let tmp = temporary_path(path);
    let written = std::fs::File::create(&tmp).and_then(|mut f| {
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    });
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written.with_context(|| format!("cannot write {}", path.display()))
}

/// Checks, before any work starts, that `path` can be written once the work is done: a command
/// that runs for minutes must not fail at its last step because its report has nowhere to go.
/// Creates the file's folder (as [`write_atomic`] would) and tries the temporary name, leaving
/// no file behind.
pub fn check_writable(path: &Path) -> Result<()> {
    if path.is_dir() {
        bail!("{} is a folder; give a file name", path.display());
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| {
            format!(
                "cannot create the folder {} for {}",
                dir.display(),
                path.display()
            )
        })?;
    }
    let probe = temporary_path(path);
    std::fs::File::create(&probe).with_context(|| format!("cannot write {}", path.display()))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_file_creating_folders_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/out.txt");
        write_atomic(&path, b"first").unwrap();
        write_atomic(&path, b"second").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn a_failed_write_leaves_neither_target_nor_temporary() {
        let dir = tempfile::tempdir().unwrap();
        // The target is an existing folder: the rename fails after the data was written.
        let path = dir.path().join("taken");
        std::fs::create_dir(&path).unwrap();
        std::fs::write(path.join("inside"), b"x").unwrap();
        let err = write_atomic(&path, b"data").unwrap_err().to_string();
        assert!(err.starts_with("cannot write "), "{err}");
        assert!(!temporary_path(&path).exists());
        assert!(path.is_dir());
    }

    #[test]
    fn outputs_are_checked_before_the_work_and_nothing_is_left() {
        let dir = tempfile::tempdir().unwrap();
        let report = dir.path().join("new/sub/report.json");
        check_writable(&report).unwrap();
        assert!(report.parent().unwrap().is_dir());
        assert_eq!(
            std::fs::read_dir(report.parent().unwrap()).unwrap().count(),
            0
        );
        let file = dir.path().join("plain.txt");
        std::fs::write(&file, b"x").unwrap();
        let err = format!("{:#}", check_writable(&file.join("r.json")).unwrap_err());
        assert!(
            err.starts_with(&format!("cannot create the folder {}", file.display())),
            "{err}"
        );
        let err = check_writable(dir.path()).unwrap_err().to_string();
        assert!(err.ends_with("is a folder; give a file name"), "{err}");
    }

    #[test]
    fn the_temporary_name_is_hidden_and_per_process() {
        let t = temporary_path(Path::new("d/report.json"));
        let name = t.file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with(".report.json."), "{name}");
        assert!(name.ends_with(".part"), "{name}");
        assert!(name.contains(&std::process::id().to_string()));
    }
}
