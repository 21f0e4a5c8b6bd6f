//! B-FPGM's pruning: the layer groups, and the Bayesian optimisation of one rate per group.
//!
//! * [`groups`]: the six layer groups of EResFD (two variants) and EXTD, and the rounding rule.
//! * [`bayes`]: the search over group rates.

pub mod bayes;
pub mod groups;
