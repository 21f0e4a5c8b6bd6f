//! The small files that live beside a download, and one process at a time per artifact.
//!
//! For `dir/EResFD-30-pruned.pth`:
//! * `dir/EResFD-30-pruned.pth.part`: the download in progress (resumable);
//! * `dir/.EResFD-30-pruned.pth.verified`: the stamp saying which size, mtime and ctime hashed right;
//! * `dir/.EResFD-30-pruned.pth.extracted`: for archives, what was unpacked from which sha256;
//! * `dir/.EResFD-30-pruned.pth.lock`: held while a process works on the artifact, and removed
//!   when it is done.
//!
//! In a folder that cannot be written (a shared cache, a CI cache restored read-only), the
//! bookkeeping is skipped: a verified file is used without a lock, and a stamp that cannot be
//! recorded only means the next run hashes again ([`is_read_only`]).

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

/// Whether an I/O error means the folder cannot be written (permissions, a read-only mount):
/// the bookkeeping beside a download is then skipped, and only work that must write fails.
pub fn is_read_only(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem
    )
}

/// An exclusive advisory lock on an artifact. Dropping it removes the lock file, then releases
/// the lock, so no empty lock file stays beside a fetched file.
pub struct Lock {
    file: File,
    path: PathBuf,
}

impl Drop for Lock {
    fn drop(&mut self) {
        // Removed while still held: a process waiting on this file sees it gone and starts over
        // (see `lock`), so two processes never hold the lock at once.
        let _ = std::fs::remove_file(&self.path);
        let _ = self.file.unlock();
    }
}

/// Takes the artifact's lock, calling `waiting` once if another process holds it, so two
/// `reproduce` runs never write the same `.part` file at once. `None` when the folder is
/// read-only: then nothing can be written there either, and the caller works without a lock.
pub fn lock(path: &Path, waiting: impl FnOnce()) -> Result<Option<Lock>> {
    let lock_path = hidden_sibling(path, "lock");
    let mut waiting = Some(waiting);
    loop {
        let file = match OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
        {
            Ok(f) => f,
            Err(e) if is_read_only(&e) => return Ok(None),
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("opening the lock file {}", lock_path.display()));
            }
        };
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                if let Some(w) = waiting.take() {
                    w();
                }
                file.lock()
                    .with_context(|| format!("locking {}", lock_path.display()))?;
            }
            Err(TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("locking {}", lock_path.display()));
            }
        }
        // The holder before us removes the lock file when it is done; if it did while we
        // waited, the lock we hold is on a file nobody else will open: take the new one.
        if is_same_file(&file, &lock_path) {
            return Ok(Some(Lock {
                file,
                path: lock_path,
            }));
        }
    }
}

/// Whether the open `file` is still the one at `path`.
fn is_same_file(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
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
    fn a_second_lock_waits_for_the_first_and_no_lock_file_stays() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f.bin");
        let first = lock(&p, || panic!("nobody holds it yet")).unwrap();
        assert!(hidden_sibling(&p, "lock").is_file());
        let (tx, rx) = std::sync::mpsc::channel();
        let p2 = p.clone();
        let waiter = std::thread::spawn(move || {
            let second = lock(&p2, || tx.send(()).unwrap()).unwrap();
            assert!(second.is_some());
            assert!(hidden_sibling(&p2, "lock").is_file());
        });
        rx.recv().unwrap();
        drop(first);
        waiter.join().unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
