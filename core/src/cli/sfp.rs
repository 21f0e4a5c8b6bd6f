//! `reproduce sfp`: soft filter pruning of a pre-trained model with the BO's rates, on upstream's
//! schedule (`bfpgm::prune::sfp`), every hyper-parameter a flag with upstream's default.

use super::flags::{DataArgs, ExecArgs, PrunerArg, TrainArgs};
use super::model_arg;
use crate::zoo::Arch;
use clap::Args;
use std::path::PathBuf;

/// Upstream's quirks, shown by `reproduce sfp --help`.
const QUIRKS: &str = "\
Upstream behaviour reproduced on purpose (see docs/pruning.md):
  * EResFD: the prune follows the training of epochs 0, 5, 10, ... and the last one; upstream
    rebuilds the model and a new Adam (lr 1e-3) every epoch, so the moments reset and the
    nominal decay at epochs 100 and 150 never applies (--persistent-optimizer keeps one).
  * EXTD: 50 rounds of 5 epochs; each starts with a prune and a new SGD (lr 1e-4), reads the
    images in file order and trains BatchNorm in its first epoch only; a final prune ends it.
  * No mask is kept: zeroed filters regrow until the next prune chooses again.";

/// Arguments of `reproduce sfp`.
#[derive(Args)]
#[command(after_long_help = QUIRKS)]
pub struct SfpArgs {
    /// The detector [default: the zoo model's, when --pretrained names one].
    #[arg(long, value_parser = model_arg::arch_parser())]
    pub arch: Option<Arch>,
    /// Pre-trained weights: a zoo model (e.g. eresfd-original) or a file [required unless
    /// --resume].
    #[arg(long, value_name = "NAME|FILE")]
    pub pretrained: Option<String>,
    /// The search's optimal_rates.json [required unless --resume].
    #[arg(long, value_name = "FILE")]
    pub rates: Option<PathBuf>,
    /// Run folder: checkpoints per epoch (each freshly pruned where a prune happened), logs.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Continue the run in --out with its saved settings (only --epochs may change).
    #[arg(long)]
    pub resume: bool,
    /// How filters are ranked at each prune [default: fpgm].
    #[arg(long, value_enum)]
    pub pruner: Option<PrunerArg>,
    /// Epochs between EResFD's prunes, or per EXTD round [default: 5].
    #[arg(long, value_name = "N")]
    pub prune_every: Option<u32>,
    /// Keep one optimiser for the whole run, so the nominal learning-rate schedule applies
    /// (EResFD; upstream starts a new one every epoch).
    #[arg(long)]
    pub persistent_optimizer: bool,

    /// Training flags.
    #[command(flatten)]
    pub train: TrainArgs,
    /// Which WIDER FACE images train and validate.
    #[command(flatten)]
    pub data: DataArgs,
    /// How training executes.
    #[command(flatten)]
    pub exec: ExecArgs,
}
