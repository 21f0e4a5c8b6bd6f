//! Upstream's training-time augmentation (`utils/augmentations.py::preprocess`,
//! `docs/upstream.md` §augmentation), one small function per transform:
//!
//! 1. photometric distortion ([`Distortion`], [`color`]): brightness, contrast, saturation,
//!    hue, each with probability ½, in one of two orders;
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

use crate::train::rng::Rng;
use bfpgm_core::imageio::RgbImage;
use crop::{AnchorSampling, Box4};
use resample::{PilFilter, Window};

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

/// Step 1 drawn: which distortions fire, in which order, with which factors.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Distortion {
    /// Contrast right after brightness (upstream's `prob > 0.5` order), otherwise last.
    pub contrast_first: bool,
    /// Brightness factor.
    pub brightness: Option<f32>,
    /// Contrast factor.
    pub contrast: Option<f32>,
    /// Saturation factor.
    pub saturation: Option<f32>,
    /// Hue shift.
    pub hue: Option<f64>,
}

impl Distortion {
    /// Upstream's `distort_image` draws.
    pub fn draw(rng: &mut Rng) -> Distortion {
        let contrast_first = rng.unit() > 0.5;
        let brightness = factor(rng, BRIGHTNESS);
        let mut contrast = None;
        if contrast_first {
            contrast = factor(rng, CONTRAST);
        }
        let saturation = factor(rng, SATURATION);
        let hue = (rng.unit() < HUE.0).then(|| rng.uniform(-HUE.1, HUE.1));
        if !contrast_first {
            contrast = factor(rng, CONTRAST);
        }
        Distortion {
            contrast_first,
            brightness,
            contrast,
            saturation,
            hue,
        }
    }

    /// Applies the distortions to the whole image.
    pub fn apply(&self, img: &mut RgbImage) {
        let mean = |img: &RgbImage| color::mean_grey(img, None);
        self.apply_with(img, &mean);
    }

    /// Applies the distortions to the pixels of `region` only, with the result they would have
    /// had on the whole image: contrast blends towards the whole image's mean grey level. When
    /// that mean depends on saturation or hue (contrast last), the whole image is distorted.
    pub fn apply_region(&self, img: &mut RgbImage, region: Window) {
        let whole = Window::full(img.width, img.height);
        let mean_needs_all = self.contrast.is_some()
            && !self.contrast_first
            && (self.saturation.is_some() || self.hue.is_some());
        if region == whole || mean_needs_all {
            return self.apply(img);
        }
        // Only brightness (a table) precedes contrast: its mean is one pass over the image.
        let lut = self.brightness.map(color::brightness_lut);
        let full_mean = self.contrast.map(|_| color::mean_grey(img, lut.as_deref()));
        let mut part = resample::crop(img, region);
        self.apply_with(&mut part, &|_| {
            full_mean.expect("computed when contrast fires")
        });
        resample::paste(img, &part, region.x0, region.y0);
    }

    fn apply_with(&self, img: &mut RgbImage, mean: &dyn Fn(&RgbImage) -> u8) {
        if let Some(f) = self.brightness {
            color::brightness(img, f);
        }
        let contrast = |img: &mut RgbImage| {
            if let Some(f) = self.contrast {
                let m = mean(img);
                color::contrast_towards(img, f, m);
            }
        };
        if self.contrast_first {
            contrast(img);
        }
        if let Some(f) = self.saturation {
            color::saturation(img, f);
        }
        if let Some(d) = self.hue {
            color::hue(img, d);
        }
        if !self.contrast_first {
            contrast(img);
        }
    }
}

/// A training sample: steps 1–5 on an image with normalised boxes. The boxes that survive may be
/// none; upstream then draws another image.
///
/// The distortion is drawn first but applied after the crop has been planned, to the pixels the
/// crop reads only; the result is the same as distorting the whole image first, as upstream does.
pub fn train_sample(
    mut img: RgbImage,
    mut boxes: Vec<Box4>,
    cfg: &AugmentConfig,
    rng: &mut Rng,
) -> (RgbImage, Vec<Box4>) {
    let mut distortion = cfg.distort.then(|| Distortion::draw(rng));
    if let Some(e) = cfg.expand {
        if let Some(d) = distortion.take() {
            d.apply(&mut img);
        }
        (img, boxes) = crop::expand(img, boxes, e.prob, e.max_ratio, rng);
        if boxes.is_empty() {
            // Expansion dropped every face: nothing to crop around.
            return (img, boxes);
        }
    }
    let size = (img.width, img.height);
    let plan = if rng.unit() < cfg.anchor_sampling_prob {
        let das = AnchorSampling {
            anchors: &cfg.anchors,
            window: cfg.size,
            min_face: cfg.min_face,
            max_side: cfg.max_side,
        };
        crop::plan_anchor(size, &boxes, &das, rng)
    } else {
        crop::plan_square(size, &boxes, cfg.size, cfg.min_face, rng)
    };
    if let Some(d) = distortion {
        d.apply_region(&mut img, plan.source_region(size.0, size.1));
    }
    img = plan.apply(&img);
    if let Some(labels) = plan.labels() {
        boxes = labels;
    }
    let filter = *rng.choose(&PilFilter::UPSTREAM);
    img = resample::pil_resize(&img, cfg.size, cfg.size, filter);
    if rng.below(2) == 1 {
        img = crate::resize::flip_horizontal(&img);
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
