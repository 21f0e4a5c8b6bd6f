//! One `reproduce eval` run over several models: for each, inference over the WIDER val images
//! with [`super::infer`] (resumable), then the official APs of the prediction files just written,
//! read back from disk exactly as upstream's `evaluation.py` reads them.
//!
//! [`EvalConfig`] holds the typed settings the CLI builds from its flags; [`run`] returns an
//! [`EvalRun`] that [`super::report`] turns into the JSON report and the PR-curve PNG. Callers
//! that need only one model's numbers (the pipeline, the drift check) use [`measure`].

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use anyhow::{Context, Result, bail};
use tch::Device;

use super::infer::{
    InferOutcome, InferSettings, RunMarker, image_jobs, infer, interrupt_flag, read_job_predictions,
};
use super::spec::ModelSpec;
use bfpgm_core::imageio::DEFAULT_MAX_PIXELS;
use bfpgm_core::progress::Progress;
use bfpgm_core::wider::EvalSet;
use bfpgm_core::wider::ap::{Evaluation, MissingPolicy, evaluate};
use bfpgm_core::wider::gt::{GroundTruth, ValMatFiles};
use bfpgm_core::zoo::ApTriple;

/// The settings of an evaluation run.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalConfig {
    /// The models, evaluated in this order.
    pub models: Vec<ModelSpec>,
    /// The `WIDER_val/images` folder: `<event>/<image>.jpg`.
    pub images: PathBuf,
    /// Run and evaluate only the ground-truth images present under `images` (the subset rule of
    /// `upstream-mini-ap.json`); otherwise all 3,226 must be there.
    pub subset: bool,
    /// The evaluation kit's four `.mat` files.
    pub ground_truth: ValMatFiles,
    /// Predictions go to `<out>/<model name>/<event>/<image>.txt`.
    pub out: PathBuf,
    /// Where the networks run.
    pub device: Device,
    /// Images run at the same time, each by its own copy of the model.
    pub workers: usize,
    /// libtorch's intra-op threads (`tch::set_num_threads`, process-wide). The thread count
    /// changes convolution results in the last bits; with 1, the predictions do not depend on
    /// how many workers or cores there are.
    pub threads: usize,
    /// Images whose header declares more pixels are refused before decoding.
    pub max_pixels: u64,
}

/// The result of one model.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelResult {
    /// What was evaluated.
    pub spec: ModelSpec,
    /// Its predictions folder.
    pub predictions: PathBuf,
    /// What inference did (images run now, skipped, time per stage).
    pub inference: InferOutcome,
    /// The APs and PR curves of its prediction files.
    pub evaluation: Evaluation,
}

/// Every model's result, in the order of [`EvalConfig::models`].
#[derive(Debug, Clone, PartialEq)]
pub struct EvalRun {
    /// Where the ground truth came from.
    pub ground_truth: String,
    /// Images run per model.
    pub images: usize,
    /// The models finished; a run interrupted by Ctrl-C lists those before the interrupted one.
    pub models: Vec<ModelResult>,
    /// The model whose inference Ctrl-C stopped, with what it had done.
    pub interrupted: Option<(String, InferOutcome)>,
}

/// Runs and evaluates every model of `config`, resuming from prediction files already written.
pub fn run(config: &EvalConfig, progress: &dyn Progress, stop: &AtomicBool) -> Result<EvalRun> {
    tch::set_num_threads(config.threads as i32);
    let gt = GroundTruth::load_val(&config.ground_truth)?;
    let jobs = image_jobs(&gt, &config.images, config.subset)?;
    let policy = if config.subset {
        MissingPolicy::Subset
    } else {
        MissingPolicy::Error
    };
    let mut result = EvalRun {
        ground_truth: gt.source.clone(),
        images: jobs.len(),
        models: Vec::new(),
        interrupted: None,
    };
    for spec in &config.models {
        let out = config.out.join(&spec.name);
        RunMarker::for_checkpoint(spec.arch, &spec.checkpoint)?.claim(&out)?;
        let settings = InferSettings {
            device: config.device,
            workers: config.workers,
            max_pixels: config.max_pixels,
        };
        let outcome = infer(spec, settings, &jobs, &out, progress, stop)?;
        if outcome.interrupted {
            result.interrupted = Some((spec.name.clone(), outcome));
            return Ok(result);
        }
        let preds = read_job_predictions(&out, &jobs)?;
        let evaluation = evaluate(&gt, &preds, policy)
            .with_context(|| format!("evaluating the predictions of {}", spec.name))?;
        result.models.push(ModelResult {
            spec: spec.clone(),
            predictions: out,
            inference: outcome,
            evaluation,
        });
    }
    Ok(result)
}

/// One worker per core, at most 8 (each EXTD worker holds up to about 2 GiB at the largest
/// scales).
pub fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(8))
}

/// The APs of one model on `set`, with its prediction files in `out/<spec.name>`: the same
/// inference and evaluation as `reproduce eval`, without the report. Files already there (of
/// the same checkpoint) are kept, so an interrupted measurement continues; Ctrl-C stops it after
/// the current image.
pub fn measure(
    spec: &ModelSpec,
    set: &EvalSet,
    out: &Path,
    device: Device,
    progress: &dyn Progress,
) -> Result<ApTriple> {
    let config = EvalConfig {
        models: vec![spec.clone()],
        images: set.images.clone(),
        subset: set.subset,
        ground_truth: set.ground_truth.clone(),
        out: out.to_path_buf(),
        device,
        workers: default_workers(),
        threads: 1,
        max_pixels: DEFAULT_MAX_PIXELS,
    };
    let result = run(&config, progress, interrupt_flag()?)?;
    if let Some((name, outcome)) = result.interrupted {
        bail!(
            "the evaluation of {name} was interrupted after {} of {} images; run again to \
             continue",
            outcome.already_done + outcome.inferred,
            outcome.images
        );
    }
    let model = result.models.first().context("no model was evaluated")?;
    Ok(model.evaluation.aps())
}
