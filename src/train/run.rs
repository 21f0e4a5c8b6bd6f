//! A whole training run: start or resume in a run folder, train epoch after epoch, validate,
//! commit a checkpoint per epoch, log, and stop on a non-finite loss with the last good
//! checkpoint in place. `reproduce pretrain` is this loop with upstream's settings; SFP and
//! fine-tuning call it with their own [`TrainConfig`] and an [`EpochHook`].

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde_json::json;

use super::config::{Init, TrainConfig};
use super::data::{Dataset, Loader, LoaderConfig, Mode, Split, WiderDir, shuffled};
use super::log::{EventLog, write_reports};
use super::state::{BEST, Best, EpochRecord, INIT, RunDir, RunState};
use super::trainer::{DeviceOptions, NonFiniteLoss, Trainer};
use crate::model::Detector;
use bfpgm_core::checkpoint::StateDict;
use bfpgm_core::progress::{Progress, Unit};

/// Called around the training of each epoch: how pruning stages step into the loop.
pub trait EpochHook {
    /// Before `epoch`'s training, also the first epoch of a resumed session (fine-tuning freezes
    /// here, which must be redone after a resume; EXTD's SFP prunes and starts a new optimiser at
    /// the start of each round).
    fn before_train(&mut self, _epoch: u32, _trainer: &mut Trainer) -> Result<()> {
        Ok(())
    }
    /// After `epoch`'s training, before its validation and checkpoint (SFP prunes here, and the
    /// pruned weights are what the checkpoint holds, as upstream's `main_sfp.py`).
    fn after_train(&mut self, epoch: u32, trainer: &mut Trainer) -> Result<()>;
    /// Whether BatchNorm trains in `epoch`, where the stage decides rather than the config
    /// (EXTD's SFP rebuilds the model each round, so BatchNorm trains in each round's first
    /// epoch); `None` leaves it to [`TrainConfig::bn_train_first_epoch_only`].
    fn bn_train(&self, _epoch: u32) -> Option<bool> {
        None
    }
}

/// No hook: plain training.
pub struct NoHook;

impl EpochHook for NoHook {
    fn after_train(&mut self, _: u32, _: &mut Trainer) -> Result<()> {
        Ok(())
    }
}

/// How a run executes; none of it changes the results on the CPU.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RunOptions {
    /// Device, mixed precision and memory layout.
    pub device: DeviceOptions,
    /// Loader threads.
    pub workers: usize,
    /// Batches prepared ahead.
    pub prefetch: usize,
    /// A `step` log line (and progress note) every this many batches.
    pub log_every: usize,
    /// Images whose header declares more pixels are refused before decoding.
    pub max_pixels: u64,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSummary {
    /// Epochs completed, over all sessions of the run.
    pub epochs_done: u32,
    /// Weights of the last completed epoch.
    pub last: PathBuf,
    /// The best validation loss and its epoch, if validated.
    pub best: Option<Best>,
}

/// The training and validation sets of a config.
fn datasets(cfg: &TrainConfig) -> Result<(Arc<Dataset>, Option<Arc<Dataset>>)> {
    let first = |ds: Dataset, max: Option<usize>| match max {
        Some(n) if n < ds.len() => ds.subset(&(0..n).collect::<Vec<_>>()),
        _ => ds,
    };
    let train = Dataset::load(&WiderDir::at(&cfg.data.train), Split::Train)?;
    let train = Arc::new(first(train, cfg.data.max_train_images));
    let val = match &cfg.data.val {
        Some(root) => {
            let ds = Dataset::load(&WiderDir::at(root), Split::Val)?;
            Some(Arc::new(first(ds, cfg.data.max_val_images)))
        }
        None => None,
    };
    Ok((train, val))
}

/// The initial detector of a config, on the CPU.
fn initial_detector(cfg: &TrainConfig) -> Result<Detector> {
    match &cfg.init {
        Init::Fresh => {
            tch::manual_seed(cfg.seed as i64);
            Ok(Detector::new(cfg.arch, tch::Device::Cpu))
        }
        Init::Checkpoint(path) => Detector::load(cfg.arch, path, tch::Device::Cpu),
    }
}

/// Whether a resumed run may use `new` where it was started with `old`: only the number of
/// epochs may change.
fn check_resumable(old: &TrainConfig, new: &TrainConfig) -> Result<()> {
    let mut same = new.clone();
    same.epochs = old.epochs;
    if &same != old {
        let a = serde_json::to_value(old).expect("serialises");
        let b = serde_json::to_value(&same).expect("serialises");
        let changed: Vec<String> = a
            .as_object()
            .expect("an object")
            .iter()
            .filter(|(k, v)| b.get(k.as_str()) != Some(v))
            .map(|(k, _)| k.clone())
            .collect();
        bail!(
            "the run was started with other settings ({}); a resumed run keeps its settings \
             except --epochs",
            changed.join(", ")
        );
    }
    Ok(())
}

/// Trains `cfg` in `dir`: a new run, or with `resume` the continuation of the run there.
pub fn run(
    cfg: &TrainConfig,
    dir: &RunDir,
    resume: bool,
    opts: &RunOptions,
    hook: &mut dyn EpochHook,
    progress: &dyn Progress,
) -> Result<RunSummary> {
    cfg.validate()?;
    let (train_ds, val_ds) = datasets(cfg)?;
    let mut log;
    let mut state;
    let mut trainer;
    if resume {
        check_resumable(&dir.read_config()?, cfg)?;
        state = dir.read_state()?;
        let detector = Detector::load(cfg.arch, &dir.file(&state.weights), tch::Device::Cpu)?;
        trainer = Trainer::new(detector, cfg.optimizer, opts.device);
        if let Some(name) = &state.optimizer {
            let sd = StateDict::read(&dir.file(name))?;
            trainer
                .load_optimizer_state(&sd, state.loss_scale)
                .with_context(|| format!("{} does not fit this run", dir.file(name).display()))?;
        }
        log = EventLog::open(&dir.file("log.jsonl"))?;
        log.event(
            "resume",
            json!({"epoch": state.epochs_done, "iteration": state.iteration}),
        )?;
        progress.note(&format!(
            "resuming {} at epoch {} of {}",
            dir.path.display(),
            state.epochs_done,
            cfg.epochs
        ));
    } else {
        dir.refuse_existing()?;
        std::fs::create_dir_all(&dir.path)
            .with_context(|| format!("cannot create {}", dir.path.display()))?;
        dir.write_config(cfg)?;
        let detector = initial_detector(cfg)?;
        detector.save(&dir.file(INIT))?;
        trainer = Trainer::new(detector, cfg.optimizer, opts.device);
        state = RunState::initial();
        dir.commit(&state)?;
        log = EventLog::open(&dir.file("log.jsonl"))?;
        log.event(
            "start",
            json!({"arch": cfg.arch, "train_images": train_ds.len(),
                   "val_images": val_ds.as_ref().map(|d| d.len()), "epochs": cfg.epochs}),
        )?;
    }
    let unreachable = trainer.params().unreachable();
    if !unreachable.is_empty() {
        progress.note(&format!(
            "{} parameter tensors receive no gradient and are never updated (as in upstream): {}",
            unreachable.len(),
            summarize(&unreachable)
        ));
    }

    let loader_cfg = |batch_size| LoaderConfig {
        batch_size,
        workers: opts.workers,
        prefetch: opts.prefetch,
        pin: None,
        nice: LoaderConfig::nice_for(opts.device.device),
        max_pixels: opts.max_pixels,
    };
    for epoch in state.epochs_done..cfg.epochs {
        if cfg.fresh_optimizer_each_epoch && epoch > 0 {
            trainer.reset_optimizer();
        }
        hook.before_train(epoch, &mut trainer)?;
        let order = if cfg.shuffle {
            shuffled(train_ds.len(), cfg.seed, epoch as u64)
        } else {
            (0..train_ds.len()).collect()
        };
        let loader = Loader::start(
            train_ds.clone(),
            order,
            Mode::Train(cfg.augment.clone()),
            cfg.seed,
            epoch as u64,
            loader_cfg(cfg.batch_size),
        );
        let first_iteration = state.iteration;
        let lr = |batch: usize| cfg.lr(epoch, first_iteration + batch as u64);
        let bn_train = hook
            .bn_train(epoch)
            .unwrap_or(!(cfg.bn_train_first_epoch_only && epoch > 0));
        let mut task = progress.task(
            &format!("epoch {}/{}", epoch + 1, cfg.epochs),
            Unit::Items,
            Some(train_ds.len() as u64),
        );
        let started = Instant::now();
        let mut images = 0usize;
        let mut curve = Vec::new();
        let trained = trainer.train_epoch(loader, &lr, bn_train, opts.log_every, &mut |s| {
            task.add(s.images as u64);
            images += s.images;
            let last = s.batch + 1 == s.batches;
            if (s.batch + 1) % opts.log_every.max(1) == 0 || last {
                let rate = images as f64 / started.elapsed().as_secs_f64().max(1e-9);
                let settled = first_iteration + s.settled as u64;
                if s.running_loss.is_finite() {
                    curve.push((settled, s.running_loss));
                }
                log.event(
                    "step",
                    json!({"epoch": epoch, "batch": s.batch, "iteration": first_iteration + s.batch as u64,
                           "lr": s.lr, "running_loss": finite_or_null(s.running_loss),
                           "images_per_s": rate}),
                )?;
                let loss = if s.running_loss.is_finite() {
                    format!("running loss {:.4}", s.running_loss)
                } else {
                    "loss pending".to_string()
                };
                progress.note(&format!(
                    "epoch {} batch {}/{}: {loss}, lr {:.2e}, {rate:.1} images/s",
                    epoch + 1,
                    s.batch + 1,
                    s.batches,
                    s.lr
                ));
            }
            Ok(())
        });
        let train = match trained {
            Ok(t) => t,
            Err(e) => {
                task.finish("");
                if let Some(nf) = e.downcast_ref::<NonFiniteLoss>() {
                    log.event(
                        "stop",
                        json!({"reason": "non-finite loss", "epoch": epoch, "batch": nf.batch}),
                    )?;
                    bail!(
                        "training stopped in epoch {epoch}: {nf}; the last good checkpoint is {} \
                         ({} epochs done), and {} still points at it: lower the learning rate, \
                         or --resume from it",
                        dir.file(&state.weights).display(),
                        state.epochs_done,
                        dir.file("state.json").display()
                    );
                }
                return Err(e);
            }
        };
        curve.push((first_iteration + train.batches as u64, train.total()));
        task.finish(&format!(
            "loss {:.4} (loc {:.4}, conf {:.4}), {:.1} images/s",
            train.total(),
            train.loc,
            train.conf,
            train.images_per_second()
        ));
        hook.after_train(epoch, &mut trainer)?;

        let val = match &val_ds {
            Some(ds) => {
                let loader = Loader::start(
                    ds.clone(),
                    (0..ds.len()).collect(),
                    Mode::Val {
                        size: cfg.augment.size,
                    },
                    cfg.seed,
                    epoch as u64,
                    loader_cfg(cfg.val_batch_size),
                );
                let mut task = progress.task(
                    &format!("validation {}/{}", epoch + 1, cfg.epochs),
                    Unit::Items,
                    Some(ds.len() as u64),
                );
                let v = trainer.validate(loader, &mut |n| task.add(n as u64))?;
                task.finish(&format!(
                    "loss {:.4} (loc {:.4}, conf {:.4})",
                    v.total(),
                    v.loc,
                    v.conf
                ));
                Some(v)
            }
            None => None,
        };

        // Commit: weights, optimiser, best, then the record that names them.
        let weights = RunDir::epoch_weights(epoch);
        let optimizer = RunDir::epoch_optimizer(epoch);
        trainer.detector().save(&dir.file(&weights))?;
        trainer
            .optimizer()
            .state_dict(trainer.params())
            .write(&dir.file(&optimizer))?;
        if let Some(v) = &val
            && state.best.as_ref().is_none_or(|b| v.total() < b.val_loss)
        {
            trainer.detector().save(&dir.file(BEST))?;
            state.best = Some(Best {
                epoch,
                val_loss: v.total(),
            });
        }
        state.epochs_done = epoch + 1;
        state.iteration += train.batches as u64;
        state.weights = weights;
        state.optimizer = Some(optimizer.clone());
        state.loss_scale = trainer.scaler().map(|s| {
            (
                s.scale.double_value(&[]),
                s.growth_tracker.double_value(&[]),
            )
        });
        state.history.push(EpochRecord {
            epoch,
            lr: cfg.lr(epoch, first_iteration),
            train,
            val,
            curve,
        });
        dir.commit(&state)?;
        dir.prune_optimizer_files(&optimizer)?;
        write_reports(&dir.path, &state.history)?;
        log.event(
            "epoch",
            json!({"epoch": epoch, "train_loss": train.total(), "train_loc": train.loc,
                   "train_conf": train.conf, "val_loss": val.map(|v| v.total()),
                   "images_per_s": train.images_per_second(), "weights": state.weights}),
        )?;
    }
    write_reports(&dir.path, &state.history)?;
    log.event(
        "stop",
        json!({"reason": "done", "epochs_done": state.epochs_done}),
    )?;
    Ok(RunSummary {
        epochs_done: state.epochs_done,
        last: dir.file(&state.weights),
        best: state.best,
    })
}

fn finite_or_null(v: f64) -> serde_json::Value {
    if v.is_finite() { json!(v) } else { json!(null) }
}

fn summarize(keys: &[&str]) -> String {
    if keys.len() <= 3 {
        keys.join(", ")
    } else {
        format!("{}, ... ({} more)", keys[..3].join(", "), keys.len() - 3)
    }
}
