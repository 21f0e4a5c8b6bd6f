//! `reproduce eval`: WIDER FACE val APs (easy, medium, hard) with upstream's protocol, two ways.
//!
//! * `reproduce eval MODEL...|--all`: runs zoo models (by name) or checkpoint files (by path;
//!   the network told from the keys, or `--arch`) over the val images with upstream's inference protocol (`wider::infer`),
//!   writes `<out>/<model>/<event>/<image>.txt`, evaluates them and prints a table with the
//!   published or expected APs beside the measured ones. It also writes a JSON report
//!   (`<out>/report.json`, fields in `bfpgm::wider::report`) and the PR curves of the three
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
use super::model_arg;
use bfpgm::device::{self, DeviceChoice};
use bfpgm::fsutil::write_atomic;
use bfpgm::progress;
use bfpgm::wider::infer::{interrupt_flag, prefer_huge_pages};
use bfpgm::wider::report::{ap_triple, max_abs_diff, write_json, write_pr_png};
use bfpgm::wider::session::{self, ReferenceAp};
use bfpgm::wider::{
    EvalConfig, EvalRun, Evaluation, GroundTruth, MissingPolicy, ModelSpec, Predictions, Setting,
    ValMatFiles, evaluate,
};
use bfpgm::zoo::{ApTriple, Arch, Model, Zoo};

/// Arguments of `reproduce eval`.
#[derive(Args)]
#[command(group(ArgGroup::new("what").required(true).args(["models", "all", "predictions"])))]
pub struct EvalArgs {
    /// Zoo models to run (e.g. eresfd-30; `reproduce zoo list`) or checkpoint files.
    #[arg(value_name = "MODEL")]
    models: Vec<String>,
    /// Run every model of the zoo.
    #[arg(long, conflicts_with = "models")]
    all: bool,
    /// Architecture of the checkpoint files given by path [default: told from their keys; zoo
    /// models know theirs].
    #[arg(long, value_parser = model_arg::parse_arch)]
    arch: Option<Arch>,
    /// The WIDER val images, <event>/<image>.jpg [default: the data directory's
    /// WIDER/WIDER_val/images, from `reproduce fetch wider-val`].
    #[arg(long, value_name = "DIR", conflicts_with = "predictions")]
    images: Option<PathBuf>,
    /// Predictions go to DIR/<model>/<event>/<image>.txt, the report and the PR curves to DIR;
    /// a re-run skips the images already done.
    #[arg(
        long,
        value_name = "DIR",
        default_value = "runs/eval",
        conflicts_with = "predictions"
    )]
    out: PathBuf,
    /// Where the networks run: cpu, cuda or auto.
    #[arg(long, default_value = "auto", conflicts_with = "predictions")]
    device: DeviceChoice,
    /// Images run at the same time, each by its own copy of the model [default: the number of
    /// CPU cores, at most 8].
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..), conflicts_with = "predictions")]
    workers: Option<u16>,
    /// libtorch threads per worker. Thread counts change convolution results in the last bits;
    /// with 1 the predictions do not depend on the number of workers or cores.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..), conflicts_with = "predictions")]
    threads: u16,
    /// Prediction files of any detector in the official layout, <event>/<image>.txt, to
    /// evaluate instead of running models.
    #[arg(long, value_name = "DIR")]
    predictions: Option<PathBuf>,
    /// Only the ground-truth images that are there: with models, those under --images; with
    /// --predictions, those with a prediction file (the same as --missing subset).
    #[arg(long, conflicts_with = "missing")]
    subset: bool,
    /// With --predictions: what to do with images that have no prediction file.
    #[arg(
        long,
        value_enum,
        value_name = "RULE",
        default_value_t = Missing::Error,
        conflicts_with_all = ["models", "all"]
    )]
    missing: Missing,
    /// Folder holding wider_face_val.mat and wider_{easy,medium,hard}_val.mat
    /// [default: the data directory's WIDER/ground_truth].
    #[arg(long, value_name = "DIR")]
    gt: Option<PathBuf>,
    /// Write the JSON report (APs, face counts, PR curves) to FILE [default with models:
    /// <out>/report.json].
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Draw the PR curves to FILE [default: <out>/pr_curves.png].
    #[arg(long, value_name = "FILE", conflicts_with = "predictions")]
    png: Option<PathBuf>,
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

/// Exit code of a run stopped by Ctrl-C (128 + SIGINT, as shells report it).
const INTERRUPTED: u8 = 130;

impl EvalArgs {
    /// Runs the models (or reads the predictions), evaluates, prints the table and the reports.
    pub fn run(self, global: &Global) -> Result<ExitCode> {
        let files = match &self.gt {
            Some(dir) => ValMatFiles::in_dir(dir),
            None => val_gt_files(global)?,
        };
        match &self.predictions {
            Some(dir) => self.run_predictions(dir, &files),
            None => self.run_models(global, files),
        }
    }

    fn run_predictions(&self, dir: &Path, files: &ValMatFiles) -> Result<ExitCode> {
        let policy = match (self.subset, self.missing) {
            (true, _) | (false, Missing::Subset) => MissingPolicy::Subset,
            (false, Missing::Error) => MissingPolicy::Error,
            (false, Missing::Upstream) => MissingPolicy::Upstream,
        };
        let gt = GroundTruth::load_val(files)?;
        let preds = Predictions::read_dir(dir)?;
        let eval = evaluate(&gt, &preds, policy)?;
        print_table(&mut std::io::stdout().lock(), dir, &eval)?;
        if let Some(path) = &self.json {
            write_report(path, dir, &gt, &eval)?;
        }
        Ok(ExitCode::SUCCESS)
    }

    fn run_models(&self, global: &Global, ground_truth: ValMatFiles) -> Result<ExitCode> {
        prefer_huge_pages();
        let zoo = global.zoo()?;
        let data = &global.data_dir;
        let names: Vec<String> = if self.all {
            zoo.models.iter().map(|m| m.name().to_string()).collect()
        } else {
            self.models.clone()
        };
        let resolved_models = names
            .iter()
            .map(|n| model_spec(&zoo, data, n, self.arch))
            .collect::<Result<Vec<_>>>()?;
        let images = match &self.images {
            Some(dir) => dir.clone(),
            None => {
                let val = artifact(&zoo, VAL_IMAGES)?;
                bfpgm::fetch::require(val, data)?;
                data.join(&val.dest).join(VAL_IMAGES_DIR)
            }
        };
        let on_mini = self.subset && is_mini_val(&zoo, data, &images);
        let models = resolved_models
            .into_iter()
            .map(|(mut spec, zoo_model)| {
                if let Some(m) = zoo_model {
                    spec.references = references(m, self.subset, on_mini);
                }
                spec
            })
            .collect();
        let resolved = device::resolve(self.device);
        if let Some(note) = &resolved.note {
            eprintln!("{note}");
        }
        let config = EvalConfig {
            models,
            images,
            subset: self.subset,
            ground_truth,
            out: self.out.clone(),
            device: resolved.device,
            workers: self
                .workers
                .map_or_else(session::default_workers, usize::from),
            threads: usize::from(self.threads),
        };
        let stop = interrupt_flag()?;
        let run = session::run(&config, progress::stderr(false).as_ref(), stop)?;
        let mut stdout = std::io::stdout().lock();
        print_model_table(&mut stdout, &config, &run)?;
        if let Some((name, done)) = &run.interrupted {
            writeln!(
                stdout,
                "interrupted: {name} has {} of {} prediction files in {}; run the same command \
                 again to resume",
                done.already_done + done.inferred,
                done.images,
                config.out.join(name).display()
            )?;
            return Ok(ExitCode::from(INTERRUPTED));
        }
        let json = self
            .json
            .clone()
            .unwrap_or_else(|| config.out.join("report.json"));
        let png = self
            .png
            .clone()
            .unwrap_or_else(|| config.out.join("pr_curves.png"));
        write_json(&json, &config, &run)?;
        write_pr_png(&png, &run)?;
        writeln!(stdout, "report: {}", json.display())?;
        writeln!(stdout, "PR curves: {}", png.display())?;
        Ok(ExitCode::SUCCESS)
    }
}

/// The zoo entry of the full val images and the images folder inside its extraction.
const VAL_IMAGES: &str = "wider-val-images";
const VAL_IMAGES_DIR: &str = "WIDER_val/images";
/// The zoo entry of the 50-image mini val set (the images of `upstream-mini-ap.json`).
const MINI_VAL_IMAGES: &str = "wider-val-mini";

fn artifact<'a>(zoo: &'a Zoo, name: &str) -> Result<&'a bfpgm::zoo::Artifact> {
    zoo.artifacts()
        .find(|a| a.name == name)
        .ok_or_else(|| anyhow!("the registry has no '{name}' entry; give the images with --images"))
}

/// The images folder of the extracted mini val set, which must have been fetched.
pub(super) fn mini_val_images(zoo: &Zoo, data: &Path) -> Result<PathBuf> {
    let mini = artifact(zoo, MINI_VAL_IMAGES)?;
    bfpgm::fetch::require(mini, data)?;
    Ok(data.join(&mini.dest).join(VAL_IMAGES_DIR))
}

/// Whether `images` is the extracted mini val set, whose upstream APs the zoo records.
fn is_mini_val(zoo: &Zoo, data: &Path, images: &Path) -> bool {
    let Ok(mini) = artifact(zoo, MINI_VAL_IMAGES) else {
        return false;
    };
    let expected = data.join(&mini.dest).join(VAL_IMAGES_DIR);
    match (expected.canonicalize(), images.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// A model by zoo name (downloaded; the zoo entry comes along) or by checkpoint file. The spec
/// has no reference APs yet: they depend on the images.
pub(super) fn model_spec<'z>(
    zoo: &'z Zoo,
    data: &Path,
    name: &str,
    arch: Option<Arch>,
) -> Result<(ModelSpec, Option<&'z Model>)> {
    let (checkpoint, arch, model) = model_arg::resolve(zoo, data, name, arch)?;
    let spec = ModelSpec {
        name: model_arg::model_name(&checkpoint, model)?,
        arch,
        checkpoint,
        references: Vec::new(),
    };
    Ok((spec, model))
}

/// The APs `zoo.yaml` knows for a model on these images: upstream's on the mini val set, or the
/// published and expected full-val ones for a full run.
fn references(m: &Model, subset: bool, on_mini: bool) -> Vec<ReferenceAp> {
    let known = if on_mini {
        vec![("upstream (mini)", m.expected.mini_ap)]
    } else if !subset {
        vec![("published", m.published.ap), ("expected", m.expected.ap)]
    } else {
        Vec::new()
    };
    known
        .into_iter()
        .filter_map(|(label, ap)| {
            ap.map(|ap| ReferenceAp {
                label: label.to_string(),
                ap,
            })
        })
        .collect()
}

/// The measured APs per model, with each known reference and its largest difference below.
fn print_model_table(out: &mut impl Write, config: &EvalConfig, run: &EvalRun) -> Result<()> {
    let scope = if config.subset { " (subset)" } else { "" };
    writeln!(
        out,
        "images: {} under {}{scope}; device {}, {} workers x {} threads",
        run.images,
        config.images.display(),
        bfpgm::wider::report::device_name(config.device),
        config.workers,
        config.threads
    )?;
    let width = run
        .models
        .iter()
        .map(|m| m.spec.name.len())
        .chain(
            run.models
                .iter()
                .flat_map(|m| m.spec.references.iter().map(|r| r.label.len() + 2)),
        )
        .chain([5])
        .max()
        .unwrap_or(5);
    writeln!(
        out,
        "{:<width$}  {:>8}  {:>8}  {:>8}  {:>9}",
        "model", "easy", "medium", "hard", "s/image"
    )?;
    for m in &run.models {
        let ap = ap_triple(&m.evaluation);
        let time = m
            .inference
            .seconds_per_image()
            .map_or("-".to_string(), |s| format!("{s:.3}"));
        writeln!(
            out,
            "{:<width$}  {:>8.4}  {:>8.4}  {:>8.4}  {:>9}",
            m.spec.name, ap.easy, ap.medium, ap.hard, time
        )?;
        for r in &m.spec.references {
            writeln!(
                out,
                "{:<width$}  {:>8.4}  {:>8.4}  {:>8.4}  max |diff| {:.1e}",
                format!("  {}", r.label),
                r.ap.easy,
                r.ap.medium,
                r.ap.hard,
                max_abs_diff(&ap, &r.ap)
            )?;
        }
    }
    Ok(())
}

/// The kit's files where `zoo.yaml` places them under the data directory.
pub fn val_gt_files(global: &Global) -> Result<ValMatFiles> {
    bfpgm::wider::session::zoo_gt_files(&global.zoo()?, &global.data_dir)
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
