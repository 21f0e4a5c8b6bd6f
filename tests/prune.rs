//! The pruning commands end to end on the mini WIDER sets (fetched from the mirror), on the CPU:
//! `reproduce pipeline --quick` from the released EResFD-original ends with a checkpoint whose
//! measured sparsity is in the BO's band around the target, which `reproduce tables` and
//! `reproduce detect` load; a second call finds every stage complete, and one with other settings
//! is refused; a search stopped by its trial budget and resumed logs exactly the trials of an
//! uninterrupted one.

use std::path::{Path, PathBuf};
use std::process::Command;

use bfpgm_core::checkpoint::StateDict;
use bfpgm_core::measure::calc_sparsity;
use bfpgm_core::zoo::Arch;

use crate::util::{fetched_zoo, reproduce, run, run_ok, tempdir};

/// The shared data folder with the whole zoo (`tables` measures it) and the mini sets.
fn data() -> PathBuf {
    fetched_zoo(&["wider-mini"])
}

fn original(data: &Path) -> PathBuf {
    data.join("Pruned_Models/EResFD-original.pth")
}

fn json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

#[test]
fn pipeline_quick_ends_in_the_sparsity_band_with_a_model_tables_and_detect_load() {
    crate::require_mirror!();
    let data = data();
    let dir = tempdir();
    let out = dir.path().join("run");
    let pipeline = || {
        let mut cmd = reproduce(&data);
        cmd.args(["pipeline", "--arch", "eresfd", "--target", "0.3", "--quick"])
            .args([
                "--device",
                "cpu",
                "--workers",
                "2",
                "--eval",
                "off",
                "--quiet",
            ])
            .arg("--from")
            .arg(original(&data))
            .arg("--wider")
            .arg(data.join("WIDER-mini"))
            .arg("--out")
            .arg(&out);
        cmd
    };
    let stdout = run_ok(&mut pipeline());
    for stage in ["bo", "sfp", "finetune"] {
        assert!(
            stdout
                .lines()
                .any(|l| l.trim_start().starts_with(stage) && l.contains(" ran ")),
            "{stage} ran: {stdout}"
        );
    }
    assert!(stdout.contains("pretrain  skipped"), "{stdout}");

    // The search: probe + 3 random + 1 guided trial, each logged.
    let csv = std::fs::read_to_string(out.join("bo/optimization_results.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 5, "{csv}");
    assert!(out.join("bo/optimization.png").is_file());
    let rates = json(&out.join("bo/optimal_rates.json"));
    assert_eq!(rates["grouping"], "checkpoint");
    assert_eq!(rates["trials"], 5);

    // The model: upstream's state-dict format, sparsity within ±4 points of the target, and
    // every group's zeros exactly what ⌊rate · filters⌋ gives (SFP's last prune, kept by
    // fine-tuning's frozen convs).
    let model = out.join("finetune/model.pth");
    let sd = StateDict::read(&model).unwrap();
    assert_eq!(sd.len(), 920);
    let sparsity = calc_sparsity(&sd, Arch::Eresfd).unwrap();
    let record = json(&out.join("finetune/model.json"));
    assert_eq!(record["sparsity"]["zeros"], sparsity.zeros);
    assert_eq!(record["sparsity"]["total"], 92_208);
    let percent = sparsity.percent();
    assert!(
        (percent - 30.0).abs() < 4.0,
        "sparsity {percent} % is outside the band 26–34 %"
    );
    assert_eq!(record["rates"], rates["rates"]);
    assert_eq!(
        record["reproduces"],
        serde_json::json!([true, true, true, true, true, true])
    );
    assert_eq!(record["semantics"], "upstream");

    // `reproduce tables` measures it beside the zoo models.
    let tables = run_ok(
        reproduce(&data)
            .args(["tables", "--json", "--checkpoint"])
            .arg(&model),
    );
    let tables: serde_json::Value = serde_json::from_str(&tables).unwrap();
    let eresfd = &tables["tables"][0];
    assert_eq!(eresfd["arch"], "eresfd");
    let rows = eresfd["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 8, "7 zoo models and this one");
    let row = rows.last().unwrap();
    assert_eq!(row["model"], model.to_string_lossy().as_ref());
    assert_eq!(row["label"], "Pruned 30 %");
    assert_eq!(row["zero_params"], sparsity.zeros);
    assert_eq!(row["marked"], false, "{row}");

    // `reproduce detect` runs it.
    let image = data.join("WIDER-mini/WIDER_val/images/0--Parade/0_Parade_marchingband_1_465.jpg");
    let detections = run_ok(
        reproduce(&data)
            .args(["detect", "--arch", "eresfd", "--device", "cpu", "--model"])
            .arg(&model)
            .arg(&image),
    );
    let detections: serde_json::Value = serde_json::from_str(&detections).unwrap();
    assert!(detections[0]["detections"].is_array(), "{detections}");

    // A second call finds every stage complete and trains nothing.
    let before = std::fs::metadata(&model).unwrap().modified().unwrap();
    let again = run_ok(&mut pipeline());
    for stage in ["bo", "sfp", "finetune"] {
        assert!(
            again
                .lines()
                .any(|l| l.trim_start().starts_with(stage) && l.contains("complete")),
            "{stage} complete: {again}"
        );
    }
    let modified = || std::fs::metadata(&model).unwrap().modified().unwrap();
    assert_eq!(modified(), before);

    // A call with other settings is refused at the first stage they change, not mixed in.
    let other = run(pipeline().args(["--pruner", "l1"]));
    assert!(!other.status.success());
    let stderr = String::from_utf8_lossy(&other.stderr);
    assert!(
        stderr.contains("sfp holds a run with other settings (plan)"),
        "{stderr}"
    );
    assert_eq!(modified(), before);
}

/// `reproduce bo` on 12 mini training images (9 to train, 3 to validate) at 128 × 128: the
/// probe, 3 random and `guided` guided trials.
fn bo(data: &Path, out: &Path, guided: &str) -> Command {
    let mut cmd = reproduce(data);
    cmd.args([
        "bo", "--arch", "eresfd", "--target", "0.3", "--device", "cpu",
    ])
    .args(["--n-init-points", "3", "--n-opt-iterations", guided])
    .args([
        "--max-images",
        "12",
        "--input-size",
        "128",
        "--batch-size",
        "4",
    ])
    .args(["--workers", "2", "--quiet"])
    .arg("--pretrained")
    .arg(original(data))
    .arg("--wider")
    .arg(data.join("WIDER-mini"))
    .arg("--out")
    .arg(out);
    cmd
}

/// The CSV rows without the wall-time column.
fn trials(dir: &Path) -> Vec<String> {
    let csv = std::fs::read_to_string(dir.join("optimization_results.csv")).unwrap();
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let seconds = header.iter().position(|c| *c == "seconds").unwrap();
    csv.lines()
        .map(|l| {
            let mut cells: Vec<&str> = l.split(',').collect();
            cells.remove(seconds);
            cells.join(",")
        })
        .collect()
}

#[test]
fn a_search_stopped_by_its_budget_resumes_to_the_uninterrupted_log() {
    crate::require_mirror!();
    let data = data();
    let dir = tempdir();
    let straight = dir.path().join("straight");
    run_ok(&mut bo(&data, &straight, "1"));
    let all = trials(&straight);
    assert_eq!(all.len(), 1 + 5);

    let stopped = dir.path().join("stopped");
    let first = run_ok(bo(&data, &stopped, "1").args(["--max-trials", "2"]));
    assert!(first.contains("stopped after 2 of 5 trials"), "{first}");
    assert_eq!(trials(&stopped), all[..3]);
    assert!(!stopped.join("optimal_rates.json").exists());

    // Search flags cannot change what a resumed search is.
    let refused = run(reproduce(&data)
        .args(["bo", "--resume", "--target", "0.4", "--out"])
        .arg(&stopped));
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("drop the search flags"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );

    let resumed = run_ok(
        reproduce(&data)
            .args([
                "bo",
                "--resume",
                "--device",
                "cpu",
                "--workers",
                "2",
                "--quiet",
                "--out",
            ])
            .arg(&stopped),
    );
    assert!(resumed.contains("best of 5 trials"), "{resumed}");
    assert_eq!(trials(&stopped), all, "the resumed search repeats no trial");
    assert_eq!(
        json(&stopped.join("optimal_rates.json")),
        json(&straight.join("optimal_rates.json"))
    );
}

/// `bo --fuse 3`: in-band trials train three to a network, on the batches of their group's first
/// trial; a search stopped by its trial budget (at group boundaries) and resumed logs exactly the
/// trials of an uninterrupted one.
#[test]
fn a_fused_search_stopped_by_its_budget_resumes_to_the_uninterrupted_log() {
    crate::require_mirror!();
    let data = data();
    let dir = tempdir();
    let straight = dir.path().join("straight");
    run_ok(bo(&data, &straight, "4").args(["--fuse", "3"]));
    let all = trials(&straight);
    assert_eq!(all.len(), 1 + 8);
    // Trials trained in one group share its wall time, so their `seconds` are equal.
    let csv = std::fs::read_to_string(straight.join("optimization_results.csv")).unwrap();
    let trained: Vec<Vec<&str>> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect::<Vec<_>>())
        .filter(|c| c[8] != "0")
        .collect();
    assert!(
        trained.windows(2).any(|w| w[0][11] == w[1][11]),
        "no two trials trained together: {csv}"
    );

    let stopped = dir.path().join("stopped");
    let resume = || {
        let mut cmd = reproduce(&data);
        cmd.args([
            "bo",
            "--resume",
            "--device",
            "cpu",
            "--workers",
            "2",
            "--quiet",
        ])
        .args(["--max-trials", "2", "--out"])
        .arg(&stopped);
        cmd
    };
    let first = run_ok(bo(&data, &stopped, "4").args(["--fuse", "3", "--max-trials", "2"]));
    assert!(first.contains("stopped after"), "{first}");
    let mut calls = 1;
    while !stopped.join("optimal_rates.json").exists() {
        assert!(calls < 8, "the search does not end");
        run_ok(&mut resume());
        calls += 1;
    }
    assert!(calls >= 3, "stopped only {calls} times");
    assert_eq!(trials(&stopped), all, "the resumed search repeats no trial");
    assert_eq!(
        json(&stopped.join("optimal_rates.json")),
        json(&straight.join("optimal_rates.json"))
    );
}
