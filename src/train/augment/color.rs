//! The photometric distortions of `docs/upstream.md` §augmentation (step 1), as Pillow 9.4
//! computes them.
//!
//! Brightness, contrast and saturation are `ImageEnhance` blends `degenerate + f·(image −
//! degenerate)` in float32, truncated to 8 bits (`Image.blend`): towards black, towards the
//! image's mean grey level, and towards each pixel's own grey level. Hue converts to Pillow's
//! 8-bit HSV, shifts H with numpy's float-to-uint8 cast (truncation, then wrap-around modulo 256),
//! and converts back. Grey levels are ITU-R 601-2 luma in Pillow's fixed point. All four are bit
//! for bit with Pillow 9.4.0 (checked while writing this on random images); the HSV conversions
//! use tables of Pillow's per-pixel float arithmetic, evaluated once.

use bfpgm_core::imageio::RgbImage;

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
    let lut = brightness_lut(factor);
    img.data.iter_mut().for_each(|v| *v = lut[*v as usize]);
}

/// The mean grey level as `ImageEnhance.Contrast` rounds it (`int(mean + 0.5)`), of the image
/// with `lut` applied to every channel first.
pub fn mean_grey(img: &RgbImage, lut: Option<&[u8]>) -> u8 {
    let pixels = img.width * img.height;
    if pixels == 0 {
        return 0;
    }
    let total: u64 = match lut {
        None => img.data.chunks_exact(3).map(|p| luma(p) as u64).sum(),
        Some(l) => img
            .data
            .chunks_exact(3)
            .map(|p| luma(&[l[p[0] as usize], l[p[1] as usize], l[p[2] as usize]]) as u64)
            .sum(),
    };
    (total as f64 / pixels as f64 + 0.5) as u8
}

/// `ImageEnhance.Contrast(img).enhance(factor)`: a blend with the mean grey level.
pub fn contrast(img: &mut RgbImage, factor: f32) {
    let mean = mean_grey(img, None);
    contrast_towards(img, factor, mean);
}

/// The contrast blend towards a given grey level (the mean of the whole image, when only a part
/// of it is distorted).
pub fn contrast_towards(img: &mut RgbImage, factor: f32, mean: u8) {
    let lut: Vec<u8> = (0..=255u8).map(|v| blend(mean, v, factor)).collect();
    img.data.iter_mut().for_each(|v| *v = lut[*v as usize]);
}

/// The brightness blend as a per-value table.
pub fn brightness_lut(factor: f32) -> Vec<u8> {
    (0..=255u8).map(|v| blend(0, v, factor)).collect()
}

/// `ImageEnhance.Color(img).enhance(factor)`: each pixel blended with its own grey level.
pub fn saturation(img: &mut RgbImage, factor: f32) {
    // Every (grey, value) pair's blend, looked up per pixel.
    let table: Vec<u8> = (0..=255u8)
        .flat_map(|grey| (0..=255u8).map(move |v| blend(grey, v, factor)))
        .collect();
    for px in img.data.chunks_exact_mut(3) {
        let row = &table[luma(px) as usize * 256..][..256];
        for v in px {
            *v = row[*v as usize];
        }
    }
}

/// `round()` of C for a non-negative value, without a libm call (the per-pixel hot path).
#[inline(always)]
fn round_non_negative(x: f64) -> i32 {
    let t = x as i32;
    t + i32::from(x - t as f64 >= 0.5)
}

/// Pillow's `rgb2hsv` arithmetic for H, given which channel is the maximum (0 = R, 1 = G,
/// 2 = B, tested in that order) and the distances `max − c` of the three channels.
fn hue_of(case: usize, d: [u8; 3]) -> u8 {
    let cr = d.iter().copied().max().expect("three channels") as f32;
    let [rc, gc, bc] = d.map(|x| x as f32 / cr);
    // `2.0` and `4.0` are double literals in Pillow: those sums are computed in double.
    let h = match case {
        0 => bc - gc,
        1 => (2.0 + rc as f64 - bc as f64) as f32,
        _ => (4.0 + gc as f64 - rc as f64) as f32,
    };
    // fmod((h / 6.0 + 1.0), 1.0) in double, stored in a float; the argument lies in (0, 2), where
    // subtracting its integer part is exact.
    let x = h as f64 / 6.0 + 1.0;
    let h = (x - (x as i32) as f64) as f32;
    ((h as f64 * 255.0) as i32).clamp(0, 255) as u8
}

/// H for every (max channel, two distances) and S for every (max − min, max): Pillow's
/// per-pixel float arithmetic, evaluated once.
struct HsvTables {
    hue: Vec<u8>,
    sat: Vec<u8>,
}

fn tables() -> &'static HsvTables {
    static TABLES: std::sync::OnceLock<HsvTables> = std::sync::OnceLock::new();
    TABLES.get_or_init(|| {
        let mut hue = vec![0u8; 3 * 256 * 256];
        for case in 0..3 {
            for a in 0..=255u8 {
                for b in 0..=255u8 {
                    if a == 0 && b == 0 {
                        // A grey pixel: H stays 0, as Pillow's.
                        continue;
                    }
                    // The two distances of the non-maximal channels, in channel order.
                    let d = match case {
                        0 => [0, a, b],
                        1 => [a, 0, b],
                        _ => [a, b, 0],
                    };
                    hue[(case * 256 + a as usize) * 256 + b as usize] = hue_of(case, d);
                }
            }
        }
        let mut sat = vec![0u8; 256 * 256];
        for cr in 0..=255u16 {
            for maxc in cr.max(1)..=255 {
                let s = cr as f32 / maxc as f32;
                sat[cr as usize * 256 + maxc as usize] =
                    ((s as f64 * 255.0) as i32).clamp(0, 255) as u8;
            }
        }
        HsvTables { hue, sat }
    })
}

/// Pillow's `rgb2hsv` of one pixel: H, S, V each 0–255.
pub fn rgb_to_hsv(px: &[u8]) -> [u8; 3] {
    to_hsv(tables(), px)
}

/// Branch-free, as pixel colours are too varied to predict: the case is computed rather than
/// branched on, and a grey pixel (`max = min`) reads the tables' zero entries for distance 0,
/// which gives Pillow's `(0, 0, max)`.
#[inline(always)]
fn to_hsv(t: &HsvTables, px: &[u8]) -> [u8; 3] {
    let (r, g, b) = (px[0], px[1], px[2]);
    let maxc = r.max(g).max(b);
    let minc = r.min(g).min(b);
    // 0 when R is the maximum, else 1 when G is, else 2 (Pillow tests in that order).
    let case = usize::from(r != maxc) * (1 + usize::from(g != maxc));
    let a = if case == 0 { maxc - g } else { maxc - r };
    let b = if case == 2 { maxc - g } else { maxc - b };
    [
        t.hue[(case * 256 + a as usize) * 256 + b as usize],
        t.sat[(maxc - minc) as usize * 256 + maxc as usize],
        maxc,
    ]
}

/// Pillow's `hsv2rgb` intermediates per H (the sextant `i`, `f` and `1 − f`) and per S (`fs`
/// and `1 − fs`), each with Pillow's mix of float and double, so the per-pixel work is a few
/// multiplications.
struct RgbTables {
    sextant: [u8; 256],
    f: [f32; 256],
    one_minus_f: [f64; 256],
    fs: [f32; 256],
    one_minus_fs: [f64; 256],
}

fn rgb_tables() -> &'static RgbTables {
    static TABLES: std::sync::OnceLock<RgbTables> = std::sync::OnceLock::new();
    TABLES.get_or_init(|| {
        let mut t = RgbTables {
            sextant: [0; 256],
            f: [0.0; 256],
            one_minus_f: [0.0; 256],
            fs: [0.0; 256],
            one_minus_fs: [0.0; 256],
        };
        for x in 0..256 {
            let hf = x as f64 * 6.0 / 255.0;
            let i = hf as i32;
            let f = (hf - i as f64) as f32;
            t.sextant[x] = (i % 6) as u8;
            t.f[x] = f;
            t.one_minus_f[x] = 1.0 - f as f64;
            let fs = (x as f64 / 255.0) as f32;
            t.fs[x] = fs;
            t.one_minus_fs[x] = 1.0 - fs as f64;
        }
        t
    })
}

/// Pillow's `hsv2rgb` of one pixel.
pub fn hsv_to_rgb(hsv: [u8; 3]) -> [u8; 3] {
    to_rgb(rgb_tables(), hsv)
}

fn to_rgb(tb: &RgbTables, hsv: [u8; 3]) -> [u8; 3] {
    let [h, s, v] = hsv;
    let (h, s) = (h as usize, s as usize);
    let [p, q, t] = pqt(
        v as f64,
        tb.fs[s],
        tb.one_minus_fs[s],
        tb.f[h],
        tb.one_minus_f[h],
    );
    assemble(tb, hsv, p, q, t)
}

/// Pillow's `p`, `q` and `t` of `hsv2rgb` from V and the table entries of S and H, each with
/// its own mix of float and double.
#[inline(always)]
fn pqt(vf: f64, fs: f32, one_minus_fs: f64, f: f32, one_minus_f: f64) -> [u8; 3] {
    [
        round_u8(vf * one_minus_fs),
        round_u8(vf * (1.0 - (fs * f) as f64)),
        round_u8(vf * (1.0 - fs as f64 * one_minus_f)),
    ]
}

/// C's `round()` of a non-negative value, clipped to a byte.
#[inline(always)]
fn round_u8(x: f64) -> u8 {
    round_non_negative(x).clamp(0, 255) as u8
}

/// Pillow's choice among `v`, `p`, `q` and `t` by the sextant of H (grey when S is 0), as
/// indices into `[v, p, q, t]`: a lookup rather than a branch per pixel.
#[inline(always)]
fn assemble(tb: &RgbTables, [h, s, v]: [u8; 3], p: u8, q: u8, t: u8) -> [u8; 3] {
    const PICK: [[usize; 3]; 7] = [
        [0, 3, 1],
        [2, 0, 1],
        [1, 0, 3],
        [1, 2, 0],
        [3, 1, 0],
        [0, 1, 2],
        [0, 0, 0],
    ];
    let values = [v, p, q, t];
    let pick = PICK[if s == 0 {
        6
    } else {
        tb.sextant[h as usize] as usize
    }];
    pick.map(|i| values[i])
}

/// `h + delta` stored into numpy's `uint8`: truncated toward zero, then wrapped modulo 256.
pub fn shift_hue(h: u8, delta: f64) -> u8 {
    ((h as f64 + delta).trunc() as i64).rem_euclid(256) as u8
}

/// Upstream's `random_hue`: H shifted by `delta` through numpy's cast into `uint8`.
pub fn hue(img: &mut RgbImage, delta: f64) {
    let mut shift = [0u8; 256];
    for (h, s) in shift.iter_mut().enumerate() {
        *s = shift_hue(h as u8, delta);
    }
    hue_shift(&mut img.data, &shift);
}

/// Pixels [`hue_shift`] converts together.
const LANES: usize = 16;

crate::simd::multiversion! {
/// [`hue`] on packed RGB pixels with the shift as a table. [`to_rgb`]'s arithmetic runs
/// [`LANES`] pixels at a time in separate arrays, with the table lookups done beforehand, so
/// that the multiplications and roundings become vector instructions; the result is
/// [`to_rgb`]'s, pixel for pixel (a unit test compares them).
fn hue_shift(data: &mut [u8], shift: &[u8; 256]) {
    let (to, from) = (tables(), rgb_tables());
    for chunk in data.chunks_mut(3 * LANES) {
        let mut hsv = [[0u8; 3]; LANES];
        for (o, px) in hsv.iter_mut().zip(chunk.chunks_exact(3)) {
            *o = to_hsv(to, px);
            o[0] = shift[o[0] as usize];
        }
        let (mut vf, mut fs, mut one_minus_fs, mut f, mut one_minus_f) =
            ([0f64; LANES], [0f32; LANES], [0f64; LANES], [0f32; LANES], [0f64; LANES]);
        for (i, &[h, s, v]) in hsv.iter().enumerate() {
            vf[i] = v as f64;
            fs[i] = from.fs[s as usize];
            one_minus_fs[i] = from.one_minus_fs[s as usize];
            f[i] = from.f[h as usize];
            one_minus_f[i] = from.one_minus_f[h as usize];
        }
        let mut out = [[0u8; 3]; LANES];
        for (i, o) in out.iter_mut().enumerate() {
            *o = pqt(vf[i], fs[i], one_minus_fs[i], f[i], one_minus_f[i]);
        }
        for (i, px) in chunk.chunks_exact_mut(3).enumerate() {
            let [p, q, t] = out[i];
            px.copy_from_slice(&assemble(from, hsv[i], p, q, t));
        }
    }
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
    fn the_tables_give_pillows_hsv_of_every_colour() {
        for c in 0..1u32 << 24 {
            let px = [(c >> 16) as u8, (c >> 8) as u8, c as u8];
            let (maxc, minc) = (*px.iter().max().unwrap(), *px.iter().min().unwrap());
            let want = if maxc == minc {
                [0, 0, maxc]
            } else {
                let case = px.iter().position(|&x| x == maxc).unwrap();
                let s = (maxc - minc) as f32 / maxc as f32;
                let s = ((s as f64 * 255.0) as i32).clamp(0, 255) as u8;
                [hue_of(case, px.map(|x| maxc - x)), s, maxc]
            };
            assert_eq!(rgb_to_hsv(&px), want, "{px:?}");
        }
    }

    #[test]
    fn the_vectorised_hue_shift_equals_the_per_pixel_conversion() {
        // Every colour, in an image whose size is not a multiple of the lane count.
        let data: Vec<u8> = (0..1u32 << 24)
            .flat_map(|c| [(c >> 16) as u8, (c >> 8) as u8, c as u8])
            .chain([7, 8, 9])
            .collect();
        for delta in [-17.3, 0.0, 11.9] {
            let mut img = RgbImage::new(data.len() / 3, 1, data.clone()).unwrap();
            hue(&mut img, delta);
            for (px, out) in data.chunks_exact(3).zip(img.data.chunks_exact(3)) {
                let [h, s, v] = rgb_to_hsv(px);
                assert_eq!(
                    out,
                    hsv_to_rgb([shift_hue(h, delta), s, v]),
                    "{px:?} {delta}"
                );
            }
        }
    }

    #[test]
    fn hue_shift_truncates_then_wraps_like_numpy() {
        // docs/upstream.md §augmentation: 3 − 5.3 → −2 → 254; 250 + 10.7 → 260 → 4.
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
