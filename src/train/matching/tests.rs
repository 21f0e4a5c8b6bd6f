//! Matching against hand-computed cases, and the batched tensor version against a plain
//! per-image loop written the way upstream's `match` reads.

use super::*;
use crate::model::detect::VARIANCE;
use crate::train::rng::{Rng, Stream};

/// Priors `(cx, cy, w, h)` of side 0.2: p0 `[0, 0, .2, .2]`, p1 `[.2, 0, .4, .2]`,
/// p2 `[.4, .4, .6, .6]`, p3 `[.6, .4, .8, .6]`, p4 `[.8, .8, 1, 1]`.
fn priors() -> Tensor {
    let rows: [[f32; 4]; 5] = [
        [0.1, 0.1, 0.2, 0.2],
        [0.3, 0.1, 0.2, 0.2],
        [0.5, 0.5, 0.2, 0.2],
        [0.7, 0.5, 0.2, 0.2],
        [0.9, 0.9, 0.2, 0.2],
    ];
    Tensor::from_slice(&rows.concat()).view([5, 4])
}

fn positives(m: &Matched) -> Vec<Vec<bool>> {
    let b = m.positive.size()[0];
    (0..b)
        .map(|i| Vec::<bool>::try_from(&m.positive.get(i)).unwrap())
        .collect()
}

fn loc(m: &Matched, image: i64, prior: i64) -> Vec<f32> {
    Vec::<f32>::try_from(&m.loc.get(image).get(prior)).unwrap()
}

/// `encode` of one box against one prior, by hand (`docs/upstream.md` §decode).
fn encoded(b: [f32; 4], p: [f32; 4]) -> [f32; 4] {
    let (v0, v1) = (VARIANCE[0] as f32, VARIANCE[1] as f32);
    [
        ((b[0] + b[2]) / 2.0 - p[0]) / (v0 * p[2]),
        ((b[1] + b[3]) / 2.0 - p[1]) / (v0 * p[3]),
        ((b[2] - b[0]) / p[2]).ln() / v1,
        ((b[3] - b[1]) / p[3]).ln() / v1,
    ]
}

fn close(a: &[f32], b: &[f32]) -> bool {
    a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-4)
}

#[test]
fn iou_is_computed_without_plus_one() {
    let a = Tensor::from_slice(&[0.45f32, 0.4, 0.65, 0.6]).view([1, 4]);
    let o = iou(&a, &point_form(&priors()));
    let v = Vec::<f32>::try_from(&o.view([-1])).unwrap();
    // p2: 0.03 / 0.05; p3: 0.01 / 0.07.
    assert!(close(&v, &[0.0, 0.0, 0.6, 1.0 / 7.0, 0.0]), "{v:?}");
}

#[test]
fn thresholds_and_the_extra_anchor_step() {
    // g0 = p0 exactly (IoU 1); g1 overlaps p2 by 0.6 and p3 by 1/7. N = (2 + 2) // 2 = 2, and p3
    // is the only candidate in (0.1, 0.35), so it becomes positive with g1 as its target.
    let g0 = [0.0f32, 0.0, 0.2, 0.2];
    let g1 = [0.45f32, 0.4, 0.65, 0.6];
    let t = Targets::new(&[vec![g0, g1]], Device::Cpu);
    let m = match_priors(&t, &priors());
    assert_eq!(positives(&m), [vec![true, false, true, true, false]]);
    assert!(close(&loc(&m, 0, 0), &[0.0; 4]));
    assert!(close(&loc(&m, 0, 3), &encoded(g1, [0.7, 0.5, 0.2, 0.2])));
}

#[test]
fn no_extra_anchors_without_a_well_matched_face() {
    // g1 alone: its 0.6 counts for both thresholds, N = (1 + 1) // 2 = 1, and p3 joins.
    let g1 = [0.45f32, 0.4, 0.65, 0.6];
    let m = match_priors(&Targets::new(&[vec![g1]], Device::Cpu), &priors());
    assert_eq!(positives(&m), [vec![false, false, true, true, false]]);
    // g: p2 0.03 / 0.085 = 0.353 (≥ 0.35, < 0.5) and p3 0.02 / 0.095 = 0.21, a candidate.
    // N = (1 + 0) // 2 = 0, so p3 stays negative.
    let g = [0.45f32, 0.35, 0.7, 0.65];
    let m = match_priors(&Targets::new(&[vec![g]], Device::Cpu), &priors());
    assert_eq!(positives(&m), [vec![false, false, true, false, false]]);
}

#[test]
fn every_face_is_forced_onto_its_best_prior_and_the_later_face_wins_a_shared_one() {
    // A face with best IoU 0.0526 (with p4) is positive on p4 anyway. Faces ga (IoU 1 with p2)
    // and gb (IoU 0.6 with p2) share p2: upstream's loop assigns p2 to the later one, gb.
    let small = [0.75f32, 0.75, 0.85, 0.85];
    let ga = [0.4f32, 0.4, 0.6, 0.6];
    let gb = [0.45f32, 0.4, 0.65, 0.6];
    let m = match_priors(
        &Targets::new(&[vec![small, ga, gb]], Device::Cpu),
        &priors(),
    );
    let pos = positives(&m);
    assert!(pos[0][4] && pos[0][2]);
    assert!(close(&loc(&m, 0, 4), &encoded(small, [0.9, 0.9, 0.2, 0.2])));
    assert!(close(&loc(&m, 0, 2), &encoded(gb, [0.5, 0.5, 0.2, 0.2])));
}

#[test]
fn images_are_matched_independently_and_an_image_without_faces_has_no_positive() {
    let g0 = [0.0f32, 0.0, 0.2, 0.2];
    let g1 = [0.45f32, 0.4, 0.65, 0.6];
    let t = Targets::new(&[vec![g1], vec![], vec![g0]], Device::Cpu);
    let m = match_priors(&t, &priors());
    assert_eq!(
        positives(&m),
        [
            vec![false, false, true, true, false],
            vec![false; 5],
            vec![true, false, false, false, false],
        ]
    );
    assert!(close(&loc(&m, 2, 0), &[0.0; 4]));
    let none = match_priors(&Targets::new(&[vec![], vec![]], Device::Cpu), &priors());
    assert_eq!(positives(&none), [vec![false; 5], vec![false; 5]]);
}

/// Upstream's `match` for one image, as plain loops over float32 values.
fn reference(boxes: &[[f32; 4]], priors: &[[f32; 4]]) -> (Vec<bool>, Vec<usize>) {
    let pf: Vec<[f32; 4]> = priors
        .iter()
        .map(|p| {
            let (hw, hh) = (p[2] / 2.0, p[3] / 2.0);
            [p[0] - hw, p[1] - hh, p[0] + hw, p[1] + hh]
        })
        .collect();
    let area = |b: &[f32; 4]| (b[2] - b[0]) * (b[3] - b[1]);
    let ov: Vec<Vec<f32>> = boxes
        .iter()
        .map(|g| {
            pf.iter()
                .map(|q| {
                    let w = (g[2].min(q[2]) - g[0].max(q[0])).max(0.0);
                    let h = (g[3].min(q[3]) - g[1].max(q[1])).max(0.0);
                    let inter = w * h;
                    inter / (area(g) + area(q) - inter)
                })
                .collect()
        })
        .collect();
    let argmax = |v: &mut dyn Iterator<Item = f32>| {
        v.enumerate().fold((0, f32::NEG_INFINITY), |best, (i, x)| {
            if x > best.1 { (i, x) } else { best }
        })
    };
    let best_prior: Vec<(usize, f32)> = ov
        .iter()
        .map(|row| argmax(&mut row.iter().copied()))
        .collect();
    let mut best_truth: Vec<(usize, f32)> = (0..priors.len())
        .map(|p| argmax(&mut ov.iter().map(|row| row[p])))
        .collect();
    for &(p, _) in &best_prior {
        best_truth[p].1 = 2.0;
    }
    for (g, &(p, _)) in best_prior.iter().enumerate() {
        best_truth[p].0 = g;
    }
    let n = (best_prior.iter().filter(|b| b.1 >= 0.35).count()
        + best_prior.iter().filter(|b| b.1 >= 0.5).count())
        / 2;
    let mut pos: Vec<bool> = best_truth.iter().map(|b| b.1 >= 0.35).collect();
    let mut cand: Vec<usize> = (0..priors.len())
        .filter(|&p| best_truth[p].1 > 0.1 && best_truth[p].1 < 0.35)
        .collect();
    cand.sort_by(|&a, &b| best_truth[b].1.total_cmp(&best_truth[a].1));
    for &p in cand.iter().take(n) {
        pos[p] = true;
    }
    (pos, best_truth.iter().map(|b| b.0).collect())
}

#[test]
fn the_batched_tensor_matching_equals_the_per_image_loop() {
    let pri = crate::model::priors::priors(64, 96, &crate::model::priors::ERESFD);
    let rows: Vec<[f32; 4]> = Vec::<f32>::try_from(&pri.view([-1]))
        .unwrap()
        .chunks(4)
        .map(|c| [c[0], c[1], c[2], c[3]])
        .collect();
    let mut rng = Rng::derive(11, Stream::Split, 0, 0);
    for case in 0..10 {
        let batch: Vec<Vec<[f32; 4]>> = (0..4)
            .map(|i| {
                let n = if (case + i) % 5 == 0 {
                    0
                } else {
                    1 + rng.below(6)
                };
                (0..n)
                    .map(|_| {
                        let (x, y) = (rng.uniform(0.0, 0.9), rng.uniform(0.0, 0.9));
                        let (w, h) = (rng.uniform(0.02, 0.5), rng.uniform(0.02, 0.5));
                        [x as f32, y as f32, (x + w) as f32, (y + h) as f32]
                    })
                    .collect()
            })
            .collect();
        let m = match_priors(&Targets::new(&batch, Device::Cpu), &pri);
        let got = positives(&m);
        for (i, boxes) in batch.iter().enumerate() {
            if boxes.is_empty() {
                assert!(got[i].iter().all(|&p| !p), "case {case} image {i}");
                continue;
            }
            let (pos, best) = reference(boxes, &rows);
            assert_eq!(got[i], pos, "case {case} image {i}");
            for (p, &g) in best.iter().enumerate().filter(|(p, _)| pos[*p]) {
                let want = encoded(boxes[g], rows[p]);
                assert!(
                    close(&loc(&m, i as i64, p as i64), &want),
                    "case {case} image {i} prior {p}"
                );
            }
        }
    }
}
