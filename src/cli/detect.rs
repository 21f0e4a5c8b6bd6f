//! `reproduce detect --model NAME|PATH IMAGE...`: one zoo model on photos, at their original
//! size, as upstream's `detect_face(net, img, shrink=1)` does (`docs/upstream.md`
//! §test-protocol): detections above 0.05, boxes in pixels. Writes JSON and the WIDER text format,
//! and can draw the boxes.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use serde::Serialize;

use crate::device;
use crate::model::{Detection, Detector, input_tensor};
use bfpgm_core::cli::Global;
use bfpgm_core::cli::detect::*;
use bfpgm_core::cli::model_arg::{self, IfMissing};
use bfpgm_core::fsutil::{check_writable, write_atomic};
use bfpgm_core::imageio::{RgbImage, encode_png, read_image_within};
use bfpgm_core::report::boxes::{LabelledBox, draw_boxes};
use bfpgm_core::zoo::Arch;

/// A detection in pixels of the original image, `(x1, y1, x2, y2)`.
#[derive(Debug, Clone, Copy, Serialize)]
struct PixelBox {
    score: f32,
    x1: f32,
    y1: f32,
    x2: f32,
    y2: f32,
}

/// What `detect` reports for one image.
#[derive(Debug, Serialize)]
struct ImageResult {
    image: String,
    width: usize,
    height: usize,
    model: String,
    arch: Arch,
    detections: Vec<PixelBox>,
}

/// Normalised boxes to pixels as `detect_face` does at shrink 1: `f32(W) · x / f32(1)` in float32,
/// keeping rows with `score >= 0.05` (all of them, since `Detect` already required `> 0.05`).
fn to_pixels(dets: &[Detection], width: usize, height: usize) -> Vec<PixelBox> {
    let (w, h) = (width as f32, height as f32);
    dets.iter()
        .filter(|d| d.score >= 0.05)
        .map(|d| PixelBox {
            score: d.score,
            x1: w * d.x1 / 1.0,
            y1: h * d.y1 / 1.0,
            x2: w * d.x2 / 1.0,
            y2: h * d.y2 / 1.0,
        })
        .collect()
}

/// The WIDER prediction format (`docs/upstream.md` §pred-files): the image name, the count, then
/// `x y w h score` with the +1 width/height convention, formatted from float64.
fn wider_text(name: &str, boxes: &[PixelBox]) -> String {
    let mut s = format!("{name}\n{}\n", boxes.len());
    for b in boxes {
        let (x1, y1, x2, y2) = (b.x1 as f64, b.y1 as f64, b.x2 as f64, b.y2 as f64);
        s.push_str(&format!(
            "{:.1} {:.1} {:.1} {:.1} {:.3}\n",
            x1,
            y1,
            x2 - x1 + 1.0,
            y2 - y1 + 1.0,
            b.score as f64
        ));
    }
    s
}

/// The image with every box scoring at least `min_score`, each labelled with its score.
fn draw(mut image: RgbImage, boxes: &[PixelBox], min_score: f32) -> Result<RgbImage> {
    let labelled: Vec<LabelledBox> = boxes
        .iter()
        .filter(|b| b.score >= min_score)
        .map(|b| LabelledBox {
            x1: b.x1,
            y1: b.y1,
            x2: b.x2,
            y2: b.y2,
            label: format!("{:.2}", b.score),
        })
        .collect();
    draw_boxes(&mut image, &labelled)?;
    Ok(image)
}

/// Where `--draw` puts its images.
enum DrawTarget {
    /// One image, one named `.png` file.
    File(PathBuf),
    /// `<folder>/<image stem>.png` per image.
    Folder(PathBuf),
}

/// File stem of an image, for the names of its output files.
fn stem(path: &Path) -> Result<String> {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .with_context(|| format!("{} has no file name", path.display()))
}

/// Refuses, before anything runs, two images whose output files would have the same names
/// (`a/x.jpg` and `b/x.jpg` both give `x.json`), naming both: one would silently replace the
/// other's results.
fn refuse_shared_names(images: &[PathBuf], folder: &Path) -> Result<()> {
    let mut seen: BTreeMap<String, &PathBuf> = BTreeMap::new();
    for image in images {
        let name = stem(image)?;
        if let Some(first) = seen.insert(name.clone(), image) {
            bail!(
                "{} and {} would both write {name}.* into {}; rename one of them or detect them \
                 in separate runs",
                first.display(),
                image.display(),
                folder.display()
            );
        }
    }
    Ok(())
}

/// One image's detections, or the error that kept it from being read or run.
fn detect_one(
    detector: &Detector,
    image_path: &Path,
    max_pixels: u64,
) -> Result<(RgbImage, Vec<PixelBox>)> {
    let image = read_image_within(image_path, max_pixels)?;
    let detections = detector
        .detect(&input_tensor(&image))
        .with_context(|| format!("detecting faces in {}", image_path.display()))?;
    let boxes = to_pixels(&detections, image.width, image.height);
    Ok((image, boxes))
}

/// Runs the detector over every image. An image that cannot be read is reported and skipped;
/// the others still run, and the exit code is 2 at the end.
pub fn run(args: DetectArgs, global: &Global) -> Result<ExitCode> {
    let draw_target = match &args.draw {
        Some(p) if p.extension().is_some_and(|e| e.eq_ignore_ascii_case("png")) => {
            if args.images.len() > 1 {
                bail!(
                    "--draw names one .png file but {} images were given; give a folder instead",
                    args.images.len()
                );
            }
            Some(DrawTarget::File(p.clone()))
        }
        Some(p) => Some(DrawTarget::Folder(p.clone())),
        None => None,
    };
    let folders = [
        args.out.as_ref(),
        match &draw_target {
            Some(DrawTarget::Folder(f)) => Some(f),
            _ => None,
        },
    ];
    let folders: Vec<&PathBuf> = folders.into_iter().flatten().collect();
    for dir in &folders {
        refuse_shared_names(&args.images, dir)?;
    }
    let zoo = global.zoo()?;
    let (path, arch, _) = model_arg::resolve(
        &zoo,
        &global.data_dir,
        &args.model,
        args.arch,
        IfMissing::Refuse,
    )?;
    let device = device::resolve(args.device)?;
    let detector = Detector::load(arch, &path, device)?;
    for dir in folders {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    if let Some(DrawTarget::File(file)) = &draw_target {
        check_writable(file)?;
    }

    let mut stdout = std::io::stdout().lock();
    let mut results = Vec::with_capacity(args.images.len());
    let mut failed = 0;
    for image_path in &args.images {
        let (image, boxes) = match detect_one(&detector, image_path, args.limit.max_pixels) {
            Ok(done) => done,
            Err(e) => {
                eprintln!("error: {e:#}");
                failed += 1;
                continue;
            }
        };
        let name = stem(image_path)?;
        let result = ImageResult {
            image: image_path.display().to_string(),
            width: image.width,
            height: image.height,
            model: args.model.clone(),
            arch,
            detections: boxes,
        };
        if let Some(out) = &args.out {
            let file = image_path
                .file_name()
                .map_or(name.clone(), |f| f.to_string_lossy().into_owned());
            write_atomic(
                &out.join(format!("{name}.json")),
                serde_json::to_string_pretty(&result)?.as_bytes(),
            )?;
            write_atomic(
                &out.join(format!("{name}.txt")),
                wider_text(&file, &result.detections).as_bytes(),
            )?;
            let strong = result.detections.iter().filter(|b| b.score >= 0.5).count();
            writeln!(
                stdout,
                "{}: {} detections, {strong} with score >= 0.5",
                image_path.display(),
                result.detections.len()
            )?;
        }
        if let Some(target) = &draw_target {
            let file = match target {
                DrawTarget::File(f) => f.clone(),
                DrawTarget::Folder(dir) => dir.join(format!("{name}.png")),
            };
            let drawn = draw(image, &result.detections, args.draw_min_score)?;
            write_atomic(&file, &encode_png(&drawn)?)?;
        }
        results.push(result);
    }
    if args.out.is_none() && !results.is_empty() {
        writeln!(stdout, "{}", serde_json::to_string_pretty(&results)?)?;
    }
    let total = args.images.len();
    if failed > 0 {
        if failed == total {
            eprintln!("error: no image could be read or run (above)");
        } else {
            eprintln!(
                "error: {failed} of {total} images could not be read or run (above); the other \
                 {} were processed",
                total - failed
            );
        }
        return Ok(ExitCode::from(2));
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_images_with_one_stem_are_refused_naming_both() {
        let images = [
            PathBuf::from("a/x.jpg"),
            PathBuf::from("y.jpg"),
            PathBuf::from("b/x.png"),
        ];
        let err = refuse_shared_names(&images, Path::new("out"))
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "a/x.jpg and b/x.png would both write x.* into out; rename one of them or detect \
             them in separate runs"
        );
        refuse_shared_names(&images[..2], Path::new("out")).unwrap();
    }

    #[test]
    fn wider_text_uses_the_plus_one_convention() {
        let b = PixelBox {
            score: 0.99876,
            x1: 10.25,
            y1: 20.0,
            x2: 30.25,
            y2: 60.5,
        };
        assert_eq!(
            wider_text("a.jpg", &[b]),
            "a.jpg\n1\n10.2 20.0 21.0 41.5 0.999\n"
        );
    }

    #[test]
    fn pixels_are_normalised_coordinates_times_the_size() {
        let d = Detection {
            score: 0.9,
            x1: 0.25,
            y1: 0.5,
            x2: 0.75,
            y2: 1.0,
        };
        let p = to_pixels(&[d], 200, 100);
        assert_eq!(
            (p[0].x1, p[0].y1, p[0].x2, p[0].y2),
            (50.0, 50.0, 150.0, 100.0)
        );
    }
}
