//! `reproduce bench train`: training throughput in images per second, for the data pipeline
//! alone (decode + augment + batch, all worker threads), for training steps alone (one batch
//! over and over: the ceiling of the model, the loss and the optimiser on this device), and for
//! full training steps with the pipeline feeding them, on the CPU or CUDA. Upstream's PyTorch pre-training of EResFD runs at
//! about 141 images/s on one H100 (batch 16, 640 × 640); the goal on the same GPU is 5× that,
//! data loading included. With `--fuse K` the network is K fused BO trials (`bo --fuse K`), and
//! the rates count trial-images: what the search's trial-epochs per hour follow from.

use crate::device::DeviceChoice;
use clap::Args;
use std::path::PathBuf;

/// Arguments of `reproduce bench train`.
#[derive(Args)]
pub struct TrainBench {
    /// Where the network runs: cpu, cuda or auto.
    #[arg(long, default_value = "auto")]
    pub device: DeviceChoice,
    /// Images per batch.
    #[arg(long, default_value_t = 16)]
    pub batch: usize,
    /// Timed batches of each measurement.
    #[arg(long, default_value_t = 20)]
    pub steps: usize,
    /// Untimed batches before each measurement.
    #[arg(long, default_value_t = 3)]
    pub warmup: usize,
    /// Loader threads [default: the CPU count, at most 16].
    #[arg(long)]
    pub workers: Option<usize>,
    /// Mixed precision (CUDA).
    #[arg(long)]
    pub amp: bool,
    /// Pin each batch in page-locked memory in the loader threads (training does not).
    #[arg(long)]
    pub pin: bool,
    /// Niceness added to the loader threads [default: what training uses, 10 on CUDA, 0 on
    /// the CPU]; 0 measures the loader at the consumer's priority.
    #[arg(long, value_name = "N")]
    pub loader_nice: Option<i32>,
    /// Contiguous (NCHW) weights and activations on CUDA instead of channels-last.
    #[arg(long)]
    pub nchw: bool,
    /// Side of the square input.
    #[arg(long, default_value_t = 640)]
    pub input_size: usize,
    /// Train K fused trials as one network (`bo --fuse K`); rates count trial-images.
    #[arg(long, value_name = "K", default_value_t = 1,
          value_parser = clap::value_parser!(i64).range(1..))]
    pub fuse: i64,
    /// WIDER root with WIDER_train/ [default: <data-dir>/WIDER-mini, `reproduce fetch wider-mini`].
    #[arg(long, value_name = "DIR")]
    pub wider: Option<PathBuf>,
}
