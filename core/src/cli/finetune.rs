//! `reproduce finetune`: prune once with the BO's rates, then fine-tune with upstream's
//! semantics (`bfpgm::prune::finetune`); writes `model.pth` and `model.json` (the rates and the
//! measured group rates and sparsity) in the run folder.

use super::flags::{DataArgs, ExecArgs, PrunerArg, TrainArgs};
use super::model_arg;
use crate::zoo::Arch;
use clap::Args;
use std::path::PathBuf;

/// What trains, shown by `reproduce finetune --help`.
const SEMANTICS: &str = "\
What trains (see docs/pruning.md): upstream creates the optimiser before the prune, and the
prune replaces every grouped conv's weight with a new tensor the optimiser does not hold, so
those convs never change; only BatchNorm, the parameters outside the groups (EResFD's heads and
FPN fusion weights) and EXTD's PReLU slopes train. That is the default. --train-all trains
everything except the zeroed filters, which stay 0: a different algorithm, whose models are not
comparable to the released ones.";

/// Arguments of `reproduce finetune`.
#[derive(Args)]
#[command(after_long_help = SEMANTICS)]
pub struct FinetuneArgs {
    /// The detector [default: the rates' architecture].
    #[arg(long, value_parser = model_arg::arch_parser())]
    pub arch: Option<Arch>,
    /// Weights to fine-tune, normally SFP's last epoch: a file or a zoo model [required unless
    /// --resume].
    #[arg(long, value_name = "FILE|NAME")]
    pub init: Option<String>,
    /// The search's optimal_rates.json [required unless --resume].
    #[arg(long, value_name = "FILE")]
    pub rates: Option<PathBuf>,
    /// Run folder: checkpoints per epoch, logs, then model.pth and model.json.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Continue the run in --out with its saved settings (only --epochs may change).
    #[arg(long)]
    pub resume: bool,
    /// How filters are ranked by the prune [default: fpgm].
    #[arg(long, value_enum)]
    pub pruner: Option<PrunerArg>,
    /// Train every parameter except the zeroed filters (not upstream's semantics).
    #[arg(long)]
    pub train_all: bool,

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
