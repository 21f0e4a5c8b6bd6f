//! The two detectors B-FPGM prunes, on tch, and the detection step they share.
//!
//! * [`eresfd`] and [`extd`]: the networks, one file each, variables named by upstream's
//!   state-dict keys; [`layers`]: the conv / BatchNorm / PReLU pieces they are built from.
//! * [`priors`]: anchor configuration (the one home of steps and sizes) and prior boxes.
//! * [`detect`]: decoding, softmax, threshold, NMS and caps.
//! * [`fused`]: several copies of one detector trained as one wider network (the Bayesian
//!   optimisation's trials), and each copy taken back out.
//! * [`Detector`]: what the rest of the crate uses — build or [`Detector::load`] a model of an
//!   [`Arch`], run [`Detector::forward_t`] (raw loc / conf / priors, for training and tests) or
//!   [`Detector::detect`] (upstream's `Detect` rows), and save it as an upstream-loadable
//!   checkpoint.
//!
//! Loading checks the file against the model in both directions: every key the model has (and,
//! for EResFD, every alias upstream's strict `load_state_dict` expects, unless the file names
//! each tensor once, as the uniform baselines do) must be present with the right shape and
//! dtype, and every key in the file must belong to the model. Problems are listed
//! by key name. Values are copied bit for bit (no flush-to-zero of the subnormal weights).

pub mod detect;
pub mod eresfd;
pub mod extd;
pub mod fused;
pub mod layers;
pub mod priors;

#[cfg(test)]
mod parity;

use std::cell::RefCell;
use std::path::Path;

use anyhow::{Context, Result, bail};
use tch::{Device, Tensor, nn};

use crate::tensors::{to_array, to_tensor};
use bfpgm_core::checkpoint::{Schema, StateDict, aliases};
use bfpgm_core::imageio::RgbImage;
use bfpgm_core::zoo::Arch;
use layers::{Conv2d, Scope};
use priors::AnchorConfig;

pub use detect::Detection;

/// Background logits max-pooled into one at level 0 (`cfg.MAXOUT_BG_SIZE`, hard-coded in EXTD).
pub(crate) const MAXOUT_BG: i64 = 3;

/// Per-channel means subtracted from R, G, B (`cfg.img_mean` `[104, 117, 123]`, labelled BGR and
/// applied to the BGR array, then reversed back to RGB order; `docs/upstream.md` §input).
pub const RGB_MEAN: [f32; 3] = [123.0, 117.0, 104.0];

/// The network input for an image: `[1, 3, H, W]` float32 on the CPU, channels R, G, B, each
/// minus [`RGB_MEAN`], no scaling — what upstream's `detect_face` builds at shrink 1. All values
/// are exact integers.
pub fn input_tensor(image: &RgbImage) -> Tensor {
    let (h, w) = (image.height, image.width);
    let mut chw = vec![0f32; 3 * h * w];
    for (i, px) in image.data.chunks_exact(3).enumerate() {
        for c in 0..3 {
            chw[c * h * w + i] = px[c] as f32 - RGB_MEAN[c];
        }
    }
    Tensor::from_slice(&chw).view([1, 3, h as i64, w as i64])
}

/// The heads' outputs before priors are attached. A network of `K` fused trials gives `K·B`
/// rows, trial-major: trial `k`'s predictions for the batch are rows `k·B .. (k+1)·B`.
#[derive(Debug)]
pub struct HeadOutput {
    /// `[K·B, P, 4]` regression offsets.
    pub loc: Tensor,
    /// `[K·B, P, 2]` (background, face) logits.
    pub conf: Tensor,
    /// `(h_k, w_k)` of each level, as the network produced them.
    pub grids: Vec<(i64, i64)>,
}

/// Upstream's train-phase output `(loc, conf, priors)`: what training and parity tests need.
/// Fused trials give `K·B` rows, trial-major, as [`HeadOutput`].
#[derive(Debug)]
pub struct RawOutput {
    /// `[K·B, P, 4]` regression offsets `(dx, dy, dw, dh)`.
    pub loc: Tensor,
    /// `[K·B, P, 2]` (background, face) logits, after the level-0 background max-out.
    pub conf: Tensor,
    /// `[P, 4]` priors `(cx, cy, w, h)`, normalised, on the model's device.
    pub priors: Tensor,
}

/// Applies the loc and conf heads to each level and flattens them upstream's way: NHWC, levels
/// concatenated, anchor `offset_k + i·w_k + j` (`docs/upstream.md` §head). `relu_first` is EResFD's
/// `F.relu` before the heads; level 0's conf has `MAXOUT_BG` background channels max-pooled.
/// The `trials` fused trials' channels are separated here into trial-major rows.
pub(crate) fn run_heads(
    features: &[Tensor],
    loc: &[Conv2d],
    conf: &[Conv2d],
    relu_first: bool,
    trials: i64,
) -> HeadOutput {
    let mut locs = Vec::with_capacity(features.len());
    let mut confs = Vec::with_capacity(features.len());
    let mut grids = Vec::with_capacity(features.len());
    let batch = features[0].size()[0];
    for (k, f) in features.iter().enumerate() {
        let a = if relu_first {
            f.relu()
        } else {
            f.shallow_clone()
        };
        // [B, K, channels, H, W]: each trial's head channels.
        let l = layers::split_trials(&loc[k].forward(&a), trials);
        let mut c = layers::split_trials(&conf[k].forward(&a), trials);
        if k == 0 {
            c = Tensor::cat(
                &[
                    c.narrow(2, 0, MAXOUT_BG).amax([2], true),
                    c.narrow(2, MAXOUT_BG, 1),
                ],
                2,
            );
        }
        let size = l.size();
        grids.push((size[3], size[4]));
        let rows = |t: Tensor| {
            t.permute([1, 0, 3, 4, 2])
                .contiguous()
                .view([trials, batch, -1])
        };
        locs.push(rows(l));
        confs.push(rows(c));
    }
    HeadOutput {
        loc: Tensor::cat(&locs, 2).view([trials * batch, -1, 4]),
        conf: Tensor::cat(&confs, 2).view([trials * batch, -1, 2]),
        grids,
    }
}

#[derive(Debug)]
enum Network {
    Eresfd(Box<eresfd::EResFD>),
    Extd(extd::Extd),
}

/// A face detector of either architecture, with its weights in a `VarStore` whose variable names
/// are upstream's canonical state-dict keys.
#[derive(Debug)]
pub struct Detector {
    arch: Arch,
    vs: nn::VarStore,
    net: Network,
    /// Canonical keys in upstream's `state_dict()` order.
    keys: Vec<String>,
    /// Trials fused into this network (1: an ordinary detector; see [`fused`]).
    trials: i64,
}

impl Detector {
    /// A detector with upstream's training initialisation, ready to train.
    pub fn new(arch: Arch, device: Device) -> Detector {
        Detector::with_trials(arch, device, 1)
    }

    /// `trials` detectors fused into one network (see [`fused`]), each with upstream's training
    /// initialisation.
    pub fn with_trials(arch: Arch, device: Device, trials: i64) -> Detector {
        let vs = nn::VarStore::new(device);
        let order = RefCell::new(Vec::new());
        let net = {
            let scope = Scope::new(vs.root(), &order, trials);
            match arch {
                Arch::Eresfd => {
                    Network::Eresfd(Box::new(eresfd::EResFD::new(&scope, &eresfd::CONFIG)))
                }
                Arch::Extd => Network::Extd(extd::Extd::new(&scope)),
            }
        };
        Detector {
            arch,
            vs,
            net,
            keys: order.into_inner(),
            trials,
        }
    }

    /// Loads a checkpoint of architecture `arch` (a bare state dict, or EXTD-original's
    /// `{'epoch', 'weight'}` wrapper) onto `device`. Errors name the file and every missing,
    /// unexpected or mis-shaped key.
    pub fn load(arch: Arch, path: &Path, device: Device) -> Result<Detector> {
        let sd = StateDict::read(path)?;
        let mut detector = Detector::new(arch, device);
        detector
            .load_state_dict(&sd)
            .with_context(|| format!("{} does not hold usable {arch} weights", path.display()))?;
        Ok(detector)
    }

    /// Copies a state dict into the model after checking it key by key (see the module docs)
    /// against the network's schema, which a test holds equal to the variables built here. A
    /// file that names each EResFD tensor once (the uniform baselines) loads through
    /// [`Schema::normalize`], as upstream's non-strict load does.
    pub fn load_state_dict(&mut self, sd: &StateDict) -> Result<()> {
        let sd = Schema::of(self.arch).normalize(sd)?;
        let vars = self.vs.variables();
        tch::no_grad(|| {
            for key in &self.keys {
                let src = to_tensor(sd.get(key).expect("checked above"));
                let mut dst = vars[key].shallow_clone();
                dst.copy_(&src);
            }
        });
        Ok(())
    }

    /// The weights as upstream's `state_dict()`: canonical keys in registration order and, for
    /// EResFD, every alias key sharing its canonical twin's tensor (920 keys), so upstream's
    /// strict `load_state_dict` accepts a file written from it. Tensors are CPU copies. A fused
    /// detector has no upstream form: take one of its trials ([`Detector::trial`]) first.
    pub fn state_dict(&self) -> StateDict {
        assert_eq!(
            self.trials, 1,
            "the state dict of a fused detector: take one trial first"
        );
        let vars = self.vs.variables();
        let mut entries: Vec<(String, Option<&str>)> = Vec::new();
        for key in &self.keys {
            entries.push((key.clone(), None));
            if let Some(alias) = aliases::alias(self.arch, key) {
                entries.push((alias, Some(key.as_str())));
            }
        }
        entries.sort_by_key(|(k, _)| aliases::file_rank(self.arch, k));
        let mut sd = StateDict::new();
        for (key, twin) in entries {
            match twin {
                None => sd.push(
                    &key,
                    to_array(&vars[&key]).expect("the variables are float32 or int64"),
                ),
                Some(twin) => sd
                    .push_alias(&key, twin)
                    .expect("canonical keys come before their aliases"),
            }
        }
        sd
    }

    /// Saves the weights as a checkpoint upstream can load (see [`Detector::state_dict`]).
    pub fn save(&self, path: &Path) -> Result<()> {
        self.state_dict().write(path)
    }

    /// The network's raw output for a batch `x` `[B, 3, H, W]` with priors for its `H × W`;
    /// `train` selects BatchNorm's training mode (batch statistics, running-statistics updates).
    /// Fused trials give `K·B` rows ([`RawOutput`]).
    pub fn forward_t(&self, x: &Tensor, train: bool) -> RawOutput {
        let heads = self.heads_t(x, train);
        let size = x.size();
        let anchors = self.anchors();
        debug_assert_eq!(heads.grids, anchors.level_sizes(size[2], size[3]));
        let priors =
            priors::prior_boxes(size[2], size[3], &heads.grids, anchors).to_device(x.device());
        RawOutput {
            loc: heads.loc,
            conf: heads.conf,
            priors,
        }
    }

    /// The heads' outputs for a batch, without priors: for callers that make the priors once per
    /// input size (training), since priors are built on the host and copying them to a GPU
    /// every step would make the host wait for it.
    pub fn heads_t(&self, x: &Tensor, train: bool) -> HeadOutput {
        match &self.net {
            Network::Eresfd(n) => n.forward_t(x, train),
            Network::Extd(n) => n.forward_t(x, train),
        }
    }

    /// Upstream's test-phase output for one image `x` `[1, 3, H, W]`: rows `[K, 5]`
    /// `(score, x1, y1, x2, y2)` with normalised boxes, by descending score, `K ≤ 750`, on the
    /// CPU (EXTD's zero padding is not produced).
    pub fn detect_rows(&self, x: &Tensor) -> Result<Tensor> {
        let size = x.size();
        if size.len() != 4 || size[0] != 1 || size[1] != 3 {
            bail!("detection takes one image as [1, 3, H, W], got {size:?}");
        }
        let out = tch::no_grad(|| self.forward_t(&x.to_device(self.device()), false));
        Ok(detect::detect(
            &out.loc,
            &out.conf,
            &out.priors,
            &detect::DETECT,
        ))
    }

    /// [`Detector::detect_rows`] as [`Detection`]s.
    pub fn detect(&self, x: &Tensor) -> Result<Vec<Detection>> {
        Ok(detect::to_detections(&self.detect_rows(x)?))
    }

    /// Number of parameters (`named_parameters()` semantics: buffers excluded).
    pub fn parameter_count(&self) -> u64 {
        self.vs
            .trainable_variables()
            .iter()
            .map(|t| t.numel() as u64)
            .sum()
    }

    /// The architecture.
    pub fn arch(&self) -> Arch {
        self.arch
    }

    /// The number of trials fused into this network (1 for an ordinary detector).
    pub fn trials(&self) -> i64 {
        self.trials
    }

    /// The anchor configuration its priors use.
    pub fn anchors(&self) -> &'static AnchorConfig {
        match self.arch {
            Arch::Eresfd => &priors::ERESFD,
            Arch::Extd => &priors::EXTD,
        }
    }

    /// The device the weights live on.
    pub fn device(&self) -> Device {
        self.vs.device()
    }

    /// The variables, named by canonical state-dict keys (for optimisers and pruning).
    pub fn var_store(&self) -> &nn::VarStore {
        &self.vs
    }

    /// The variables, mutably (to move them or change their kind).
    pub fn var_store_mut(&mut self) -> &mut nn::VarStore {
        &mut self.vs
    }

    /// Canonical keys in upstream's `state_dict()` order.
    pub fn keys(&self) -> &[String] {
        &self.keys
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Kind;

    #[test]
    fn the_input_tensor_is_the_reference_one() {
        // The network input of make_image(320, 320) as CHW float32 bytes, by its hash
        // (docs/upstream.md §reference-outputs, §input).
        let x = input_tensor(&parity::make_image(320, 320));
        assert_eq!(x.size(), [1, 3, 320, 320]);
        let v = Vec::<f32>::try_from(&x.view(-1)).unwrap();
        let bytes: Vec<u8> = v.iter().flat_map(|f| f.to_le_bytes()).collect();
        assert_eq!(
            bfpgm_core::hash::sha256_hex(&bytes),
            "9a5792a86b5663dc17d9d7bf0fcf270c7a52852d847f6e6210803c738b2c0ef9"
        );
        assert_eq!(v.iter().map(|&f| f as f64).sum::<f64>(), 5_398_968.0);
    }

    #[test]
    fn head_grids_follow_the_level_rule() {
        tch::set_num_threads(1);
        for arch in [Arch::Eresfd, Arch::Extd] {
            let d = Detector::new(arch, Device::Cpu);
            for (h, w) in [(1, 1), (5, 9), (127, 129), (250, 333)] {
                let x = Tensor::zeros([1, 3, h, w], tch::kind::FLOAT_CPU);
                let heads = tch::no_grad(|| match &d.net {
                    Network::Eresfd(n) => n.forward_t(&x, false),
                    Network::Extd(n) => n.forward_t(&x, false),
                });
                assert_eq!(heads.grids, d.anchors().level_sizes(h, w), "{arch} {h}x{w}");
            }
        }
    }

    fn counter(d: &Detector, key: &str) -> i64 {
        i64::try_from(&d.var_store().variables()[key]).unwrap()
    }

    #[test]
    fn training_mode_updates_batch_statistics_and_passes_gradients() {
        // (arch, first conv, a BN run once per forward, a BN run six times in EXTD)
        let cases = [
            (
                Arch::Eresfd,
                "base.conv1.0.weight",
                "base.conv1.1",
                "base.m0.layer5.1.res_layer.4",
            ),
            (Arch::Extd, "base.0.0.weight", "base.0.1", "base.2.conv.1"),
        ];
        tch::set_num_threads(1);
        for (arch, conv, bn, other_bn) in cases {
            tch::manual_seed(0);
            let d = Detector::new(arch, Device::Cpu);
            let x = Tensor::randn([2, 3, 64, 80], tch::kind::FLOAT_CPU) * 50.0;
            let before = d.var_store().variables()[&format!("{bn}.running_mean")].copy();

            let _ = tch::no_grad(|| d.forward_t(&x, false));
            assert_eq!(
                counter(&d, &format!("{bn}.num_batches_tracked")),
                0,
                "{arch}: eval mode"
            );

            let out = d.forward_t(&x, true);
            let p = d
                .anchors()
                .level_sizes(64, 80)
                .iter()
                .map(|(h, w)| h * w)
                .sum::<i64>();
            assert_eq!(out.loc.size(), [2, p, 4]);
            assert_eq!(out.conf.size(), [2, p, 2]);
            assert_eq!(out.priors.size(), [p, 4]);
            (out.loc.square().mean(None) + out.conf.square().mean(None)).backward();

            let vars = d.var_store().variables();
            let grad = vars[conv].grad();
            assert!(
                grad.defined() && grad.abs().sum(Kind::Float).double_value(&[]) > 0.0,
                "{arch}: {conv}"
            );
            assert_eq!(
                counter(&d, &format!("{bn}.num_batches_tracked")),
                1,
                "{arch}"
            );
            let after = &vars[&format!("{bn}.running_mean")];
            assert!(!after.equal(&before), "{arch}: running mean not updated");
            match arch {
                // layer5 runs in training (its statistics move) but feeds nothing, so it gets no
                // gradient (docs/upstream.md §pretrain).
                Arch::Eresfd => {
                    assert_eq!(counter(&d, &format!("{other_bn}.num_batches_tracked")), 1);
                    assert!(!vars["base.m0.layer5.0.res_layer.0.weight"].grad().defined());
                }
                // base.2..5 run at six scales, so their BatchNorms count six batches
                // (docs/upstream.md §checkpoint-values).
                Arch::Extd => {
                    assert_eq!(counter(&d, &format!("{other_bn}.num_batches_tracked")), 6)
                }
            }
        }
    }
}
