//! `reproduce pretrain --arch eresfd|extd --out DIR`: upstream's pre-training on WIDER FACE
//! (`main_pretrain.py`, `main_train.py`), every hyper-parameter a flag. The flags become a
//! `TrainConfig`; `bfpgm::train::run` does the work.

use super::max_pixels::MaxPixelsArg;
use super::model_arg;
use crate::device::DeviceChoice;
use crate::zoo::Arch;
use clap::{Args, ValueEnum};
use std::path::PathBuf;

/// Upstream's quirks, kept on purpose; shown by `reproduce pretrain --help`.
const QUIRKS: &str = "\
Upstream behaviour reproduced on purpose (see docs/training.md):
  * EResFD's learning rate never decays: the milestones are iterations 250k/300k/320k, and 300
    epochs of 805 iterations end at 241.5k. EXTD decays at iterations 240k and 360k.
  * Validation (and the choice of best.pth) uses WIDER val, the set the APs are reported on.
  * The anchor-sampling crop pads with (104, 117, 123), a BGR mean, written as R, G, B.
  * The final resize draws a random Pillow filter, in validation too, so the validation loss
    is itself random (seeded here).
  * Boxes from the anchor-sampling crop are not clipped to the image.
  * Parameters that receive no gradient (EResFD's base.m0.layer5) are never updated, not even
    by weight decay, as torch.optim skips them.
  * EXTD: BatchNorm trains only in epoch 0; upstream's val() leaves the network in eval mode.
Every random draw derives from (--seed, epoch, sample), so a run and its resumption give the
same weights on the CPU; the exact upstream random streams are not reproduced.";

/// Arguments of `reproduce pretrain`.
#[derive(Args)]
#[command(after_long_help = QUIRKS)]
pub struct PretrainArgs {
    /// The detector to train.
    #[arg(long, value_parser = model_arg::arch_parser())]
    pub arch: Arch,
    /// Run folder: checkpoints per epoch, logs, loss curve.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Continue the run in --out from its last completed epoch, with its saved settings
    /// (only --epochs may change, e.g. to extend it).
    #[arg(long)]
    pub resume: bool,

    /// WIDER root holding WIDER_train/, WIDER_val/ and wider_face_split/
    /// [default: <data-dir>/WIDER; the mini set is <data-dir>/WIDER-mini].
    #[arg(long, value_name = "DIR")]
    pub wider: Option<PathBuf>,
    /// Skip the per-epoch validation on WIDER val.
    #[arg(long)]
    pub no_val: bool,
    /// Train on the first N images of the training list only.
    #[arg(long, value_name = "N")]
    pub max_images: Option<usize>,
    /// Validate on the first N images of WIDER val only.
    #[arg(long, value_name = "N")]
    pub max_val_images: Option<usize>,
    /// Start from these weights instead of upstream's initialisation.
    #[arg(long, value_name = "FILE")]
    pub init: Option<PathBuf>,

    /// Epochs [default: 300 for eresfd, 600 for extd].
    #[arg(long)]
    pub epochs: Option<u32>,
    /// Training batch size [default: 16 for eresfd, 4 for extd].
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Validation batch size [default: 16 for eresfd, 2 for extd].
    #[arg(long)]
    pub val_batch_size: Option<usize>,
    /// Optimiser [default: adam for eresfd, sgd for extd].
    #[arg(long, value_enum)]
    pub optimizer: Option<OptimizerArg>,
    /// Learning rate [default: 1e-3].
    #[arg(long)]
    pub lr: Option<f64>,
    /// Coupled L2 weight decay, added to the gradient as torch.optim does [default: 5e-4].
    #[arg(long)]
    pub weight_decay: Option<f64>,
    /// SGD momentum [default: 0.9].
    #[arg(long)]
    pub momentum: Option<f64>,
    /// Adam's beta1 [default: 0.9].
    #[arg(long)]
    pub beta1: Option<f64>,
    /// Adam's beta2 [default: 0.999].
    #[arg(long)]
    pub beta2: Option<f64>,
    /// Adam's epsilon [default: 1e-8].
    #[arg(long)]
    pub eps: Option<f64>,
    /// Iterations at which the learning rate is multiplied by --lr-gamma, comma-separated
    /// [default: 250000,300000,320000 for eresfd, 240000,360000 for extd].
    #[arg(long, value_delimiter = ',', value_name = "ITERATIONS")]
    pub lr_steps: Option<Vec<u64>>,
    /// Learning-rate factor at each milestone [default: 0.1].
    #[arg(long)]
    pub lr_gamma: Option<f64>,
    /// Seed of the initialisation, shuffles and augmentation [default: 0].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Side of the square network input [default: 640].
    #[arg(long)]
    pub input_size: Option<usize>,
    /// Turn off the photometric distortions (upstream: on).
    #[arg(long)]
    pub no_distort: bool,
    /// Turn on the expansion transform (upstream: off; probability 0.5, up to 4x).
    #[arg(long)]
    pub expand: bool,
    /// Keep BatchNorm in training mode in every epoch, instead of upstream EXTD's epoch 0 only.
    #[arg(long)]
    pub bn_train_every_epoch: bool,
    /// Mixed precision (CUDA autocast with a dynamic loss scale).
    #[arg(long)]
    pub amp: bool,

    /// Where the network runs: cpu, cuda or auto.
    #[arg(long, default_value = "auto")]
    pub device: DeviceChoice,
    /// Threads decoding and augmenting images [default: the CPU count, at most 16].
    #[arg(long)]
    pub workers: Option<usize>,
    /// Batches prepared ahead of training [default: 2 per worker].
    #[arg(long)]
    pub prefetch: Option<usize>,
    /// A progress note and a log.jsonl line every N batches.
    #[arg(long, default_value_t = 50, value_name = "N")]
    pub log_every: usize,
    /// No progress output.
    #[arg(long)]
    pub quiet: bool,
    /// The image size limit of the data loader.
    #[command(flatten)]
    pub limit: MaxPixelsArg,
}

/// `--optimizer`.
#[derive(Clone, Copy, ValueEnum)]
pub enum OptimizerArg {
    /// Adam (upstream's for pre-training).
    Adam,
    /// SGD with momentum.
    Sgd,
}
