//! sha256, the one home of hashing: of whole files, read in large blocks with progress (downloads,
//! verification, the search's record of its starting weights), of bytes in memory (the marker
//! that ties prediction files to their checkpoint), and the mismatch error every caller reports
//! the same way.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

use crate::progress::{Progress, Unit};

/// Read size for hashing and copying: large enough that syscalls do not dominate.
pub const BLOCK: usize = 1 << 20;

/// Feeds the first `len` bytes of `reader` into `hasher`, reporting each block to `on_block`.
pub fn update_from(
    hasher: &mut Sha256,
    reader: &mut impl Read,
    len: u64,
    mut on_block: impl FnMut(u64),
) -> std::io::Result<()> {
    let mut buf = vec![0u8; BLOCK];
    let mut left = len;
    while left > 0 {
        let want = usize::try_from(left.min(BLOCK as u64)).expect("a block fits in usize");
        let n = reader.read(&mut buf[..want])?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!("ended {left} bytes early"),
            ));
        }
        hasher.update(&buf[..n]);
        left -= n as u64;
        on_block(n as u64);
    }
    Ok(())
}

/// The lower-case hex sha256 of the file at `path`, drawn as a task named `label`.
pub fn sha256_file(path: &Path, label: &str, progress: &dyn Progress) -> Result<String> {
    let mut file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let len = file
        .metadata()
        .with_context(|| format!("reading {}", path.display()))?
        .len();
    let mut task = progress.task(label, Unit::Bytes, Some(len));
    let mut hasher = Sha256::new();
    update_from(&mut hasher, &mut file, len, |n| task.add(n))
        .with_context(|| format!("reading {}", path.display()))?;
    task.finish("");
    Ok(hex::encode(hasher.finalize()))
}

/// The lower-case hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The error for a file whose hash is not the registry's: which file, expected, got, and what
/// to do next.
pub fn mismatch(what: &str, expected: &str, got: &str) -> anyhow::Error {
    anyhow::anyhow!("{what}: sha256 mismatch: expected {expected}, got {got}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::Hidden;

    #[test]
    fn hashes_files_like_sha256sum() {
        let Some(sums) = crate::testutil::mirror_file("SHA256SUMS") else {
            return;
        };
        let sums = std::fs::read_to_string(sums).unwrap();
        let (sha, file) = sums
            .lines()
            .find_map(|l| {
                l.split_once("  ")
                    .filter(|(_, f)| *f == "EXTD-20-pruned.pt")
            })
            .unwrap();
        let path = crate::testutil::mirror_file(file).unwrap();
        assert_eq!(sha256_file(&path, file, &Hidden).unwrap(), sha);
    }

    #[test]
    fn hashes_across_block_boundaries() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x");
        let data: Vec<u8> = (0..BLOCK * 2 + 17).map(|i| (i % 251) as u8).collect();
        std::fs::write(&p, &data).unwrap();
        let want = hex::encode(Sha256::digest(&data));
        assert_eq!(sha256_file(&p, "x", &Hidden).unwrap(), want);
    }

    #[test]
    fn a_short_reader_is_an_error() {
        let mut h = Sha256::new();
        let err = update_from(&mut h, &mut &b"abc"[..], 5, |_| {}).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof);
    }
}
