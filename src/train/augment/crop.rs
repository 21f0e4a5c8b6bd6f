//! The geometric transforms of `docs/upstream.md` §augmentation: expansion, the SSD-style square
//! crop (§square-crop), the data-anchor-sampling crop (§anchor-crop) and the flip, each with
//! upstream's parameters and its box bookkeeping. Boxes are `[x1, y1, x2, y2]` in float64,
//! normalised to the image they belong to unless a function says pixels.

use super::resample::{CvInterp, Window, crop, cv_resize_window, cv_source_region};
use crate::train::rng::Rng;
use bfpgm_core::imageio::RgbImage;

/// Upstream's padding colour: `cfg.img_mean` (104, 117, 123), a BGR mean, written into the R, G
/// and B slots of an RGB image (`docs/upstream.md` §anchor-crop, an upstream quirk kept as is).
pub const PAD: [u8; 3] = [104, 117, 123];

/// A normalised box.
pub type Box4 = [f64; 4];

/// Area of a normalised box, zero when inverted (`bbox_area`).
fn area(b: &Box4) -> f64 {
    if b[2] < b[0] || b[3] < b[1] {
        0.0
    } else {
        (b[2] - b[0]) * (b[3] - b[1])
    }
}

/// The fraction of `object` inside `sample` (`bbox_coverage`).
fn coverage(object: &Box4, sample: &Box4) -> f64 {
    if sample[0] > object[2]
        || sample[2] < object[0]
        || sample[1] > object[3]
        || sample[3] < object[1]
    {
        return 0.0;
    }
    let inter = [
        object[0].max(sample[0]),
        object[1].max(sample[1]),
        object[2].min(sample[2]),
        object[3].min(sample[3]),
    ];
    let a = area(&inter);
    if a > 0.0 { a / area(object) } else { 0.0 }
}

/// Re-expresses the boxes whose centre lies in `sample` (inclusive) in its coordinates, clipped
/// to `[0, 1]`; boxes that end up empty are dropped, and so are those with
/// `(w·min_scale)·(h·min_scale) < min_area` when a minimum is given (`transform_labels` and
/// `transform_labels_sampling`).
fn project(boxes: &[Box4], sample: &Box4, min_face: Option<(f64, f64)>) -> Vec<Box4> {
    let (sw, sh) = (sample[2] - sample[0], sample[3] - sample[1]);
    boxes
        .iter()
        .filter(|b| {
            let (cx, cy) = ((b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0);
            cx >= sample[0] && cx <= sample[2] && cy >= sample[1] && cy <= sample[3]
        })
        .filter(|b| {
            !(b[0] >= sample[2] || b[2] <= sample[0] || b[1] >= sample[3] || b[3] <= sample[1])
        })
        .map(|b| {
            let p = [
                (b[0] - sample[0]) / sw,
                (b[1] - sample[1]) / sh,
                (b[2] - sample[0]) / sw,
                (b[3] - sample[1]) / sh,
            ];
            p.map(|v| v.clamp(0.0, 1.0))
        })
        .filter(|p| area(p) > 0.0)
        .filter(|p| match min_face {
            Some((scale, min_area)) => {
                ((p[2] - p[0]) * scale) * ((p[3] - p[1]) * scale) >= min_area
            }
            None => true,
        })
        .collect()
}

/// Expansion (`expand_image`, off upstream): with probability `prob`, the image is placed at a
/// random offset on a canvas `U(1, max_ratio)` times larger, filled with [`PAD`].
pub fn expand(
    img: RgbImage,
    boxes: Vec<Box4>,
    prob: f64,
    max_ratio: f64,
    rng: &mut Rng,
) -> (RgbImage, Vec<Box4>) {
    if rng.unit() >= prob || max_ratio - 1.0 < 0.01 {
        return (img, boxes);
    }
    let ratio = rng.uniform(1.0, max_ratio);
    let (w, h) = (img.width, img.height);
    let (cw, ch) = ((w as f64 * ratio) as usize, (h as f64 * ratio) as usize);
    let h_off = rng.uniform(0.0, (ch - h) as f64).floor() as usize;
    let w_off = rng.uniform(0.0, (cw - w) as f64).floor() as usize;
    let (wf, hf) = (w as f64, h as f64);
    let frame = [
        -(w_off as f64) / wf,
        -(h_off as f64) / hf,
        (cw - w_off) as f64 / wf,
        (ch - h_off) as f64 / hf,
    ];
    let mut canvas = PAD.repeat(cw * ch);
    for y in 0..h {
        let dst = ((y + h_off) * cw + w_off) * 3;
        canvas[dst..dst + w * 3].copy_from_slice(&img.data[y * w * 3..(y + 1) * w * 3]);
    }
    let out = RgbImage::new(cw, ch, canvas).expect("sized for the canvas");
    (out, project(&boxes, &frame, None))
}

/// The five samplers of §square-crop: `(min_scale, max_scale)`, one trial loop each.
const SQUARE_SAMPLERS: [(f64, f64); 5] =
    [(1.0, 1.0), (0.3, 1.0), (0.3, 1.0), (0.3, 1.0), (0.3, 1.0)];
/// Trials per sampler.
const MAX_TRIALS: usize = 50;

/// A crop decided from the geometry alone, before any pixel is read, so that the photometric
/// distortion can be limited to the pixels the crop reads ([`CropPlan::source_region`]).
#[derive(Debug, Clone, PartialEq)]
pub enum CropPlan {
    /// Keep image and boxes (no square candidate was accepted).
    Keep,
    /// Cut `window` out of the image; `labels` are normalised to the window.
    Square {
        /// The pixels kept.
        window: Window,
        /// The boxes in the window.
        labels: Vec<Box4>,
    },
    /// Rescale by `ratio` with `interp`, take the `inside` part of the rescaled image and place it
    /// at `offset` on a `patch`-sized canvas of [`PAD`].
    Anchor {
        /// The rescaling factor.
        ratio: f64,
        /// OpenCV's interpolation.
        interp: CvInterp,
        /// The part of the rescaled image inside the patch.
        inside: Window,
        /// Where it goes in the patch.
        offset: (usize, usize),
        /// `(width, height)` of the patch.
        patch: (usize, usize),
        /// The boxes in the patch, normalised to it, not clipped.
        labels: Vec<Box4>,
    },
}

impl CropPlan {
    /// The pixels of a `width × height` source image that [`CropPlan::apply`] reads.
    pub fn source_region(&self, width: usize, height: usize) -> Window {
        match self {
            CropPlan::Keep => Window::full(width, height),
            CropPlan::Square { window, .. } => *window,
            CropPlan::Anchor {
                ratio,
                interp,
                inside,
                ..
            } => cv_source_region(width, height, *ratio, *interp, *inside),
        }
    }

    /// The cropped image; the boxes are [`CropPlan::labels`].
    pub fn apply(&self, img: &RgbImage) -> RgbImage {
        match self {
            CropPlan::Keep => img.clone(),
            CropPlan::Square { window, .. } => crop(img, *window),
            CropPlan::Anchor {
                ratio,
                interp,
                inside,
                offset,
                patch,
                ..
            } => {
                let part = cv_resize_window(img, *ratio, *interp, *inside);
                if (part.width, part.height) == *patch {
                    return part;
                }
                let (pw, ph) = *patch;
                let mut canvas = PAD.repeat(pw * ph);
                for row in 0..part.height {
                    let dst = ((row + offset.1) * pw + offset.0) * 3;
                    canvas[dst..dst + part.width * 3].copy_from_slice(
                        &part.data[row * part.width * 3..(row + 1) * part.width * 3],
                    );
                }
                RgbImage::new(pw, ph, canvas).expect("sized for the patch")
            }
        }
    }

    /// The boxes after the crop (`None` for [`CropPlan::Keep`]: the boxes are unchanged).
    pub fn labels(self) -> Option<Vec<Box4>> {
        match self {
            CropPlan::Keep => None,
            CropPlan::Square { labels, .. } | CropPlan::Anchor { labels, .. } => Some(labels),
        }
    }
}

/// The SSD-style square crop (`generate_batch_samples` + `crop_image`) of a `width × height`
/// image: a candidate square (in pixels) is accepted when it fully contains at least one box; one
/// accepted candidate is cropped and the boxes whose centre it holds are kept, clipped, and
/// dropped below `(w·resize)·(h·resize) < min_face²`. [`CropPlan::Keep`] when no candidate was
/// accepted: upstream then keeps image and boxes unchanged.
pub fn plan_square(
    (width, height): (usize, usize),
    boxes: &[Box4],
    resize: usize,
    min_face: f64,
    rng: &mut Rng,
) -> CropPlan {
    let (w, h) = (width as f64, height as f64);
    let mut accepted = Vec::new();
    for (lo, hi) in SQUARE_SAMPLERS {
        for _ in 0..MAX_TRIALS {
            // The aspect ratio is drawn from U(1, 1) upstream: always 1.
            let scale = rng.uniform(lo, hi);
            let (mut bw, mut bh) = (scale, scale);
            if h < w {
                bw = bh * h / w;
            } else {
                bh = bw * w / h;
            }
            let x1 = rng.uniform(0.0, 1.0 - bw);
            let y1 = rng.uniform(0.0, 1.0 - bh);
            let sample = [x1, y1, x1 + bw, y1 + bh];
            if boxes.iter().any(|b| coverage(b, &sample) >= 1.0) {
                accepted.push(sample);
                break;
            }
        }
    }
    if accepted.is_empty() {
        return CropPlan::Keep;
    }
    let sample = accepted[rng.below(accepted.len())].map(|v| v.clamp(0.0, 1.0));
    let x0 = (sample[0] * w) as usize;
    let x1 = (sample[2] * w) as usize;
    let y0 = (sample[1] * h) as usize;
    let y1 = (sample[3] * h) as usize;
    CropPlan::Square {
        window: Window {
            x0,
            y0,
            width: x1 - x0,
            height: y1 - y0,
        },
        labels: project(boxes, &sample, Some((resize as f64, min_face * min_face))),
    }
}

/// [`plan_square`] and its application: `None` when the image is kept as it is.
pub fn square_crop(
    img: &RgbImage,
    boxes: &[Box4],
    resize: usize,
    min_face: f64,
    rng: &mut Rng,
) -> Option<(RgbImage, Vec<Box4>)> {
    let plan = plan_square((img.width, img.height), boxes, resize, min_face, rng);
    let out = plan.apply(img);
    plan.labels().map(|labels| (out, labels))
}

/// Settings of the data-anchor-sampling crop.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AnchorSampling<'a> {
    /// The anchor sizes in pixels (`cfg.ANCHOR_SIZES`).
    pub anchors: &'a [u32],
    /// Side of the sampled window (`cfg.INPUT_SIZE`).
    pub window: usize,
    /// Faces need an area above `min_face²` pixels after the crop.
    pub min_face: f64,
    /// The rescaled image may hold at most `max_side²` pixels (upstream: 12,000).
    pub max_side: f64,
}

/// Upstream's candidate windows per image.
const WINDOW_TRIALS: usize = 50;
/// A window that holds no whole face is still kept when its IoU with a face exceeds this.
const WINDOW_IOU: f64 = 0.7;

/// The data-anchor-sampling crop (`anchor_crop_image_sampling`, `docs/upstream.md` §anchor-crop) of
/// a `width × height` image: rescale so that a random face matches a random smaller-or-equal
/// anchor, then cut a `window × window` patch around it. The patch is smaller where it passes
/// the right or bottom edge of the rescaled image, and [`PAD`] where it passes the left or top
/// edge. Its boxes are those whose centre lies strictly inside it, **not clipped**, normalised by
/// the patch size, with faces of pixel area ≤ `min_face²` removed. Without an acceptable window
/// the whole rescaled image is the patch.
pub fn plan_anchor(
    (width, height): (usize, usize),
    boxes: &[Box4],
    cfg: &AnchorSampling<'_>,
    rng: &mut Rng,
) -> CropPlan {
    let (w, h) = (width as f64, height as f64);
    let mut px: Vec<Box4> = boxes
        .iter()
        .map(|b| [b[0] * w, b[1] * h, b[2] * w, b[3] * h])
        .collect();
    let face = rng.below(px.len());
    let side = ((px[face][2] - px[face][0] + 1.0) * (px[face][3] - px[face][1] + 1.0)).sqrt();
    // The nearest anchor, the first one on ties; upstream starts from index 5.
    let mut anchor_idx = cfg.anchors.len() - 1;
    let mut distance = 9_999_999.0;
    for (i, &a) in cfg.anchors.iter().enumerate() {
        if (a as f64 - side).abs() < distance {
            distance = (a as f64 - side).abs();
            anchor_idx = i;
        }
    }
    let top = (anchor_idx + 1).min(cfg.anchors.len() - 1);
    let target = *rng.choose(&cfg.anchors[..=top]) as f64;
    let mut ratio = target / side * 2f64.powf(rng.uniform(-1.0, 1.0));
    if ((h * ratio * w * ratio) as i64) as f64 > cfg.max_side * cfg.max_side {
        ratio = (cfg.max_side * cfg.max_side / (h * w)).sqrt();
    }
    // OpenCV refuses an empty result (upstream would crash); keep at least one pixel per side.
    // Never reached on WIDER.
    let ratio = ratio.max(1.0 / width.min(height) as f64);
    let interp = *rng.choose(&CvInterp::UPSTREAM);
    let (rw, rh) = crate::resize::output_size(width, height, ratio, ratio);
    for b in &mut px {
        b.iter_mut().for_each(|v| *v *= ratio);
    }

    let (x, y) = (px[face][0], px[face][1]);
    let bw = px[face][2] - px[face][0] + 1.0;
    let bh = px[face][3] - px[face][1] + 1.0;
    let win = cfg.window as f64;
    let mut windows = Vec::new();
    for _ in 0..WINDOW_TRIALS {
        let (w_off, h_off) = if win < (rh.max(rw)) as f64 {
            let w_off = if bw <= win {
                rng.uniform(x + bw - win, x)
            } else {
                rng.uniform(x, x + bw - win)
            };
            let h_off = if bh <= win {
                rng.uniform(y + bh - win, y)
            } else {
                rng.uniform(y, y + bh - win)
            };
            (w_off, h_off)
        } else {
            (
                rng.uniform(rw as f64 - win, 0.0),
                rng.uniform(rh as f64 - win, 0.0),
            )
        };
        let rect = [
            w_off.floor(),
            h_off.floor(),
            (w_off.floor() + win),
            (h_off.floor() + win),
        ];
        let holds_face = px
            .iter()
            .any(|b| rect[0] <= b[0] && rect[1] <= b[1] && rect[2] >= b[2] && rect[3] >= b[3]);
        if holds_face || px.iter().map(|b| iou(b, &rect)).fold(f64::NAN, f64::max) > WINDOW_IOU {
            windows.push(rect);
        }
    }

    let min_area = cfg.min_face * cfg.min_face;
    let normalise = |b: &Box4, (pw, ph): (usize, usize)| {
        [
            b[0] / pw as f64,
            b[1] / ph as f64,
            b[2] / pw as f64,
            b[3] / ph as f64,
        ]
    };
    if windows.is_empty() {
        let labels = px
            .iter()
            .filter(|b| (b[2] - b[0]) * (b[3] - b[1]) > min_area)
            .map(|b| normalise(b, (rw, rh)))
            .collect();
        return CropPlan::Anchor {
            ratio,
            interp,
            inside: Window::full(rw, rh),
            offset: (0, 0),
            patch: (rw, rh),
            labels,
        };
    }
    let rect = windows[rng.below(windows.len())];
    let (c0, c1) = (rect[0] as i64, rect[1] as i64);
    let patch = (
        (cfg.window as i64).min(rw as i64 - c0) as usize,
        (cfg.window as i64).min(rh as i64 - c1) as usize,
    );
    let labels = px
        .iter()
        .filter(|b| {
            let (cx, cy) = ((b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0);
            rect[0] < cx && rect[1] < cy && rect[2] > cx && rect[3] > cy
        })
        .map(|b| {
            [
                b[0] - rect[0],
                b[1] - rect[1],
                b[2] - rect[0],
                b[3] - rect[1],
            ]
        })
        .filter(|b| (b[2] - b[0]) * (b[3] - b[1]) > min_area)
        .map(|b| normalise(&b, patch))
        .collect();
    CropPlan::Anchor {
        ratio,
        interp,
        inside: Window {
            x0: c0.max(0) as usize,
            y0: c1.max(0) as usize,
            width: (c0 + cfg.window as i64).min(rw as i64) as usize - c0.max(0) as usize,
            height: (c1 + cfg.window as i64).min(rh as i64) as usize - c1.max(0) as usize,
        },
        offset: ((-c0).max(0) as usize, (-c1).max(0) as usize),
        patch,
        labels,
    }
}

/// [`plan_anchor`] and its application.
pub fn anchor_crop(
    img: &RgbImage,
    boxes: &[Box4],
    cfg: &AnchorSampling<'_>,
    rng: &mut Rng,
) -> (RgbImage, Vec<Box4>) {
    let plan = plan_anchor((img.width, img.height), boxes, cfg, rng);
    let out = plan.apply(img);
    (out, plan.labels().expect("an anchor crop has labels"))
}

/// IoU of a pixel box and a window, without `+1` (`jaccard_numpy`).
fn iou(b: &Box4, rect: &Box4) -> f64 {
    let iw = (b[2].min(rect[2]) - b[0].max(rect[0])).max(0.0);
    let ih = (b[3].min(rect[3]) - b[1].max(rect[1])).max(0.0);
    let inter = iw * ih;
    let a = (b[2] - b[0]) * (b[3] - b[1]);
    let r = (rect[2] - rect[0]) * (rect[3] - rect[1]);
    inter / (a + r - inter)
}

/// The horizontal flip of normalised boxes: `x1' = 1 − x2`, `x2' = 1 − x1`.
pub fn flip_boxes(boxes: &mut [Box4]) {
    for b in boxes {
        (b[0], b[2]) = (1.0 - b[2], 1.0 - b[0]);
    }
}
