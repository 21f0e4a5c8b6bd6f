//! The shared training and pruning flags (`bfpgm_core::cli::flags`) as training settings, and
//! where a stage's starting checkpoint and rates come from.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use tch::Device;

use crate::device;
use crate::prune::pruner::PrunePlan;
use crate::prune::search::OptimalRates;
use crate::train::{DataConfig, DeviceOptions, RunOptions, TrainConfig};
use bfpgm_core::cli::Global;
use bfpgm_core::cli::flags::{DataArgs, ExecArgs, PrunerArg, TrainArgs};
use bfpgm_core::device::DeviceChoice;
use bfpgm_core::fetch;
use bfpgm_core::progress::Progress;
use bfpgm_core::record::Criterion;
use bfpgm_core::zoo::Arch;

/// `--pruner` as the filter ranking.
pub fn criterion(p: PrunerArg) -> Criterion {
    match p {
        PrunerArg::Fpgm => Criterion::Fpgm,
        PrunerArg::L1 => Criterion::L1,
    }
}

/// The data of a training stage under `root`.
pub fn data_config(args: &DataArgs, root: &Path) -> DataConfig {
    DataConfig {
        train: root.to_path_buf(),
        val: (!args.no_val).then(|| root.to_path_buf()),
        max_train_images: args.max_images,
        max_val_images: args.max_val_images,
    }
}

/// The run options of a training stage on the device asked for.
pub fn run_options(args: &ExecArgs) -> Result<RunOptions> {
    let device = device::resolve(args.device)?;
    let workers = args.workers();
    Ok(RunOptions {
        device: DeviceOptions::on(device),
        workers,
        prefetch: 2 * workers,
        log_every: args.log_every,
        max_pixels: args.limit.max_pixels,
    })
}

/// Applies the training flags given to `cfg`.
pub fn apply_train(args: &TrainArgs, cfg: &mut TrainConfig) {
    set(&mut cfg.epochs, args.epochs);
    set(&mut cfg.batch_size, args.batch_size);
    set(&mut cfg.val_batch_size, args.val_batch_size);
    set(&mut cfg.optimizer.lr, args.lr);
    set(&mut cfg.optimizer.weight_decay, args.weight_decay);
    set(&mut cfg.seed, args.seed);
    set(&mut cfg.augment.size, args.input_size);
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
    arch: Option<Arch>,
    given: &str,
    rates: &Path,
    pruner: Option<PrunerArg>,
    data: &DataArgs,
) -> Result<RatedStart> {
    let rates = OptimalRates::read(rates)?;
    let arch = arch
        .or_else(|| zoo_arch(global, given))
        .unwrap_or(rates.arch);
    if arch != rates.arch {
        bail!("the rates were searched for {}, not {arch}", rates.arch);
    }
    let weights = checkpoint(global, given, progress)?;
    let root = data.root(global, "WIDER")?;
    Ok(RatedStart {
        arch,
        plan: rates.plan(criterion(pruner.unwrap_or(PrunerArg::Fpgm))),
        target: rates.target,
        weights,
        data: data_config(data, &root),
    })
}

/// `--devices cuda:0,cuda:1` (or `cpu`): one search worker per device, each once.
pub fn parse_devices(list: &[String]) -> Result<Vec<Device>> {
    let choices = list
        .iter()
        .map(|s| s.trim().parse::<DeviceChoice>().map_err(anyhow::Error::msg))
        .collect::<Result<Vec<_>>>()?;
    for (i, c) in choices.iter().enumerate() {
        if choices[..i].contains(c) {
            bail!("--devices names {c} twice; give each device once");
        }
        if *c == DeviceChoice::Auto {
            bail!("--devices takes cpu, cuda or cuda:N, not auto");
        }
    }
    device::resolve_all(&choices)
}
