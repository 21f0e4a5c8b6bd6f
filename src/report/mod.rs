//! Everything `reproduce` writes for people and machines to read: images with detections drawn on
//! them today; tables, JSON for CI and plots as the pipeline grows.
//!
//! * [`canvas`]: an RGB canvas with lines, rectangles and bitmap text, saved as PNG — the drawing
//!   layer of `detect --draw` and of the PR-curve plots.
//! * [`write_atomic`]: the one way results reach the disk, so an interrupted run never leaves a
//!   half-written file under the final name.

pub mod canvas;

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};

/// Writes a file through a temporary name in the same folder and renames it into place, so
/// readers see either the old file or the complete new one, never a partial write.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .with_context(|| format!("{} is not a file path", path.display()))?;
    let tmp = dir.join(format!(
        ".{}.{}.part",
        name.to_string_lossy(),
        std::process::id()
    ));
    let written = std::fs::File::create(&tmp).and_then(|mut f| {
        f.write_all(bytes)?;
        f.sync_all()
    });
    if let Err(e) = written.and_then(|()| std::fs::rename(&tmp, path)) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("writing {}", path.display()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.txt");
        write_atomic(&path, b"first").unwrap();
        write_atomic(&path, b"second").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn names_the_file_when_the_folder_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing").join("out.txt");
        let err = write_atomic(&path, b"x").unwrap_err().to_string();
        assert_eq!(err, format!("writing {}", path.display()));
    }
}
