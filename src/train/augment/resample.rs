//! The resizes of the augmentation pipeline: Pillow's `Image.resize` filters and OpenCV's
//! `cv2.resize` interpolations, on 8-bit RGB images.
//!
//! Both libraries resample separably: each output column (then row) is a weighted sum of a few
//! input columns (rows), with weights in fixed point. This module builds those weights per axis
//! ([`Taps`]) the way each library does and runs the two passes. Only the requested window of the
//! output is computed: the data-anchor-sampling crop (`docs/upstream.md` §anchor-crop, step 3)
//! scales a whole image by up to ~100× and then keeps a 640 × 640 window, so computing the full
//! `cv2.resize` result (up to 12,000² pixels) would be wasted work.
//!
//! * Pillow 9.4 (`Resample.c`): filter supports widened by the downscaling factor (antialiasing),
//!   taps clipped to the image and renormalised, 22-bit weights, an 8-bit image between the two
//!   passes; NEAREST through `ImagingScaleAffine`. Bit for bit with Pillow 9.4.0 (checked while
//!   writing this on random images, all five filters, up- and downscaling).
//! * OpenCV 4.8 (`resize.cpp`, generic path): fixed support (2, 4 or 8 taps, no antialiasing),
//!   `(x + 0.5)·scale − 0.5` source positions, replicated borders, 11-bit weights per pass, and
//!   the vertical step of its 8-bit kernels ([`CvVertical`]: the vector code's rounding for
//!   LINEAR, float32 for CUBIC); INTER_AREA sums exact pixel overlaps in float32 when shrinking
//!   (block means for an exact halving) and uses its own bilinear weights when enlarging;
//!   INTER_NEAREST is `floor(x / f)`. Bit for bit with opencv-python 4.8.0 for all five
//!   interpolations, windows included (`tests/fixtures/parity/resample/`, real WIDER crops).
//!   One gap: opencv-python is built with Intel IPP, which takes over INTER_CUBIC on 8-bit
//!   images and rounds differently (by one unit in about 2–3 % of the bytes, measured with the
//!   fixture's IPP 2021.8 on an AVX-512 CPU). IPP is closed and picks code by CPU, so upstream's
//!   exact cubic bytes cannot be restated; we match OpenCV's own cubic, which IPP-less builds
//!   (and `cv2.ipp.setUseIPP(False)`) give. Integer shrink factors other than ½ take OpenCV's
//!   INTER_AREA fast path, which is not restated either (a random factor hits one with
//!   probability zero).

use std::collections::VecDeque;
use std::f64::consts::PI;
use std::ops::Range;

use bfpgm_core::imageio::RgbImage;

/// Pillow's resampling filters, in the order upstream lists them for the final resize.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PilFilter {
    /// `Image.BILINEAR`.
    Bilinear,
    /// `Image.HAMMING`.
    Hamming,
    /// `Image.NEAREST`.
    Nearest,
    /// `Image.BICUBIC`.
    Bicubic,
    /// `Image.LANCZOS`.
    Lanczos,
}

impl PilFilter {
    /// Upstream's list for `np.random.randint(0, 5)` (`docs/upstream.md` §augmentation, step 4).
    pub const UPSTREAM: [PilFilter; 5] = [
        PilFilter::Bilinear,
        PilFilter::Hamming,
        PilFilter::Nearest,
        PilFilter::Bicubic,
        PilFilter::Lanczos,
    ];
}

/// OpenCV's interpolations, in the order upstream lists them for the anchor-sampling rescale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CvInterp {
    /// `cv2.INTER_LINEAR`.
    Linear,
    /// `cv2.INTER_CUBIC` (A = −0.75).
    Cubic,
    /// `cv2.INTER_AREA`.
    Area,
    /// `cv2.INTER_NEAREST`.
    Nearest,
    /// `cv2.INTER_LANCZOS4` (8 taps).
    Lanczos4,
}

impl CvInterp {
    /// Upstream's list for `random.choice` (`docs/upstream.md` §anchor-crop, step 3).
    pub const UPSTREAM: [CvInterp; 5] = [
        CvInterp::Linear,
        CvInterp::Cubic,
        CvInterp::Area,
        CvInterp::Nearest,
        CvInterp::Lanczos4,
    ];
}

/// Pillow's `PRECISION_BITS` (32 − 8 − 2).
const PIL_BITS: u32 = 22;
/// OpenCV's `INTER_RESIZE_COEF_BITS`.
const CV_BITS: u32 = 11;

/// How the two passes combine: Pillow rounds each pass to 8 bits, OpenCV keeps the horizontal
/// sums (11 fractional bits) and finishes each output byte the way its 8-bit vertical kernel
/// for the interpolation does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Passes {
    Pil,
    OpenCv(CvVertical),
}

/// OpenCV 4.8's vertical step for 8-bit images (`resize.cpp`, built for the 128-bit SSE
/// baseline of the opencv-python wheels). Which formula a byte gets depends on its position
/// in the full output row (`3 × width` bytes), because the vector loops stop short of the
/// row's end and a scalar loop finishes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CvVertical {
    /// One integer sum rounded once (`VResizeLanczos4`, and the area and nearest taps).
    Exact,
    /// `VResizeLinear` for `u8`: each tap's `(w · (s >> 4)) >> 16`, then `(v + 2) >> 2`; its
    /// scalar tail uses the same formula as the vector loop.
    Linear,
    /// `VResizeCubicVec_32s8u`: in float32 (weights `β / 2048²`, multiply then add, no fused
    /// multiply-add on that baseline, rounded half to even) for the first `vector_bytes` bytes
    /// of the full row, the exact integer sum for the rest. `x0_bytes` is where the computed
    /// window starts in that row.
    Cubic {
        vector_bytes: usize,
        x0_bytes: usize,
    },
}

/// The weights of one axis for a range of output coordinates: output `o` reads input
/// `start[o] .. start[o] + len[o]` with `weights[o·ksize ..]` (fixed point).
#[derive(Debug, Clone, PartialEq)]
pub struct Taps {
    ksize: usize,
    start: Vec<usize>,
    len: Vec<usize>,
    weights: Vec<i32>,
    /// Every tap unmerged, `ksize` per output: source index (clamped) and weight. OpenCV's
    /// linear and cubic vertical steps round per tap, so taps clamped onto the same row must
    /// stay apart there.
    each: Vec<(usize, i32)>,
}

impl Taps {
    fn new(ksize: usize, count: usize) -> Taps {
        Taps {
            ksize,
            start: Vec::with_capacity(count),
            len: Vec::with_capacity(count),
            weights: Vec::with_capacity(count * ksize),
            each: Vec::with_capacity(count * ksize),
        }
    }

    /// Adds an output coordinate reading `start..start + w.len()` with float weights.
    fn push(&mut self, start: usize, w: &[f64], to_fixed: impl Fn(f64) -> i32) {
        debug_assert!(w.len() <= self.ksize);
        self.start.push(start);
        self.len.push(w.len());
        let from = self.weights.len();
        self.weights.extend(w.iter().map(|&x| to_fixed(x)));
        self.weights
            .extend(std::iter::repeat_n(0, self.ksize - w.len()));
        let fixed = &self.weights[from..];
        self.each.extend(
            fixed
                .iter()
                .enumerate()
                .map(|(k, &wk)| (start + k.min(w.len().saturating_sub(1)), wk)),
        );
    }

    /// Adds an output coordinate reading `start..start + w.len()` with OpenCV-style taps whose
    /// indices may leave `0..size` (replicated border): weights of clamped taps are merged.
    fn push_clamped(&mut self, first: i64, w: &[f64], size: usize) {
        let last = size as i64 - 1;
        let lo = first.clamp(0, last) as usize;
        let hi = (first + w.len() as i64 - 1).clamp(0, last) as usize;
        let mut merged = vec![0i32; hi - lo + 1];
        for (k, &x) in w.iter().enumerate() {
            let i = (first + k as i64).clamp(0, last) as usize;
            merged[i - lo] += cv_fixed(x);
            self.each.push((i, cv_fixed(x)));
        }
        self.each
            .extend(std::iter::repeat_n((lo, 0), self.ksize - w.len()));
        self.start.push(lo);
        self.len.push(merged.len());
        self.weights.extend_from_slice(&merged);
        self.weights
            .extend(std::iter::repeat_n(0, self.ksize - merged.len()));
    }

    /// The input range all outputs read, to limit the first pass to the rows the second needs.
    fn input_span(&self) -> Range<usize> {
        let lo = self.start.iter().copied().min().unwrap_or(0);
        let hi = self
            .start
            .iter()
            .zip(&self.len)
            .map(|(s, l)| s + l)
            .max()
            .unwrap_or(0);
        lo..hi.max(lo)
    }

    fn count(&self) -> usize {
        self.start.len()
    }
}

/// `saturate_cast<short>(x · 2048)`.
fn cv_fixed(x: f64) -> i32 {
    ((x as f32) * (1 << CV_BITS) as f32)
        .round_ties_even()
        .clamp(i16::MIN as f32, i16::MAX as f32) as i32
}

/// Pillow's `normalize_coeffs_8bpc`.
fn pil_fixed(x: f64) -> i32 {
    let s = x * (1u64 << PIL_BITS) as f64;
    if x < 0.0 {
        (s - 0.5) as i32
    } else {
        (s + 0.5) as i32
    }
}

fn sinc(x: f64) -> f64 {
    if x == 0.0 {
        1.0
    } else {
        let x = x * PI;
        x.sin() / x
    }
}

impl PilFilter {
    fn support(self) -> f64 {
        match self {
            PilFilter::Nearest => 0.0,
            PilFilter::Bilinear | PilFilter::Hamming => 1.0,
            PilFilter::Bicubic => 2.0,
            PilFilter::Lanczos => 3.0,
        }
    }

    /// The filters of `Resample.c`, arithmetic included (`0.54f` is a float literal there).
    fn weight(self, x: f64) -> f64 {
        let ax = x.abs();
        match self {
            PilFilter::Nearest => unreachable!("nearest has no filter"),
            PilFilter::Bilinear => (1.0 - ax).max(0.0),
            PilFilter::Hamming => {
                if ax == 0.0 {
                    1.0
                } else if ax >= 1.0 {
                    0.0
                } else {
                    let y = ax * PI;
                    y.sin() / y * (0.54f32 as f64 + 0.46f32 as f64 * y.cos())
                }
            }
            PilFilter::Bicubic => {
                let a = -0.5;
                if ax < 1.0 {
                    ((a + 2.0) * ax - (a + 3.0)) * ax * ax + 1.0
                } else if ax < 2.0 {
                    (((ax - 5.0) * ax + 8.0) * ax - 4.0) * a
                } else {
                    0.0
                }
            }
            PilFilter::Lanczos => {
                if (-3.0..3.0).contains(&x) {
                    sinc(x) * sinc(x / 3.0)
                } else {
                    0.0
                }
            }
        }
    }

    /// Pillow's `precompute_coeffs` for the outputs in `outs` of an `inp → out` resize.
    fn taps(self, inp: usize, out: usize, outs: Range<usize>) -> Taps {
        if self == PilFilter::Nearest {
            // ImagingScaleAffine: the source position advances by in/out from in/out · 0.5.
            let a = inp as f64 / out as f64;
            let mut taps = Taps::new(1, outs.len());
            let mut pos = a * 0.5;
            for o in 0..outs.end {
                if o >= outs.start {
                    let i = (pos as usize).min(inp - 1);
                    taps.push(i, &[1.0], |_| 1 << PIL_BITS);
                }
                pos += a;
            }
            return taps;
        }
        let scale = inp as f64 / out as f64;
        let filterscale = scale.max(1.0);
        let support = self.support() * filterscale;
        let ksize = support.ceil() as usize * 2 + 1;
        let mut taps = Taps::new(ksize, outs.len());
        let mut w = Vec::with_capacity(ksize);
        for o in outs {
            let center = (o as f64 + 0.5) * scale;
            let xmin = ((center - support + 0.5) as i64).max(0) as usize;
            let xmax = ((center + support + 0.5) as i64).min(inp as i64) as usize;
            w.clear();
            w.extend((xmin..xmax).map(|x| self.weight((x as f64 - center + 0.5) / filterscale)));
            let total: f64 = w.iter().sum();
            if total != 0.0 {
                w.iter_mut().for_each(|x| *x /= total);
            }
            taps.push(xmin, &w, pil_fixed);
        }
        taps
    }
}

/// OpenCV's `interpolateCubic` (A = −0.75), in float as OpenCV computes it.
fn cubic_weights(x: f32) -> [f64; 4] {
    let a = -0.75f32;
    let c0 = ((a * (x + 1.0) - 5.0 * a) * (x + 1.0) + 8.0 * a) * (x + 1.0) - 4.0 * a;
    let c1 = ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
    let c2 = ((a + 2.0) * (1.0 - x) - (a + 3.0)) * (1.0 - x) * (1.0 - x) + 1.0;
    let c3 = 1.0 - c0 - c1 - c2;
    [c0 as f64, c1 as f64, c2 as f64, c3 as f64]
}

/// OpenCV's `interpolateLanczos4`.
fn lanczos4_weights(x: f32) -> [f64; 8] {
    let s45 = std::f64::consts::FRAC_1_SQRT_2;
    let cs = [
        (1.0, 0.0),
        (-s45, -s45),
        (0.0, 1.0),
        (s45, -s45),
        (-1.0, 0.0),
        (s45, s45),
        (0.0, -1.0),
        (-s45, s45),
    ];
    let y0 = -(x as f64 + 3.0) * PI * 0.25;
    let (s0, c0) = (y0.sin(), y0.cos());
    let mut w = [0f32; 8];
    let mut sum = 0f32;
    for (i, (a, b)) in cs.iter().enumerate() {
        let y0_ = x + 3.0 - i as f32;
        w[i] = if y0_.abs() >= f32::EPSILON {
            let y = -(y0_ as f64) * PI * 0.25;
            ((a * s0 + b * c0) / (y * y)) as f32
        } else {
            1e30
        };
        sum += w[i];
    }
    let inv = 1.0 / sum;
    w.map(|v| (v * inv) as f64)
}

impl CvInterp {
    /// The interpolation OpenCV actually uses: INTER_LINEAR becomes INTER_AREA for an exact
    /// halving.
    fn effective(self, f: f64) -> CvInterp {
        if self == CvInterp::Linear && f == 0.5 {
            CvInterp::Area
        } else {
            self
        }
    }

    /// The taps of `cv::resize` for the outputs in `outs` of a resize of `inp` pixels by factor `f`
    /// (`inv_scale`; OpenCV maps through `1/f`, not `inp/out`). Only the horizontal axis moves
    /// positions outside the image onto the edge with weight 1; vertically OpenCV keeps the
    /// weights and clamps the rows.
    fn taps(self, inp: usize, f: f64, outs: Range<usize>, vertical: bool) -> Taps {
        let scale = 1.0 / f;
        match self {
            CvInterp::Nearest => {
                let mut taps = Taps::new(1, outs.len());
                for o in outs {
                    let i = ((o as f64 * scale).floor() as usize).min(inp - 1);
                    taps.push(i, &[1.0], |_| 1 << CV_BITS);
                }
                taps
            }
            CvInterp::Area if scale >= 1.0 => {
                // computeResizeAreaTab: the exact overlap of each input pixel with the cell.
                let mut taps = Taps::new(scale.ceil() as usize + 2, outs.len());
                let mut w = Vec::new();
                for o in outs {
                    let fsx1 = o as f64 * scale;
                    let fsx2 = fsx1 + scale;
                    let cell = scale.min(inp as f64 - fsx1);
                    let sx2 = (fsx2.floor() as usize).min(inp - 1);
                    let sx1 = (fsx1.ceil() as usize).min(sx2);
                    w.clear();
                    let mut first = sx1;
                    if sx1 as f64 - fsx1 > 1e-3 {
                        first = sx1 - 1;
                        w.push((sx1 as f64 - fsx1) / cell);
                    }
                    w.extend((sx1..sx2).map(|_| 1.0 / cell));
                    if fsx2 - sx2 as f64 > 1e-3 {
                        w.push((fsx2 - sx2 as f64).min(1.0).min(cell) / cell);
                    }
                    taps.push(first, &w, cv_fixed);
                }
                taps
            }
            _ => {
                let ksize = match self {
                    CvInterp::Cubic => 4,
                    CvInterp::Lanczos4 => 8,
                    _ => 2,
                };
                let half = ksize as i64 / 2;
                let mut taps = Taps::new(ksize, outs.len());
                for o in outs {
                    let (mut sx, mut fx);
                    if self == CvInterp::Area {
                        // Enlarging with INTER_AREA: OpenCV's own bilinear weights.
                        sx = (o as f64 * scale).floor() as i64;
                        fx = ((o + 1) as f64 - (sx + 1) as f64 * f) as f32;
                        fx = if fx <= 0.0 { 0.0 } else { fx - fx.floor() };
                    } else {
                        let pos = ((o as f64 + 0.5) * scale - 0.5) as f32;
                        sx = pos.floor() as i64;
                        fx = pos - sx as f32;
                    }
                    let w: Vec<f64> = match self {
                        CvInterp::Cubic => cubic_weights(fx).to_vec(),
                        CvInterp::Lanczos4 => lanczos4_weights(fx).to_vec(),
                        _ => {
                            if sx < 0 && !vertical {
                                (sx, fx) = (0, 0.0);
                            }
                            if sx >= inp as i64 - 1 && !vertical {
                                (sx, fx) = (inp as i64 - 1, 0.0);
                            }
                            vec![1.0 - fx as f64, fx as f64]
                        }
                    };
                    taps.push_clamped(sx - half + 1, &w, inp);
                }
                taps
            }
        }
    }
}

/// A rectangle of output pixels: columns `x0..x0 + width`, rows `y0..y0 + height`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// First column.
    pub x0: usize,
    /// First row.
    pub y0: usize,
    /// Number of columns.
    pub width: usize,
    /// Number of rows.
    pub height: usize,
}

impl Window {
    /// The whole of a `width × height` image.
    pub fn full(width: usize, height: usize) -> Window {
        Window {
            x0: 0,
            y0: 0,
            width,
            height,
        }
    }
}

/// `img.resize((width, height), filter)` with Pillow 9.4 (an unchanged size returns a copy, as
/// Pillow does).
pub fn pil_resize(img: &RgbImage, width: usize, height: usize, filter: PilFilter) -> RgbImage {
    if (width, height) == (img.width, img.height) {
        return img.clone();
    }
    let x = (width != img.width).then(|| filter.taps(img.width, width, 0..width));
    let y = (height != img.height).then(|| filter.taps(img.height, height, 0..height));
    separable(img, x.as_ref(), y.as_ref(), Passes::Pil)
}

/// The pixels in `window` of `cv2.resize(img, None, fx=f, fy=f, interpolation)`, whose full size
/// is [`crate::resize::output_size`]. An unchanged size returns the window of the
/// source, as OpenCV copies the image then.
pub fn cv_resize_window(img: &RgbImage, f: f64, interp: CvInterp, window: Window) -> RgbImage {
    let (ow, oh) = crate::resize::output_size(img.width, img.height, f, f);
    assert!(
        window.x0 + window.width <= ow && window.y0 + window.height <= oh,
        "window {window:?} outside the {ow}x{oh} result"
    );
    let interp = interp.effective(f);
    let xs = window.x0..window.x0 + window.width;
    let ys = window.y0..window.y0 + window.height;
    if (ow, oh) == (img.width, img.height) {
        return crop(img, window);
    }
    if interp == CvInterp::Area && f < 1.0 && !area_fast(f) {
        return area_shrink(img, f, xs, ys);
    }
    let x = interp.taps(img.width, f, xs, false);
    let y = interp.taps(img.height, f, ys, true);
    let vertical = match interp {
        // The block means of OpenCV's INTER_AREA fast path.
        CvInterp::Area if f < 1.0 => CvVertical::Exact,
        CvInterp::Linear | CvInterp::Area => CvVertical::Linear,
        CvInterp::Cubic => CvVertical::Cubic {
            vector_bytes: ow * 3 / 8 * 8,
            x0_bytes: window.x0 * 3,
        },
        CvInterp::Nearest | CvInterp::Lanczos4 => CvVertical::Exact,
    };
    separable(img, Some(&x), Some(&y), Passes::OpenCv(vertical))
}

/// Whether `1/f` is an integer, OpenCV's test for its INTER_AREA fast path (block means), which
/// the area taps reproduce for the exact halving. Other integer factors (1/3, 1/4, ...) take
/// that path in OpenCV too and are not reproduced bit for bit here; a random factor is one of
/// them with probability zero.
fn area_fast(f: f64) -> bool {
    let scale = 1.0 / f;
    (scale - scale.round()).abs() < f64::EPSILON
}

/// `computeResizeAreaTab` in float32 for the outputs in `outs`: (output, input, weight), in
/// OpenCV's order.
fn area_table(inp: usize, scale: f64, outs: Range<usize>) -> Vec<(usize, usize, f32)> {
    let mut tab = Vec::new();
    for o in outs {
        let fsx1 = o as f64 * scale;
        let fsx2 = fsx1 + scale;
        let cell = scale.min(inp as f64 - fsx1);
        let sx2 = (fsx2.floor() as usize).min(inp - 1);
        let sx1 = (fsx1.ceil() as usize).min(sx2);
        if sx1 as f64 - fsx1 > 1e-3 {
            tab.push((o, sx1 - 1, ((sx1 as f64 - fsx1) / cell) as f32));
        }
        tab.extend((sx1..sx2).map(|i| (o, i, (1.0 / cell) as f32)));
        if fsx2 - sx2 as f64 > 1e-3 {
            tab.push((
                o,
                sx2,
                ((fsx2 - sx2 as f64).min(1.0).min(cell) / cell) as f32,
            ));
        }
    }
    tab
}

/// OpenCV's `ResizeArea_Invoker<uchar, float>`, shrinking by a factor whose inverse is not an
/// integer: per output row, each source row's weighted float sum of its cell's pixels, summed
/// over the cell's rows with their weights, rounded half to even. Only the pixels of the window
/// (`xs` × `ys`) are computed.
fn area_shrink(img: &RgbImage, f: f64, xs: Range<usize>, ys: Range<usize>) -> RgbImage {
    let scale = 1.0 / f;
    let (x0, width) = (xs.start, xs.len());
    let xtab = area_table(img.width, scale, xs);
    let ytab = area_table(img.height, scale, ys.clone());
    let mut out = vec![0u8; width * ys.len() * 3];
    let mut sum = vec![0f32; width * 3];
    let mut buf = vec![0f32; width * 3];
    let mut j = 0;
    while j < ytab.len() {
        let dy = ytab[j].0;
        sum.fill(0.0);
        while j < ytab.len() && ytab[j].0 == dy {
            let (_, sy, beta) = ytab[j];
            j += 1;
            buf.fill(0.0);
            let src = &img.data[sy * img.width * 3..(sy + 1) * img.width * 3];
            for &(dx, sx, alpha) in &xtab {
                for c in 0..3 {
                    let b = &mut buf[(dx - x0) * 3 + c];
                    *b += f32::from(src[sx * 3 + c]) * alpha;
                }
            }
            for (s, b) in sum.iter_mut().zip(&buf) {
                *s += beta * b;
            }
        }
        let row = (dy - ys.start) * width * 3;
        for (d, s) in out[row..row + width * 3].iter_mut().zip(&sum) {
            *d = s.round_ties_even().clamp(0.0, 255.0) as u8;
        }
    }
    RgbImage::new(width, ys.len(), out).expect("sized for the window")
}

/// The source pixels that [`cv_resize_window`] reads for `window` of a `width × height` image.
pub fn cv_source_region(
    width: usize,
    height: usize,
    f: f64,
    interp: CvInterp,
    window: Window,
) -> Window {
    if crate::resize::output_size(width, height, f, f) == (width, height) {
        return window;
    }
    let interp = interp.effective(f);
    let xs = interp
        .taps(width, f, window.x0..window.x0 + window.width, false)
        .input_span();
    let ys = interp
        .taps(height, f, window.y0..window.y0 + window.height, true)
        .input_span();
    Window {
        x0: xs.start,
        y0: ys.start,
        width: xs.len(),
        height: ys.len(),
    }
}

/// The pixels of `img` in `window`.
pub fn crop(img: &RgbImage, window: Window) -> RgbImage {
    let mut data = Vec::with_capacity(window.width * window.height * 3);
    for row in window.y0..window.y0 + window.height {
        let start = (row * img.width + window.x0) * 3;
        data.extend_from_slice(&img.data[start..start + window.width * 3]);
    }
    RgbImage::new(window.width, window.height, data).expect("sized for the window")
}

/// Writes `part` into `img` with its top-left corner at `(x0, y0)`.
pub fn paste(img: &mut RgbImage, part: &RgbImage, x0: usize, y0: usize) {
    for row in 0..part.height {
        let dst = ((y0 + row) * img.width + x0) * 3;
        img.data[dst..dst + part.width * 3]
            .copy_from_slice(&part.data[row * part.width * 3..(row + 1) * part.width * 3]);
    }
}

/// The horizontal pass of one source row into `dst`, four `i32` per output pixel (Pillow's
/// already rounded to 8 bits). `src` is the row and one byte more: each tap reads a pixel as
/// four bytes and multiplies all four at once (one vector instruction); the fourth, the next
/// pixel's red, is carried through the vertical pass (also four lanes wide) and dropped at the
/// end. Keeping it stored is what lets the compiler use one 4-lane vector for the three colours.
#[inline(always)]
fn horizontal(src: &[u8], x: &Taps, passes: Passes, bits: u32, dst: &mut [i32]) {
    let half = 1i32 << (bits - 1);
    for (o, d) in dst.chunks_exact_mut(4).enumerate() {
        let (s, n) = (x.start[o], x.len[o]);
        let w = &x.weights[o * x.ksize..o * x.ksize + n];
        let px = &src[s * 3..(s + n) * 3 + 1];
        let mut acc = [0i32; 4];
        for (k, &wk) in w.iter().enumerate() {
            let p = &px[k * 3..k * 3 + 4];
            for c in 0..4 {
                acc[c] += p[c] as i32 * wk;
            }
        }
        match passes {
            Passes::Pil => {
                for (d, a) in d.iter_mut().zip(acc) {
                    *d = ((a + half) >> bits).clamp(0, 255);
                }
            }
            Passes::OpenCv(_) => d.copy_from_slice(&acc),
        }
    }
}

/// Identity taps over `0..n` (an axis that is not resized).
fn identity(n: usize, bits: u32) -> Taps {
    let mut taps = Taps::new(1, n);
    for i in 0..n {
        taps.push(i, &[1.0], |_| 1 << bits);
    }
    taps
}

crate::simd::multiversion! {
/// Runs the horizontal pass (on the rows the vertical pass reads), then the vertical one.
fn separable(img: &RgbImage, x: Option<&Taps>, y: Option<&Taps>, passes: Passes) -> RgbImage {
    let bits = match passes {
        Passes::Pil => PIL_BITS,
        Passes::OpenCv(_) => CV_BITS,
    };
    let id_x;
    let x = match x {
        Some(t) => t,
        None => {
            id_x = identity(img.width, bits);
            &id_x
        }
    };
    let id_y;
    let y = match y {
        Some(t) => t,
        None => {
            id_y = identity(img.height, bits);
            &id_y
        }
    };
    let ow = x.count();
    let half = 1i32 << (bits - 1);
    // The last row has no byte after it to read as a fourth channel (see `horizontal`).
    let last_row: Vec<u8> = {
        let mut v = img.data[img.data.len() - img.width * 3..].to_vec();
        v.push(0);
        v
    };
    let row_of = |row: usize| -> &[u8] {
        let start = row * img.width * 3;
        img.data
            .get(start..start + img.width * 3 + 1)
            .unwrap_or(&last_row)
    };
    // Vertical pass, output row by output row, over a sliding band of horizontally filtered
    // source rows (each filtered once: the taps' first row never decreases), so memory stays
    // small even for the 12,000-pixel rescales of the anchor crop. Both libraries accumulate in
    // 32-bit integers (OpenCV's 22 fractional bits fit: |sum| < 2^31 for its kernels).
    let oh = y.count();
    let mut out = vec![0u8; ow * oh * 3];
    let (round, shift) = match passes {
        Passes::Pil => (half, bits),
        Passes::OpenCv(_) => (1i32 << (2 * bits - 1), 2 * bits),
    };
    let mut band: VecDeque<(usize, Vec<i32>)> = VecDeque::new();
    let mut spare: Vec<Vec<i32>> = Vec::new();
    let mut acc = vec![0i32; ow * 4];
    for (o, dst) in out.chunks_exact_mut(ow * 3).enumerate() {
        let (s, n) = (y.start[o], y.len[o]);
        while band.front().is_some_and(|(r, _)| *r < s) {
            spare.extend(band.pop_front().map(|(_, buf)| buf));
        }
        let mut next = band.back().map_or(s, |(r, _)| r + 1);
        while next < s + n {
            let mut buf = spare.pop().unwrap_or_else(|| vec![0; ow * 4]);
            horizontal(row_of(next), x, passes, bits, &mut buf);
            band.push_back((next, buf));
            next += 1;
        }
        match passes {
            Passes::Pil | Passes::OpenCv(CvVertical::Exact) => {
                let w = &y.weights[o * y.ksize..o * y.ksize + n];
                acc.fill(round);
                for ((_, src), &wk) in band.iter().zip(w) {
                    for (a, &v) in acc.iter_mut().zip(src) {
                        *a = a.wrapping_add(v.wrapping_mul(wk));
                    }
                }
                for (d, a) in dst.chunks_exact_mut(3).zip(acc.chunks_exact(4)) {
                    for (d, &a) in d.iter_mut().zip(a) {
                        *d = (a >> shift).clamp(0, 255) as u8;
                    }
                }
            }
            Passes::OpenCv(CvVertical::Linear) => {
                acc.fill(2);
                for &(row, wk) in &y.each[o * y.ksize..(o + 1) * y.ksize] {
                    for (a, &v) in acc.iter_mut().zip(&band[row - s].1) {
                        *a += ((v >> 4) * wk) >> 16;
                    }
                }
                for (d, a) in dst.chunks_exact_mut(3).zip(acc.chunks_exact(4)) {
                    for (d, &a) in d.iter_mut().zip(a) {
                        *d = (a >> 2).clamp(0, 255) as u8;
                    }
                }
            }
            Passes::OpenCv(CvVertical::Cubic {
                vector_bytes,
                x0_bytes,
            }) => {
                let taps = &y.each[o * y.ksize..(o + 1) * y.ksize];
                let rows: Vec<&[i32]> = taps.iter().map(|&(r, _)| &band[r - s].1[..]).collect();
                let scale = 1.0 / (2048.0f32 * 2048.0);
                let beta: Vec<f32> = taps.iter().map(|&(_, wk)| wk as f32 * scale).collect();
                for (i, d) in dst.iter_mut().enumerate() {
                    let at = i / 3 * 4 + i % 3;
                    *d = if x0_bytes + i < vector_bytes {
                        let mut t = rows[3][at] as f32 * beta[3];
                        for k in (0..3).rev() {
                            // Float addition commutes: this is OpenCV's `s·b + t`.
                            t += rows[k][at] as f32 * beta[k];
                        }
                        t.round_ties_even().clamp(0.0, 255.0) as u8
                    } else {
                        let sum: i32 = (0..4).map(|k| rows[k][at] * taps[k].1).sum();
                        ((sum + round) >> shift).clamp(0, 255) as u8
                    };
                }
            }
        }
    }
    RgbImage::new(ow, oh, out).expect("sized for the output")
}
}

#[cfg(test)]
mod parity;

#[cfg(test)]
mod tests {
    use super::*;

    fn gradient(width: usize, height: usize) -> RgbImage {
        let data = (0..height)
            .flat_map(|y| (0..width).flat_map(move |x| [(x * 7) as u8, (y * 5) as u8, 200]))
            .collect();
        RgbImage::new(width, height, data).unwrap()
    }

    /// The two passes written out the plain way, one channel at a time: what the vectorised
    /// loops in [`separable`] must equal.
    fn two_passes(img: &RgbImage, x: &Taps, y: &Taps, passes: Passes) -> Vec<u8> {
        let bits = match passes {
            Passes::Pil => PIL_BITS,
            Passes::OpenCv(_) => CV_BITS,
        };
        let sum = |t: &Taps, o: usize, at: &dyn Fn(usize) -> i64| -> i64 {
            (0..t.len[o])
                .map(|k| at(t.start[o] + k) * t.weights[o * t.ksize + k] as i64)
                .sum()
        };
        let (ow, oh) = (x.count(), y.count());
        let mut out = Vec::with_capacity(ow * oh * 3);
        for oy in 0..oh {
            for ox in 0..ow {
                for c in 0..3 {
                    let row = |r: usize| {
                        let a = sum(x, ox, &|i| img.data[(r * img.width + i) * 3 + c] as i64);
                        match passes {
                            Passes::Pil => ((a + (1 << (bits - 1))) >> bits).clamp(0, 255),
                            Passes::OpenCv(_) => a,
                        }
                    };
                    let v = match passes {
                        Passes::Pil => (sum(y, oy, &row) + (1 << (bits - 1))) >> bits,
                        Passes::OpenCv(_) => {
                            (sum(y, oy, &row) + (1 << (2 * bits - 1))) >> (2 * bits)
                        }
                    };
                    out.push(v.clamp(0, 255) as u8);
                }
            }
        }
        out
    }

    #[test]
    fn the_resize_loops_equal_the_passes_written_out() {
        let mut rng = crate::train::rng::Rng::derive(7, crate::train::rng::Stream::Train, 0, 0);
        let (w, h) = (53, 31);
        let data = (0..w * h * 3).map(|_| rng.below(256) as u8).collect();
        let img = RgbImage::new(w, h, data).unwrap();
        for f in PilFilter::UPSTREAM {
            for (ow, oh) in [(20, 13), (97, 64)] {
                let (x, y) = (f.taps(w, ow, 0..ow), f.taps(h, oh, 0..oh));
                let got = separable(&img, Some(&x), Some(&y), Passes::Pil);
                assert_eq!(
                    got.data,
                    two_passes(&img, &x, &y, Passes::Pil),
                    "{f:?} {ow}"
                );
            }
        }
        for i in CvInterp::UPSTREAM {
            for f in [0.37, 2.6] {
                let (ow, oh) = crate::resize::output_size(w, h, f, f);
                let i = i.effective(f);
                let (x, y) = (i.taps(w, f, 0..ow, false), i.taps(h, f, 0..oh, true));
                let passes = Passes::OpenCv(CvVertical::Exact);
                let got = separable(&img, Some(&x), Some(&y), passes);
                assert_eq!(got.data, two_passes(&img, &x, &y, passes), "{i:?} {f}");
            }
        }
    }

    #[test]
    fn taps_sum_to_one_in_fixed_point() {
        for f in PilFilter::UPSTREAM {
            for (inp, out) in [(100, 640), (1000, 640), (640, 333), (7, 3)] {
                let t = f.taps(inp, out, 0..out);
                for o in 0..out {
                    let s: i32 = t.weights[o * t.ksize..(o + 1) * t.ksize].iter().sum();
                    assert!((s - (1 << PIL_BITS)).abs() <= t.ksize as i32, "{f:?} {s}");
                }
            }
        }
        for i in CvInterp::UPSTREAM {
            for (inp, out, f) in [(100, 250, 2.5), (1000, 333, 0.333), (64, 640, 10.0)] {
                let t = i.taps(inp, f, 0..out, false);
                for o in 0..out {
                    let s: i32 = t.weights[o * t.ksize..(o + 1) * t.ksize].iter().sum();
                    assert!((s - (1 << CV_BITS)).abs() <= 8, "{i:?} {inp}->{out}: {s}");
                }
            }
        }
    }

    #[test]
    fn a_constant_image_stays_constant_under_every_filter() {
        let img = RgbImage::new(37, 23, [10u8, 128, 250].repeat(37 * 23)).unwrap();
        for f in PilFilter::UPSTREAM {
            let out = pil_resize(&img, 64, 11, f);
            assert!(out.data.chunks(3).all(|p| p == [10, 128, 250]), "{f:?}");
        }
        for i in CvInterp::UPSTREAM {
            for f in [0.37, 2.6] {
                let (w, h) = crate::resize::output_size(37, 23, f, f);
                let out = cv_resize_window(&img, f, i, Window::full(w, h));
                assert_eq!((out.width, out.height), (w, h));
                assert!(out.data.chunks(3).all(|p| p == [10, 128, 250]), "{i:?}");
            }
        }
    }

    #[test]
    fn a_window_equals_the_same_pixels_of_the_full_result() {
        let img = gradient(50, 40);
        for (i, f) in CvInterp::UPSTREAM
            .into_iter()
            .flat_map(|i| [(i, 3.3), (i, 0.77)])
        {
            let (w, h) = crate::resize::output_size(50, 40, f, f);
            let full = cv_resize_window(&img, f, i, Window::full(w, h));
            let win = if f > 1.0 {
                Window {
                    x0: 17,
                    y0: 60,
                    width: 40,
                    height: 31,
                }
            } else {
                Window {
                    x0: 5,
                    y0: 3,
                    width: 20,
                    height: 17,
                }
            };
            assert_eq!(
                cv_resize_window(&img, f, i, win),
                crop(&full, win),
                "{i:?} {f}"
            );
        }
    }

    #[test]
    fn nearest_and_upscaling_pick_the_expected_source_pixels() {
        let img = gradient(4, 2);
        // Pillow NEAREST 4 → 8: every source column twice.
        let out = pil_resize(&img, 8, 2, PilFilter::Nearest);
        let reds: Vec<u8> = out.data.chunks(3).take(8).map(|p| p[0]).collect();
        assert_eq!(reds, [0, 0, 7, 7, 14, 14, 21, 21]);
        // OpenCV NEAREST ×2 the same; bilinear ×2 interpolates at (x + 0.5)/2 − 0.5.
        let out = cv_resize_window(&img, 2.0, CvInterp::Nearest, Window::full(8, 4));
        let reds: Vec<u8> = out.data.chunks(3).take(8).map(|p| p[0]).collect();
        assert_eq!(reds, [0, 0, 7, 7, 14, 14, 21, 21]);
        let out = cv_resize_window(&img, 2.0, CvInterp::Linear, Window::full(8, 4));
        let reds: Vec<u8> = out.data.chunks(3).take(8).map(|p| p[0]).collect();
        // Positions −0.25 (clamped to 0), 0.25, 0.75, 1.25, ..., 3.25 (clamped to 3).
        assert_eq!(reds, [0, 2, 5, 9, 12, 16, 19, 21]);
    }

    #[test]
    fn pillow_box_averages_when_shrinking_by_two() {
        // Bilinear at scale 2 has support 2: weights 1/8, 3/8, 3/8, 1/8 around each pair.
        let data: Vec<u8> = [0u8, 80, 160, 240, 0, 80, 160, 240]
            .iter()
            .flat_map(|&v| [v, v, v])
            .collect();
        let img = RgbImage::new(8, 1, data).unwrap();
        let out = pil_resize(&img, 4, 1, PilFilter::Bilinear);
        let v: Vec<u8> = out.data.chunks(3).map(|p| p[0]).collect();
        // Output 0 covers inputs 0..3 with weights 3/7, 3/7, 1/7 (clipped at the border):
        // (0·3 + 80·3 + 160)/7 = 57.14; output 1 covers inputs 1..5 with 1/8, 3/8, 3/8, 1/8:
        // (80 + 160·3 + 240·3 + 0)/8 = 160.
        assert_eq!(v[0], 57);
        assert_eq!(v[1], 160);
    }
}
