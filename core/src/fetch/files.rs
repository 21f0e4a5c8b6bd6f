//! The small files that live beside a download, and one process at a time per artifact.
//!
//! For `dir/EResFD-30-pruned.pth`:
//! * `dir/EResFD-30-pruned.pth.part`: the download in progress (resumable);
//! * `dir/.EResFD-30-pruned.pth.verified`: the stamp saying which size and mtime hashed right;
//! * `dir/.EResFD-30-pruned.pth.extracted`: for archives, what was unpacked from which sha256;
//! * `dir/.EResFD-30-pruned.pth.lock`: held while a process works on the artifact.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// `<file>.part` beside `path`: where an unverified download grows.
pub fn part_path(path: &Path) -> PathBuf {
    suffixed(path, ".part", false)
}

/// `.<file>.<what>` beside `path`: hidden bookkeeping that belongs to the file.
pub fn hidden_sibling(path: &Path, what: &str) -> PathBuf {
    suffixed(path, &format!(".{what}"), true)
}

fn suffixed(path: &Path, suffix: &str, hidden: bool) -> PathBuf {
    let name = path
        .file_name()
        .expect("artifact paths end in a file name")
        .to_string_lossy();
    let dot = if hidden { "." } else { "" };
    path.with_file_name(format!("{dot}{name}{suffix}"))
}

/// An exclusive advisory lock on an artifact, released when dropped.
pub struct Lock {
    _file: File,
}

/// Takes the artifact's lock, calling `waiting` once if another process holds it, so two
/// `reproduce` runs never write the same `.part` file at once.
pub fn lock(path: &Path, waiting: impl FnOnce()) -> Result<Lock> {
    let lock_path = hidden_sibling(path, "lock");
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .with_context(|| format!("opening the lock file {}", lock_path.display()))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            waiting();
            file.lock()
                .with_context(|| format!("locking {}", lock_path.display()))?;
        }
        Err(TryLockError::Error(e)) => {
            return Err(e).with_context(|| format!("locking {}", lock_path.display()));
        }
    }
    Ok(Lock { _file: file })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bookkeeping_names_sit_beside_the_file() {
        let p = Path::new("data/Pruned_Models/EResFD-30-pruned.pth");
        assert_eq!(
            part_path(p),
            Path::new("data/Pruned_Models/EResFD-30-pruned.pth.part")
        );
        assert_eq!(
            hidden_sibling(p, "verified"),
            Path::new("data/Pruned_Models/.EResFD-30-pruned.pth.verified")
        );
    }

    #[test]
    fn a_second_lock_waits_for_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f.bin");
        let first = lock(&p, || panic!("nobody holds it yet")).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let p2 = p.clone();
        let waiter = std::thread::spawn(move || {
            let _second = lock(&p2, || tx.send(()).unwrap()).unwrap();
        });
        rx.recv().unwrap();
        drop(first);
        waiter.join().unwrap();
    }
}
