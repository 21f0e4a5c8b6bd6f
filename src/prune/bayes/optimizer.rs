//! bayes_opt 1.4.3's `maximize(init_points, n_iter)` as a resumable state machine.
//!
//! Evaluation order (`docs/upstream.md` §bo-space, §bo-internals): the probe point
//! `[T + offset] × 6`, then `n_init` uniform points drawn up front from the target-space stream,
//! then `n_iter` points suggested by the GP with upper-confidence-bound acquisition (κ = 2.576),
//! maximised over 10,000 random points plus 10 bounded local refinements, all drawn from a second,
//! independent stream. Every observation is registered, infeasible ones included.
//!
//! The whole state (queue, observations, both random streams) serialises, so a search stopped
//! after any trial continues where it stopped without repeating a trial. Several trials can be
//! handed out at once (one per GPU): queued points are independent, and GP suggestions are batched
//! by the "kriging believer" rule (each pending point is registered at the surrogate's mean before
//! the next is chosen), which reduces to bayes_opt's sequence for a batch of one.

use std::collections::VecDeque;

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};

use super::gp::Gp;
use super::minimize::{Evaluation, minimize};
use super::mt19937::Mt19937;

/// Exploration weight of bayes_opt's default UCB.
pub const KAPPA: f64 = 2.576;
/// Random candidates scored before the local refinements.
const WARMUP: usize = 10_000;
/// Local refinements of the acquisition maximum.
const LOCAL_SEEDS: usize = 10;

/// Where the search starts and how long it runs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SearchSettings {
    /// The target whole-model sparsity T, as a fraction.
    pub target: f64,
    /// Number of variables (layer groups).
    pub dims: usize,
    /// Uniform random points after the probe (upstream: 60).
    pub n_init: usize,
    /// GP-guided points (upstream: 940).
    pub n_iter: usize,
    /// The probe sits at `T + probe_offset` in every variable (upstream: 0.04).
    pub probe_offset: f64,
    /// Seed of both random streams (upstream: 0).
    pub seed: u32,
}

impl SearchSettings {
    /// Upper bound of every rate: `min(0.98, T + 0.2)`; the lower bound is 0.
    pub fn upper_bound(&self) -> f64 {
        (self.target + 0.2).min(0.98)
    }

    /// Total number of evaluations: probe + initial + guided.
    pub fn total(&self) -> usize {
        1 + self.n_init + self.n_iter
    }
}

/// One registered evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    /// The rates that were evaluated.
    pub x: Vec<f64>,
    /// The objective (maximised).
    pub y: f64,
}

/// The resumable optimiser.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Optimizer {
    settings: SearchSettings,
    queue: VecDeque<Vec<f64>>,
    observations: Vec<Observation>,
    opt_rng: Mt19937,
    suggested: usize,
}

impl Optimizer {
    /// A fresh search: the probe and the initial design are queued at once, as bayes_opt primes
    /// its queue before the first evaluation.
    pub fn new(settings: SearchSettings) -> Result<Optimizer> {
        if !(0.0..1.0).contains(&settings.target) || settings.dims == 0 {
            bail!("a search needs a target in [0, 1) and at least one variable");
        }
        let hi = settings.upper_bound();
        let mut target_rng = Mt19937::new(settings.seed);
        let mut queue = VecDeque::new();
        queue.push_back(vec![settings.target + settings.probe_offset; settings.dims]);
        for _ in 0..settings.n_init {
            queue.push_back(
                (0..settings.dims)
                    .map(|_| target_rng.uniform(0.0, hi))
                    .collect(),
            );
        }
        Ok(Optimizer {
            settings,
            queue,
            observations: Vec::new(),
            opt_rng: Mt19937::new(settings.seed),
            suggested: 0,
        })
    }

    /// The settings the search was started with.
    pub fn settings(&self) -> &SearchSettings {
        &self.settings
    }

    /// Everything registered so far, in order.
    pub fn observations(&self) -> &[Observation] {
        &self.observations
    }

    /// Whether every evaluation of the budget has been handed out.
    pub fn is_done(&self) -> bool {
        self.queue.is_empty() && self.suggested >= self.settings.n_iter
    }

    /// The next `k` points to evaluate (fewer at the end of the budget). They must all be
    /// registered before the next call.
    pub fn next_batch(&mut self, k: usize) -> Result<Vec<Vec<f64>>> {
        let mut batch = Vec::new();
        while batch.len() < k {
            if let Some(x) = self.queue.pop_front() {
                batch.push(x);
            } else if self.suggested < self.settings.n_iter && !self.observations.is_empty() {
                batch.push(self.suggest(&batch)?);
                self.suggested += 1;
            } else {
                break;
            }
        }
        Ok(batch)
    }

    /// Records an evaluated point.
    pub fn register(&mut self, x: Vec<f64>, y: f64) {
        self.observations.push(Observation { x, y });
    }

    /// The best observation so far: the first maximum, like `np.argmax`.
    pub fn best(&self) -> Option<&Observation> {
        self.observations
            .iter()
            .fold(None, |best: Option<&Observation>, o| match best {
                Some(b) if b.y >= o.y => Some(b),
                _ => Some(o),
            })
    }

    fn suggest(&mut self, pending: &[Vec<f64>]) -> Result<Vec<f64>> {
        let mut xs: Vec<Vec<f64>> = self.observations.iter().map(|o| o.x.clone()).collect();
        let mut ys: Vec<f64> = self.observations.iter().map(|o| o.y).collect();
        if !pending.is_empty() {
            let gp = Gp::fit(&xs, &ys, &mut self.opt_rng.clone())?;
            let (mean, _) = gp.predict(pending)?;
            xs.extend(pending.iter().cloned());
            ys.extend(mean);
        }
        let gp = Gp::fit(&xs, &ys, &mut self.opt_rng)?;
        self.acquisition_max(&gp)
    }

    fn acquisition_max(&mut self, gp: &Gp) -> Result<Vec<f64>> {
        let d = self.settings.dims;
        let (lo, hi) = (vec![0.0; d], vec![self.settings.upper_bound(); d]);
        let draw =
            |rng: &mut Mt19937| -> Vec<f64> { (0..d).map(|i| rng.uniform(lo[i], hi[i])).collect() };
        let tries: Vec<Vec<f64>> = (0..WARMUP).map(|_| draw(&mut self.opt_rng)).collect();
        let (mean, std) = gp.predict(&tries)?;
        let mut best_i = 0;
        for i in 1..tries.len() {
            if mean[i] + KAPPA * std[i] > mean[best_i] + KAPPA * std[best_i] {
                best_i = i;
            }
        }
        let mut x_max = tries[best_i].clone();
        let mut max_acq = mean[best_i] + KAPPA * std[best_i];
        let seeds: Vec<Vec<f64>> = (0..LOCAL_SEEDS).map(|_| draw(&mut self.opt_rng)).collect();
        for seed in seeds {
            let m = minimize(neg_ucb(gp), &seed, &lo, &hi);
            if m.success && -m.fun >= max_acq {
                max_acq = -m.fun;
                x_max = m.x;
            }
        }
        Ok(x_max
            .iter()
            .zip(&hi)
            .map(|(v, h)| v.clamp(0.0, *h))
            .collect())
    }
}

/// bayes_opt's `to_minimize`: the negative UCB at one point, without a gradient, so the
/// minimiser takes finite differences as scipy does.
pub(super) fn neg_ucb(gp: &Gp) -> impl Fn(&[f64]) -> Evaluation + '_ {
    |x| match gp.predict(&[x.to_vec()]) {
        Ok((m, s)) => (-(m[0] + KAPPA * s[0]), None),
        Err(_) => (f64::NAN, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(n_init: usize, n_iter: usize) -> SearchSettings {
        SearchSettings {
            target: 0.2,
            dims: 6,
            n_init,
            n_iter,
            probe_offset: 0.04,
            seed: 0,
        }
    }

    #[test]
    fn the_probe_comes_first_then_numpy_seeded_initial_points() {
        let mut opt = Optimizer::new(settings(60, 0)).unwrap();
        let first = opt.next_batch(2).unwrap();
        assert_eq!(first[0], vec![0.24000000000000002; 6]);
        let want = [
            0.2195254016,
            0.2860757465,
            0.2411053504,
            0.2179532732,
            0.1694619197,
            0.2583576452,
        ];
        for (g, w) in first[1].iter().zip(want) {
            assert!((g - w).abs() < 5e-11);
        }
        let rest = opt.next_batch(100).unwrap();
        assert_eq!(rest.len(), 59);
        assert!(rest.iter().flatten().all(|v| (0.0..0.4).contains(v)));
        assert!(opt.is_done());
    }

    #[test]
    fn guided_points_approach_the_maximum_of_a_smooth_objective() {
        let f = |x: &[f64]| -x.iter().map(|v| (v - 0.3).powi(2)).sum::<f64>();
        let mut opt = Optimizer::new(SearchSettings {
            dims: 2,
            ..settings(8, 12)
        })
        .unwrap();
        while !opt.is_done() {
            for x in opt.next_batch(1).unwrap() {
                let y = f(&x);
                opt.register(x, y);
            }
        }
        assert_eq!(opt.observations().len(), 21);
        let best = opt.best().unwrap();
        assert!(best.y > -2e-3, "best {:?}", best);
        let init_best = opt.observations()[..9]
            .iter()
            .map(|o| o.y)
            .fold(f64::MIN, f64::max);
        assert!(
            best.y > init_best,
            "the guided phase improved on the initial design"
        );
    }

    #[test]
    fn a_serialised_search_resumes_with_identical_suggestions() {
        let f = |x: &[f64]| -(x[0] - 0.1).abs() - (x[1] - 0.35).powi(2);
        let s = SearchSettings {
            dims: 2,
            ..settings(4, 4)
        };
        let run = |opt: &mut Optimizer, steps: usize| {
            let mut seen = Vec::new();
            for _ in 0..steps {
                for x in opt.next_batch(1).unwrap() {
                    opt.register(x.clone(), f(&x));
                    seen.push(x);
                }
            }
            seen
        };
        let mut straight = Optimizer::new(s).unwrap();
        let all = run(&mut straight, 9);
        let mut first = Optimizer::new(s).unwrap();
        let head = run(&mut first, 6);
        let saved = serde_json::to_string(&first).unwrap();
        let mut resumed: Optimizer = serde_json::from_str(&saved).unwrap();
        let tail = run(&mut resumed, 3);
        assert_eq!([head, tail].concat(), all);
    }

    #[test]
    fn a_batch_of_guided_points_is_spread_out() {
        let f = |x: &[f64]| -(x[0] - 0.2).powi(2);
        let mut opt = Optimizer::new(SearchSettings {
            dims: 1,
            ..settings(5, 4)
        })
        .unwrap();
        for x in opt.next_batch(6).unwrap() {
            opt.register(x.clone(), f(&x));
        }
        let batch = opt.next_batch(3).unwrap();
        assert_eq!(batch.len(), 3);
        assert!(batch[0] != batch[1] && batch[1] != batch[2], "{batch:?}");
    }

    #[test]
    fn best_is_the_first_maximum() {
        let mut opt = Optimizer::new(settings(0, 0)).unwrap();
        opt.register(vec![0.1; 6], -3.0);
        opt.register(vec![0.2; 6], -1.0);
        opt.register(vec![0.3; 6], -1.0);
        assert_eq!(opt.best().unwrap().x, vec![0.2; 6]);
    }
}
