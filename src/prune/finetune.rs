//! Fine-tuning after SFP, with upstream's semantics (`docs/upstream.md` §finetune), and the
//! record written beside the final checkpoint.
//!
//! Upstream prunes once before the first epoch and then trains for 10 epochs (EResFD: Adam lr
//! 1e-3, ×0.1 from epoch 5, batch 8; EXTD: SGD lr 1e-3, momentum 0.9). What actually trains is
//! decided by an accident that the released checkpoints confirm: the optimiser is created before
//! the prune, and NNI replaces the weight of **every conv in the six groups** (rate 0 included)
//! with a new tensor, so the optimiser keeps updating orphaned copies and the model's convs never
//! change. Only BatchNorm (γ, β and the running statistics), the parameters outside the groups
//! (EResFD's loc/conf heads and the FPN fusion weights `w1`) and EXTD's PReLU slopes train; the
//! zeroed filters stay zero because nothing in their convs moves. [`Semantics::Upstream`]
//! reproduces this by freezing those convs.
//!
//! [`Semantics::FixedMasks`] (`--train-all`) is a different algorithm, offered because it is what
//! the script's description ("fine tune the model without changing pruned weights") suggests:
//! every parameter trains except the zeroed filters of the grouped convs, which are frozen at 0
//! element by element. Its results are not comparable to the released models'.
//!
//! The stage's result is `model.pth` (the last epoch's weights in upstream's state-dict format,
//! as upstream keeps `ERes-Stop-9.pth`) and [`RECORD`] beside it: the [`Record`] of the rates it
//! was pruned with and what the weights measure (group rate ranges, `calc_sparsity`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::{Deserialize, Serialize};

use super::pruner::{PrunePlan, prune};
use crate::model::Detector;
use crate::train::optim::{LrSchedule, OptimConfig};
use crate::train::state::RunDir;
use crate::train::{DataConfig, EpochHook, Init, RunOptions, TrainConfig, Trainer};
use bfpgm_core::checkpoint::StateDict;
use bfpgm_core::groups::{Grouping, group_of};
use bfpgm_core::progress::Progress;
use bfpgm_core::record::{MODEL, Made, Record, Semantics};
use bfpgm_core::zoo::Arch;

/// The file beside the run that records what fine-tuning prunes and trains.
pub const FINETUNE_SETTINGS: &str = "finetune.json";

/// What fine-tuning prunes and trains; saved as [`FINETUNE_SETTINGS`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FinetuneSettings {
    /// The one prune before the first epoch.
    pub plan: PrunePlan,
    /// Which parameters train.
    pub semantics: Semantics,
    /// The target sparsity the rates were searched for, recorded with the model.
    pub target: Option<f64>,
}

/// A whole fine-tuning stage.
#[derive(Debug, Clone, PartialEq)]
pub struct FinetuneConfig {
    /// What to prune and train.
    pub finetune: FinetuneSettings,
    /// The training (its `init` is the SFP result).
    pub train: TrainConfig,
}

impl FinetuneConfig {
    /// Upstream's fine-tuning of `arch` from the weights at `init` (`main_finetune.py`,
    /// EXTD's `main_stop.py`).
    pub fn upstream(
        arch: Arch,
        plan: PrunePlan,
        target: Option<f64>,
        init: &Path,
        data: DataConfig,
    ) -> FinetuneConfig {
        let mut train = TrainConfig::upstream(arch, data);
        train.init = Init::Checkpoint(init.to_path_buf());
        train.epochs = 10;
        train.batch_size = 8;
        train.val_batch_size = 8;
        train.bn_train_first_epoch_only = false;
        train.fresh_optimizer_each_epoch = false;
        match arch {
            Arch::Eresfd => {
                train.optimizer = OptimConfig::ERESFD_PRETRAIN;
                train.schedule = LrSchedule::Epochs {
                    milestones: vec![5],
                    gamma: 0.1,
                };
            }
            Arch::Extd => {
                train.optimizer = OptimConfig::EXTD_PRETRAIN;
                train.schedule = LrSchedule::Epochs {
                    milestones: vec![10],
                    gamma: 0.1,
                };
            }
        }
        FinetuneConfig {
            finetune: FinetuneSettings {
                plan,
                semantics: Semantics::Upstream,
                target,
            },
            train,
        }
    }
}

/// The conv module paths of `detector` that a group of `grouping` reaches.
fn grouped_convs(detector: &Detector, grouping: Grouping) -> BTreeSet<String> {
    detector
        .var_store()
        .variables()
        .iter()
        .filter(|(k, t)| k.ends_with(".weight") && t.dim() == 4)
        .map(|(k, _)| k.strip_suffix(".weight").expect("filtered").to_string())
        .filter(|m| group_of(detector.arch(), grouping, m).is_some())
        .collect()
}

/// Whether parameter `key` belongs to one of `convs` (its weight or its bias).
fn in_convs(convs: &BTreeSet<String>, key: &str) -> bool {
    key.rsplit_once('.')
        .is_some_and(|(module, _)| convs.contains(module))
}

/// Freezes what `semantics` keeps fixed in a trainer whose model is already pruned.
pub fn freeze(trainer: &mut Trainer, semantics: Semantics, grouping: Grouping) {
    let convs = grouped_convs(trainer.detector(), grouping);
    match semantics {
        Semantics::Upstream => trainer.set_frozen(&|key| in_convs(&convs, key)),
        Semantics::FixedMasks => {
            let params = trainer.params();
            let grouped = params.update_mask(&|key| !in_convs(&convs, key));
            let zeros = tch::no_grad(|| params.data.eq(0.0));
            let frozen = grouped.logical_and(&zeros);
            trainer.set_frozen_elements(&frozen);
        }
    }
}

/// The stage's result.
#[derive(Debug, Clone, PartialEq)]
pub struct FinetuneResult {
    /// `model.pth` in the run folder.
    pub checkpoint: PathBuf,
    /// What was written beside it.
    pub record: Record,
}

/// Runs (or with `resume`, continues) fine-tuning in `dir`, then writes `model.pth` and its
/// record.
pub fn run_finetune(
    cfg: &FinetuneConfig,
    dir: &RunDir,
    resume: bool,
    opts: &RunOptions,
    progress: &dyn Progress,
) -> Result<FinetuneResult> {
    dir.claim_settings(
        FINETUNE_SETTINGS,
        &cfg.finetune,
        resume,
        "was pruned or frozen differently",
    )?;
    let mut hook = FinetuneHook {
        settings: cfg.finetune,
        progress,
    };
    let summary = crate::train::run(&cfg.train, dir, resume, opts, &mut hook, progress)?;
    let checkpoint = dir.file(MODEL);
    let sd = StateDict::read(&summary.last)?;
    sd.write(&checkpoint)?;
    let made = Made {
        grouping: cfg.finetune.plan.grouping,
        rates: cfg.finetune.plan.rates,
        criterion: cfg.finetune.plan.criterion,
        semantics: cfg.finetune.semantics,
        target: cfg.finetune.target,
    };
    let record = Record::measure(&checkpoint, cfg.train.arch, &made)?;
    record.write_for(&checkpoint)?;
    Ok(FinetuneResult { checkpoint, record })
}

/// Prunes before the first epoch and freezes before every epoch (again after a resume).
struct FinetuneHook<'a> {
    settings: FinetuneSettings,
    progress: &'a dyn Progress,
}

impl EpochHook for FinetuneHook<'_> {
    fn before_train(&mut self, epoch: u32, trainer: &mut Trainer) -> Result<()> {
        if epoch == 0 {
            let zeroed = prune(trainer.detector_mut(), &self.settings.plan)?;
            let filters: usize = zeroed.values().map(Vec::len).sum();
            self.progress.note(&format!(
                "pruned once before fine-tuning: {filters} filters zeroed, sparsity {:.2} %",
                super::sparsity::calc_sparsity(trainer.detector()).percent()
            ));
        }
        freeze(
            trainer,
            self.settings.semantics,
            self.settings.plan.grouping,
        );
        Ok(())
    }

    fn after_train(&mut self, _: u32, _: &mut Trainer) -> Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::optim::OptimizerKind;
    use crate::train::{DeviceOptions, data::Batch};
    use bfpgm_core::checkpoint::Array;
    use bfpgm_core::record::Criterion;
    use tch::{Device, Kind, Tensor};

    fn plan() -> PrunePlan {
        PrunePlan {
            grouping: Grouping::Checkpoint,
            rates: [0.25, 0.25, 0.25, 0.25, 0.25, 0.25],
            criterion: Criterion::Fpgm,
        }
    }

    /// A trainer on a freshly initialised, pruned EResFD with a batch of two synthetic images.
    fn pruned_trainer(semantics: Semantics) -> (Trainer, Batch) {
        tch::manual_seed(0);
        let mut det = Detector::new(Arch::Eresfd, Device::Cpu);
        prune(&mut det, &plan()).unwrap();
        let optim = OptimConfig {
            kind: OptimizerKind::Adam {
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8,
            },
            lr: 1e-2,
            weight_decay: 5e-4,
        };
        let mut trainer = Trainer::new(det, optim, DeviceOptions::on(Device::Cpu));
        freeze(&mut trainer, semantics, Grouping::Checkpoint);
        let images = Tensor::randint(255, [2, 64, 64, 3], (Kind::Uint8, Device::Cpu));
        let boxes = vec![vec![[0.2f32, 0.2, 0.6, 0.7]], vec![[0.1f32, 0.5, 0.3, 0.9]]];
        let batch = Batch {
            index: 0,
            images,
            targets: crate::train::matching::Targets::host(&boxes, None),
            boxes,
            items: vec![0, 1],
        };
        (trainer, batch)
    }

    fn snapshot(trainer: &Trainer) -> StateDict {
        trainer.detector().state_dict()
    }

    #[test]
    fn upstream_semantics_train_only_batchnorm_heads_and_fusion_weights() {
        let (mut trainer, batch) = pruned_trainer(Semantics::Upstream);
        let before = snapshot(&trainer);
        for _ in 0..3 {
            trainer.train_step(&batch, 1e-2, true);
        }
        let after = snapshot(&trainer);
        let convs = grouped_convs(trainer.detector(), Grouping::Checkpoint);
        assert_eq!(
            convs.len(),
            75,
            "75 prunable convs in base (docs/upstream.md §groups)"
        );
        let mut moved = BTreeSet::new();
        for (key, t) in after.iter() {
            let old = before.get(key).unwrap();
            let changed = !t.bit_equal(old);
            if in_convs(&convs, key) {
                assert!(!changed, "{key} is a grouped conv and must stay frozen");
            } else if changed {
                moved.insert(key.split('.').next().unwrap().to_string());
            }
            if changed && key.ends_with("running_mean") {
                moved.insert("running stats".to_string());
            }
        }
        // The heads, BatchNorm (γ/β and statistics) of the base, and the FPN fusion weights.
        assert!(moved.contains("loc") && moved.contains("conf"), "{moved:?}");
        assert!(moved.contains("running stats"), "{moved:?}");
        assert!(
            after
                .iter()
                .any(|(k, t)| k.ends_with("w1") && !t.bit_equal(before.get(k).unwrap())),
            "the FPN fusion weights train"
        );
    }

    #[test]
    fn fixed_masks_keep_the_zeros_and_train_the_rest() {
        let (mut trainer, batch) = pruned_trainer(Semantics::FixedMasks);
        let before = snapshot(&trainer);
        for _ in 0..3 {
            trainer.train_step(&batch, 1e-2, true);
        }
        let after = snapshot(&trainer);
        let w = "base.m0.layer3.0.res_layer.0.weight";
        let (old, new) = (before.get(w).unwrap(), after.get(w).unwrap());
        let zero_rows = |t: &Array| -> Vec<usize> {
            let per_filter = t.numel() / t.shape()[0] as usize;
            let values = t.as_f32().unwrap();
            (0..t.shape()[0] as usize)
                .filter(|&f| {
                    values[f * per_filter..(f + 1) * per_filter]
                        .iter()
                        .all(|&x| x == 0.0)
                })
                .collect()
        };
        assert_eq!(zero_rows(old).len(), 4, "⌊0.25 · 16⌋ filters zeroed");
        assert_eq!(
            zero_rows(new),
            zero_rows(old),
            "the zeroed filters stay zero"
        );
        assert!(!new.bit_equal(old), "the other filters train");
    }

    #[test]
    fn records_live_beside_their_checkpoint() {
        assert_eq!(
            Record::path_for(Path::new("run/finetune/model.pth")),
            Path::new("run/finetune/model.json")
        );
        assert_eq!(
            Record::path_for(Path::new("x/ERes-Stop-9.pth")),
            Path::new("x/ERes-Stop-9.pth.json")
        );
    }
}
