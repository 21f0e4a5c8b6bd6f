//! B-FPGM's pruning: the layer groups, the filter selection, the group-wise pruner, and the
//! Bayesian optimisation of one rate per group.
//!
//! * [`groups`]: the six layer groups of EResFD (two variants) and EXTD, and the rounding rule.
//! * [`fpgm`]: which filters of one conv a rate removes (FPGM, or L1 as the baseline).
//! * [`pruner`]: upstream's `MultiLayerPruner`, zeroing filters group by group in a live model.
//! * [`measure`]: what the weights say: zero filters per conv, the group rates they imply, and
//!   `calc_sparsity`.
//! * [`bayes`]: the search over group rates.

pub mod bayes;
pub mod fpgm;
pub mod groups;
pub mod measure;
pub mod pruner;
