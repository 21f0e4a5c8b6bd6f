//! From network outputs to detections: box encoding and decoding, softmax, the confidence
//! threshold, NMS and the caps (`docs/upstream.md` §decode, §detect; upstream
//! `layers/bbox_utils.py` and `layers/functions/detection.py`). Both detectors share it.
//!
//! Box formats, stated on every function:
//! * *priors*: `[P, 4]` `(cx, cy, w, h)`, normalised by the input size;
//! * *offsets*: `[P, 4]` `(dx, dy, dw, dh)`, the regression targets of the loc head;
//! * *boxes*: `[P, 4]` `(x1, y1, x2, y2)`, normalised to `[0, 1]` image coordinates (may exceed it).
//!
//! The arithmetic is upstream's, op for op in float32, so results match bit for bit with the same
//! libtorch. Candidates are ordered with libtorch's default **non-stable** sort, as upstream's
//! `scores.sort(0)`; among equal scores the order (and therefore which of two tied boxes
//! survives NMS, and which rows the 750 cap cuts) is whatever that sort gives.

use tch::{Device, Kind, Tensor};

/// `cfg.VARIANCE`: the scale of centre offsets and of log size ratios in the encoding.
pub const VARIANCE: [f64; 2] = [0.1, 0.2];

/// The detection step's settings (`cfg.CONF_THRESH`, `NMS_THRESH`, `NMS_TOP_K`, `TOP_K`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DetectConfig {
    /// Candidates need a face probability strictly above this (float32 compare).
    pub conf_thresh: f64,
    /// NMS keeps a box whose IoU with every kept box is at most this (float32 compare).
    pub nms_thresh: f64,
    /// Only the highest-scoring candidates enter NMS.
    pub nms_top_k: i64,
    /// At most this many detections are returned.
    pub top_k: i64,
}

/// Upstream's inference settings, identical for EResFD and EXTD.
pub const DETECT: DetectConfig = DetectConfig {
    conf_thresh: 0.05,
    nms_thresh: 0.3,
    nms_top_k: 5000,
    top_k: 750,
};

/// One detection: the face probability and a box in normalised `(x1, y1, x2, y2)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detection {
    /// Softmax probability of the face class.
    pub score: f32,
    /// Left edge, as a fraction of the input width.
    pub x1: f32,
    /// Top edge, as a fraction of the input height.
    pub y1: f32,
    /// Right edge, as a fraction of the input width.
    pub x2: f32,
    /// Bottom edge, as a fraction of the input height.
    pub y2: f32,
}

/// Offsets `[P, 4]` `(dx, dy, dw, dh)` + priors `[P, 4]` `(cx, cy, w, h)` → boxes `[P, 4]`
/// `(x1, y1, x2, y2)`, all normalised. No clamping, as upstream.
pub fn decode(loc: &Tensor, priors: &Tensor) -> Tensor {
    let p_xy = priors.narrow(1, 0, 2);
    let p_wh = priors.narrow(1, 2, 2);
    let cxy = &p_xy + (loc.narrow(1, 0, 2) * VARIANCE[0]) * &p_wh;
    let wh = &p_wh * (loc.narrow(1, 2, 2) * VARIANCE[1]).exp();
    let x1y1 = &cxy - &wh / 2.0;
    let x2y2 = &wh + &x1y1;
    Tensor::cat(&[x1y1, x2y2], 1)
}

/// Matched ground-truth boxes `[P, 4]` `(x1, y1, x2, y2)` + priors `[P, 4]` `(cx, cy, w, h)` →
/// regression targets `[P, 4]` `(dx, dy, dw, dh)`; the inverse of [`decode`], used by training.
pub fn encode(matched: &Tensor, priors: &Tensor) -> Tensor {
    let m_xy1 = matched.narrow(1, 0, 2);
    let m_xy2 = matched.narrow(1, 2, 2);
    let p_xy = priors.narrow(1, 0, 2);
    let p_wh = priors.narrow(1, 2, 2);
    let g_cxy = ((&m_xy1 + &m_xy2) / 2.0 - &p_xy) / (&p_wh * VARIANCE[0]);
    let g_wh = ((&m_xy2 - &m_xy1) / &p_wh).log() / VARIANCE[1];
    Tensor::cat(&[g_cxy, g_wh], 1)
}

/// Greedy NMS over boxes `[M, 4]` `(x1, y1, x2, y2)` with scores `[M]`, upstream's
/// `bbox_utils.nms`: the `top_k` highest scores (by the non-stable ascending sort) are visited
/// from the highest; a box is kept, and every remaining box whose IoU with it exceeds `overlap`
/// (or is NaN) is dropped. IoU uses areas without +1: `inter / ((area_r − inter) + area_i)`.
///
/// Returns the kept indices into `boxes`, by descending score, at most `max_keep` of them
/// (upstream keeps going and truncates afterwards; the kept prefix is the same).
///
/// Only the sort runs in libtorch, on the CPU whatever the tensors' device, so that equal scores
/// are visited in the order upstream's CPU run visits them; the suppression loop is
/// [`nms_sorted`] on host vectors, a few milliseconds where upstream's tensor loop takes tens.
pub fn nms(boxes: &Tensor, scores: &Tensor, overlap: f64, top_k: i64, max_keep: i64) -> Vec<i64> {
    let boxes = host_boxes(boxes);
    let order = visiting_order(&scores.to_device(Device::Cpu), top_k);
    let kept = nms_sorted(&boxes, &order, overlap as f32, max_keep.max(0) as usize);
    kept.into_iter().map(|i| i as i64).collect()
}

/// Boxes `[M, 4]` as host rows.
fn host_boxes(boxes: &Tensor) -> Vec<[f32; 4]> {
    let flat = Vec::<f32>::try_from(
        &boxes
            .to_device(Device::Cpu)
            .to_kind(Kind::Float)
            .contiguous()
            .view(-1),
    )
    .expect("a float tensor converts to Vec<f32>");
    flat.chunks_exact(4)
        .map(|c| [c[0], c[1], c[2], c[3]])
        .collect()
}

/// The NMS visiting order of CPU `scores` `[M]`: libtorch's default ascending sort (upstream's
/// `scores.sort(0)`, non-stable), its last `top_k` indices, highest score first.
fn visiting_order(scores: &Tensor, top_k: i64) -> Vec<usize> {
    let (_, order) = scores.sort(0, false);
    let order = Vec::<i64>::try_from(&order).expect("sort indices convert to Vec<i64>");
    order
        .iter()
        .rev()
        .take(top_k.max(0) as usize)
        .map(|&i| i as usize)
        .collect()
}

/// Greedy NMS on host boxes `(x1, y1, x2, y2)` visited in `order` (highest score first): the
/// arithmetic of upstream's tensor loop in float32, element for element, so the kept indices are
/// identical. `overlap` is the float32 threshold (torch compares a float32 IoU with the scalar
/// cast to float32). Stops after `max_keep` kept boxes.
///
/// The candidates are copied once into columns in visiting order and compacted in place after
/// each kept box, which keeps the survivors' order exactly as upstream's `masked_select` does.
pub fn nms_sorted(
    boxes: &[[f32; 4]],
    order: &[usize],
    overlap: f32,
    max_keep: usize,
) -> Vec<usize> {
    let n = order.len();
    let mut idx: Vec<usize> = order.to_vec();
    let mut x1: Vec<f32> = order.iter().map(|&i| boxes[i][0]).collect();
    let mut y1: Vec<f32> = order.iter().map(|&i| boxes[i][1]).collect();
    let mut x2: Vec<f32> = order.iter().map(|&i| boxes[i][2]).collect();
    let mut y2: Vec<f32> = order.iter().map(|&i| boxes[i][3]).collect();
    let mut area: Vec<f32> = (0..n).map(|k| (x2[k] - x1[k]) * (y2[k] - y1[k])).collect();
    let mut keep = Vec::new();
    let mut len = n;
    let mut head = 0;
    while head < len && keep.len() < max_keep {
        keep.push(idx[head]);
        let (bx1, by1, bx2, by2, barea) = (x1[head], y1[head], x2[head], y2[head], area[head]);
        let mut out = head + 1;
        for r in head + 1..len {
            let w = clamp_min(min_nan(x2[r], bx2) - max_nan(x1[r], bx1), 0.0);
            let h = clamp_min(min_nan(y2[r], by2) - max_nan(y1[r], by1), 0.0);
            let inter = w * h;
            let iou = inter / ((area[r] - inter) + barea);
            // `le` is false for NaN, so a NaN IoU drops the box, as upstream.
            if iou <= overlap {
                idx[out] = idx[r];
                x1[out] = x1[r];
                y1[out] = y1[r];
                x2[out] = x2[r];
                y2[out] = y2[r];
                area[out] = area[r];
                out += 1;
            }
        }
        len = out;
        head += 1;
    }
    keep
}

/// torch's `clamp_min` with a tensor bound (`maximum`): NaN in either operand gives NaN.
fn max_nan(a: f32, b: f32) -> f32 {
    if a.is_nan() || b.is_nan() {
        f32::NAN
    } else if a < b {
        b
    } else {
        a
    }
}

/// torch's `clamp_max` with a tensor bound (`minimum`): NaN in either operand gives NaN.
fn min_nan(a: f32, b: f32) -> f32 {
    if a.is_nan() || b.is_nan() {
        f32::NAN
    } else if a > b {
        b
    } else {
        a
    }
}

/// torch's `clamp_min` with a scalar bound: NaN stays NaN.
fn clamp_min(a: f32, bound: f32) -> f32 {
    if a < bound { bound } else { a }
}

/// The detection step for one image: loc `[1, P, 4]` offsets, conf `[1, P, 2]` logits
/// (background, face), priors `[P, 4]` `(cx, cy, w, h)` → rows `[K, 5]`
/// `(score, x1, y1, x2, y2)` (normalised boxes) by descending score, `K ≤ top_k`, on the CPU:
/// [`detections`] as a tensor.
pub fn detect(loc: &Tensor, conf: &Tensor, priors: &Tensor, cfg: &DetectConfig) -> Tensor {
    let rows = detections(loc, conf, priors, cfg);
    Tensor::from_slice(rows.as_flattened()).view([rows.len() as i64, 5])
}

/// The detection step for one image as host rows `[score, x1, y1, x2, y2]` (normalised boxes),
/// by descending score, at most `top_k` of them; the inputs are as for [`detect`], on any device.
///
/// Softmax over the two classes; candidates with face probability `> conf_thresh` keep prior
/// order; NMS as [`nms`]. Decoding, softmax and the threshold run where the tensors are; only the
/// candidates cross to the host, once. No candidate gives no rows (upstream EResFD crashes there,
/// EXTD returns zero rows).
pub fn detections(
    loc: &Tensor,
    conf: &Tensor,
    priors: &Tensor,
    cfg: &DetectConfig,
) -> Vec<[f32; 5]> {
    let p = priors.size()[0];
    let boxes = decode(&loc.view([p, 4]), priors);
    let scores = conf.view([p, 2]).softmax(-1, None::<Kind>).select(1, 1);
    let mask = scores.gt(cfg.conf_thresh);
    let scores = scores.masked_select(&mask).to_device(Device::Cpu);
    if scores.size()[0] == 0 {
        return Vec::new();
    }
    let boxes = host_boxes(
        &boxes
            .masked_select(&mask.unsqueeze(1).expand_as(&boxes))
            .view([-1, 4]),
    );
    let order = visiting_order(&scores, cfg.nms_top_k);
    let scores = Vec::<f32>::try_from(&scores).expect("scores convert to Vec<f32>");
    let kept = nms_sorted(
        &boxes,
        &order,
        cfg.nms_thresh as f32,
        cfg.top_k.max(0) as usize,
    );
    kept.into_iter()
        .map(|i| {
            let b = boxes[i];
            [scores[i], b[0], b[1], b[2], b[3]]
        })
        .collect()
}

/// Rows `[K, 5]` `(score, x1, y1, x2, y2)` as [`Detection`]s.
pub fn to_detections(rows: &Tensor) -> Vec<Detection> {
    let v = Vec::<f32>::try_from(&rows.to_kind(Kind::Float).contiguous().view(-1))
        .expect("a float tensor converts to Vec<f32>");
    v.chunks_exact(5)
        .map(|r| Detection {
            score: r[0],
            x1: r[1],
            y1: r[2],
            x2: r[3],
            y2: r[4],
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The obviously correct NMS: the same float32 arithmetic on plain vectors, given the visiting
    /// order (upstream's sort order reversed).
    fn reference_nms(boxes: &[[f32; 4]], order_desc: &[usize], overlap: f32) -> Vec<usize> {
        let area = |b: &[f32; 4]| (b[2] - b[0]) * (b[3] - b[1]);
        let mut remaining: Vec<usize> = order_desc.to_vec();
        let mut keep = Vec::new();
        while let Some((&i, rest)) = remaining.split_first() {
            keep.push(i);
            let bi = boxes[i];
            remaining = rest
                .iter()
                .copied()
                .filter(|&r| {
                    let br = boxes[r];
                    let w = (br[2].min(bi[2]) - br[0].max(bi[0])).max(0.0);
                    let h = (br[3].min(bi[3]) - br[1].max(bi[1])).max(0.0);
                    let inter = w * h;
                    let iou = inter / ((area(&br) - inter) + area(&bi));
                    iou <= overlap
                })
                .collect();
        }
        keep
    }

    #[test]
    fn nms_equals_the_plain_loop_on_random_boxes() {
        tch::manual_seed(7);
        for case in 0..20 {
            let m = 50 + case * 37;
            let xy = Tensor::rand([m, 2], tch::kind::FLOAT_CPU);
            let wh = Tensor::rand([m, 2], tch::kind::FLOAT_CPU) * 0.3;
            let boxes = Tensor::cat(&[&xy, &(&xy + &wh)], 1);
            // Coarse scores so that ties occur, as they do in real outputs.
            let scores = (Tensor::rand([m], tch::kind::FLOAT_CPU) * 20.0).floor() / 20.0;
            let top_k = if case % 2 == 0 { m } else { m / 2 };
            let got = nms(&boxes, &scores, 0.3, top_k, i64::MAX);

            let b: Vec<[f32; 4]> = Vec::<f32>::try_from(&boxes.view(-1))
                .unwrap()
                .chunks(4)
                .map(|c| [c[0], c[1], c[2], c[3]])
                .collect();
            let (_, order) = scores.sort(0, false);
            let order: Vec<usize> = Vec::<i64>::try_from(&order)
                .unwrap()
                .iter()
                .map(|&i| i as usize)
                .collect();
            let visit: Vec<usize> = order.iter().rev().take(top_k as usize).copied().collect();
            let expected = reference_nms(&b, &visit, 0.3f32);
            let got: Vec<usize> = got.iter().map(|&i| i as usize).collect();
            assert_eq!(got, expected, "case {case}");
            assert!(!got.is_empty());
        }
    }

    #[test]
    fn nms_stops_at_the_cap_with_the_same_prefix() {
        tch::manual_seed(3);
        let xy = Tensor::rand([300, 2], tch::kind::FLOAT_CPU);
        let boxes = Tensor::cat(&[&xy, &(&xy + 0.05)], 1);
        let scores = Tensor::rand([300], tch::kind::FLOAT_CPU);
        let all = nms(&boxes, &scores, 0.3, 5000, i64::MAX);
        let capped = nms(&boxes, &scores, 0.3, 5000, 10);
        assert!(all.len() > 10);
        assert_eq!(capped, all[..10]);
    }

    #[test]
    fn decode_inverts_encode() {
        tch::manual_seed(1);
        let priors = Tensor::cat(
            &[
                Tensor::rand([100, 2], tch::kind::FLOAT_CPU),
                Tensor::rand([100, 2], tch::kind::FLOAT_CPU) * 0.5 + 0.01,
            ],
            1,
        );
        let xy = Tensor::rand([100, 2], tch::kind::FLOAT_CPU);
        let gt = Tensor::cat(
            &[
                &xy,
                &(&xy + Tensor::rand([100, 2], tch::kind::FLOAT_CPU) * 0.4 + 0.01),
            ],
            1,
        );
        let back = decode(&encode(&gt, &priors), &priors);
        let err = (&back - &gt).abs().max().double_value(&[]);
        assert!(err < 1e-5, "round trip error {err}");
    }

    #[test]
    fn decode_of_zero_offsets_is_the_prior_box() {
        let priors = Tensor::from_slice(&[0.5f32, 0.25, 0.2, 0.1]).view([1, 4]);
        let boxes = decode(&Tensor::zeros([1, 4], tch::kind::FLOAT_CPU), &priors);
        assert_eq!(
            Vec::<f32>::try_from(&boxes.view(-1)).unwrap(),
            [0.4, 0.2, 0.6, 0.3]
        );
    }

    #[test]
    fn no_candidate_gives_no_detection() {
        let priors = Tensor::from_slice(&[0.5f32, 0.5, 0.1, 0.1]).view([1, 4]);
        let loc = Tensor::zeros([1, 1, 4], tch::kind::FLOAT_CPU);
        let conf = Tensor::from_slice(&[10.0f32, -10.0]).view([1, 1, 2]);
        let rows = detect(&loc, &conf, &priors, &DETECT);
        assert_eq!(rows.size(), [0, 5]);
        assert!(to_detections(&rows).is_empty());
    }
}
