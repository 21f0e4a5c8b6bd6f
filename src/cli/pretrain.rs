//! `reproduce pretrain --arch eresfd|extd --out DIR`: upstream's pre-training on WIDER FACE
//! (`main_pretrain.py`, `main_train.py`), every hyper-parameter a flag. The flags become a
//! `TrainConfig`; `bfpgm::train::run` does the work.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::{Args, ValueEnum};

use super::Global;
use bfpgm::device::{self, DeviceChoice};
use bfpgm::progress;
use bfpgm::train::augment::UPSTREAM_EXPAND;
use bfpgm::train::optim::{LrSchedule, OptimizerKind};
use bfpgm::train::state::RunDir;
use bfpgm::train::{DataConfig, DeviceOptions, Init, NoHook, RunOptions, TrainConfig, run};
use bfpgm::zoo::Arch;

/// Upstream's quirks, kept on purpose; shown by `reproduce pretrain --help`.
const QUIRKS: &str = "\
Upstream behaviour reproduced on purpose (see docs/training.md):
  * EResFD's learning rate never decays: the milestones are iterations 250k/300k/320k, and 300
    epochs of 805 iterations end at 241.5k. EXTD decays at iterations 240k and 360k.
  * Validation (and the choice of best.pth) uses WIDER val, the set the APs are reported on.
  * The anchor-sampling crop pads with (104, 117, 123), a BGR mean, written as R, G, B.
  * The final resize draws a random Pillow filter, in validation too, so the validation loss
    is itself random (seeded here).
  * Boxes from the anchor-sampling crop are not clipped to the image.
  * Parameters that receive no gradient (EResFD's base.m0.layer5) are never updated, not even
    by weight decay, as torch.optim skips them.
  * EXTD: BatchNorm trains only in epoch 0; upstream's val() leaves the network in eval mode.
Every random draw derives from (--seed, epoch, sample), so a run and its resumption give the
same weights on the CPU; the exact upstream random streams are not reproduced.";

/// Arguments of `reproduce pretrain`.
#[derive(Args)]
#[command(after_long_help = QUIRKS)]
pub struct PretrainArgs {
    /// The detector to train.
    #[arg(long, value_enum)]
    arch: ArchArg,
    /// Run folder: checkpoints per epoch, logs, loss curve.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Continue the run in --out from its last completed epoch, with its saved settings
    /// (only --epochs may change, e.g. to extend it).
    #[arg(long)]
    resume: bool,

    /// WIDER root holding WIDER_train/, WIDER_val/ and wider_face_split/
    /// [default: <data-dir>/WIDER; the mini set is <data-dir>/WIDER-mini].
    #[arg(long, value_name = "DIR")]
    wider: Option<PathBuf>,
    /// Skip the per-epoch validation on WIDER val.
    #[arg(long)]
    no_val: bool,
    /// Train on the first N images of the training list only.
    #[arg(long, value_name = "N")]
    max_images: Option<usize>,
    /// Validate on the first N images of WIDER val only.
    #[arg(long, value_name = "N")]
    max_val_images: Option<usize>,
    /// Start from these weights instead of upstream's initialisation.
    #[arg(long, value_name = "FILE")]
    init: Option<PathBuf>,

    /// Epochs [default: 300 for eresfd, 600 for extd].
    #[arg(long)]
    epochs: Option<u32>,
    /// Training batch size [default: 16 for eresfd, 4 for extd].
    #[arg(long)]
    batch_size: Option<usize>,
    /// Validation batch size [default: 16 for eresfd, 2 for extd].
    #[arg(long)]
    val_batch_size: Option<usize>,
    /// Optimiser [default: adam for eresfd, sgd for extd].
    #[arg(long, value_enum)]
    optimizer: Option<OptimizerArg>,
    /// Learning rate [default: 1e-3].
    #[arg(long)]
    lr: Option<f64>,
    /// Coupled L2 weight decay, added to the gradient as torch.optim does [default: 5e-4].
    #[arg(long)]
    weight_decay: Option<f64>,
    /// SGD momentum [default: 0.9].
    #[arg(long)]
    momentum: Option<f64>,
    /// Adam's beta1 [default: 0.9].
    #[arg(long)]
    beta1: Option<f64>,
    /// Adam's beta2 [default: 0.999].
    #[arg(long)]
    beta2: Option<f64>,
    /// Adam's epsilon [default: 1e-8].
    #[arg(long)]
    eps: Option<f64>,
    /// Iterations at which the learning rate is multiplied by --lr-gamma, comma-separated
    /// [default: 250000,300000,320000 for eresfd, 240000,360000 for extd].
    #[arg(long, value_delimiter = ',', value_name = "ITERATIONS")]
    lr_steps: Option<Vec<u64>>,
    /// Learning-rate factor at each milestone [default: 0.1].
    #[arg(long)]
    lr_gamma: Option<f64>,
    /// Seed of the initialisation, shuffles and augmentation [default: 0].
    #[arg(long)]
    seed: Option<u64>,
    /// Side of the square network input [default: 640].
    #[arg(long)]
    input_size: Option<usize>,
    /// Turn off the photometric distortions (upstream: on).
    #[arg(long)]
    no_distort: bool,
    /// Turn on the expansion transform (upstream: off; probability 0.5, up to 4x).
    #[arg(long)]
    expand: bool,
    /// Keep BatchNorm in training mode in every epoch, instead of upstream EXTD's epoch 0 only.
    #[arg(long)]
    bn_train_every_epoch: bool,
    /// Mixed precision (CUDA autocast with a dynamic loss scale).
    #[arg(long)]
    amp: bool,

    /// Where the network runs: cpu, cuda or auto.
    #[arg(long, default_value = "auto")]
    device: DeviceChoice,
    /// Threads decoding and augmenting images [default: the CPU count, at most 16].
    #[arg(long)]
    workers: Option<usize>,
    /// Batches prepared ahead of training [default: 2 per worker].
    #[arg(long)]
    prefetch: Option<usize>,
    /// A progress note and a log.jsonl line every N batches.
    #[arg(long, default_value_t = 50, value_name = "N")]
    log_every: usize,
    /// No progress output.
    #[arg(long)]
    quiet: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum ArchArg {
    Eresfd,
    Extd,
}

#[derive(Clone, Copy, ValueEnum)]
enum OptimizerArg {
    Adam,
    Sgd,
}

impl PretrainArgs {
    /// The run's settings: upstream's for the architecture (or the saved ones when resuming),
    /// with the flags given applied on top.
    fn config(&self, global: &Global) -> Result<TrainConfig> {
        let arch = match self.arch {
            ArchArg::Eresfd => Arch::Eresfd,
            ArchArg::Extd => Arch::Extd,
        };
        let mut cfg = if self.resume {
            let saved = RunDir::new(&self.out).read_config()?;
            if saved.arch != arch {
                bail!(
                    "{} holds a {} run, not {arch}",
                    self.out.display(),
                    saved.arch
                );
            }
            saved
        } else {
            let root = self
                .wider
                .clone()
                .unwrap_or_else(|| global.data_dir.join("WIDER"));
            let root = std::path::absolute(&root)?;
            TrainConfig::upstream(
                arch,
                DataConfig {
                    val: (!self.no_val).then(|| root.clone()),
                    train: root,
                    max_train_images: self.max_images,
                    max_val_images: self.max_val_images,
                },
            )
        };
        if self.resume {
            // Data flags given again must agree with the saved run; run() reports any change.
            if let Some(root) = &self.wider {
                let root = std::path::absolute(root)?;
                cfg.data.val = cfg.data.val.as_ref().map(|_| root.clone());
                cfg.data.train = root;
            }
            if self.no_val {
                cfg.data.val = None;
            }
            if self.max_images.is_some() {
                cfg.data.max_train_images = self.max_images;
            }
            if self.max_val_images.is_some() {
                cfg.data.max_val_images = self.max_val_images;
            }
        }
        if let Some(path) = &self.init {
            cfg.init = Init::Checkpoint(std::path::absolute(path)?);
        }
        if let Some(v) = self.epochs {
            cfg.epochs = v;
        }
        if let Some(v) = self.batch_size {
            cfg.batch_size = v;
        }
        if let Some(v) = self.val_batch_size {
            cfg.val_batch_size = v;
        }
        if let Some(v) = self.seed {
            cfg.seed = v;
        }
        if let Some(o) = self.optimizer {
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
                if self.momentum.is_some() {
                    bail!("--momentum is an SGD setting; the optimizer is adam");
                }
                set(beta1, self.beta1);
                set(beta2, self.beta2);
                set(eps, self.eps);
            }
            OptimizerKind::Sgd { momentum, .. } => {
                if self.beta1.is_some() || self.beta2.is_some() || self.eps.is_some() {
                    bail!("--beta1, --beta2 and --eps are Adam settings; the optimizer is sgd");
                }
                set(momentum, self.momentum);
            }
        }
        set(&mut cfg.optimizer.lr, self.lr);
        set(&mut cfg.optimizer.weight_decay, self.weight_decay);
        if self.lr_steps.is_some() || self.lr_gamma.is_some() {
            let LrSchedule::Iterations { milestones, gamma } = &mut cfg.schedule else {
                bail!("this run's learning-rate schedule counts epochs, not iterations");
            };
            if let Some(steps) = &self.lr_steps {
                *milestones = steps.clone();
            }
            set(gamma, self.lr_gamma);
        }
        if let Some(v) = self.input_size {
            cfg.augment.size = v;
        }
        if self.no_distort {
            cfg.augment.distort = false;
        }
        if self.expand {
            cfg.augment.expand = Some(UPSTREAM_EXPAND);
        }
        if self.bn_train_every_epoch {
            cfg.bn_train_first_epoch_only = false;
        }
        if self.amp {
            cfg.amp = true;
        }
        Ok(cfg)
    }

    /// Trains, then prints where the weights are.
    pub fn run(self, global: &Global) -> Result<ExitCode> {
        let cfg = self.config(global)?;
        let resolved = device::resolve(self.device);
        if let Some(note) = &resolved.note {
            eprintln!("{note}");
        }
        let mut dev = DeviceOptions::on(resolved.device);
        dev.amp = cfg.amp && resolved.device.is_cuda();
        if cfg.amp && !dev.amp {
            eprintln!("note: --amp needs CUDA; training in float32");
        }
        let workers = self.workers.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map_or(2, |n| n.get())
                .min(16)
        });
        let opts = RunOptions {
            device: dev,
            workers: workers.max(1),
            prefetch: self.prefetch.unwrap_or(2 * workers).max(1),
            log_every: self.log_every,
        };
        let sink = progress::stderr(self.quiet);
        let dir = RunDir::new(&self.out);
        let summary = run(&cfg, &dir, self.resume, &opts, &mut NoHook, sink.as_ref())?;
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
                dir.file(bfpgm::train::state::BEST).display()
            );
        }
        Ok(ExitCode::SUCCESS)
    }
}

fn set<T: Copy>(field: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *field = v;
    }
}
