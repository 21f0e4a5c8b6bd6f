//! `reproduce pretrain` end to end on the mini WIDER train set (fetched from the mirror): the
//! loss falls, a killed run resumes to the very weights of an uninterrupted one, a non-finite
//! loss stops the run with the last good checkpoint in place, bad data and bad flags give clear
//! errors, and the checkpoints load in PyTorch and in `reproduce detect`. Runs are kept small
//! (256 × 256 inputs, a dozen images) so each test takes seconds on two cores.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bfpgm_core::checkpoint::StateDict;
use bfpgm_core::zoo::Arch;

use crate::util::{fetched, reproduce, run, run_ok, tempdir};

/// The mini set's WIDER root.
fn mini() -> PathBuf {
    fetched(&["wider-mini"]).join("WIDER-mini")
}

/// `reproduce pretrain` on the mini set with small, fast settings; more flags follow.
fn pretrain(data: &Path, out: &Path, wider: &Path) -> Command {
    let mut cmd = reproduce(data);
    cmd.args(["pretrain", "--arch", "eresfd", "--device", "cpu", "--quiet"])
        .args(["--input-size", "256", "--batch-size", "4", "--workers", "2"])
        .arg("--wider")
        .arg(wider)
        .arg("--out")
        .arg(out);
    cmd
}

fn state(run_dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(run_dir.join("state.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The epochs.csv rows as `(train_conf, val_loss)`.
fn epoch_rows(run_dir: &Path) -> Vec<(f64, f64)> {
    let csv = std::fs::read_to_string(run_dir.join("epochs.csv")).unwrap();
    csv.lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[3].parse().unwrap(), f[7].parse().unwrap())
        })
        .collect()
}

#[test]
fn the_loss_falls_and_the_checkpoints_are_upstream_weights() {
    crate::require_mirror!();
    let wider = mini();
    let dir = tempdir();
    let out = dir.path().join("run");
    run_ok(pretrain(dir.path(), &out, &wider).args([
        "--epochs",
        "3",
        "--max-images",
        "8",
        "--max-val-images",
        "6",
    ]));
    let rows = epoch_rows(&out);
    assert_eq!(rows.len(), 3);
    let (first, last) = (rows[0], rows[2]);
    assert!(last.1 < first.1, "validation loss {} → {}", first.1, last.1);
    assert!(
        last.0 < first.0,
        "training confidence loss {} → {}",
        first.0,
        last.0
    );

    for name in [
        "init.pth",
        "epoch-000.pth",
        "epoch-002.pth",
        "best.pth",
        "loss.png",
    ] {
        assert!(out.join(name).is_file(), "{name}");
    }
    // Only the latest optimiser state is kept.
    assert!(out.join("optimizer-002.pth").is_file());
    assert!(!out.join("optimizer-000.pth").exists());
    let s = state(&out);
    assert_eq!(s["epochs_done"], 3);
    assert_eq!(s["iteration"], 6);
    assert_eq!(s["weights"], "epoch-002.pth");
    let log = std::fs::read_to_string(out.join("log.jsonl")).unwrap();
    let events: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events[0]["event"], "start");
    assert_eq!(events.iter().filter(|e| e["event"] == "epoch").count(), 3);
    assert_eq!(events.last().unwrap()["event"], "stop");

    // Upstream's state-dict format: all 920 keys (aliases included), readable by our reader...
    let weights = out.join("epoch-002.pth");
    let sd = StateDict::read(&weights).unwrap();
    assert_eq!(sd.len(), 920);
    assert_eq!(sd.parameter_count(Arch::Eresfd).unwrap(), 92_208);
    // ...by `reproduce detect`...
    let image = wider.join("WIDER_val/images/0--Parade/0_Parade_marchingband_1_465.jpg");
    let json = run_ok(
        reproduce(dir.path())
            .args(["detect", "--arch", "eresfd", "--device", "cpu", "--model"])
            .arg(&weights)
            .arg(&image),
    );
    assert!(json.contains("\"detections\""), "{json}");
    // ...and by PyTorch, equal value for value.
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    if !python.exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{} is missing",
            python.display()
        );
        eprintln!(
            "skipped the torch.load check: {} is missing",
            python.display()
        );
        return;
    }
    let script = r#"
import sys, torch
sd = torch.load(sys.argv[1], map_location="cpu")
opt = torch.load(sys.argv[2], map_location="cpu")
assert len(sd) == 920 and all(torch.isfinite(t).all() for t in sd.values() if t.is_floating_point())
print(len(sd), float(sd["loc.0.weight"].double().sum()), int(opt["step"]))
"#;
    let output = Command::new(&python)
        .arg("-c")
        .arg(script)
        .arg(&weights)
        .arg(out.join("optimizer-002.pth"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let fields: Vec<&str> = stdout.split_whitespace().collect();
    let ours = bfpgm::tensors::to_tensor(sd.get("loc.0.weight").unwrap())
        .to_kind(tch::Kind::Double)
        .sum(tch::Kind::Double);
    assert_eq!(fields[0], "920");
    assert_eq!(fields[1].parse::<f64>().unwrap(), ours.double_value(&[]));
    assert_eq!(fields[2], "6", "Adam steps");
}

#[test]
fn a_killed_run_resumes_to_the_weights_of_an_uninterrupted_one() {
    crate::require_mirror!();
    let wider = mini();
    let dir = tempdir();
    let args = [
        "--epochs",
        "2",
        "--max-images",
        "12",
        "--no-val",
        "--log-every",
        "1",
    ];
    let whole = dir.path().join("whole");
    run_ok(pretrain(dir.path(), &whole, &wider).args(args));

    // The same run, killed in its second epoch once a batch of it is done.
    let cut = dir.path().join("cut");
    let mut child = pretrain(dir.path(), &cut, &wider)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    loop {
        let log = std::fs::read_to_string(cut.join("log.jsonl")).unwrap_or_default();
        if log.contains(r#"{"event":"step","batch":0,"epoch":1"#) {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before it could be interrupted"
        );
        assert!(started.elapsed() < Duration::from_secs(300), "no progress");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(
        state(&cut)["epochs_done"],
        1,
        "killed in the middle of epoch 1"
    );
    assert!(!cut.join("epoch-001.pth").exists());

    let out = run_ok(
        pretrain(dir.path(), &cut, &wider)
            .args(args)
            .arg("--resume"),
    );
    assert!(out.contains("trained 2 of 2 epochs"), "{out}");
    for name in ["epoch-001.pth", "optimizer-001.pth"] {
        let a = std::fs::read(whole.join(name)).unwrap();
        let b = std::fs::read(cut.join(name)).unwrap();
        assert!(
            a == b,
            "{name} differs between the resumed and the uninterrupted run"
        );
    }
    assert_eq!(state(&cut)["iteration"], state(&whole)["iteration"]);
}

#[test]
fn a_non_finite_loss_stops_the_run_and_keeps_the_last_good_checkpoint() {
    crate::require_mirror!();
    let wider = mini();
    let dir = tempdir();
    let out = dir.path().join("run");
    let res = run(pretrain(dir.path(), &out, &wider).args([
        "--epochs",
        "2",
        "--max-images",
        "16",
        "--no-val",
        "--lr",
        "1e30",
    ]));
    assert_eq!(res.status.code(), Some(2));
    let err = String::from_utf8_lossy(&res.stderr);
    assert!(err.contains("is not finite"), "{err}");
    assert!(err.contains("the last good checkpoint is"), "{err}");
    assert!(err.contains("init.pth"), "{err}");
    let s = state(&out);
    assert_eq!(s["epochs_done"], 0);
    assert_eq!(s["weights"], "init.pth");
    assert!(!out.join("epoch-000.pth").exists());
    // The kept checkpoint is intact and finite.
    let sd = StateDict::read(&out.join("init.pth")).unwrap();
    for (key, t) in sd.iter() {
        if let Some(values) = t.as_f32() {
            assert!(values.iter().all(|x| x.is_finite()), "{key}");
        }
    }
    let log = std::fs::read_to_string(out.join("log.jsonl")).unwrap();
    assert!(
        log.lines().last().unwrap().contains("non-finite loss"),
        "{log}"
    );
}

#[test]
fn malformed_annotations_are_refused_naming_file_and_line() {
    let dir = tempdir();
    let root = dir.path().join("WIDER-bad");
    std::fs::create_dir_all(root.join("WIDER_train/images")).unwrap();
    std::fs::create_dir_all(root.join("wider_face_split")).unwrap();
    let txt = root.join("wider_face_split/wider_face_train_bbx_gt.txt");
    std::fs::write(&txt, "0--Parade/a.jpg\n1\n1 2 3 four 0 0 0 0 0 0\n").unwrap();
    let res = run(pretrain(dir.path(), &dir.path().join("run"), &root).arg("--no-val"));
    assert_eq!(res.status.code(), Some(2));
    let err = String::from_utf8_lossy(&res.stderr);
    assert!(
        err.contains(&format!("{} line 3: expected 10 integers", txt.display())),
        "{err}"
    );
    assert!(
        !dir.path().join("run").exists(),
        "nothing is written for bad data"
    );
}

#[test]
fn missing_data_names_what_to_fetch() {
    let dir = tempdir();
    let res = run(&mut pretrain(
        dir.path(),
        &dir.path().join("run"),
        &dir.path().join("nowhere"),
    ));
    assert_eq!(res.status.code(), Some(2));
    let err = String::from_utf8_lossy(&res.stderr);
    assert!(err.contains("WIDER FACE train not found"), "{err}");
    assert!(err.contains("reproduce fetch wider-mini"), "{err}");
}

#[test]
fn a_run_folder_is_never_overwritten_and_resumes_only_with_its_settings() {
    crate::require_mirror!();
    let wider = mini();
    let dir = tempdir();
    let out = dir.path().join("run");
    run_ok(pretrain(dir.path(), &out, &wider).args([
        "--epochs",
        "1",
        "--max-images",
        "4",
        "--no-val",
    ]));
    let res = run(pretrain(dir.path(), &out, &wider).args([
        "--epochs",
        "1",
        "--max-images",
        "4",
        "--no-val",
    ]));
    assert_eq!(res.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&res.stderr)
            .contains("already holds a training run; continue it with --resume")
    );
    let res =
        run(pretrain(dir.path(), &out, &wider).args(["--resume", "--epochs", "2", "--lr", "0.01"]));
    assert_eq!(res.status.code(), Some(2));
    let err = String::from_utf8_lossy(&res.stderr);
    assert!(err.contains("other settings (optimizer)"), "{err}");
    // Extending the run is allowed.
    let text = run_ok(pretrain(dir.path(), &out, &wider).args(["--resume", "--epochs", "2"]));
    assert!(text.contains("trained 2 of 2 epochs"), "{text}");
}
