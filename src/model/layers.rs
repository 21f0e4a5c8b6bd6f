//! The layers both detectors are built from, with PyTorch's parameter names and op choices.
//!
//! Each layer creates its variables through a [`Scope`]: a `nn::Path` that also records the order
//! in which variables are created. That order is upstream's `state_dict()` order (module
//! registration order), which a `VarStore` (a hash map) forgets; checkpoints we write keep it.
//!
//! The forward passes call exactly the ATen ops of `eresfd.md` §10 (`conv2d`, `batch_norm` with
//! eps 1e-5 and momentum 0.1, `prelu`), so with the same libtorch the results are bit-identical
//! to upstream's. BatchNorm is never folded into the convolution.

use std::cell::RefCell;

use tch::nn::{Init, Path};
use tch::{Kind, Tensor};

/// A variable-store path that records the creation order of the variables below it.
#[derive(Clone)]
pub struct Scope<'a> {
    path: Path<'a>,
    order: &'a RefCell<Vec<String>>,
}

impl<'a> Scope<'a> {
    /// The root scope of a variable store; `order` receives every full variable name.
    pub fn new(path: Path<'a>, order: &'a RefCell<Vec<String>>) -> Scope<'a> {
        Scope { path, order }
    }

    /// A child scope (`parent.name`).
    pub fn sub(&self, name: impl ToString) -> Scope<'a> {
        Scope {
            path: self.path.sub(name.to_string()),
            order: self.order,
        }
    }

    /// A trainable float32 parameter.
    pub fn param(&self, name: &str, dims: &[i64], init: Init) -> Tensor {
        let t = self.path.var(name, dims, init);
        self.order.borrow_mut().push(self.path.path(name));
        t
    }

    /// A buffer: saved in the state dict, never trained.
    pub fn buffer(&self, name: &str, value: Tensor) -> Tensor {
        let t = self
            .path
            .add(name, value.to_device(self.path.device()), false);
        self.order.borrow_mut().push(self.path.path(name));
        t
    }
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
    /// `[out, in / groups, k, k]`.
    pub weight: Tensor,
    /// `[out]`, when the layer has a bias.
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
            groups: spec.groups,
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
    /// The slope, shape `[1]`.
    pub weight: Tensor,
}

impl PRelu {
    /// Creates `weight`.
    pub fn new(scope: &Scope<'_>) -> PRelu {
        PRelu {
            weight: scope.param("weight", &[1], Init::Const(0.25)),
        }
    }

    /// `F.prelu`.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        x.prelu(&self.weight)
    }
}
