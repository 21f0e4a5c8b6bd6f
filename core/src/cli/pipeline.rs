//! `reproduce pipeline --arch eresfd --target 0.3`: pre-training (or `--from` a zoo checkpoint),
//! the Bayesian optimisation, SFP and fine-tuning in one resumable run folder
//! (`bfpgm::prune::pipeline`), then the new model's tables row and, when WIDER val is there, its
//! APs beside the zoo models'. `--quick` is a smoke-run profile.

use super::flags::{DataArgs, ExecArgs, PrunerArg};
use super::model_arg;
use super::tables::GroupingArg;
use crate::zoo::Arch;
use clap::{Args, ValueEnum};
use std::path::PathBuf;

/// The `--quick` profile, shown by `reproduce pipeline --help`.
const QUICK: &str = "\
--quick is a smoke run, not a reproduction: the mini WIDER set (fetched into
<data-dir>/WIDER-mini when --wider is not given), the first 16 training and 4 validation
images, 256 x 256 inputs, batches of 8 (4 for fine-tuning), 1 pre-training epoch, a search of
the probe + 3 random + 1 guided trials, 2 SFP epochs and 2 fine-tuning epochs. Every value can
still be changed with its flag. Without --quick every default is upstream's.";

/// Arguments of `reproduce pipeline`.
#[derive(Args)]
#[command(after_long_help = QUICK)]
pub struct PipelineArgs {
    /// The detector.
    #[arg(long, value_parser = model_arg::arch_parser())]
    pub arch: Arch,
    /// Target whole-model sparsity, as a fraction.
    #[arg(long, default_value_t = 0.2)]
    pub target: f64,
    /// Skip pre-training and start from these weights: a zoo model (e.g. eresfd-original) or a
    /// file.
    #[arg(long, value_name = "NAME|FILE")]
    pub from: Option<String>,
    /// The smoke-run profile (see below).
    #[arg(long)]
    pub quick: bool,
    /// Run folder [default: <data-dir>/runs/pipeline-<arch>-<target>, with -quick for --quick].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,

    /// Pre-training epochs [default: 300 for eresfd, 600 for extd].
    #[arg(long)]
    pub pretrain_epochs: Option<u32>,
    /// SFP epochs [default: 200 for eresfd, 250 (50 rounds of 5) for extd].
    #[arg(long)]
    pub sfp_epochs: Option<u32>,
    /// Fine-tuning epochs [default: 10].
    #[arg(long)]
    pub finetune_epochs: Option<u32>,
    /// GP-guided points of the search [default: 940].
    #[arg(long)]
    pub n_opt_iterations: Option<usize>,
    /// Uniform random points after the probe [default: 60].
    #[arg(long)]
    pub n_init_points: Option<usize>,
    /// The probe point is target + offset for every group.
    #[arg(long, default_value_t = 0.04)]
    pub probing_offset: f64,
    /// Weight λ of the sparsity penalty [default: 5 for eresfd, 1 for extd].
    #[arg(long)]
    pub lambda: Option<f64>,
    /// Seed of the search, the splits, the shuffles and the augmentation.
    #[arg(long, default_value_t = 0)]
    pub seed: u32,
    /// EResFD's layer grouping.
    #[arg(long, value_enum, default_value_t = GroupingArg::Checkpoint)]
    pub grouping: GroupingArg,
    /// How SFP and fine-tuning rank filters (the search always uses FPGM, as upstream).
    #[arg(long, value_enum, default_value_t = PrunerArg::Fpgm)]
    pub pruner: PrunerArg,
    /// Fine-tune every parameter except the zeroed filters (not upstream's semantics).
    #[arg(long)]
    pub train_all: bool,
    /// Side of the square network input [default: 640].
    #[arg(long)]
    pub input_size: Option<usize>,
    /// Search trials run one per device, e.g. cuda:0,cuda:1 [default: --device].
    #[arg(long, value_delimiter = ',', value_name = "DEVICES")]
    pub devices: Vec<String>,
    /// When to measure the new model's APs: auto does so on WIDER val when it is downloaded.
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = EvalArg::Auto)]
    pub eval: EvalArg,

    /// Which WIDER FACE images train and validate.
    #[command(flatten)]
    pub data: DataArgs,
    /// How training executes.
    #[command(flatten)]
    pub exec: ExecArgs,
}

/// `--eval`.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EvalArg {
    /// On full WIDER val when it and its ground truth are downloaded; otherwise not.
    Auto,
    /// Never.
    Off,
    /// On the 50 images of the mini val set (fetched when missing).
    Mini,
    /// On full WIDER val (fetched when missing).
    Full,
}
