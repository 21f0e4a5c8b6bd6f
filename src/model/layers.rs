//! The layers both detectors are built from, with PyTorch's parameter names and op choices.
//!
//! Each layer creates its variables through a [`Scope`]: a `nn::Path` that also records the order
//! in which variables are created. That order is upstream's `state_dict()` order (module
//! registration order), which a `VarStore` (a hash map) forgets; checkpoints we write keep it.
//!
//! The forward passes call exactly the ATen ops of `docs/upstream.md` §op-parity (`conv2d`,
//! `batch_norm` with eps 1e-5 and momentum 0.1, `prelu`), so with the same libtorch the results are
//! bit-identical to upstream's. BatchNorm is never folded into the convolution.
//!
//! **Fused trials.** A scope can stack `trials` independent copies of a network into one wider
//! network (horizontal fusion, as HFTA does): every variable's leading dimension is multiplied by
//! `trials` (trial `k` owns rows `k·n .. (k+1)·n`), convolutions multiply their `groups` by
//! `trials` so each trial's filters read only its own channels, and activations carry the trials
//! side by side along channels (`[B, K·C, H, W]`, trial-major). Per-channel layers (BatchNorm,
//! ReLU, resizing, residual sums) need nothing more; the few ops that mix channels or use one
//! scalar for a whole tensor (concatenation, the FPN's fusion weights, PReLU's shared slope, the
//! heads' flattening) go per trial through [`split_trials`] and [`cat_trials`]. With one trial
//! every op and value is the unfused one.

use std::cell::RefCell;

use tch::nn::{Init, Path};
use tch::{Kind, Tensor};

/// A variable-store path that records the creation order of the variables below it, and how
/// many fused trials its variables hold (see the module docs).
#[derive(Clone)]
pub struct Scope<'a> {
    path: Path<'a>,
    order: &'a RefCell<Vec<String>>,
    trials: i64,
}

impl<'a> Scope<'a> {
    /// The root scope of a variable store; `order` receives every full variable name, and every
    /// variable holds `trials` stacked copies (1: an ordinary network).
    pub fn new(path: Path<'a>, order: &'a RefCell<Vec<String>>, trials: i64) -> Scope<'a> {
        assert!(trials >= 1, "a network holds at least one trial");
        Scope {
            path,
            order,
            trials,
        }
    }

    /// A child scope (`parent.name`).
    pub fn sub(&self, name: impl ToString) -> Scope<'a> {
        Scope {
            path: self.path.sub(name.to_string()),
            order: self.order,
            trials: self.trials,
        }
    }

    /// The number of fused trials.
    pub fn trials(&self) -> i64 {
        self.trials
    }

    /// A trainable float32 parameter of one trial's shape `dims`, stacked `trials` times along
    /// its first dimension.
    pub fn param(&self, name: &str, dims: &[i64], init: Init) -> Tensor {
        let mut dims = dims.to_vec();
        dims[0] *= self.trials;
        let t = self.path.var(name, &dims, init);
        self.order.borrow_mut().push(self.path.path(name));
        t
    }

    /// A buffer: saved in the state dict, never trained. One trial's `value`, stacked like a
    /// parameter; a scalar (BatchNorm's batch counter) is one value shared by all trials, which
    /// count the same batches.
    pub fn buffer(&self, name: &str, value: Tensor) -> Tensor {
        let value = if value.dim() > 0 && self.trials > 1 {
            let mut reps = vec![1; value.dim()];
            reps[0] = self.trials;
            value.repeat(reps)
        } else {
            value
        };
        let t = self
            .path
            .add(name, value.to_device(self.path.device()), false);
        self.order.borrow_mut().push(self.path.path(name));
        t
    }
}

/// `[B, K·C, H, W]` activations of `trials` fused trials as `[B, K, C, H, W]` (a view).
pub(crate) fn split_trials(x: &Tensor, trials: i64) -> Tensor {
    let s = x.size();
    x.view([s[0], trials, s[1] / trials, s[2], s[3]])
}

/// `torch.cat(parts, 1)` for each of `trials` fused trials, the results side by side again:
/// trial `k`'s channels of every part, then trial `k + 1`'s. One `cat`, the unfused one for a
/// single trial.
pub(crate) fn cat_trials(parts: &[Tensor], trials: i64) -> Tensor {
    let pieces: Vec<Tensor> = (0..trials)
        .flat_map(|k| {
            parts.iter().map(move |p| {
                let c = p.size()[1] / trials;
                p.narrow(1, k * c, c)
            })
        })
        .collect();
    Tensor::cat(&pieces, 1)
}

/// How a convolution's weights start before training (or before a checkpoint overwrites them).
#[derive(Debug, Clone, Copy)]
pub enum ConvInit {
    /// `N(0, std)` weights, zero bias: what EResFD's training script applies to every conv.
    Normal(f64),
    /// Xavier-uniform weights, zero bias: EXTD's backbone and heads.
    XavierUniform,
    /// PyTorch's `nn.Conv2d` default: `U(±1/sqrt(fan_in))` for weight and bias.
    TorchDefault,
}

/// `nn.Conv2d` with zero padding `k / 2`, dilation 1 (every conv of both models).
#[derive(Debug)]
pub struct Conv2d {
    /// `[K·out, in / groups, k, k]` for `K` fused trials.
    pub weight: Tensor,
    /// `[K·out]`, when the layer has a bias.
    pub bias: Option<Tensor>,
    stride: i64,
    padding: i64,
    groups: i64,
}

/// The shape of a [`Conv2d`].
#[derive(Debug, Clone, Copy)]
pub struct ConvSpec {
    /// Input channels.
    pub cin: i64,
    /// Output channels.
    pub cout: i64,
    /// Square kernel size.
    pub k: i64,
    /// Stride.
    pub stride: i64,
    /// Channel groups (the channel count for depthwise convs).
    pub groups: i64,
    /// Whether the layer has a bias.
    pub bias: bool,
    /// Whether it reads the network's input image. Fused trials share that input, so their
    /// stacked filters all read its three channels: the image is not repeated and `groups` is
    /// not multiplied (the same arithmetic per filter as repeating it with `groups · K`).
    pub input: bool,
}

impl ConvSpec {
    /// A plain convolution without bias.
    pub const fn plain(cin: i64, cout: i64, k: i64, stride: i64) -> ConvSpec {
        ConvSpec {
            cin,
            cout,
            k,
            stride,
            groups: 1,
            bias: false,
            input: false,
        }
    }

    /// The same convolution with a bias.
    pub const fn with_bias(self) -> ConvSpec {
        ConvSpec { bias: true, ..self }
    }

    /// The same convolution, depthwise (one group per input channel).
    pub const fn depthwise(self) -> ConvSpec {
        ConvSpec {
            groups: self.cin,
            ..self
        }
    }

    /// The same convolution, reading the network input (see [`ConvSpec::input`]).
    pub const fn on_input(self) -> ConvSpec {
        ConvSpec {
            input: true,
            ..self
        }
    }
}

impl Conv2d {
    /// Creates `weight` (and `bias`) under `scope`.
    pub fn new(scope: &Scope<'_>, spec: ConvSpec, init: ConvInit) -> Conv2d {
        let fan_in = (spec.cin / spec.groups * spec.k * spec.k) as f64;
        let fan_out = (spec.cout / spec.groups * spec.k * spec.k) as f64;
        let (w_init, b_init) = match init {
            ConvInit::Normal(std) => (
                Init::Randn {
                    mean: 0.0,
                    stdev: std,
                },
                Init::Const(0.0),
            ),
            ConvInit::XavierUniform => {
                let bound = (6.0 / (fan_in + fan_out)).sqrt();
                (
                    Init::Uniform {
                        lo: -bound,
                        up: bound,
                    },
                    Init::Const(0.0),
                )
            }
            ConvInit::TorchDefault => {
                let bound = 1.0 / fan_in.sqrt();
                let u = Init::Uniform {
                    lo: -bound,
                    up: bound,
                };
                (u, u)
            }
        };
        let weight = scope.param(
            "weight",
            &[spec.cout, spec.cin / spec.groups, spec.k, spec.k],
            w_init,
        );
        let bias = spec.bias.then(|| scope.param("bias", &[spec.cout], b_init));
        Conv2d {
            weight,
            bias,
            stride: spec.stride,
            padding: spec.k / 2,
            groups: if spec.input {
                spec.groups
            } else {
                spec.groups * scope.trials()
            },
        }
    }

    /// `F.conv2d`.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        x.conv2d(
            &self.weight,
            self.bias.as_ref(),
            [self.stride, self.stride],
            [self.padding, self.padding],
            [1, 1],
            self.groups,
        )
    }
}

/// `nn.BatchNorm2d`'s eps, upstream's default in every BatchNorm of both models.
pub(crate) const BN_EPS: f64 = 1e-5;
/// `nn.BatchNorm2d`'s running-statistics momentum (default 0.1).
pub(crate) const BN_MOMENTUM: f64 = 0.1;

/// `nn.BatchNorm2d` (affine, tracking running statistics, eps [`BN_EPS`], momentum [`BN_MOMENTUM`]).
#[derive(Debug)]
pub struct BatchNorm2d {
    /// γ.
    pub weight: Tensor,
    /// β.
    pub bias: Tensor,
    running_mean: Tensor,
    running_var: Tensor,
    num_batches_tracked: Tensor,
}

impl BatchNorm2d {
    /// Creates the five state-dict entries; γ starts at `gamma` (EResFD uses 0.5, EXTD 1).
    pub fn new(scope: &Scope<'_>, channels: i64, gamma: f64) -> BatchNorm2d {
        let weight = scope.param("weight", &[channels], Init::Const(gamma));
        let bias = scope.param("bias", &[channels], Init::Const(0.0));
        let running_mean = scope.buffer(
            "running_mean",
            Tensor::zeros([channels], tch::kind::FLOAT_CPU),
        );
        let running_var = scope.buffer(
            "running_var",
            Tensor::ones([channels], tch::kind::FLOAT_CPU),
        );
        let num_batches_tracked = scope.buffer(
            "num_batches_tracked",
            Tensor::zeros([], (Kind::Int64, tch::Device::Cpu)),
        );
        BatchNorm2d {
            weight,
            bias,
            running_mean,
            running_var,
            num_batches_tracked,
        }
    }

    /// Batch statistics (and running-statistics updates) when `train`, running statistics
    /// otherwise — `nn.BatchNorm2d` in `train()` / `eval()` mode.
    pub fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        if train {
            tch::no_grad(|| {
                let mut n = self.num_batches_tracked.shallow_clone();
                let _ = n.g_add_scalar_(1);
            });
        }
        Tensor::batch_norm(
            x,
            Some(&self.weight),
            Some(&self.bias),
            Some(&self.running_mean),
            Some(&self.running_var),
            train,
            BN_MOMENTUM,
            BN_EPS,
            true,
        )
    }
}

/// `nn.PReLU()` with one shared slope (initially 0.25).
#[derive(Debug)]
pub struct PRelu {
    /// The slope, shape `[1]`; one per trial, `[K]`, for `K` fused trials.
    pub weight: Tensor,
}

impl PRelu {
    /// Creates `weight`.
    pub fn new(scope: &Scope<'_>) -> PRelu {
        PRelu {
            weight: scope.param("weight", &[1], Init::Const(0.25)),
        }
    }

    /// `F.prelu`; fused trials each apply their own slope to their channels.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        let trials = self.weight.size()[0];
        if trials == 1 {
            x.prelu(&self.weight)
        } else {
            let per_channel = x.size()[1] / trials;
            x.prelu(&self.weight.repeat_interleave_self_int(per_channel, 0, None))
        }
    }
}
