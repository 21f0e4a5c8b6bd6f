//! The uniform FPGM / L1 baselines (docs/upstream.md §baselines) end to end: fetched from the
//! mirror through `reproduce fetch` and re-hashed against the mirror's `SHA256SUMS`, measured as
//! that section's table says, checked by `reproduce check`, loaded as upstream's non-strict load does (checked in Python's torch), and
//! their EXTD files run by `detect`. The mini-set evaluations are in `compare.rs`.

use std::path::Path;

use serde_json::Value;

use bfpgm::model::Detector;
use bfpgm_core::checkpoint::{StateDict, aliases};
use bfpgm_core::zoo::{Arch, Model, Zoo};
use tch::Device;

use crate::check::{check_against, one_model_zoo, with_one_more_zero_filter};
use crate::util::{fetched, fetched_zoo, python, reproduce, run, run_ok, tempdir};
use crate::{require_mirror, require_reference};

/// One row of the table of docs/upstream.md §baselines.
struct Measured {
    file: String,
    zeros: u64,
    sparsity: f64,
}

/// The 22 rows of the table of docs/upstream.md §baselines, read from the prose (its own
/// record, not zoo.yaml).
fn upstream_md_table() -> Vec<Measured> {
    let doc = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/upstream.md");
    let text = std::fs::read_to_string(doc).unwrap();
    let start = text.find("### §baselines").unwrap();
    let end = text[start + 1..]
        .find("\n#")
        .map_or(text.len(), |e| start + 1 + e);
    let rows: Vec<Measured> = text[start..end]
        .lines()
        .filter(|l| l.starts_with("| ") && l.contains(".pth |"))
        .map(|l| {
            let cols: Vec<&str> = l.trim_matches('|').split('|').map(str::trim).collect();
            let first = |s: &str| s.split_whitespace().next().unwrap().replace(',', "");
            Measured {
                file: cols[0].to_string(),
                zeros: first(cols[4]).parse().unwrap(),
                sparsity: first(cols[5]).parse().unwrap(),
            }
        })
        .collect();
    assert_eq!(rows.len(), 22);
    rows
}

/// The mirror's `SHA256SUMS`: file name → sha256.
fn mirror_sums(mirror: &Path) -> Vec<(String, String)> {
    std::fs::read_to_string(mirror.join("SHA256SUMS"))
        .unwrap()
        .lines()
        .map(|l| {
            let (sha, file) = l.split_once("  ").unwrap();
            (file.to_string(), sha.to_string())
        })
        .collect()
}

/// The zoo's baselines, in registry order.
fn baselines(zoo: &Zoo) -> Vec<&Model> {
    zoo.models
        .iter()
        .filter(|m| m.artifact.groups.iter().any(|g| g == "baselines"))
        .collect()
}

#[test]
fn the_22_files_fetch_verify_and_measure_as_upstream_md_says() {
    let mirror = require_mirror!();
    // `tables` measures the whole zoo, B-FPGM's models too.
    let data = fetched_zoo(&[]);
    let zoo = Zoo::builtin();
    let measured = upstream_md_table();
    let sums = mirror_sums(&mirror);
    let models = baselines(&zoo);
    assert_eq!(models.len(), 22);
    // Every hash, recomputed by `verify` and here, against the mirror's SHA256SUMS.
    let verified: Value = serde_json::from_str(&run_ok(reproduce(&data).args([
        "verify",
        "baselines",
        "--json",
    ])))
    .unwrap();
    let verified = verified.as_array().unwrap();
    assert_eq!(verified.len(), 22);
    for m in &models {
        let (_, sha) = sums
            .iter()
            .find(|(file, _)| *file == m.artifact.file)
            .unwrap_or_else(|| panic!("{} is not in SHA256SUMS", m.artifact.file));
        assert_eq!(&m.artifact.sha256, sha, "{}", m.name());
        let v = verified.iter().find(|v| v["name"] == m.name()).unwrap();
        assert_eq!(v["result"], "ok", "{}: {v}", m.name());
        let bytes = std::fs::read(m.artifact.path(&data)).unwrap();
        assert_eq!(bytes.len() as u64, m.artifact.bytes, "{}", m.name());
        assert_eq!(bfpgm_core::hash::sha256_hex(&bytes), *sha, "{}", m.name());
    }
    // The sparsities, measured by `tables`, to the table's 4 decimals.
    let doc: Value =
        serde_json::from_str(&run_ok(reproduce(&data).args(["tables", "--json"]))).unwrap();
    let rows: Vec<&Value> = doc["baselines"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|t| t["rows"].as_array().unwrap())
        .collect();
    assert_eq!(rows.len(), 22);
    for (row, m) in rows.iter().zip(&models) {
        assert_eq!(row["model"], m.name());
        let p = measured
            .iter()
            .find(|p| p.file == m.artifact.file)
            .unwrap_or_else(|| panic!("{} is not in the table", m.artifact.file));
        let sparsity = row["sparsity"].as_f64().unwrap();
        assert_eq!(
            format!("{sparsity:.4}"),
            format!("{:.4}", p.sparsity),
            "{}",
            m.name()
        );
        assert_eq!(row["zero_params"], p.zeros, "{}", m.name());
        assert_eq!(row["params"], m.expected.params, "{}", m.name());
    }
}

#[test]
fn check_passes_on_the_baselines_and_drifts_on_an_altered_one() {
    require_mirror!();
    let data = fetched(&["baselines"]);
    let work = tempdir();
    let report = work.path().join("check.json");
    let out = run(reproduce(&data)
        .args(["check", "baselines", "--quiet", "--report"])
        .arg(&report));
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains("22 models: 22 ok, 0 drifted"), "{stdout}");

    // One more zeroed filter in an EResFD baseline, in the file's own layout (one name per
    // tensor), registered with its new hash: the measured numbers drift.
    let altered = tempdir();
    let path = with_one_more_zero_filter(altered.path(), "eresfd-fpgm-30", "base.conv3.0.weight");
    let zoo = Zoo::builtin();
    let model = zoo.model("eresfd-fpgm-30").unwrap();
    let sha = bfpgm_core::hash::sha256_hex(&std::fs::read(&path).unwrap());
    let bytes = std::fs::metadata(&path).unwrap().len();
    let (out, r) = check_against(
        altered.path(),
        altered.path(),
        &one_model_zoo(model, &sha, bytes),
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        r["models"][0]["drifted"],
        serde_json::json!(["sparsity", "zero_filters"])
    );
}

/// Compares, in Python's torch, a checkpoint our loader re-saved with the file it loaded, as
/// upstream's `load_state_dict(strict=False)` would fill its model: every key of ours is a key
/// of the file or shares its tensor with one (the keys the file lacks are second names); every
/// value is bit-equal to the file's tensor under the shared name.
const NON_STRICT: &str = r#"
import sys, json, torch
ours = torch.load(sys.argv[1], map_location="cpu")
theirs = torch.load(sys.argv[2], map_location="cpu")
by_storage = {}
for k, t in ours.items():
    by_storage.setdefault(t.untyped_storage().data_ptr(), []).append(k)
missing = [k for k in ours if k not in theirs]
unequal = []
for names in by_storage.values():
    present = [k for k in names if k in theirs]
    if len(present) != 1 or not all(torch.equal(ours[k], theirs[present[0]]) for k in names):
        unequal.append(names)
json.dump({"ours": len(ours), "theirs": len(theirs), "missing": missing,
           "unexpected": [k for k in theirs if k not in ours], "unequal": unequal}, sys.stdout)
"#;

#[test]
fn an_eresfd_baseline_loads_to_upstreams_non_strict_tensors() {
    require_mirror!();
    let data = fetched(&["eresfd-fpgm-30", "eresfd-l1-50"]);
    let zoo = Zoo::builtin();
    let work = tempdir();
    for name in ["eresfd-fpgm-30", "eresfd-l1-50"] {
        let file = zoo.model(name).unwrap().artifact.path(&data);
        let resaved = work.path().join(format!("{name}.pth"));
        Detector::load(Arch::Eresfd, &file, Device::Cpu)
            .unwrap()
            .save(&resaved)
            .unwrap();
        let out = std::process::Command::new(python())
            .args(["-c", NON_STRICT])
            .arg(&resaved)
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let r: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            (r["ours"].as_u64(), r["theirs"].as_u64()),
            (Some(920), Some(475))
        );
        assert_eq!(r["unexpected"], serde_json::json!([]), "{name}");
        assert_eq!(r["unequal"], serde_json::json!([]), "{name}");
        // 445 names: 421 of the backbone and 24 of the heads. PyTorch fills the 70 BatchNorm
        // counters among them itself, so upstream's `missing_keys` lists 375
        // (docs/upstream.md §baselines).
        let missing = r["missing"].as_array().unwrap();
        assert_eq!(missing.len(), 445, "{name}");
        let counters = missing
            .iter()
            .filter(|k| k.as_str().unwrap().ends_with(".num_batches_tracked"))
            .count();
        assert_eq!(missing.len() - counters, 375, "{name}");
        let file_keys = StateDict::read(&file).unwrap();
        for k in missing {
            let k = k.as_str().unwrap();
            let twin = aliases::canonical(Arch::Eresfd, k)
                .or_else(|| aliases::alias(Arch::Eresfd, k))
                .unwrap_or_else(|| panic!("{name}: {k} is missing but has no second name"));
            assert!(file_keys.get(&twin).is_some(), "{name}: {k} and {twin}");
        }
    }
}

#[test]
fn a_baseline_without_one_of_its_keys_is_refused_naming_it() {
    require_mirror!();
    let shared = require_reference!();
    let data = fetched(&["eresfd-fpgm-30"]);
    let zoo = Zoo::builtin();
    let file = zoo.model("eresfd-fpgm-30").unwrap().artifact.path(&data);
    let full = StateDict::read(&file).unwrap();
    let work = tempdir();
    // One key under the backbone's alias name, one under a canonical head name.
    for gone in ["base.m0.b2_2.1.res_layer.0.weight", "conf.3.bias"] {
        let mut sd = StateDict::new();
        for (k, t) in full.iter().filter(|(k, _)| *k != gone) {
            sd.push(k, t.clone());
        }
        assert_eq!(sd.len(), 474);
        let copy = work.path().join("ERES30_FPGM.pth");
        sd.write(&copy).unwrap();
        let out = run(reproduce(work.path())
            .args(["detect", "--device", "cpu", "--model"])
            .arg(&copy)
            .arg(shared.join("fixtures/grace_hopper.jpg")));
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("1 missing key(s): "), "{err}");
        assert!(err.contains(gone), "{gone}: {err}");
        assert!(!err.contains("unexpected"), "{err}");
    }
}

/// The EXTD baselines cost about 9 s an image on 2 cores, too much for a mini-set run in CI:
/// each loads, and finds the one face of the portrait (the fixture's box) with its top score.
#[test]
fn every_extd_baseline_finds_grace_hoppers_face() {
    require_mirror!();
    let shared = require_reference!();
    let data = fetched(&["baselines"]);
    let zoo = Zoo::builtin();
    let photo = shared.join("fixtures/grace_hopper.jpg");
    let face = [174.0, 101.0, 352.0, 342.0];
    for m in baselines(&zoo).iter().filter(|m| m.arch == Arch::Extd) {
        let out: Value = serde_json::from_str(&run_ok(
            reproduce(&data)
                .args(["detect", "--device", "cpu", "--model", m.name()])
                .arg(&photo),
        ))
        .unwrap();
        let top = &out[0]["detections"][0];
        let b = ["x1", "y1", "x2", "y2"].map(|k| top[k].as_f64().unwrap());
        assert!(top["score"].as_f64().unwrap() > 0.5, "{}: {top}", m.name());
        assert!(iou(b, face) > 0.5, "{}: {b:?}", m.name());
    }
}

fn iou(a: [f64; 4], b: [f64; 4]) -> f64 {
    let w = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let h = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let area = |r: [f64; 4]| (r[2] - r[0]) * (r[3] - r[1]);
    w * h / (area(a) + area(b) - w * h)
}
