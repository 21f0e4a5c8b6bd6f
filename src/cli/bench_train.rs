//! `reproduce bench train`: training throughput in images per second, for the data pipeline
//! alone (decode + augment + batch, all worker threads), for training steps alone (one batch
//! over and over: the ceiling of the model, the loss and the optimiser on this device), and for
//! full training steps with the pipeline feeding them, on the CPU or CUDA. Upstream's PyTorch pre-training of EResFD runs at
//! about 141 images/s on one H100 (batch 16, 640 × 640); the goal on the same GPU is 5× that,
//! data loading included.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;

use crate::device;
use crate::model::{Detector, priors};
use crate::train::augment::AugmentConfig;
use crate::train::data::{Batch, Dataset, Loader, LoaderConfig, Mode, Split, WiderDir, shuffled};
use crate::train::optim::OptimConfig;
use crate::train::{DeviceOptions, Trainer};
use bfpgm_core::cli::Global;
use bfpgm_core::cli::bench_train::*;
use bfpgm_core::imageio::DEFAULT_MAX_PIXELS;
use bfpgm_core::zoo::Arch;

/// Upstream's EResFD pre-training throughput on one H100 (images/s, batch 16, 640 × 640).
const UPSTREAM_H100: f64 = 141.0;
/// The goal: this many times upstream on the same GPU.
const GOAL_FACTOR: f64 = 5.0;
/// Images one BO trial reads: WIDER train's 12,880, 80 % trained on and 20 % validated (the
/// validation images counted at the training rate, which overstates their cost).
const TRIAL_IMAGES: f64 = 12_880.0;

/// Batches from consecutive epochs, without end. The next epoch's loader starts as soon as the
/// current one's workers have nothing left to begin (its remaining batches are built or being
/// built), as within a full WIDER epoch of 805 batches: the mini set's 18 batches would
/// otherwise put a cold loader start into every measurement. `bench loader` uses it too.
pub(super) struct Endless {
    ds: Arc<Dataset>,
    mode: Mode,
    cfg: LoaderConfig,
    epoch: u64,
    current: Loader,
    taken: usize,
    next: Option<Loader>,
}

impl Endless {
    /// Starts epoch 0 of `ds`.
    pub(super) fn new(ds: Arc<Dataset>, mode: Mode, cfg: LoaderConfig) -> Endless {
        let current = Self::start(&ds, &mode, cfg, 0);
        Endless {
            ds,
            mode,
            cfg,
            epoch: 0,
            current,
            taken: 0,
            next: None,
        }
    }

    fn start(ds: &Arc<Dataset>, mode: &Mode, cfg: LoaderConfig, epoch: u64) -> Loader {
        let order = shuffled(ds.len(), 0, epoch);
        Loader::start(ds.clone(), order, mode.clone(), 0, epoch, cfg)
    }

    /// The next batch, from the next epoch when this one is spent.
    pub(super) fn next_batch(&mut self) -> Result<Batch> {
        loop {
            if self.next.is_none() && self.taken + self.cfg.prefetch >= self.current.len() {
                self.next = Some(Self::start(&self.ds, &self.mode, self.cfg, self.epoch + 1));
            }
            if let Some(b) = self.current.next() {
                self.taken += 1;
                return b;
            }
            self.epoch += 1;
            self.current = self.next.take().expect("started before the last batch");
            self.taken = 0;
        }
    }
}

/// Runs both measurements and prints them.
pub fn run(args: TrainBench, global: &Global) -> Result<ExitCode> {
    let dev = device::resolve(args.device)?;
    let root = args
        .wider
        .clone()
        .unwrap_or_else(|| global.data_dir.join("WIDER-mini"));
    let ds = Arc::new(Dataset::load(&WiderDir::at(&root), Split::Train)?);
    let workers = args.workers.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map_or(2, |n| n.get())
            .min(16)
    });
    let cfg = LoaderConfig {
        batch_size: args.batch,
        workers,
        prefetch: 2 * workers,
        pin: (args.pin && dev.is_cuda()).then_some(dev),
        nice: args
            .loader_nice
            .unwrap_or_else(|| LoaderConfig::nice_for(dev)),
        max_pixels: DEFAULT_MAX_PIXELS,
    };
    let mode = Mode::Train(AugmentConfig::upstream(
        args.input_size,
        &priors::ERESFD.sizes,
    ));
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "bench train: EResFD x{}, batch {}, {}x{}, {} loader threads (nice +{}){}, {} images \
         in {}",
        args.fuse,
        args.batch,
        args.input_size,
        args.input_size,
        workers,
        cfg.nice,
        if cfg.pin.is_some() {
            " (pinned batches)"
        } else {
            ""
        },
        ds.len(),
        root.display()
    )?;

    // Data loading alone.
    let mut batches = Endless::new(ds.clone(), mode.clone(), cfg);
    for _ in 0..args.warmup {
        batches.next_batch()?;
    }
    let t0 = Instant::now();
    let mut images = 0;
    for _ in 0..args.steps {
        images += batches.next_batch()?.items.len();
    }
    let loading = images as f64 / t0.elapsed().as_secs_f64();
    drop(batches);
    writeln!(out, "data loading:    {loading:8.1} images/s")?;

    // Full training steps, fed by the loader.
    tch::manual_seed(0);
    let mut opts = DeviceOptions::on(dev);
    opts.amp = args.amp && dev.is_cuda();
    opts.channels_last &= !args.nchw;
    let mut trainer = Trainer::new(
        Detector::with_trials(Arch::Eresfd, tch::Device::Cpu, args.fuse),
        OptimConfig::ERESFD_PRETRAIN,
        opts,
    );
    let mut batches = Endless::new(ds, mode, cfg);
    for _ in 0..args.warmup {
        let l = trainer.train_step(&batches.next_batch()?, 1e-3, true);
        l.loc.double_value(&[0]);
    }

    // Training steps alone: one batch, already in memory, again and again.
    let one = batches.next_batch()?;
    let t0 = Instant::now();
    let mut last = None;
    for _ in 0..args.steps {
        last = Some(trainer.train_step(&one, 1e-3, true));
    }
    if let Some(l) = last {
        l.loc.double_value(&[0]);
    }
    let trials = args.fuse as f64;
    let alone = trials * (args.steps * one.items.len()) as f64 / t0.elapsed().as_secs_f64();
    writeln!(
        out,
        "steps alone:     {alone:8.1} {} (one batch repeated)",
        unit(&args,)
    )?;

    let t0 = Instant::now();
    let mut images = 0;
    let mut last = None;
    for _ in 0..args.steps {
        let b = batches.next_batch()?;
        images += b.items.len();
        last = Some(trainer.train_step(&b, 1e-3, true));
    }
    if let Some(l) = last {
        // Waits for the device to finish the queued steps.
        l.loc.double_value(&[0]);
    }
    let training = trials * images as f64 / t0.elapsed().as_secs_f64();
    writeln!(
        out,
        "training steps:  {training:8.1} {} ({}{}{})",
        unit(&args,),
        if dev.is_cuda() { "cuda" } else { "cpu" },
        if opts.amp { ", amp" } else { "" },
        if opts.channels_last {
            ", channels-last"
        } else {
            ""
        }
    )?;
    writeln!(
        out,
        "BO trial-epochs per hour at these rates: {:.1} fed, {:.1} with the steps alone \
         (one trial reads {TRIAL_IMAGES} images)",
        3600.0 * training / TRIAL_IMAGES,
        3600.0 * alone / TRIAL_IMAGES
    )?;
    if dev.is_cuda() && args.fuse == 1 {
        let goal = UPSTREAM_H100 * GOAL_FACTOR;
        writeln!(
            out,
            "upstream PyTorch on one H100: about {UPSTREAM_H100} images/s; goal on the same \
             GPU: {goal:.0} images/s ({})",
            if training >= goal { "met" } else { "MISSED" }
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

/// What the training rates count.
fn unit(args: &TrainBench) -> &'static str {
    if args.fuse > 1 {
        "trial-images/s"
    } else {
        "images/s"
    }
}
