//! Upstream's inference protocol for one WIDER image (`wider_test.py`, `docs/upstream.md`
//! §test-protocol): single scale, flip, multi-scale, then box voting.
//!
//! The detector is a closure, so this module knows nothing about networks: it receives an
//! [`RgbImage`] (the resized or flipped pass input) and returns the detector's rows
//! `[score, x1, y1, x2, y2]` with coordinates normalised to that input, exactly what upstream's
//! `net(x)` + `Detect` give in `detections[0, 1]` (zero padding included; it is removed by the
//! score threshold).
//!
//! Per image of width W and height H, with `m = sqrt(1700·1200 / (H·W))` ([`Schedule`]):
//!
//! 1. `det0`: one pass at `shrink = min(m, 1)`;
//! 2. `det1`: the same on the mirrored image, mirrored back as `W − x` (no −1);
//! 3. `det2`: a pass at ½ (or `m/2` for large images) keeping only boxes larger than 30 px;
//! 4. `det3`: passes at `min(2, m)`, doubling while below `m`, and at `m` itself, keeping only
//!    boxes smaller than 100 px once the last scale exceeds 1 (else larger than 30 px);
//! 5. all rows, in that order, go through [`bbox_vote`] ([`vote`]).
//!
//! Arithmetic follows numpy 1.24's types: pixel coordinates are float32 (`W · x / s`, multiply
//! first), the size filters are float32, the flip is a float32 subtraction stored as float64,
//! and the voting is float64. Python's int/float distinction in the scales (`shrink = 1` is an
//! `int`, `min(2, m)` may return the `int` 2) changes no value: the ints are small and exact,
//! numpy casts them to the same float32 as the floats, and `s != 1` compares values.

pub mod vote;

use anyhow::{Result, bail};

use crate::resize::{flip_horizontal, output_size, resize_linear};
use bfpgm_core::imageio::RgbImage;
use vote::bbox_vote;

/// Upstream's `thresh`: detector rows below this score are dropped (float32 comparison).
pub const SCORE_THRESH: f32 = 0.05;

/// The pixel budget in `max_im_shrink = sqrt(1700·1200 / (H·W))`.
const MAX_PIXELS: f64 = 1700.0 * 1200.0;

/// The scales of every pass for one image size, in upstream's call order.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    /// `sqrt(1700·1200 / (H·W))`, float64.
    pub max_im_shrink: f64,
    /// The single-scale (and flip) factor: `max_im_shrink` if below 1, else 1 (no resize).
    pub shrink: f64,
    /// The shrunk pass of `multi_scale_test` (`st`), for large faces.
    pub small: f64,
    /// The enlarged passes of `multi_scale_test` (`bt`, `2·bt`, …, `max_im_shrink`), in order.
    pub enlarge: Vec<f64>,
    /// Whether the enlarged passes keep only small faces (`< 100` px; the last `bt` is above 1)
    /// rather than large ones (`> 30` px).
    pub enlarge_keeps_small: bool,
}

impl Schedule {
    /// The schedule of an image of `width` × `height` pixels.
    pub fn for_size(width: usize, height: usize) -> Schedule {
        let m = (MAX_PIXELS / (height as f64 * width as f64)).sqrt();
        let shrink = if m < 1.0 { m } else { 1.0 };
        let small = if m >= 0.75 { 0.5 } else { 0.5 * m };
        let mut bt = if m > 1.0 {
            m.min(2.0)
        } else {
            (small + m) / 2.0
        };
        let mut enlarge = vec![bt];
        if m > 2.0 {
            bt *= 2.0;
            while bt < m {
                enlarge.push(bt);
                bt *= 2.0;
            }
            enlarge.push(m);
        }
        Schedule {
            max_im_shrink: m,
            shrink,
            small,
            enlarge,
            enlarge_keeps_small: bt > 1.0,
        }
    }

    /// Every pass as `(scale, flipped)`, in call order.
    pub fn passes(&self) -> Vec<(f64, bool)> {
        let mut passes = vec![
            (self.shrink, false),
            (self.shrink, true),
            (self.small, false),
        ];
        passes.extend(self.enlarge.iter().map(|&s| (s, false)));
        passes
    }
}

/// The four detection sets of upstream's `eval_wider` before voting, rows
/// `[x1, y1, x2, y2, score]` in pixels of the original image.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Passes {
    /// Single scale (float32).
    pub det0: Vec<[f32; 5]>,
    /// Flipped, mapped back (float64 holding float32 results).
    pub det1: Vec<[f64; 5]>,
    /// Shrunk pass, large boxes only (float32).
    pub det2: Vec<[f32; 5]>,
    /// Enlarged passes, size-filtered (float32).
    pub det3: Vec<[f32; 5]>,
}

impl Passes {
    /// `np.row_stack((det0, det1, det2, det3))`, as float64.
    pub fn stacked(&self) -> Vec<[f64; 5]> {
        let widen = |r: &[f32; 5]| r.map(f64::from);
        self.det0
            .iter()
            .map(widen)
            .chain(self.det1.iter().copied())
            .chain(self.det2.iter().map(widen))
            .chain(self.det3.iter().map(widen))
            .collect()
    }
}

/// Runs every pass of the protocol with `detect` and returns the detections before voting.
pub fn run_passes<F>(img: &RgbImage, detect: &mut F) -> Result<Passes>
where
    F: FnMut(&RgbImage) -> Result<Vec<[f32; 5]>>,
{
    let schedule = Schedule::for_size(img.width, img.height);
    let det0 = detect_face(img, schedule.shrink, detect)?;
    let w = img.width as f32;
    let det1 = detect_face(&flip_horizontal(img), schedule.shrink, detect)?
        .iter()
        .map(|r| [w - r[2], r[1], w - r[0], r[3], r[4]].map(f64::from))
        .collect();
    let mut det2 = detect_face(img, schedule.small, detect)?;
    det2.retain(|r| side(r, f32::max) > 30.0);
    let mut det3 = Vec::new();
    for &s in &schedule.enlarge {
        det3.extend(detect_face(img, s, detect)?);
    }
    if schedule.enlarge_keeps_small {
        det3.retain(|r| side(r, f32::min) < 100.0);
    } else {
        det3.retain(|r| side(r, f32::max) > 30.0);
    }
    Ok(Passes {
        det0,
        det1,
        det2,
        det3,
    })
}

/// The whole protocol: every pass, then box voting. Returns at most 750 boxes
/// `[x1, y1, x2, y2, score]`, highest score first, ready for [`bfpgm_core::wider::preds::write_pred_file`].
pub fn detect_image<F>(img: &RgbImage, detect: &mut F) -> Result<Vec<[f64; 5]>>
where
    F: FnMut(&RgbImage) -> Result<Vec<[f32; 5]>>,
{
    Ok(bbox_vote(&run_passes(img, detect)?.stacked()))
}

/// The larger (`f32::max`) or smaller (`f32::min`) of a box's sides with the +1 convention.
fn side(r: &[f32; 5], pick: fn(f32, f32) -> f32) -> f32 {
    pick(r[2] - r[0] + 1.0, r[3] - r[1] + 1.0)
}

/// Upstream's `detect_face`: one pass at scale `s`, rows `[x1, y1, x2, y2, score]` in pixels of
/// the unscaled image, scores of at least 0.05 only.
fn detect_face<F>(img: &RgbImage, s: f64, detect: &mut F) -> Result<Vec<[f32; 5]>>
where
    F: FnMut(&RgbImage) -> Result<Vec<[f32; 5]>>,
{
    let resized;
    let input = if s != 1.0 {
        let (w, h) = output_size(img.width, img.height, s, s);
        if w == 0 || h == 0 {
            bail!(
                "a {}x{} image is too small for the pass at scale {s} (it would be {w}x{h})",
                img.width,
                img.height
            );
        }
        resized = resize_linear(img, s, s);
        &resized
    } else {
        img
    };
    let rows = detect(input)?;
    // Scaled by the *resized* size and divided by s, in float32: not exactly the original
    // frame when round(W·s) ≠ W·s, as upstream.
    let (w, h, s) = (input.width as f32, input.height as f32, s as f32);
    Ok(rows
        .iter()
        .map(|r| [w * r[1] / s, h * r[2] / s, w * r[3] / s, h * r[4] / s, r[0]])
        .filter(|r| r[4] >= SCORE_THRESH)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bfpgm_core::testutil::npy::{Npy, NpyData};
    use bfpgm_core::testutil::reference_file;

    fn info(run: &str) -> Option<serde_json::Value> {
        let path = reference_file(&format!("reference/outputs/{run}_info.json"))?;
        Some(serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap())
    }

    const RUNS: [(&str, usize, usize); 3] = [
        ("eresfd-original_pipeline_320x320", 320, 320),
        ("extd-original_pipeline_320x320", 320, 320),
        ("eresfd-original_pipeline_250x333", 333, 250),
    ];

    #[test]
    fn schedule_matches_the_reference_runs() {
        for (run, w, h) in RUNS {
            let Some(info) = info(run) else { return };
            let schedule = Schedule::for_size(w, h);
            assert_eq!(
                schedule.max_im_shrink,
                info["max_im_shrink"].as_f64().unwrap(),
                "{run}"
            );
            assert_eq!(schedule.shrink, info["shrink"].as_f64().unwrap(), "{run}");
            let calls: Vec<f64> = info["calls"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["shrink"].as_f64().unwrap())
                .collect();
            let scales: Vec<f64> = schedule.passes().iter().map(|p| p.0).collect();
            assert_eq!(scales, calls, "{run}");
            // The last enlarged scale doubled past m (8 > 1): only small faces are kept.
            assert!(schedule.enlarge_keeps_small);
        }
    }

    #[test]
    fn typical_and_large_images_follow_the_documented_rules() {
        // A typical WIDER image: m ≈ 1.7, passes 1, 1 flipped, 0.5, m and no doubling.
        let s = Schedule::for_size(1024, 683);
        assert!((1.6..1.8).contains(&s.max_im_shrink));
        assert_eq!(
            s.passes(),
            [
                (1.0, false),
                (1.0, true),
                (0.5, false),
                (s.max_im_shrink, false)
            ]
        );
        assert!(s.enlarge_keeps_small);
        // Above 1700·1200 pixels every pass shrinks, and the enlarged pass keeps large faces.
        let s = Schedule::for_size(3000, 2000);
        let m = s.max_im_shrink;
        assert!(m < 0.75);
        assert_eq!(s.shrink, m);
        assert_eq!(s.small, 0.5 * m);
        assert_eq!(s.enlarge, [(0.5 * m + m) / 2.0]);
        assert!(!s.enlarge_keeps_small);
    }

    fn image(width: usize, height: usize) -> RgbImage {
        let data = (0..width * height * 3)
            .map(|i| (i * 7 % 251) as u8)
            .collect();
        RgbImage::new(width, height, data).unwrap()
    }

    #[test]
    fn passes_see_the_reference_inputs_and_det0_matches() {
        for (run, w, h) in &RUNS[..2] {
            let Some(info) = info(run) else { return };
            let model = run.split("_pipeline").next().unwrap();
            let dir = reference_file("reference/outputs").unwrap();
            // The recorded network output of the single-scale pass, `detections[0, 1]`.
            let raw = Npy::read(&dir.join(format!("{model}_320x320_detections.npy"))).unwrap();
            assert_eq!(raw.shape, [1, 2, 750, 5]);
            let NpyData::F32(values) = &raw.data else {
                panic!("detections are float32")
            };
            let rows: Vec<[f32; 5]> = values[750 * 5..]
                .chunks_exact(5)
                .map(|c| [c[0], c[1], c[2], c[3], c[4]])
                .collect();
            let img = image(*w, *h);
            let calls = info["calls"].as_array().unwrap();
            let mut seen = Vec::new();
            let mut detect = |input: &RgbImage| -> Result<Vec<[f32; 5]>> {
                let call = &calls[seen.len()];
                let hw = &call["resized_hw"];
                assert_eq!(
                    [input.height, input.width],
                    [0, 1].map(|k| hw[k].as_u64().unwrap() as usize)
                );
                seen.push(input.clone());
                Ok(rows.clone())
            };
            let passes = run_passes(&img, &mut detect).unwrap();
            assert_eq!(seen.len(), calls.len());
            assert_eq!(seen[0], img, "shrink 1 passes the image unchanged");
            assert_eq!(seen[1], flip_horizontal(&img));
            assert_eq!(seen[2], resize_linear(&img, 0.5, 0.5));

            let det0 = Npy::read(&dir.join(format!("{run}_det0.npy"))).unwrap();
            assert!(det0.is_f32());
            assert_eq!(
                passes.det0.len(),
                calls[0]["n_det"].as_u64().unwrap() as usize
            );
            let expected = det0.rows::<5>();
            assert_eq!(passes.det0.len(), expected.len());
            for (a, b) in passes.det0.iter().zip(&expected) {
                assert_eq!(a.map(f64::from), *b, "{run}");
            }
            // The same rows on the flipped pass come back mirrored, without −1.
            for (f, d) in passes.det1.iter().zip(&passes.det0) {
                let w = *w as f32;
                assert_eq!(*f, [w - d[2], d[1], w - d[0], d[3], d[4]].map(f64::from));
            }
            assert!(passes.det2.iter().all(|r| side(r, f32::max) > 30.0));
            assert!(passes.det3.iter().all(|r| side(r, f32::min) < 100.0));
            let stacked = passes.stacked();
            assert_eq!(
                stacked.len(),
                passes.det0.len() + passes.det1.len() + passes.det2.len() + passes.det3.len()
            );
            let voted = detect_image(&img, &mut |_: &RgbImage| Ok(rows.clone())).unwrap();
            assert_eq!(voted, bbox_vote(&stacked));
        }
    }

    #[test]
    fn scores_below_the_threshold_and_padding_are_dropped() {
        let img = image(16, 12);
        let mut detect = |_: &RgbImage| -> Result<Vec<[f32; 5]>> {
            Ok(vec![
                [0.9, 0.1, 0.2, 0.5, 0.6],
                [0.05, 0.0, 0.0, 0.5, 0.5],
                [0.0499, 0.0, 0.0, 1.0, 1.0],
                [0.0; 5],
            ])
        };
        let passes = run_passes(&img, &mut detect).unwrap();
        // m = sqrt(2040000 / 192) > 2: shrink 1, so pixels are 16·x and 12·y.
        assert_eq!(
            passes.det0,
            [
                [16.0 * 0.1, 12.0 * 0.2, 16.0 * 0.5, 12.0 * 0.6, 0.9],
                [0.0, 0.0, 8.0, 6.0, 0.05]
            ]
        );
    }

    #[test]
    fn a_detector_error_or_a_tiny_image_is_an_error() {
        let mut failing = |_: &RgbImage| -> Result<Vec<[f32; 5]>> { bail!("out of memory") };
        assert!(run_passes(&image(8, 8), &mut failing).is_err());
        // 2200 x 1 pixels: the half-size pass would be 0 pixels high.
        let mut ok = |_: &RgbImage| -> Result<Vec<[f32; 5]>> { Ok(Vec::new()) };
        let err = run_passes(&image(2200, 1), &mut ok)
            .unwrap_err()
            .to_string();
        assert!(err.contains("too small"), "{err}");
    }
}
