//! EXTD, the paper's second detector: 162,352 parameters, a MobileFaceNet-style backbone whose
//! last four blocks are applied again at every scale.
//!
//! Paper: Y. Yoo, D. Han, S. Yun, "EXTD: Extremely Tiny Face Detector via Iterative Filter
//! Reuse" (2019), as pruned by B-FPGM (Kaparinos & Mezaris, WACVW 2025). B-FPGM's
//! `EXTD_Pytorch-master/` lacks the model files, so the definition follows
//! `clovaai/EXTD_Pytorch` @ `e99af10`, `EXTD_64.py` and `mobileFacenet_64_PReLU.py`, built by
//! `build_extd('test', 2)`. Specification: `docs/upstream.md` §extd (layers and forward pass),
//! §head and §state-dict. Variables are named by the state-dict keys (`base.2.conv.3.bias`,
//! `upfeat.0.1.weight`, `loc.5.weight`, ...); EXTD has no alias keys.

use tch::Tensor;

use super::layers::{BatchNorm2d, Conv2d, ConvInit, ConvSpec, PRelu, Scope};
use super::priors::EXTD as ANCHORS;
use super::{HeadOutput, MAXOUT_BG, run_heads};

/// Channels of the backbone, upsampling path and heads (`EXTD_64`).
pub const CHANNELS: i64 = 64;
/// `(expansion t, stride)` of `base.1` .. `base.5`.
const BLOCKS: [(i64, i64); 5] = [(1, 1), (2, 1), (2, 1), (4, 1), (4, 2)];
/// Times `base.2..base.5` run after the first pass: five more scales (§extd).
const REPEATS: usize = 5;

/// Upstream `conv_bn` as `base.0` ("CBP"): 3×3 stride-2 conv, BatchNorm, PReLU.
#[derive(Debug)]
struct Cbp {
    conv: Conv2d,
    bn: BatchNorm2d,
    act: PRelu,
}

impl Cbp {
    fn new(scope: &Scope<'_>) -> Cbp {
        Cbp {
            conv: Conv2d::new(
                &scope.sub(0),
                ConvSpec::plain(3, CHANNELS, 3, 2).on_input(),
                ConvInit::XavierUniform,
            ),
            bn: BatchNorm2d::new(&scope.sub(1), CHANNELS, 1.0),
            act: PRelu::new(&scope.sub(2)),
        }
    }

    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        self.act
            .forward(&self.bn.forward_t(&self.conv.forward(x), train))
    }
}

/// One element of an inverted-residual `conv` Sequential.
#[derive(Debug)]
enum Op {
    Conv(Conv2d),
    Bn(BatchNorm2d),
    Act(PRelu),
}

/// Upstream `InvertedResidual_dwc` ("IR"): 1×1 expansion (when t > 1), depthwise 3×3 with bias,
/// 1×1 projection, BatchNorm after each conv and PReLU after the first two; `x + conv(x)` when
/// the stride is 1, no activation after the sum.
#[derive(Debug)]
struct InvertedResidual {
    ops: Vec<Op>,
    residual: bool,
}

impl InvertedResidual {
    fn new(scope: &Scope<'_>, t: i64, stride: i64) -> InvertedResidual {
        let seq = scope.sub("conv");
        let hidden = CHANNELS * t;
        let mut ops = Vec::new();
        let conv = |ops: &mut Vec<Op>, spec: ConvSpec, init: ConvInit| {
            let at = ops.len();
            ops.push(Op::Conv(Conv2d::new(&seq.sub(at), spec, init)));
            ops.push(Op::Bn(BatchNorm2d::new(&seq.sub(at + 1), spec.cout, 1.0)));
        };
        let act = |ops: &mut Vec<Op>| {
            let at = ops.len();
            ops.push(Op::Act(PRelu::new(&seq.sub(at))));
        };
        // Upstream zeroes this bias: `weights_init` (and MobileFaceNet's own initialisation) set
        // every conv bias to 0, which `ConvInit::XavierUniform` does.
        let depthwise = ConvSpec::plain(hidden, hidden, 3, stride)
            .depthwise()
            .with_bias();
        if t > 1 {
            conv(
                &mut ops,
                ConvSpec::plain(CHANNELS, hidden, 1, 1),
                ConvInit::XavierUniform,
            );
            act(&mut ops);
        }
        conv(&mut ops, depthwise, ConvInit::XavierUniform);
        act(&mut ops);
        conv(
            &mut ops,
            ConvSpec::plain(hidden, CHANNELS, 1, 1),
            ConvInit::XavierUniform,
        );
        InvertedResidual {
            ops,
            residual: stride == 1,
        }
    }

    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let y = self.ops.iter().fold(x.shallow_clone(), |y, op| match op {
            Op::Conv(c) => c.forward(&y),
            Op::Bn(b) => b.forward_t(&y, train),
            Op::Act(a) => a.forward(&y),
        });
        if self.residual { x + y } else { y }
    }
}

/// Upstream `upsample` block (`upfeat.k`): depthwise 3×3 (no bias), 1×1 conv, BatchNorm, ReLU.
#[derive(Debug)]
struct UpFeat {
    depthwise: Conv2d,
    pointwise: Conv2d,
    bn: BatchNorm2d,
}

impl UpFeat {
    fn new(scope: &Scope<'_>) -> UpFeat {
        UpFeat {
            depthwise: Conv2d::new(
                &scope.sub(0),
                ConvSpec::plain(CHANNELS, CHANNELS, 3, 1).depthwise(),
                ConvInit::TorchDefault,
            ),
            pointwise: Conv2d::new(
                &scope.sub(1),
                ConvSpec::plain(CHANNELS, CHANNELS, 1, 1),
                ConvInit::TorchDefault,
            ),
            bn: BatchNorm2d::new(&scope.sub(2), CHANNELS, 1.0),
        }
    }

    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        self.bn
            .forward_t(&self.pointwise.forward(&self.depthwise.forward(x)), train)
            .relu()
    }
}

/// The EXTD network.
#[derive(Debug)]
pub struct Extd {
    stem: Cbp,
    /// `base.1` .. `base.5`; `base.2..5` (indices 1..) are the shared, re-applied blocks.
    blocks: Vec<InvertedResidual>,
    upfeat: Vec<UpFeat>,
    loc: Vec<Conv2d>,
    conf: Vec<Conv2d>,
    trials: i64,
}

impl Extd {
    /// Creates the variables under `scope` in upstream's registration order.
    pub fn new(scope: &Scope<'_>) -> Extd {
        let base = scope.sub("base");
        let stem = Cbp::new(&base.sub(0));
        let blocks = BLOCKS
            .iter()
            .enumerate()
            .map(|(i, &(t, s))| InvertedResidual::new(&base.sub(i + 1), t, s))
            .collect();
        let upfeat = (0..ANCHORS.levels() - 1)
            .map(|k| UpFeat::new(&scope.sub("upfeat").sub(k)))
            .collect();
        let head = |name: &str, k: usize| {
            let out = match (name, k) {
                ("loc", _) => 4,
                (_, 0) => MAXOUT_BG + 1,
                _ => 2,
            };
            Conv2d::new(
                &scope.sub(name).sub(k),
                ConvSpec::plain(CHANNELS, out, 3, 1).with_bias(),
                ConvInit::XavierUniform,
            )
        };
        let loc = (0..ANCHORS.levels()).map(|k| head("loc", k)).collect();
        let conf = (0..ANCHORS.levels()).map(|k| head("conf", k)).collect();
        Extd {
            stem,
            blocks,
            upfeat,
            loc,
            conf,
            trials: scope.trials(),
        }
    }

    /// The six head inputs `[u5, u4, u3, u2, u1, s6]` (levels 0..5) for `x` `[B, 3, H, W]`.
    pub fn features_t(&self, x: &Tensor, train: bool) -> Vec<Tensor> {
        let shared = &self.blocks[1..];
        let mut y = self.stem.forward_t(x, train);
        y = self.blocks[0].forward_t(&y, train);
        let mut s = Vec::with_capacity(REPEATS + 1);
        for _ in 0..=REPEATS {
            y = shared.iter().fold(y, |y, b| b.forward_t(&y, train));
            s.push(y.shallow_clone());
        }
        // Top-down: u1 = UP_0(bilinear(s6 → s5)) + s5, ..., u5 = UP_4(bilinear(u4 → s1)) + s1.
        let mut up = s[REPEATS].shallow_clone();
        let mut levels = vec![up.shallow_clone()];
        for (k, upfeat) in self.upfeat.iter().enumerate() {
            let target = &s[REPEATS - 1 - k];
            let size = target.size();
            let resized = up.upsample_bilinear2d([size[2], size[3]], false, None, None);
            up = upfeat.forward_t(&resized, train) + target;
            levels.push(up.shallow_clone());
        }
        levels.reverse();
        levels
    }

    /// Raw head outputs for `x` `[B, 3, H, W]`: loc `[K·B, P, 4]` and conf logits `[K·B, P, 2]`
    /// of the `K` fused trials after the level-0 background max-out (no ReLU before the heads,
    /// unlike EResFD).
    pub fn forward_t(&self, x: &Tensor, train: bool) -> HeadOutput {
        run_heads(
            &self.features_t(x, train),
            &self.loc,
            &self.conf,
            false,
            self.trials,
        )
    }
}
