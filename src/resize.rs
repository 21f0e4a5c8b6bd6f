//! OpenCV-compatible resizing and flipping of 8-bit RGB images, bit for bit.
//!
//! Upstream scales every pass with `cv2.resize(img, None, fx=s, fy=s,
//! interpolation=cv2.INTER_LINEAR)` (opencv-python 4.8.0.74) and mirrors with `cv2.flip(img, 1)`.
//! The detector sees the resized pixels, so identical detections need identical pixels. This
//! module restates what OpenCV does for 8-bit 3-channel images (`docs/upstream.md` §resize):
//!
//! * the output size rounds `W·fx` and `H·fy` half to even, and if it equals the input size
//!   the image is copied unchanged (`cv::resize` returns early; §resize does not say so, and this
//!   was found by comparing with cv2 4.8.0, e.g. 47×31 at 0.999);
//! * a scale of exactly ½ is OpenCV's INTER_AREA fast path: 2×2 block means with `(sum+2) >> 2`,
//!   and the mean of the available pixels, rounded half to even, for the blocks cut by an odd
//!   edge;
//! * any other scale is OpenCV's fixed-point bilinear filter: 11-bit weights from float32
//!   source positions, edge clamping, a horizontal pass into `i32`, and the vertical pass with
//!   the rounding of its SIMD kernel.

use bfpgm_core::imageio::RgbImage;

/// OpenCV's `INTER_RESIZE_COEF_SCALE`: weights are fixed point with 11 fractional bits.
const COEF_SCALE: f32 = 2048.0;

/// `cvRound` of a float to `i16`, saturating (`saturate_cast<short>(float)`).
fn round_i16(x: f32) -> i32 {
    x.round_ties_even()
        .clamp(f32::from(i16::MIN), f32::from(i16::MAX)) as i32
}

/// The size `cv2.resize` gives for scale factors `fx`, `fy`: each side rounded half to even.
pub fn output_size(width: usize, height: usize, fx: f64, fy: f64) -> (usize, usize) {
    let side = |n: usize, f: f64| (n as f64 * f).round_ties_even() as usize;
    (side(width, fx), side(height, fy))
}

/// `cv2.resize(img, None, fx=fx, fy=fy, interpolation=cv2.INTER_LINEAR)` for an RGB image.
///
/// Panics if a factor is not positive or the result would be empty, as OpenCV asserts.
pub fn resize_linear(img: &RgbImage, fx: f64, fy: f64) -> RgbImage {
    assert!(fx > 0.0 && fy > 0.0, "scale factors must be positive");
    let (dw, dh) = output_size(img.width, img.height, fx, fy);
    assert!(
        dw > 0 && dh > 0,
        "resizing {}x{} by {fx} gives an empty image",
        img.width,
        img.height
    );
    if (dw, dh) == (img.width, img.height) {
        // OpenCV copies the source when the size does not change, whatever the factors.
        return img.clone();
    }
    let (scale_x, scale_y) = (1.0 / fx, 1.0 / fy);
    let near_int = |s: f64| (s - s.round_ties_even()).abs() < f64::EPSILON;
    if near_int(scale_x) && near_int(scale_y) && scale_x.round() == 2.0 && scale_y.round() == 2.0 {
        half(img, dw, dh)
    } else {
        bilinear(img, dw, dh, scale_x, scale_y)
    }
}

/// OpenCV's INTER_AREA fast path for an exact 2× reduction (`resizeAreaFast_Invoker`).
fn half(img: &RgbImage, dw: usize, dh: usize) -> RgbImage {
    let (w, h) = (img.width, img.height);
    let px = |y: usize, x: usize, c: usize| u32::from(img.data[(y * w + x) * 3 + c]);
    let mut out = vec![0u8; dw * dh * 3];
    for dy in 0..dh {
        for dx in 0..dw {
            let (sy, sx) = (2 * dy, 2 * dx);
            for c in 0..3 {
                let value = if sy + 1 < h && sx + 1 < w {
                    let sum = px(sy, sx, c)
                        + px(sy, sx + 1, c)
                        + px(sy + 1, sx, c)
                        + px(sy + 1, sx + 1, c);
                    (sum + 2) >> 2
                } else {
                    // A block cut by the right or bottom edge: the mean of what is there.
                    let (mut sum, mut count) = (0u32, 0u32);
                    for y in sy..(sy + 2).min(h) {
                        for x in sx..(sx + 2).min(w) {
                            sum += px(y, x, c);
                            count += 1;
                        }
                    }
                    (sum as f32 / count as f32).round_ties_even() as u32
                };
                out[(dy * dw + dx) * 3 + c] = value.min(255) as u8;
            }
        }
    }
    RgbImage::new(dw, dh, out).expect("sized for dw x dh")
}

/// Source index and the two 11-bit weights of one output coordinate.
struct Tap {
    src: usize,
    w0: i32,
    w1: i32,
}

/// The float32 source position `(d + 0.5)·scale − 0.5`, split into floor and fraction.
fn position(d: usize, scale: f64) -> (i64, f32) {
    let f = ((d as f64 + 0.5) * scale - 0.5) as f32;
    let s = f.floor();
    (s as i64, f - s)
}

/// OpenCV's generic bilinear resize for `u8` (`resizeGeneric_` with `HResizeLinear` and
/// `VResizeLinear`, fixed point).
fn bilinear(img: &RgbImage, dw: usize, dh: usize, scale_x: f64, scale_y: f64) -> RgbImage {
    let (w, h) = (img.width as i64, img.height as i64);
    // Columns: clamp to the image, and from `xmax` on use the left pixel only.
    let mut xmax = dw;
    let cols: Vec<Tap> = (0..dw)
        .map(|dx| {
            let (mut sx, mut f) = position(dx, scale_x);
            if sx < 0 {
                (sx, f) = (0, 0.0);
            }
            if sx + 1 >= w {
                xmax = xmax.min(dx);
                if sx >= w - 1 {
                    (sx, f) = (w - 1, 0.0);
                }
            }
            Tap {
                src: sx as usize,
                w0: round_i16((1.0 - f) * COEF_SCALE),
                w1: round_i16(f * COEF_SCALE),
            }
        })
        .collect();
    let horizontal = |sy: usize, row: &mut Vec<i32>| {
        let src = &img.data[sy * img.width * 3..(sy + 1) * img.width * 3];
        row.clear();
        for (dx, t) in cols.iter().enumerate() {
            for c in 0..3 {
                let a = i32::from(src[t.src * 3 + c]);
                row.push(if dx < xmax {
                    a * t.w0 + i32::from(src[(t.src + 1) * 3 + c]) * t.w1
                } else {
                    a * COEF_SCALE as i32
                });
            }
        }
    };
    let mut out = vec![0u8; dw * dh * 3];
    // The two horizontally filtered source rows in use, by source row index.
    let mut cache: [(usize, Vec<i32>); 2] = [(usize::MAX, Vec::new()), (usize::MAX, Vec::new())];
    for dy in 0..dh {
        // Rows: no weight clamping, only the source rows are clamped.
        let (sy, f) = position(dy, scale_y);
        let b0 = round_i16((1.0 - f) * COEF_SCALE);
        let b1 = round_i16(f * COEF_SCALE);
        let r0 = sy.clamp(0, h - 1) as usize;
        let r1 = (sy + 1).clamp(0, h - 1) as usize;
        if cache[0].0 != r0 {
            if cache[1].0 == r0 {
                cache.swap(0, 1);
            } else {
                horizontal(r0, &mut cache[0].1);
                cache[0].0 = r0;
            }
        }
        if cache[1].0 != r1 {
            horizontal(r1, &mut cache[1].1);
            cache[1].0 = r1;
        }
        let dst = &mut out[dy * dw * 3..(dy + 1) * dw * 3];
        for ((d, &s0), &s1) in dst.iter_mut().zip(&cache[0].1).zip(&cache[1].1) {
            // VResizeLinearVec_32s8u: 16-bit multiply-high of (s >> 4) and the weight, then a
            // rounding shift by 2 with unsigned saturation.
            let v = (((s0 >> 4) * b0) >> 16) + (((s1 >> 4) * b1) >> 16);
            *d = ((v + 2) >> 2).clamp(0, 255) as u8;
        }
    }
    RgbImage::new(dw, dh, out).expect("sized for dw x dh")
}

/// `cv2.flip(img, 1)`: an exact horizontal mirror.
pub fn flip_horizontal(img: &RgbImage) -> RgbImage {
    let mut data = Vec::with_capacity(img.data.len());
    for row in img.data.chunks_exact(img.width * 3) {
        for px in row.chunks_exact(3).rev() {
            data.extend_from_slice(px);
        }
    }
    RgbImage::new(img.width, img.height, data).expect("same size")
}

#[cfg(test)]
mod tests {
    use super::*;
    use bfpgm_core::testutil::reference_file;

    fn image(width: usize, height: usize, seed: u64) -> RgbImage {
        let mut state = seed | 1;
        let data = (0..width * height * 3)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 56) as u8
            })
            .collect();
        RgbImage::new(width, height, data).unwrap()
    }

    /// `docs/upstream.md` §resize restated pixel by pixel, with no row cache and no hoisting.
    fn bilinear_reference(img: &RgbImage, fx: f64) -> RgbImage {
        let (dw, dh) = output_size(img.width, img.height, fx, fx);
        let scale = 1.0 / fx;
        let (w, h) = (img.width as i64, img.height as i64);
        let xmax = (0..dw)
            .find(|&dx| position(dx, scale).0.max(0) + 1 >= w)
            .unwrap_or(dw);
        let mut out = Vec::new();
        for dy in 0..dh {
            let (sy, fy) = position(dy, scale);
            let (b0, b1) = (round_i16((1.0 - fy) * 2048.0), round_i16(fy * 2048.0));
            let rows = [sy.clamp(0, h - 1), (sy + 1).clamp(0, h - 1)];
            for dx in 0..dw {
                let (mut sx, mut f) = position(dx, scale);
                if sx < 0 {
                    (sx, f) = (0, 0.0);
                }
                if sx >= w - 1 {
                    (sx, f) = (w - 1, 0.0);
                }
                let (a0, a1) = (round_i16((1.0 - f) * 2048.0), round_i16(f * 2048.0));
                for c in 0..3 {
                    let px = |y: i64, x: i64| i32::from(img.data[((y * w + x) * 3 + c) as usize]);
                    let r = rows.map(|y| {
                        if dx < xmax {
                            px(y, sx) * a0 + px(y, sx + 1) * a1
                        } else {
                            px(y, sx) * 2048
                        }
                    });
                    let v = (((r[0] >> 4) * b0) >> 16) + (((r[1] >> 4) * b1) >> 16);
                    out.push(((v + 2) >> 2).clamp(0, 255) as u8);
                }
            }
        }
        RgbImage::new(dw, dh, out).unwrap()
    }

    #[test]
    fn bilinear_equals_the_pixel_by_pixel_statement() {
        for (k, &(w, h, s)) in [
            (31, 47, 2.0),
            (47, 31, 0.37),
            (101, 64, 4.463392767839281),
            (64, 101, 1.7),
            (5, 1, 3.0),
            (1, 5, 0.75),
            (33, 25, 0.1),
            (40, 40, 37.0),
        ]
        .iter()
        .enumerate()
        {
            let img = image(w, h, k as u64 + 11);
            assert_eq!(
                resize_linear(&img, s, s),
                bilinear_reference(&img, s),
                "{w}x{h} at {s}"
            );
        }
    }

    #[test]
    fn sizes_match_the_reference_pipeline_passes() {
        // `*_pipeline_*_info.json` record each pass's scale and cv2's output size.
        for run in [
            "eresfd-original_pipeline_320x320",
            "eresfd-original_pipeline_250x333",
        ] {
            let Some(path) = reference_file(&format!("reference/outputs/{run}_info.json")) else {
                return;
            };
            let info: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
            let (h, w) = if run.ends_with("320x320") {
                (320, 320)
            } else {
                (250, 333)
            };
            for call in info["calls"].as_array().unwrap() {
                let s = call["shrink"].as_f64().unwrap();
                let hw = &call["resized_hw"];
                let (rh, rw) = (
                    hw[0].as_u64().unwrap() as usize,
                    hw[1].as_u64().unwrap() as usize,
                );
                assert_eq!(output_size(w, h, s, s), (rw, rh), "{run} at {s}");
            }
        }
    }

    #[test]
    fn exact_half_averages_blocks_and_the_cut_edge() {
        // 3×3 pixels, one channel varying: rows [0 1 2], [4 5 6], [8 9 10] (times 10).
        let data: Vec<u8> = (0..9u8).flat_map(|i| [10 * (i + i / 3), 0, 255]).collect();
        let img = RgbImage::new(3, 3, data).unwrap();
        let out = resize_linear(&img, 0.5, 0.5);
        // 3 × 0.5 = 1.5 rounds to 2: one full block and three cut ones.
        assert_eq!((out.width, out.height), (2, 2));
        let red: Vec<u8> = out.data.chunks(3).map(|p| p[0]).collect();
        // (0+10+40+50+2)>>2 = 25; (20+60)/2 = 40; (80+90)/2 = 85; 100 alone.
        assert_eq!(red, [25, 40, 85, 100]);
        assert!(out.data.chunks(3).all(|p| p[1] == 0 && p[2] == 255));
        // The full block rounds half up, (sum+2)>>2; a cut edge rounds half to even.
        let img = RgbImage::new(2, 2, vec![0, 0, 0, 1, 1, 1, 0, 0, 0, 1, 1, 1]).unwrap();
        assert_eq!(resize_linear(&img, 0.5, 0.5).data, [1, 1, 1]);
        // Column 2 of a 3×2 image holds 0 and 5: a mean of 2.5, rounded to 2.
        let rows = [[0u8; 9], [0, 0, 0, 0, 0, 0, 5, 5, 5]].concat();
        let out = resize_linear(&RgbImage::new(3, 2, rows).unwrap(), 0.5, 0.5);
        assert_eq!(out.data, [0, 0, 0, 2, 2, 2]);
    }

    #[test]
    fn same_size_is_a_copy() {
        let img = image(47, 31, 5);
        assert_eq!(resize_linear(&img, 0.999, 0.999), img);
        assert_eq!(resize_linear(&img, 1.0001, 1.0001), img);
    }

    #[test]
    fn upscaling_a_constant_image_keeps_it_constant() {
        let img = RgbImage::new(7, 5, [9u8, 128, 250].repeat(35)).unwrap();
        for s in [2.0, 4.463392767839281, 1.7] {
            let out = resize_linear(&img, s, s);
            assert!(out.data.chunks(3).all(|p| p == [9, 128, 250]), "at {s}");
        }
    }

    #[test]
    fn flip_mirrors_each_row() {
        let img = image(5, 3, 9);
        let f = flip_horizontal(&img);
        for y in 0..3 {
            for x in 0..5 {
                let (a, b) = ((y * 5 + x) * 3, (y * 5 + 4 - x) * 3);
                assert_eq!(f.data[a..a + 3], img.data[b..b + 3]);
            }
        }
        assert_eq!(flip_horizontal(&f), img);
    }
}
