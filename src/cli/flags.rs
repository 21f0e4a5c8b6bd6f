//! The shared training and pruning flags (`bfpgm_core::cli::flags`) as training settings, and
//! where a stage's starting checkpoint and rates come from.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use tch::Device;

use crate::device;
use crate::prune::bo::OptimalRates;
use crate::prune::pruner::PrunePlan;
use crate::train::state::RunDir;
use crate::train::{DataConfig, DeviceOptions, RunOptions, TrainConfig};
use bfpgm_core::cli::Global;
use bfpgm_core::cli::flags::{DataArgs, ExecArgs, PrunerArg, TrainArgs};
use bfpgm_core::cli::model_arg::{self, IfMissing};
use bfpgm_core::device::DeviceChoice;
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

/// A stage's starting weights: a zoo model (fetched and verified when missing) or a checkpoint
/// file, with its network (`arch`, else the zoo's or the file's keys'), as an absolute path, which
/// the run folder records.
pub fn starting_weights(
    global: &Global,
    given: &str,
    arch: Option<Arch>,
    progress: &dyn Progress,
) -> Result<(PathBuf, Arch)> {
    let zoo = global.zoo()?;
    let options = global.fetch_options()?;
    let missing = IfMissing::Fetch {
        options: &options,
        progress,
    };
    let (path, arch, _) = model_arg::resolve(&zoo, &global.data_dir, given, arch, missing)?;
    Ok((std::path::absolute(path)?, arch))
}

/// Where a fresh stage that applies searched rates (SFP, fine-tuning) starts.
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

/// The flags that start `sfp` and `finetune`.
pub struct RatedFlags<'a> {
    /// The stage, for the messages (`SFP`, `fine-tuning`).
    pub stage: &'static str,
    /// The run folder.
    pub out: &'a Path,
    /// `--resume`.
    pub resume: bool,
    /// The weights flag's name (`--pretrained`, `--init`), for the messages.
    pub weights_flag: &'static str,
    /// The weights: a zoo model or a file.
    pub weights: Option<&'a str>,
    /// `--rates`: the search's `optimal_rates.json`.
    pub rates: Option<&'a Path>,
    /// `--arch`.
    pub arch: Option<Arch>,
    /// `--pruner`.
    pub pruner: Option<PrunerArg>,
    /// The data flags.
    pub data: &'a DataArgs,
}

/// How a rated stage begins: resumed from its folder's saved settings (`S`) and training, or
/// started afresh.
pub enum Begin<S> {
    /// `--resume`: what the run saved.
    Resume(S, TrainConfig),
    /// A new run.
    Start(RatedStart),
}

/// The shared beginning of `sfp` and `finetune`: with `--resume` the settings saved as
/// `settings` in the run folder (start flags are refused), otherwise the weights, the rates file,
/// the network and the data.
pub fn begin_rated<S: serde::de::DeserializeOwned>(
    flags: RatedFlags,
    settings: &str,
    global: &Global,
    progress: &dyn Progress,
) -> Result<Begin<S>> {
    let weights_flag = flags.weights_flag;
    if flags.resume {
        if flags.weights.is_some() || flags.rates.is_some() || flags.arch.is_some() {
            bail!(
                "--resume continues the run in {} with its saved weights and rates; drop \
                 --arch, {weights_flag} and --rates",
                flags.out.display()
            );
        }
        let dir = RunDir::new(flags.out);
        let saved: S = dir.read_settings(settings).context("nothing to resume")?;
        return Ok(Begin::Resume(saved, dir.read_config()?));
    }
    let (Some(given), Some(rates)) = (flags.weights, flags.rates) else {
        bail!(
            "{weights_flag} and --rates are required to start {}",
            flags.stage
        );
    };
    let rates = OptimalRates::read(rates)?;
    let (weights, arch) = starting_weights(global, given, flags.arch, progress)?;
    if arch != rates.arch {
        bail!("the rates were searched for {}, not {arch}", rates.arch);
    }
    let root = flags.data.root(global, "WIDER")?;
    Ok(Begin::Start(RatedStart {
        arch,
        plan: rates.plan(criterion(flags.pruner.unwrap_or(PrunerArg::Fpgm))),
        target: rates.target,
        weights,
        data: data_config(flags.data, &root),
    }))
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
