//! One model being trained: its flat parameters, optimiser and loss scale, and the two things
//! every training stage does with them — train one epoch, and compute a validation loss.
//!
//! This is the piece later stages reuse: pre-training runs it epoch after epoch ([`super::run`]),
//! SFP prunes between epochs and resets the optimiser ([`Trainer::reset_optimizer`]),
//! fine-tuning freezes the pruned convolutions ([`Trainer::set_frozen`]), and the Bayesian
//! optimisation's inner evaluation is one [`Trainer::train_epoch`] plus one
//! [`Trainer::validate`].
//!
//! A step: the uint8 batch and its boxes go to the device in one copy each (non-blocking from
//! pinned memory), the pixels become float RGB minus the mean there (channels-last on CUDA), the
//! network runs (under autocast with `amp`), matching and the loss run on the device against
//! priors made once per input size, and back-propagation fills the flat gradient buffer for one
//! optimiser step. Nothing in a step copies from the host unpinned or reads a value back, so the
//! host queues work without waiting for the GPU; loss values are read every few steps, all at
//! once, and a non-finite loss ends the epoch with [`NonFiniteLoss`].
//!
//! The detector may hold several fused trials (`model::fused`): then one step trains all of
//! them on the batch, back-propagating the sum of their losses (each trial's weights get only
//! its own loss's gradient), the optimiser's element-wise update treats each trial's elements as
//! their own, and [`Trainer::train_epoch_trials`] and [`Trainer::validate_trials`] report one
//! loss per trial.

use std::fmt;
use std::time::Instant;

use anyhow::Result;
use tch::{Device, Kind, Tensor};

use super::data::{Batch, Loader};
use super::loss::{Loss, multibox};
use super::matching::match_priors;
use super::optim::{FlatParams, GradScaler, OptimConfig, Optimizer};
use crate::model::{Detector, RGB_MEAN, priors};

/// Where and how the arithmetic runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceOptions {
    /// The device of the model and of every step.
    pub device: Device,
    /// Mixed precision (autocast and a dynamic loss scale); CUDA only.
    pub amp: bool,
    /// Channels-last weights and activations (faster convolutions on CUDA).
    pub channels_last: bool,
}

impl DeviceOptions {
    /// Plain float32 on `device`, channels-last when it is CUDA.
    pub fn on(device: Device) -> DeviceOptions {
        DeviceOptions {
            device,
            amp: false,
            channels_last: device.is_cuda(),
        }
    }
}

/// The mean of the two loss terms over the batches of an epoch, as upstream logs them.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct EpochLoss {
    /// Mean of `L_loc` over batches.
    pub loc: f64,
    /// Mean of `L_conf` over batches.
    pub conf: f64,
    /// Batches.
    pub batches: usize,
    /// Images.
    pub images: usize,
    /// Wall time, seconds.
    pub seconds: f64,
}

impl EpochLoss {
    /// `mean(L_loc) + mean(L_conf)`: upstream's validation loss and model-selection criterion.
    pub fn total(&self) -> f64 {
        self.loc + self.conf
    }

    /// Images per second.
    pub fn images_per_second(&self) -> f64 {
        if self.seconds > 0.0 {
            self.images as f64 / self.seconds
        } else {
            0.0
        }
    }
}

/// A loss that is NaN or infinite: training stops rather than writing broken weights.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NonFiniteLoss {
    /// Position of the batch in its epoch.
    pub batch: usize,
    /// The fused trial whose loss it is, when the detector holds several.
    pub trial: Option<usize>,
    /// Its regression term.
    pub loc: f64,
    /// Its confidence term.
    pub conf: f64,
}

impl fmt::Display for NonFiniteLoss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the loss of batch {} ", self.batch)?;
        if let Some(t) = self.trial {
            write!(f, "(fused trial {t}) ")?;
        }
        write!(f, "is not finite (loc {}, conf {})", self.loc, self.conf)
    }
}

impl std::error::Error for NonFiniteLoss {}

/// What [`Trainer::train_epoch`] reports after each batch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepReport {
    /// Position of the batch in the epoch.
    pub batch: usize,
    /// Batches in the epoch.
    pub batches: usize,
    /// Images in the batch.
    pub images: usize,
    /// The learning rate used.
    pub lr: f64,
    /// Batches whose loss has been read back (losses are read every few batches).
    pub settled: usize,
    /// Mean `L_loc + L_conf` of those batches (NaN before the first); over the trials too when
    /// they are fused.
    pub running_loss: f64,
}

/// A detector under training (see the module docs).
pub struct Trainer {
    detector: Detector,
    params: FlatParams,
    optimizer: Optimizer,
    scaler: Option<GradScaler>,
    opts: DeviceOptions,
    mean: Tensor,
    /// Priors on the device per input `(H, W)`, made once.
    priors: std::cell::RefCell<Vec<((i64, i64), Tensor)>>,
}

impl Trainer {
    /// Takes over `detector` (moved to the device) with a fresh optimiser.
    pub fn new(mut detector: Detector, optim: OptimConfig, opts: DeviceOptions) -> Trainer {
        if opts.device.is_cuda() {
            // Every step has the same shapes, so cuDNN's algorithm search pays off (upstream
            // meant to set this too; its `cudnn.benckmark` typo left it off).
            tch::Cuda::cudnn_set_benchmark(true);
        }
        detector.var_store_mut().set_device(opts.device);
        let params = FlatParams::new(&detector, opts.channels_last);
        let optimizer = Optimizer::new(optim, &params);
        let scaler = (opts.amp && opts.device.is_cuda()).then(|| GradScaler::new(opts.device));
        let mean = Tensor::from_slice(&RGB_MEAN)
            .view([1, 3, 1, 1])
            .to_device(opts.device);
        Trainer {
            detector,
            params,
            optimizer,
            scaler,
            opts,
            mean,
            priors: Default::default(),
        }
    }

    /// The model.
    pub fn detector(&self) -> &Detector {
        &self.detector
    }

    /// The model, mutably. Edit weights in place (`copy_`, `fill_`, `Detector::load_state_dict`),
    /// as pruning does: the variables are views of the optimiser's flat buffer, and replacing a
    /// variable's storage would take it out of training.
    pub fn detector_mut(&mut self) -> &mut Detector {
        &mut self.detector
    }

    /// The optimiser (its state is saved with each checkpoint).
    pub fn optimizer(&self) -> &Optimizer {
        &self.optimizer
    }

    /// The flat parameters the optimiser updates.
    pub fn params(&self) -> &FlatParams {
        &self.params
    }

    /// The loss scale of mixed precision, when on.
    pub fn scaler(&self) -> Option<&GradScaler> {
        self.scaler.as_ref()
    }

    /// Restores the optimiser (and loss scale) of a checkpoint.
    pub fn load_optimizer_state(
        &mut self,
        sd: &bfpgm_core::checkpoint::StateDict,
        scale: Option<(f64, f64)>,
    ) -> Result<()> {
        self.optimizer.load_state_dict(&self.params, sd)?;
        if let (Some(s), Some((scale, tracker))) = (&mut self.scaler, scale) {
            let _ = s.scale.fill_(scale);
            let _ = s.growth_tracker.fill_(tracker);
        }
        Ok(())
    }

    /// Parameters whose keys `frozen` accepts are no longer updated (fine-tuning keeps pruned
    /// convolutions as they are, `docs/upstream.md` §finetune).
    pub fn set_frozen(&mut self, frozen: &dyn Fn(&str) -> bool) {
        self.optimizer.set_frozen(&self.params, frozen);
    }

    /// Elements where `frozen` (`[n]` bool over [`Trainer::params`]) is true are no longer
    /// updated (fine-tuning with the pruning masks held fixed).
    pub fn set_frozen_elements(&mut self, frozen: &Tensor) {
        self.optimizer.set_frozen_elements(&self.params, frozen);
    }

    /// A fresh optimiser state, as SFP's per-epoch rebuild gives (`docs/upstream.md` §sfp).
    pub fn reset_optimizer(&mut self) {
        self.optimizer.reset();
    }

    /// The network input of a uint8 `[B, S, S, 3]` batch: float RGB minus the mean, `[B, 3, S, S]`
    /// on the device (channels-last when asked, which the NHWC batch already is).
    fn input(&self, images: &Tensor) -> Tensor {
        let x = images
            .to_device_(self.opts.device, Kind::Uint8, true, false)
            .permute([0, 3, 1, 2])
            .to_kind(Kind::Float)
            - &self.mean;
        if self.opts.channels_last {
            x
        } else {
            x.contiguous()
        }
    }

    /// The device priors of an input size, made on first use.
    fn priors(&self, height: i64, width: i64, grids: &[(i64, i64)]) -> Tensor {
        let mut cache = self.priors.borrow_mut();
        if let Some((_, p)) = cache.iter().find(|(size, _)| *size == (height, width)) {
            return p.shallow_clone();
        }
        let p = priors::prior_boxes(height, width, grids, self.detector.anchors())
            .to_device(self.opts.device);
        cache.push(((height, width), p.shallow_clone()));
        p
    }

    /// The loss of a batch, per trial; `train` selects BatchNorm's training mode.
    fn loss(&self, batch: &Batch, train: bool) -> Loss {
        let x = self.input(&batch.images);
        let targets = batch.targets.to_device(self.opts.device);
        let out = tch::autocast(self.opts.amp, || self.detector.heads_t(&x, train));
        let size = x.size();
        let priors = self.priors(size[2], size[3], &out.grids);
        let matched = tch::no_grad(|| match_priors(&targets, &priors));
        multibox(&out.loc, &out.conf, &matched)
    }

    /// One optimiser step on a batch at learning rate `lr`. `bn_train` is BatchNorm's mode
    /// (upstream EXTD trains with it off after its first epoch). Returns the detached loss
    /// terms of each trial, still on the device.
    pub fn train_step(&mut self, batch: &Batch, lr: f64, bn_train: bool) -> Loss {
        let _ = self.params.grad.zero_();
        let loss = self.loss(batch, bn_train);
        let total = loss.total().sum(Kind::Float);
        let apply = match &mut self.scaler {
            Some(s) => {
                (&total * &s.scale).backward();
                Some(s.unscale(&self.params.grad))
            }
            None => {
                total.backward();
                None
            }
        };
        self.optimizer.step(&self.params, lr, apply.as_ref());
        Loss {
            loc: loss.loc.detach(),
            conf: loss.conf.detach(),
        }
    }

    /// Trains on every batch of `loader`; `lr(i)` is the learning rate of the epoch's batch `i`.
    /// Loss values are read back from the device every `read_every` batches (and at the end),
    /// all at once, so the host does not wait for the device in between; a non-finite loss is
    /// found there, with the batch it belongs to. `report` sees each batch (progress, logs) and
    /// may stop the epoch with an error.
    pub fn train_epoch(
        &mut self,
        loader: Loader,
        lr: &dyn Fn(usize) -> f64,
        bn_train: bool,
        read_every: usize,
        report: &mut dyn FnMut(StepReport) -> Result<()>,
    ) -> Result<EpochLoss> {
        let losses = self.train_epoch_trials(loader, lr, bn_train, read_every, report);
        self.single(losses)
    }

    /// [`Trainer::train_epoch`] with the epoch's loss of every fused trial, in trial order.
    pub fn train_epoch_trials(
        &mut self,
        loader: Loader,
        lr: &dyn Fn(usize) -> f64,
        bn_train: bool,
        read_every: usize,
        report: &mut dyn FnMut(StepReport) -> Result<()>,
    ) -> Result<Vec<EpochLoss>> {
        let started = Instant::now();
        let batches = loader.len();
        let mut sums = vec![EpochLoss::default(); self.detector.trials() as usize];
        let mut pending: Vec<(usize, Loss)> = Vec::new();
        for batch in loader {
            let batch = batch?;
            let rate = lr(batch.index);
            pending.push((batch.index, self.train_step(&batch, rate, bn_train)));
            if pending.len() >= read_every.max(1) || batch.index + 1 == batches {
                settle(&mut pending, &mut sums, true)?;
            }
            for s in &mut sums {
                s.images += batch.items.len();
            }
            let settled = sums[0].batches;
            let running = if settled > 0 {
                let total: f64 = sums.iter().map(|s| s.loc + s.conf).sum();
                total / (settled * sums.len()) as f64
            } else {
                f64::NAN
            };
            report(StepReport {
                batch: batch.index,
                batches,
                images: batch.items.len(),
                lr: rate,
                settled,
                running_loss: running,
            })?;
        }
        settle(&mut pending, &mut sums, true)?;
        Ok(finish(sums, started))
    }

    /// Upstream's validation: BatchNorm in eval mode, no gradients, the mean of each loss term
    /// over the batches of `loader`. `report` sees the number of images of each batch.
    pub fn validate(&self, loader: Loader, report: &mut dyn FnMut(usize)) -> Result<EpochLoss> {
        self.single(self.validate_trials(loader, report))
    }

    /// [`Trainer::validate`] with the loss of every fused trial, in trial order.
    pub fn validate_trials(
        &self,
        loader: Loader,
        report: &mut dyn FnMut(usize),
    ) -> Result<Vec<EpochLoss>> {
        let started = Instant::now();
        let mut sums = vec![EpochLoss::default(); self.detector.trials() as usize];
        let mut terms = Vec::new();
        for batch in loader {
            let batch = batch?;
            let loss = tch::no_grad(|| self.loss(&batch, false));
            terms.push((batch.index, loss));
            for s in &mut sums {
                s.images += batch.items.len();
            }
            report(batch.items.len());
        }
        settle(&mut terms, &mut sums, false)?;
        Ok(finish(sums, started))
    }

    /// The one loss of an ordinary (unfused) detector's epoch.
    fn single(&self, losses: Result<Vec<EpochLoss>>) -> Result<EpochLoss> {
        assert_eq!(
            self.detector.trials(),
            1,
            "a fused detector's epoch has one loss per trial (the *_trials methods)"
        );
        Ok(losses?.remove(0))
    }
}

/// Reads the pending loss values in one transfer and adds each trial's to its `sums`; with
/// `stop_non_finite` (training), stops at the first non-finite one.
fn settle(
    pending: &mut Vec<(usize, Loss)>,
    sums: &mut [EpochLoss],
    stop_non_finite: bool,
) -> Result<()> {
    if pending.is_empty() {
        return Ok(());
    }
    let terms: Vec<Tensor> = pending
        .iter()
        .flat_map(|(_, l)| [l.loc.shallow_clone(), l.conf.shallow_clone()])
        .collect();
    let values = Vec::<f64>::try_from(
        &Tensor::cat(&terms, 0)
            .to_kind(Kind::Double)
            .to_device(Device::Cpu),
    )?;
    let k = sums.len();
    for ((batch, _), v) in pending.drain(..).zip(values.chunks_exact(2 * k)) {
        let (locs, confs) = v.split_at(k);
        for (trial, (&loc, &conf)) in locs.iter().zip(confs).enumerate() {
            if stop_non_finite && !(loc.is_finite() && conf.is_finite()) {
                let trial = (k > 1).then_some(trial);
                return Err(NonFiniteLoss {
                    batch,
                    trial,
                    loc,
                    conf,
                }
                .into());
            }
        }
        for (s, (&loc, &conf)) in sums.iter_mut().zip(locs.iter().zip(confs)) {
            s.loc += loc;
            s.conf += conf;
            s.batches += 1;
        }
    }
    Ok(())
}

fn finish(mut sums: Vec<EpochLoss>, started: Instant) -> Vec<EpochLoss> {
    let seconds = started.elapsed().as_secs_f64();
    for sum in &mut sums {
        if sum.batches > 0 {
            sum.loc /= sum.batches as f64;
            sum.conf /= sum.batches as f64;
        }
        sum.seconds = seconds;
    }
    sums
}
