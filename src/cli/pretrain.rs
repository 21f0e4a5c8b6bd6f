//! `reproduce pretrain --arch eresfd|extd --out DIR`: upstream's pre-training on WIDER FACE
//! (`main_pretrain.py`, `main_train.py`), every hyper-parameter a flag. The flags become a
//! `TrainConfig`; `crate::train::run` does the work.

use std::process::ExitCode;

use anyhow::{Result, bail};

use crate::device;
use crate::train::augment::UPSTREAM_EXPAND;
use crate::train::optim::{LrSchedule, OptimizerKind};
use crate::train::state::RunDir;
use crate::train::{self, DataConfig, DeviceOptions, Init, NoHook, RunOptions, TrainConfig};
use bfpgm_core::cli::Global;
use bfpgm_core::cli::pretrain::*;
use bfpgm_core::progress;

/// The run's settings: upstream's for the architecture (or the saved ones when resuming),
/// with the flags given applied on top.
fn config(args: &PretrainArgs, global: &Global) -> Result<TrainConfig> {
    let arch = args.arch;
    let mut cfg = if args.resume {
        let saved = RunDir::new(&args.out).read_config()?;
        if saved.arch != arch {
            bail!(
                "{} holds a {} run, not {arch}",
                args.out.display(),
                saved.arch
            );
        }
        saved
    } else {
        let root = args
            .wider
            .clone()
            .unwrap_or_else(|| global.data_dir.join("WIDER"));
        let root = std::path::absolute(&root)?;
        TrainConfig::upstream(
            arch,
            DataConfig {
                val: (!args.no_val).then(|| root.clone()),
                train: root,
                max_train_images: args.max_images,
                max_val_images: args.max_val_images,
            },
        )
    };
    if args.resume {
        // Data flags given again must agree with the saved run; run() reports any change.
        if let Some(root) = &args.wider {
            let root = std::path::absolute(root)?;
            cfg.data.val = cfg.data.val.as_ref().map(|_| root.clone());
            cfg.data.train = root;
        }
        if args.no_val {
            cfg.data.val = None;
        }
        if args.max_images.is_some() {
            cfg.data.max_train_images = args.max_images;
        }
        if args.max_val_images.is_some() {
            cfg.data.max_val_images = args.max_val_images;
        }
    }
    if let Some(path) = &args.init {
        cfg.init = Init::Checkpoint(std::path::absolute(path)?);
    }
    if let Some(v) = args.epochs {
        cfg.epochs = v;
    }
    if let Some(v) = args.batch_size {
        cfg.batch_size = v;
    }
    if let Some(v) = args.val_batch_size {
        cfg.val_batch_size = v;
    }
    if let Some(v) = args.seed {
        cfg.seed = v;
    }
    if let Some(o) = args.optimizer {
        cfg.optimizer.kind = match (o, cfg.optimizer.kind) {
            (OptimizerArg::Adam, k @ OptimizerKind::Adam { .. }) => k,
            (OptimizerArg::Sgd, k @ OptimizerKind::Sgd { .. }) => k,
            (OptimizerArg::Adam, _) => OptimizerKind::Adam {
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8,
            },
            (OptimizerArg::Sgd, _) => OptimizerKind::Sgd {
                momentum: 0.9,
                dampening: 0.0,
                nesterov: false,
            },
        };
    }
    match &mut cfg.optimizer.kind {
        OptimizerKind::Adam { beta1, beta2, eps } => {
            if args.momentum.is_some() {
                bail!("--momentum is an SGD setting; the optimizer is adam");
            }
            set(beta1, args.beta1);
            set(beta2, args.beta2);
            set(eps, args.eps);
        }
        OptimizerKind::Sgd { momentum, .. } => {
            if args.beta1.is_some() || args.beta2.is_some() || args.eps.is_some() {
                bail!("--beta1, --beta2 and --eps are Adam settings; the optimizer is sgd");
            }
            set(momentum, args.momentum);
        }
    }
    set(&mut cfg.optimizer.lr, args.lr);
    set(&mut cfg.optimizer.weight_decay, args.weight_decay);
    if args.lr_steps.is_some() || args.lr_gamma.is_some() {
        let LrSchedule::Iterations { milestones, gamma } = &mut cfg.schedule else {
            bail!("this run's learning-rate schedule counts epochs, not iterations");
        };
        if let Some(steps) = &args.lr_steps {
            *milestones = steps.clone();
        }
        set(gamma, args.lr_gamma);
    }
    if let Some(v) = args.input_size {
        cfg.augment.size = v;
    }
    if args.no_distort {
        cfg.augment.distort = false;
    }
    if args.expand {
        cfg.augment.expand = Some(UPSTREAM_EXPAND);
    }
    if args.bn_train_every_epoch {
        cfg.bn_train_first_epoch_only = false;
    }
    if args.amp {
        cfg.amp = true;
    }
    Ok(cfg)
}

/// Trains, then prints where the weights are.
pub fn run(args: PretrainArgs, global: &Global) -> Result<ExitCode> {
    let cfg = config(&args, global)?;
    let device = device::resolve(args.device)?;
    let mut dev = DeviceOptions::on(device);
    dev.amp = cfg.amp && device.is_cuda();
    if cfg.amp && !dev.amp {
        eprintln!("note: --amp needs CUDA; training in float32");
    }
    let workers = args.workers.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map_or(2, |n| n.get())
            .min(16)
    });
    let opts = RunOptions {
        device: dev,
        workers: workers.max(1),
        prefetch: args.prefetch.unwrap_or(2 * workers).max(1),
        log_every: args.log_every,
        max_pixels: args.limit.max_pixels,
    };
    let sink = progress::stderr(args.quiet);
    let dir = RunDir::new(&args.out);
    let summary = train::run(&cfg, &dir, args.resume, &opts, &mut NoHook, sink.as_ref())?;
    println!(
        "trained {} of {} epochs; last weights: {}",
        summary.epochs_done,
        cfg.epochs,
        summary.last.display()
    );
    if let Some(best) = &summary.best {
        println!(
            "lowest validation loss {:.4} after epoch {}: {}",
            best.val_loss,
            best.epoch,
            dir.file(crate::train::state::BEST).display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn set<T: Copy>(field: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *field = v;
    }
}
