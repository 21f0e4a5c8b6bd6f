//! Geometry tests: on synthetic images of solid-coloured "faces" on a grey background, every box
//! a transform returns must still cover pixels of its face's colour, and the pixels just beyond
//! it must not be that face, whatever the seed, filter or branch.

use super::crop::{self, AnchorSampling, Box4, PAD};
use super::*;
use crate::train::rng::{Rng, Stream};

const BACKGROUND: [u8; 3] = [40, 40, 40];
const COLOURS: [[u8; 3]; 4] = [[250, 0, 0], [0, 250, 0], [0, 0, 250], [250, 250, 0]];

/// A `width × height` image with faces at the given pixel boxes (one colour each) and the boxes,
/// normalised.
fn scene(width: usize, height: usize, faces: &[[usize; 4]]) -> (RgbImage, Vec<Box4>) {
    let mut data = BACKGROUND.repeat(width * height);
    for (k, f) in faces.iter().enumerate() {
        for y in f[1]..f[3] {
            for x in f[0]..f[2] {
                data[(y * width + x) * 3..(y * width + x) * 3 + 3].copy_from_slice(&COLOURS[k]);
            }
        }
    }
    let boxes = faces
        .iter()
        .map(|f| {
            [
                f[0] as f64 / width as f64,
                f[1] as f64 / height as f64,
                f[2] as f64 / width as f64,
                f[3] as f64 / height as f64,
            ]
        })
        .collect();
    (RgbImage::new(width, height, data).unwrap(), boxes)
}

fn pixel(img: &RgbImage, x: f64, y: f64) -> Option<[u8; 3]> {
    let (x, y) = (x.floor(), y.floor());
    if x < 0.0 || y < 0.0 || x >= img.width as f64 || y >= img.height as f64 {
        return None;
    }
    let i = (y as usize * img.width + x as usize) * 3;
    Some([img.data[i], img.data[i + 1], img.data[i + 2]])
}

/// Which face colour a pixel shows, if any (within a tolerance for filter ringing).
fn face_of(px: [u8; 3]) -> Option<usize> {
    COLOURS.iter().position(|c| {
        c.iter()
            .zip(px)
            .all(|(&a, b)| (a as i32 - b as i32).abs() <= 60)
    })
}

/// Every box covers its face: the inner half of the box is one face colour, and points a quarter
/// of the box beyond each edge (where they fall in the image and in no other box) are not it.
fn assert_consistent(img: &RgbImage, boxes: &[Box4], what: &str) {
    let (w, h) = (img.width as f64, img.height as f64);
    for b in boxes {
        let (x1, y1, x2, y2) = (b[0] * w, b[1] * h, b[2] * w, b[3] * h);
        let (bw, bh) = (x2 - x1, y2 - y1);
        assert!(bw > 0.0 && bh > 0.0, "{what}: empty box {b:?}");
        let inner: Vec<Option<usize>> = [0.25, 0.5, 0.75]
            .iter()
            .flat_map(|fy| [0.25, 0.5, 0.75].map(|fx| (fx, *fy)))
            .filter_map(|(fx, fy)| pixel(img, x1 + fx * bw, y1 + fy * bh))
            .map(face_of)
            .collect();
        assert!(
            !inner.is_empty(),
            "{what}: box {b:?} lies outside the image"
        );
        let face = inner[0];
        assert!(
            face.is_some() && inner.iter().all(|f| *f == face),
            "{what}: box {b:?} covers {inner:?}"
        );
        let (cx, cy) = (x1 + bw / 2.0, y1 + bh / 2.0);
        for (px, py) in [
            (x1 - bw / 4.0, cy),
            (x2 + bw / 4.0, cy),
            (cx, y1 - bh / 4.0),
            (cx, y2 + bh / 4.0),
        ] {
            let in_other = boxes.iter().any(|o| {
                let o = [o[0] * w, o[1] * h, o[2] * w, o[3] * h];
                px >= o[0] - 2.0 && px <= o[2] + 2.0 && py >= o[1] - 2.0 && py <= o[3] + 2.0
            });
            if let (Some(p), false) = (pixel(img, px, py), in_other) {
                assert_ne!(
                    face_of(p),
                    face,
                    "{what}: face {face:?} extends beyond box {b:?}"
                );
            }
        }
    }
}

fn faces() -> (RgbImage, Vec<Box4>) {
    scene(
        800,
        600,
        &[
            [100, 120, 160, 190],
            [400, 300, 480, 380],
            [600, 50, 720, 170],
            [250, 450, 290, 500],
        ],
    )
}

const ANCHORS: [u32; 6] = [16, 32, 64, 128, 256, 512];

#[test]
fn the_square_crop_keeps_boxes_on_their_faces() {
    let (img, boxes) = faces();
    let mut cropped = 0;
    for seed in 0..40 {
        let mut rng = Rng::derive(seed, Stream::Train, 0, 0);
        if let Some((out, b)) = crop::square_crop(&img, &boxes, 640, 6.0, &mut rng) {
            // Square in pixels (up to the truncation of its corners).
            assert!((out.width as i64 - out.height as i64).abs() <= 1);
            assert!(
                b.iter().flatten().all(|v| (0.0..=1.0).contains(v)),
                "clipped"
            );
            assert_consistent(&out, &b, &format!("square crop, seed {seed}"));
            cropped += 1;
        }
    }
    assert!(
        cropped > 30,
        "the first sampler (scale 1) always finds a face"
    );
}

#[test]
fn the_anchor_crop_keeps_boxes_on_their_faces_and_pads_with_the_bgr_mean() {
    let (img, boxes) = faces();
    let cfg = AnchorSampling {
        anchors: &ANCHORS,
        window: 640,
        min_face: 6.0,
        max_side: 12_000.0,
    };
    let mut padded = 0;
    for seed in 0..60 {
        let mut rng = Rng::derive(seed, Stream::Train, 0, 0);
        let (out, b) = crop::anchor_crop(&img, &boxes, &cfg, &mut rng);
        assert!(out.width <= 640 && out.height <= 640);
        assert_consistent(&out, &b, &format!("anchor crop, seed {seed}"));
        if out.data.chunks(3).any(|p| p == PAD) {
            padded += 1;
        }
    }
    assert!(padded > 0, "some windows reach past the top or left edge");
}

#[test]
fn the_anchor_crop_aims_at_an_anchor_no_larger_than_the_next_one() {
    // One 30 × 30 face (side 31 with upstream's +1): nearest anchor 32 (index 1), so the target is
    // 16, 32 or 64 and the face ends up between target/2 and 2·target, i.e. 8..128 pixels.
    let (img, boxes) = scene(500, 400, &[[200, 150, 230, 180]]);
    let cfg = AnchorSampling {
        anchors: &ANCHORS,
        window: 640,
        min_face: 0.0,
        max_side: 12_000.0,
    };
    for seed in 0..50 {
        let mut rng = Rng::derive(seed, Stream::Train, 1, 0);
        let (out, b) = crop::anchor_crop(&img, &boxes, &cfg, &mut rng);
        assert_eq!(b.len(), 1, "seed {seed}");
        let side = (b[0][2] - b[0][0]) * out.width as f64 + 1.0;
        assert!(
            (8.0..=128.0 * 31.0 / 30.0 + 1.0).contains(&side),
            "seed {seed}: {side}"
        );
    }
}

#[test]
fn the_anchor_crop_does_not_clip_boxes() {
    // A face bigger than the window: windows lie inside it, so its box leaves the patch.
    let (img, boxes) = scene(700, 700, &[[50, 50, 650, 650]]);
    let cfg = AnchorSampling {
        anchors: &ANCHORS,
        window: 640,
        min_face: 6.0,
        max_side: 12_000.0,
    };
    let mut unclipped = false;
    for seed in 0..30 {
        let mut rng = Rng::derive(seed, Stream::Train, 2, 0);
        let (_, b) = crop::anchor_crop(&img, &boxes, &cfg, &mut rng);
        unclipped |= b.iter().flatten().any(|v| !(0.0..=1.0).contains(v));
    }
    assert!(unclipped);
}

#[test]
fn expansion_keeps_boxes_on_their_faces() {
    let (img, boxes) = faces();
    for seed in 0..10 {
        let mut rng = Rng::derive(seed, Stream::Train, 0, 0);
        let (out, b) = crop::expand(img.clone(), boxes.clone(), 1.0, 4.0, &mut rng);
        assert!(out.width >= img.width && out.height >= img.height);
        assert_eq!(b.len(), boxes.len());
        assert_consistent(&out, &b, &format!("expand, seed {seed}"));
        assert_eq!(&out.data[..3], PAD, "the corner is canvas");
    }
}

#[test]
fn flipping_mirrors_pixels_and_boxes_together() {
    let (img, mut boxes) = faces();
    let flipped = crate::resize::flip_horizontal(&img);
    crop::flip_boxes(&mut boxes);
    assert_consistent(&flipped, &boxes, "flip");
}

#[test]
fn whole_training_samples_keep_boxes_on_their_faces() {
    let (img, boxes) = faces();
    let mut cfg = AugmentConfig::upstream(320, &ANCHORS);
    cfg.distort = false;
    for seed in 0..40 {
        let mut rng = Rng::derive(seed, Stream::Train, 3, seed);
        let (out, b) = train_sample(img.clone(), boxes.clone(), &cfg, &mut rng);
        assert_eq!((out.width, out.height), (320, 320));
        assert_consistent(&out, &b, &format!("sample, seed {seed}"));
    }
}

#[test]
fn the_same_seed_gives_the_same_sample() {
    let (img, boxes) = faces();
    let cfg = AugmentConfig::upstream(320, &ANCHORS);
    let run = |seed| {
        let mut rng = Rng::derive(seed, Stream::Train, 0, 7);
        train_sample(img.clone(), boxes.clone(), &cfg, &mut rng)
    };
    assert_eq!(run(5), run(5));
    assert_ne!(run(5).0, run(6).0);
}

#[test]
fn distortion_changes_colours_but_not_geometry() {
    let (img, _) = faces();
    let mut changed = 0;
    for seed in 0..20 {
        let mut out = img.clone();
        Distortion::draw(&mut Rng::derive(seed, Stream::Train, 0, 0)).apply(&mut out);
        changed += usize::from(out != img);
        assert_eq!((out.width, out.height), (img.width, img.height));
    }
    // All four skip with probability 1/16.
    assert!(changed >= 14, "{changed}");
}

#[test]
fn distorting_a_region_equals_distorting_the_whole_image_there() {
    // A noisy image, so that means and blends are not trivial.
    let mut rng = Rng::derive(3, Stream::Split, 0, 0);
    let data: Vec<u8> = (0..120 * 90 * 3).map(|_| rng.below(256) as u8).collect();
    let img = RgbImage::new(120, 90, data).unwrap();
    let region = resample::Window {
        x0: 17,
        y0: 5,
        width: 60,
        height: 71,
    };
    let mut contrast_cases = 0;
    for seed in 0..60 {
        let d = Distortion::draw(&mut Rng::derive(seed, Stream::Train, 0, 1));
        contrast_cases += usize::from(d.contrast.is_some());
        let mut whole = img.clone();
        d.apply(&mut whole);
        let mut part = img.clone();
        d.apply_region(&mut part, region);
        assert_eq!(
            resample::crop(&whole, region),
            resample::crop(&part, region),
            "seed {seed}: {d:?}"
        );
    }
    assert!(contrast_cases > 15);
}

#[test]
fn crops_read_only_their_source_region() {
    let (img, boxes) = faces();
    let cfg = AnchorSampling {
        anchors: &ANCHORS,
        window: 640,
        min_face: 6.0,
        max_side: 12_000.0,
    };
    for seed in 0..40 {
        let mut rng = Rng::derive(seed, Stream::Train, 4, 0);
        let size = (img.width, img.height);
        let plan = if seed % 2 == 0 {
            crop::plan_anchor(size, &boxes, &cfg, &mut rng)
        } else {
            crop::plan_square(size, &boxes, 640, 6.0, &mut rng)
        };
        let region = plan.source_region(img.width, img.height);
        // Scribble over everything outside the region: the crop must not change.
        let mut scribbled = RgbImage::new(img.width, img.height, vec![7; img.data.len()]).unwrap();
        resample::paste(
            &mut scribbled,
            &resample::crop(&img, region),
            region.x0,
            region.y0,
        );
        assert_eq!(
            plan.apply(&img),
            plan.apply(&scribbled),
            "seed {seed}: {region:?}"
        );
    }
}
