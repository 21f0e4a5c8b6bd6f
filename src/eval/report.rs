//! What `reproduce eval MODEL...` leaves behind: the JSON report CI reads and the PR curves.
//!
//! The JSON report's fields are stable (CI compares them between runs):
//!
//! ```text
//! { "images_dir": DIR, "subset": BOOL, "images": N, "ground_truth": SOURCE,
//!   "device": "cpu" | "cuda:0", "workers": N, "threads": N,
//!   "models": [ { "name": NAME, "arch": "eresfd" | "extd", "checkpoint": FILE,
//!                 "predictions": DIR, "inferred": N, "already_done": N,
//!                 "seconds_per_image": S | null,   (wall clock; null when nothing ran now)
//!                 "ap": { "easy": AP, "medium": AP, "hard": AP },
//!                 "band": { "easy": B, "medium": B, "hard": B } | null,  (stability band,
//!                                                          zoo models on the mini set)
//!                 "references": [ { "label": TEXT, "ap": {...}, "max_abs_diff": D } ],
//!                 "missing": "subset" | "error", "images_counted": N, "prediction_files": N,
//!                 "score_range": [min, max],
//!                 "settings": [ { "setting": "easy", "ap": AP, "count_face": N,
//!                                 "pr_curve": [[precision, recall], ... 1000 rows] }, ... ] },
//!               ... ] }
//! ```
//!
//! A precision that is NaN (no prediction passes that threshold) is written as `null`.
//!
//! The PNG has one panel per setting (easy, medium, hard), recall on x and precision on y, one
//! line per model with its AP in the legend, like the official WIDER FACE plots.

use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;
use tch::Device;

use super::session::{EvalConfig, EvalRun, ModelResult};
use super::spec::ReferenceAp;
use bfpgm_core::fsutil::write_atomic;
use bfpgm_core::report::chart::{LineChart, Series};
use bfpgm_core::report::plot::save_charts;
use bfpgm_core::wider::ap::Evaluation;
use bfpgm_core::wider::gt::Setting;
use bfpgm_core::zoo::{ApTriple, Arch};

#[derive(Serialize)]
struct Report<'a> {
    images_dir: &'a Path,
    subset: bool,
    images: usize,
    ground_truth: &'a str,
    device: String,
    workers: usize,
    threads: usize,
    models: Vec<ModelReport<'a>>,
}

#[derive(Serialize)]
struct ModelReport<'a> {
    name: &'a str,
    arch: Arch,
    checkpoint: &'a Path,
    predictions: &'a Path,
    inferred: usize,
    already_done: usize,
    seconds_per_image: Option<f64>,
    ap: ApTriple,
    band: Option<ApTriple>,
    references: Vec<ReferenceReport<'a>>,
    #[serde(flatten)]
    evaluation: &'a Evaluation,
}

#[derive(Serialize)]
struct ReferenceReport<'a> {
    label: &'a str,
    ap: ApTriple,
    max_abs_diff: f64,
}

/// `cpu` or `cuda:N`.
pub fn device_name(device: Device) -> String {
    match device {
        Device::Cuda(i) => format!("cuda:{i}"),
        Device::Mps => "mps".to_string(),
        Device::Vulkan => "vulkan".to_string(),
        Device::Cpu => "cpu".to_string(),
    }
}

fn model_report(m: &ModelResult) -> ModelReport<'_> {
    let ap = m.evaluation.aps();
    ModelReport {
        name: &m.spec.name,
        arch: m.spec.arch,
        checkpoint: &m.spec.checkpoint,
        predictions: &m.predictions,
        inferred: m.inference.inferred,
        already_done: m.inference.already_done,
        seconds_per_image: m.inference.seconds_per_image(),
        ap,
        band: m.spec.band,
        references: m
            .spec
            .references
            .iter()
            .map(|r: &ReferenceAp| ReferenceReport {
                label: &r.label,
                ap: r.ap,
                max_abs_diff: ap.max_abs_diff(&r.ap),
            })
            .collect(),
        evaluation: &m.evaluation,
    }
}

/// Writes the JSON report (module doc) atomically.
pub fn write_json(path: &Path, config: &EvalConfig, run: &EvalRun) -> Result<()> {
    let report = Report {
        images_dir: &config.images,
        subset: config.subset,
        images: run.images,
        ground_truth: &run.ground_truth,
        device: device_name(config.device),
        workers: config.workers,
        threads: config.threads,
        models: run.models.iter().map(model_report).collect(),
    };
    let mut text = serde_json::to_string_pretty(&report)?;
    text.push('\n');
    write_atomic(path, text.as_bytes()).context("cannot write the JSON report")
}

/// The three PR charts (easy, medium, hard), one line per model.
pub fn pr_charts(run: &EvalRun) -> Vec<LineChart> {
    Setting::ALL
        .iter()
        .map(|&setting| LineChart {
            title: format!("WIDER FACE val, {} ({} images)", setting.name(), run.images),
            x_label: "Recall".to_string(),
            y_label: "Precision".to_string(),
            x_range: Some((0.0, 1.0)),
            y_range: Some((0.0, 1.0)),
            series: run
                .models
                .iter()
                .map(|m| {
                    let s = &m.evaluation.settings[setting.index()];
                    Series {
                        name: format!("{} ({:.3})", m.spec.name, s.ap),
                        points: s.pr_curve.iter().map(|&[p, r]| (r, p)).collect(),
                        markers: false,
                    }
                })
                .collect(),
        })
        .collect()
}

/// Draws [`pr_charts`] side by side into one PNG (written atomically).
pub fn write_pr_png(path: &Path, run: &EvalRun) -> Result<()> {
    save_charts(&pr_charts(run), path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::infer::{InferOutcome, StageTimes};
    use crate::eval::spec::ModelSpec;
    use bfpgm_core::wider::ap::{MissingPolicy, SettingResult};
    use std::path::PathBuf;
    use std::time::Duration;

    fn result(name: &str, aps: [f64; 3], inferred: usize) -> ModelResult {
        let settings = Setting::ALL
            .iter()
            .zip(aps)
            .map(|(&setting, ap)| SettingResult {
                setting,
                ap,
                count_face: 10,
                pr_curve: (0..1000)
                    .map(|t| {
                        let r = t as f64 / 1000.0;
                        [if t == 0 { f64::NAN } else { 1.0 - r / 2.0 }, r]
                    })
                    .collect(),
            })
            .collect();
        ModelResult {
            spec: ModelSpec {
                name: name.to_string(),
                arch: Arch::Eresfd,
                checkpoint: PathBuf::from(format!("{name}.pth")),
                references: vec![ReferenceAp {
                    label: "upstream (mini)".to_string(),
                    ap: ApTriple {
                        easy: aps[0] + 1e-9,
                        medium: aps[1],
                        hard: aps[2] - 2e-9,
                    },
                }],
                band: None,
            },
            predictions: PathBuf::from(format!("out/{name}")),
            inference: InferOutcome {
                images: 4,
                already_done: 4 - inferred,
                inferred,
                interrupted: false,
                wall: Duration::from_millis(200 * inferred as u64),
                times: StageTimes {
                    forward: Duration::from_millis(300),
                    detect: Duration::from_millis(100),
                    ..StageTimes::default()
                },
            },
            evaluation: Evaluation {
                missing: MissingPolicy::Subset,
                images: 4,
                images_counted: 4,
                prediction_files: 4,
                score_range: [0.05, 1.0],
                settings,
            },
        }
    }

    fn config() -> EvalConfig {
        EvalConfig {
            models: Vec::new(),
            images: PathBuf::from("images"),
            subset: true,
            ground_truth: bfpgm_core::wider::ValMatFiles::in_dir(Path::new("gt")),
            out: PathBuf::from("out"),
            device: Device::Cpu,
            workers: 2,
            threads: 1,
            max_pixels: bfpgm_core::imageio::DEFAULT_MAX_PIXELS,
        }
    }

    #[test]
    fn the_json_report_has_the_documented_fields() {
        let run = EvalRun {
            ground_truth: "gt".to_string(),
            images: 4,
            models: vec![
                result("a", [0.9, 0.8, 0.7], 2),
                result("b", [0.5, 0.4, 0.3], 0),
            ],
            interrupted: None,
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.json");
        write_json(&path, &config(), &run).unwrap();
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(v["device"], "cpu");
        assert_eq!(v["workers"], 2);
        assert_eq!(v["subset"], true);
        assert_eq!(v["images"], 4);
        let a = &v["models"][0];
        assert_eq!(a["name"], "a");
        assert_eq!(a["arch"], "eresfd");
        assert_eq!(a["ap"]["medium"], 0.8);
        assert_eq!(a["inferred"], 2);
        assert_eq!(a["seconds_per_image"], 0.2);
        assert_eq!(a["references"][0]["label"], "upstream (mini)");
        let d = a["references"][0]["max_abs_diff"].as_f64().unwrap();
        assert!((d - 2e-9).abs() < 1e-15, "{d}");
        assert_eq!(a["missing"], "subset");
        assert_eq!(a["settings"][2]["setting"], "hard");
        assert_eq!(a["settings"][0]["pr_curve"][0][0], serde_json::Value::Null);
        assert_eq!(v["models"][1]["seconds_per_image"], serde_json::Value::Null);
    }

    #[test]
    fn pr_charts_have_one_panel_per_setting_and_one_line_per_model() {
        let run = EvalRun {
            ground_truth: "gt".to_string(),
            images: 4,
            models: vec![
                result("a", [0.9, 0.8, 0.7], 4),
                result("b", [0.5, 0.4, 0.3], 4),
            ],
            interrupted: None,
        };
        let charts = pr_charts(&run);
        assert_eq!(charts.len(), 3);
        assert!(charts[1].title.contains("medium"));
        assert_eq!(charts[2].series[1].name, "b (0.300)");
        // (recall, precision): the curve's columns swapped.
        assert_eq!(charts[0].series[0].points[10], (0.01, 1.0 - 0.005));
        let dir = tempfile::tempdir().unwrap();
        let png = dir.path().join("pr.png");
        write_pr_png(&png, &run).unwrap();
        let img = bfpgm_core::imageio::read_image(&png).unwrap();
        assert_eq!(img.width, 3 * bfpgm_core::report::plot::PANEL.0);
        assert!(img.height >= bfpgm_core::report::plot::PANEL.1);
        for k in 0..2 {
            let c = bfpgm_core::report::style::color(k);
            let n = img.data.chunks(3).filter(|p| *p == [c.0, c.1, c.2]).count();
            assert!(n > 300, "model {k}: {n} pixels of its colour");
        }
    }
}
