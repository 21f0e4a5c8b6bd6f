//! Horizontally fused trials: `K` copies of one detector, each with its own weights, run as one
//! network `K` times as wide (HFTA, Wang et al., MLSys 2021). The Bayesian optimisation trains
//! many pruned copies of one pre-trained model, all of identical shapes (pruned filters are
//! zeroed, not removed); at batch 16 one tiny detector leaves a GPU idle between kernel launches,
//! so `K` trials in one network cost about the launches of one.
//!
//! How the copies are stacked is `layers`' business (its module docs): every variable keeps its
//! upstream key and stacks the trials along its first dimension, so trial `k` of a variable with
//! `n` rows per trial is rows `k·n .. (k+1)·n`. The trials stay strictly independent: each
//! output row, each loss term and each gradient belongs to one trial (the tests below check
//! it for both networks). BatchNorm's batch counter is a scalar that all trials share, as they
//! count the same batches.
//!
//! [`Detector::fuse`] builds a fused network from ordinary detectors (the BO prunes each trial's
//! copy, then fuses them), and [`Detector::trial`] takes one trial back out as an ordinary
//! detector, with its upstream state dict.

use anyhow::{Result, bail, ensure};
use tch::Tensor;

use super::Detector;

/// Trial `k`'s part of a variable of a network of `trials` fused trials: its rows, or the whole
/// of a shared scalar.
fn trial_view(t: &Tensor, k: i64, trials: i64) -> Tensor {
    if t.dim() == 0 {
        t.shallow_clone()
    } else {
        let n = t.size()[0] / trials;
        t.narrow(0, k * n, n)
    }
}

impl Detector {
    /// One network holding `parts` (ordinary detectors of one architecture) as its trials, in
    /// order, on the first part's device: trial `k` starts with part `k`'s weights and running
    /// statistics.
    pub fn fuse(parts: &[Detector]) -> Result<Detector> {
        let Some(first) = parts.first() else {
            bail!("nothing to fuse");
        };
        for p in parts {
            ensure!(
                p.arch == first.arch && p.trials == 1,
                "only ordinary detectors of one architecture fuse"
            );
        }
        let trials = parts.len() as i64;
        let fused = Detector::with_trials(first.arch, first.device(), trials);
        let vars = fused.vs.variables();
        let sources: Vec<_> = parts.iter().map(|p| p.vs.variables()).collect();
        tch::no_grad(|| -> Result<()> {
            for key in &fused.keys {
                let dst = &vars[key];
                if dst.dim() == 0 {
                    let shared = &sources[0][key];
                    if sources.iter().any(|s| !s[key].equal(shared)) {
                        bail!("the trials disagree on {key}, which fused trials share");
                    }
                }
                for (k, src) in sources.iter().enumerate() {
                    trial_view(dst, k as i64, trials).copy_(&src[key]);
                }
            }
            Ok(())
        })?;
        Ok(fused)
    }

    /// Trial `k` as an ordinary detector: a copy of its weights and statistics, on the same
    /// device.
    pub fn trial(&self, k: i64) -> Detector {
        assert!(
            (0..self.trials).contains(&k),
            "trial {k} of {}",
            self.trials
        );
        let one = Detector::new(self.arch, self.device());
        let src = self.vs.variables();
        let dst = one.vs.variables();
        tch::no_grad(|| {
            for key in &self.keys {
                dst[key]
                    .shallow_clone()
                    .copy_(&trial_view(&src[key], k, self.trials));
            }
        });
        one
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensors::to_tensor;
    use bfpgm_core::testutil::mirror_file;
    use bfpgm_core::zoo::Arch;
    use tch::{Device, Kind};

    /// Three different copies of a released model: each weight scaled by its own random
    /// factors, so no two trials compute alike (BatchNorm statistics and the FPN weights too).
    fn three_trials(arch: Arch) -> Option<Vec<Detector>> {
        let file = match arch {
            Arch::Eresfd => "EResFD-original.pth",
            Arch::Extd => "EXTD-original.pth",
        };
        let path = mirror_file(file)?;
        tch::manual_seed(7);
        let parts = (0..3)
            .map(|_| {
                let d = Detector::load(arch, &path, Device::Cpu).unwrap();
                tch::no_grad(|| {
                    for (_, mut t) in d.var_store().variables() {
                        if t.kind() == Kind::Float {
                            let noise = Tensor::randn_like(&t) * 0.2 + 1.0;
                            let _ = t.g_mul_(&noise.abs());
                        }
                    }
                });
                d
            })
            .collect();
        Some(parts)
    }

    fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
        (a - b).abs().max().double_value(&[])
    }

    #[test]
    fn fused_trials_compute_what_each_trial_computes_alone() {
        tch::set_num_threads(1);
        for arch in [Arch::Eresfd, Arch::Extd] {
            let Some(parts) = three_trials(arch) else {
                return;
            };
            let fused = Detector::fuse(&parts).unwrap();
            assert_eq!(fused.trials(), 3);
            let x = Tensor::randn([2, 3, 72, 56], tch::kind::FLOAT_CPU) * 60.0;
            // Eval mode, then a training-mode pass that also moves the running statistics.
            for train in [false, true] {
                let out = tch::no_grad(|| fused.forward_t(&x, train));
                for (k, part) in parts.iter().enumerate() {
                    let alone = tch::no_grad(|| part.forward_t(&x, train));
                    let rows = |t: &Tensor| t.narrow(0, 2 * k as i64, 2);
                    let scale = alone.conf.abs().max().double_value(&[]).max(1.0);
                    let d = max_diff(&rows(&out.loc), &alone.loc)
                        .max(max_diff(&rows(&out.conf), &alone.conf));
                    assert!(d <= 1e-5 * scale, "{arch} trial {k} (train {train}): {d}");
                }
            }
            for (k, part) in parts.iter().enumerate() {
                let theirs = part.state_dict();
                for (key, t) in fused.trial(k as i64).state_dict().iter() {
                    let d = max_diff(&to_tensor(t), &to_tensor(theirs.get(key).unwrap()));
                    assert!(d <= 1e-5, "{arch} trial {k} {key}: {d}");
                }
            }
        }
    }

    #[test]
    fn a_trials_loss_reaches_only_its_own_weights() {
        tch::set_num_threads(1);
        for arch in [Arch::Eresfd, Arch::Extd] {
            let Some(parts) = three_trials(arch) else {
                return;
            };
            let fused = Detector::fuse(&parts).unwrap();
            let x = Tensor::randn([2, 3, 64, 64], tch::kind::FLOAT_CPU) * 60.0;
            let out = fused.forward_t(&x, true);
            let rows = |t: &Tensor| t.narrow(0, 2, 2).square().sum(Kind::Float);
            (rows(&out.loc) + rows(&out.conf)).backward();
            let mut reached = 0;
            for (key, t) in fused.var_store().variables() {
                let g = t.grad();
                if !g.defined() {
                    continue;
                }
                for k in [0, 2] {
                    let other = trial_view(&g, k, 3).abs().max().double_value(&[]);
                    assert_eq!(other, 0.0, "{arch} {key}: trial 1's loss reaches trial {k}");
                }
                if trial_view(&g, 1, 3).abs().max().double_value(&[]) > 0.0 {
                    reached += 1;
                }
            }
            assert!(
                reached > 50,
                "{arch}: only {reached} variables got a gradient"
            );
        }
    }

    #[test]
    fn a_trial_taken_out_is_the_detector_put_in() {
        tch::set_num_threads(1);
        let Some(parts) = three_trials(Arch::Eresfd) else {
            return;
        };
        let fused = Detector::fuse(&parts).unwrap();
        for (k, part) in parts.iter().enumerate() {
            let (ours, theirs) = (fused.trial(k as i64).state_dict(), part.state_dict());
            assert_eq!(ours.len(), 920);
            for (key, t) in ours.iter() {
                assert!(t.bit_equal(theirs.get(key).unwrap()), "trial {k} {key}");
            }
        }
        let extd = Detector::new(Arch::Extd, Device::Cpu);
        let err = Detector::fuse(&[parts[0].trial(0), extd]).unwrap_err();
        assert!(err.to_string().contains("one architecture"), "{err}");
    }
}
