//! Training on WIDER FACE as upstream trains (`docs/upstream.md`, §train-data to §pretrain): the
//! data pipeline, anchor matching, the MultiBox loss, the optimisers and the epoch loop that
//! pre-training, SFP, fine-tuning and the Bayesian optimisation all share.
//!
//! * [`data`]: the WIDER split lists with upstream's filtering, and the [`data::Loader`] that
//!   decodes and augments in worker threads into ready uint8 batches, through a bounded queue;
//! * [`augment`]: every transform of `utils/augmentations.py` with its probabilities and
//!   parameters (Pillow's resize filters and colour operations bit for bit);
//! * [`rng`]: per-sample generators derived from `(seed, epoch, sample)`, so a seed fixes every
//!   batch whatever the thread timing, and a resumed run replays the interrupted epoch exactly;
//! * [`matching`] and [`loss`]: S3FD matching with the extra-anchor step and the MultiBox loss
//!   with hard negative mining, batched on the device;
//! * [`optim`]: Adam and SGD as `torch.optim` computes them, over one flat parameter buffer,
//!   with frozen-parameter masks; the learning-rate schedules; the mixed-precision loss scale;
//! * [`trainer`]: a [`trainer::Trainer`] trains an epoch or computes a validation loss;
//! * [`config`]: the [`TrainConfig`] of a run, with upstream's values per architecture;
//! * [`run`]: the whole loop with per-epoch checkpoints in a [`state::RunDir`], `--resume`,
//!   logs ([`log`]) and the stop on a non-finite loss.
//!
//! Upstream quirks that are reproduced on purpose (each documented where it is implemented and
//! in `docs/training.md`): the iteration milestones that a 300-epoch EResFD run never reaches,
//! validation on WIDER val, the BGR mean used as an RGB padding colour, the random resize filter
//! in validation, unclipped boxes from the anchor-sampling crop, parameters without gradient
//! left untouched by the optimiser, and EXTD's BatchNorm left in eval mode after epoch 0.

pub mod augment;
pub mod config;
pub mod data;
pub mod log;
pub mod loss;
pub mod matching;
pub mod optim;
pub mod rng;
pub mod run;
pub mod state;
pub mod trainer;

pub use config::{DataConfig, Init, TrainConfig};
pub use run::{EpochHook, NoHook, RunOptions, RunSummary, run};
pub use trainer::{DeviceOptions, EpochLoss, Trainer};
