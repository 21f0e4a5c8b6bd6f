//! Soft filter pruning as upstream schedules it (`docs/upstream.md` §sfp): train, prune
//! with the BO's group rates every few epochs, and let the zeroed filters regrow in between,
//! because no mask is kept.
//!
//! * **EResFD** (`main_sfp.py`): 200 epochs; the prune runs **after** the training of every epoch
//!   with `epoch % 5 == 0` and after the last one (41 prunes), so each checkpoint holds the weights
//!   as pruned at that epoch. Upstream rebuilds the model and **a new Adam** (lr 1e-3) at the start
//!   of every epoch, which resets the moments and throws away the step schedule (×0.1 at epochs
//!   100 and 150) it had just applied: the learning rate is effectively constant. That is the
//!   default here; [`TrainConfig::fresh_optimizer_each_epoch`] off keeps one optimiser and the
//!   nominal schedule instead.
//! * **EXTD** (`main_prune.py`): 50 rounds of 5 epochs; each round **starts** with a prune and a
//!   new SGD (lr 1e-4, momentum 0.9), reads the images in file order, and trains BatchNorm only in
//!   its first epoch (upstream's `val()` leaves the network in eval mode); one final prune follows
//!   the last epoch. Upstream skips batches whose loss is not finite; here a non-finite loss stops
//!   the run with the last good checkpoint, as every training stage does.
//!
//! Every prune recomputes FPGM (or L1) from the current weights and zeroes the chosen filters in
//! place. The run is an ordinary training run ([`crate::train::run`]) with a hook, so it keeps a
//! checkpoint per epoch and resumes; the rates and the schedule are saved beside it in
//! [`SFP_SETTINGS`].

use std::path::Path;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use super::pruner::{PrunePlan, prune};
use super::sparsity::calc_sparsity;
use crate::train::optim::{LrSchedule, OptimConfig, OptimizerKind};
use crate::train::state::RunDir;
use crate::train::{DataConfig, EpochHook, Init, RunOptions, RunSummary, TrainConfig, Trainer};
use bfpgm_core::progress::Progress;
use bfpgm_core::zoo::Arch;

/// The file beside the run that records what SFP prunes and when.
pub const SFP_SETTINGS: &str = "sfp.json";

/// When SFP prunes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum SfpSchedule {
    /// EResFD: after the training of every epoch with `epoch % every == 0`, and after the last.
    PruneAfter {
        /// Epochs between prunes (upstream 5).
        every: u32,
    },
    /// EXTD: rounds of `epochs` epochs, each starting with a prune, a new optimiser and
    /// BatchNorm training in its first epoch only; a final prune after the last epoch.
    Rounds {
        /// Epochs per round (upstream 5).
        epochs: u32,
    },
}

impl SfpSchedule {
    /// Upstream's schedule for `arch`.
    pub fn upstream(arch: Arch) -> SfpSchedule {
        match arch {
            Arch::Eresfd => SfpSchedule::PruneAfter { every: 5 },
            Arch::Extd => SfpSchedule::Rounds { epochs: 5 },
        }
    }

    fn period(self) -> u32 {
        match self {
            SfpSchedule::PruneAfter { every } => every,
            SfpSchedule::Rounds { epochs } => epochs,
        }
        .max(1)
    }

    /// Whether a prune precedes the training of `epoch` (the start of an EXTD round).
    pub fn prunes_before(self, epoch: u32) -> bool {
        matches!(self, SfpSchedule::Rounds { .. }) && epoch.is_multiple_of(self.period())
    }

    /// Whether a prune follows the training of `epoch` in a run of `epochs` epochs.
    pub fn prunes_after(self, epoch: u32, epochs: u32) -> bool {
        let last = epoch + 1 == epochs;
        match self {
            SfpSchedule::PruneAfter { .. } => epoch.is_multiple_of(self.period()) || last,
            SfpSchedule::Rounds { .. } => last,
        }
    }

    /// Whether `epoch` starts with a new optimiser (a new EXTD round; EResFD's per-epoch rebuild
    /// is [`TrainConfig::fresh_optimizer_each_epoch`]).
    pub fn new_optimizer_before(self, epoch: u32) -> bool {
        self.prunes_before(epoch) && epoch > 0
    }

    /// Whether BatchNorm trains in `epoch`, where the schedule decides (EXTD rounds).
    pub fn bn_train(self, epoch: u32) -> Option<bool> {
        match self {
            SfpSchedule::PruneAfter { .. } => None,
            SfpSchedule::Rounds { .. } => Some(epoch.is_multiple_of(self.period())),
        }
    }

    /// Prune events in a run of `epochs` epochs.
    pub fn prune_count(self, epochs: u32) -> usize {
        (0..epochs)
            .map(|e| usize::from(self.prunes_before(e)) + usize::from(self.prunes_after(e, epochs)))
            .sum()
    }
}

/// What SFP prunes and when; saved as [`SFP_SETTINGS`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SfpSettings {
    /// The BO's rates, grouping and the base pruner.
    pub plan: PrunePlan,
    /// When to prune.
    pub schedule: SfpSchedule,
}

/// A whole SFP stage: the prune settings and the training run around them.
#[derive(Debug, Clone, PartialEq)]
pub struct SfpConfig {
    /// What to prune and when.
    pub sfp: SfpSettings,
    /// The training (its `init` is the pre-trained model).
    pub train: TrainConfig,
}

impl SfpConfig {
    /// Upstream's SFP of `arch` from the pre-trained weights at `pretrained`.
    pub fn upstream(arch: Arch, plan: PrunePlan, pretrained: &Path, data: DataConfig) -> SfpConfig {
        let mut train = TrainConfig::upstream(arch, data);
        train.init = Init::Checkpoint(pretrained.to_path_buf());
        match arch {
            Arch::Eresfd => {
                train.epochs = 200;
                train.batch_size = 16;
                train.val_batch_size = 16;
                train.optimizer = OptimConfig::ERESFD_PRETRAIN;
                train.schedule = LrSchedule::Epochs {
                    milestones: vec![100, 150],
                    gamma: 0.1,
                };
                train.fresh_optimizer_each_epoch = true;
                train.bn_train_first_epoch_only = false;
            }
            Arch::Extd => {
                train.epochs = 250;
                train.batch_size = 8;
                train.val_batch_size = 8;
                train.optimizer = OptimConfig {
                    kind: OptimizerKind::Sgd {
                        momentum: 0.9,
                        dampening: 0.0,
                        nesterov: false,
                    },
                    lr: 1e-4,
                    weight_decay: 5e-4,
                };
                // The iteration milestones restart each round and are never reached.
                train.schedule = LrSchedule::Epochs {
                    milestones: Vec::new(),
                    gamma: 0.1,
                };
                train.fresh_optimizer_each_epoch = false;
                // The rounds decide (SfpSchedule::bn_train).
                train.bn_train_first_epoch_only = false;
                train.shuffle = false;
            }
        }
        SfpConfig {
            sfp: SfpSettings {
                plan,
                schedule: SfpSchedule::upstream(arch),
            },
            train,
        }
    }
}

/// Runs (or with `resume`, continues) SFP in `dir`. The last epoch's weights, freshly pruned,
/// are the stage's result ([`RunSummary::last`]).
pub fn run_sfp(
    cfg: &SfpConfig,
    dir: &RunDir,
    resume: bool,
    opts: &RunOptions,
    progress: &dyn Progress,
) -> Result<RunSummary> {
    dir.claim_settings(
        SFP_SETTINGS,
        &cfg.sfp,
        resume,
        "was pruned with other rates or another schedule",
    )?;
    let mut hook = SfpHook {
        sfp: cfg.sfp,
        epochs: cfg.train.epochs,
        progress,
    };
    crate::train::run(&cfg.train, dir, resume, opts, &mut hook, progress)
}

/// Prunes on the schedule from inside the training loop.
struct SfpHook<'a> {
    sfp: SfpSettings,
    epochs: u32,
    progress: &'a dyn Progress,
}

impl SfpHook<'_> {
    fn prune(&self, trainer: &mut Trainer, when: &str) -> Result<()> {
        let zeroed = prune(trainer.detector_mut(), &self.sfp.plan)?;
        let filters: usize = zeroed.values().map(Vec::len).sum();
        let sparsity = calc_sparsity(trainer.detector());
        self.progress.note(&format!(
            "SFP prune {when}: {filters} filters zeroed, sparsity {:.2} %",
            sparsity.percent()
        ));
        Ok(())
    }
}

impl EpochHook for SfpHook<'_> {
    fn before_train(&mut self, epoch: u32, trainer: &mut Trainer) -> Result<()> {
        if self.sfp.schedule.new_optimizer_before(epoch) {
            trainer.reset_optimizer();
        }
        if self.sfp.schedule.prunes_before(epoch) {
            self.prune(trainer, &format!("before epoch {}", epoch + 1))?;
        }
        Ok(())
    }

    fn after_train(&mut self, epoch: u32, trainer: &mut Trainer) -> Result<()> {
        if self.sfp.schedule.prunes_after(epoch, self.epochs) {
            self.prune(trainer, &format!("after epoch {}", epoch + 1))?;
        }
        Ok(())
    }

    fn bn_train(&self, epoch: u32) -> Option<bool> {
        self.sfp.schedule.bn_train(epoch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bfpgm_core::groups::Grouping;
    use bfpgm_core::record::Criterion;

    #[test]
    fn eresfd_prunes_after_every_fifth_epoch_and_the_last() {
        let s = SfpSchedule::upstream(Arch::Eresfd);
        let after: Vec<u32> = (0..200).filter(|&e| s.prunes_after(e, 200)).collect();
        assert_eq!(after.len(), 41, "41 prunes (docs/upstream.md §sfp)");
        assert_eq!(&after[..3], [0, 5, 10]);
        assert_eq!(&after[38..], [190, 195, 199]);
        assert!((0..200).all(|e| !s.prunes_before(e) && !s.new_optimizer_before(e)));
        assert_eq!(s.bn_train(7), None);
        assert_eq!(s.prune_count(200), 41);
        // A short run still ends freshly pruned.
        assert!(s.prunes_after(2, 3) && s.prunes_after(0, 3) && !s.prunes_after(1, 3));
    }

    #[test]
    fn extd_rounds_start_with_a_prune_and_end_with_one() {
        let s = SfpSchedule::upstream(Arch::Extd);
        let before: Vec<u32> = (0..250).filter(|&e| s.prunes_before(e)).collect();
        assert_eq!(before.len(), 50);
        assert_eq!(&before[..3], [0, 5, 10]);
        let after: Vec<u32> = (0..250).filter(|&e| s.prunes_after(e, 250)).collect();
        assert_eq!(after, [249]);
        assert_eq!(s.prune_count(250), 51, "51 prunes (docs/upstream.md §sfp)");
        assert!(!s.new_optimizer_before(0) && s.new_optimizer_before(5));
        assert!(!s.new_optimizer_before(6));
        assert_eq!(s.bn_train(5), Some(true));
        assert_eq!(s.bn_train(6), Some(false));
    }

    #[test]
    fn upstream_configs_follow_the_reference() {
        let plan = PrunePlan {
            grouping: Grouping::Checkpoint,
            rates: [0.1; 6],
            criterion: Criterion::Fpgm,
        };
        let data = DataConfig {
            train: "W".into(),
            val: Some("W".into()),
            max_train_images: None,
            max_val_images: None,
        };
        let e = SfpConfig::upstream(Arch::Eresfd, plan, Path::new("p.pth"), data.clone());
        assert_eq!((e.train.epochs, e.train.batch_size), (200, 16));
        assert!(e.train.fresh_optimizer_each_epoch && e.train.shuffle);
        // The nominal decay at 100 and 150 is discarded by the per-epoch rebuild...
        assert_eq!(e.train.lr(150, 0), 1e-3);
        // ...and applies with a persistent optimiser.
        let mut persistent = e.train.clone();
        persistent.fresh_optimizer_each_epoch = false;
        assert!((persistent.lr(150, 0) - 1e-5).abs() < 1e-18);
        assert_eq!(e.train.optimizer.weight_decay, 5e-4);
        let x = SfpConfig::upstream(Arch::Extd, plan, Path::new("p.pth"), data);
        assert_eq!((x.train.epochs, x.train.batch_size), (250, 8));
        assert!(!x.train.shuffle && !x.train.fresh_optimizer_each_epoch);
        assert_eq!(x.train.lr(249, 400_000), 1e-4);
    }
}
