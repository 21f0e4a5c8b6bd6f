//! [`TrainConfig`]: every setting that decides what a training run computes, with upstream's
//! values per architecture ([`TrainConfig::upstream`]). It is saved as `config.json` in the run
//! folder, so `--resume` continues with exactly the settings the run started with.

use std::path::PathBuf;

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};

use super::augment::AugmentConfig;
use super::optim::{LrSchedule, OptimConfig};
use crate::model::priors;
use bfpgm_core::zoo::Arch;

/// Where the images come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataConfig {
    /// WIDER root of the training split (`WIDER/` or `WIDER-mini/`).
    pub train: PathBuf,
    /// WIDER root of the validation split; `None` skips validation.
    pub val: Option<PathBuf>,
    /// Use only the first `n` training images (quick runs and tests).
    pub max_train_images: Option<usize>,
    /// Use only the first `n` validation images.
    pub max_val_images: Option<usize>,
}

/// Where the weights start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Init {
    /// Upstream's training initialisation (`Detector::new`) after seeding torch with the run seed.
    Fresh,
    /// The weights of a checkpoint (a pre-trained model for SFP or fine-tuning).
    Checkpoint(PathBuf),
}

/// Everything that decides a run's results (see the module docs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// The detector.
    pub arch: Arch,
    /// Initial weights.
    pub init: Init,
    /// The data.
    pub data: DataConfig,
    /// Seeds the initialisation, the shuffles and every augmentation draw.
    pub seed: u64,
    /// Epochs in the run.
    pub epochs: u32,
    /// Training batch size (the last batch of an epoch may be smaller).
    pub batch_size: usize,
    /// Validation batch size.
    pub val_batch_size: usize,
    /// Optimiser, learning rate and weight decay.
    pub optimizer: OptimConfig,
    /// Learning-rate schedule.
    pub schedule: LrSchedule,
    /// The augmentation of training images (its `size` is also the validation input size).
    pub augment: AugmentConfig,
    /// BatchNorm trains only in the first epoch of the run: upstream EXTD's `val()` leaves the
    /// network in eval mode and `train()` never switches it back, which the released
    /// EXTD-original shows (`num_batches_tracked` = 3,219, one epoch, `docs/upstream.md`
    /// §pretrain).
    pub bn_train_first_epoch_only: bool,
    /// A new optimiser at the start of every epoch after the first, at the base learning rate
    /// (upstream SFP rebuilds model and optimiser each epoch, so moments reset and the schedule
    /// is discarded, `docs/upstream.md` §sfp).
    pub fresh_optimizer_each_epoch: bool,
    /// Mixed precision on CUDA.
    pub amp: bool,
    /// A new random order of the training images each epoch (upstream's `shuffle=True`; EXTD's
    /// SFP reads them in file order). Absent from configs written before it existed: `true`.
    #[serde(default = "shuffle_default")]
    pub shuffle: bool,
}

fn shuffle_default() -> bool {
    true
}

impl TrainConfig {
    /// Upstream's pre-training of `arch` (`docs/upstream.md` §pretrain) on the given data.
    pub fn upstream(arch: Arch, data: DataConfig) -> TrainConfig {
        let anchors = match arch {
            Arch::Eresfd => &priors::ERESFD,
            Arch::Extd => &priors::EXTD,
        };
        let augment = AugmentConfig::upstream(640, &anchors.sizes);
        match arch {
            Arch::Eresfd => TrainConfig {
                arch,
                init: Init::Fresh,
                data,
                seed: 0,
                epochs: 300,
                batch_size: 16,
                val_batch_size: 16,
                optimizer: OptimConfig::ERESFD_PRETRAIN,
                schedule: LrSchedule::eresfd_pretrain(),
                augment,
                bn_train_first_epoch_only: false,
                fresh_optimizer_each_epoch: false,
                amp: false,
                shuffle: true,
            },
            Arch::Extd => TrainConfig {
                arch,
                init: Init::Fresh,
                data,
                seed: 0,
                epochs: 600,
                batch_size: 4,
                val_batch_size: 2,
                optimizer: OptimConfig::EXTD_PRETRAIN,
                schedule: LrSchedule::extd_pretrain(),
                augment,
                bn_train_first_epoch_only: true,
                fresh_optimizer_each_epoch: false,
                amp: false,
                shuffle: true,
            },
        }
    }

    /// Refuses settings no run can use.
    pub fn validate(&self) -> Result<()> {
        if self.batch_size == 0 || self.val_batch_size == 0 {
            bail!("batch sizes must be at least 1");
        }
        if self.augment.size < 32 {
            bail!(
                "input size {} is too small: the detectors need at least 32 pixels per side",
                self.augment.size
            );
        }
        if !(self.optimizer.lr > 0.0 && self.optimizer.lr.is_finite()) {
            bail!(
                "the learning rate must be positive, got {}",
                self.optimizer.lr
            );
        }
        if self.optimizer.weight_decay < 0.0 {
            bail!("the weight decay cannot be negative");
        }
        Ok(())
    }

    /// The learning rate of the batch at `iteration` of `epoch`.
    pub fn lr(&self, epoch: u32, iteration: u64) -> f64 {
        if self.fresh_optimizer_each_epoch && epoch > 0 {
            self.optimizer.lr
        } else {
            self.schedule.lr(self.optimizer.lr, epoch, iteration)
        }
    }
}
