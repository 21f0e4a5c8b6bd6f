//! The official WIDER FACE AP protocol, exactly as upstream's `eval_tools/evaluation.py`
//! computes it (`docs/upstream.md` §ap; IoU 0.5, 1000 thresholds), quirks included.
//!
//! Per setting (easy, medium, hard), over the events and images in ground-truth order:
//!
//! 1. Scores are min-max normalised over **all** prediction files read, with the range widened
//!    to include 0 and 1 (`norm_score`).
//! 2. Each prediction, in file order, is matched to the face it overlaps most (first maximum,
//!    IoU with the +1 pixel convention on corners computed without it, `image_eval`). A match of at
//!    least 0.5 to a face outside the setting's keep list removes the prediction; a first match to
//!    a kept face recalls it; a second match to a recalled face stays a false positive.
//! 3. For each threshold `1 − (t+1)/1000`, the image contributes the proposals and recalled
//!    faces up to the **last** prediction in file order whose score passes it (`img_pr_info`), so
//!    an unsorted file is scored as upstream scores it.
//! 4. `voc_ap` integrates the NaN-propagating precision envelope and sums with numpy's pairwise
//!    summation (§numpy-sum).
//!
//! The per-image work is shared between the settings, since only the keep lists differ, and the
//! threshold sweep is a difference array over the 1000 thresholds instead of upstream's
//! 1000 passes over every file. `#[cfg(test)]` keeps a literal transcription of upstream's
//! loops, and the tests compare the two bit for bit.
//!
//! What happens to images without a prediction file is a [`MissingPolicy`]. Upstream wraps each
//! event in a bare `except`, so a missing event silently drops its faces and a missing image
//! silently ends its event; [`MissingPolicy::Upstream`] reproduces that (it is how the reference
//! APs of `$BFPGM_REFERENCE/reference/outputs/eval_*` were made). The `except` would also catch a
//! division by zero in the Cython overlap kernel, but that cannot happen: an overlap is only
//! computed when `iw > 0` and `ih > 0`, which forces both boxes to have a positive extent of at
//! least `iw` and `ih`, so the union is at least the larger box area (or +inf for absurd
//! predictions, giving overlap 0). With integer ground truth and finite predictions no overlap is
//! NaN either.

use std::fmt;

use anyhow::{Result, bail};
use serde::Serialize;

use super::gt::{GroundTruth, Setting};
use super::numpy;
use super::preds::{ImagePreds, Predictions};
use crate::zoo::ApTriple;

/// Upstream's `iou_thresh`.
pub const IOU_THRESH: f64 = 0.5;
/// Upstream's `thresh_num`: points of the PR curve.
pub const THRESH_NUM: usize = 1000;

/// What to do with ground-truth images that have no prediction file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MissingPolicy {
    /// Refuse to evaluate, naming the first image without predictions.
    Error,
    /// Evaluate only the images that have predictions: in each event keep those images, drop
    /// events with none, then run the official protocol unchanged (the rule of
    /// `shared/fixtures/upstream-mini-ap.json`).
    Subset,
    /// Upstream's bare `except`: a missing event is skipped, and a missing image skips the rest
    /// of its event (its faces and those of the later images are not counted).
    Upstream,
}

impl fmt::Display for MissingPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MissingPolicy::Error => "error",
            MissingPolicy::Subset => "subset",
            MissingPolicy::Upstream => "upstream",
        })
    }
}

/// The result for one setting.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SettingResult {
    /// Which setting.
    pub setting: Setting,
    /// Average precision, as upstream's `voc_ap` returns it.
    pub ap: f64,
    /// Faces that count in this setting over the images evaluated (the recall denominator).
    pub count_face: u64,
    /// 1000 points `[precision, recall]`, threshold 0.999 first (upstream's `pr_curve`, the
    /// content of its `wider_pr_info_*.mat`). Precision is NaN where no prediction passes.
    pub pr_curve: Vec<[f64; 2]>,
}

/// APs and PR curves of the three settings, with what was evaluated.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evaluation {
    /// How images without predictions were handled.
    pub missing: MissingPolicy,
    /// Ground-truth images considered (after the subset rule).
    pub images: usize,
    /// Of those, the images whose faces were counted.
    pub images_counted: usize,
    /// Prediction files read, including any for images outside the ground truth.
    pub prediction_files: usize,
    /// The normalisation range `[min, max]` of the scores (`norm_score`).
    pub score_range: [f64; 2],
    /// Easy, medium, hard.
    pub settings: Vec<SettingResult>,
}

impl Evaluation {
    /// The AP of one setting.
    pub fn ap(&self, setting: Setting) -> f64 {
        self.settings[setting.index()].ap
    }

    /// The three APs, as the registry and the reports record them.
    pub fn aps(&self) -> ApTriple {
        ApTriple {
            easy: self.ap(Setting::Easy),
            medium: self.ap(Setting::Medium),
            hard: self.ap(Setting::Hard),
        }
    }
}

/// `norm_score`'s range: `max(0, all scores)` and `min(1, all scores)` over every file read.
fn score_range(preds: &Predictions) -> [f64; 2] {
    let (mut lo, mut hi) = (1.0f64, 0.0f64);
    for p in preds.events.values().flat_map(|images| images.values()) {
        for r in &p.rows {
            lo = lo.min(r[4]);
            hi = hi.max(r[4]);
        }
    }
    [lo, hi]
}

/// The thresholds `1 − (t+1)/1000`, in float64 as Python computes them.
fn thresholds() -> Vec<f64> {
    (0..THRESH_NUM)
        .map(|t| 1.0 - (t + 1) as f64 / THRESH_NUM as f64)
        .collect()
}

/// The ground truth restricted to the images that have predictions (the subset rule).
pub fn subset(gt: &GroundTruth, preds: &Predictions) -> GroundTruth {
    let events = gt
        .events
        .iter()
        .filter_map(|e| {
            let images: Vec<_> = e
                .images
                .iter()
                .filter(|i| preds.get(&e.name, &i.name).is_some())
                .cloned()
                .collect();
            (!images.is_empty()).then(|| super::gt::Event {
                name: e.name.clone(),
                images,
            })
        })
        .collect();
    GroundTruth {
        source: format!(
            "{} (subset with predictions in {})",
            gt.source,
            preds.dir.display()
        ),
        events,
    }
}

/// Fails on the first ground-truth image, in evaluation order, that has no prediction file.
fn require_complete(gt: &GroundTruth, preds: &Predictions) -> Result<()> {
    let missing = gt
        .events
        .iter()
        .flat_map(|e| e.images.iter().map(move |i| (e, i)))
        .filter(|(e, i)| preds.get(&e.name, &i.name).is_none());
    let mut first = None;
    let mut count = 0usize;
    for (e, i) in missing {
        first.get_or_insert((e, i));
        count += 1;
    }
    if let Some((e, i)) = first {
        bail!(
            "no prediction for {ev}/{im}: expected a file in {dir}/{ev}/ whose first line is \
             '{ev}/{im}.jpg' (e.g. {im}.txt); {count} of {total} images have none. Evaluate only \
             the images with predictions with --subset",
            ev = e.name,
            im = i.name,
            dir = preds.dir.display(),
            total = gt.image_count(),
        );
    }
    Ok(())
}

/// Evaluates predictions against ground truth with the easy/medium/hard keep lists.
pub fn evaluate(
    gt: &GroundTruth,
    preds: &Predictions,
    missing: MissingPolicy,
) -> Result<Evaluation> {
    if let Some((e, i)) = gt
        .events
        .iter()
        .flat_map(|e| e.images.iter().map(move |i| (e, i)))
        .find(|(_, i)| i.keep.is_none())
    {
        bail!(
            "{}: image {}/{} has no easy/medium/hard face lists; evaluation needs the four \
             wider_*_val.mat files of the evaluation kit",
            gt.source,
            e.name,
            i.name
        );
    }
    let restricted;
    let gt = match missing {
        MissingPolicy::Error => {
            require_complete(gt, preds)?;
            gt
        }
        MissingPolicy::Subset => {
            restricted = subset(gt, preds);
            if restricted.events.is_empty() {
                bail!(
                    "none of the {} prediction files in {} names an image of {}",
                    preds.image_count(),
                    preds.dir.display(),
                    gt.source
                );
            }
            &restricted
        }
        MissingPolicy::Upstream => gt,
    };

    let range = score_range(preds);
    let norm = Normaliser::new(range);
    let thr = thresholds();
    let mut curves = [Counts::default(), Counts::default(), Counts::default()];
    let mut scratch = Scratch::default();
    let mut images_counted = 0;
    for event in &gt.events {
        let Some(event_preds) = preds.events.get(&event.name) else {
            continue;
        };
        for image in &event.images {
            let Some(p) = event_preds.get(&image.name) else {
                break;
            };
            images_counted += 1;
            let keep = image.keep.as_ref().expect("checked above");
            for (c, k) in curves.iter_mut().zip(keep) {
                c.count_face += k.len() as u64;
            }
            if image.boxes.is_empty() || p.rows.is_empty() {
                continue;
            }
            scratch.match_image(p, &image.boxes, &norm, &thr);
            for (c, k) in curves.iter_mut().zip(keep) {
                c.add_image(&mut scratch, k, image.boxes.len());
            }
        }
    }

    let settings = Setting::ALL
        .iter()
        .zip(curves)
        .map(|(&setting, counts)| {
            let pr_curve = counts.curve();
            SettingResult {
                setting,
                ap: voc_ap(&pr_curve),
                count_face: counts.count_face,
                pr_curve,
            }
        })
        .collect();
    Ok(Evaluation {
        missing,
        images: gt.image_count(),
        images_counted,
        prediction_files: preds.image_count(),
        score_range: range,
        settings,
    })
}

/// Whether a normalised score counts at a threshold (`pred_info[:, 4] >= thresh`); a NaN score,
/// which a zero score range produces, never does.
fn passes(score: f64, threshold: f64) -> bool {
    score >= threshold
}

/// `(score − min) / (max − min)`, float64, as `norm_score` rewrites the scores in place.
struct Normaliser {
    min: f64,
    diff: f64,
}

impl Normaliser {
    fn new([min, max]: [f64; 2]) -> Normaliser {
        Normaliser {
            min,
            diff: max - min,
        }
    }

    fn apply(&self, score: f64) -> f64 {
        (score - self.min) / self.diff
    }
}

/// `min(a, b)` as Cython compiles it for C doubles in `box_overlaps.pyx`.
fn c_min(a: f64, b: f64) -> f64 {
    if b < a { b } else { a }
}

/// `max(a, b)` as Cython compiles it for C doubles.
fn c_max(a: f64, b: f64) -> f64 {
    if b > a { b } else { a }
}

/// Marks a prediction that matched no face at IoU 0.5.
const UNMATCHED: u32 = u32::MAX;

/// Per-image results shared by the three settings, reused across images.
#[derive(Default)]
struct Scratch {
    /// Per prediction: the face with the largest overlap if it reaches 0.5, else `UNMATCHED`.
    matched: Vec<u32>,
    /// Per prediction h: the first threshold index that the last of the predictions h.. passes,
    /// i.e. the threshold from which the "last passing prediction" is at least h; `THRESH_NUM`
    /// if none passes.
    from_t: Vec<u16>,
    /// Per face: 0 = not recalled, 1 = recalled, 2 = an ignored face was matched (upstream's −1).
    recall: Vec<u8>,
    /// Per face: whether it counts in the current setting.
    kept: Vec<bool>,
}

impl Scratch {
    /// `image_eval`'s overlap step (`bbox_overlaps` and the argmax) and the threshold levels.
    fn match_image(&mut self, p: &ImagePreds, gt: &[[i32; 4]], norm: &Normaliser, thr: &[f64]) {
        self.matched.clear();
        for r in &p.rows {
            // Corners without −1, the overlap with +1 (`bbox_overlaps`), in Cython's order.
            let (px1, py1, px2, py2) = (r[0], r[1], r[2] + r[0], r[3] + r[1]);
            let p_area = (px2 - px1 + 1.0) * (py2 - py1 + 1.0);
            let mut best = 0.0f64;
            let mut best_g = 0u32;
            for (g, b) in gt.iter().enumerate() {
                let (gx1, gy1) = (f64::from(b[0]), f64::from(b[1]));
                let (gx2, gy2) = (f64::from(b[2]) + gx1, f64::from(b[3]) + gy1);
                let iw = c_min(px2, gx2) - c_max(px1, gx1) + 1.0;
                if iw <= 0.0 {
                    continue;
                }
                let ih = c_min(py2, gy2) - c_max(py1, gy1) + 1.0;
                if ih <= 0.0 {
                    continue;
                }
                let g_area = (gx2 - gx1 + 1.0) * (gy2 - gy1 + 1.0);
                let ua = p_area + g_area - iw * ih;
                let ov = iw * ih / ua;
                // numpy's argmax: the first maximum; faces without overlap count as 0.
                if ov > best {
                    best = ov;
                    best_g = g as u32;
                }
            }
            self.matched.push(if best >= IOU_THRESH {
                best_g
            } else {
                UNMATCHED
            });
        }
        // from_t[h] = min over h' >= h of the first threshold index h' passes.
        self.from_t.clear();
        self.from_t.extend(p.rows.iter().map(|r| {
            let s = norm.apply(r[4]);
            thr.partition_point(|&th| !passes(s, th)) as u16
        }));
        for h in (0..self.from_t.len().saturating_sub(1)).rev() {
            self.from_t[h] = self.from_t[h].min(self.from_t[h + 1]);
        }
    }
}

/// Upstream's `pr_curve` accumulator for one setting, as difference arrays over thresholds.
struct Counts {
    count_face: u64,
    /// Step changes of the proposal count (`pr_curve[:, 0]`) per threshold.
    proposals: Vec<u64>,
    /// Step changes of the recalled-face count (`pr_curve[:, 1]`) per threshold.
    recalled: Vec<u64>,
}

impl Default for Counts {
    fn default() -> Counts {
        Counts {
            count_face: 0,
            proposals: vec![0; THRESH_NUM],
            recalled: vec![0; THRESH_NUM],
        }
    }
}

impl Counts {
    /// `image_eval`'s matching loop and `img_pr_info` for one image and one setting.
    ///
    /// At threshold t upstream adds the proposals among predictions `0..=r` and the faces
    /// recalled by prediction r, where r is the last prediction passing t. Since r(t) ≥ h
    /// exactly from `from_t[h]` on, prediction h adds its own proposal and newly recalled face
    /// to every threshold from `from_t[h]`.
    fn add_image(&mut self, s: &mut Scratch, keep: &[u32], faces: usize) {
        s.kept.clear();
        s.kept.resize(faces, false);
        for &k in keep {
            s.kept[k as usize] = true;
        }
        s.recall.clear();
        s.recall.resize(faces, 0);
        for (&g, &t) in s.matched.iter().zip(&s.from_t) {
            let mut proposal = 1;
            let mut new_face = 0;
            if g != UNMATCHED {
                let g = g as usize;
                if !s.kept[g] {
                    s.recall[g] = 2;
                    proposal = 0;
                } else if s.recall[g] == 0 {
                    s.recall[g] = 1;
                    new_face = 1;
                }
            }
            if let Some(slot) = self.proposals.get_mut(t as usize) {
                *slot += proposal;
                self.recalled[t as usize] += new_face;
            }
        }
    }

    /// `dataset_pr_info`: `[recalled / proposals, recalled / count_face]` per threshold.
    fn curve(&self) -> Vec<[f64; 2]> {
        let (mut proposals, mut recalled) = (0u64, 0u64);
        (0..THRESH_NUM)
            .map(|t| {
                proposals += self.proposals[t];
                recalled += self.recalled[t];
                let (p, r) = (proposals as f64, recalled as f64);
                [r / p, r / self.count_face as f64]
            })
            .collect()
    }
}

/// Upstream's `voc_ap` on a curve of `[precision, recall]` rows.
///
/// Sentinels `(0, 0)` and `(1, 0)` for recall and precision, the precision envelope from the
/// right with NaN-propagating `np.maximum`, then `Σ Δrecall · precision` over the points where
/// recall changes, summed by numpy's pairwise algorithm.
pub fn voc_ap(curve: &[[f64; 2]]) -> f64 {
    let mrec: Vec<f64> = std::iter::once(0.0)
        .chain(curve.iter().map(|c| c[1]))
        .chain(std::iter::once(1.0))
        .collect();
    let mut mpre: Vec<f64> = std::iter::once(0.0)
        .chain(curve.iter().map(|c| c[0]))
        .chain(std::iter::once(0.0))
        .collect();
    for i in (1..mpre.len()).rev() {
        mpre[i - 1] = numpy::maximum(mpre[i - 1], mpre[i]);
    }
    let terms: Vec<f64> = (0..mrec.len() - 1)
        .filter(|&i| mrec[i + 1] != mrec[i])
        .map(|i| (mrec[i + 1] - mrec[i]) * mpre[i + 1])
        .collect();
    numpy::sum(&terms)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::path::{Path, PathBuf};

    use super::*;
    use crate::testutil::npy::Npy;
    use crate::testutil::{mirror_file, reference_file};
    use crate::wider::gt::{Event, Image, ValMatFiles};

    /// Upstream's `evaluation()` transcribed loop for loop (numpy calls spelled out), with the
    /// bare `except` as `continue 'events`. The fast path must agree with it bit for bit.
    fn evaluate_literal(gt: &GroundTruth, preds: &Predictions) -> Vec<(f64, u64, Vec<[f64; 2]>)> {
        let mut pred = preds.clone();
        // norm_score
        let (mut max_score, mut min_score) = (0.0f64, 1.0f64);
        for v in pred.events.values().flat_map(|k| k.values()) {
            if v.rows.is_empty() {
                continue;
            }
            let col = v.rows.iter().map(|r| r[4]);
            let _min = col.clone().fold(f64::INFINITY, f64::min);
            let _max = col.fold(f64::NEG_INFINITY, f64::max);
            max_score = if max_score > _max { max_score } else { _max };
            min_score = if min_score < _min { min_score } else { _min };
        }
        let diff = max_score - min_score;
        for v in pred.events.values_mut().flat_map(|k| k.values_mut()) {
            for r in &mut v.rows {
                r[4] = (r[4] - min_score) / diff;
            }
        }
        let mut out = Vec::new();
        for setting in Setting::ALL {
            let mut count_face = 0u64;
            let mut pr_curve = vec![[0.0f64; 2]; THRESH_NUM];
            'events: for event in &gt.events {
                let Some(pred_list) = pred.events.get(&event.name) else {
                    continue;
                };
                for image in &event.images {
                    let Some(pred_info) = pred_list.get(&image.name) else {
                        continue 'events;
                    };
                    let gt_boxes: Vec<[f64; 4]> =
                        image.boxes.iter().map(|b| b.map(f64::from)).collect();
                    let keep_index = &image.keep.as_ref().unwrap()[setting.index()];
                    count_face += keep_index.len() as u64;
                    if gt_boxes.is_empty() || pred_info.rows.is_empty() {
                        continue;
                    }
                    let mut ignore = vec![0.0; gt_boxes.len()];
                    for &k in keep_index {
                        ignore[k as usize] = 1.0;
                    }
                    let (pred_recall, proposal_list) =
                        image_eval(&pred_info.rows, &gt_boxes, &ignore, IOU_THRESH);
                    let img = img_pr_info(&pred_info.rows, &proposal_list, &pred_recall);
                    for (acc, x) in pr_curve.iter_mut().zip(img) {
                        acc[0] += x[0];
                        acc[1] += x[1];
                    }
                }
            }
            // dataset_pr_info
            let curve: Vec<[f64; 2]> = pr_curve
                .iter()
                .map(|c| [c[1] / c[0], c[1] / count_face as f64])
                .collect();
            out.push((voc_ap(&curve), count_face, curve));
        }
        out
    }

    fn bbox_overlaps(boxes: &[[f64; 4]], query: &[[f64; 4]]) -> Vec<Vec<f64>> {
        let mut overlaps = vec![vec![0.0; query.len()]; boxes.len()];
        for (k, q) in query.iter().enumerate() {
            let box_area = (q[2] - q[0] + 1.0) * (q[3] - q[1] + 1.0);
            for (n, b) in boxes.iter().enumerate() {
                let iw = c_min(b[2], q[2]) - c_max(b[0], q[0]) + 1.0;
                if iw > 0.0 {
                    let ih = c_min(b[3], q[3]) - c_max(b[1], q[1]) + 1.0;
                    if ih > 0.0 {
                        let ua = (b[2] - b[0] + 1.0) * (b[3] - b[1] + 1.0) + box_area - iw * ih;
                        assert_ne!(ua, 0.0, "upstream would raise ZeroDivisionError");
                        overlaps[n][k] = iw * ih / ua;
                    }
                }
            }
        }
        overlaps
    }

    fn image_eval(
        pred: &[[f64; 5]],
        gt: &[[f64; 4]],
        ignore: &[f64],
        iou_thresh: f64,
    ) -> (Vec<f64>, Vec<f64>) {
        let mut pred_recall = vec![0.0; pred.len()];
        let mut recall_list = vec![0.0; gt.len()];
        let mut proposal_list = vec![1.0; pred.len()];
        let p: Vec<[f64; 4]> = pred
            .iter()
            .map(|r| [r[0], r[1], r[2] + r[0], r[3] + r[1]])
            .collect();
        let g: Vec<[f64; 4]> = gt
            .iter()
            .map(|r| [r[0], r[1], r[2] + r[0], r[3] + r[1]])
            .collect();
        let overlaps = bbox_overlaps(&p, &g);
        for h in 0..pred.len() {
            let gt_overlap = &overlaps[h];
            let max_overlap = gt_overlap
                .iter()
                .copied()
                .fold(f64::NEG_INFINITY, numpy::maximum);
            let max_idx = gt_overlap.iter().position(|&o| o == max_overlap).unwrap();
            if max_overlap >= iou_thresh {
                if ignore[max_idx] == 0.0 {
                    recall_list[max_idx] = -1.0;
                    proposal_list[h] = -1.0;
                } else if recall_list[max_idx] == 0.0 {
                    recall_list[max_idx] = 1.0;
                }
            }
            pred_recall[h] = recall_list.iter().filter(|&&r| r == 1.0).count() as f64;
        }
        (pred_recall, proposal_list)
    }

    fn img_pr_info(pred: &[[f64; 5]], proposal_list: &[f64], pred_recall: &[f64]) -> Vec<[f64; 2]> {
        (0..THRESH_NUM)
            .map(|t| {
                let thresh = 1.0 - (t + 1) as f64 / THRESH_NUM as f64;
                match pred.iter().rposition(|r| r[4] >= thresh) {
                    None => [0.0, 0.0],
                    Some(r) => [
                        proposal_list[..=r].iter().filter(|&&p| p == 1.0).count() as f64,
                        pred_recall[r],
                    ],
                }
            })
            .collect()
    }

    /// Bitwise equality that treats NaN as equal to NaN.
    fn same(a: f64, b: f64) -> bool {
        a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
    }

    fn assert_same_as_literal(gt: &GroundTruth, preds: &Predictions, what: &str) {
        let fast = evaluate(gt, preds, MissingPolicy::Upstream).unwrap();
        let literal = evaluate_literal(gt, preds);
        for (f, (ap, count_face, curve)) in fast.settings.iter().zip(literal) {
            assert!(
                same(f.ap, ap),
                "{what} {}: AP {} vs literal {ap}",
                f.setting,
                f.ap
            );
            assert_eq!(f.count_face, count_face, "{what} {}", f.setting);
            for (t, (a, b)) in f.pr_curve.iter().zip(&curve).enumerate() {
                assert!(
                    same(a[0], b[0]) && same(a[1], b[1]),
                    "{what} {} t={t}: {a:?} vs {b:?}",
                    f.setting
                );
            }
        }
    }

    /// xorshift64: deterministic test data without a dependency.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    /// A random ground truth and predictions with everything the protocol must get right:
    /// unsorted files, tied scores, degenerate and duplicate boxes, empty files, faces matched
    /// twice, missing events and images, and files for images outside the ground truth.
    fn random_case(seed: u64) -> (GroundTruth, Predictions) {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let mut events = Vec::new();
        let mut preds = Predictions {
            dir: PathBuf::from("random"),
            events: HashMap::new(),
        };
        for e in 0..1 + rng.below(6) {
            let name = format!("{e}--Event");
            let mut images = Vec::new();
            let mut files = HashMap::new();
            for j in 0..1 + rng.below(5) {
                let m = rng.below(12) as usize;
                let boxes: Vec<[i32; 4]> = (0..m)
                    .map(|_| {
                        let w = rng.below(60) as i32 - 2;
                        let h = rng.below(60) as i32 - 2;
                        [rng.below(120) as i32, rng.below(120) as i32, w, h]
                    })
                    .collect();
                let keep = [0, 1, 2].map(|_| {
                    (0..m as u32)
                        .filter(|_| rng.below(3) > 0)
                        .collect::<Vec<u32>>()
                });
                let image = format!("img_{e}_{j}");
                let n = rng.below(16) as usize;
                let rows: Vec<[f64; 5]> = (0..n)
                    .map(|_| {
                        let score = rng.below(40) as f64 * 0.025 + 0.001 * rng.below(3) as f64;
                        if m > 0 && rng.below(4) > 0 {
                            let b = boxes[rng.below(m as u64) as usize];
                            let jit = |r: &mut Rng| (r.below(9) as f64 - 4.0) * 0.5;
                            [
                                f64::from(b[0]) + jit(&mut rng),
                                f64::from(b[1]) + jit(&mut rng),
                                f64::from(b[2]) + jit(&mut rng),
                                f64::from(b[3]) + jit(&mut rng),
                                score,
                            ]
                        } else {
                            let v = |r: &mut Rng, k: u64| r.below(k) as f64 * 0.5 - 2.0;
                            [
                                v(&mut rng, 240),
                                v(&mut rng, 240),
                                v(&mut rng, 100),
                                v(&mut rng, 100),
                                score,
                            ]
                        }
                    })
                    .collect();
                if rng.below(8) > 0 {
                    files.insert(
                        image.clone(),
                        ImagePreds {
                            file: PathBuf::from(&image),
                            rows,
                        },
                    );
                }
                images.push(Image {
                    name: image,
                    boxes,
                    keep: Some(keep),
                });
            }
            if rng.below(5) == 0 {
                files.insert(
                    "not_in_gt".into(),
                    ImagePreds {
                        file: "x".into(),
                        rows: vec![[0.0, 0.0, 5.0, 5.0, 1.7]],
                    },
                );
            }
            if rng.below(6) > 0 {
                preds.events.insert(name.clone(), files);
            }
            events.push(Event { name, images });
        }
        (
            GroundTruth {
                source: format!("random {seed}"),
                events,
            },
            preds,
        )
    }

    #[test]
    fn fast_path_equals_the_literal_transcription() {
        for seed in 0..400 {
            let (gt, preds) = random_case(seed);
            assert_same_as_literal(&gt, &preds, &format!("seed {seed}"));
        }
    }

    fn val_gt() -> Option<GroundTruth> {
        let face = mirror_file("wider_face_val.mat")?;
        Some(GroundTruth::load_val(&ValMatFiles::in_dir(face.parent().unwrap())).unwrap())
    }

    /// Unpacks a reference `.tar.gz` of predictions into a temporary folder, returned with the
    /// folder that holds the events.
    fn unpack(archive: &Path) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let events = crate::wider::preds::unpack_predictions(archive, dir.path()).unwrap();
        (dir, events)
    }

    #[test]
    fn reference_case_matches_upstream_bit_for_bit() {
        let Some(gt) = val_gt() else { return };
        let Some(outputs) = reference_file("reference/outputs") else {
            return;
        };
        let (_dir, events) = unpack(&outputs.join("eval_synth_preds.tar.gz"));
        let preds = Predictions::read_dir(&events).unwrap();
        let result: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(outputs.join("eval_result.json")).unwrap(),
        )
        .unwrap();
        let eval = evaluate(&gt, &preds, MissingPolicy::Upstream).unwrap();
        for s in Setting::ALL {
            let expected = result["aps_easy_medium_hard"][s.index()].as_f64().unwrap();
            assert_eq!(
                eval.ap(s).to_bits(),
                expected.to_bits(),
                "{s}: {} vs {expected}",
                eval.ap(s)
            );
            let curve = Npy::read(&outputs.join(format!("eval_{s}_pr_curve.npy"))).unwrap();
            assert!(!curve.is_f32());
            let curve = curve.rows::<2>();
            assert_eq!(curve.len(), THRESH_NUM);
            for (t, (a, b)) in eval.settings[s.index()]
                .pr_curve
                .iter()
                .zip(&curve)
                .enumerate()
            {
                assert!(
                    same(a[0], b[0]) && same(a[1], b[1]),
                    "{s} t={t}: {a:?} vs {b:?}"
                );
            }
            // voc_ap alone, on upstream's own curve.
            assert_eq!(voc_ap(&curve).to_bits(), expected.to_bits());
        }
        assert_same_as_literal(&gt, &preds, "eval_synth_preds");
        // The missing image of 10--People_Marching (index 4) ends that event under upstream's
        // rule; the subset rule would evaluate the rest of the event and differ.
        let subset = evaluate(&gt, &preds, MissingPolicy::Subset).unwrap();
        assert!(subset.images_counted > eval.images_counted);
    }

    #[test]
    fn error_policy_names_the_first_missing_image_in_mat_order() {
        let Some(gt) = val_gt() else { return };
        let Some(outputs) = reference_file("reference/outputs") else {
            return;
        };
        let (_dir, events) = unpack(&outputs.join("eval_synth_preds.tar.gz"));
        let preds = Predictions::read_dir(&events).unwrap();
        let err = evaluate(&gt, &preds, MissingPolicy::Error)
            .unwrap_err()
            .to_string();
        // 0--Parade and 1--Handshaking are complete; image 4 of 10--People_Marching is absent.
        let missing = &gt.events[2].images[4];
        assert!(
            err.starts_with(&format!(
                "no prediction for 10--People_Marching/{}:",
                missing.name
            )),
            "{err}"
        );
        assert!(
            err.contains(&format!("{} of 3226 images have none", 3226 - 200)),
            "{err}"
        );
    }

    #[test]
    fn subset_keeps_only_images_with_predictions() {
        let (gt, mut preds) = random_case(7);
        preds
            .events
            .values_mut()
            .for_each(|images| images.retain(|k, _| k.ends_with('1')));
        let sub = subset(&gt, &preds);
        assert!(sub.events.iter().all(|e| !e.images.is_empty()));
        for e in &sub.events {
            for i in &e.images {
                assert!(preds.get(&e.name, &i.name).is_some());
            }
        }
        let expected = gt
            .events
            .iter()
            .flat_map(|e| e.images.iter().map(move |i| (e, i)))
            .filter(|(e, i)| preds.get(&e.name, &i.name).is_some())
            .count();
        assert_eq!(sub.image_count(), expected);
    }

    #[test]
    fn ground_truth_without_keep_lists_is_refused() {
        let (mut gt, preds) = random_case(3);
        gt.events[0].images[0].keep = None;
        let err = evaluate(&gt, &preds, MissingPolicy::Upstream)
            .unwrap_err()
            .to_string();
        assert!(err.contains("no easy/medium/hard face lists"), "{err}");
    }

    #[test]
    fn voc_ap_keeps_nan_in_the_envelope_but_not_in_the_ap() {
        // Precision is NaN where no prediction passes; recall is 0 there, so the AP is finite.
        let mut curve = vec![[f64::NAN, 0.0]; 10];
        curve.extend((1..=10).map(|k| [1.0 / k as f64, k as f64 / 20.0]));
        let ap = voc_ap(&curve);
        assert!(ap.is_finite());
        let expected: Vec<f64> = (1..=10).map(|k| 0.05 * (1.0 / k as f64)).collect();
        assert_eq!(ap.to_bits(), numpy::sum(&expected).to_bits());
    }
}
