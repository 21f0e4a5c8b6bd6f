//! The whole B-FPGM pipeline in one run folder: pre-training (or a zoo checkpoint), the
//! Bayesian optimisation of the group rates, soft filter pruning and fine-tuning, each stage
//! resumable, then the measurements of the new model.
//!
//! ```text
//! <run>/pretrain/   a training run (skipped when the pipeline starts from a checkpoint)
//! <run>/bo/         the search: search.json, optimization_results.csv, optimization.png,
//!                   optimal_rates.json once complete
//! <run>/sfp/        a training run with sfp.json
//! <run>/finetune/   a training run with finetune.json, then model.pth and model.json, and
//!                   predictions/model/ with the new model's WIDER val prediction files when
//!                   evaluated
//! ```
//!
//! Each stage is skipped when its output is complete, resumed when it was started, and started
//! otherwise; its settings are saved in its folder, so a resumed pipeline refuses to continue a
//! stage with other settings. Stage inputs are the previous stage's outputs: the pre-trained
//! weights are the run's lowest-validation-loss epoch (upstream's choice of
//! `EResFD-original.pth`), SFP starts from them with the BO's rates, and fine-tuning starts from
//! SFP's last, freshly pruned epoch.
//!
//! The APs are `reproduce eval`'s ([`crate::eval::session::measure`]): upstream's inference
//! protocol and the official evaluation; predictions are written per image, so an interrupted
//! evaluation continues where it stopped.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde::Serialize;
use tch::Device;

use super::bayes::search_loop::changed_keys;
use super::bo::{BoConfig, BoOptions, BoOutcome, OPTIMAL_RATES, OptimalRates, run_bo};
use super::finetune::{FINETUNE_SETTINGS, FinetuneConfig, run_finetune};
use super::sfp::{SFP_SETTINGS, SfpConfig, run_sfp};
use crate::eval::session::measure;
use crate::eval::spec::ModelSpec;
use crate::train::state::{BEST, RunDir};
use crate::train::{NoHook, RunOptions, TrainConfig};
use bfpgm_core::progress::Progress;
use bfpgm_core::record::Criterion;
use bfpgm_core::record::{MODEL, Record};
use bfpgm_core::wider::EvalSet;
use bfpgm_core::zoo::{ApTriple, Arch};

/// Where the pipeline's pre-trained weights come from.
#[derive(Debug, Clone, PartialEq)]
pub enum Start {
    /// Pre-train with these settings in `<run>/pretrain`.
    Pretrain(Box<TrainConfig>),
    /// Start from these weights (a zoo checkpoint such as eresfd-original).
    Checkpoint(PathBuf),
}

/// The stages' settings. The inputs that come from earlier stages (`bo.pretrained`, the SFP and
/// fine-tuning `init` and prune plans) are filled in by [`run_pipeline`].
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineConfig {
    /// The detector.
    pub arch: Arch,
    /// Pre-training or a checkpoint.
    pub start: Start,
    /// The search.
    pub bo: BoConfig,
    /// Soft filter pruning.
    pub sfp: SfpConfig,
    /// Fine-tuning.
    pub finetune: FinetuneConfig,
    /// The base pruner of SFP and fine-tuning (the BO's inner pruner is always FPGM).
    pub criterion: Criterion,
    /// Where and on what the new model's APs are measured, if at all.
    pub eval: Option<EvalSet>,
}

/// The `--quick` smoke-run profile: every stage at a size a laptop runs in minutes, on the mini
/// WIDER set. A full run needs no profile: each stage's `upstream` constructor holds upstream's
/// numbers (pre-training 300/600 epochs, search 60 + 940 trials, SFP 200/250, fine-tuning 10).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quick {
    /// The WIDER root under the data folder.
    pub wider: &'static str,
    /// Training images per epoch.
    pub max_images: usize,
    /// Validation images per epoch.
    pub max_val_images: usize,
    /// Side of the square network input.
    pub input_size: usize,
    /// Batch size of pre-training, the search and SFP.
    pub batch: usize,
    /// Batch size of fine-tuning.
    pub finetune_batch: usize,
    /// Pre-training epochs.
    pub pretrain_epochs: u32,
    /// SFP epochs.
    pub sfp_epochs: u32,
    /// Fine-tuning epochs.
    pub finetune_epochs: u32,
    /// Random points after the probe.
    pub n_init: usize,
    /// GP-guided trials.
    pub n_iter: usize,
}

/// The one quick profile.
pub const QUICK: Quick = Quick {
    wider: "WIDER-mini",
    max_images: 16,
    max_val_images: 4,
    input_size: 256,
    batch: 8,
    finetune_batch: 4,
    pretrain_epochs: 1,
    sfp_epochs: 2,
    finetune_epochs: 2,
    n_init: 3,
    n_iter: 1,
};

/// How the stages execute.
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineOptions {
    /// Training stages: device, loader threads, logging.
    pub run: RunOptions,
    /// The search: one worker per device.
    pub bo: BoOptions,
    /// The device of the AP evaluation.
    pub eval_device: Device,
}

/// What happened to a stage in this call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StageStatus {
    /// Started from nothing.
    Ran,
    /// Continued from where an earlier call stopped.
    Resumed,
    /// Already complete.
    Complete,
    /// Not part of this pipeline (pre-training when starting from a checkpoint).
    Skipped,
}

/// One stage's wall time in this call.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StageTime {
    /// `pretrain`, `bo`, `sfp`, `finetune` or `eval`.
    pub stage: &'static str,
    /// What happened.
    pub status: StageStatus,
    /// Seconds spent in this call.
    pub seconds: f64,
}

/// What the pipeline produced.
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineResult {
    /// `<run>/finetune/model.pth`.
    pub checkpoint: PathBuf,
    /// Its record (rates, measured sparsity).
    pub record: Record,
    /// The search's winner.
    pub rates: OptimalRates,
    /// The APs of the new model, when evaluated.
    pub aps: Option<ApTriple>,
    /// The stages in order.
    pub stages: Vec<StageTime>,
}

/// Runs every stage of `cfg` in `dir` that is not complete yet (module docs).
pub fn run_pipeline(
    cfg: &PipelineConfig,
    dir: &Path,
    opts: &PipelineOptions,
    progress: &dyn Progress,
) -> Result<PipelineResult> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut stages = Vec::new();
    let mut timed = |stage: &'static str, status: StageStatus, started: Instant| {
        let t = StageTime {
            stage,
            status,
            seconds: started.elapsed().as_secs_f64(),
        };
        progress.note(&format!(
            "stage {stage}: {} in {:.1} s",
            status_text(status),
            t.seconds
        ));
        stages.push(t);
    };

    let started = Instant::now();
    let (pretrained, status) = match &cfg.start {
        Start::Checkpoint(path) => (path.clone(), StageStatus::Skipped),
        Start::Pretrain(train) => {
            pretrain(train, &RunDir::new(&dir.join("pretrain")), opts, progress)?
        }
    };
    timed("pretrain", status, started);

    let started = Instant::now();
    let bo_dir = dir.join("bo");
    let rates_path = bo_dir.join(OPTIMAL_RATES);
    let (rates, status) = {
        let mut bo = cfg.bo.clone();
        bo.pretrained = pretrained.clone();
        let complete = rates_path.is_file();
        let resume = super::bayes::search_loop::SearchState::exists(&bo_dir);
        match run_bo(&bo, &bo_dir, resume, &opts.bo, progress)? {
            BoOutcome::Done(rates) if complete => (rates, StageStatus::Complete),
            BoOutcome::Done(rates) => (rates, started_or_resumed(resume)),
            BoOutcome::Stopped(n) | BoOutcome::ShardDone(n) => {
                bail!("the search stopped after {n} trials; run the pipeline again to continue it")
            }
        }
    };
    timed("bo", status, started);
    progress.note(&format!(
        "rates: {} (best trial {}, sparsity {:.2} %)",
        super::bayes::search_loop::rates_text(&rates.rates),
        rates.best_trial.iter + 1,
        100.0 * rates.best_trial.sparsity
    ));

    let started = Instant::now();
    let mut sfp = cfg.sfp.clone();
    sfp.sfp.plan = rates.plan(cfg.criterion);
    sfp.train.init = crate::train::Init::Checkpoint(pretrained.clone());
    let sfp_dir = RunDir::new(&dir.join("sfp"));
    let settings = (SFP_SETTINGS, serde_json::to_value(sfp.sfp)?);
    let (pruned, status) = match complete_run(&sfp_dir, &sfp.train, Some(settings))? {
        Some(last) => (last, StageStatus::Complete),
        None => {
            let resume = sfp_dir.exists();
            let summary = run_sfp(&sfp, &sfp_dir, resume, &opts.run, progress)?;
            (summary.last, started_or_resumed(resume))
        }
    };
    timed("sfp", status, started);

    let started = Instant::now();
    let mut finetune = cfg.finetune.clone();
    finetune.finetune.plan = rates.plan(cfg.criterion);
    finetune.finetune.target = Some(rates.target);
    finetune.train.init = crate::train::Init::Checkpoint(pruned);
    let ft_dir = RunDir::new(&dir.join("finetune"));
    let checkpoint = ft_dir.file(MODEL);
    let settings = (FINETUNE_SETTINGS, serde_json::to_value(finetune.finetune)?);
    let done = complete_run(&ft_dir, &finetune.train, Some(settings))?.is_some();
    let (record, status) = if done && Record::path_for(&checkpoint).is_file() {
        (Record::read_for(&checkpoint)?, StageStatus::Complete)
    } else {
        let resume = ft_dir.exists();
        let result = run_finetune(&finetune, &ft_dir, resume, &opts.run, progress)?;
        (result.record, started_or_resumed(resume))
    };
    timed("finetune", status, started);

    let aps = match &cfg.eval {
        Some(set) => {
            let started = Instant::now();
            let spec = ModelSpec {
                name: "model".to_string(),
                arch: cfg.arch,
                checkpoint: checkpoint.clone(),
                references: Vec::new(),
                band: None,
            };
            let aps = measure(
                &spec,
                set,
                &ft_dir.path.join("predictions"),
                opts.eval_device,
                progress,
            )?;
            timed("eval", StageStatus::Ran, started);
            Some(aps)
        }
        None => None,
    };
    Ok(PipelineResult {
        checkpoint,
        record,
        rates,
        aps,
        stages,
    })
}

fn status_text(status: StageStatus) -> &'static str {
    match status {
        StageStatus::Ran => "ran",
        StageStatus::Resumed => "resumed and finished",
        StageStatus::Complete => "already complete",
        StageStatus::Skipped => "skipped",
    }
}

fn started_or_resumed(resume: bool) -> StageStatus {
    if resume {
        StageStatus::Resumed
    } else {
        StageStatus::Ran
    }
}

/// The last weights of the training run in `dir` once it has done `cfg.epochs` epochs; `None`
/// when it has not, or was not started. A run started with other settings (the number of
/// epochs aside), or whose stage settings file (`sfp.json`, `finetune.json`) holds others, is an
/// error: a pipeline folder never mixes two configurations.
fn complete_run(
    dir: &RunDir,
    cfg: &TrainConfig,
    stage: Option<(&str, serde_json::Value)>,
) -> Result<Option<PathBuf>> {
    if !dir.exists() {
        return Ok(None);
    }
    let mut saved = dir.read_config()?;
    saved.epochs = cfg.epochs;
    let (saved, wanted) = (serde_json::to_value(&saved)?, serde_json::to_value(cfg)?);
    let mut differ = changed_keys(&saved, &wanted);
    if let Some((file, expected)) = stage {
        let found: serde_json::Value = dir.read_settings(file)?;
        differ.extend(changed_keys(&found, &expected));
    }
    if !differ.is_empty() {
        bail!(
            "{} holds a run with other settings ({}); give the pipeline another --out, or \
             delete that folder to redo the stage and those after it",
            dir.path.display(),
            differ.join(", ")
        );
    }
    let state = dir.read_state()?;
    Ok((state.epochs_done >= cfg.epochs).then(|| dir.file(&state.weights)))
}

/// The pre-training stage: its lowest-validation-loss weights (the last ones without
/// validation).
fn pretrain(
    cfg: &TrainConfig,
    dir: &RunDir,
    opts: &PipelineOptions,
    progress: &dyn Progress,
) -> Result<(PathBuf, StageStatus)> {
    let status = if complete_run(dir, cfg, None)?.is_some() {
        StageStatus::Complete
    } else {
        let resume = dir.exists();
        crate::train::run(cfg, dir, resume, &opts.run, &mut NoHook, progress)?;
        started_or_resumed(resume)
    };
    let state = dir.read_state()?;
    let weights = if state.best.is_some() {
        dir.file(BEST)
    } else {
        dir.file(&state.weights)
    };
    Ok((weights, status))
}
