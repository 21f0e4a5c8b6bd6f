//! Loading selected variables of a MATLAB Level 5 file with `matrw`.
//!
//! `matrw` parses every variable of a file, and the evaluation kit's files are mostly attribute
//! lists (`blur_label_list`, `pose_label_list`, …: six of nine variables, 3,226 small arrays
//! each) that the evaluation never reads. Parsing them takes most of the load time, so the
//! top-level elements are split by their tags first (`wider-eval.md` §C.1), each one's variable
//! name is read from the first bytes of its (inflated) content, and only the wanted elements
//! are handed to `matrw`, behind the original 128-byte header.
//!
//! The split is only a filter: a file it does not understand goes to `matrw` whole, which then
//! parses it or reports why not.

use std::io::Read;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use anyhow::{Context, Result, bail};
use matrw::MatFile;

const HEADER_LEN: usize = 128;
/// `miMATRIX`: an uncompressed variable.
const MI_MATRIX: u32 = 14;
/// `miCOMPRESSED`: a zlib stream holding one `miMATRIX` element.
const MI_COMPRESSED: u32 = 15;

/// Reads the variables `wanted` of the MAT-file at `path` (others may be absent from the
/// result). Errors name the file; a missing file suggests fetching the ground truth.
pub fn read_vars(path: &Path, wanted: &[&str]) -> Result<MatFile> {
    let bytes = std::fs::read(path).with_context(|| {
        format!(
            "cannot read {}; the WIDER val ground truth is fetched with `reproduce fetch wider-gt`",
            path.display()
        )
    })?;
    let selected = select(&bytes, wanted);
    let input = selected.as_deref().unwrap_or(&bytes);
    // matrw panics on some malformed input (e.g. invalid UTF-8 in a string); that is an error
    // about this file, not a crash.
    match catch_unwind(AssertUnwindSafe(|| matrw::load_matfile_from_u8(input))) {
        Ok(Ok(mat)) => Ok(mat),
        Ok(Err(e)) => bail!("{}: not a readable MAT-file: {e}", path.display()),
        Err(_) => bail!(
            "{}: malformed MAT-file (the reader gave up)",
            path.display()
        ),
    }
}

/// The header plus the top-level elements named in `wanted`, or `None` if the layout is not
/// the plain little-endian Level 5 one this filter understands.
fn select(bytes: &[u8], wanted: &[&str]) -> Option<Vec<u8>> {
    if bytes.len() < HEADER_LEN || &bytes[126..128] != b"IM" || bytes[116..124] != [0; 8] {
        return None;
    }
    let mut out = bytes[..HEADER_LEN].to_vec();
    let mut at = HEADER_LEN;
    while at < bytes.len() {
        let (ty, n) = (le_u32(bytes, at)?, le_u32(bytes, at + 4)? as usize);
        let body = bytes.get(at + 8..at + 8 + n)?;
        // Compressed elements are not padded; uncompressed ones are, to 8 bytes.
        let (name, end) = match ty {
            MI_COMPRESSED => (compressed_name(body)?, at + 8 + n),
            MI_MATRIX => (matrix_name(body)?, at + 8 + n.next_multiple_of(8)),
            _ => return None,
        };
        if wanted.contains(&name.as_str()) {
            out.extend_from_slice(bytes.get(at..end.min(bytes.len()))?);
        }
        at = end;
    }
    Some(out)
}

fn le_u32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

/// The variable name of a compressed element, from the start of its inflated stream.
fn compressed_name(body: &[u8]) -> Option<String> {
    let mut head = Vec::with_capacity(256);
    flate2::read::ZlibDecoder::new(body)
        .take(256)
        .read_to_end(&mut head)
        .ok()?;
    if le_u32(&head, 0)? != MI_MATRIX {
        return None;
    }
    matrix_name(&head[8..])
}

/// The name of an `miMATRIX` payload: array flags, dimensions, then the name element.
fn matrix_name(payload: &[u8]) -> Option<String> {
    let mut at = 0;
    for _ in 0..2 {
        at += element_len(payload, at)?;
    }
    let (len, data_at) = small_or_normal(payload, at)?;
    let name = payload.get(data_at..data_at + len)?;
    String::from_utf8(name.to_vec()).ok()
}

/// Total bytes of the data element at `at`, tag and padding included.
fn element_len(bytes: &[u8], at: usize) -> Option<usize> {
    let first = le_u32(bytes, at)?;
    if first >> 16 != 0 {
        Some(8)
    } else {
        Some(8 + (le_u32(bytes, at + 4)? as usize).next_multiple_of(8))
    }
}

/// Length and data offset of the element at `at`, in the small (≤ 4 bytes) or normal form.
fn small_or_normal(bytes: &[u8], at: usize) -> Option<(usize, usize)> {
    let first = le_u32(bytes, at)?;
    if first >> 16 != 0 {
        Some(((first >> 16) as usize, at + 4))
    } else {
        Some((le_u32(bytes, at + 4)? as usize, at + 8))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::mirror_file;

    #[test]
    fn selects_named_variables_of_the_kit() {
        let Some(path) = mirror_file("wider_easy_val.mat") else {
            return;
        };
        let mat = read_vars(&path, &["event_list", "gt_list"]).unwrap();
        let names: Vec<&str> = mat.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["event_list", "gt_list"]);
        // The filter changes nothing about what matrw reads.
        let all = read_vars(&path, &[]).unwrap();
        assert_eq!(all.iter().count(), 0);
        let bytes = std::fs::read(&path).unwrap();
        let whole = matrw::load_matfile_from_u8(&bytes).unwrap();
        assert_eq!(whole.iter().count(), 10);
        // (matrw compares cell arrays with todo!(), so compare their debug dumps.)
        assert_eq!(
            format!("{:?}", whole["gt_list"]),
            format!("{:?}", mat["gt_list"])
        );
    }

    #[test]
    fn an_unknown_layout_goes_to_matrw_whole() {
        assert!(select(b"not a mat file", &["x"]).is_none());
        let mut big_endian = vec![b' '; HEADER_LEN];
        big_endian[116..124].fill(0);
        big_endian[126..128].copy_from_slice(b"MI");
        assert!(select(&big_endian, &["x"]).is_none());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.mat");
        std::fs::write(&path, &big_endian).unwrap();
        let err = read_vars(&path, &["x"]).unwrap_err().to_string();
        assert!(err.starts_with(&path.display().to_string()), "{err}");
    }
}
