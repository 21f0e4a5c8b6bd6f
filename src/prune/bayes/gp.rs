//! The Gaussian-process surrogate of bayes_opt 1.4.3, as scikit-learn 1.3 fits it.
//!
//! Model class (`docs/upstream.md` §bo-internals): an isotropic Matern ν = 5/2 kernel with one
//! length-scale ℓ and no amplitude or noise kernel, `alpha = 1e-6` on the diagonal, targets
//! normalised by their mean and population standard deviation, and ℓ chosen by maximising the log
//! marginal likelihood from ℓ = 1 plus five restarts drawn from the optimiser's random stream in
//! `[ln 1e-5, ln 1e5]`. The dense algebra (Cholesky factor, solves) runs in float64 through
//! libtorch, which keeps a fit over a thousand points at LAPACK speed.

use anyhow::{Context, Result, bail};
use tch::{Kind, Tensor};

use super::minimize::{Evaluation, minimize};
use super::mt19937::Mt19937;

/// Diagonal jitter of scikit-learn's `GaussianProcessRegressor(alpha=1e-6)`.
const ALPHA: f64 = 1e-6;
/// Bounds of ln ℓ: `length_scale_bounds=(1e-5, 1e5)`.
const LN_BOUNDS: (f64, f64) = (-11.512925464970229, 11.512925464970229);
/// `n_restarts_optimizer` of bayes_opt's regressor.
const RESTARTS: usize = 5;

/// Matern-5/2 covariance at scaled distance `a = √5 · r / ℓ`.
fn matern(a: f64) -> f64 {
    (1.0 + a + a * a / 3.0) * (-a).exp()
}

/// ∂k/∂(ln ℓ) at scaled distance `a`.
fn matern_grad(a: f64) -> f64 {
    a * a * (1.0 + a) / 3.0 * (-a).exp()
}

fn f64_tensor(data: &[f64], rows: usize, cols: usize) -> Tensor {
    Tensor::from_slice(data).view([rows as i64, cols as i64])
}

fn to_vec(t: &Tensor) -> Result<Vec<f64>> {
    Ok(Vec::<f64>::try_from(t.contiguous().view([-1]))?)
}

/// A fitted surrogate, ready to predict.
pub struct Gp {
    x: Vec<Vec<f64>>,
    length_scale: f64,
    y_mean: f64,
    y_std: f64,
    chol: Tensor,
    alpha: Tensor,
}

impl Gp {
    /// Fits the surrogate to observations `(x_i, y_i)`, drawing the restart points from `rng`.
    pub fn fit(x: &[Vec<f64>], y: &[f64], rng: &mut Mt19937) -> Result<Gp> {
        let neg_lml = neg_log_marginal_likelihood(x, y)?;
        let (lo, hi) = ([LN_BOUNDS.0], [LN_BOUNDS.1]);
        let mut best = minimize(&neg_lml, &[0.0], &lo, &hi);
        for _ in 0..RESTARTS {
            let start = rng.uniform(LN_BOUNDS.0, LN_BOUNDS.1);
            let m = minimize(&neg_lml, &[start], &lo, &hi);
            if m.fun < best.fun {
                best = m;
            }
        }
        Gp::condition(x, y, best.x[0].exp())
    }

    /// The posterior for a given length-scale: what [`Gp::fit`] ends with, and what the parity
    /// tests build at scikit-learn's fitted ℓ so they compare the algebra apart from the search.
    pub(super) fn condition(x: &[Vec<f64>], y: &[f64], length_scale: f64) -> Result<Gp> {
        let n = x.len();
        let (y_mean, y_std, yn) = normalise(y)?;
        let dist = pairwise_distances(x);
        let k = kernel_matrix(&dist, n, length_scale, ALPHA);
        let chol = cholesky(&k).context("the surrogate's covariance is not positive definite")?;
        let alpha = f64_tensor(&yn, n, 1).cholesky_solve(&chol, false);
        Ok(Gp {
            x: x.to_vec(),
            length_scale,
            y_mean,
            y_std,
            chol,
            alpha,
        })
    }

    /// The fitted length-scale ℓ.
    pub fn length_scale(&self) -> f64 {
        self.length_scale
    }

    /// Posterior mean and standard deviation at each point, in target units.
    pub fn predict(&self, points: &[Vec<f64>]) -> Result<(Vec<f64>, Vec<f64>)> {
        let (m, n) = (points.len(), self.x.len());
        let mut kt = Vec::with_capacity(m * n);
        let scale = 5f64.sqrt() / self.length_scale;
        for p in points {
            for q in &self.x {
                kt.push(matern(scale * euclid(p, q)));
            }
        }
        let kt = f64_tensor(&kt, m, n);
        let mean = to_vec(&kt.matmul(&self.alpha))?;
        let v = self
            .chol
            .linalg_solve_triangular(&kt.transpose(0, 1), false, true, false);
        let explained = to_vec(&v.square().sum_dim_intlist(0, false, Kind::Double))?;
        let mean = mean
            .iter()
            .map(|mu| mu * self.y_std + self.y_mean)
            .collect();
        let std = explained
            .iter()
            .map(|e| (1.0 - e).max(0.0).sqrt() * self.y_std)
            .collect();
        Ok((mean, std))
    }
}

/// scikit-learn's `normalize_y`: mean, population standard deviation (a constant target keeps
/// scale 1, as `_handle_zeros_in_scale` does) and the normalised targets.
fn normalise(y: &[f64]) -> Result<(f64, f64, Vec<f64>)> {
    let n = y.len();
    if n == 0 {
        bail!("the surrogate needs at least one observation");
    }
    let mean = y.iter().sum::<f64>() / n as f64;
    let sd = (y.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64).sqrt();
    let sd = if sd < 10.0 * f64::EPSILON { 1.0 } else { sd };
    Ok((mean, sd, y.iter().map(|v| (v - mean) / sd).collect()))
}

/// The objective of the length-scale fit, as scikit-learn hands it to L-BFGS-B: θ = ln ℓ to the
/// negative log marginal likelihood of the normalised targets and its gradient. A failed
/// Cholesky factorisation scores +∞ with a zero gradient, as scikit-learn's −∞ likelihood does.
pub(super) fn neg_log_marginal_likelihood(
    x: &[Vec<f64>],
    y: &[f64],
) -> Result<impl Fn(&[f64]) -> Evaluation> {
    if x.len() != y.len() {
        bail!(
            "the surrogate needs as many targets as points (got {} and {})",
            x.len(),
            y.len()
        );
    }
    let n = x.len();
    let (_, _, yn) = normalise(y)?;
    let dist = pairwise_distances(x);
    let yt = f64_tensor(&yn, n, 1);
    Ok(
        move |theta: &[f64]| match log_marginal_likelihood(theta[0], &dist, n, &yt) {
            Ok((l, g)) => (-l, Some(vec![-g])),
            Err(_) => (f64::INFINITY, Some(vec![0.0])),
        },
    )
}

fn euclid(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).powi(2))
        .sum::<f64>()
        .sqrt()
}

fn pairwise_distances(x: &[Vec<f64>]) -> Vec<f64> {
    let n = x.len();
    let mut d = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..i {
            let r = euclid(&x[i], &x[j]);
            d[i * n + j] = r;
            d[j * n + i] = r;
        }
    }
    d
}

fn kernel_matrix(dist: &[f64], n: usize, length_scale: f64, jitter: f64) -> Tensor {
    let scale = 5f64.sqrt() / length_scale;
    let mut k: Vec<f64> = dist.iter().map(|r| matern(scale * r)).collect();
    for i in 0..n {
        k[i * n + i] += jitter;
    }
    f64_tensor(&k, n, n)
}

fn cholesky(k: &Tensor) -> Result<Tensor> {
    let (l, info) = k.linalg_cholesky_ex(false, false);
    if i64::try_from(&info)? != 0 {
        bail!("Cholesky factorisation failed");
    }
    Ok(l)
}

/// Log marginal likelihood of normalised targets `y` and its derivative in θ = ln ℓ.
fn log_marginal_likelihood(theta: f64, dist: &[f64], n: usize, y: &Tensor) -> Result<(f64, f64)> {
    let length_scale = theta.exp();
    let k = kernel_matrix(dist, n, length_scale, ALPHA);
    let l = cholesky(&k)?;
    let alpha = y.cholesky_solve(&l, false);
    let fit = f64::try_from(y.transpose(0, 1).matmul(&alpha))?;
    let log_det = f64::try_from(l.diagonal(0, 0, 1).log().sum(Kind::Double))?;
    let lml = -0.5 * fit - log_det - 0.5 * n as f64 * (2.0 * std::f64::consts::PI).ln();
    let scale = 5f64.sqrt() / length_scale;
    let dk: Vec<f64> = dist.iter().map(|r| matern_grad(scale * r)).collect();
    let dk = f64_tensor(&dk, n, n);
    // ½ tr((ααᵀ − K⁻¹) ∂K) = ½ (αᵀ ∂K α − Σ (K⁻¹ ∘ ∂K)), both symmetric.
    let quad = f64::try_from(alpha.transpose(0, 1).matmul(&dk).matmul(&alpha))?;
    let k_inv = l.cholesky_inverse(false);
    let trace = f64::try_from((k_inv * &dk).sum(Kind::Double))?;
    Ok((lml, 0.5 * (quad - trace)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn points() -> (Vec<Vec<f64>>, Vec<f64>) {
        let mut rng = Mt19937::new(3);
        let x: Vec<Vec<f64>> = (0..25)
            .map(|_| (0..2).map(|_| rng.random_sample()).collect())
            .collect();
        let y = x.iter().map(|p| (3.0 * p[0]).sin() + p[1] * p[1]).collect();
        (x, y)
    }

    #[test]
    fn the_analytic_gradient_matches_finite_differences() {
        let (x, y) = points();
        let n = x.len();
        let dist = pairwise_distances(&x);
        let yt = f64_tensor(&y, n, 1);
        for theta in [-1.5, -0.2, 0.0, 0.7] {
            let (_, g) = log_marginal_likelihood(theta, &dist, n, &yt).unwrap();
            let h = 1e-6;
            let (up, _) = log_marginal_likelihood(theta + h, &dist, n, &yt).unwrap();
            let (down, _) = log_marginal_likelihood(theta - h, &dist, n, &yt).unwrap();
            let fd = (up - down) / (2.0 * h);
            assert!(
                (g - fd).abs() < 1e-5 * fd.abs().max(1.0),
                "θ={theta}: {g} vs {fd}"
            );
        }
    }

    #[test]
    fn the_posterior_interpolates_and_is_uncertain_away_from_data() {
        let (x, y) = points();
        let gp = Gp::fit(&x, &y, &mut Mt19937::new(0)).unwrap();
        let (mean, std) = gp.predict(&x).unwrap();
        for i in 0..x.len() {
            assert!((mean[i] - y[i]).abs() < 1e-3, "{} vs {}", mean[i], y[i]);
            assert!(std[i] < 1e-2);
        }
        let (_, far) = gp.predict(&[vec![5.0, 5.0]]).unwrap();
        let y_std = {
            let m = y.iter().sum::<f64>() / y.len() as f64;
            (y.iter().map(|v| (v - m).powi(2)).sum::<f64>() / y.len() as f64).sqrt()
        };
        assert!(
            (far[0] - y_std).abs() < 1e-6,
            "prior std far away: {} vs {y_std}",
            far[0]
        );
    }

    #[test]
    fn the_fit_is_at_a_likelihood_maximum() {
        let (x, y) = points();
        let gp = Gp::fit(&x, &y, &mut Mt19937::new(0)).unwrap();
        let n = x.len();
        let mean = y.iter().sum::<f64>() / n as f64;
        let sd = (y.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64).sqrt();
        let yn: Vec<f64> = y.iter().map(|v| (v - mean) / sd).collect();
        let dist = pairwise_distances(&x);
        let yt = f64_tensor(&yn, n, 1);
        let theta = gp.length_scale().ln();
        let (best, _) = log_marginal_likelihood(theta, &dist, n, &yt).unwrap();
        for d in [-0.05, 0.05] {
            let (near, _) = log_marginal_likelihood(theta + d, &dist, n, &yt).unwrap();
            assert!(near <= best + 1e-9, "ln ℓ {theta}: {near} > {best}");
        }
    }

    /// scikit-learn 1.3.0's regressor as bayes_opt 1.4.3 builds it, on three data sets:
    /// `tests/fixtures/parity/gp.json`, made by `scripts/fixtures/gp.py`.
    mod sklearn {
        use serde::Deserialize;

        use super::*;
        use bfpgm_core::testutil::parity_json;

        #[derive(Deserialize)]
        struct Fixture {
            cases: Vec<Case>,
        }

        #[derive(Deserialize)]
        struct Case {
            name: String,
            seed: u32,
            x: Vec<Vec<f64>>,
            y: Vec<f64>,
            length_scale: f64,
            log_marginal_likelihood: f64,
            random_sample_after_fit: f64,
            queries: Vec<Vec<f64>>,
            mean: Vec<f64>,
            std: Vec<f64>,
            lml_at: Vec<LmlAt>,
        }

        #[derive(Deserialize)]
        struct LmlAt {
            theta: f64,
            lml: f64,
            grad: f64,
        }

        fn cases() -> Vec<Case> {
            let f: Fixture = parity_json("gp.json");
            assert_eq!(f.cases.len(), 3, "the fixture lost cases");
            f.cases
        }

        /// The largest |a − b| over two series, in units of `scale`.
        fn worst(a: &[f64], b: &[f64], scale: f64) -> f64 {
            assert_eq!(a.len(), b.len());
            a.iter()
                .zip(b)
                .map(|(a, b)| (a - b).abs() / scale)
                .fold(0.0, f64::max)
        }

        /// Same formulas, different summation order and LAPACK (libtorch's against numpy's):
        /// measured ≤ 5e-11 relative on the likelihood and 3e-10 on its gradient, the worst at
        /// ln ℓ = 3 where K is nearly singular and rounding is amplified by its condition number.
        #[test]
        fn the_likelihood_and_its_gradient_equal_scikit_learns() {
            for case in cases() {
                let f = neg_log_marginal_likelihood(&case.x, &case.y).unwrap();
                for at in &case.lml_at {
                    let (v, g) = f(&[at.theta]);
                    let g = g.unwrap()[0];
                    let (dv, dg) = (
                        (-v - at.lml).abs() / at.lml.abs(),
                        (-g - at.grad).abs() / at.grad.abs().max(1.0),
                    );
                    assert!(
                        dv < 1e-8,
                        "{} θ={}: {} vs {}",
                        case.name,
                        at.theta,
                        -v,
                        at.lml
                    );
                    assert!(
                        dg < 1e-8,
                        "{} θ={}: {} vs {}",
                        case.name,
                        at.theta,
                        -g,
                        at.grad
                    );
                }
            }
        }

        /// At scikit-learn's length scale the posterior is plain linear algebra: measured ≤ 2e-15
        /// of the targets' standard deviation on the mean and the std. 1e-10 leaves room for
        /// another CPU's LAPACK kernels (rounding amplified by K's condition number) and still
        /// catches any change of formula.
        #[test]
        fn the_posterior_at_scikit_learns_length_scale_equals_scikit_learns() {
            for case in cases() {
                let gp = Gp::condition(&case.x, &case.y, case.length_scale).unwrap();
                let (mean, std) = gp.predict(&case.queries).unwrap();
                let (_, y_std, _) = normalise(&case.y).unwrap();
                let (dm, ds) = (
                    worst(&mean, &case.mean, y_std),
                    worst(&std, &case.std, y_std),
                );
                assert!(
                    dm < 1e-10 && ds < 1e-10,
                    "{}: mean {dm:e}, std {ds:e}",
                    case.name
                );
            }
        }

        /// The whole fit, restarts included: the restarts consume the same draws (the next
        /// number of the shared stream is numpy's), and the length scale lands within 1e-6 in
        /// ln ℓ (measured ≤ 5e-9: both minimisers stop at a gradient ≤ 1e-5) wherever the
        /// likelihood has a strict maximum. On a plateau, where the likelihood cannot tell
        /// length scales apart (the `noise` set: every ℓ far below the point spacing gives
        /// K = I), any point of it is as good; there the likelihoods must agree to 1e-12, and
        /// in every case the posterior to 1e-6 of the targets' std (measured ≤ 5e-9).
        #[test]
        fn the_fit_finds_scikit_learns_length_scale_and_draws_its_restarts() {
            for case in cases() {
                let mut rng = Mt19937::new(case.seed);
                let gp = Gp::fit(&case.x, &case.y, &mut rng).unwrap();
                assert_eq!(
                    rng.random_sample(),
                    case.random_sample_after_fit,
                    "{}: the restarts took another number of draws",
                    case.name
                );
                let f = neg_log_marginal_likelihood(&case.x, &case.y).unwrap();
                let lml = -f(&[gp.length_scale().ln()]).0;
                let sk = case.log_marginal_likelihood;
                let d_lml = (lml - sk) / sk.abs();
                let d_theta = (gp.length_scale().ln() - case.length_scale.ln()).abs();
                assert!(d_lml > -1e-12, "{}: a worse fit ({lml} < {sk})", case.name);
                assert!(
                    d_theta < 1e-6 || d_lml.abs() < 1e-12,
                    "{}: ℓ {} vs {}",
                    case.name,
                    gp.length_scale(),
                    case.length_scale
                );
                let (mean, std) = gp.predict(&case.queries).unwrap();
                let (_, y_std, _) = normalise(&case.y).unwrap();
                let (dm, ds) = (
                    worst(&mean, &case.mean, y_std),
                    worst(&std, &case.std, y_std),
                );
                assert!(
                    dm < 1e-6 && ds < 1e-6,
                    "{}: mean {dm:e}, std {ds:e}",
                    case.name
                );
            }
        }
    }
}
