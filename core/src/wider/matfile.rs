//! Loading selected variables of a MATLAB Level 5 file with `matrw`, after checking its layout.
//!
//! The evaluation kit's files are a 128-byte header (`MATLAB 5.0 MAT-file`, version `0x0100`,
//! `IM`: little-endian) followed by top-level elements, one variable each: `miCOMPRESSED` (a zlib
//! stream holding one `miMATRIX` element) or `miMATRIX` (`docs/upstream.md` §gt-mat). [`read_vars`]
//! walks them itself before `matrw` sees a byte:
//! * every element must lie inside the file and be a variable, so a truncated or foreign file is
//!   an error that says so, at which byte, and how to get the file again, never a panic inside
//!   the library;
//! * each wanted variable is inflated here (a damaged stream is named) and handed to `matrw`
//!   uncompressed behind the header. The kit's attribute lists (`blur_label_list`, …: six of
//!   nine variables, 3,226 small arrays each), which the evaluation never reads and which take
//!   most of the parsing time, are skipped;
//! * every variable's name is returned, so callers can tell which file of the kit they got.
//!
//! `matrw`'s own errors arrive without their terminal colours, and a panic inside it is an error
//! about the file ([`crate::quiet_panic`]).

use std::io::Read;
use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use matrw::MatFile;

use crate::quiet_panic;

const HEADER_LEN: usize = 128;
/// `miMATRIX`: an uncompressed variable.
const MI_MATRIX: u32 = 14;
/// `miCOMPRESSED`: a zlib stream holding one `miMATRIX` element.
const MI_COMPRESSED: u32 = 15;
/// What to do about a damaged file of the kit.
const REFETCH: &str = "fetch the evaluation kit again with `reproduce fetch wider-gt`";

/// The variables read from a MAT-file, and the names of all it holds.
pub struct MatVars {
    /// The wanted variables that the file holds.
    pub mat: MatFile,
    /// Every variable of the file, in file order.
    pub names: Vec<String>,
}

/// Reads the variables `wanted` of the MAT-file at `path` (others may be absent from the
/// result). Errors name the file and what is wrong with it; a missing file suggests fetching the
/// ground truth.
pub fn read_vars(path: &Path, wanted: &[&str]) -> Result<MatVars> {
    let bytes = std::fs::read(path).with_context(|| {
        format!(
            "cannot read {}; the WIDER val ground truth is fetched with `reproduce fetch wider-gt`",
            path.display()
        )
    })?;
    let (selected, names) =
        select(&bytes, wanted).map_err(|e| anyhow!("{}: {e:#}; {REFETCH}", path.display()))?;
    match quiet_panic::catch(|| matrw::load_matfile_from_u8(&selected)) {
        Ok(Ok(mat)) => Ok(MatVars { mat, names }),
        Ok(Err(e)) => bail!(
            "{}: not a readable MAT-file: {}; {REFETCH}",
            path.display(),
            plain(&e.to_string())
        ),
        Err(why) => bail!(
            "{}: malformed MAT-file (the reader gave up: {}); {REFETCH}",
            path.display(),
            plain(&why)
        ),
    }
}

/// Refuses anything but the little-endian Level 5 header the kit's files have.
fn check_header(bytes: &[u8]) -> Result<()> {
    if bytes.len() < HEADER_LEN {
        bail!(
            "not a MAT-file: {} bytes, fewer than a MAT-file header's {HEADER_LEN}",
            bytes.len()
        );
    }
    if bytes.starts_with(b"MATLAB 7.3 MAT-file") {
        bail!("a MATLAB v7.3 (HDF5) file, which this reader does not read (the kit's are Level 5)");
    }
    if !bytes.starts_with(b"MATLAB 5.0 MAT-file") {
        bail!("not a MAT-file (it does not start with a 'MATLAB 5.0 MAT-file' header)");
    }
    match &bytes[126..128] {
        b"IM" => {}
        b"MI" => bail!(
            "a big-endian MAT-file, which this reader does not read (the kit's are \
                        little-endian)"
        ),
        _ => bail!("not a MAT-file (its header has no byte-order mark)"),
    }
    let version = u16::from_le_bytes([bytes[124], bytes[125]]);
    if version != 0x0100 {
        bail!("MAT-file version 0x{version:04x}, not the Level 5 version 0x0100");
    }
    Ok(())
}

/// The header plus the wanted variables as uncompressed elements, and the names of all
/// variables, after checking that every element lies inside the file and is a variable.
fn select(bytes: &[u8], wanted: &[&str]) -> Result<(Vec<u8>, Vec<String>)> {
    check_header(bytes)?;
    let mut out = bytes[..HEADER_LEN].to_vec();
    let mut names = Vec::new();
    let mut at = HEADER_LEN;
    while at < bytes.len() {
        let k = names.len() + 1;
        let truncated = |what: String| {
            anyhow!(
                "the file is truncated: variable {k} at byte {at} {what}, but the file ends \
                 after {} bytes",
                bytes.len()
            )
        };
        let (Some(ty), Some(n)) = (le_u32(bytes, at), le_u32(bytes, at + 4)) else {
            return Err(truncated("starts".to_string()));
        };
        let n = n as usize;
        let body = bytes
            .get(at + 8..at + 8 + n)
            .ok_or_else(|| truncated(format!("declares {n} bytes")))?;
        // Compressed elements are not padded; uncompressed ones are, to 8 bytes.
        let (name, element, end) = match ty {
            MI_COMPRESSED => {
                let name = compressed_name(body)
                    .ok_or_else(|| anyhow!("variable {k} at byte {at}: its compressed data does not start with a named variable"))?;
                let element = if wanted.contains(&name.as_str()) {
                    Some(inflate(body).with_context(|| {
                        format!(
                            "variable {k} ('{name}') at byte {at}: its compressed data is damaged"
                        )
                    })?)
                } else {
                    None
                };
                (name, element, at + 8 + n)
            }
            MI_MATRIX => {
                let name = matrix_name(body)
                    .ok_or_else(|| anyhow!("variable {k} at byte {at} has no readable name"))?;
                let element = wanted
                    .contains(&name.as_str())
                    .then(|| bytes[at..at + 8 + n].to_vec());
                (name, element, at + 8 + n.next_multiple_of(8))
            }
            other => bail!(
                "the element at byte {at} has type {other}, not a variable (miMATRIX {MI_MATRIX} \
                 or miCOMPRESSED {MI_COMPRESSED}): the file is damaged"
            ),
        };
        if let Some(mut element) = element {
            element.resize(element.len().next_multiple_of(8), 0);
            out.extend_from_slice(&element);
        }
        names.push(name);
        at = end;
    }
    Ok((out, names))
}

/// The whole `miMATRIX` element inside a compressed one, checked against its own tag.
fn inflate(body: &[u8]) -> Result<Vec<u8>> {
    let mut element = Vec::with_capacity(body.len() * 8);
    flate2::read::ZlibDecoder::new(body).read_to_end(&mut element)?;
    let (ty, n) = (le_u32(&element, 0), le_u32(&element, 4));
    match (ty, n) {
        (Some(MI_MATRIX), Some(n)) if element.len() >= 8 + n as usize => {
            element.truncate(8 + n as usize);
            Ok(element)
        }
        _ => bail!(
            "it inflates to {} bytes that are not one complete variable",
            element.len()
        ),
    }
}

/// `matrw`'s messages without terminal colour codes and box-drawing lines, on one line.
fn plain(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        if !('\u{2500}'..='\u{257f}').contains(&c) {
            out.push(c);
        }
    }
    out.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
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
    fn selects_named_variables_of_the_kit_and_lists_all() {
        let Some(path) = mirror_file("wider_easy_val.mat") else {
            return;
        };
        let vars = read_vars(&path, &["event_list", "gt_list"]).unwrap();
        let names: Vec<&str> = vars.mat.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["event_list", "gt_list"]);
        assert_eq!(vars.names.len(), 10);
        assert!(vars.names.iter().any(|n| n == "face_bbx_list"));
        // The filter changes nothing about what matrw reads.
        let all = read_vars(&path, &[]).unwrap();
        assert_eq!(all.mat.iter().count(), 0);
        let bytes = std::fs::read(&path).unwrap();
        let whole = matrw::load_matfile_from_u8(&bytes).unwrap();
        assert_eq!(whole.iter().count(), 10);
        // (matrw compares cell arrays with todo!(), so compare their debug dumps.)
        assert_eq!(
            format!("{:?}", whole["gt_list"]),
            format!("{:?}", vars.mat["gt_list"])
        );
    }

    #[test]
    fn foreign_layouts_are_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.mat");
        let mut big_endian = b"MATLAB 5.0 MAT-file".to_vec();
        big_endian.resize(HEADER_LEN, b' ');
        big_endian[124..128].copy_from_slice(b"\x01\x00MI");
        for (bytes, why) in [
            (b"short".to_vec(), "not a MAT-file: 5 bytes"),
            (vec![7u8; 4000], "not a MAT-file (it does not start"),
            (big_endian, "a big-endian MAT-file"),
        ] {
            std::fs::write(&path, &bytes).unwrap();
            let err = read_vars(&path, &["x"]).err().unwrap().to_string();
            assert!(
                err.starts_with(&format!("{}: {why}", path.display())),
                "{err}"
            );
            assert!(err.ends_with(REFETCH), "{err}");
        }
    }

    #[test]
    fn a_truncated_or_damaged_kit_file_is_named_without_a_panic() {
        let Some(src) = mirror_file("wider_easy_val.mat") else {
            return;
        };
        let bytes = std::fs::read(&src).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cut.mat");
        std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
        let err = read_vars(&path, &["gt_list"]).err().unwrap().to_string();
        assert!(err.contains(": the file is truncated: variable "), "{err}");
        // Damage inside the compressed stream of a wanted variable (the first one, which starts
        // right after the header) is found by inflating it.
        let first = read_vars(&src, &[]).unwrap().names[0].clone();
        let mut damaged = bytes.clone();
        for b in &mut damaged[HEADER_LEN + 1000..HEADER_LEN + 1400] {
            *b ^= 0x5a;
        }
        std::fs::write(&path, &damaged).unwrap();
        let err = format!("{:#}", read_vars(&path, &[first.as_str()]).err().unwrap());
        assert!(err.contains("compressed data"), "{err}");
        assert!(!err.contains('\u{1b}'), "{err}");
    }

    #[test]
    fn colour_codes_and_frames_are_stripped() {
        let raw = "binrw error \n \u{2550}\u{2550}\u{2550} Backtrace \u{2550}\u{2550}\n \
                   0: \u{1b}[1m\u{1b}[1mError: no variants matched at 0x0\u{1b}[22m\n";
        assert_eq!(
            plain(raw),
            "binrw error; Backtrace; 0: Error: no variants matched at 0x0"
        );
    }
}
