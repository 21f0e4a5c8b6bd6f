//! B-FPGM's pruning: the layer groups, and the Bayesian optimisation of one rate per group.
//!
//! * [`groups`]: the six layer groups of EResFD (two variants) and EXTD, and the rounding rule.
//! * [`measure`]: what the weights say: zero filters per conv, the group rates they imply, and
//!   `calc_sparsity`.
//! * [`bayes`]: the search over group rates.

pub mod bayes;
pub mod groups;
pub mod measure;
