//! Writes that never leave a half-written file behind.
//!
//! Prediction files are how an interrupted `reproduce eval` resumes, and reports are what CI
//! reads, so a file either has its complete content or does not exist: the bytes go to a hidden
//! temporary name beside the target, which is then renamed over it.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// The hidden temporary name used while `path` is being written: `.<name>.part`.
///
/// It starts with a dot so that the prediction reader, which skips hidden files, never sees a
/// leftover from an interrupted run.
pub fn part_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.part"))
}

/// Writes `bytes` to `path` through a temporary file and a rename, creating parent folders.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the folder {}", dir.display()))?;
    }
    let part = part_path(path);
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&part)?;
        f.write_all(bytes)?;
        f.sync_all()
    };
    write().with_context(|| format!("cannot write {}", part.display()))?;
    std::fs::rename(&part, path)
        .with_context(|| format!("cannot rename {} to {}", part.display(), path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_through_a_hidden_part_file() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("a/b/report.json");
        assert_eq!(part_path(&target), dir.path().join("a/b/.report.json.part"));
        write_atomic(&target, b"{}").unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"{}");
        assert!(!part_path(&target).exists());
        write_atomic(&target, b"[1]").unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"[1]");
    }

    #[test]
    fn failure_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("file"), b"").unwrap();
        let err = format!(
            "{:#}",
            write_atomic(&dir.path().join("file/x.txt"), b"").unwrap_err()
        );
        assert!(err.contains("file"), "{err}");
    }
}
