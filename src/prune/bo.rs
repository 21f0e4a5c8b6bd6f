//! B-FPGM's Bayesian optimisation of the six group rates, as upstream's `BayesianPruner` runs it
//! (`docs/upstream.md` §bo-space to §bo-result), on top of the generic search loop
//! ([`bayes::search_loop`](super::bayes::search_loop)).
//!
//! One trial (one call of upstream's `obj_fn`) is:
//! 1. a fresh copy of the **pre-trained** model (nothing accumulates between trials);
//! 2. the group-wise FPGM prune at the trial's rates (the inner pruner is FPGM whatever the base
//!    pruner, as upstream hard-codes it);
//! 3. `calc_sparsity` of that copy and the penalty against the target;
//! 4. when the sparsity is within the band, one epoch of training with a new optimiser (so the
//!    zeroed filters train too) on the 80 % split of the **training** list, then the validation
//!    loss on the other 20 %, both with the full training augmentation; out of band, nothing is
//!    trained and the loss counts as 0;
//! 5. the objective `−L_val − λ·P`.
//!
//! The 80/20 split is fixed by the seed ([`Dataset::random_split`]); upstream's came from an
//! unseeded CUDA generator, so any fixed split stands in for it. Each trial draws its shuffle and
//! augmentation from `(seed, trial number)`, so a trial re-run after an interruption is the same
//! trial. Trials run one per device in parallel ([`bayes::search_loop::run`]).
//!
//! **Fused trials** ([`BoConfig::fuse`] = K): the trials that train (those in band; the others
//! are settled by [`Objective::screen`] first) go to a device K at a time, their pruned copies
//! fused into one network (`model::fused`) that trains one epoch and validates as one. The
//! trials of a group see the same batches: the shuffle and augmentation of the group's first
//! trial number (common random numbers). Each keeps its own weights, pruning, loss terms, hard
//! negatives and optimiser moments, so its result is what it would be alone on those batches.
//!
//! The search folder holds the search state, `optimization_results.csv` and `optimization.png`,
//! and when the budget is spent, [`OPTIMAL_RATES`]: the winner as [`OptimalRates`], which SFP and
//! fine-tuning read (upstream's `optimal_pruning_rates.pkl` and `pruning_groups.yaml`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail, ensure};
use serde::{Deserialize, Serialize};
use tch::Device;

use super::bayes::objective::PenaltyWeights;
use super::bayes::optimizer::SearchSettings;
use super::bayes::search_loop::{self, Objective, Outcome, SearchState, Shard, Stop};
use super::pruner::{PrunePlan, prune};
use super::sparsity::calc_sparsity;
use crate::model::{Detector, priors};
use crate::train::augment::AugmentConfig;
use crate::train::data::{Dataset, Loader, LoaderConfig, Mode, Split, WiderDir, shuffled};
use crate::train::optim::{OptimConfig, OptimizerKind};
use crate::train::{DeviceOptions, Trainer};
use bfpgm_core::fsutil::write_atomic;
use bfpgm_core::groups::{GROUPS, Grouping, groups};
use bfpgm_core::hash::sha256_file;
use bfpgm_core::progress::{Hidden, Progress, Unit};
use bfpgm_core::record::Criterion;
use bfpgm_core::zoo::Arch;

/// The winner's file in the search folder.
pub const OPTIMAL_RATES: &str = "optimal_rates.json";

/// The validation split's augmentation draws use epoch numbers offset by this, so they never
/// coincide with the training split's draws of the same trial.
const VAL_STREAM_OFFSET: u64 = 1 << 40;

/// The short training inside one trial.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InnerTraining {
    /// EResFD: Adam lr 1e-3, weight decay 1e-5; EXTD: SGD lr 1e-3, momentum 0.9, wd 5e-4.
    pub optimizer: OptimConfig,
    /// EResFD 16, EXTD 4.
    pub batch_size: usize,
    /// Batch of the validation split.
    pub val_batch_size: usize,
    /// The training augmentation, used for both splits.
    pub augment: AugmentConfig,
}

impl InnerTraining {
    /// Upstream's inner training for `arch` (`docs/upstream.md` §bo-objective).
    pub fn upstream(arch: Arch) -> InnerTraining {
        let anchors = match arch {
            Arch::Eresfd => &priors::ERESFD,
            Arch::Extd => &priors::EXTD,
        };
        let augment = AugmentConfig::upstream(640, &anchors.sizes);
        match arch {
            Arch::Eresfd => InnerTraining {
                optimizer: OptimConfig {
                    kind: OptimizerKind::Adam {
                        beta1: 0.9,
                        beta2: 0.999,
                        eps: 1e-8,
                    },
                    lr: 1e-3,
                    weight_decay: 1e-5,
                },
                batch_size: 16,
                val_batch_size: 16,
                augment,
            },
            Arch::Extd => InnerTraining {
                optimizer: OptimConfig::EXTD_PRETRAIN,
                batch_size: 4,
                val_batch_size: 4,
                augment,
            },
        }
    }
}

/// Everything that decides a search's results. Saved in the search state, so `--resume`
/// continues only the search it was started as.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BoConfig {
    /// The detector.
    pub arch: Arch,
    /// The layer grouping the six rates refer to.
    pub grouping: Grouping,
    /// The pre-trained weights every trial starts from.
    pub pretrained: PathBuf,
    /// Target whole-model sparsity T, as a fraction (upstream default 0.2).
    pub target: f64,
    /// Uniform random points after the probe (upstream 60).
    pub n_init: usize,
    /// GP-guided points (upstream 940).
    pub n_iter: usize,
    /// The probe sits at `T + probe_offset` (upstream 0.04).
    pub probe_offset: f64,
    /// The penalty's weights (λ = 5 for EResFD).
    pub penalty: PenaltyWeights,
    /// Seeds the optimiser's streams (numpy's `RandomState`), the split and every augmentation.
    pub seed: u32,
    /// WIDER root whose training list is split 80/20.
    pub wider: PathBuf,
    /// Use only the first `n` training images before splitting (quick runs).
    pub max_images: Option<usize>,
    /// Fraction of the training list the trials train on (upstream 0.8).
    pub train_fraction: f64,
    /// The one-epoch training of a trial.
    pub inner: InnerTraining,
    /// Trials trained together as one fused network, on the same batches (1: one at a time,
    /// each on its own batches, as upstream).
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub fuse: usize,
}

/// The default of [`BoConfig::fuse`] (a search saved before fusion existed has none).
fn one() -> usize {
    1
}

/// Leaves [`BoConfig::fuse`] out of an unfused search's state, which then stays readable by, and
/// identical to, one saved before fusion existed.
fn is_one(n: &usize) -> bool {
    *n == 1
}

impl BoConfig {
    /// Upstream's search for `arch` from `pretrained`, on the training list under `wider`.
    pub fn upstream(arch: Arch, pretrained: PathBuf, wider: PathBuf) -> BoConfig {
        BoConfig {
            arch,
            grouping: Grouping::Checkpoint,
            pretrained,
            target: 0.2,
            n_init: 60,
            n_iter: 940,
            probe_offset: 0.04,
            penalty: PenaltyWeights::upstream(arch),
            seed: 0,
            wider,
            max_images: None,
            train_fraction: 0.8,
            inner: InnerTraining::upstream(arch),
            fuse: 1,
        }
    }

    /// The optimiser's settings.
    pub fn settings(&self) -> SearchSettings {
        SearchSettings {
            target: self.target,
            dims: GROUPS,
            n_init: self.n_init,
            n_iter: self.n_iter,
            probe_offset: self.probe_offset,
            seed: self.seed,
        }
    }

    /// Refuses settings no search can use.
    pub fn validate(&self) -> Result<()> {
        ensure!(
            (0.0..1.0).contains(&self.target) && self.target > 0.0,
            "the target sparsity must lie in (0, 1), got {}",
            self.target
        );
        ensure!(
            self.target + self.probe_offset < 1.0 && self.probe_offset >= 0.0,
            "the probe point T + offset = {} must be a rate in [0, 1)",
            self.target + self.probe_offset
        );
        ensure!(
            self.train_fraction > 0.0 && self.train_fraction < 1.0,
            "the training fraction must lie in (0, 1), got {}",
            self.train_fraction
        );
        ensure!(
            self.inner.batch_size > 0 && self.inner.val_batch_size > 0,
            "batch sizes must be at least 1"
        );
        ensure!(self.fuse >= 1, "at least one trial per network (--fuse)");
        ensure!(
            self.inner.augment.size >= 32,
            "input size {} is too small: the detectors need at least 32 pixels per side",
            self.inner.augment.size
        );
        Ok(())
    }

    /// What the search state records to recognise this search: the config plus the pre-trained
    /// file's sha256, so a different file at the same path is not resumed as the same search.
    fn spec(&self, progress: &dyn Progress) -> Result<serde_json::Value> {
        let sha = sha256_file(&self.pretrained, "pre-trained weights", progress)?;
        let mut spec = serde_json::to_value(self).expect("the config serialises");
        spec["pretrained_sha256"] = sha.into();
        Ok(spec)
    }
}

/// The winning rates of a finished search (`optimal_rates.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptimalRates {
    /// The detector.
    pub arch: Arch,
    /// The grouping the rates refer to.
    pub grouping: Grouping,
    /// The module paths of G1..G6 (upstream's `pruning_groups.yaml`), for readers.
    pub groups: Vec<Vec<String>>,
    /// One rate per group (upstream's `optimal_pruning_rates.pkl`).
    pub rates: [f64; GROUPS],
    /// The target sparsity of the search, as a fraction.
    pub target: f64,
    /// The trial that found them.
    pub best_trial: BestTrial,
    /// Trials in the search.
    pub trials: usize,
}

/// The winning trial's numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BestTrial {
    /// Its 0-based number.
    pub iter: usize,
    /// Its objective.
    pub objective: f64,
    /// Its validation loss (`None`: out of band, not trained).
    pub val_loss: Option<f64>,
    /// Its penalty.
    pub penalty: f64,
    /// The sparsity of its pruned copy, as a fraction.
    pub sparsity: f64,
}

impl OptimalRates {
    /// Reads `optimal_rates.json` and checks that its groups are this build's.
    pub fn read(path: &Path) -> Result<OptimalRates> {
        let text = std::fs::read_to_string(path).with_context(|| {
            format!(
                "cannot read the pruning rates {}; run `reproduce bo` first (it writes {} \
                 when its search is complete)",
                path.display(),
                OPTIMAL_RATES
            )
        })?;
        let rates: OptimalRates = serde_json::from_str(&text)
            .with_context(|| format!("{} is not an optimal_rates.json", path.display()))?;
        let expected = group_lists(rates.arch, rates.grouping);
        if rates.groups != expected {
            bail!(
                "{}: its groups are not this build's {} {} grouping",
                path.display(),
                rates.arch,
                rates.grouping
            );
        }
        for (g, r) in rates.rates.iter().enumerate() {
            ensure!(
                (0.0..1.0).contains(r),
                "{}: the rate of G{} is {r}, outside [0, 1)",
                path.display(),
                g + 1
            );
        }
        Ok(rates)
    }

    /// The prune these rates call for, ranked by `criterion` (SFP's and fine-tuning's base
    /// pruner).
    pub fn plan(&self, criterion: Criterion) -> PrunePlan {
        PrunePlan {
            grouping: self.grouping,
            rates: self.rates,
            criterion,
        }
    }
}

/// The module paths of each group, as plain strings.
fn group_lists(arch: Arch, grouping: Grouping) -> Vec<Vec<String>> {
    groups(arch, grouping)
        .iter()
        .map(|g| g.iter().map(|p| p.to_string()).collect())
        .collect()
}

/// How a search executes; none of it changes a trial's results on the CPU.
#[derive(Debug, Clone, PartialEq)]
pub struct BoOptions {
    /// One worker per device; each runs one trial at a time.
    pub devices: Vec<Device>,
    /// Image-loading threads per worker.
    pub loader_workers: usize,
    /// Images whose header declares more pixels are refused before decoding.
    pub max_pixels: u64,
    /// Stop after this many trials in this call (`--resume` continues).
    pub max_trials: Option<usize>,
    /// Evaluate only this share of the initial design, for merging into one search later.
    pub shard: Option<Shard>,
    /// Searches (shards) whose finished initial-design trials are taken over before running.
    pub merge: Vec<PathBuf>,
}

/// How a call of [`run_bo`] ended.
#[derive(Debug, Clone, PartialEq)]
pub enum BoOutcome {
    /// The budget is spent; the winner is in the folder's [`OPTIMAL_RATES`].
    Done(OptimalRates),
    /// Stopped by `max_trials` after this many finished trials in all.
    Stopped(usize),
    /// The shard's share of the initial design is done, out of this many finished trials.
    ShardDone(usize),
}

/// Runs (or with `resume`, continues) the search `cfg` in `dir`.
pub fn run_bo(
    cfg: &BoConfig,
    dir: &Path,
    resume: bool,
    opts: &BoOptions,
    progress: &dyn Progress,
) -> Result<BoOutcome> {
    cfg.validate()?;
    ensure!(
        !opts.devices.is_empty(),
        "a search needs at least one device"
    );
    let spec = cfg.spec(&Hidden)?;
    let mut state = if resume {
        let state = SearchState::resume(dir, &spec)?;
        progress.note(&format!(
            "resuming the search in {} after {} of {} trials",
            dir.display(),
            state.finished().count(),
            cfg.settings().total()
        ));
        state
    } else {
        if SearchState::exists(dir) {
            bail!(
                "{} already holds a search; continue it with --resume or choose another --out",
                dir.display()
            );
        }
        SearchState::new(spec.clone(), cfg.settings())?
    };
    for other in &opts.merge {
        let shard = SearchState::resume(other, &spec)
            .with_context(|| format!("cannot merge the search in {}", other.display()))?;
        let taken = state
            .merge(&shard)
            .with_context(|| format!("cannot merge the search in {}", other.display()))?;
        progress.note(&format!(
            "merged {taken} finished trials from {}",
            other.display()
        ));
    }
    let all = Dataset::load(&WiderDir::at(&cfg.wider), Split::Train)?;
    let all = match cfg.max_images {
        Some(n) if n < all.len() => all.subset(&(0..n).collect::<Vec<_>>()),
        _ => all,
    };
    let (train, val) = all.random_split(cfg.train_fraction, cfg.seed as u64);
    ensure!(
        !train.is_empty() && !val.is_empty(),
        "{} training images cannot be split {}/{}: use more images",
        all.len(),
        cfg.train_fraction,
        1.0 - cfg.train_fraction
    );
    if !resume {
        progress.note(&format!(
            "search: target {:.1} %, {} trials (probe + {} random + {} guided), {} training / {} \
             validation images, {} worker(s), up to {} trial(s) per network",
            100.0 * cfg.target,
            cfg.settings().total(),
            cfg.n_init,
            cfg.n_iter,
            train.len(),
            val.len(),
            opts.devices.len(),
            cfg.fuse
        ));
    }
    let trials = Trials {
        cfg,
        devices: &opts.devices,
        loader_workers: opts.loader_workers.max(1),
        max_pixels: opts.max_pixels,
        train: Arc::new(train),
        val: Arc::new(val),
        progress,
    };
    match search_loop::run(
        dir,
        &mut state,
        &trials,
        opts.devices.len(),
        opts.max_trials,
        opts.shard,
        progress,
    )? {
        Stop::Limit => Ok(BoOutcome::Stopped(state.finished().count())),
        Stop::Shard => Ok(BoOutcome::ShardDone(state.finished().count())),
        Stop::Done => {
            let (trial, outcome) = state.best().expect("a finished search has trials");
            let best = OptimalRates {
                arch: cfg.arch,
                grouping: cfg.grouping,
                groups: group_lists(cfg.arch, cfg.grouping),
                rates: trial.x.clone().try_into().expect("six rates"),
                target: cfg.target,
                best_trial: BestTrial {
                    iter: trial.iter,
                    objective: outcome.objective,
                    val_loss: outcome.val_loss,
                    penalty: outcome.penalty,
                    sparsity: outcome.sparsity,
                },
                trials: state.trials().len(),
            };
            let json = serde_json::to_string_pretty(&best).expect("serialises");
            write_atomic(&dir.join(OPTIMAL_RATES), format!("{json}\n").as_bytes())?;
            Ok(BoOutcome::Done(best))
        }
    }
}

/// The objective of a search: one group of trials per call (module docs).
struct Trials<'a> {
    cfg: &'a BoConfig,
    devices: &'a [Device],
    loader_workers: usize,
    max_pixels: u64,
    train: Arc<Dataset>,
    val: Arc<Dataset>,
    progress: &'a dyn Progress,
}

/// A trial's pruned copy of the pre-trained model and its whole-model sparsity.
struct Pruned {
    detector: Detector,
    sparsity: f64,
}

impl Objective for Trials<'_> {
    fn group_size(&self) -> usize {
        self.cfg.fuse
    }

    /// A point out of the sparsity band is not trained: its outcome is known once it is pruned.
    fn screen(&self, _iter: usize, x: &[f64]) -> Result<Option<Outcome>> {
        let started = Instant::now();
        let pruned = self.prune(x)?;
        Ok(self
            .cfg
            .penalty
            .skips_training(self.cfg.target, pruned.sparsity)
            .then(|| self.outcome(None, pruned.sparsity, started, Device::Cpu)))
    }

    fn evaluate(&self, worker: usize, group: &[(usize, Vec<f64>)]) -> Result<Vec<Outcome>> {
        let started = Instant::now();
        let cfg = self.cfg;
        let device = self.devices[worker];
        let mut pruned = Vec::with_capacity(group.len());
        for (_, x) in group {
            pruned.push(self.prune(x)?);
        }
        let sparsity: Vec<f64> = pruned.iter().map(|p| p.sparsity).collect();
        let trained: Vec<Detector> = pruned
            .into_iter()
            .filter(|p| !cfg.penalty.skips_training(cfg.target, p.sparsity))
            .map(|p| p.detector)
            .collect();
        let mut losses = if trained.is_empty() {
            Vec::new()
        } else {
            self.train_and_validate(&trained, device, group)?
        }
        .into_iter();
        let share = group.len() as f64;
        Ok(sparsity
            .into_iter()
            .map(|s| {
                let val_loss = (!cfg.penalty.skips_training(cfg.target, s))
                    .then(|| losses.next().expect("one loss per trained trial"));
                let mut o = self.outcome(val_loss, s, started, device);
                o.seconds /= share;
                o
            })
            .collect())
    }
}

impl Trials<'_> {
    /// A fresh copy of the pre-trained model, FPGM-pruned at the rates `x`.
    fn prune(&self, x: &[f64]) -> Result<Pruned> {
        let cfg = self.cfg;
        let mut detector = Detector::load(cfg.arch, &cfg.pretrained, Device::Cpu)?;
        let plan = PrunePlan {
            grouping: cfg.grouping,
            rates: x
                .try_into()
                .map_err(|_| anyhow::anyhow!("a point has {} rates, not {GROUPS}", x.len()))?,
            criterion: Criterion::Fpgm,
        };
        prune(&mut detector, &plan)?;
        let sparsity = calc_sparsity(&detector).percent() / 100.0;
        Ok(Pruned { detector, sparsity })
    }

    /// The outcome of a trial with validation loss `val_loss` (`None`: not trained) whose work
    /// began at `started`.
    fn outcome(
        &self,
        val_loss: Option<f64>,
        sparsity: f64,
        started: Instant,
        device: Device,
    ) -> Outcome {
        let cfg = self.cfg;
        Outcome {
            objective: cfg.penalty.objective(val_loss, cfg.target, sparsity),
            val_loss,
            penalty: cfg.penalty.penalty(cfg.target, sparsity),
            sparsity,
            seconds: started.elapsed().as_secs_f64(),
            device: device_name(device),
        }
    }

    /// One epoch on the training split with a new optimiser, then the validation loss on the
    /// other split (both augmented), as upstream's `obj_fn` does, for the pruned copies
    /// `detectors` of `group`'s trials at once, fused into one network; one loss per copy. The
    /// batches are those of the group's first trial.
    fn train_and_validate(
        &self,
        detectors: &[Detector],
        device: Device,
        group: &[(usize, Vec<f64>)],
    ) -> Result<Vec<f64>> {
        let cfg = self.cfg;
        let seed = cfg.seed as u64;
        let stream = group[0].0 as u64;
        let fused = Detector::fuse(detectors)?;
        let mut trainer = Trainer::new(fused, cfg.inner.optimizer, DeviceOptions::on(device));
        let loader_cfg = |batch_size| LoaderConfig {
            batch_size,
            workers: self.loader_workers,
            prefetch: 2 * self.loader_workers,
            pin: None,
            nice: LoaderConfig::nice_for(device),
            max_pixels: self.max_pixels,
        };
        let mode = Mode::Train(cfg.inner.augment.clone());
        let loader = Loader::start(
            self.train.clone(),
            shuffled(self.train.len(), seed, stream),
            mode.clone(),
            seed,
            stream,
            loader_cfg(cfg.inner.batch_size),
        );
        let lr = cfg.inner.optimizer.lr;
        let label = match group {
            [(iter, _)] => format!("trial {}", iter + 1),
            _ => format!(
                "trials {}-{} ({} fused)",
                group[0].0 + 1,
                group[group.len() - 1].0 + 1,
                detectors.len()
            ),
        };
        let mut task = self.progress.task(
            &label,
            Unit::Items,
            Some((self.train.len() + self.val.len()) as u64),
        );
        trainer
            .train_epoch_trials(loader, &|_| lr, true, 50, &mut |s| {
                task.add(s.images as u64);
                Ok(())
            })
            .context("training the pruned copy")?;
        let loader = Loader::start(
            self.val.clone(),
            (0..self.val.len()).collect(),
            mode,
            seed,
            VAL_STREAM_OFFSET + stream,
            loader_cfg(cfg.inner.val_batch_size),
        );
        let val = trainer.validate_trials(loader, &mut |n| task.add(n as u64))?;
        task.finish("");
        Ok(val.iter().map(|v| v.total()).collect())
    }
}

/// `cpu`, `cuda:0`, ...: how devices are written in logs and on the command line.
pub fn device_name(device: Device) -> String {
    match device {
        Device::Cpu => "cpu".to_string(),
        Device::Cuda(i) => format!("cuda:{i}"),
        other => format!("{other:?}").to_lowercase(),
    }
}

/// Parses `cpu`, `cuda` (= `cuda:0`) or `cuda:N`.
pub fn parse_device(s: &str) -> Result<Device> {
    match s {
        "cpu" => Ok(Device::Cpu),
        "cuda" => Ok(Device::Cuda(0)),
        _ => match s.strip_prefix("cuda:").map(str::parse::<usize>) {
            Some(Ok(i)) => Ok(Device::Cuda(i)),
            _ => bail!("unknown device '{s}'; use cpu, cuda or cuda:N"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_defaults_are_the_reference_table() {
        let c = BoConfig::upstream(Arch::Eresfd, "p.pth".into(), "WIDER".into());
        let s = c.settings();
        assert_eq!((s.n_init, s.n_iter, s.seed, s.dims), (60, 940, 0, 6));
        assert_eq!((c.target, c.probe_offset), (0.2, 0.04));
        assert_eq!(s.total(), 1001);
        assert!((s.upper_bound() - 0.4).abs() < 1e-12);
        assert_eq!(c.penalty.lambda, 5.0);
        assert_eq!(c.inner.batch_size, 16);
        assert_eq!(c.inner.optimizer.weight_decay, 1e-5);
        let e = BoConfig::upstream(Arch::Extd, "p.pth".into(), "WIDER".into());
        assert_eq!(e.inner.batch_size, 4);
        assert!(matches!(
            e.inner.optimizer.kind,
            OptimizerKind::Sgd { momentum, .. } if momentum == 0.9
        ));
        assert_eq!(e.penalty.lambda, 1.0);
    }

    #[test]
    fn the_penalty_decides_which_trials_train() {
        // docs/upstream.md §sparsity and §bo-objective at T = 0.3: the probe's 0.297 trains and
        // costs 5 · 0.003; 0.35 and 0.25 are out of band (−500, not trained); 0.31 is free.
        let c = BoConfig::upstream(Arch::Eresfd, "p.pth".into(), "WIDER".into());
        let p = &c.penalty;
        assert!(!p.skips_training(0.3, 0.297));
        assert!((p.objective(Some(2.0), 0.3, 0.297) + 2.0 + 5.0 * 0.003).abs() < 1e-9);
        assert_eq!(p.objective(Some(2.0), 0.3, 0.31), -2.0);
        assert!(p.skips_training(0.3, 0.35) && p.skips_training(0.3, 0.25));
        assert_eq!(p.objective(None, 0.3, 0.25), -500.0);
    }

    #[test]
    fn devices_parse_and_print_alike() {
        for s in ["cpu", "cuda:0", "cuda:3"] {
            assert_eq!(device_name(parse_device(s).unwrap()), s);
        }
        assert_eq!(parse_device("cuda").unwrap(), Device::Cuda(0));
        assert!(parse_device("gpu").is_err());
        assert!(parse_device("cuda:x").is_err());
    }

    #[test]
    fn rates_files_are_checked_against_this_builds_groups() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(OPTIMAL_RATES);
        let mut rates = OptimalRates {
            arch: Arch::Eresfd,
            grouping: Grouping::Checkpoint,
            groups: group_lists(Arch::Eresfd, Grouping::Checkpoint),
            rates: [0.1, 0.2, 0.3, 0.3, 0.2, 0.1],
            target: 0.2,
            best_trial: BestTrial {
                iter: 0,
                objective: -3.0,
                val_loss: Some(3.0),
                penalty: 0.0,
                sparsity: 0.21,
            },
            trials: 1,
        };
        std::fs::write(&path, serde_json::to_string(&rates).unwrap()).unwrap();
        let read = OptimalRates::read(&path).unwrap();
        assert_eq!(read, rates);
        assert_eq!(read.plan(Criterion::L1).criterion, Criterion::L1);
        rates.groups = group_lists(Arch::Eresfd, Grouping::UpstreamCode);
        std::fs::write(&path, serde_json::to_string(&rates).unwrap()).unwrap();
        let err = OptimalRates::read(&path).unwrap_err().to_string();
        assert!(
            err.contains("not this build's eresfd checkpoint-consistent"),
            "{err}"
        );
        let err = OptimalRates::read(&dir.path().join("none.json"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("run `reproduce bo` first"), "{err}");
    }
}
