//! How far two folders of prediction files are apart, file by file and row by row: the check
//! behind "same output as upstream" in `reproduce bench infer` and the GPU check script.
//!
//! Bit-identical files need the same convolution kernels as the machine that made the reference
//! (`docs/upstream.md` §tolerances: AVX-512 there, other ISAs, thread counts or CUDA change the
//! logits in the last bits). What stays stable is what that section prescribes: the header, and
//! every row scoring at least [`STABLE_SCORE`] at its place. Below that, boxes with near-equal
//! scores may trade places, and a pass's 750-detection cut may keep a different one of two
//! near-equal candidates, which adds or removes a low-scoring cluster. Rows are therefore also
//! matched as multisets within the written precision (0.1 px, 0.001), and what is left unmatched is
//! counted.

use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;

use super::infer::ImageJob;
use bfpgm_core::wider::preds::{parse_pred_file, pred_path};

/// Rows scoring at least this must be identical and in place (`docs/upstream.md` §tolerances).
pub const STABLE_SCORE: f64 = 0.2;
/// Matching tolerance for boxes: one unit of the written `{:.1f}`.
pub const BOX_TOL: f64 = 0.1 + 1e-9;
/// Matching tolerance for scores: one unit of the written `{:.3f}`.
pub const SCORE_TOL: f64 = 0.001 + 1e-9;

/// The comparison of two prediction folders over a list of images.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Comparison {
    /// Files compared.
    pub files: usize,
    /// Files that are byte for byte identical.
    pub identical_files: usize,
    /// Files whose first line (the image) differs.
    pub header_mismatches: Vec<String>,
    /// Files whose box counts differ, with both counts.
    pub count_mismatches: Vec<(String, usize, usize)>,
    /// Files where a row scoring at least [`STABLE_SCORE`] differs or moved.
    pub stable_row_mismatches: Vec<String>,
    /// Rows of the reference over all files.
    pub rows: usize,
    /// Rows that are not at the same place with the same text.
    pub rows_moved_or_changed: usize,
    /// Reference rows with no counterpart within the tolerances (and ours without theirs).
    pub rows_unmatched: usize,
    /// The highest score among unmatched rows (0 when all match).
    pub max_unmatched_score: f64,
}

impl Comparison {
    /// Whether the two folders agree as far as different kernels allow: same headers, and every
    /// row above [`STABLE_SCORE`] identical and in place.
    pub fn stable_rows_agree(&self) -> bool {
        self.header_mismatches.is_empty() && self.stable_row_mismatches.is_empty()
    }
}

/// Compares `ours` with `reference` (both `<dir>/<event>/<name>.txt`) for every image of `jobs`.
pub fn compare_dirs(ours: &Path, reference: &Path, jobs: &[ImageJob]) -> Result<Comparison> {
    let mut c = Comparison::default();
    for job in jobs {
        let key = format!("{}/{}", job.event, job.name);
        let read = |dir: &Path| -> Result<(String, String)> {
            let path = pred_path(dir, &job.event, &job.name);
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let first = text.lines().next().unwrap_or_default().to_string();
            Ok((text, first))
        };
        let (a_text, a_first) = read(ours)?;
        let (b_text, b_first) = read(reference)?;
        c.files += 1;
        if a_text == b_text {
            c.identical_files += 1;
        }
        if a_first != b_first {
            c.header_mismatches.push(key.clone());
        }
        let (_, a) = parse_pred_file(&a_text, &pred_path(ours, &job.event, &job.name))?;
        let (_, b) = parse_pred_file(&b_text, &pred_path(reference, &job.event, &job.name))?;
        if a.len() != b.len() {
            c.count_mismatches.push((key.clone(), a.len(), b.len()));
        }
        c.rows += b.len();
        c.rows_moved_or_changed += b
            .iter()
            .enumerate()
            .filter(|(i, r)| a.get(*i) != Some(r))
            .count();
        let stable = |rows: &[[f64; 5]]| -> Vec<[f64; 5]> {
            rows.iter()
                .copied()
                .filter(|r| r[4] >= STABLE_SCORE)
                .collect()
        };
        // Files are sorted by descending score, so the stable rows are a prefix of each.
        if stable(&a) != stable(&b) {
            c.stable_row_mismatches.push(key);
        }
        let (unmatched, max_score) = unmatched_rows(&a, &b);
        c.rows_unmatched += unmatched;
        c.max_unmatched_score = c.max_unmatched_score.max(max_score);
    }
    Ok(c)
}

/// Rows of either side without a partner within the tolerances (greedy, by descending score),
/// and the highest score among them.
fn unmatched_rows(a: &[[f64; 5]], b: &[[f64; 5]]) -> (usize, f64) {
    let mut used = vec![false; a.len()];
    let mut unmatched = 0;
    let mut max_score = 0.0f64;
    for r in b {
        let partner = a.iter().enumerate().position(|(i, x)| {
            !used[i]
                && (x[4] - r[4]).abs() <= SCORE_TOL
                && (0..4).all(|k| (x[k] - r[k]).abs() <= BOX_TOL)
        });
        match partner {
            Some(i) => used[i] = true,
            None => {
                unmatched += 1;
                max_score = max_score.max(r[4]);
            }
        }
    }
    for (x, _) in a.iter().zip(&used).filter(|(_, u)| !**u) {
        unmatched += 1;
        max_score = max_score.max(x[4]);
    }
    (unmatched, max_score)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bfpgm_core::wider::preds::format_pred_file;

    fn write(dir: &Path, rows: &[[f64; 5]]) {
        let path = pred_path(dir, "0--Parade", "a_1");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, format_pred_file("0--Parade", "a_1", rows)).unwrap();
    }

    fn job() -> Vec<ImageJob> {
        vec![ImageJob {
            event: "0--Parade".into(),
            name: "a_1".into(),
            path: "a_1.jpg".into(),
        }]
    }

    #[test]
    fn low_rows_may_swap_and_move_but_stable_rows_may_not() {
        let (ours, theirs) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let high = [10.0, 10.0, 20.0, 20.0, 0.9];
        let low1 = [30.0, 30.0, 40.0, 40.0, 0.1092];
        let low2 = [50.0, 50.0, 60.0, 60.0, 0.1091];
        write(theirs.path(), &[high, low1, low2]);
        write(ours.path(), &[high, low2, low1]);
        let c = compare_dirs(ours.path(), theirs.path(), &job()).unwrap();
        assert_eq!((c.files, c.identical_files, c.rows), (1, 0, 3));
        assert_eq!(c.rows_moved_or_changed, 2);
        assert_eq!(c.rows_unmatched, 0);
        assert!(c.stable_rows_agree());

        // One low cluster more on our side: a count mismatch and one unmatched row.
        write(
            ours.path(),
            &[high, low1, low2, [70.0, 70.0, 80.0, 80.0, 0.1]],
        );
        let c = compare_dirs(ours.path(), theirs.path(), &job()).unwrap();
        assert_eq!(c.count_mismatches, [("0--Parade/a_1".to_string(), 4, 3)]);
        assert_eq!(c.rows_unmatched, 1);
        assert!((c.max_unmatched_score - 0.1).abs() < 1e-12);
        assert!(c.stable_rows_agree());

        // A moved box above the stable score is a real difference.
        write(ours.path(), &[[10.0, 10.2, 20.0, 20.0, 0.9], low1, low2]);
        let c = compare_dirs(ours.path(), theirs.path(), &job()).unwrap();
        assert_eq!(c.stable_row_mismatches, ["0--Parade/a_1"]);
        assert!(!c.stable_rows_agree());
        assert_eq!(c.rows_unmatched, 2);
    }
}
