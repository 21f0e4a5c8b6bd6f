//! `reproduce bo`: the Bayesian optimisation of the six group rates (`bfpgm::prune::bo`),
//! every hyper-parameter of upstream's driver a flag with its default. Trials run one per device
//! (`--devices`); every trial is logged as it finishes, and `--resume` continues a stopped search.

use super::flags::ExecArgs;
use super::model_arg;
use super::tables::GroupingArg;
use crate::zoo::Arch;
use anyhow::Result;
use clap::Args;
use std::path::PathBuf;

/// How a cluster user spreads a search; shown by `reproduce bo --help`.
const NOTES: &str = "\
The search folder holds search.json (the whole state), optimization_results.csv (one row per
finished trial), optimization.png and, once complete, optimal_rates.json for `reproduce sfp`.
A killed search resumes with --resume and never repeats a finished trial. --devices runs one
trial per GPU; --fuse K trains K trials per GPU as one network, on the same batches. On a
cluster, --shard I/N spreads the initial design (probe + random points) over N jobs and --merge
collects them; the GP-guided phase runs in one job (docs/pruning.md).";

/// Arguments of `reproduce bo`.
#[derive(Args)]
#[command(after_long_help = NOTES)]
pub struct BoArgs {
    /// The detector [required unless --resume].
    #[arg(long, value_parser = model_arg::arch_parser())]
    pub arch: Option<Arch>,
    /// Pre-trained weights every trial starts from: a zoo model (e.g. eresfd-original) or a file
    /// [required unless --resume].
    #[arg(long, value_name = "NAME|FILE")]
    pub pretrained: Option<String>,
    /// Search folder.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Continue the search in --out with its saved settings.
    #[arg(long)]
    pub resume: bool,
    /// Stop after N trials in this call (the search stays resumable).
    #[arg(long, value_name = "N")]
    pub max_trials: Option<usize>,
    /// One trial at a time on each of these devices, e.g. cuda:0,cuda:1,cuda:2
    /// [default: cuda:0 when available, else cpu].
    #[arg(long, value_delimiter = ',', value_name = "DEVICES")]
    pub devices: Vec<String>,
    /// Evaluate only share I of N of the initial design (probe + random points), e.g. 2/8, in
    /// its own --out; merge the shards into one search with --merge.
    #[arg(long, value_name = "I/N", conflicts_with = "merge")]
    pub shard: Option<ShardArg>,
    /// Take over the finished initial-design trials of these searches (shards of this search)
    /// before running.
    #[arg(long, value_name = "DIR", num_args = 1..)]
    pub merge: Vec<PathBuf>,

    /// Target whole-model sparsity T, as a fraction [default: 0.2].
    #[arg(long)]
    pub target: Option<f64>,
    /// Uniform random points after the probe [default: 60].
    #[arg(long)]
    pub n_init_points: Option<usize>,
    /// GP-guided points [default: 940].
    #[arg(long)]
    pub n_opt_iterations: Option<usize>,
    /// The probe point is T + offset for every group [default: 0.04].
    #[arg(long)]
    pub probing_offset: Option<f64>,
    /// Weight λ of the sparsity penalty [default: 5 for eresfd, 1 for extd].
    #[arg(long)]
    pub lambda: Option<f64>,
    /// Seed of the optimiser, the 80/20 split and the augmentation [default: 0].
    #[arg(long)]
    pub seed: Option<u32>,
    /// EResFD's layer grouping [default: checkpoint].
    #[arg(long, value_enum)]
    pub grouping: Option<GroupingArg>,
    /// WIDER root whose training list is split 80/20 [default: <data-dir>/WIDER].
    #[arg(long, value_name = "DIR")]
    pub wider: Option<PathBuf>,
    /// Use only the first N training images before the split.
    #[arg(long, value_name = "N")]
    pub max_images: Option<usize>,
    /// Batch size of a trial's training [default: 16 for eresfd, 4 for extd].
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Learning rate of a trial's training [default: 1e-3].
    #[arg(long)]
    pub lr: Option<f64>,
    /// Weight decay of a trial's training [default: 1e-5 for eresfd, 5e-4 for extd].
    #[arg(long)]
    pub weight_decay: Option<f64>,
    /// Side of the square network input [default: 640].
    #[arg(long)]
    pub input_size: Option<usize>,
    /// Train K trials at a time per device as one fused network, all on the same batches
    /// [default: 1].
    #[arg(long, value_name = "K")]
    pub fuse: Option<usize>,

    /// How training executes.
    #[command(flatten)]
    pub exec: ExecArgs,
}

/// `--shard I/N`: this job's share of the initial design (trials whose number is I modulo N).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardArg {
    /// 0-based.
    pub index: usize,
    /// Number of shards.
    pub count: usize,
}

impl std::str::FromStr for ShardArg {
    type Err = String;

    /// `I/N`, e.g. `0/4` … `3/4`.
    fn from_str(s: &str) -> Result<ShardArg, String> {
        let parsed = s
            .split_once('/')
            .and_then(|(i, n)| Some((i.parse().ok()?, n.parse().ok()?)));
        match parsed {
            Some((index, count)) if index < count => Ok(ShardArg { index, count }),
            _ => Err(format!(
                "'{s}' is not a shard; write I/N with 0 <= I < N, e.g. 0/4"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shard_is_i_of_n() {
        assert_eq!("3/4".parse(), Ok(ShardArg { index: 3, count: 4 }));
        assert!("4/4".parse::<ShardArg>().is_err() && "x".parse::<ShardArg>().is_err());
    }
}
