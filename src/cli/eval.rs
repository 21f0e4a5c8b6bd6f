//! `reproduce eval --predictions DIR`: the official WIDER FACE val APs of any detector's
//! prediction files, computed exactly as upstream's `eval_tools/evaluation.py` does.
//!
//! The ground truth is the evaluation kit's four `.mat` files, found where `zoo.yaml` puts them
//! under the data directory (`WIDER/ground_truth/`, fetched by `reproduce fetch wider-gt`) or in
//! the folder given with `--gt`.
//!
//! `--json FILE` writes a report, atomically, whose fields are stable for CI:
//!
//! ```text
//! { "predictions": DIR, "ground_truth": FILE, "missing": "error" | "subset" | "upstream",
//!   "images": N, "images_counted": N, "prediction_files": N, "score_range": [min, max],
//!   "ap": { "easy": AP, "medium": AP, "hard": AP },
//!   "settings": [ { "setting": "easy", "ap": AP, "count_face": N,
//!                   "pr_curve": [[precision, recall], ... 1000 rows] }, ... ] }
//! ```
//!
//! A precision that is NaN (no prediction passes that threshold) is written as `null`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow};
use clap::{Args, ValueEnum};
use serde::Serialize;

use super::Global;
use bfpgm::fsutil::write_atomic;
use bfpgm::wider::{
    Evaluation, GroundTruth, MissingPolicy, Predictions, Setting, ValMatFiles, evaluate,
};
use bfpgm::zoo::ApTriple;

/// Arguments of `reproduce eval`.
#[derive(Args)]
pub struct EvalArgs {
    /// Prediction files of any detector in the official layout, <event>/<image>.txt.
    #[arg(long, value_name = "DIR")]
    predictions: PathBuf,
    /// Evaluate only the images that have a prediction file, with the ground truth restricted
    /// to them (the same as --missing subset).
    #[arg(long, conflicts_with = "missing")]
    subset: bool,
    /// What to do with images that have no prediction file.
    #[arg(long, value_enum, value_name = "RULE", default_value_t = Missing::Error)]
    missing: Missing,
    /// Folder holding wider_face_val.mat and wider_{easy,medium,hard}_val.mat
    /// [default: the data directory's WIDER/ground_truth].
    #[arg(long, value_name = "DIR")]
    gt: Option<PathBuf>,
    /// Also write a JSON report (APs, face counts, PR curves) to FILE.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
}

/// `--missing`, mirrored from [`MissingPolicy`] so the library stays free of clap.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Missing {
    /// Stop with an error naming the first image without predictions.
    Error,
    /// Evaluate only the images that have predictions.
    Subset,
    /// Upstream's behaviour: skip a missing event; a missing image ends its event.
    Upstream,
}

impl EvalArgs {
    /// Loads the ground truth and the predictions, evaluates, prints the table and the report.
    pub fn run(self, global: &Global) -> Result<ExitCode> {
        let policy = match (self.subset, self.missing) {
            (true, _) | (false, Missing::Subset) => MissingPolicy::Subset,
            (false, Missing::Error) => MissingPolicy::Error,
            (false, Missing::Upstream) => MissingPolicy::Upstream,
        };
        let files = match &self.gt {
            Some(dir) => ValMatFiles::in_dir(dir),
            None => val_gt_files(global)?,
        };
        let gt = GroundTruth::load_val(&files)?;
        let preds = Predictions::read_dir(&self.predictions)?;
        let eval = evaluate(&gt, &preds, policy)?;
        print_table(&mut std::io::stdout().lock(), &self.predictions, &eval)?;
        if let Some(path) = &self.json {
            write_report(path, &self.predictions, &gt, &eval)?;
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// The kit's files where `zoo.yaml` places them under the data directory.
pub fn val_gt_files(global: &Global) -> Result<ValMatFiles> {
    let zoo = global.zoo()?;
    let path = |name: &str| -> Result<PathBuf> {
        zoo.artifacts()
            .find(|a| a.name == name)
            .map(|a| a.path(&global.data_dir))
            .ok_or_else(|| anyhow!("the registry has no '{name}' entry; give the folder with --gt"))
    };
    Ok(ValMatFiles {
        face: path("wider-gt-face")?,
        settings: [
            path("wider-gt-easy")?,
            path("wider-gt-medium")?,
            path("wider-gt-hard")?,
        ],
    })
}

fn print_table(out: &mut impl Write, dir: &Path, eval: &Evaluation) -> Result<()> {
    writeln!(
        out,
        "predictions: {} ({} files)",
        dir.display(),
        eval.prediction_files
    )?;
    let scope = match eval.missing {
        MissingPolicy::Subset => " (subset: the images with predictions)",
        MissingPolicy::Upstream if eval.images_counted < eval.images => {
            " (upstream rule: images after a missing one are skipped)"
        }
        _ => "",
    };
    writeln!(
        out,
        "images:      {} of {} evaluated{scope}",
        eval.images_counted, eval.images
    )?;
    writeln!(out, "{:<8} {:<20} {:>6}", "setting", "AP", "faces")?;
    for s in &eval.settings {
        writeln!(
            out,
            "{:<8} {:<20} {:>6}",
            s.setting.name(),
            s.ap,
            s.count_face
        )?;
    }
    Ok(())
}

/// The JSON report; field names are part of the CLI's stable interface (module doc).
#[derive(Serialize)]
struct Report<'a> {
    predictions: &'a Path,
    ground_truth: &'a str,
    ap: ApTriple,
    #[serde(flatten)]
    evaluation: &'a Evaluation,
}

fn write_report(path: &Path, dir: &Path, gt: &GroundTruth, eval: &Evaluation) -> Result<()> {
    let report = Report {
        predictions: dir,
        ground_truth: &gt.source,
        ap: ApTriple {
            easy: eval.ap(Setting::Easy),
            medium: eval.ap(Setting::Medium),
            hard: eval.ap(Setting::Hard),
        },
        evaluation: eval,
    };
    let mut text = serde_json::to_string_pretty(&report)?;
    text.push('\n');
    write_atomic(path, text.as_bytes()).context("cannot write the JSON report")
}
