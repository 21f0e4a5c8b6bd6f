//! `reproduce eval`: WIDER FACE val APs (easy, medium, hard) with upstream's protocol, two ways.
//!
//! * `reproduce eval MODEL...|--all`: runs zoo models (by name or group) or checkpoint files (by path;
//!   the network told from the keys, or `--arch`) over the val images with upstream's inference protocol (`wider::infer`),
//!   writes `<out>/<model>/<event>/<image>.txt`, evaluates them and prints a table with the
//!   published or expected APs beside the measured ones. It also writes a JSON report
//!   (`<out>/report.json`, fields in `bfpgm::eval::report`) and the PR curves of the three
//!   settings (`<out>/pr_curves.png`). The images are the data directory's
//!   `WIDER/WIDER_val/images` (`reproduce fetch wider-val`) or `--images DIR`; `--subset` runs
//!   only the images present (e.g. the mini val set, `reproduce fetch wider-val-mini`). Ctrl-C
//!   stops after the current image, and running the same command again resumes.
//! * `reproduce eval --predictions DIR`: the APs of any detector's prediction files, computed
//!   exactly as upstream's `eval_tools/evaluation.py` does.
//!
//! The ground truth is the evaluation kit's four `.mat` files, found where `zoo.yaml` puts them
//! under the data directory (`WIDER/ground_truth/`, fetched by `reproduce fetch wider-gt`) or in
//! the folder given with `--gt`.
//!
//! With `--predictions`, `--json FILE` writes a report, atomically, whose fields are stable for
//! CI:
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
use clap::{ArgGroup, Args, ValueEnum};
use serde::Serialize;

use super::Global;
use super::max_pixels::MaxPixelsArg;
use super::model_arg;
use crate::device::DeviceChoice;
use crate::fsutil::{check_writable, write_atomic};
use crate::report::text_table::TextTable;
use crate::wider::{
    Evaluation, GroundTruth, MissingPolicy, Predictions, Setting, ValMatFiles, evaluate,
};
use crate::zoo::{ApTriple, Arch, Zoo};

/// Arguments of `reproduce eval`.
#[derive(Args)]
#[command(group(ArgGroup::new("what").required(true).args(["models", "all", "predictions"])))]
pub struct EvalArgs {
    /// Zoo models to run (e.g. eresfd-30; `reproduce zoo list`), groups of them (baselines,
    /// eresfd, ...) or checkpoint files.
    #[arg(value_name = "MODEL")]
    pub models: Vec<String>,
    /// Run B-FPGM's released models (the `models` group; the baselines are a group of their own).
    #[arg(long, conflicts_with = "models")]
    pub all: bool,
    /// Architecture of the checkpoint files given by path [default: told from their keys; zoo
    /// models know theirs].
    #[arg(long, value_parser = model_arg::arch_parser())]
    pub arch: Option<Arch>,
    /// The WIDER val images, <event>/<image>.jpg [default: the data directory's
    /// WIDER/WIDER_val/images, from `reproduce fetch wider-val`].
    #[arg(long, value_name = "DIR", conflicts_with = "predictions")]
    pub images: Option<PathBuf>,
    /// Predictions go to DIR/<model>/<event>/<image>.txt, the report and the PR curves to DIR;
    /// a re-run skips the images already done.
    #[arg(
        long,
        value_name = "DIR",
        default_value = "runs/eval",
        conflicts_with = "predictions"
    )]
    pub out: PathBuf,
    /// Where the networks run: cpu, cuda or auto.
    #[arg(long, default_value = "auto", conflicts_with = "predictions")]
    pub device: DeviceChoice,
    /// Images run at the same time, each by its own copy of the model [default: the number of
    /// CPU cores, at most 8].
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..), conflicts_with = "predictions")]
    pub workers: Option<u16>,
    /// libtorch threads per worker. Thread counts change convolution results in the last bits;
    /// with 1 the predictions do not depend on the number of workers or cores.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..), conflicts_with = "predictions")]
    pub threads: u16,
    /// Prediction files of any detector in the official layout, <event>/<image>.txt, to
    /// evaluate instead of running models.
    #[arg(long, value_name = "DIR")]
    pub predictions: Option<PathBuf>,
    /// Only the ground-truth images that are there: with models, those under --images; with
    /// --predictions, those with a prediction file (the same as --missing subset).
    #[arg(long, conflicts_with = "missing")]
    pub subset: bool,
    /// With --predictions: what to do with images that have no prediction file.
    #[arg(
        long,
        value_enum,
        value_name = "RULE",
        default_value_t = Missing::Error,
        conflicts_with_all = ["models", "all"]
    )]
    pub missing: Missing,
    /// Folder holding wider_face_val.mat and wider_{easy,medium,hard}_val.mat
    /// [default: the data directory's WIDER/ground_truth].
    #[arg(long, value_name = "DIR")]
    pub gt: Option<PathBuf>,
    /// Write the JSON report (APs, face counts, PR curves) to FILE [default with models:
    /// <out>/report.json].
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Draw the PR curves to FILE [default: <out>/pr_curves.png].
    #[arg(long, value_name = "FILE", conflicts_with = "predictions")]
    pub png: Option<PathBuf>,
    /// The image size limit.
    #[command(flatten)]
    pub limit: MaxPixelsArg,
}

/// `--missing`, mirrored from [`MissingPolicy`] so the library stays free of clap.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Missing {
    /// Stop with an error naming the first image without predictions.
    Error,
    /// Evaluate only the images that have predictions.
    Subset,
    /// Upstream's behaviour: skip a missing event; a missing image ends its event.
    Upstream,
}

impl EvalArgs {
    /// The ground truth: `--gt`, or where `zoo.yaml` places the kit's files.
    pub fn gt_files(&self, global: &Global) -> Result<ValMatFiles> {
        match &self.gt {
            Some(dir) => Ok(ValMatFiles::in_dir(dir)),
            None => val_gt_files(global),
        }
    }

    /// `eval --predictions DIR`: evaluates the files, prints the table and writes the report.
    pub fn run_predictions(&self, global: &Global) -> Result<ExitCode> {
        let dir = self
            .predictions
            .as_deref()
            .context("eval without --predictions runs models (reproduce-torch)")?;
        let files = self.gt_files(global)?;
        let policy = match (self.subset, self.missing) {
            (true, _) | (false, Missing::Subset) => MissingPolicy::Subset,
            (false, Missing::Error) => MissingPolicy::Error,
            (false, Missing::Upstream) => MissingPolicy::Upstream,
        };
        if let Some(path) = &self.json {
            check_writable(path)?;
        }
        let gt = GroundTruth::load_val(&files)?;
        let preds = Predictions::read_dir(dir)?;
        let eval = evaluate(&gt, &preds, policy)?;
        print_table(&mut std::io::stdout().lock(), dir, &eval)?;
        if let Some(path) = &self.json {
            write_report(path, dir, &gt, &eval)?;
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// The zoo entry of the full val images and the images folder inside its extraction.
pub const VAL_IMAGES: &str = "wider-val-images";
/// Where the images lie inside the extraction of a val archive.
pub const VAL_IMAGES_DIR: &str = "WIDER_val/images";
/// The zoo entry of the 50-image mini val set (the images of `upstream-mini-ap.json`).
const MINI_VAL_IMAGES: &str = "wider-val-mini";

/// The registry entry `name`, or an error that says to give the images with `--images`.
pub fn artifact<'a>(zoo: &'a Zoo, name: &str) -> Result<&'a crate::zoo::Artifact> {
    zoo.artifacts()
        .find(|a| a.name == name)
        .ok_or_else(|| anyhow!("the registry has no '{name}' entry; give the images with --images"))
}

/// The images folder of the extracted mini val set, which must have been fetched.
pub fn mini_val_images(zoo: &Zoo, data: &Path) -> Result<PathBuf> {
    let mini = artifact(zoo, MINI_VAL_IMAGES)?;
    crate::fetch::require(mini, data)?;
    Ok(data.join(&mini.dest).join(VAL_IMAGES_DIR))
}

/// Whether `images` is the extracted mini val set, whose upstream APs the zoo records.
pub fn is_mini_val(zoo: &Zoo, data: &Path, images: &Path) -> bool {
    let Ok(mini) = artifact(zoo, MINI_VAL_IMAGES) else {
        return false;
    };
    let expected = data.join(&mini.dest).join(VAL_IMAGES_DIR);
    match (expected.canonicalize(), images.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// The kit's files where `zoo.yaml` places them under the data directory.
pub fn val_gt_files(global: &Global) -> Result<ValMatFiles> {
    crate::wider::zoo_gt_files(&global.zoo()?, &global.data_dir)
        .context("give the folder with --gt")
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
    let mut table = TextTable::new(["setting", "AP", "faces"]).right_align([2]);
    for s in &eval.settings {
        table.push([
            s.setting.name().to_string(),
            s.ap.to_string(),
            s.count_face.to_string(),
        ]);
    }
    write!(out, "{}", table.plain())?;
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
