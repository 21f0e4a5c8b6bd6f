//! `reproduce export` end to end: the exported files load in Python's torch, through
//! `torch.jit.load` and through the lite interpreter, and return `reproduce detect`'s boxes on
//! images of three sizes; checkpoints that cannot be exported fail with a clear message.

use std::path::Path;

use bfpgm_core::imageio::{RgbImage, encode_png, read_image};
use bfpgm_core::testutil::npy::{Npy, NpyData};
use serde_json::Value;

use crate::util::{fetched, python, reproduce, run, run_ok, tempdir};

/// Loads both exported files and runs them on raw RGB images given as `FILE:H:W`, printing
/// `{FILE: {runtime: rows}}` as JSON, with torch's version and the lite file's bytecode version;
/// `torchscript_float` feeds the same pixels as float32.
const RUN_EXPORTED: &str = r#"
import json, sys, torch
from torch.jit.mobile import _get_model_bytecode_version, _load_for_lite_interpreter
full = torch.jit.load(sys.argv[1])
lite = _load_for_lite_interpreter(sys.argv[2])
out = {"torch": torch.__version__, "bytecode_version": _get_model_bytecode_version(sys.argv[2])}
for spec in sys.argv[3:]:
    path, h, w = spec.rsplit(":", 2)
    with open(path, "rb") as f:
        image = torch.frombuffer(bytearray(f.read()), dtype=torch.uint8).view(int(h), int(w), 3)
    out[path] = {
        "torchscript": full(image).tolist(),
        "torchscript_float": full(image.float()).tolist(),
        "lite": lite(image).tolist(),
    }
json.dump(out, sys.stdout)
"#;

/// `make_image(320, 320)` of `docs/upstream.md` §reference-outputs, read from its `.npy` file
/// (`|u1`, `(320, 320, 3)`) and checked against the sha256 that section gives.
fn reference_test_image(shared: &Path) -> RgbImage {
    let npy = Npy::read(&shared.join("reference/outputs/test_image_320x320.npy")).unwrap();
    assert_eq!(npy.shape, [320, 320, 3]);
    let NpyData::U8(pixels) = npy.data else {
        panic!("the test image is not uint8: {:?}", npy.data)
    };
    assert_eq!(
        bfpgm_core::hash::sha256_hex(&pixels),
        "d9e8beb347c712baf2996d42078b3d729fa990b1ee4c177cd65884d793911888"
    );
    RgbImage::new(320, 320, pixels).unwrap()
}

/// `image[y0.., x0..]` of the given size.
fn crop(image: &RgbImage, x0: usize, y0: usize, width: usize, height: usize) -> RgbImage {
    let mut data = Vec::with_capacity(width * height * 3);
    for y in y0..y0 + height {
        let row = (y * image.width + x0) * 3;
        data.extend_from_slice(&image.data[row..row + width * 3]);
    }
    RgbImage::new(width, height, data).unwrap()
}

/// Rows `[score, x1, y1, x2, y2]` of a JSON array of arrays or of detection objects, as the
/// float32 values both sides computed (JSON holds them as shortest decimals or as doubles).
fn rows(v: &Value) -> Vec<[f32; 5]> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| match r {
            Value::Array(a) => std::array::from_fn(|c| a[c].as_f64().unwrap() as f32),
            _ => ["score", "x1", "y1", "x2", "y2"].map(|k| r[k].as_f64().unwrap() as f32),
        })
        .collect()
}

/// Checks that `got` holds `expected`'s boxes: the same number of rows, each expected row paired
/// with a distinct row within 1e-3 on the score and on the four pixel coordinates, except at most
/// `exchanged` rows scoring below 0.5 on either side. Returns the largest difference over the
/// pairs and the number of rows exchanged.
///
/// Exchanges: large uniform areas give plateaus of near-equal scores (about 0.156 for
/// EResFD-30), and which member of a plateau NMS keeps depends on the last bits of the scores.
/// The mobile file's convolutions (BatchNorm folded, XNNPACK) round differently from libtorch's
/// default ones, so there it may keep a neighbouring anchor instead (`docs/upstream.md`
/// §tolerances).
fn assert_same_boxes(
    expected: &[[f32; 5]],
    got: &[[f32; 5]],
    exchanged: usize,
    what: &str,
) -> (f32, usize) {
    assert_eq!(got.len(), expected.len(), "{what}: row counts differ");
    let mut used = vec![false; got.len()];
    let mut worst = 0f32;
    let mut unmatched = Vec::new();
    for want in expected {
        let diff = |g: &[f32; 5]| (0..5).map(|c| (g[c] - want[c]).abs()).fold(0.0, f32::max);
        match (0..got.len()).find(|&i| !used[i] && diff(&got[i]) <= 1e-3) {
            Some(i) => {
                used[i] = true;
                worst = worst.max(diff(&got[i]));
            }
            None => unmatched.push(*want),
        }
    }
    let spare: Vec<[f32; 5]> = (0..got.len())
        .filter(|&i| !used[i])
        .map(|i| got[i])
        .collect();
    assert!(
        unmatched.len() <= exchanged && unmatched.iter().chain(&spare).all(|r| r[0] < 0.5),
        "{what}: {} rows differ (at most {exchanged} below score 0.5 may): \
         expected {unmatched:?}, got {spare:?}",
        unmatched.len()
    );
    (worst, unmatched.len())
}

/// Exports `model`, checks the manifest against the files, and compares the Python-side outputs
/// of both files with `reproduce detect` on the reference test image (320×320), Grace Hopper's
/// portrait (600×512) and an odd-sized crop of it (301×333).
fn exported_model_gives_detects_boxes(model: &str) {
    crate::require_mirror!();
    let shared = crate::require_reference!();
    let data = fetched(&["models"]);
    let work = tempdir();
    let dir = work.path();

    let out = dir.join("export");
    run_ok(
        reproduce(&data)
            .args(["export", "--model", model, "--out"])
            .arg(&out),
    );
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join(format!("{model}.json"))).unwrap())
            .unwrap();
    assert_eq!(manifest["model"], model);
    assert_eq!(manifest["arch"], "eresfd");
    assert_eq!(manifest["input"]["layout"], "HWC");
    assert_eq!(manifest["output"]["columns"][0], "score");
    let checkpoint = data
        .join("Pruned_Models")
        .join(manifest["checkpoint"]["file"].as_str().unwrap());
    assert_eq!(
        manifest["checkpoint"]["sha256"].as_str().unwrap(),
        bfpgm_core::hash::sha256_hex(&std::fs::read(&checkpoint).unwrap())
    );
    let mut files = Vec::new();
    for f in manifest["files"].as_array().unwrap() {
        let path = out.join(f["file"].as_str().unwrap());
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(f["bytes"].as_u64().unwrap(), bytes.len() as u64);
        assert_eq!(
            f["sha256"].as_str().unwrap(),
            bfpgm_core::hash::sha256_hex(&bytes)
        );
        files.push((f["runtime"].as_str().unwrap().to_string(), path));
    }
    let runtimes: Vec<&str> = files.iter().map(|(r, _)| r.as_str()).collect();
    assert_eq!(runtimes, ["torchscript", "lite"]);

    let photo = shared.join("fixtures/grace_hopper.jpg");
    let test_image = dir.join("test_image.png");
    let cropped = dir.join("cropped.png");
    let reference = reference_test_image(&shared);
    std::fs::write(&test_image, encode_png(&reference).unwrap()).unwrap();
    let portrait = read_image(&photo).unwrap();
    std::fs::write(
        &cropped,
        encode_png(&crop(&portrait, 90, 80, 333, 301)).unwrap(),
    )
    .unwrap();
    let images = [&test_image, &photo, &cropped];

    let detected: Value = serde_json::from_str(&run_ok(
        reproduce(&data)
            .args(["detect", "--model", model, "--device", "cpu"])
            .args(images),
    ))
    .unwrap();

    let mut cmd = std::process::Command::new(python());
    cmd.arg("-c")
        .arg(RUN_EXPORTED)
        .arg(&files[0].1)
        .arg(&files[1].1);
    let mut raw = Vec::new();
    for (k, path) in images.iter().enumerate() {
        let image = read_image(path).unwrap();
        let file = dir.join(format!("{k}.rgb"));
        std::fs::write(&file, &image.data).unwrap();
        cmd.arg(format!(
            "{}:{}:{}",
            file.display(),
            image.height,
            image.width
        ));
        raw.push((file, image.width, image.height));
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "the Python check failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let python: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        python["torch"]
            .as_str()
            .unwrap()
            .starts_with(manifest["versions"]["libtorch"].as_str().unwrap()),
        "exported with libtorch {}, loaded by torch {}",
        manifest["versions"]["libtorch"],
        python["torch"]
    );
    assert_eq!(manifest["versions"]["reproduce"], env!("CARGO_PKG_VERSION"));
    assert_eq!(
        manifest["files"][1]["bytecode_version"],
        python["bytecode_version"]
    );

    for (k, (file, width, height)) in raw.iter().enumerate() {
        let ours = &detected[k];
        assert_eq!(
            (ours["width"].as_u64(), ours["height"].as_u64()),
            (Some(*width as u64), Some(*height as u64))
        );
        let expected = rows(&ours["detections"]);
        assert!(
            expected.iter().any(|r| r[0] >= 0.5),
            "{model}: no face found in {}",
            images[k].display()
        );
        let runs = &python[file.to_str().unwrap()];
        assert_eq!(
            runs["torchscript"], runs["torchscript_float"],
            "{model}: uint8 and float input differ"
        );
        // The full TorchScript file runs the Rust model's ATen ops; the mobile file may exchange
        // up to 2% of the rows within score plateaus.
        for (runtime, exchanged) in [("torchscript", 0), ("lite", expected.len() / 50)] {
            let what = format!("{model} {runtime} {height}x{width}");
            let (worst, n) = assert_same_boxes(&expected, &rows(&runs[runtime]), exchanged, &what);
            eprintln!("{what}: largest difference {worst:e}, {n} rows exchanged");
        }
    }
}

#[test]
fn eresfd_30_export_gives_detects_boxes_in_torch_and_lite() {
    exported_model_gives_detects_boxes("eresfd-30");
}

#[test]
fn eresfd_original_export_gives_detects_boxes_in_torch_and_lite() {
    exported_model_gives_detects_boxes("eresfd-original");
}

#[test]
fn a_checkpoint_of_another_network_is_an_unknown_architecture() {
    let work = tempdir();
    let file = work.path().join("resnet-ish.pth");
    let mut sd = bfpgm_core::checkpoint::StateDict::new();
    for key in [
        "conv1.weight",
        "bn1.weight",
        "bn1.bias",
        "fc.weight",
        "fc.bias",
    ] {
        sd.push(key, bfpgm_core::checkpoint::Array::f32(&[4], vec![0.0; 4]));
    }
    sd.write(&file).unwrap();
    let out = work.path().join("export");
    let result = run(reproduce(work.path())
        .args(["export", "--model"])
        .arg(&file)
        .arg("--out")
        .arg(&out));
    assert!(!result.status.success());
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(stderr.contains("resnet-ish.pth"), "{stderr}");
    assert!(
        stderr.contains(
            "unknown architecture: the checkpoint's 5 keys match neither EResFD nor EXTD; \
             found conv1.weight, bn1.weight, bn1.bias, fc.weight, ... (1 more)"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("eresfd expects 475 keys such as base.conv1.0.weight"),
        "{stderr}"
    );
    assert!(!out.exists(), "nothing may be written");
}

#[test]
fn an_extd_checkpoint_is_refused_by_name() {
    crate::require_mirror!();
    let data = fetched(&["models"]);
    let work = tempdir();
    let out = work.path().join("export");
    let result = run(reproduce(&data)
        .args(["export", "--model", "extd-original", "--out"])
        .arg(&out));
    assert!(!result.status.success());
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(
        stderr.contains("holds extd weights; only EResFD is exported"),
        "{stderr}"
    );
    assert!(!out.exists(), "nothing may be written");
}
