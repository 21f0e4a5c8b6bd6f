//! `reproduce eval --predictions`: the official WIDER val APs of prediction files, end to end,
//! against upstream's own numbers in `shared/`.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::util::{fetched, reproduce, run, run_ok, tempdir};
use crate::{require_mirror, require_reference};

/// A fresh data folder holding the WIDER val ground truth where `zoo.yaml` puts it, copied from
/// the shared folder that `reproduce fetch wider-gt` filled from the mirror.
fn data_dir_with_gt() -> tempfile::TempDir {
    let fetched = fetched(&["wider-gt"]).join("WIDER/ground_truth");
    let data = tempdir();
    let gt = data.path().join("WIDER/ground_truth");
    std::fs::create_dir_all(&gt).unwrap();
    for name in [
        "wider_face_val.mat",
        "wider_easy_val.mat",
        "wider_medium_val.mat",
        "wider_hard_val.mat",
    ] {
        std::fs::copy(fetched.join(name), gt.join(name)).unwrap();
    }
    data
}

/// Unpacks a `.tar.gz` into `dest`.
fn unpack(archive: &Path, dest: &Path) {
    let file = std::fs::File::open(archive).unwrap();
    tar::Archive::new(flate2::read::GzDecoder::new(file))
        .unpack(dest)
        .unwrap();
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Runs `eval --predictions DIR ARGS --json` and returns the report.
fn eval_json(data: &Path, preds: &Path, args: &[&str]) -> Value {
    let json = data.join("report.json");
    run_ok(
        reproduce(data)
            .arg("eval")
            .arg("--predictions")
            .arg(preds)
            .args(args)
            .arg("--json")
            .arg(&json),
    );
    read_json(&json)
}

fn aps(report: &Value) -> [f64; 3] {
    ["easy", "medium", "hard"].map(|s| report["ap"][s].as_f64().unwrap())
}

/// The expected APs that `fixtures/README.md` gives for the full-val synthetic predictions.
fn synthetic_expected(reference: &Path) -> [f64; 3] {
    let readme = std::fs::read_to_string(reference.join("fixtures/README.md")).unwrap();
    let row = readme
        .lines()
        .find(|l| l.contains("wider-val-synthetic-preds-seed1.tar.gz"))
        .expect("the fixture's row");
    ["easy", "medium", "hard"].map(|s| {
        let after = &row[row.find(&format!("{s} ")).unwrap() + s.len() + 1..];
        let end = after
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap();
        after[..end].parse().unwrap()
    })
}

#[test]
fn synthetic_full_val_matches_upstream() {
    require_mirror!();
    let reference = require_reference!();
    let data = data_dir_with_gt();
    let preds = data.path().join("preds");
    unpack(
        &reference.join("fixtures/wider-val-synthetic-preds-seed1.tar.gz"),
        &preds,
    );
    let report = eval_json(data.path(), &preds, &[]);
    let expected = synthetic_expected(&reference);
    for (got, want) in aps(&report).iter().zip(expected) {
        assert!((got - want).abs() <= 1e-12, "{got} vs {want}");
    }
    assert_eq!(report["images"], 3226);
    assert_eq!(report["images_counted"], 3226);
    assert_eq!(report["missing"], "error");
    let curve = report["settings"][2]["pr_curve"].as_array().unwrap();
    assert_eq!(curve.len(), 1000);
}

#[test]
fn reference_case_matches_upstream_exactly() {
    require_mirror!();
    let reference = require_reference!();
    let outputs = reference.join("reference/outputs");
    let data = data_dir_with_gt();
    unpack(&outputs.join("eval_synth_preds.tar.gz"), data.path());
    let preds = data.path().join("synth_preds");
    let expected = read_json(&outputs.join("eval_result.json"));

    // Upstream skips a missing event and ends an event at a missing image.
    let report = eval_json(data.path(), &preds, &["--missing", "upstream"]);
    for (i, got) in aps(&report).iter().enumerate() {
        let want = expected["aps_easy_medium_hard"][i].as_f64().unwrap();
        assert_eq!(got.to_bits(), want.to_bits(), "{got} vs {want}");
    }
    for s in ["easy", "medium", "hard"] {
        let curve = report["settings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["setting"] == s)
            .unwrap()["pr_curve"]
            .clone();
        let rows = curve.as_array().unwrap();
        assert_eq!(
            rows.first(),
            expected[s]["first"].as_array().unwrap().first()
        );
        assert_eq!(
            &rows[997..],
            expected[s]["last"].as_array().unwrap().as_slice()
        );
    }

    // By default a missing prediction file is an error that names it.
    let out = run(reproduce(data.path())
        .arg("eval")
        .arg("--predictions")
        .arg(&preds));
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no prediction for 10--People_Marching/"),
        "{err}"
    );
    assert!(err.contains("--subset"), "{err}");

    // The subset rule keeps the later images of that event, so it evaluates more faces.
    let subset = eval_json(data.path(), &preds, &["--subset"]);
    assert_eq!(subset["missing"], "subset");
    assert_eq!(subset["images"], 200);
    assert!(
        subset["settings"][2]["count_face"].as_u64() > report["settings"][2]["count_face"].as_u64()
    );
}

#[test]
fn upstream_mini_predictions_give_upstream_subset_aps() {
    require_mirror!();
    let reference = require_reference!();
    let data = data_dir_with_gt();
    let fixtures = reference.join("fixtures");
    let expected = read_json(&fixtures.join("upstream-mini-ap.json"));
    let models = expected["models"].as_object().unwrap();
    assert_eq!(models.len(), 9);
    let mut worst = 0.0f64;
    for (name, want) in models {
        let dir: PathBuf = fixtures.join("upstream-preds-mini").join(name);
        let report = eval_json(data.path(), &dir, &["--subset"]);
        assert_eq!(report["images"], 50, "{name}");
        for (i, s) in ["easy", "medium", "hard"].iter().enumerate() {
            let (got, want_ap) = (aps(&report)[i], want[s].as_f64().unwrap());
            worst = worst.max((got - want_ap).abs());
            assert!(
                (got - want_ap).abs() <= 1e-6,
                "{name} {s}: {got} vs {want_ap}"
            );
            assert_eq!(
                report["settings"][i]["count_face"], want["count_face"][s],
                "{name} {s}"
            );
        }
    }
    eprintln!("largest AP difference to upstream-mini-ap.json: {worst:e}");
}

#[test]
fn missing_ground_truth_says_how_to_fetch_it() {
    let data = tempdir();
    std::fs::create_dir(data.path().join("preds")).unwrap();
    let out = run(reproduce(data.path()).args(["eval", "--predictions", "preds"]));
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("wider_face_val.mat") && err.contains("reproduce fetch wider-gt"),
        "{err}"
    );
}

#[test]
fn bench_eval_times_the_stages() {
    require_mirror!();
    let reference = require_reference!();
    let data = data_dir_with_gt();
    let out = run_ok(
        reproduce(data.path())
            .args(["bench", "eval", "--repeat", "1", "--reference"])
            .arg(&reference),
    );
    for stage in [
        "read predictions",
        "load ground truth",
        "evaluate (3 settings)",
        "total",
        "goal:",
    ] {
        assert!(out.contains(stage), "{out}");
    }
    let expected = synthetic_expected(&reference);
    assert!(
        out.contains(&format!(
            "AP: easy {} medium {} hard {}",
            expected[0], expected[1], expected[2]
        )),
        "{out}"
    );
}
