//! Flags shared by the pruning commands (`bo`, `sfp`, `finetune`, `pipeline`): the architecture
//! and base pruner, the data, how training executes, and where a starting checkpoint comes from.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use clap::{Args, ValueEnum};

use super::Global;
use bfpgm::device::{self, DeviceChoice};
use bfpgm::fetch;
use bfpgm::progress::Progress;
use bfpgm::prune::fpgm::Criterion;
use bfpgm::prune::pruner::PrunePlan;
use bfpgm::prune::search::OptimalRates;
use bfpgm::prune::search::parse_device;
use bfpgm::train::{DataConfig, DeviceOptions, RunOptions, TrainConfig};
use bfpgm::zoo::Arch;

/// `--arch`.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ArchArg {
    /// EResFD (92,208 parameters).
    Eresfd,
    /// EXTD (162,352 parameters).
    Extd,
}

impl From<ArchArg> for Arch {
    fn from(a: ArchArg) -> Arch {
        match a {
            ArchArg::Eresfd => Arch::Eresfd,
            ArchArg::Extd => Arch::Extd,
        }
    }
}

/// `--pruner`: how SFP and fine-tuning rank filters (the search always uses FPGM, as upstream).
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PrunerArg {
    /// Filter Pruning via Geometric Median (upstream's default).
    Fpgm,
    /// Smallest L1 norm first (the baseline).
    L1,
}

impl From<PrunerArg> for Criterion {
    fn from(p: PrunerArg) -> Criterion {
        match p {
            PrunerArg::Fpgm => Criterion::Fpgm,
            PrunerArg::L1 => Criterion::L1,
        }
    }
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

impl DataArgs {
    /// The WIDER root, absolute: `--wider`, or `default` under the data directory.
    pub fn root(&self, global: &Global, default: &str) -> Result<PathBuf> {
        let root = self
            .wider
            .clone()
            .unwrap_or_else(|| global.data_dir.join(default));
        Ok(std::path::absolute(root)?)
    }

    /// The data of a training stage.
    pub fn config(&self, root: &Path) -> DataConfig {
        DataConfig {
            train: root.to_path_buf(),
            val: (!self.no_val).then(|| root.to_path_buf()),
            max_train_images: self.max_images,
            max_val_images: self.max_val_images,
        }
    }
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
}

impl ExecArgs {
    /// Loader threads.
    pub fn workers(&self) -> usize {
        self.workers
            .unwrap_or_else(|| {
                std::thread::available_parallelism()
                    .map_or(2, |n| n.get())
                    .min(16)
            })
            .max(1)
    }

    /// The run options of a training stage, printing the device note if CUDA is missing.
    pub fn run_options(&self) -> RunOptions {
        let resolved = device::resolve(self.device);
        if let Some(note) = &resolved.note {
            eprintln!("{note}");
        }
        let workers = self.workers();
        RunOptions {
            device: DeviceOptions::on(resolved.device),
            workers,
            prefetch: 2 * workers,
            log_every: self.log_every,
        }
    }
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

impl TrainArgs {
    /// Applies the flags given to `cfg`.
    pub fn apply(&self, cfg: &mut TrainConfig) {
        set(&mut cfg.epochs, self.epochs);
        set(&mut cfg.batch_size, self.batch_size);
        set(&mut cfg.val_batch_size, self.val_batch_size);
        set(&mut cfg.optimizer.lr, self.lr);
        set(&mut cfg.optimizer.weight_decay, self.weight_decay);
        set(&mut cfg.seed, self.seed);
        set(&mut cfg.augment.size, self.input_size);
    }
}

/// Overwrites `field` when a flag gave a value.
pub fn set<T: Copy>(field: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *field = v;
    }
}

/// A checkpoint given as a zoo model name (fetched and verified when missing) or a file, as an
/// absolute path.
pub fn checkpoint(global: &Global, given: &str, progress: &dyn Progress) -> Result<PathBuf> {
    let path = Path::new(given);
    if path.is_file() {
        return Ok(std::path::absolute(path)?);
    }
    let zoo = global.zoo()?;
    let Ok(model) = zoo.model(given) else {
        bail!("'{given}' is neither a file nor a zoo model (`reproduce zoo list` shows the names)");
    };
    fetch::ensure(
        &zoo,
        &global.data_dir,
        &[model.name()],
        &global.fetch_options()?,
        progress,
    )?;
    Ok(std::path::absolute(model.artifact.path(&global.data_dir))?)
}

/// The architecture of a zoo model named `given`, if it is one.
pub fn zoo_arch(global: &Global, given: &str) -> Option<Arch> {
    if Path::new(given).is_file() {
        return None;
    }
    global.zoo().ok()?.model(given).ok().map(|m| m.arch)
}

/// Where a stage that applies searched rates (SFP, fine-tuning) starts.
pub struct RatedStart {
    /// The network: `--arch`, else the zoo model's, else the rates'; all that are given agree.
    pub arch: Arch,
    /// The searched rates, as a plan for the chosen filter ranking.
    pub plan: PrunePlan,
    /// The target sparsity the rates were searched for.
    pub target: f64,
    /// The starting weights (fetched when a zoo model is named).
    pub weights: PathBuf,
    /// The training data.
    pub data: DataConfig,
}

/// The shared start of `sfp` and `finetune`: the weights `given`, the rates file `rates`, the
/// network, the data.
pub fn rated_start(
    global: &Global,
    progress: &dyn Progress,
    arch: Option<ArchArg>,
    given: &str,
    rates: &Path,
    pruner: Option<PrunerArg>,
    data: &DataArgs,
) -> Result<RatedStart> {
    let rates = OptimalRates::read(rates)?;
    let arch = arch
        .map(Into::into)
        .or_else(|| zoo_arch(global, given))
        .unwrap_or(rates.arch);
    if arch != rates.arch {
        bail!("the rates were searched for {}, not {arch}", rates.arch);
    }
    let weights = checkpoint(global, given, progress)?;
    let root = data.root(global, "WIDER")?;
    Ok(RatedStart {
        arch,
        plan: rates.plan(pruner.unwrap_or(PrunerArg::Fpgm).into()),
        target: rates.target,
        weights,
        data: data.config(&root),
    })
}

/// `--devices cuda:0,cuda:1` (or `cpu`): one search worker per device.
pub fn parse_devices(list: &[String]) -> Result<Vec<tch::Device>> {
    let devices = list
        .iter()
        .map(|s| parse_device(s.trim()))
        .collect::<Result<Vec<_>>>()?;
    for (i, d) in devices.iter().enumerate() {
        if devices[..i].contains(d) {
            bail!("--devices names {d:?} twice; give each device once");
        }
        if let tch::Device::Cuda(n) = d
            && *n >= tch::Cuda::device_count() as usize
        {
            bail!(
                "--devices names cuda:{n}, but this process sees {} CUDA device(s)",
                tch::Cuda::device_count()
            );
        }
    }
    Ok(devices)
}
