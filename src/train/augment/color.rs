//! The photometric distortions of `training.md` §2.1 step 1, as Pillow 9.4 computes them.
//!
//! Brightness, contrast and saturation are `ImageEnhance` blends `degenerate + f·(image −
//! degenerate)` in float32, truncated to 8 bits (`Image.blend`): towards black, towards the
//! image's mean grey level, and towards each pixel's own grey level. Hue converts to Pillow's
//! 8-bit HSV, shifts H with numpy's float-to-uint8 cast (truncation, then wrap-around modulo 256),
//! and converts back. Grey levels are ITU-R 601-2 luma in Pillow's fixed point.

use crate::imageio::RgbImage;

/// Pillow's `Image.blend` of one 8-bit value: `a + alpha·(b − a)` in float32, truncated, clipped.
fn blend(a: u8, b: u8, alpha: f32) -> u8 {
    let v = a as f32 + alpha * (b as f32 - a as f32);
    if v <= 0.0 {
        0
    } else if v >= 255.0 {
        255
    } else {
        v as u8
    }
}

/// Pillow's `L` conversion of one pixel (`rgb2l`).
pub fn luma(px: &[u8]) -> u8 {
    ((px[0] as u32 * 19595 + px[1] as u32 * 38470 + px[2] as u32 * 7471 + 0x8000) >> 16) as u8
}

/// `ImageEnhance.Brightness(img).enhance(factor)`: a blend with black.
pub fn brightness(img: &mut RgbImage, factor: f32) {
    let lut: Vec<u8> = (0..=255u8).map(|v| blend(0, v, factor)).collect();
    img.data.iter_mut().for_each(|v| *v = lut[*v as usize]);
}

/// `ImageEnhance.Contrast(img).enhance(factor)`: a blend with the mean grey level, rounded to
/// an integer (`int(mean + 0.5)`).
pub fn contrast(img: &mut RgbImage, factor: f32) {
    let pixels = img.width * img.height;
    if pixels == 0 {
        return;
    }
    let total: u64 = img.data.chunks_exact(3).map(|p| luma(p) as u64).sum();
    let mean = (total as f64 / pixels as f64 + 0.5) as u8;
    let lut: Vec<u8> = (0..=255u8).map(|v| blend(mean, v, factor)).collect();
    img.data.iter_mut().for_each(|v| *v = lut[*v as usize]);
}

/// `ImageEnhance.Color(img).enhance(factor)`: each pixel blended with its own grey level.
pub fn saturation(img: &mut RgbImage, factor: f32) {
    for px in img.data.chunks_exact_mut(3) {
        let grey = luma(px);
        for v in px {
            *v = blend(grey, *v, factor);
        }
    }
}

/// Pillow's `rgb2hsv` of one pixel: H, S, V each 0–255.
pub fn rgb_to_hsv(px: &[u8]) -> [u8; 3] {
    let (r, g, b) = (px[0], px[1], px[2]);
    let maxc = r.max(g).max(b);
    let minc = r.min(g).min(b);
    if maxc == minc {
        return [0, 0, maxc];
    }
    let cr = (maxc - minc) as f32;
    let s = cr / maxc as f32;
    let rc = (maxc - r) as f32 / cr;
    let gc = (maxc - g) as f32 / cr;
    let bc = (maxc - b) as f32 / cr;
    // `2.0` and `4.0` are double literals in Pillow: those sums are computed in double.
    let h = if r == maxc {
        bc - gc
    } else if g == maxc {
        (2.0 + rc as f64 - bc as f64) as f32
    } else {
        (4.0 + gc as f64 - rc as f64) as f32
    };
    // fmod((h / 6.0 + 1.0), 1.0) in double, stored in a float.
    let h = ((h as f64 / 6.0 + 1.0) % 1.0) as f32;
    let clip = |x: f32| ((x as f64 * 255.0) as i32).clamp(0, 255) as u8;
    [clip(h), clip(s), maxc]
}

/// Pillow's `hsv2rgb` of one pixel.
pub fn hsv_to_rgb(hsv: [u8; 3]) -> [u8; 3] {
    let [h, s, v] = hsv;
    if s == 0 {
        return [v, v, v];
    }
    // Pillow mixes float and double here; each step keeps its C type.
    let hf = h as f64 * 6.0 / 255.0;
    let i = hf.floor() as i32;
    let f = (hf - i as f64) as f32;
    let fs = (s as f64 / 255.0) as f32;
    let vf = v as f64;
    let round = |x: f64| (x.round() as i32).clamp(0, 255) as u8;
    let p = round(vf * (1.0 - fs as f64));
    let q = round(vf * (1.0 - (fs * f) as f64));
    let t = round(vf * (1.0 - fs as f64 * (1.0 - f as f64)));
    match i % 6 {
        0 => [v, t, p],
        1 => [q, v, p],
        2 => [p, v, t],
        3 => [p, q, v],
        4 => [t, p, v],
        _ => [v, p, q],
    }
}

/// `h + delta` stored into numpy's `uint8`: truncated toward zero, then wrapped modulo 256.
pub fn shift_hue(h: u8, delta: f64) -> u8 {
    ((h as f64 + delta).trunc() as i64).rem_euclid(256) as u8
}

/// Upstream's `random_hue`: H shifted by `delta` through numpy's cast into `uint8`.
pub fn hue(img: &mut RgbImage, delta: f64) {
    let shift: Vec<u8> = (0..=255u8).map(|h| shift_hue(h, delta)).collect();
    for px in img.data.chunks_exact_mut(3) {
        let [h, s, v] = rgb_to_hsv(px);
        px.copy_from_slice(&hsv_to_rgb([shift[h as usize], s, v]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(pixels: &[[u8; 3]]) -> RgbImage {
        RgbImage::new(pixels.len(), 1, pixels.concat()).unwrap()
    }

    #[test]
    fn brightness_scales_and_truncates() {
        let mut img = image(&[[0, 100, 255], [3, 201, 128]]);
        brightness(&mut img, 1.1);
        // 100·1.1 = 110.00000238 → 110; 255·1.1 clips; 3·1.1 = 3.3 → 3; 201·1.1 = 221.1 → 221.
        assert_eq!(img.data, [0, 110, 255, 3, 221, 140]);
        brightness(&mut img, 0.5);
        assert_eq!(img.data, [0, 55, 127, 1, 110, 70]);
    }

    #[test]
    fn contrast_blends_towards_the_rounded_mean_grey() {
        // Greys 10 and 50 (R = G = B): mean 30.
        let mut img = image(&[[10, 10, 10], [50, 50, 50]]);
        contrast(&mut img, 0.5);
        assert_eq!(img.data, [20, 20, 20, 40, 40, 40]);
        contrast(&mut img, 2.0);
        assert_eq!(img.data, [10, 10, 10, 50, 50, 50]);
    }

    #[test]
    fn saturation_zero_gives_the_grey_image() {
        let mut img = image(&[[255, 0, 0], [0, 255, 0], [0, 0, 255], [12, 34, 56]]);
        let greys: Vec<u8> = img.data.chunks(3).map(luma).collect();
        // ITU-R 601-2: 0.299, 0.587, 0.114 of 255, rounded.
        assert_eq!(greys[..3], [76, 150, 29]);
        saturation(&mut img, 0.0);
        for (px, g) in img.data.chunks(3).zip(greys) {
            assert_eq!(px, [g, g, g]);
        }
    }

    #[test]
    fn hsv_round_trips_primaries_and_greys() {
        for px in [
            [255u8, 0, 0],
            [0, 255, 0],
            [0, 0, 255],
            [128, 128, 128],
            [0, 0, 0],
        ] {
            assert_eq!(hsv_to_rgb(rgb_to_hsv(&px)), px, "{px:?}");
        }
        // Red has hue 0, green 1/3 of the circle (85), blue 2/3 (170).
        assert_eq!(rgb_to_hsv(&[0, 255, 0]), [85, 255, 255]);
        assert_eq!(rgb_to_hsv(&[0, 0, 255]), [170, 255, 255]);
    }

    #[test]
    fn hue_shift_truncates_then_wraps_like_numpy() {
        // training.md §2.1: 3 − 5.3 → −2 → 254; 250 + 10.7 → 260 → 4.
        let cases = [
            (3u8, -5.3, 254u8),
            (250, 10.7, 4),
            (100, 0.9, 100),
            (0, -0.5, 0),
        ];
        for (h, delta, want) in cases {
            assert_eq!(shift_hue(h, delta), want, "{h} + {delta}");
        }
        // A shift by a third of the circle turns pure red into pure green.
        let mut img = image(&[[255, 0, 0]]);
        hue(&mut img, 85.0);
        assert_eq!(img.data, [0, 255, 0]);
    }
}
