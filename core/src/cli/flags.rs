//! Flags shared by the training and pruning commands (`pretrain`, `bo`, `sfp`, `finetune`,
//! `pipeline`): the architecture and base pruner, the data, and how training executes. The
//! `bfpgm` crate turns them into its training settings.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, ValueEnum};

use super::Global;
use super::max_pixels::MaxPixelsArg;
use crate::device::DeviceChoice;

/// `--pruner`: how SFP and fine-tuning rank filters (the search always uses FPGM, as upstream).
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PrunerArg {
    /// Filter Pruning via Geometric Median (upstream's default).
    Fpgm,
    /// Smallest L1 norm first (the baseline).
    L1,
}
/// Which images the training stages read.
#[derive(Args)]
pub struct DataArgs {
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
}
/// Where and how a training stage runs.
#[derive(Args)]
pub struct ExecArgs {
    /// Where the network runs: cpu, cuda or auto.
    #[arg(long, default_value = "auto")]
    pub device: DeviceChoice,
    /// Threads decoding and augmenting images [default: the CPU count, at most 16].
    #[arg(long)]
    pub workers: Option<usize>,
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
/// Training hyper-parameters a stage command may change from upstream's values.
#[derive(Args)]
pub struct TrainArgs {
    /// Epochs [default: the stage's upstream value].
    #[arg(long)]
    pub epochs: Option<u32>,
    /// Training batch size [default: the stage's upstream value].
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Validation batch size [default: the stage's upstream value].
    #[arg(long)]
    pub val_batch_size: Option<usize>,
    /// Learning rate [default: the stage's upstream value].
    #[arg(long)]
    pub lr: Option<f64>,
    /// Coupled L2 weight decay [default: 5e-4].
    #[arg(long)]
    pub weight_decay: Option<f64>,
    /// Seed of the shuffles and augmentation [default: 0].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Side of the square network input [default: 640].
    #[arg(long)]
    pub input_size: Option<usize>,
}

impl DataArgs {
    /// The WIDER root, absolute: `--wider`, or `default` under the data directory.
    pub fn root(&self, global: &Global, default: &str) -> Result<PathBuf> {
        let root = self
            .wider
            .clone()
            .unwrap_or_else(|| global.data_dir.join(default));
        Ok(std::path::absolute(root)?)
    }
}

impl ExecArgs {
    /// Loader threads: `--workers`, or one per core up to 16.
    pub fn workers(&self) -> usize {
        self.workers
            .unwrap_or_else(|| {
                std::thread::available_parallelism()
                    .map_or(2, |n| n.get())
                    .min(16)
            })
            .max(1)
    }
}
