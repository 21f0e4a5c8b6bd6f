//! S3FD-style anchor matching (`layers/bbox_utils.py::match`, `docs/upstream.md` §matching), for a
//! whole batch at once on the device.
//!
//! Upstream loops over the images of a batch in Python; here all ground-truth boxes of a batch
//! are one `[T, 4]` tensor with the image each belongs to, their IoU with the priors is one
//! `[T, P]` matrix, and the per-image steps are segmented reductions (`scatter_reduce`; tch
//! names it `internal_scatter_reduce`) over it.
//! Nothing leaves the device and nothing waits for it. Per image, with thresholds
//! `(0.1, 0.35, 0.5)`:
//!
//! 1. IoU of every box with every prior (corner form, no `+1`);
//! 2. each box's best prior, each prior's best box (the first on ties);
//! 3. each box's best prior is forced to it (overlap 2; when boxes share a best prior, the later
//!    box wins);
//! 4. priors with overlap ≥ 0.35 are positive;
//! 5. the extra-anchor step: `N = (#{best overlap ≥ 0.35} + #{best overlap ≥ 0.5}) // 2` over the
//!    image's boxes, and the `N` unforced priors with the highest overlap in `(0.1, 0.35)` become
//!    positive too;
//! 6. regression targets: each prior's best box, encoded by [`crate::model::detect::encode`].
//!
//! Every face label is 1 (WIDER has one class), so a prior's class is "positive or not".

use tch::{Device, Kind, Tensor};

use crate::model::detect::encode;

/// `cfg.FACE.OVERLAP_THRESH`: the stage-2 floor, the positive threshold, and the threshold of
/// the "well matched" count.
pub const THRESHOLDS: [f64; 3] = [0.1, 0.35, 0.5];

/// The ground truth of a batch, flattened: what [`match_priors`] reads.
#[derive(Debug)]
pub struct Targets {
    /// `[T, 4]` boxes `(x1, y1, x2, y2)`, normalised, float32, image by image.
    pub boxes: Tensor,
    /// `[T]` int64: the batch position of each box's image.
    pub image: Tensor,
    /// Images in the batch (some may have no box).
    pub batch: i64,
}

impl Targets {
    /// Packs per-image normalised boxes on the host, in page-locked memory when `pin` names a
    /// CUDA device (the loader threads do this, so the copy to the device does not block).
    pub fn host(per_image: &[Vec<[f32; 4]>], pin: Option<Device>) -> Targets {
        let flat: Vec<f32> = per_image.iter().flatten().flatten().copied().collect();
        let image: Vec<i64> = per_image
            .iter()
            .enumerate()
            .flat_map(|(i, b)| std::iter::repeat_n(i as i64, b.len()))
            .collect();
        let mut boxes = Tensor::from_slice(&flat).view([image.len() as i64, 4]);
        let mut image = Tensor::from_slice(&image);
        if let Some(device) = pin {
            boxes = boxes.pin_memory(device);
            image = image.pin_memory(device);
        }
        Targets {
            boxes,
            image,
            batch: per_image.len() as i64,
        }
    }

    /// The targets on `device`, copied without waiting when the host tensors are pinned.
    pub fn to_device(&self, device: Device) -> Targets {
        Targets {
            boxes: self.boxes.to_device_(device, Kind::Float, true, false),
            image: self.image.to_device_(device, Kind::Int64, true, false),
            batch: self.batch,
        }
    }

    /// Packs per-image normalised boxes on `device`.
    pub fn new(per_image: &[Vec<[f32; 4]>], device: Device) -> Targets {
        Targets::host(per_image, None).to_device(device)
    }
}

/// What the loss needs from matching.
#[derive(Debug)]
pub struct Matched {
    /// `[B, P]` bool: positive priors.
    pub positive: Tensor,
    /// `[B, P, 4]` encoded regression targets (only meaningful where `positive`).
    pub loc: Tensor,
}

/// `(cx, cy, w, h)` → `(x1, y1, x2, y2)`.
fn point_form(priors: &Tensor) -> Tensor {
    let c = priors.narrow(1, 0, 2);
    let half = priors.narrow(1, 2, 2) / 2.0;
    Tensor::cat(&[&c - &half, &c + &half], 1)
}

/// `jaccard(a, b)`: `[A, 4] × [B, 4]` corner boxes → `[A, B]` IoU, as upstream computes it.
pub fn iou(a: &Tensor, b: &Tensor) -> Tensor {
    let (na, nb) = (a.size()[0], b.size()[0]);
    let a2 = a.unsqueeze(1);
    let b2 = b.unsqueeze(0);
    let max_xy = a2.narrow(2, 2, 2).minimum(&b2.narrow(2, 2, 2));
    let min_xy = a2.narrow(2, 0, 2).maximum(&b2.narrow(2, 0, 2));
    let wh = (max_xy - min_xy).clamp_min(0.0);
    let inter = wh.select(2, 0) * wh.select(2, 1);
    let area = |t: &Tensor| (t.select(1, 2) - t.select(1, 0)) * (t.select(1, 3) - t.select(1, 1));
    let union = area(a).unsqueeze(1).expand([na, nb], false) + area(b).unsqueeze(0) - &inter;
    inter / union
}

/// Matches the priors `[P, 4]` `(cx, cy, w, h)` of one input size against a batch's boxes.
pub fn match_priors(targets: &Targets, priors: &Tensor) -> Matched {
    let device = priors.device();
    let p = priors.size()[0];
    let b = targets.batch;
    let t = targets.boxes.size()[0];
    let [low, pos_th, well_th] = THRESHOLDS;
    if t == 0 {
        return Matched {
            positive: Tensor::zeros([b, p], (Kind::Bool, device)),
            loc: Tensor::zeros([b, p, 4], (Kind::Float, device)),
        };
    }
    let overlaps = iou(&targets.boxes, &point_form(priors)); // [T, P]
    let (best_prior_ov, best_prior) = overlaps.max_dim(1, false); // [T]

    // Each prior's best box within its image: the maximum over the image's rows, then the
    // first row attaining it.
    let rows = targets.image.unsqueeze(1).expand([t, p], false);
    let best_ov = Tensor::full([b, p], -1.0, (Kind::Float, device))
        .internal_scatter_reduce(0, &rows, &overlaps, "amax", true);
    let row_ids = Tensor::arange(t, (Kind::Int64, device)).unsqueeze(1);
    let attains = overlaps.eq_tensor(&best_ov.index_select(0, &targets.image));
    let candidate = row_ids
        .expand([t, p], false)
        .masked_fill(&attains.logical_not(), t);
    let mut best_box = Tensor::full([b, p], t, (Kind::Int64, device))
        .internal_scatter_reduce(0, &rows, &candidate, "amin", true);

    // Forcing: every box's best prior gets overlap 2 and that box (the last box wins ties).
    let forced_at = &targets.image * p + &best_prior; // [T], flat [B·P] indices
    let _ = best_ov.view([-1]).index_fill_(0, &forced_at, 2.0);
    let forced_box = Tensor::full([b * p], -1, (Kind::Int64, device)).internal_scatter_reduce(
        0,
        &forced_at,
        &row_ids.view([-1]),
        "amax",
        true,
    );
    best_box = forced_box
        .view([b, p])
        .where_self(&forced_box.view([b, p]).ge(0), &best_box);
    // Images without boxes keep the out-of-range marker; point them at any box (never used).
    best_box = best_box.clamp_max(t - 1);

    let mut positive = best_ov.ge(pos_th);

    // Stage 2: N per image, then the N best unforced priors in (0.1, 0.35).
    let well = best_prior_ov.ge(pos_th).to_kind(Kind::Int64)
        + best_prior_ov.ge(well_th).to_kind(Kind::Int64);
    let n = Tensor::zeros([b], (Kind::Int64, device))
        .index_add(0, &targets.image, &well)
        .floor_divide_scalar(2);
    let stage2 = best_ov.gt(low).logical_and(&best_ov.lt(pos_th));
    let ranked = best_ov.masked_fill(&stage2.logical_not(), 0.0);
    let order = ranked.argsort_stable(true, 1, true);
    let rank = Tensor::zeros([b, p], (Kind::Int64, device)).scatter(
        1,
        &order,
        &Tensor::arange(p, (Kind::Int64, device))
            .unsqueeze(0)
            .expand([b, p], false),
    );
    positive = positive.logical_or(&stage2.logical_and(&rank.lt_tensor(&n.unsqueeze(1))));

    let matched = targets.boxes.index_select(0, &best_box.view([-1]));
    let loc = encode(&matched, &priors.repeat([b, 1])).view([b, p, 4]);
    Matched { positive, loc }
}

#[cfg(test)]
mod tests;
