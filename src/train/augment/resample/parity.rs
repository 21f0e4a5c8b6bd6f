//! The resizes against Pillow 9.4.0 and OpenCV 4.8.0 themselves, on real WIDER training crops:
//! `tests/fixtures/parity/resample/`, made by `scripts/fixtures/resample.py`. Every case holds
//! the sha256 of the library's output bytes; small ones also hold the output as PNG, so a
//! mismatch reports how many bytes differ and by how much. OpenCV's references are its own code
//! (IPP off); the fixture notes where the IPP build that opencv-python ships differs.

use serde::Deserialize;

use super::*;
use bfpgm_core::imageio::decode_png;
use bfpgm_core::testutil::{parity_fixture, parity_json};

#[derive(Deserialize)]
struct Index {
    crops: Vec<Crop>,
    pil: Vec<PilCase>,
    cv: Vec<CvCase>,
}

#[derive(Deserialize)]
struct Crop {
    name: String,
    png: String,
}

#[derive(Deserialize)]
struct Output {
    size: [usize; 2],
    sha256: String,
    png: Option<String>,
}

#[derive(Deserialize)]
struct PilCase {
    crop: String,
    filter: String,
    #[serde(flatten)]
    out: Output,
}

#[derive(Deserialize)]
struct CvCase {
    crop: String,
    interp: String,
    factor: f64,
    #[serde(flatten)]
    out: Output,
    ipp_differs: Option<IppDiff>,
}

/// How far the IPP-on output of opencv-python is from OpenCV's own.
#[derive(Deserialize)]
struct IppDiff {
    bytes: usize,
    max: u8,
}

fn read_png(name: &str) -> RgbImage {
    let path = parity_fixture("resample").join(name);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    decode_png(&bytes).unwrap_or_else(|e| panic!("{}: {e:#}", path.display()))
}

fn crops(index: &Index) -> Vec<(String, RgbImage)> {
    index
        .crops
        .iter()
        .map(|c| (c.name.clone(), read_png(&c.png)))
        .collect()
}

fn crop_named<'a>(crops: &'a [(String, RgbImage)], name: &str) -> &'a RgbImage {
    &crops
        .iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no crop {name} in the index"))
        .1
}

/// `None` when `got` is the library's output, else what differs.
fn mismatch(got: &RgbImage, want: &Output) -> Option<String> {
    if [got.width, got.height] != want.size {
        return Some(format!(
            "size {}x{}, want {}x{}",
            got.width, got.height, want.size[0], want.size[1]
        ));
    }
    if bfpgm_core::hash::sha256_hex(&got.data) == want.sha256 {
        return None;
    }
    let Some(png) = &want.png else {
        return Some("sha256 differs".into());
    };
    let reference = read_png(png);
    let diffs: Vec<i32> = got
        .data
        .iter()
        .zip(&reference.data)
        .map(|(a, b)| (*a as i32 - *b as i32).abs())
        .filter(|d| *d > 0)
        .collect();
    Some(format!(
        "{} of {} bytes differ, by up to {}",
        diffs.len(),
        got.data.len(),
        diffs.iter().max().unwrap_or(&0)
    ))
}

fn pil_filter(name: &str) -> PilFilter {
    match name {
        "bilinear" => PilFilter::Bilinear,
        "hamming" => PilFilter::Hamming,
        "nearest" => PilFilter::Nearest,
        "bicubic" => PilFilter::Bicubic,
        "lanczos" => PilFilter::Lanczos,
        _ => panic!("unknown Pillow filter {name}"),
    }
}

fn cv_interp(name: &str) -> CvInterp {
    match name {
        "linear" => CvInterp::Linear,
        "cubic" => CvInterp::Cubic,
        "area" => CvInterp::Area,
        "nearest" => CvInterp::Nearest,
        "lanczos4" => CvInterp::Lanczos4,
        _ => panic!("unknown OpenCV interpolation {name}"),
    }
}

#[test]
fn pillow_resize_equals_pillow_on_wider_crops() {
    let index: Index = parity_json("resample/index.json");
    let crops = crops(&index);
    let mut failures = Vec::new();
    for case in &index.pil {
        let img = crop_named(&crops, &case.crop);
        let [w, h] = case.out.size;
        let got = pil_resize(img, w, h, pil_filter(&case.filter));
        if let Some(m) = mismatch(&got, &case.out) {
            failures.push(format!("{} {} {w}x{h}: {m}", case.crop, case.filter));
        }
    }
    assert!(index.pil.len() >= 25, "the index lost its Pillow cases");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn opencv_resize_equals_opencv_on_wider_crops() {
    let index: Index = parity_json("resample/index.json");
    let crops = crops(&index);
    let mut failures = Vec::new();
    for case in &index.cv {
        let img = crop_named(&crops, &case.crop);
        let (w, h) = crate::resize::output_size(img.width, img.height, case.factor, case.factor);
        let got = cv_resize_window(
            img,
            case.factor,
            cv_interp(&case.interp),
            Window::full(w, h),
        );
        if let Some(m) = mismatch(&got, &case.out) {
            failures.push(format!(
                "{} {} ×{}: {m}",
                case.crop, case.interp, case.factor
            ));
        }
    }
    assert!(index.cv.len() >= 25, "the index lost its OpenCV cases");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The module doc's claim about IPP: it changes INTER_CUBIC only, by at most one unit.
#[test]
fn ipp_changes_only_cubic_and_by_one_unit() {
    let index: Index = parity_json("resample/index.json");
    for case in &index.cv {
        if let Some(d) = &case.ipp_differs {
            assert_eq!(
                case.interp, "cubic",
                "IPP changes {} ×{}",
                case.interp, case.factor
            );
            assert!(
                d.max <= 1 && d.bytes > 0,
                "cubic ×{}: up to {}",
                case.factor,
                d.max
            );
        }
    }
}
