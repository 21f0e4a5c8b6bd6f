//! Upstream's training-time augmentation (`utils/augmentations.py::preprocess`,
//! `training.md` §2), one small function per transform:
//!
//! 1. photometric distortion ([`color`]): brightness, contrast, saturation, hue, each with
//!    probability ½, in one of two orders;
//! 2. expansion ([`crop::expand`]), off in upstream's configuration;
//! 3. with probability ½ the data-anchor-sampling crop ([`crop::anchor_crop`]), otherwise the
//!    SSD-style square crop ([`crop::square_crop`]);
//! 4. a resize to `size × size` with a random Pillow filter ([`resample`]), also in `val` mode;
//! 5. a horizontal flip with probability ½.
//!
//! Mean subtraction (step 7) happens on the device, on whole batches. Every random draw comes
//! from the sample's own [`Rng`], so a sample depends only on its seed.

pub mod color;
pub mod crop;
pub mod resample;

use crate::imageio::RgbImage;
use crate::train::rng::Rng;
use crop::{AnchorSampling, Box4};
use resample::PilFilter;

/// Probability and half-range of the brightness factor `1 + U(−δ, δ)` (`cfg.brightness_*`).
pub const BRIGHTNESS: (f64, f64) = (0.5, 0.125);
/// Probability and half-range of the contrast factor (`cfg.contrast_*`).
pub const CONTRAST: (f64, f64) = (0.5, 0.5);
/// Probability and half-range of the saturation factor (`cfg.saturation_*`).
pub const SATURATION: (f64, f64) = (0.5, 0.5);
/// Probability and half-range of the hue shift in Pillow's 0–255 hue units (`cfg.hue_*`).
pub const HUE: (f64, f64) = (0.5, 18.0);

/// Expansion settings (`cfg.expand_prob`, `cfg.expand_max_ratio`).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Expand {
    /// Probability of expanding an image.
    pub prob: f64,
    /// The canvas is up to this many times larger per side.
    pub max_ratio: f64,
}

/// Upstream's expansion values, used when `--expand` turns it on (`apply_expand` is False).
pub const UPSTREAM_EXPAND: Expand = Expand {
    prob: 0.5,
    max_ratio: 4.0,
};

/// Everything the augmentation needs to know; [`AugmentConfig::upstream`] is `data/config.py`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AugmentConfig {
    /// Side of the network input (`cfg.resize_width`, `cfg.INPUT_SIZE`: 640); also the side of the
    /// anchor-sampling window and the scale of the square crop's minimum face test.
    pub size: usize,
    /// Whether the photometric distortions run (`cfg.apply_distort`).
    pub distort: bool,
    /// Expansion, when on (`cfg.apply_expand`).
    pub expand: Option<Expand>,
    /// Probability of the data-anchor-sampling crop rather than the square crop
    /// (`cfg.data_anchor_sampling_prob`).
    pub anchor_sampling_prob: f64,
    /// Faces smaller than this side (pixels) are dropped by the crops (`cfg.min_face_size`).
    pub min_face: f64,
    /// The anchor sizes the anchor-sampling crop aims at (the detector's `ANCHOR_SIZES`).
    pub anchors: Vec<u32>,
    /// Rescaled images hold at most `max_side²` pixels (upstream: 12,000).
    pub max_side: f64,
}

impl AugmentConfig {
    /// Upstream's values for input side `size` and the detector's anchor sizes.
    pub fn upstream(size: usize, anchors: &[u32]) -> AugmentConfig {
        AugmentConfig {
            size,
            distort: true,
            expand: None,
            anchor_sampling_prob: 0.5,
            min_face: 6.0,
            anchors: anchors.to_vec(),
            max_side: 12_000.0,
        }
    }
}

/// `1 + U(−δ, δ)` with probability `p`, as float32 (Pillow's blend factor type).
fn factor(rng: &mut Rng, (p, delta): (f64, f64)) -> Option<f32> {
    (rng.unit() < p).then(|| (1.0 + rng.uniform(-delta, delta)) as f32)
}

/// Step 1: upstream's `distort_image`.
pub fn distort(img: &mut RgbImage, rng: &mut Rng) {
    let contrast_first = rng.unit() > 0.5;
    if let Some(f) = factor(rng, BRIGHTNESS) {
        color::brightness(img, f);
    }
    let contrast = |img: &mut RgbImage, rng: &mut Rng| {
        if let Some(f) = factor(rng, CONTRAST) {
            color::contrast(img, f);
        }
    };
    if contrast_first {
        contrast(img, rng);
    }
    if let Some(f) = factor(rng, SATURATION) {
        color::saturation(img, f);
    }
    if rng.unit() < HUE.0 {
        color::hue(img, rng.uniform(-HUE.1, HUE.1));
    }
    if !contrast_first {
        contrast(img, rng);
    }
}

/// A training sample: steps 1–5 on an image with normalised boxes. The boxes that survive may be
/// none; upstream then draws another image.
pub fn train_sample(
    mut img: RgbImage,
    mut boxes: Vec<Box4>,
    cfg: &AugmentConfig,
    rng: &mut Rng,
) -> (RgbImage, Vec<Box4>) {
    if cfg.distort {
        distort(&mut img, rng);
    }
    if let Some(e) = cfg.expand {
        (img, boxes) = crop::expand(img, boxes, e.prob, e.max_ratio, rng);
    }
    if boxes.is_empty() {
        // Expansion dropped every face (only possible with expansion on): nothing to crop around.
        return (img, boxes);
    }
    if rng.unit() < cfg.anchor_sampling_prob {
        let das = AnchorSampling {
            anchors: &cfg.anchors,
            window: cfg.size,
            min_face: cfg.min_face,
            max_side: cfg.max_side,
        };
        (img, boxes) = crop::anchor_crop(&img, &boxes, &das, rng);
    } else if let Some(cropped) = crop::square_crop(&img, &boxes, cfg.size, cfg.min_face, rng) {
        (img, boxes) = cropped;
    }
    let filter = *rng.choose(&PilFilter::UPSTREAM);
    img = resample::pil_resize(&img, cfg.size, cfg.size, filter);
    if rng.below(2) == 1 {
        img = crate::wider::resize::flip_horizontal(&img);
        crop::flip_boxes(&mut boxes);
    }
    (img, boxes)
}

/// A validation sample: only the resize to `size × size`, with a random filter as upstream.
pub fn val_sample(img: &RgbImage, size: usize, rng: &mut Rng) -> RgbImage {
    let filter = *rng.choose(&PilFilter::UPSTREAM);
    resample::pil_resize(img, size, size, filter)
}

#[cfg(test)]
mod tests;
