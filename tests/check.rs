//! `reproduce check` end to end: all nine released checkpoints pass; a checkpoint with one more
//! zeroed filter or a NaN weight (written by our own checkpoint writer, registered in a test zoo
//! with its own hash) drifts with exit 1 and names the metrics; a missing or changed file, or
//! alias copies that disagree, exit 2; alias copies that agree count their parameters once.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

use bfpgm_core::checkpoint::StateDict;
use bfpgm_core::hash::sha256_file;
use bfpgm_core::measure::zero_filters;
use bfpgm_core::progress::Hidden;
use bfpgm_core::zoo::{MODELS_DIR, Model, Zoo};

use crate::util::{fetched, reproduce, run, tempdir};

/// A registry holding only `model`, pointing at `file` with the given hash and size and no URL,
/// with the built-in papers, tolerances and expectations (the band included).
pub(crate) fn one_model_zoo(model: &Model, sha256: &str, bytes: u64) -> String {
    let zoo = Zoo::builtin();
    let papers: String = zoo
        .papers
        .iter()
        .map(|p| {
            format!(
                "  - id: {}\n    cite: \"{}\"\n    arxiv: \"{}\"\n    repository: {}\n    commit: {}\n",
                p.id, p.cite, p.arxiv, p.repository, p.commit
            )
        })
        .collect();
    let published = model.published.as_ref().map_or(String::new(), |p| {
        let rates: Vec<String> = p.group_rates.iter().map(f64::to_string).collect();
        format!(
            "    published:\n      group_rates: [{}]\n      sparsity: {}\n",
            rates.join(", "),
            p.sparsity
        )
    });
    let band = model.expected.mini_ap_band.map_or(String::new(), |b| {
        format!(
            "      mini_ap_band: {{easy: {}, medium: {}, hard: {}}}\n",
            b.easy, b.medium, b.hard
        )
    });
    format!(
        "version: 1
papers:
{papers}tolerances:
  sparsity: {ts}
  ap: {ta}
models:
  - name: {name}
    arch: {arch}
    method: {method}
    paper: {paper}
    groups: []
    file: {file}
    bytes: {bytes}
    sha256: {sha256}
    urls: []
    target_rate: {target}
{published}    expected:
      params: {params}
      sparsity: {es}
      zero_filters: {zf}
{band}files: []
",
        ts = zoo.tolerances.sparsity,
        ta = zoo.tolerances.ap,
        name = model.name(),
        arch = model.arch,
        method = model.method,
        paper = model.paper.as_deref().unwrap(),
        file = model.artifact.file,
        target = model
            .target_rate
            .map_or("null".to_string(), |r| r.to_string()),
        params = model.expected.params,
        es = model.expected.sparsity,
        zf = model.expected.zero_filters,
    )
}

/// EResFD-30 with one more all-zero filter, written into `data/Pruned_Models/` by the project's
/// checkpoint writer. Returns its path.
fn eresfd30_with_one_more_zero_filter(data: &Path) -> PathBuf {
    with_one_more_zero_filter(data, "eresfd-30", "base.m0.layer3.0.res_layer.0.weight")
}

/// Zoo model `name` with one more all-zero filter in the conv weight `key`, written into
/// `data/Pruned_Models/` by the project's checkpoint writer. Returns its path.
pub(crate) fn with_one_more_zero_filter(data: &Path, name: &str, key: &str) -> PathBuf {
    let zoo = Zoo::builtin();
    let model = zoo.model(name).unwrap();
    let original = fetched(&[name]).join(MODELS_DIR).join(&model.artifact.file);
    let mut sd = StateDict::read(&original).unwrap();
    let before = zero_filters(sd.get(key).unwrap());
    // A key and its alias share one tensor, so zeroing it edits both.
    let weight = sd.get_mut(key).unwrap();
    let per_filter = weight.numel() / weight.shape()[0] as usize;
    let values = weight.as_f32_mut().unwrap();
    let live = values
        .chunks_exact_mut(per_filter)
        .find(|f| f.iter().any(|&x| x != 0.0))
        .unwrap();
    live.fill(0.0);
    assert_eq!(zero_filters(sd.get(key).unwrap()), before + 1);
    let path = data.join(MODELS_DIR).join(&model.artifact.file);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    sd.write(&path).unwrap();
    path
}

/// EResFD-30 changed by `edit`, written into `data/Pruned_Models/` by the project's checkpoint
/// writer with every alias key stored as a copy of its own when `copies` (what a user's
/// `{k: v.clone() for k in sd}` saves), shared otherwise. Returns its path and its registry.
fn eresfd30_rewritten(
    data: &Path,
    copies: bool,
    edit: impl FnOnce(&mut StateDict),
) -> (PathBuf, String) {
    let zoo = Zoo::builtin();
    let model = zoo.model("eresfd-30").unwrap();
    let original = fetched(&["models"])
        .join(MODELS_DIR)
        .join(&model.artifact.file);
    let shared = StateDict::read(&original).unwrap();
    let mut sd = if copies {
        let mut sd = StateDict::new();
        for (key, t) in shared.iter() {
            sd.push(key, t.clone());
        }
        sd
    } else {
        shared
    };
    edit(&mut sd);
    let path = data.join(MODELS_DIR).join(&model.artifact.file);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    sd.write(&path).unwrap();
    let bytes = std::fs::metadata(&path).unwrap().len();
    let sha = sha256_file(&path, "test", &Hidden).unwrap();
    (path, one_model_zoo(model, &sha, bytes))
}

/// Runs `reproduce check ARGS --quiet` on the data folder `data` against the registry text
/// `zoo`, which is written into `work` with the report; returns the output and the report.
pub(crate) fn check_against(data: &Path, work: &Path, zoo: &str, args: &[&str]) -> (Output, Value) {
    let zoo_path = work.join("zoo.yaml");
    std::fs::write(&zoo_path, zoo).unwrap();
    let report_path = work.join("check.json");
    let out = run(reproduce(data)
        .arg("--zoo")
        .arg(&zoo_path)
        .arg("check")
        .args(args)
        .args(["--quiet", "--report"])
        .arg(&report_path));
    let r = report(&report_path);
    (out, r)
}

fn report(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn the_released_checkpoints_pass() {
    crate::require_mirror!();
    let data = fetched(&["models"]);
    let work = tempdir();
    let report_path = work.path().join("check.json");
    let out = run(reproduce(&data)
        .args(["check", "models", "--quiet", "--report"])
        .arg(&report_path));
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let zoo = Zoo::builtin();
    let models: Vec<&Model> = zoo
        .models
        .iter()
        .filter(|m| m.artifact.groups.iter().any(|g| g == "models"))
        .collect();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), models.len() + 1);
    for (line, model) in lines.iter().zip(&models) {
        assert!(
            line.starts_with(&format!("ok     {:<16}  sha256 ok, params ", model.name())),
            "{line}"
        );
    }
    assert!(lines[9].starts_with("9 models: 9 ok, 0 drifted, 0 could not be checked; report: "));

    let r = report(&report_path);
    assert_eq!(r["version"], 1);
    assert_eq!(r["verdict"], "ok");
    assert_eq!(r["exit_code"], 0);
    assert!(r["ap_set"].is_null());
    for (m, model) in r["models"].as_array().unwrap().iter().zip(&models) {
        assert_eq!(m["name"], model.name());
        assert_eq!(m["file"]["result"], "verified");
        let metrics: Vec<(&str, bool)> = m["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| (x["metric"].as_str().unwrap(), x["holds"].as_bool().unwrap()))
            .collect();
        assert_eq!(
            metrics,
            [
                ("params", true),
                ("sparsity", true),
                ("zero_filters", true),
                ("non_finite", true)
            ],
            "{}",
            model.name()
        );
        assert_eq!(m["metrics"][0]["measured"], model.expected.params);
        assert_eq!(m["metrics"][2]["measured"], model.expected.zero_filters);
    }
    // The report carries the recomputed tables too.
    assert_eq!(
        r["tables"]["tables"][0]["rows"].as_array().unwrap().len(),
        7
    );
}

#[test]
fn one_more_zeroed_filter_is_drift() {
    crate::require_mirror!();
    let data = tempdir();
    let path = eresfd30_with_one_more_zero_filter(data.path());
    let bytes = std::fs::metadata(&path).unwrap().len();
    let sha = sha256_file(&path, "test", &Hidden).unwrap();
    let zoo = Zoo::builtin();
    let model = zoo.model("eresfd-30").unwrap();
    let zoo_text = one_model_zoo(model, &sha, bytes);
    let (out, r) = check_against(data.path(), data.path(), &zoo_text, &[]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let line = stdout.lines().next().unwrap();
    assert!(line.starts_with("DRIFT  eresfd-30 "), "{line}");
    let zf = model.expected.zero_filters;
    assert!(
        line.contains(&format!("zero_filters {} (expected {zf})", zf + 1)),
        "{line}"
    );
    assert!(line.contains("sparsity "), "{line}");
    assert!(!line.contains("params"), "{line}");

    assert_eq!(r["verdict"], "drift");
    assert_eq!(r["exit_code"], 1);
    let m = &r["models"][0];
    assert_eq!(m["file"]["result"], "verified");
    assert_eq!(
        m["drifted"],
        serde_json::json!(["sparsity", "zero_filters"])
    );
    // At least one more exact zero than the release (the filter's weights may include zeros).
    let sparsity = m["metrics"][1]["measured"].as_f64().unwrap();
    assert!(sparsity > model.expected.sparsity + zoo.tolerances.sparsity);
}

/// Issue 14, bug 4: a NaN weight passed everywhere; `check` now reports it as drift of the
/// weights (the `non_finite` metric), and the commands that use the weights refuse them,
/// naming the key.
#[test]
fn a_nan_weight_is_drift_and_refused_by_the_other_commands() {
    crate::require_mirror!();
    let shared = crate::require_reference!();
    let data = tempdir();
    let key = "base.m0.layer3.0.res_layer.0.weight";
    let (_, zoo_text) = eresfd30_rewritten(data.path(), false, |sd| {
        let values = sd.get_mut(key).unwrap().as_f32_mut().unwrap();
        let live = values.iter_mut().find(|v| **v != 0.0).unwrap();
        *live = f32::NAN;
    });
    let (out, r) = check_against(data.path(), data.path(), &zoo_text, &[]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.starts_with("DRIFT  eresfd-30 ") && stdout.contains(" non_finite 1 (expected 0)\n"),
        "{stdout}"
    );
    assert_eq!(r["models"][0]["drifted"], serde_json::json!(["non_finite"]));
    let zoo_path = data.path().join("zoo.yaml");
    let photo = shared.join("fixtures/grace_hopper.jpg");
    for args in [
        vec!["tables"],
        vec!["zoo", "show", "eresfd-30"],
        vec![
            "detect",
            "--model",
            "eresfd-30",
            "--device",
            "cpu",
            photo.to_str().unwrap(),
        ],
    ] {
        let out = run(reproduce(data.path())
            .arg("--zoo")
            .arg(&zoo_path)
            .args(&args));
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!(
                "1 tensor(s) hold NaN or infinite values: {key} (1 of "
            )),
            "{args:?}: {err}"
        );
        if args == ["tables"] {
            // The other models' rows would still print; this zoo has no other.
            assert!(
                err.contains("1 of 1 zoo models could not be measured"),
                "{err}"
            );
        }
    }
}

/// Issue 14, bug 5: alias keys saved as copies of their own count once (92,208 parameters,
/// the release's sparsity), in `check`, `zoo show` and `tables` alike; copies that disagree
/// with their canonical tensor are refused by every command.
#[test]
fn alias_copies_count_once_and_disagreeing_copies_are_refused() {
    crate::require_mirror!();
    let shared = crate::require_reference!();
    let data = tempdir();
    let (_, zoo_text) = eresfd30_rewritten(data.path(), true, |_| {});
    let (out, r) = check_against(data.path(), data.path(), &zoo_text, &[]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(r["models"][0]["metrics"][0]["measured"], 92_208);
    let zoo_path = data.path().join("zoo.yaml");
    let show = crate::util::run_ok(reproduce(data.path()).arg("--zoo").arg(&zoo_path).args([
        "zoo",
        "show",
        "eresfd-30",
    ]));
    assert!(
        show.contains("parameters:    92208 (counted from the file)"),
        "{show}"
    );
    crate::util::run_ok(
        reproduce(data.path())
            .arg("--zoo")
            .arg(&zoo_path)
            .arg("tables"),
    );

    let conflicting = tempdir();
    let (_, zoo_text) = eresfd30_rewritten(conflicting.path(), true, |sd| {
        sd.get_mut("loc0.bias").unwrap().as_f32_mut().unwrap()[0] += 1.0;
    });
    let (out, _) = check_against(conflicting.path(), conflicting.path(), &zoo_text, &[]);
    assert_eq!(out.status.code(), Some(2));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.contains("1 conflicting alias key(s): loc0.bias differs from loc.0.bias"),
        "{stdout}"
    );
    let zoo_path = conflicting.path().join("zoo.yaml");
    let photo = shared.join("fixtures/grace_hopper.jpg");
    for args in [
        vec!["tables"],
        vec!["zoo", "show", "eresfd-30"],
        vec![
            "detect",
            "--model",
            "eresfd-30",
            "--device",
            "cpu",
            photo.to_str().unwrap(),
        ],
    ] {
        let out = run(reproduce(conflicting.path())
            .arg("--zoo")
            .arg(&zoo_path)
            .args(&args));
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("1 conflicting alias key(s): loc0.bias differs from loc.0.bias"),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn a_missing_file_cannot_be_checked() {
    let data = tempdir();
    let zoo = Zoo::builtin();
    let model = zoo.model("eresfd-30").unwrap();
    let zoo_text = one_model_zoo(model, &model.artifact.sha256, model.artifact.bytes);
    let (out, r) = check_against(data.path(), data.path(), &zoo_text, &[]);
    assert_eq!(out.status.code(), Some(2));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.starts_with("ERROR  eresfd-30 ") && stdout.contains("EResFD-30-pruned.pth"),
        "{stdout}"
    );
    assert_eq!(r["verdict"], "error");
    assert_eq!(r["models"][0]["file"]["result"], "missing");
}

#[test]
fn a_changed_file_is_reported_and_kept() {
    crate::require_mirror!();
    let data = tempdir();
    let path = eresfd30_with_one_more_zero_filter(data.path());
    let written = std::fs::read(&path).unwrap();
    let zoo = Zoo::builtin();
    let model = zoo.model("eresfd-30").unwrap();
    // The registry's real hash and size: the file on disk is not the released one.
    let zoo_text = one_model_zoo(model, &model.artifact.sha256, model.artifact.bytes);
    let (out, r) = check_against(data.path(), data.path(), &zoo_text, &[]);
    assert_eq!(out.status.code(), Some(2));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.contains("has changed since it was fetched"),
        "{stdout}"
    );
    assert!(stdout.contains("`reproduce fetch eresfd-30` downloads it again"));
    assert_eq!(
        std::fs::read(&path).unwrap(),
        written,
        "the evidence was replaced"
    );
    assert_ne!(r["models"][0]["file"]["result"], "verified");
}

/// `--eval mini` measures the APs on the 50 mini val images and compares them with
/// `expected.mini_ap`: with the built-in zoo's values moved for one setting only, exactly that
/// setting drifts, so the other two were measured equal to upstream's within `tolerances.ap`.
/// eresfd-original has no large groups of tied scores, so its APs match upstream's within 1e-6
/// on any machine (`docs/evaluation.md`).
#[test]
fn mini_set_aps_are_measured_and_a_moved_expectation_drifts() {
    crate::require_mirror!();
    let data = fetched(&["models", "wider-gt", "wider-mini"]);
    let zoo = Zoo::builtin();
    let model = zoo.model("eresfd-original").unwrap();
    let easy = model.expected.mini_ap.unwrap().easy;
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/zoo.yaml")).unwrap();
    assert_eq!(text.matches(&format!("easy: {easy}")).count(), 1);
    let moved = text.replace(&format!("easy: {easy}"), &format!("easy: {}", easy - 0.01));
    let work = tempdir();
    let args = ["eresfd-original", "--eval", "mini", "--device", "cpu"];
    let (out, r) = check_against(&data, work.path(), &moved, &args);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(r["ap_set"], "mini");
    let m = &r["models"][0];
    assert_eq!(m["drifted"], serde_json::json!(["mini_ap.easy"]));
    let metric = |name: &str| {
        m["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["metric"] == name)
            .unwrap_or_else(|| panic!("no metric {name}"))
            .clone()
    };
    let want = model.expected.mini_ap.unwrap();
    for (setting, expected) in [
        ("easy", want.easy),
        ("medium", want.medium),
        ("hard", want.hard),
    ] {
        let m = metric(&format!("mini_ap.{setting}"));
        let measured = m["measured"].as_f64().unwrap();
        assert!(
            (measured - expected).abs() <= 1e-6,
            "{setting}: {measured} vs {expected}"
        );
        assert_eq!(m["holds"], setting != "easy", "{setting}");
    }
}
