//! Box voting: how upstream merges the detections of all passes of one image
//! (`wider_test.py::bbox_vote`, `docs/upstream.md` §bbox-vote).
//!
//! Rows `[x1, y1, x2, y2, score]` (pixels of the original image, float64) are sorted by score,
//! highest first, with numpy's unstable sort. Then, repeatedly, the first remaining row takes
//! every remaining row whose IoU with it (+1 pixel convention) is at least 0.3; the cluster
//! becomes one box, the score-weighted mean of its members with their highest score, and leaves
//! the list. A row that clusters with nothing but itself is dropped, so isolated detections never
//! reach the output. At most 750 boxes are kept, in cluster order (descending score).
//!
//! Bit-for-bit parity depends on three numpy details, all taken from [`bfpgm_core::wider::numpy`]: the order
//! of equal scores after `argsort` (it picks the cluster seeds and the summation order), the
//! sequential column sum of the weighted coordinates starting from `+0.0`, and the pairwise sum
//! of the weights.

use bfpgm_core::wider::numpy;

/// Upstream's cap on the boxes written per image.
pub const MAX_BOXES: usize = 750;

/// IoU at which a row joins the current cluster.
pub const VOTE_IOU: f64 = 0.3;

/// Votes the stacked detections of all passes into the final boxes `[x1, y1, x2, y2, score]`.
///
/// Where upstream would crash (no cluster with two members: `dets` is never assigned), this
/// returns no boxes.
pub fn bbox_vote(det: &[[f64; 5]]) -> Vec<[f64; 5]> {
    let scores: Vec<f64> = det.iter().map(|d| d[4]).collect();
    let mut rest: Vec<[f64; 5]> = numpy::argsort(&scores)
        .into_iter()
        .rev()
        .map(|i| det[i])
        .collect();
    let mut out = Vec::new();
    let mut members = Vec::new();
    let mut others = Vec::with_capacity(rest.len());
    while let Some(&seed) = rest.first() {
        let seed_area = area(&seed);
        members.clear();
        others.clear();
        for d in &rest {
            let w = numpy::maximum(
                0.0,
                numpy::minimum(seed[2], d[2]) - numpy::maximum(seed[0], d[0]) + 1.0,
            );
            let h = numpy::maximum(
                0.0,
                numpy::minimum(seed[3], d[3]) - numpy::maximum(seed[1], d[1]) + 1.0,
            );
            let inter = w * h;
            let o = inter / (seed_area + area(d) - inter);
            if o >= VOTE_IOU {
                members.push(*d);
            } else {
                others.push(*d);
            }
        }
        std::mem::swap(&mut rest, &mut others);
        if members.len() <= 1 {
            continue;
        }
        let mut weighted = [0.0f64; 4];
        for m in &members {
            for (acc, &x) in weighted.iter_mut().zip(&m[..4]) {
                *acc += x * m[4];
            }
        }
        let weights: Vec<f64> = members.iter().map(|m| m[4]).collect();
        let total = numpy::sum(&weights);
        let best = weights
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, numpy::maximum);
        out.push([
            weighted[0] / total,
            weighted[1] / total,
            weighted[2] / total,
            weighted[3] / total,
            best,
        ]);
    }
    out.truncate(MAX_BOXES);
    out
}

/// `(x2 − x1 + 1)·(y2 − y1 + 1)`.
fn area(d: &[f64; 5]) -> f64 {
    (d[2] - d[0] + 1.0) * (d[3] - d[1] + 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bfpgm_core::testutil::npy::Npy;
    use bfpgm_core::testutil::reference_file;
    use bfpgm_core::wider::preds::format_pred_file;

    #[test]
    fn votes_the_reference_passes_into_upstreams_boxes_and_file() {
        for run in [
            "eresfd-original_pipeline_320x320",
            "extd-original_pipeline_320x320",
        ] {
            let Some(dir) = reference_file("reference/outputs") else {
                return;
            };
            let read = |part: &str| Npy::read(&dir.join(format!("{run}_{part}.npy"))).unwrap();
            // np.row_stack((det0, det1, det2, det3)): float32 and float64 parts, as float64.
            let det: Vec<[f64; 5]> = ["det0", "det1", "det2", "det3"]
                .iter()
                .flat_map(|p| read(p).rows::<5>())
                .collect();
            let dets = bbox_vote(&det);
            let expected = read("dets").rows::<5>();
            assert_eq!(dets.len(), expected.len(), "{run}");
            for (k, (a, b)) in dets.iter().zip(&expected).enumerate() {
                assert!(
                    a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits()),
                    "{run} row {k}: {a:?} vs {b:?}"
                );
            }
            let txt = std::fs::read_to_string(dir.join(format!("{run}.txt"))).unwrap();
            assert_eq!(
                format_pred_file("synthetic", "synthetic_320x320", &dets),
                txt,
                "{run}"
            );
        }
    }

    #[test]
    fn a_cluster_needs_two_members() {
        // Two overlapping rows and one isolated row: one voted box, the isolated row is gone.
        let det = [
            [10.0, 10.0, 29.0, 29.0, 0.9],
            [100.0, 100.0, 120.0, 120.0, 0.95],
            [12.0, 10.0, 31.0, 29.0, 0.6],
        ];
        let out = bbox_vote(&det);
        assert_eq!(out.len(), 1);
        let mean = |a: f64, b: f64| (0.0 + a * 0.9 + b * 0.6) / (0.0 + 0.9 + 0.6);
        assert_eq!(
            out[0],
            [mean(10.0, 12.0), 10.0, mean(29.0, 31.0), 29.0, 0.9]
        );
        assert!(bbox_vote(&det[1..2]).is_empty());
        assert!(bbox_vote(&[]).is_empty());
    }

    #[test]
    fn output_is_capped_and_ordered_by_cluster_score() {
        // 800 separate pairs of identical boxes.
        let det: Vec<[f64; 5]> = (0..1600)
            .map(|i| {
                let k = (i / 2) as f64;
                [k * 50.0, 0.0, k * 50.0 + 9.0, 9.0, 0.1 + k / 1000.0]
            })
            .collect();
        let out = bbox_vote(&det);
        assert_eq!(out.len(), MAX_BOXES);
        assert!(out.windows(2).all(|w| w[0][4] > w[1][4]));
        assert_eq!(out[0][0], 799.0 * 50.0);
    }
}
