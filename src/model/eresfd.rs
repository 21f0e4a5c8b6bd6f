//! EResFD, the paper's main detector: 92,208 parameters at `width_mult = 0.0625`.
//!
//! Paper: J. Jeong et al., "EResFD: Rediscovery of the Effectiveness of Standard Convolution for
//! Lightweight Face Detection" (WACV 2024), as pruned by B-FPGM (Kaparinos & Mezaris, WACVW 2025).
//! Upstream: `IDT-ITI/B-FPGM` @ `4c62d4e`, `EResFD-main/models/eresfd.py`, `eresfd_16.py` and
//! `sepfpn.py`, built by `build_model('test', 2, width_mult=0.0625)`. Specification:
//! `docs/upstream.md` §eresfd (layers), §eresfd-fpn, §head (forward pass) and §state-dict.
//!
//! Variables are named by upstream's canonical state-dict keys (`base.conv1.0.weight`,
//! `base.m0.layer6.w1`, `loc.0.bias`, ...); the alias keys are handled by `checkpoint::aliases`.
//! The two upstream quirks of §eresfd-fpn, which the released weights depend on, are reproduced:
//! the FPN builds only five laterals, so its sixth output is the level-4 lateral again, and
//! `layer5` feeds nothing.

use tch::Tensor;

use super::layers::{BatchNorm2d, Conv2d, ConvInit, ConvSpec, Scope, cat_trials, split_trials};
use super::priors::ERESFD as ANCHORS;
use super::{HeadOutput, MAXOUT_BG, run_heads};

/// Channel widths; `int(128 · 0.0625)` and `int(256 · 0.0625)`. Pruned checkpoints keep the
/// shapes (pruned filters are zeros), so every zoo model uses these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EResFDConfig {
    /// Output channels of the stem's first two convs.
    pub stem: i64,
    /// Channels of the encoder, FPN and FEM (`num_features`).
    pub features: i64,
}

/// The configuration of every released EResFD checkpoint.
pub const CONFIG: EResFDConfig = EResFDConfig {
    stem: 8,
    features: 16,
};

/// Training initialisation (`docs/upstream.md` §pretrain): every conv `N(0, 0.01)` with zero bias,
/// BN γ = 0.5, β = 0, FPN fusion weights 0.5.
const CONV_INIT: ConvInit = ConvInit::Normal(0.01);
const BN_GAMMA: f64 = 0.5;
const FUSION_INIT: f64 = 0.5;
/// `FullySepFPN.eps`, added to the fusion denominators (also read by the mobile export).
pub(crate) const FUSION_EPS: f64 = 1e-4;

/// A conv followed by BatchNorm and, optionally, ReLU: upstream's `nn.Sequential(conv, bn[, relu])`
/// pieces, with the conv and BN at the given Sequential indices.
#[derive(Debug)]
struct ConvBn {
    conv: Conv2d,
    bn: BatchNorm2d,
    relu: bool,
}

impl ConvBn {
    fn new(scope: &Scope<'_>, at: [usize; 2], spec: ConvSpec, relu: bool) -> ConvBn {
        ConvBn {
            conv: Conv2d::new(&scope.sub(at[0]), spec, CONV_INIT),
            bn: BatchNorm2d::new(&scope.sub(at[1]), spec.cout, BN_GAMMA),
            relu,
        }
    }

    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let y = self.bn.forward_t(&self.conv.forward(x), train);
        if self.relu { y.relu() } else { y }
    }
}

/// Upstream `ConvBlock`: two 3×3 CBR/CB layers plus a shortcut (1×1 conv + BN when the block
/// strides), added with no activation after the sum (§eresfd).
#[derive(Debug)]
struct ConvBlock {
    shortcut: Option<ConvBn>,
    res_a: ConvBn,
    res_b: ConvBn,
}

impl ConvBlock {
    fn new(scope: &Scope<'_>, channels: i64, stride: i64) -> ConvBlock {
        // Upstream registers shortcut_layer before res_layer; the state dict keeps that order.
        let shortcut = (stride == 2).then(|| {
            ConvBn::new(
                &scope.sub("shortcut_layer"),
                [0, 1],
                ConvSpec::plain(channels, channels, 1, 2),
                false,
            )
        });
        let res = scope.sub("res_layer");
        ConvBlock {
            shortcut,
            res_a: ConvBn::new(
                &res,
                [0, 1],
                ConvSpec::plain(channels, channels, 3, stride),
                true,
            ),
            res_b: ConvBn::new(
                &res,
                [3, 4],
                ConvSpec::plain(channels, channels, 3, 1),
                false,
            ),
        }
    }

    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let r = self.res_b.forward_t(&self.res_a.forward_t(x, train), train);
        match &self.shortcut {
            Some(s) => r + s.forward_t(x, train),
            None => r + x,
        }
    }
}

/// An encoder stage (`base.m0.layerK`): a strided ConvBlock, then stride-1 ones.
#[derive(Debug)]
struct Stage(Vec<ConvBlock>);

impl Stage {
    fn new(scope: &Scope<'_>, channels: i64, blocks: usize) -> Stage {
        Stage(
            (0..blocks)
                .map(|i| ConvBlock::new(&scope.sub(i), channels, if i == 0 { 2 } else { 1 }))
                .collect(),
        )
    }

    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        self.0
            .iter()
            .fold(x.shallow_clone(), |y, b| b.forward_t(&y, train))
    }
}

/// Upstream `FullySepFPN` with `sep_idx = 4`, as the "for torch.script" rewrite computes it:
/// five laterals, top-down fusion with learned weights, `itm` convs on levels 1–4 (§eresfd-fpn).
#[derive(Debug)]
struct FullySepFpn {
    /// `[2, 9]` fusion weights (`[2K, 9]`: one pair of rows per fused trial).
    w1: Tensor,
    laterals: Vec<ConvBn>,
    itm: Vec<ConvBn>,
    trials: i64,
}

impl FullySepFpn {
    fn new(scope: &Scope<'_>, channels: i64) -> FullySepFpn {
        let w1 = scope.param("w1", &[2, 9], tch::nn::Init::Const(FUSION_INIT));
        let conv = |list: &str, k: usize, size: i64| {
            ConvBn::new(
                &scope.sub(list).sub(k).sub("conv"),
                [0, 1],
                ConvSpec::plain(channels, channels, size, 1),
                true,
            )
        };
        let laterals = (0..5).map(|k| conv("laterals", k, 1)).collect();
        let itm = (0..4).map(|k| conv("itm", k, 3)).collect();
        FullySepFpn {
            w1,
            laterals,
            itm,
            trials: scope.trials(),
        }
    }

    /// `[S0..S4]` → the six pyramid outputs `[T0, O1, O2, O3, O4, L4]`.
    fn forward_t(&self, s: &[Tensor], train: bool) -> Vec<Tensor> {
        let k = self.trials;
        let wr = self.w1.relu().view([k, 2, 9]);
        let wn = &wr / (wr.sum_dim_intlist(1, true, None) + FUSION_EPS);
        // Column `c` of each trial's weights, shaped to scale that trial's channels.
        let column = |c: i64| {
            let row = |r: i64| wn.select(1, r).select(1, c).view([1, k, 1, 1, 1]);
            (row(0), row(1))
        };
        // (a·x + b·y) / ((a + b) + eps), with `y` resized to `x` by nearest neighbour when needed.
        let fuse = |x: &Tensor, y: &Tensor, c: i64| {
            let (a, b) = column(c);
            let (xs, ys) = (split_trials(x, k), split_trials(y, k));
            ((&a * xs + &b * ys) / ((&a + &b) + FUSION_EPS)).reshape(x.size())
        };
        let td = |lat: &Tensor, target: &Tensor, c: i64| {
            let size = lat.size();
            fuse(
                lat,
                &target.upsample_nearest2d([size[2], size[3]], None, None),
                c,
            )
        };
        let l: Vec<Tensor> = self
            .laterals
            .iter()
            .zip(s)
            .map(|(lat, x)| lat.forward_t(x, train))
            .collect();
        // `w1[:, 4]` is a negative subnormal in every released checkpoint, so after the ReLU
        // H0 is all zeros; it is computed like any other value, never special-cased.
        let h0 = td(&l[4], &l[4], 4);
        let t3 = td(&l[3], &s[4], 3);
        let t2 = td(&l[2], &t3, 2);
        let t1 = td(&l[1], &t2, 1);
        let t0 = td(&l[0], &t1, 0);
        let o1 = fuse(&self.itm[0].forward_t(&t1, train), &s[1], 5);
        let o2 = fuse(&self.itm[1].forward_t(&t2, train), &s[2], 6);
        let o3 = fuse(&self.itm[2].forward_t(&t3, train), &s[3], 7);
        let o4 = fuse(&self.itm[3].forward_t(&h0, train), &s[4], 8);
        let o5 = l[4].shallow_clone();
        vec![t0, o1, o2, o3, o4, o5]
    }
}

/// Upstream `CPM3_BN` (the FEM of `layer7..12`): three chained CBR branches, concatenated
/// (§eresfd).
#[derive(Debug)]
struct Cpm3Bn {
    branch1: ConvBn,
    branch2: [ConvBn; 2],
    branch3: [ConvBn; 2],
    trials: i64,
}

impl Cpm3Bn {
    fn new(scope: &Scope<'_>, c: i64) -> Cpm3Bn {
        let cbr = |name: &str, at: [usize; 2], cin: i64, cout: i64| {
            ConvBn::new(&scope.sub(name), at, ConvSpec::plain(cin, cout, 3, 1), true)
        };
        Cpm3Bn {
            branch1: cbr("res_branch1", [0, 1], c, c / 2),
            branch2: [
                cbr("res_branch2", [0, 1], c / 2, c / 4),
                cbr("res_branch2", [3, 4], c / 4, c / 4),
            ],
            branch3: [
                cbr("res_branch3", [0, 1], c / 4, c / 4),
                cbr("res_branch3", [3, 4], c / 4, c / 4),
            ],
            trials: scope.trials(),
        }
    }

    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let r1 = self.branch1.forward_t(x, train);
        let r2 = self.branch2[1].forward_t(&self.branch2[0].forward_t(&r1, train), train);
        let r3 = self.branch3[1].forward_t(&self.branch3[0].forward_t(&r2, train), train);
        cat_trials(&[r1, r2, r3], self.trials)
    }
}

/// The EResFD network: stem, encoder, FPN, FEMs and the 1×1 heads.
#[derive(Debug)]
pub struct EResFD {
    conv1: ConvBn,
    conv2: ConvBn,
    conv3: ConvBn,
    conv4: ConvBlock,
    /// `layer1..layer5`; `layer5` only runs in training mode (it affects no output, but upstream
    /// runs it, which updates its BatchNorm statistics).
    stages: Vec<Stage>,
    fpn: FullySepFpn,
    fem: Vec<Cpm3Bn>,
    loc: Vec<Conv2d>,
    conf: Vec<Conv2d>,
    trials: i64,
}

impl EResFD {
    /// Creates the variables under `scope` in upstream's registration order.
    pub fn new(scope: &Scope<'_>, cfg: &EResFDConfig) -> EResFD {
        let base = scope.sub("base");
        let f = cfg.features;
        let conv1 = ConvBn::new(
            &base.sub("conv1"),
            [0, 1],
            ConvSpec::plain(3, cfg.stem, 5, 4).on_input(),
            false,
        );
        let conv2 = ConvBn::new(
            &base.sub("conv2"),
            [0, 1],
            ConvSpec::plain(cfg.stem, cfg.stem, 3, 1),
            true,
        );
        let conv3 = ConvBn::new(
            &base.sub("conv3"),
            [0, 1],
            ConvSpec::plain(cfg.stem, f, 3, 1),
            true,
        );
        let conv4 = ConvBlock::new(&base.sub("conv4"), f, 1);
        let m0 = base.sub("m0");
        let stages = [3, 3, 3, 2, 2]
            .iter()
            .enumerate()
            .map(|(i, &blocks)| Stage::new(&m0.sub(format!("layer{}", i + 1)), f, blocks))
            .collect();
        let fpn = FullySepFpn::new(&m0.sub("layer6"), f);
        let fem = (0..ANCHORS.levels())
            .map(|k| Cpm3Bn::new(&m0.sub(format!("layer{}", k + 7)), f))
            .collect();
        let head = |name: &str, k: usize| {
            let classes = match (name, k) {
                ("loc", _) => 4,
                (_, 0) => MAXOUT_BG + 1,
                _ => 2,
            };
            Conv2d::new(
                &scope.sub(name).sub(k),
                ConvSpec::plain(f, classes, 1, 1).with_bias(),
                CONV_INIT,
            )
        };
        let loc = (0..ANCHORS.levels()).map(|k| head("loc", k)).collect();
        let conf = (0..ANCHORS.levels()).map(|k| head("conf", k)).collect();
        EResFD {
            conv1,
            conv2,
            conv3,
            conv4,
            stages,
            fpn,
            fem,
            loc,
            conf,
            trials: scope.trials(),
        }
    }

    /// The six pyramid levels (FPN outputs `[T0, O1, O2, O3, O4, L4]`, before the FEMs).
    fn pyramid_t(&self, x: &Tensor, train: bool) -> Vec<Tensor> {
        let mut y = self.conv1.forward_t(x, train);
        y = self.conv2.forward_t(&y, train);
        y = self.conv3.forward_t(&y, train);
        let mut s = vec![self.conv4.forward_t(&y, train)];
        for stage in &self.stages[..4] {
            let next = stage.forward_t(s.last().expect("S0 exists"), train);
            s.push(next);
        }
        if train {
            let _ = self.stages[4].forward_t(&s[4], train);
        }
        self.fpn.forward_t(&s, train)
    }

    /// The six head inputs (FEM outputs `F0..F5`, before the head ReLU) for `x` `[B, 3, H, W]`.
    pub fn features_t(&self, x: &Tensor, train: bool) -> Vec<Tensor> {
        self.pyramid_t(x, train)
            .iter()
            .zip(&self.fem)
            .map(|(p, fem)| fem.forward_t(p, train))
            .collect()
    }

    /// Raw head outputs for `x` `[B, 3, H, W]`: loc `[K·B, P, 4]` and conf logits `[K·B, P, 2]`
    /// of the `K` fused trials after the level-0 background max-out, anchors in order level,
    /// row, column (§head).
    pub fn forward_t(&self, x: &Tensor, train: bool) -> HeadOutput {
        // The ReLU is a no-op on the non-negative FEM output, kept for op parity (§head).
        run_heads(
            &self.features_t(x, train),
            &self.loc,
            &self.conf,
            true,
            self.trials,
        )
    }
}

#[cfg(test)]
mod tests {
    use tch::Device;

    use crate::model::parity::{make_image, reference};
    use crate::model::{Detector, Network, input_tensor};
    use bfpgm_core::testutil::mirror_file;
    use bfpgm_core::zoo::Arch;

    /// Upstream bug (`docs/upstream.md` §eresfd-fpn): the FPN's sixth output is the level-4 lateral
    /// again, on the level-4 grid, and `w1[:, 4]` (a negative subnormal) zeroes the high-level
    /// top-down path. The released weights were trained with both, so both are reproduced.
    #[test]
    fn upstream_fpn_repeats_level_4_as_the_sixth_level() {
        tch::set_num_threads(1);
        let Some(path) = mirror_file("EResFD-original.pth") else {
            return;
        };
        let (Some(o4), Some(o5)) = (
            reference("eresfd-original_320x320_fpnout_L4.npy"),
            reference("eresfd-original_320x320_fpnout_L5.npy"),
        ) else {
            return;
        };
        let d = Detector::load(Arch::Eresfd, &path, Device::Cpu).unwrap();
        let Network::Eresfd(net) = &d.net else {
            unreachable!("an EResFD detector")
        };
        let w1 = &net.fpn.w1;
        assert!(
            w1.get(0).get(4).double_value(&[]) < 0.0 && w1.get(1).get(4).double_value(&[]) < 0.0
        );
        let x = input_tensor(&make_image(320, 320));
        let levels = tch::no_grad(|| net.pyramid_t(&x, false));
        assert_eq!(levels[4].size(), levels[5].size());
        assert_eq!(levels[5].size(), [1, 16, 5, 5]);
        for (ours, theirs) in [(&levels[4], &o4), (&levels[5], &o5)] {
            let d = (ours - theirs).abs().max().double_value(&[]);
            assert!(d <= 1e-4, "pyramid level differs by {d}");
        }
    }
}
