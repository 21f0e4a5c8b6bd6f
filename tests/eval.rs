//! `reproduce eval --predictions`: the official WIDER val APs of prediction files, end to end,
//! against upstream's own numbers in `shared/`.

use std::path::{Path, PathBuf};

use bfpgm_core::report::plot::PANEL;
use bfpgm_core::report::style::color;
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

/// Issue 14: a truncated or random ground-truth file is named with what is wrong and how to get
/// it again: no panic report, no backtrace, no terminal colour codes; two setting files given in
/// each other's place are refused too.
#[test]
fn damaged_or_swapped_ground_truth_is_named_without_a_crash_report() {
    require_mirror!();
    let data = data_dir_with_gt();
    std::fs::create_dir(data.path().join("preds")).unwrap();
    let gt = data.path().join("WIDER/ground_truth");
    let easy = gt.join("wider_easy_val.mat");
    let original = std::fs::read(&easy).unwrap();
    let eval = || {
        let out = run(reproduce(data.path()).env("RUST_BACKTRACE", "1").args([
            "eval",
            "--predictions",
            "preds",
            "--subset",
        ]));
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!err.contains("panicked"), "{err}");
        assert!(!err.contains("backtrace"), "{err}");
        assert!(!err.contains('\u{1b}'), "{err}");
        assert_eq!(err.lines().count(), 1, "one error line: {err}");
        err
    };
    std::fs::write(&easy, &original[..original.len() / 2]).unwrap();
    let err = eval();
    assert!(
        err.starts_with(&format!(
            "error: {}: the file is truncated: variable ",
            easy.display()
        )),
        "{err}"
    );
    assert!(
        err.trim_end().ends_with("`reproduce fetch wider-gt`"),
        "{err}"
    );
    let random: Vec<u8> = (0..5000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    std::fs::write(&easy, random).unwrap();
    let err = eval();
    assert!(
        err.starts_with(&format!("error: {}: not a MAT-file", easy.display())),
        "{err}"
    );
    std::fs::write(&easy, std::fs::read(gt.join("wider_hard_val.mat")).unwrap()).unwrap();
    let err = eval();
    assert!(
        err.contains("the medium setting leaves out face")
            && err.contains("the two files are swapped or not from the official kit"),
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

/// The mini val images where `zoo.yaml` extracts them.
fn mini_images(data: &Path) -> PathBuf {
    data.join("WIDER-mini/WIDER_val/images")
}

/// Rows `[x, y, w, h, score]` of a prediction file's text, after its two header lines.
fn rows(text: &str) -> Vec<[f64; 5]> {
    text.lines()
        .skip(2)
        .map(|l| {
            let v: Vec<f64> = l.split(' ').map(|f| f.parse().unwrap()).collect();
            [v[0], v[1], v[2], v[3], v[4]]
        })
        .collect()
}

/// How one model's files differ from upstream's.
#[derive(Default)]
struct Differences {
    files: usize,
    identical: usize,
    rows: usize,
    /// Rows not at the same line with the same text.
    moved: usize,
    /// Rows without a partner within one unit of the written precision.
    unmatched: usize,
    /// Files whose box count differs, with the difference.
    counts: Vec<(String, i64)>,
    /// The highest score of an unmatched row.
    max_unmatched_score: f64,
    /// Files where a line scoring at least 0.2 changed or moved.
    stable_files: Vec<String>,
}

/// Compares our prediction file with upstream's, line by line: the image line must be
/// identical; how the rows differ is collected into `d`.
fn compare_file(ours: &str, theirs: &str, what: &str, d: &mut Differences) {
    let (a, b) = (
        ours.lines().collect::<Vec<_>>(),
        theirs.lines().collect::<Vec<_>>(),
    );
    assert_eq!(a[0], b[0], "{what}: image line");
    d.files += 1;
    d.identical += usize::from(ours == theirs);
    let (ra, rb) = (rows(ours), rows(theirs));
    assert_eq!(
        a[1].parse::<usize>().unwrap(),
        ra.len(),
        "{what}: our count line"
    );
    if ra.len() != rb.len() {
        d.counts
            .push((what.to_string(), ra.len() as i64 - rb.len() as i64));
    }
    if rb
        .iter()
        .enumerate()
        .any(|(i, r)| r[4] >= 0.2 && a.get(i + 2) != Some(&b[i + 2]))
    {
        d.stable_files.push(what.to_string());
    }
    d.rows += rb.len();
    d.moved += (0..rb.len())
        .filter(|&i| a.get(i + 2) != b.get(i + 2))
        .count();
    let close = |x: &[f64; 5], y: &[f64; 5]| {
        (0..4).all(|k| (x[k] - y[k]).abs() <= 0.1 + 1e-9) && (x[4] - y[4]).abs() <= 0.001 + 1e-9
    };
    let mut used = vec![false; ra.len()];
    let mut unmatched = Vec::new();
    for r in &rb {
        match (0..ra.len()).find(|&i| !used[i] && close(&ra[i], r)) {
            Some(i) => used[i] = true,
            None => unmatched.push(r[4]),
        }
    }
    unmatched.extend(
        ra.iter()
            .zip(&used)
            .filter(|(_, u)| !**u)
            .map(|(r, _)| r[4]),
    );
    d.unmatched += unmatched.len();
    for s in unmatched {
        d.max_unmatched_score = d.max_unmatched_score.max(s);
    }
}

/// Reads a PNG's width and height from its header.
fn png_size(path: &Path) -> (u32, u32) {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(
        &bytes[..8],
        b"\x89PNG\r\n\x1a\n",
        "{} is a PNG",
        path.display()
    );
    let be = |i: usize| u32::from_be_bytes(bytes[i..i + 4].try_into().unwrap());
    (be(16), be(20))
}

/// Models whose passes have large groups of exactly equal scores. This machine's convolution
/// kernels differ from those of the machine that made the fixtures in the last bits
/// (`docs/upstream.md` §tolerances: AVX2 here, AVX-512 there), and libtorch's non-stable sort then
/// orders tied candidates differently, so NMS keeps another member of a tie group and each
/// pass's 750-row cut keeps other low-scoring boxes, which box voting averages into higher
/// clusters too. Measured on image 0_Parade_marchingband_1_20, 101 to 237 of the 750 rows of
/// the single-scale pass share their score with another row for these models, against 12 to 22
/// for the others. Their mini-set APs move by as much when only the libtorch thread count
/// changes on one machine (1 → 2 threads: eresfd-30 hard by 2.9e-5, eresfd-40 hard by 1.2e-5).
const TIE_SENSITIVE: [&str; 4] = ["eresfd-20", "eresfd-30", "eresfd-40", "eresfd-50"];
/// Their AP tolerance: above that thread-count effect, five times below the smallest AP
/// difference between two zoo models (5.3e-4, eresfd-40 and eresfd-50, hard). Up to 10% of
/// their rows may have no partner (measured: 1.4% to 4.6%); a broken detection step or vote
/// moves far more.
const TIE_SENSITIVE_AP_TOL: f64 = 1e-4;

/// Every zoo model over the 50 mini val images, through the binary: predictions compared with
/// upstream's line by line, and the subset APs with `upstream-mini-ap.json` (within 1e-6, or
/// [`TIE_SENSITIVE_AP_TOL`] where another CPU broke a tie). For
/// the models without large tie groups `docs/upstream.md` §tolerances holds: every line scoring at
/// least 0.2 is identical and in place; below that, rows only trade places among near-equal
/// scores, or a pass's 750-row cut kept another of two near-equal candidates, which adds or
/// removes a low-scoring cluster (the files whose counts differ).
#[test]
fn every_zoo_model_on_the_mini_set_matches_upstream() {
    require_mirror!();
    let reference = require_reference!();
    let data = fetched(&["wider-val-mini", "wider-gt", "models"]);
    let fixtures = reference.join("fixtures");
    let expected = read_json(&fixtures.join("upstream-mini-ap.json"));
    let work = tempdir();
    let out = work.path().join("eval");
    let stdout = run_ok(
        reproduce(&data)
            .args(["eval", "--all", "--subset", "--device", "cpu"])
            .arg("--images")
            .arg(mini_images(&data))
            .arg("--out")
            .arg(&out),
    );
    assert!(stdout.contains("upstream (mini)"), "{stdout}");
    let report = read_json(&out.join("report.json"));
    assert_eq!(report["images"], 50);
    assert_eq!(report["subset"], true);
    let models = report["models"].as_array().unwrap();
    assert_eq!(models.len(), 9);
    // Three panels, each model's curve (and legend entry) in its own colour.
    let png = out.join("pr_curves.png");
    let (width, height) = png_size(&png);
    assert_eq!(width as usize, 3 * PANEL.0);
    assert!(height as usize >= PANEL.1, "{height}");
    let image = bfpgm_core::imageio::read_image(&png).unwrap();
    for k in 0..models.len() {
        let c = color(k);
        let n = image
            .data
            .chunks(3)
            .filter(|p| *p == [c.0, c.1, c.2])
            .count();
        assert!(n > 100, "model {k}: {n} pixels of its colour");
    }

    for model in models {
        let name = model["name"].as_str().unwrap();
        // The fixture folders are named after the checkpoint files (note EREsFD-10-pruned).
        let file = Path::new(model["checkpoint"].as_str().unwrap())
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        let (folder, want) = expected["models"]
            .as_object()
            .unwrap()
            .iter()
            .find(|(_, m)| m["checkpoint"] == file.as_str())
            .unwrap_or_else(|| panic!("{name}: {file} is not in upstream-mini-ap.json"));
        // zoo.yaml's expected.mini_ap is shown beside the measured APs.
        let zoo_ref = &model["references"][0];
        assert_eq!(zoo_ref["label"], "upstream (mini)", "{name}");
        for s in ["easy", "medium", "hard"] {
            assert_eq!(zoo_ref["ap"][s], want[s], "{name} {s}");
        }

        let theirs = fixtures.join("upstream-preds-mini").join(folder);
        let ours = PathBuf::from(model["predictions"].as_str().unwrap());
        let mut d = Differences::default();
        for event in std::fs::read_dir(&theirs).unwrap() {
            let event = event.unwrap().path();
            for file in std::fs::read_dir(&event).unwrap() {
                let file = file.unwrap().path();
                let rel = file.strip_prefix(&theirs).unwrap();
                let what = format!("{name} {}", rel.display());
                let mine = std::fs::read_to_string(ours.join(rel))
                    .unwrap_or_else(|e| panic!("{what}: {e}"));
                compare_file(
                    &mine,
                    &std::fs::read_to_string(&file).unwrap(),
                    &what,
                    &mut d,
                );
            }
        }
        assert_eq!(d.files, 50, "{name}");
        eprintln!(
            "{name}: {} of 50 files identical; {} of {} rows moved, {} unmatched (highest score \
             {:.3}); counts differ in {:?}; {} files with a changed line scoring >= 0.2",
            d.identical,
            d.moved,
            d.rows,
            d.unmatched,
            d.max_unmatched_score,
            d.counts,
            d.stable_files.len()
        );
        let (ap_tol, unmatched_percent) = if TIE_SENSITIVE.contains(&name) {
            (TIE_SENSITIVE_AP_TOL, 10)
        } else {
            // Rows scoring >= 0.2 are identical and in place, except that another CPU's kernels
            // may break one tie in box voting: on an AVX-512 Xeon, one eresfd-60 file has a
            // 0.312 cluster voted from another member set (its box 1.7 px away), with the same
            // prediction files from this build and the one before the CUDA-loading change, and
            // APs within 7.4e-9; on the CI runner one extd-20 file did, moving its hard AP by
            // 1.3e-6. One such file per model is allowed, and then its APs are held to the
            // tie-sensitive tolerance, which still tells every two zoo models apart; with none,
            // to 1e-6.
            assert!(d.stable_files.len() <= 1, "{name}: {:?}", d.stable_files);
            if d.stable_files.is_empty() {
                assert!(d.max_unmatched_score < 0.2, "{name}");
                (1e-6, 1)
            } else {
                (TIE_SENSITIVE_AP_TOL, 1)
            }
        };
        for (i, s) in ["easy", "medium", "hard"].iter().enumerate() {
            let (got, want_ap) = (aps(model)[i], want[s].as_f64().unwrap());
            assert!(
                (got - want_ap).abs() <= ap_tol,
                "{name} {s}: {got} vs {want_ap}"
            );
            assert_eq!(model["settings"][i]["count_face"], want["count_face"][s]);
        }
        assert!(
            d.unmatched * 100 <= d.rows * unmatched_percent,
            "{name}: {} of {} rows",
            d.unmatched,
            d.rows
        );
    }
}

/// Copies the first `n` mini val images (in ground-truth order of their event folders) into a
/// folder of their own.
fn some_mini_images(data: &Path, dest: &Path, n: usize) -> usize {
    let mut copied = 0;
    let mut events: Vec<PathBuf> = std::fs::read_dir(mini_images(data))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    events.sort();
    for event in events {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&event)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        for f in files {
            if copied == n {
                return copied;
            }
            let to = dest
                .join(event.file_name().unwrap())
                .join(f.file_name().unwrap());
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(&f, &to).unwrap();
            copied += 1;
        }
    }
    copied
}

fn prediction_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for event in std::fs::read_dir(dir).unwrap() {
        let event = event.unwrap().path();
        if event.is_dir() {
            for f in std::fs::read_dir(&event).unwrap() {
                files.push(f.unwrap().path());
            }
        }
    }
    files
}

#[test]
fn ctrl_c_stops_after_an_image_and_the_same_command_resumes() {
    require_mirror!();
    let data = fetched(&["wider-val-mini", "wider-gt", "models"]);
    let work = tempdir();
    let images = work.path().join("images");
    let n = some_mini_images(&data, &images, 12);
    let out = work.path().join("eval");
    let command = || {
        let mut cmd = reproduce(&data);
        cmd.args([
            "eval",
            "eresfd-60",
            "--subset",
            "--device",
            "cpu",
            "--workers",
            "1",
        ])
        .arg("--images")
        .arg(&images)
        .arg("--out")
        .arg(&out);
        cmd
    };
    let child = command()
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let model_out = out.join("eresfd-60");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    while !model_out.is_dir() || prediction_files(&model_out).is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "no prediction file appeared"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let kill = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("run the same command again to resume"),
        "{stdout}"
    );
    let done = prediction_files(&model_out);
    assert!(
        !done.is_empty() && done.len() < n,
        "{} of {n} files",
        done.len()
    );
    assert!(
        !out.join("report.json").exists(),
        "an interrupted run writes no report"
    );
    let before: Vec<(PathBuf, String)> = done
        .iter()
        .map(|p| (p.clone(), std::fs::read_to_string(p).unwrap()))
        .collect();

    run_ok(&mut command());
    let report = read_json(&out.join("report.json"));
    let model = &report["models"][0];
    assert_eq!(model["already_done"], done.len());
    assert_eq!(model["inferred"], n - done.len());
    assert_eq!(prediction_files(&model_out).len(), n);
    for (path, text) in before {
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            text,
            "{}",
            path.display()
        );
    }
    // No temporary file of an interrupted write is left behind.
    let hidden: Vec<PathBuf> = prediction_files(&model_out)
        .into_iter()
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .collect();
    assert!(hidden.is_empty(), "{hidden:?}");

    // Everything done: a third run only evaluates.
    let stdout = run_ok(&mut command());
    assert!(stdout.contains("eresfd-60"), "{stdout}");
    assert_eq!(
        read_json(&out.join("report.json"))["models"][0]["inferred"],
        0
    );
}

#[test]
fn eval_of_models_says_what_to_fetch_and_refuses_mixed_folders() {
    require_mirror!();
    let data = fetched(&["wider-val-mini", "wider-gt", "models"]);
    // A model that is not downloaded: the error names the fetch command.
    let empty = tempdir();
    let out = run(reproduce(empty.path()).args(["eval", "eresfd-30", "--images", "x", "--subset"]));
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("reproduce fetch eresfd-30"), "{err}");
    // A misspelt model: the nearest names.
    let out = run(reproduce(&data).args(["eval", "eresfd-3O", "--subset"]));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(err.contains("eresfd-30"), "{err}");
    // Without --images, the full val set is needed.
    let out = run(reproduce(&data).args(["eval", "eresfd-30"]));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("reproduce fetch wider-val-images"), "{err}");
    // Without --subset, every val image must be there.
    let out = run(reproduce(&data)
        .args(["eval", "eresfd-30"])
        .arg("--images")
        .arg(mini_images(&data)));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("3176 of 3226 images are missing"), "{err}");

    // A checkpoint file evaluated into a folder that holds another one's predictions.
    let work = tempdir();
    let images = work.path().join("images");
    some_mini_images(&data, &images, 1);
    let out_dir = work.path().join("eval");
    let checkpoints = data.join("Pruned_Models");
    let copy = work.path().join("EResFD-60-pruned.pth");
    std::fs::copy(checkpoints.join("EResFD-50-pruned.pth"), &copy).unwrap();
    let eval_file = |file: &Path| {
        let mut cmd = reproduce(&data);
        cmd.args(["eval", "--arch", "eresfd", "--subset", "--device", "cpu"])
            .arg(file)
            .arg("--images")
            .arg(&images)
            .arg("--out")
            .arg(&out_dir);
        run(&mut cmd)
    };
    assert!(
        eval_file(&checkpoints.join("EResFD-60-pruned.pth"))
            .status
            .success()
    );
    let out = eval_file(&copy);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("another checkpoint"), "{err}");
}

#[test]
fn bench_infer_times_the_stages_and_compares_with_upstream() {
    require_mirror!();
    let reference = require_reference!();
    let data = fetched(&["wider-val-mini", "wider-gt", "models"]);
    let stdout = run_ok(
        reproduce(&data)
            .args([
                "bench",
                "infer",
                "--model",
                "eresfd-60",
                "--limit",
                "2",
                "--reference",
            ])
            .arg(&reference),
    );
    for line in [
        "decode",
        "resize",
        "forward",
        "detect/NMS",
        "vote",
        "write",
        "total",
        "wall clock per image",
        "goal: <= 500 ms per image",
        "upstream on 2 CPU cores: ",
        "EResFD-60-pruned:",
        "of 2 files identical",
    ] {
        assert!(stdout.contains(line), "{line}: {stdout}");
    }
}

/// Issue 14: an image whose header claims 60000×60000 is refused by name before it is decoded
/// (bug 1), and outputs that cannot be written, or two models that would share a predictions
/// folder, are refused before any image runs.
#[test]
fn eval_refuses_huge_images_and_unwritable_or_shared_outputs_up_front() {
    require_mirror!();
    let data = fetched(&["wider-val-mini", "wider-gt", "models"]);
    let work = tempdir();
    let images = work.path().join("images");
    some_mini_images(&data, &images, 1);
    let first = prediction_files(&images).remove(0);
    let huge = crate::util::with_declared_size(&std::fs::read(&first).unwrap(), 60000, 60000);
    std::fs::write(&first, huge).unwrap();
    // A fresh --out folder for each case: a failed run keeps what it did, to resume.
    let eval = |models: &[&Path], extra: &[&str], out: &str| {
        let mut cmd = reproduce(&data);
        cmd.args(["eval", "--arch", "eresfd", "--subset", "--device", "cpu"])
            .args(models)
            .arg("--images")
            .arg(&images)
            .arg("--out")
            .arg(work.path().join(out))
            .args(extra);
        run(&mut cmd)
    };
    let checkpoints = data.join("Pruned_Models");
    let model = checkpoints.join("EResFD-30-pruned.pth");
    let out = eval(&[&model], &[], "out");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "decoding image {}: the header declares 60000×60000 pixels",
            first.display()
        )),
        "{err}"
    );

    // A report under a regular file: refused before anything runs (no predictions folder).
    let blocker = work.path().join("blocker");
    std::fs::write(&blocker, b"a file, not a folder").unwrap();
    let report = blocker.join("r.json");
    let out = eval(&[&model], &["--json", report.to_str().unwrap()], "blocked");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("cannot create the folder {}", blocker.display())),
        "{err}"
    );
    assert!(!work.path().join("blocked/EResFD-30-pruned").exists());

    // Two checkpoints with one file stem: refused before the first runs, both named.
    let other = work.path().join("other");
    std::fs::create_dir(&other).unwrap();
    let twin = other.join("EResFD-30-pruned.pth");
    std::fs::copy(checkpoints.join("EResFD-60-pruned.pth"), &twin).unwrap();
    let out = eval(&[&model, &twin], &[], "twins");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "{} and {} would both write their predictions to {}",
            model.display(),
            twin.display(),
            work.path().join("twins/EResFD-30-pruned").display()
        )),
        "{err}"
    );
    assert!(!work.path().join("twins/EResFD-30-pruned").exists());
}
