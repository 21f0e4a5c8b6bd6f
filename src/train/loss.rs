//! The MultiBox loss (`layers/modules/multibox_loss.py`, `docs/upstream.md` §loss), batched on the
//! device: smooth-L1 regression on positive priors, cross-entropy on positives and the hardest
//! negatives (3 per positive, per image; an image without positives gets none), both summed and
//! divided by the batch's positive count (the batch size when there is none). Upstream returns
//! the two terms separately and trains on their sum; so do we.
//!
//! Fused trials (`model::fused`) predict `K` rows per image; each trial gets its own two terms,
//! with its own hard negatives, against the one matching of the batch (the priors and the
//! boxes are the same for every trial, so the matching and the normaliser are too).

use tch::{Kind, Reduction, Tensor};

use super::matching::Matched;

/// `cfg.NEG_POS_RATIOS`: hard negatives per positive.
pub const NEG_POS_RATIO: i64 = 3;

/// The two terms of the loss of each trial, as float32 `[K]` on the device (`[1]` for an
/// ordinary detector).
#[derive(Debug)]
pub struct Loss {
    /// `L_loc / N` per trial.
    pub loc: Tensor,
    /// `L_conf / N` per trial.
    pub conf: Tensor,
}

impl Loss {
    /// `L_loc + L_conf` per trial, what upstream back-propagates (α = 1).
    pub fn total(&self) -> Tensor {
        &self.loc + &self.conf
    }
}

/// Per-prior cross-entropy `logsumexp(conf) − conf[target]` of `[K, B, P, 2]` logits against
/// `[B, P]` targets, `[K, B, P]`.
fn cross_entropy(conf: &Tensor, target: &Tensor) -> Tensor {
    let index = target.unsqueeze(0).unsqueeze(3).expand(
        [conf.size()[0], target.size()[0], target.size()[1], 1],
        false,
    );
    conf.logsumexp([3], false) - conf.gather(3, &index, false).squeeze_dim(3)
}

/// The loss of predictions `loc` `[K·B, P, 4]` and `conf` `[K·B, P, 2]` of `K` trials
/// (trial-major rows, `K = 1` for an ordinary detector) against the batch's `B` matched images.
pub fn multibox(loc: &Tensor, conf: &Tensor, matched: &Matched) -> Loss {
    let pos = &matched.positive;
    let (b, p) = (pos.size()[0], pos.size()[1]);
    let k = loc.size()[0] / b;
    let loc = loc.to_kind(Kind::Float).view([k, b, p, 4]);
    let conf = conf.to_kind(Kind::Float).view([k, b, p, 2]);
    let neg_mask = pos.logical_not();
    let per_trial = |t: &Tensor| {
        let dims: Vec<i64> = (1..t.dim() as i64).collect();
        t.sum_dim_intlist(dims.as_slice(), false, Kind::Float)
    };

    // Regression on positives only; elsewhere the difference is zero (and so is its gradient).
    let diff = (&loc - &matched.loc).masked_fill(&neg_mask.unsqueeze(2), 0.0);
    let loss_loc =
        per_trial(&diff.smooth_l1_loss(&Tensor::zeros_like(&diff), Reduction::None, 1.0));

    // Hard negative mining on the per-prior confidence loss, positives set to 0, per trial
    // and image.
    let target = pos.to_kind(Kind::Int64);
    let ce = cross_entropy(&conf, &target);
    let mining = ce.detach().masked_fill(pos, 0.0);
    let order = mining.argsort_stable(true, 2, true);
    let rank = Tensor::zeros([k, b, p], (Kind::Int64, loc.device())).scatter(
        2,
        &order,
        &Tensor::arange(p, (Kind::Int64, loc.device())).expand([k, b, p], false),
    );
    let num_pos = pos.sum_dim_intlist([1i64].as_slice(), true, Kind::Int64);
    let num_neg = (num_pos.shallow_clone() * NEG_POS_RATIO).clamp_max(p - 1);
    let neg = rank.lt_tensor(&num_neg);
    let loss_conf = per_trial(&ce.masked_fill(&neg.logical_or(pos).logical_not(), 0.0));

    let n = num_pos.sum(Kind::Float);
    // Scalars enter as fills, never as host tensors: a host-to-device copy would wait for the GPU.
    let n = n.masked_fill(&n.eq(0.0), b as f64);
    Loss {
        loc: loss_loc / &n,
        conf: loss_conf / &n,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    fn matched(positive: &[&[bool]], loc: &[&[[f32; 4]]]) -> Matched {
        let b = positive.len() as i64;
        let p = positive[0].len() as i64;
        let flat: Vec<bool> = positive.iter().flat_map(|r| r.iter().copied()).collect();
        let locs: Vec<f32> = loc
            .iter()
            .flat_map(|r| r.iter().flatten().copied())
            .collect();
        Matched {
            positive: Tensor::from_slice(&flat).view([b, p]),
            loc: Tensor::from_slice(&locs).view([b, p, 4]),
        }
    }

    fn value(t: &Tensor) -> f64 {
        t.double_value(&[])
    }

    #[test]
    fn a_hand_computed_batch() {
        // Image 0: prior 0 positive, priors 1..4 negative; image 1: no positive.
        let m = matched(
            &[&[true, false, false, false, false], &[false; 5]],
            &[&[[0.5, -2.0, 0.0, 0.25]; 5], &[[0.0; 4]; 5]],
        );
        let loc = Tensor::zeros([2, 5, 4], (Kind::Float, Device::Cpu));
        // Logits (background, face). Negatives' CE = log(1 + e^(face − bg)).
        let conf_rows: [[f32; 2]; 10] = [
            [0.0, 0.0], // positive: CE = ln 2
            [0.0, 1.0], // ln(1 + e)
            [0.0, 3.0], // ln(1 + e^3): the hardest
            [0.0, -1.0],
            [0.0, 2.0], // second hardest
            [0.0, 9.0], // image 1: very hard but the image has no positive
            [0.0, 9.0],
            [0.0, 9.0],
            [0.0, 9.0],
            [0.0, 9.0],
        ];
        let conf = Tensor::from_slice(&conf_rows.concat()).view([2, 5, 2]);
        let loss = multibox(&loc, &conf, &m);
        // Smooth L1 of (0.5, −2, 0, 0.25): 0.125 + 1.5 + 0 + 0.03125; N = 1.
        assert!((value(&loss.loc) - 1.65625).abs() < 1e-6);
        // One positive → three negatives: priors 2, 4, 1 (not 3).
        let ln1p = |x: f64| (1.0 + x.exp()).ln();
        let expected = 2f64.ln() + ln1p(3.0) + ln1p(2.0) + ln1p(1.0);
        assert!(
            (value(&loss.conf) - expected).abs() < 1e-5,
            "{}",
            value(&loss.conf)
        );
        assert!((value(&loss.total()) - 1.65625 - expected).abs() < 1e-5);
    }

    #[test]
    fn without_positives_the_loss_is_zero_and_normalised_by_the_batch() {
        let m = matched(
            &[&[false; 3], &[false; 3]],
            &[&[[0.0; 4]; 3], &[[0.0; 4]; 3]],
        );
        let conf = Tensor::ones([2, 3, 2], (Kind::Float, Device::Cpu));
        let loss = multibox(
            &Tensor::ones([2, 3, 4], (Kind::Float, Device::Cpu)),
            &conf,
            &m,
        );
        assert_eq!(value(&loss.loc), 0.0);
        assert_eq!(value(&loss.conf), 0.0);
    }

    #[test]
    fn negatives_are_capped_at_all_but_one_prior_and_the_normaliser_is_batch_wide() {
        // Image 0: 2 positives of 4 priors → min(6, 3) = 3 negatives... but only 2 negatives
        // exist, and upstream's rank test takes every non-positive. Image 1: 1 positive.
        let m = matched(
            &[&[true, true, false, false], &[true, false, false, false]],
            &[&[[0.0; 4]; 4], &[[0.0; 4]; 4]],
        );
        let conf = Tensor::zeros([2, 4, 2], (Kind::Float, Device::Cpu));
        let loss = multibox(
            &Tensor::zeros([2, 4, 4], (Kind::Float, Device::Cpu)),
            &conf,
            &m,
        );
        // All 8 priors counted, each CE = ln 2, over N = 3 positives.
        assert!((value(&loss.conf) - 8.0 * 2f64.ln() / 3.0).abs() < 1e-6);
    }

    #[test]
    fn fused_trials_get_the_terms_and_negatives_each_would_get_alone() {
        tch::manual_seed(3);
        let (k, b, p) = (3, 2, 50);
        let positive = Tensor::rand([b, p], (Kind::Float, Device::Cpu)).lt(0.1);
        let m = Matched {
            positive,
            loc: Tensor::randn([b, p, 4], (Kind::Float, Device::Cpu)),
        };
        let loc = Tensor::randn([k * b, p, 4], (Kind::Float, Device::Cpu));
        let conf = Tensor::randn([k * b, p, 2], (Kind::Float, Device::Cpu)) * 3.0;
        let fused = multibox(&loc, &conf, &m);
        assert_eq!(fused.loc.size(), [k]);
        for t in 0..k {
            let rows = |x: &Tensor| x.narrow(0, t * b, b);
            let alone = multibox(&rows(&loc), &rows(&conf), &m);
            for (f, a) in [(&fused.loc, &alone.loc), (&fused.conf, &alone.conf)] {
                let (f, a) = (f.double_value(&[t]), value(a));
                assert!(
                    (f - a).abs() <= 1e-6 * a.abs().max(1.0),
                    "trial {t}: {f} vs {a}"
                );
            }
        }
    }

    #[test]
    fn gradients_reach_the_selected_priors_only() {
        let m = matched(
            &[&[true, false, false, false, false]],
            &[&[[1.0, 0.0, 0.0, 0.0]; 5]],
        );
        let loc = Tensor::zeros([1, 5, 4], (Kind::Float, Device::Cpu)).set_requires_grad(true);
        let conf = Tensor::from_slice(&[0f32, 0., 0., 5., 0., 4., 0., 3., 0., 2.])
            .view([1, 5, 2])
            .set_requires_grad(true);
        multibox(&loc, &conf, &m)
            .total()
            .sum(Kind::Float)
            .backward();
        let g = conf
            .grad()
            .abs()
            .sum_dim_intlist([2i64].as_slice(), false, Kind::Float);
        let g = Vec::<f32>::try_from(&g.view([-1])).unwrap();
        // Positive and the 3 hardest negatives (priors 1, 2, 3) get gradient; prior 4 does not.
        assert!(g[..4].iter().all(|&v| v > 0.0), "{g:?}");
        assert_eq!(g[4], 0.0);
        let gl = Vec::<f32>::try_from(&loc.grad().view([-1])).unwrap();
        assert_eq!(gl[..4], [-1.0, 0.0, 0.0, 0.0]);
        assert!(gl[4..].iter().all(|&v| v == 0.0));
    }
}
