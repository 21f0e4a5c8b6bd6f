//! `reproduce detect` end to end: a real photo, the output files, and the errors a user meets.

use std::path::Path;

use serde_json::Value;

use crate::util::{fetched, reproduce, run, run_ok, tempdir, with_declared_size};

/// Runs `detect` with `model` on Grace Hopper's portrait (one face, 512×600) and checks the
/// fixture's claim: exactly one box above 0.5, covering the face.
fn finds_grace_hoppers_face(model: &str) {
    crate::require_mirror!();
    let shared = crate::require_reference!();
    let data = fetched(&["models"]);
    let work = tempdir();
    let photo = shared.join("fixtures/grace_hopper.jpg");
    let out = work.path().join("out");
    let drawn = work.path().join("drawn.png");
    let stdout = run_ok(
        reproduce(&data)
            .args(["detect", "--model", model, "--device", "cpu"])
            .arg("--out")
            .arg(&out)
            .arg("--draw")
            .arg(&drawn)
            .arg(&photo),
    );
    assert!(stdout.contains("1 with score >= 0.5"), "{stdout}");

    let json: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("grace_hopper.json")).unwrap())
            .unwrap();
    let (width, height) = (
        json["width"].as_f64().unwrap(),
        json["height"].as_f64().unwrap(),
    );
    assert_eq!((width, height), (512.0, 600.0));
    let dets = json["detections"].as_array().unwrap();
    let strong: Vec<&Value> = dets
        .iter()
        .filter(|d| d["score"].as_f64().unwrap() > 0.5)
        .collect();
    assert_eq!(strong.len(), 1, "{model}: {strong:?}");
    let f = |k: &str| strong[0][k].as_f64().unwrap();
    let (cx, cy, w) = (
        (f("x1") + f("x2")) / 2.0,
        (f("y1") + f("y2")) / 2.0,
        f("x2") - f("x1"),
    );
    assert!(
        cy < height / 2.0,
        "{model}: centre y {cy} is not in the upper half"
    );
    assert!((0.0..width).contains(&cx), "{model}: centre x {cx}");
    assert!((100.0..=300.0).contains(&w), "{model}: width {w}");

    let text = std::fs::read_to_string(out.join("grace_hopper.txt")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "grace_hopper.jpg");
    assert_eq!(lines[1].parse::<usize>().unwrap(), dets.len());
    assert_eq!(lines.len(), dets.len() + 2);
    let first = format!(
        "{:.1} {:.1} {:.1} {:.1} {:.3}",
        f("x1"),
        f("y1"),
        f("x2") - f("x1") + 1.0,
        f("y2") - f("y1") + 1.0,
        f("score")
    );
    assert_eq!(lines[2], first);

    let image = bfpgm_core::imageio::read_image(&drawn).unwrap();
    assert_eq!((image.width, image.height), (512, 600));
    let original = bfpgm_core::imageio::read_image(&photo).unwrap();
    assert_ne!(image.data, original.data, "nothing was drawn");
}

#[test]
fn eresfd_original_finds_grace_hoppers_face() {
    finds_grace_hoppers_face("eresfd-original");
}

#[test]
fn eresfd_60_finds_grace_hoppers_face() {
    finds_grace_hoppers_face("eresfd-60");
}

/// A checkpoint file's network is told from its keys; `--arch` may name it, and a file of
/// another network is refused by name.
#[test]
fn a_checkpoint_file_is_identified_by_its_keys() {
    crate::require_mirror!();
    let shared = crate::require_reference!();
    let data = tempdir();
    let ckpt = fetched(&["models"]).join("Pruned_Models/EXTD-original.pth");
    let photo = shared.join("fixtures/grace_hopper.jpg");
    for arch in [None, Some("extd")] {
        let mut cmd = reproduce(data.path());
        cmd.args(["detect", "--device", "cpu"]);
        if let Some(a) = arch {
            cmd.args(["--arch", a]);
        }
        let stdout = run_ok(cmd.arg("--model").arg(&ckpt).arg(&photo));
        let json: Value = serde_json::from_str(&stdout).unwrap();
        assert_eq!(json[0]["arch"], "extd", "{arch:?}");
        assert!(json[0]["detections"][0]["score"].as_f64().unwrap() > 0.5);
    }

    let foreign = data.path().join("classifier.pth");
    let mut sd = bfpgm_core::checkpoint::StateDict::new();
    for key in ["conv1.weight", "fc.weight", "fc.bias"] {
        sd.push(key, bfpgm_core::checkpoint::Array::f32(&[4], vec![0.0; 4]));
    }
    sd.write(&foreign).unwrap();
    let out = run(reproduce(data.path())
        .args(["detect", "--device", "cpu", "--model"])
        .arg(&foreign)
        .arg(&photo));
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("classifier.pth"), "{err}");
    assert!(
        err.contains("unknown architecture: the checkpoint's 3 keys match neither EResFD nor EXTD"),
        "{err}"
    );
}

/// Issue 14: a file that is no checkpoint says what it is, without the "given without --arch"
/// prefix that only fits a checkpoint of another network.
#[test]
fn invalid_checkpoint_files_say_what_they_are() {
    crate::require_mirror!();
    let data = tempdir();
    let released =
        std::fs::read(fetched(&["models"]).join("Pruned_Models/EResFD-30-pruned.pth")).unwrap();
    let mut legacy = vec![
        0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, b'.',
    ];
    legacy.extend_from_slice(b"\x80\x02}q\x00.");
    let cases: [(&str, Vec<u8>, &str); 3] = [
        (
            "legacy.pth",
            legacy,
            "legacy.pth is not a valid checkpoint: it is a legacy torch.save file (the format of \
             torch before 1.6, not a zip archive)",
        ),
        (
            "cut.pth",
            released[..released.len() / 2].to_vec(),
            "cut.pth is not a valid checkpoint: not a complete zip archive (the file is truncated or \
             damaged)",
        ),
        (
            "empty.pth",
            Vec::new(),
            "empty.pth is not a valid checkpoint: the file is empty",
        ),
    ];
    for (name, bytes, want) in cases {
        std::fs::write(data.path().join(name), bytes).unwrap();
        let err = detect_error(
            data.path(),
            data.path(),
            &["--model", name, "--device", "cpu", "x.jpg"],
        );
        assert!(err.starts_with(&format!("error: {want}")), "{err}");
        assert!(!err.contains("--arch"), "{err}");
    }
}

/// Runs a `detect` that must fail, in `cwd`, and returns its stderr.
fn detect_error(data: &Path, cwd: &Path, args: &[&str]) -> String {
    let out = run(reproduce(data).current_dir(cwd).arg("detect").args(args));
    assert_eq!(out.status.code(), Some(2), "detect {args:?} should fail");
    assert!(out.stdout.is_empty());
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_model_that_is_not_downloaded_says_how_to_fetch_it() {
    let data = tempdir();
    std::fs::write(data.path().join("x.jpg"), b"").unwrap();
    let err = detect_error(data.path(), data.path(), &["--model", "eresfd-30", "x.jpg"]);
    assert!(err.contains("eresfd-30 is not downloaded"), "{err}");
    assert!(err.contains("run `reproduce fetch eresfd-30`"), "{err}");
    let err = detect_error(data.path(), data.path(), &["--model", "eresfd-3", "x.jpg"]);
    assert!(
        err.contains("'eresfd-3' is neither a zoo model nor a checkpoint file"),
        "{err}"
    );
    assert!(err.contains("did you mean 'eresfd-30'"), "{err}");
}

#[test]
fn missing_and_corrupt_images_are_named() {
    crate::require_mirror!();
    let data = fetched(&["models"]);
    let work = tempdir();
    let err = detect_error(
        &data,
        work.path(),
        &["--model", "eresfd-30", "--device", "cpu", "missing.jpg"],
    );
    assert!(
        err.starts_with("error: reading image missing.jpg: "),
        "{err}"
    );
    std::fs::write(
        work.path().join("broken.jpg"),
        b"\xFF\xD8\xFF\xE0 not really a jpeg",
    )
    .unwrap();
    let err = detect_error(
        &data,
        work.path(),
        &["--model", "eresfd-30", "--device", "cpu", "broken.jpg"],
    );
    assert!(
        err.starts_with(
            "error: decoding image broken.jpg: the JPEG ends after 22 bytes, before its frame \
             header (SOF): the file is truncated"
        ),
        "{err}"
    );
}

/// Issue 14, bug 1: a 512×600 JPEG whose header claims 60000×60000, and a PNG whose IHDR does,
/// are refused by name and size before the decoder allocates 10.8 GB; the other image of the
/// batch is still run, and the exit code says that one failed.
#[test]
fn a_huge_declared_size_is_refused_and_the_rest_of_the_batch_runs() {
    crate::require_mirror!();
    let shared = crate::require_reference!();
    let data = fetched(&["models"]);
    let work = tempdir();
    let photo = std::fs::read(shared.join("fixtures/grace_hopper.jpg")).unwrap();
    std::fs::write(
        work.path().join("huge.jpg"),
        with_declared_size(&photo, 60000, 60000),
    )
    .unwrap();
    let small = bfpgm_core::imageio::RgbImage::new(16, 16, vec![128; 16 * 16 * 3]).unwrap();
    let mut png = bfpgm_core::imageio::encode_png(&small).unwrap();
    png[16..24].copy_from_slice(&[0, 0, 0xEA, 0x60, 0, 0, 0xEA, 0x60]);
    std::fs::write(work.path().join("tall.png"), png).unwrap();
    std::fs::write(work.path().join("ok.jpg"), &photo).unwrap();
    let out = run(reproduce(&data).current_dir(work.path()).args([
        "detect",
        "--model",
        "eresfd-30",
        "--device",
        "cpu",
        "--out",
        "out",
        "huge.jpg",
        "ok.jpg",
        "tall.png",
    ]));
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    for file in ["huge.jpg", "tall.png"] {
        assert!(
            err.contains(&format!(
                "error: decoding image {file}: the header declares 60000×60000 pixels (3600.0 \
                 megapixels), more than the limit of 100.0 megapixels"
            )),
            "{err}"
        );
    }
    assert!(
        err.contains(
            "error: 2 of 3 images could not be read or run (above); the other 1 were processed"
        ),
        "{err}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("ok.jpg: "), "{stdout}");
    assert!(work.path().join("out/ok.json").is_file());
    assert!(!work.path().join("out/huge.json").exists());
    // --max-pixels sets the limit: the ordinary photo (307,200 pixels) is above 300,000.
    let out = run(reproduce(&data).current_dir(work.path()).args([
        "detect",
        "--model",
        "eresfd-30",
        "--device",
        "cpu",
        "--max-pixels",
        "300000",
        "ok.jpg",
    ]));
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("decoding image ok.jpg: the header declares 512×600 pixels (0.3 megapixels)"),
        "{err}"
    );
    assert!(out.stdout.is_empty(), "no results, no JSON");
}

/// Issue 14, bug 3: two inputs with one file name would write the same `<name>.json`; the run
/// is refused before the model loads, naming both, and nothing is written.
#[test]
fn two_inputs_with_one_file_name_are_refused_before_running() {
    let shared = crate::require_reference!();
    let data = tempdir();
    let photo = shared.join("fixtures/grace_hopper.jpg");
    for dir in ["a", "b"] {
        std::fs::create_dir(data.path().join(dir)).unwrap();
        std::fs::copy(&photo, data.path().join(dir).join("x.jpg")).unwrap();
    }
    // The model is not even downloaded here: the names are checked first.
    for flag in ["--out", "--draw"] {
        let err = detect_error(
            data.path(),
            data.path(),
            &["--model", "eresfd-30", flag, "res", "a/x.jpg", "b/x.jpg"],
        );
        assert!(
            err.contains(
                "error: a/x.jpg and b/x.jpg would both write x.* into res; rename one of them or \
                 detect them in separate runs"
            ),
            "{flag}: {err}"
        );
        assert!(!data.path().join("res").exists(), "{flag}");
    }
}
