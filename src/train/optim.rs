//! Optimisers and learning-rate schedules, written on tensors so their state can be saved and
//! restored exactly.
//!
//! * [`FlatParams`] moves every parameter of a [`Detector`] into one contiguous buffer (each
//!   variable becomes a view of it, through `set_data`, so the model code is unchanged) and does
//!   the same for their gradients. An optimiser step is then a handful of element-wise kernels
//!   over ~100 k floats instead of a few kernels per tensor for hundreds of tensors, which is
//!   what keeps a CUDA step short. On CUDA the 4-D weights can be laid out channels-last.
//!   Every parameter starts on a [`SLOT_ALIGN`] boundary, as a tensor of its own would: CUDA
//!   kernels that load several floats at once fault ("misaligned address") on a view that
//!   starts at an arbitrary float, which the first H100 run of the training showed. The padding
//!   between slots is zero, receives no gradient and is never updated.
//! * A parameter that never receives a gradient (EResFD's `base.m0.layer5`, whose output is
//!   unused) is skipped entirely, as `torch.optim` skips parameters whose `.grad` is `None`:
//!   no weight decay, no moment update. Which ones those are is found once, by a probe backward.
//! * [`Optimizer`] is `torch.optim.Adam` (coupled L2 weight decay, bias correction, `lerp` for
//!   the first moment) or `torch.optim.SGD` (momentum with the first-step copy, dampening,
//!   Nesterov), with an optional mask of parameters that must not change (fine-tuning freezes
//!   the pruned convolutions, `docs/upstream.md` §finetune) and an optional on-device "skip this
//!   step" flag for mixed precision.
//! * [`GradScaler`] is `torch.cuda.amp.GradScaler`'s dynamic loss scale, on the device.
//! * [`LrSchedule`] holds the two step schedules upstream uses, as pure functions.

use anyhow::{Context, Result, bail, ensure};
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

use crate::model::Detector;
use crate::tensors::{to_array, to_tensor};
use bfpgm_core::checkpoint::{Array, Data, StateDict, is_buffer};

/// Which optimiser, with its own hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "lowercase")]
pub enum OptimizerKind {
    /// `torch.optim.Adam` (not AdamW).
    Adam {
        /// First-moment decay.
        beta1: f64,
        /// Second-moment decay.
        beta2: f64,
        /// Added to the denominator.
        eps: f64,
    },
    /// `torch.optim.SGD`.
    Sgd {
        /// Momentum factor (0 for none).
        momentum: f64,
        /// Dampening of the momentum update.
        dampening: f64,
        /// Nesterov momentum.
        nesterov: bool,
    },
}

/// An optimiser and its base learning rate and weight decay.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct OptimConfig {
    /// The optimiser.
    pub kind: OptimizerKind,
    /// Learning rate before any schedule.
    pub lr: f64,
    /// Coupled L2 weight decay: `weight_decay · θ` is added to the gradient.
    pub weight_decay: f64,
}

impl OptimConfig {
    /// `main_pretrain.py`: Adam, lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight decay 5e-4.
    pub const ERESFD_PRETRAIN: OptimConfig = OptimConfig {
        kind: OptimizerKind::Adam {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        },
        lr: 1e-3,
        weight_decay: 5e-4,
    };

    /// `main_train.py` (EXTD): SGD, lr 1e-3, momentum 0.9, weight decay 5e-4.
    pub const EXTD_PRETRAIN: OptimConfig = OptimConfig {
        kind: OptimizerKind::Sgd {
            momentum: 0.9,
            dampening: 0.0,
            nesterov: false,
        },
        lr: 1e-3,
        weight_decay: 5e-4,
    };
}

/// A step learning-rate schedule: the base rate times `gamma` per milestone passed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "every", rename_all = "lowercase")]
pub enum LrSchedule {
    /// Milestones in iterations (batches since the start of the run), checked before each batch
    /// as upstream's pre-training does (`if iteration in cfg.LR_STEPS`).
    Iterations {
        /// Iterations at which the rate is multiplied by `gamma`.
        milestones: Vec<u64>,
        /// The factor.
        gamma: f64,
    },
    /// Milestones in epochs (`MultiStepLR`-like, as SFP and fine-tuning use).
    Epochs {
        /// Epochs from which the rate is multiplied by `gamma`.
        milestones: Vec<u32>,
        /// The factor.
        gamma: f64,
    },
}

impl LrSchedule {
    /// EResFD pre-training: ×0.1 at iterations 250 k, 300 k, 320 k. A full run is about
    /// 805 × 300 = 241.5 k iterations, so the rate never decays (`docs/upstream.md` §pretrain).
    pub fn eresfd_pretrain() -> LrSchedule {
        LrSchedule::Iterations {
            milestones: vec![250_000, 300_000, 320_000],
            gamma: 0.1,
        }
    }

    /// EXTD pre-training: ×0.1 at iterations 240 k and 360 k (`docs/upstream.md` §pretrain).
    pub fn extd_pretrain() -> LrSchedule {
        LrSchedule::Iterations {
            milestones: vec![240_000, 360_000],
            gamma: 0.1,
        }
    }

    /// The learning rate of the batch at `iteration` (0-based, counted over the run) in `epoch`:
    /// `base · gamma^k` with `k` the milestones already reached (`args.lr * gamma ** step`).
    pub fn lr(&self, base: f64, epoch: u32, iteration: u64) -> f64 {
        let (k, gamma) = match self {
            LrSchedule::Iterations { milestones, gamma } => (
                milestones.iter().filter(|&&m| m <= iteration).count(),
                *gamma,
            ),
            LrSchedule::Epochs { milestones, gamma } => {
                (milestones.iter().filter(|&&m| m <= epoch).count(), *gamma)
            }
        };
        base * gamma.powf(k as f64)
    }
}

/// Slot alignment in floats: 512 bytes, the granularity of libtorch's CUDA caching allocator, so a
/// parameter view is aligned like a separately allocated tensor.
pub const SLOT_ALIGN: i64 = 128;

/// Where one parameter lives in the flat buffers.
#[derive(Debug, Clone)]
struct Slot {
    key: String,
    shape: Vec<i64>,
    offset: i64,
    numel: i64,
    channels_last: bool,
    /// Whether back-propagation reaches it (see the module docs).
    reachable: bool,
}

/// A detector's parameters and gradients in two flat buffers (see the module docs).
#[derive(Debug)]
pub struct FlatParams {
    slots: Vec<Slot>,
    /// All parameters, `[n]` float32; the model's variables are views of it.
    pub data: Tensor,
    /// Their gradients, `[n]`; back-propagation accumulates into it, so zero it before each step.
    pub grad: Tensor,
}

impl FlatParams {
    /// Moves `detector`'s parameters (canonical keys, buffers excluded) into flat buffers, with
    /// 4-D weights channels-last when asked, and links the gradients of every parameter that
    /// back-propagation reaches.
    pub fn new(detector: &Detector, channels_last: bool) -> FlatParams {
        let device = detector.device();
        let vars = detector.var_store().variables();
        let keys: Vec<&String> = detector.keys().iter().filter(|k| !is_buffer(k)).collect();
        let mut slots = Vec::with_capacity(keys.len());
        let mut offset = 0;
        for key in &keys {
            let t = &vars[*key];
            let numel = t.numel() as i64;
            slots.push(Slot {
                key: key.to_string(),
                shape: t.size(),
                offset,
                numel,
                channels_last: channels_last && t.dim() == 4,
                reachable: false,
            });
            offset += (numel as u64).div_ceil(SLOT_ALIGN as u64) as i64 * SLOT_ALIGN;
        }
        let data = Tensor::zeros([offset], (Kind::Float, device));
        let grad = Tensor::zeros([offset], (Kind::Float, device));
        let mut flat = FlatParams { slots, data, grad };
        tch::no_grad(|| {
            for (i, key) in keys.iter().enumerate() {
                let view = flat.view(&flat.data, i);
                let mut var = vars[*key].shallow_clone();
                let mut dst = view.shallow_clone();
                dst.copy_(&var);
                var.set_data(&view);
            }
        });
        // Probe: one backward pass of an eval-mode forward (no statistics change) shows which
        // parameters receive a gradient; those get their `.grad` pointed into the flat buffer.
        let x = Tensor::zeros([1, 3, 64, 64], (Kind::Float, device));
        let out = detector.forward_t(&x, false);
        (out.loc.sum(Kind::Float) + out.conf.sum(Kind::Float)).backward();
        for (i, key) in keys.iter().enumerate() {
            let mut g = vars[*key].grad();
            if g.defined() {
                flat.slots[i].reachable = true;
                g.set_data(&flat.view(&flat.grad, i));
            }
        }
        let _ = flat.grad.zero_();
        flat
    }

    /// Slot `i` of a flat buffer as a tensor of the parameter's shape (and layout).
    fn view(&self, buffer: &Tensor, i: usize) -> Tensor {
        let s = &self.slots[i];
        if s.channels_last {
            let (c, h, w) = (s.shape[1], s.shape[2], s.shape[3]);
            buffer.as_strided(s.shape.as_slice(), [c * h * w, 1, w * c, c], s.offset)
        } else {
            buffer.narrow(0, s.offset, s.numel).view(s.shape.as_slice())
        }
    }

    /// Number of elements of the flat buffers, padding included.
    pub fn len(&self) -> i64 {
        self.data.size()[0]
    }

    /// Whether there are no parameters.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The keys of the parameters no gradient reaches.
    pub fn unreachable(&self) -> Vec<&str> {
        self.slots
            .iter()
            .filter(|s| !s.reachable)
            .map(|s| s.key.as_str())
            .collect()
    }

    /// `[n]` bool: elements the optimiser updates — reachable parameters not `frozen`; never
    /// the padding between slots.
    pub fn update_mask(&self, frozen: &dyn Fn(&str) -> bool) -> Tensor {
        let mut mask = vec![false; self.len() as usize];
        for s in &self.slots {
            if s.reachable && !frozen(&s.key) {
                let start = s.offset as usize;
                mask[start..start + s.numel as usize].fill(true);
            }
        }
        Tensor::from_slice(&mask).to_device(self.data.device())
    }
}

/// The moments of an optimiser, flat like the parameters.
#[derive(Debug)]
enum Moments {
    Adam { exp_avg: Tensor, exp_avg_sq: Tensor },
    Sgd { momentum_buffer: Tensor },
}

/// `torch.optim.Adam` or `SGD` over [`FlatParams`] (see the module docs).
#[derive(Debug)]
pub struct Optimizer {
    cfg: OptimConfig,
    /// Steps taken since the optimiser was created or reset (`state['step']`).
    pub step: u64,
    moments: Moments,
    /// Elements that are updated; `None` means all of them.
    mask: Option<Tensor>,
}

impl Optimizer {
    /// A fresh optimiser (zero moments, step 0) that updates every reachable parameter.
    pub fn new(cfg: OptimConfig, params: &FlatParams) -> Optimizer {
        let zeros = || Tensor::zeros_like(&params.data);
        let moments = match cfg.kind {
            OptimizerKind::Adam { .. } => Moments::Adam {
                exp_avg: zeros(),
                exp_avg_sq: zeros(),
            },
            OptimizerKind::Sgd { .. } => Moments::Sgd {
                momentum_buffer: zeros(),
            },
        };
        let mut opt = Optimizer {
            cfg,
            step: 0,
            moments,
            mask: None,
        };
        opt.set_frozen(params, &|_| false);
        opt
    }

    /// Freezes the parameters whose keys `frozen` accepts: they keep their values and moments,
    /// as parameters the optimiser does not hold (`docs/upstream.md` §finetune).
    pub fn set_frozen(&mut self, params: &FlatParams, frozen: &dyn Fn(&str) -> bool) {
        let mask = params.update_mask(frozen);
        let all = mask.all().int64_value(&[]) != 0;
        self.mask = (!all).then_some(mask);
    }

    /// Freezes single elements: where `frozen` (`[n]` bool over the flat buffer) is true, values
    /// and moments stay as they are; every other reachable element trains. Fine-tuning with fixed
    /// pruning masks freezes exactly the zeroed filters this way.
    pub fn set_frozen_elements(&mut self, params: &FlatParams, frozen: &Tensor) {
        let mask = params
            .update_mask(&|_| false)
            .logical_and(&frozen.logical_not());
        let all = mask.all().int64_value(&[]) != 0;
        self.mask = (!all).then_some(mask);
    }

    /// Forgets the moments and the step count: a new optimiser over the same parameters (SFP
    /// creates one every epoch, `docs/upstream.md` §sfp).
    pub fn reset(&mut self) {
        self.step = 0;
        match &mut self.moments {
            Moments::Adam {
                exp_avg,
                exp_avg_sq,
            } => {
                let _ = exp_avg.zero_();
                let _ = exp_avg_sq.zero_();
            }
            Moments::Sgd { momentum_buffer } => {
                let _ = momentum_buffer.zero_();
            }
        }
    }

    /// The configuration.
    pub fn config(&self) -> &OptimConfig {
        &self.cfg
    }

    /// One step with the gradients in `params.grad` at learning rate `lr`. `apply`, a bool scalar
    /// on the device, skips the step where it is false (an overflowed mixed-precision step),
    /// without waiting for the device.
    pub fn step(&mut self, params: &FlatParams, lr: f64, apply: Option<&Tensor>) {
        self.step += 1;
        let t = self.step as f64;
        let wd = self.cfg.weight_decay;
        let keep = match (&self.mask, apply) {
            (None, None) => None,
            (Some(m), None) => Some(m.shallow_clone()),
            (None, Some(a)) => Some(a.shallow_clone()),
            (Some(m), Some(a)) => Some(m.logical_and(a)),
        };
        tch::no_grad(|| {
            let p = &params.data;
            let g = if wd != 0.0 {
                &params.grad + p * wd
            } else {
                params.grad.shallow_clone()
            };
            let commit = |state: &mut Tensor, new: Tensor| {
                let new = match &keep {
                    Some(k) => new.where_self(k, state),
                    None => new,
                };
                state.copy_(&new);
            };
            let update = match (&mut self.moments, self.cfg.kind) {
                (
                    Moments::Adam {
                        exp_avg,
                        exp_avg_sq,
                    },
                    OptimizerKind::Adam { beta1, beta2, eps },
                ) => {
                    let m = exp_avg.lerp(&g, 1.0 - beta1);
                    let v = &*exp_avg_sq * beta2 + (&g * &g) * (1.0 - beta2);
                    let bias1 = 1.0 - beta1.powf(t);
                    let bias2 = 1.0 - beta2.powf(t);
                    let denom = v.sqrt() / bias2.sqrt() + eps;
                    let update = (&m / &denom) * (lr / bias1);
                    commit(exp_avg, m);
                    commit(exp_avg_sq, v);
                    update
                }
                (
                    Moments::Sgd { momentum_buffer },
                    OptimizerKind::Sgd {
                        momentum,
                        dampening,
                        nesterov,
                    },
                ) => {
                    if momentum == 0.0 {
                        &g * lr
                    } else {
                        let buf = if t == 1.0 {
                            g.copy()
                        } else {
                            &*momentum_buffer * momentum + &g * (1.0 - dampening)
                        };
                        let d = if nesterov {
                            &g + &buf * momentum
                        } else {
                            buf.copy()
                        };
                        commit(momentum_buffer, buf);
                        d * lr
                    }
                }
                _ => unreachable!("moments are created for the configured optimiser"),
            };
            let update = match &keep {
                Some(k) => update.where_self(k, &Tensor::zeros([], (Kind::Float, p.device()))),
                None => update,
            };
            let mut p = p.shallow_clone();
            let _ = p.g_sub_(&update);
        });
    }

    /// The state as tensors named per parameter (`exp_avg.<key>`, `exp_avg_sq.<key>` or
    /// `momentum_buffer.<key>`) plus `step`: a `.pth` file `torch.load` reads.
    pub fn state_dict(&self, params: &FlatParams) -> StateDict {
        let mut sd = StateDict::new();
        sd.push("step", Array::i64(&[], vec![self.step as i64]));
        for (name, buffer) in self.buffers() {
            for (i, s) in params.slots.iter().enumerate() {
                let t = to_array(&params.view(buffer, i)).expect("optimiser state is float32");
                sd.push(&format!("{name}.{}", s.key), t);
            }
        }
        sd
    }

    /// Restores a [`Optimizer::state_dict`]; every tensor must be there with its shape.
    pub fn load_state_dict(&mut self, params: &FlatParams, sd: &StateDict) -> Result<()> {
        let step = sd.get("step").context("no 'step' entry")?;
        let step = match step.data() {
            Data::I64(v) if step.shape().is_empty() => v[0],
            _ => bail!("'step' is not an int64 scalar"),
        };
        self.step = u64::try_from(step).context("a negative step")?;
        let names: Vec<&'static str> = self.buffers().into_iter().map(|(n, _)| n).collect();
        let expected = 1 + names.len() * params.slots.len();
        ensure!(
            sd.len() == expected,
            "{} entries where this optimiser has {expected}; was it saved for another optimiser?",
            sd.len()
        );
        tch::no_grad(|| -> Result<()> {
            for name in names {
                let buffer = self
                    .buffers()
                    .into_iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, b)| b.shallow_clone())
                    .expect("listed above");
                for (i, s) in params.slots.iter().enumerate() {
                    let key = format!("{name}.{}", s.key);
                    let src = sd.get(&key).with_context(|| format!("no '{key}' entry"))?;
                    if src.shape() != s.shape {
                        bail!(
                            "'{key}' has shape {:?}, expected {:?}",
                            src.shape(),
                            s.shape
                        );
                    }
                    params.view(&buffer, i).copy_(&to_tensor(src));
                }
            }
            Ok(())
        })
    }

    fn buffers(&self) -> Vec<(&'static str, &Tensor)> {
        match &self.moments {
            Moments::Adam {
                exp_avg,
                exp_avg_sq,
            } => vec![("exp_avg", exp_avg), ("exp_avg_sq", exp_avg_sq)],
            Moments::Sgd { momentum_buffer } => vec![("momentum_buffer", momentum_buffer)],
        }
    }
}

/// The dynamic loss scale of mixed-precision training (`torch.cuda.amp.GradScaler` defaults:
/// start at 2¹⁶, halve on overflow, double after 2,000 clean steps), kept on the device.
#[derive(Debug)]
pub struct GradScaler {
    /// Current scale, a float32 scalar.
    pub scale: Tensor,
    /// Clean steps since the last change, a float32 scalar.
    pub growth_tracker: Tensor,
}

/// Clean steps before the scale doubles.
const GROWTH_INTERVAL: f64 = 2000.0;

impl GradScaler {
    /// A scaler on `device` at the initial scale.
    pub fn new(device: Device) -> GradScaler {
        GradScaler {
            scale: Tensor::from(65_536f32).to_device(device),
            growth_tracker: Tensor::from(0f32).to_device(device),
        }
    }

    /// Unscales the gradients in place and returns whether they are all finite (a bool scalar
    /// for [`Optimizer::step`]); updates the scale for the next step.
    pub fn unscale(&mut self, grad: &Tensor) -> Tensor {
        tch::no_grad(|| {
            let mut g = grad.shallow_clone();
            let _ = g.g_div_(&self.scale);
            let finite = g.isfinite().all();
            let grown = (&self.growth_tracker + 1.0).ge(GROWTH_INTERVAL);
            let new_scale = self
                .scale
                .where_self(&grown.logical_not(), &(&self.scale * 2.0))
                .where_self(&finite, &(&self.scale * 0.5));
            let new_tracker = (&self.growth_tracker + 1.0)
                .where_self(
                    &grown.logical_not(),
                    &Tensor::zeros_like(&self.growth_tracker),
                )
                .where_self(&finite, &Tensor::zeros_like(&self.growth_tracker));
            self.scale.copy_(&new_scale);
            self.growth_tracker.copy_(&new_tracker);
            finite
        })
    }
}

#[cfg(test)]
mod tests;
