//! Prediction files in the official WIDER FACE layout: `<dir>/<event>/<image>.txt`.
//!
//! A file is what upstream's `wider_test.py` writes (`docs/upstream.md` §pred-files):
//!
//! ```text
//! <event>/<name>.jpg
//! <K>
//! x y w h score        (K lines, '{:.1f} {:.1f} {:.1f} {:.1f} {:.3f}')
//! ```
//!
//! It is read as upstream's `evaluation.py::read_pred_file` does (§pred-files), so files from any
//! detector that uses the official layout evaluate identically:
//!
//! * every file of every event folder is read, whatever its extension;
//! * the image is identified by **line 1**, not by the file name: its last `/`-component with
//!   the characters `.`, `j`, `p`, `g` stripped from the right (Python's `rstrip('.jpg')`);
//! * line 2, the count, is ignored; every further line is five space-separated numbers.
//!
//! Where upstream would crash or silently pick one of two files, this reader stops with an error
//! that names the file and line: a blank or malformed line, a value that is not a finite number,
//! a file that is not in an event folder, or two files of one event naming the same image.
//! Hidden entries (names starting with `.`, e.g. `.DS_Store` or the temporary file of an
//! interrupted write) are skipped; upstream would try to read them.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Context, Result, anyhow, bail, ensure};

use crate::fsutil::write_atomic;

/// One image's predictions and the file they came from.
#[derive(Debug, Clone, PartialEq)]
pub struct ImagePreds {
    /// The prediction file, for messages.
    pub file: PathBuf,
    /// Rows `[x, y, w, h, score]` in file order (the order matters to the AP, §ap).
    pub rows: Vec<[f64; 5]>,
}

/// Every prediction file of a folder, by event folder and by the image named on line 1.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Predictions {
    /// The folder that was read.
    pub dir: PathBuf,
    /// Event folder name → image name (without `.jpg`) → predictions.
    pub events: HashMap<String, EventPreds>,
}

impl Predictions {
    /// Reads a prediction folder in the official layout. Event folders are read in parallel;
    /// an error reports the first bad file in sorted order, whatever the thread timing.
    pub fn read_dir(dir: &Path) -> Result<Predictions> {
        let event_dirs = visible_entries(dir)?;
        if let Some(stray) = event_dirs.iter().find(|d| !d.is_dir()) {
            bail!(
                "{}: expected only event folders in {} (the official layout is \
                 <event>/<image>.txt)",
                stray.display(),
                dir.display()
            );
        }
        let next = AtomicUsize::new(0);
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mut done: Vec<(usize, Result<EventPreds>)> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..workers.min(event_dirs.len()))
                .map(|_| {
                    scope.spawn(|| {
                        let mut out = Vec::new();
                        loop {
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            let Some(event_dir) = event_dirs.get(i) else {
                                return out;
                            };
                            out.push((i, read_event(event_dir)));
                        }
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().expect("reading predictions does not panic"))
                .collect()
        });
        done.sort_by_key(|(i, _)| *i);
        let mut events = HashMap::new();
        for (i, images) in done {
            events.insert(file_name(&event_dirs[i]), images?);
        }
        Ok(Predictions {
            dir: dir.to_path_buf(),
            events,
        })
    }

    /// The predictions of `event/image`, if a file names that image.
    pub fn get(&self, event: &str, image: &str) -> Option<&ImagePreds> {
        self.events.get(event)?.get(image)
    }

    /// Number of prediction files read.
    pub fn image_count(&self) -> usize {
        self.events.values().map(HashMap::len).sum()
    }
}

/// One event's predictions by image name.
type EventPreds = HashMap<String, ImagePreds>;

/// Reads every visible file of one event folder.
fn read_event(event_dir: &Path) -> Result<EventPreds> {
    let event = file_name(event_dir);
    let mut images = EventPreds::new();
    for file in visible_entries(event_dir)? {
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("cannot read the prediction file {}", file.display()))?;
        let (key, rows) = parse_pred_file(&text, &file)?;
        if let Some(other) = images.get(&key) {
            bail!(
                "{} and {} both hold the predictions of {event}/{key}: remove one",
                other.file.display(),
                file.display()
            );
        }
        images.insert(key, ImagePreds { file, rows });
    }
    Ok(images)
}

/// Entries of a folder whose names do not start with `.`, sorted for reproducible messages.
fn visible_entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let read = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list the prediction folder {}", dir.display()))?;
    let mut out = Vec::new();
    for entry in read {
        let entry = entry.with_context(|| format!("cannot list {}", dir.display()))?;
        if !entry.file_name().to_string_lossy().starts_with('.') {
            out.push(entry.path());
        }
    }
    out.sort();
    Ok(out)
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Upstream's image key from line 1: `line.split('/')[-1].rstrip('.jpg')`.
///
/// `rstrip` removes trailing characters from the set `{'.', 'j', 'p', 'g'}`, not the suffix;
/// WIDER names end in a digit, so for them this is the name without `.jpg`.
pub fn image_key(line1: &str) -> &str {
    let last = line1.rsplit('/').next().unwrap_or(line1);
    last.trim_end_matches(['.', 'j', 'p', 'g'])
}

/// Parses one prediction file: the image key of line 1 and the rows `[x, y, w, h, score]`.
pub fn parse_pred_file(text: &str, file: &Path) -> Result<(String, Vec<[f64; 5]>)> {
    // Python's text mode turns "\r\n" and a lone "\r" into "\n" before `readlines()`.
    let normalised;
    let text = if text.contains('\r') {
        normalised = text.replace("\r\n", "\n").replace('\r', "\n");
        normalised.as_str()
    } else {
        text
    };
    let mut lines = text.split_inclusive('\n');
    let first = lines
        .next()
        .ok_or_else(|| anyhow!("{}: empty file; line 1 must name the image", file.display()))?;
    let key = image_key(first.trim_end_matches('\n'));
    if key.is_empty() {
        bail!(
            "{} line 1: '{}' names no image",
            file.display(),
            first.trim_end()
        );
    }
    let mut rows = Vec::new();
    for (i, line) in lines.enumerate().skip(1) {
        let line_no = i + 2;
        let line = line.trim_end_matches('\n');
        let mut row = [0.0f64; 5];
        let mut n = 0;
        for field in line.split(' ') {
            let value: f64 = field.parse().map_err(|_| {
                anyhow!(
                    "{} line {line_no}: '{field}' in '{line}' is not a number; each box line is \
                     'x y w h score' separated by single spaces",
                    file.display()
                )
            })?;
            if !value.is_finite() {
                bail!(
                    "{} line {line_no}: '{field}' is not a finite number",
                    file.display()
                );
            }
            if n < 5 {
                row[n] = value;
            }
            n += 1;
        }
        if n != 5 {
            bail!(
                "{} line {line_no}: {n} values in '{line}'; expected 5 (x y w h score)",
                file.display()
            );
        }
        rows.push(row);
    }
    Ok((key.to_string(), rows))
}

/// Formats `x` as Python's `'{:.Nf}'.format(x)` does.
///
/// Both round the exact binary value half-to-even and keep the sign of a negative zero; only the
/// spelling of the non-finite values differs, and is made Python's here.
fn py_fixed(out: &mut String, x: f64, decimals: usize) {
    if x.is_nan() {
        out.push_str("nan");
    } else if x.is_infinite() {
        out.push_str(if x > 0.0 { "inf" } else { "-inf" });
    } else {
        write!(out, "{x:.decimals$}").expect("writing to a String");
    }
}

/// The text of a prediction file for voted detections `[x1, y1, x2, y2, score]` (§pred-files).
///
/// Width and height use the +1 convention, `x2 - x1 + 1`, computed in float64 as upstream does.
pub fn format_pred_file(event: &str, name: &str, dets: &[[f64; 5]]) -> String {
    let mut out = String::with_capacity(64 + dets.len() * 32);
    writeln!(out, "{event}/{name}.jpg\n{}", dets.len()).expect("writing to a String");
    for d in dets {
        let values = [d[0], d[1], d[2] - d[0] + 1.0, d[3] - d[1] + 1.0];
        for v in values {
            py_fixed(&mut out, v, 1);
            out.push(' ');
        }
        py_fixed(&mut out, d[4], 3);
        out.push('\n');
    }
    out
}

/// Path of an image's prediction file: `<dir>/<event>/<name>.txt`.
pub fn pred_path(dir: &Path, event: &str, name: &str) -> PathBuf {
    dir.join(event).join(format!("{name}.txt"))
}

/// Writes one image's prediction file atomically, so an interrupted run leaves either the whole
/// file or none, and a re-run can skip the images already done.
pub fn write_pred_file(dir: &Path, event: &str, name: &str, dets: &[[f64; 5]]) -> Result<PathBuf> {
    let path = pred_path(dir, event, name);
    write_atomic(&path, format_pred_file(event, name, dets).as_bytes())?;
    Ok(path)
}

/// Unpacks a `.tar.gz` of prediction files (fixtures and reference outputs come so) and returns the folder that holds the event folders
/// (the archive's single top-level folder, if it has one).
pub fn unpack_predictions(archive: &Path, dest: &Path) -> Result<PathBuf> {
    let file = std::fs::File::open(archive)
        .with_context(|| format!("cannot open the predictions archive {}", archive.display()))?;
    tar::Archive::new(flate2::read::GzDecoder::new(file))
        .unpack(dest)
        .with_context(|| format!("cannot unpack {}", archive.display()))?;
    let top: Vec<PathBuf> = std::fs::read_dir(dest)?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()?;
    ensure!(!top.is_empty(), "{} holds no files", archive.display());
    Ok(match top.as_slice() {
        [only] if only.is_dir() && !looks_like_event(only) => only.clone(),
        _ => dest.to_path_buf(),
    })
}

/// WIDER event folders are named `<number>--<Name>`.
fn looks_like_event(dir: &Path) -> bool {
    dir.file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.split_once("--"))
        .is_some_and(|(num, _)| !num.is_empty() && num.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::reference_file;

    fn parse(text: &str) -> Result<(String, Vec<[f64; 5]>)> {
        parse_pred_file(text, Path::new("p/e/f.txt"))
    }

    #[test]
    fn key_comes_from_line_one_with_rstrip_semantics() {
        assert_eq!(
            image_key("0--Parade/0_Parade_marchingband_1_465.jpg"),
            "0_Parade_marchingband_1_465"
        );
        assert_eq!(image_key("a/b/c_12.jpg"), "c_12");
        assert_eq!(image_key("plain_7"), "plain_7");
        // Characters, not a suffix: Python gives 'im' for 'img.jpg' and 'x_1' for 'x_1.gjp.'.
        assert_eq!(image_key("e/img.jpg"), "im");
        assert_eq!(image_key("e/x_1.gjp."), "x_1");
        let (key, rows) = parse("9--Press/other_3.jpg\n1\n1 2 3 4 0.5\n").unwrap();
        assert_eq!(key, "other_3");
        assert_eq!(rows, [[1.0, 2.0, 3.0, 4.0, 0.5]]);
    }

    #[test]
    fn count_line_is_ignored_and_line_endings_are_python_universal() {
        let (_, rows) = parse("e/a_1.jpg\n7\n1 2 3 4 0.9\n5 6 7 8 0.1").unwrap();
        assert_eq!(rows.len(), 2);
        let (key, rows) = parse("e/a_1.jpg\r\n1\r\n1 2 3 4 0.9\r\n").unwrap();
        assert_eq!((key.as_str(), rows.len()), ("a_1", 1));
        let (_, rows) = parse("e/a_1.jpg\r0\r").unwrap();
        assert!(rows.is_empty());
        let (_, rows) = parse("e/a_1.jpg").unwrap();
        assert!(rows.is_empty());
    }

    #[test]
    fn malformed_files_name_the_file_and_line() {
        let cases = [
            ("", "p/e/f.txt: empty file"),
            (
                "e/a_1.jpg\n1\n1 2 3 4 0.5\n\n",
                "p/e/f.txt line 4: '' in '' is not a number",
            ),
            ("e/a_1.jpg\n1\n1 2 3 4\n", "p/e/f.txt line 3: 4 values"),
            (
                "e/a_1.jpg\n1\n1  2 3 4 0.5\n",
                "p/e/f.txt line 3: '' in '1  2 3 4 0.5'",
            ),
            (
                "e/a_1.jpg\n1\n1 2 3 4 0.5 \n",
                "p/e/f.txt line 3: '' in '1 2 3 4 0.5 '",
            ),
            (
                "e/a_1.jpg\n1\n1 2 3 4 nan\n",
                "p/e/f.txt line 3: 'nan' is not a finite number",
            ),
            (
                "e/a_1.jpg\n1\n1 2 3 4 0.5 6\n",
                "p/e/f.txt line 3: 6 values",
            ),
            ("e/.jpg\n0\n", "p/e/f.txt line 1: 'e/.jpg' names no image"),
        ];
        for (text, want) in cases {
            let err = parse(text).unwrap_err().to_string();
            assert!(err.starts_with(want), "{text:?}: {err}");
        }
    }

    #[test]
    fn format_matches_upstream_text() {
        // The first rows of the reference pipeline output, from its voted boxes.
        let dets = [[218.2, 191.6, 218.2 + 46.9 - 1.0, 191.6 + 59.8 - 1.0, 0.998]];
        let text = format_pred_file("synthetic", "synthetic_320x320", &dets);
        assert_eq!(
            text,
            "synthetic/synthetic_320x320.jpg\n1\n218.2 191.6 46.9 59.8 0.998\n"
        );
        let mut s = String::new();
        for (x, want) in [
            (-0.0, "-0.0"),
            (-0.04, "-0.0"),
            (0.25, "0.2"),
            (0.35, "0.3"),
            (2.5, "2.5"),
        ] {
            s.clear();
            py_fixed(&mut s, x, 1);
            assert_eq!(s, want, "{x}");
        }
        s.clear();
        py_fixed(&mut s, f64::NAN, 3);
        assert_eq!(s, "nan");
    }

    #[test]
    fn write_then_read_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let dets = [
            [10.0, 20.0, 39.0, 59.0, 0.9876],
            [1.25, 2.0, 3.0, 4.0, 0.05],
        ];
        let path = write_pred_file(dir.path(), "0--Parade", "0_Parade_x_1", &dets).unwrap();
        assert_eq!(path, dir.path().join("0--Parade/0_Parade_x_1.txt"));
        // A leftover temporary file of an interrupted write is not a prediction.
        std::fs::write(
            dir.path().join("0--Parade/.0_Parade_x_2.txt.part"),
            "garbage",
        )
        .unwrap();
        let preds = Predictions::read_dir(dir.path()).unwrap();
        assert_eq!(preds.image_count(), 1);
        let p = preds.get("0--Parade", "0_Parade_x_1").unwrap();
        assert_eq!(
            p.rows,
            [[10.0, 20.0, 30.0, 40.0, 0.988], [1.2, 2.0, 2.8, 3.0, 0.05]]
        );
    }

    #[test]
    fn layout_errors_name_the_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("ev")).unwrap();
        std::fs::write(dir.path().join("ev/a.txt"), "ev/x_1.jpg\n0\n").unwrap();
        std::fs::write(dir.path().join("ev/b.txt"), "ev/x_1.jpg\n0\n").unwrap();
        let err = Predictions::read_dir(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("a.txt") && err.contains("b.txt") && err.contains("ev/x_1"),
            "{err}"
        );
        std::fs::remove_file(dir.path().join("ev/b.txt")).unwrap();
        std::fs::write(dir.path().join("stray.txt"), "").unwrap();
        let err = Predictions::read_dir(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("stray.txt") && err.contains("event folders"),
            "{err}"
        );
        let err = format!(
            "{:#}",
            Predictions::read_dir(&dir.path().join("nope")).unwrap_err()
        );
        assert!(err.contains("nope"), "{err}");
    }

    #[test]
    fn upstream_mini_predictions_read_back() {
        let Some(root) = reference_file("fixtures/upstream-preds-mini/EResFD-original") else {
            return;
        };
        let preds = Predictions::read_dir(&root).unwrap();
        assert_eq!(preds.image_count(), 50);
        let p = preds
            .get(
                "10--People_Marching",
                "10_People_Marching_People_Marching_2_498",
            )
            .unwrap();
        assert_eq!(p.rows.len(), 664);
        assert_eq!(p.rows[0], [162.6, 421.4, 26.8, 34.2, 0.994]);
        // Upstream wrote each file's box count on line 2; the reader ignores it, but must agree.
        for p in preds.events.values().flat_map(|images| images.values()) {
            let text = std::fs::read_to_string(&p.file).unwrap();
            let count: usize = text.lines().nth(1).unwrap().parse().unwrap();
            assert_eq!(count, p.rows.len(), "{}", p.file.display());
        }
    }
}
