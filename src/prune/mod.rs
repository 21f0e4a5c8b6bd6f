//! B-FPGM's pruning of a live model: the filter selection, the group-wise pruner, and the
//! Bayesian optimisation of one rate per group. The layer groups and what a file's weights say
//! about pruning are `bfpgm_core::{groups, measure}`.
//!
//! * [`fpgm`]: which filters of one conv a rate removes (FPGM, or L1 as the baseline).
//! * [`pruner`]: upstream's `MultiLayerPruner`, zeroing filters group by group in a live model.
//! * [`sparsity`]: `calc_sparsity` of a live model.
//! * [`bayes`]: the search over group rates (the optimiser and its resumable loop).
//! * [`bo`]: B-FPGM's search: one trial prunes a copy, trains it an epoch, validates it.
//! * [`sfp`]: soft filter pruning on upstream's schedules.
//! * [`finetune`]: fine-tuning with upstream's frozen convs, and the record of a pruned model.
//! * [`pipeline`]: pre-training (or a zoo checkpoint), search, SFP and fine-tuning in one
//!   resumable run folder, then the new model's numbers.

pub mod bayes;
pub mod bo;
pub mod finetune;
pub mod fpgm;
pub mod pipeline;
pub mod pruner;
pub mod sfp;
pub mod sparsity;
