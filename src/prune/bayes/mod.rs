//! Bayesian optimisation of the six group pruning rates, as upstream runs it with
//! bayes_opt 1.4.3 (`docs/upstream.md` §bo-space to §bo-result).
//!
//! * [`mt19937`]: numpy's `RandomState`, so the initial design is upstream's.
//! * [`gp`]: the Matern-5/2 Gaussian-process surrogate, fitted by maximum likelihood.
//! * [`minimize`]: the bounded quasi-Newton minimiser standing in for scipy's L-BFGS-B.
//! * [`optimizer`]: probe, initial points, GP-guided points, as a resumable state machine.
//! * [`objective`]: validation loss and the sparsity penalty.
//! * [`search_loop`]: the loop around the optimiser: trials on parallel workers, a log row and a saved
//!   state after each, resume without repeating a trial.
//!
//! We wrote our own surrogate instead of using a library such as egobox because the search
//! should behave like upstream's: an isotropic Matern kernel without amplitude, normalised
//! targets, ML-II length-scale with restarts, and UCB with κ = 2.576 maximised by random
//! sampling plus local refinement. Library defaults (anisotropic kernels, expected improvement)
//! would change the dynamics the paper's results come from.

pub mod gp;
pub mod minimize;
pub mod mt19937;
pub mod objective;
pub mod optimizer;
pub mod search_loop;
