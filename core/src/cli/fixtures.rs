//! Files of the shared reference folder (`BFPGM_REFERENCE`) that the benchmarks read, relative
//! to it: one place, so `bench eval` and `bench startup` time the same predictions.

/// The full-val synthetic predictions, relative to the shared reference folder.
pub const SYNTHETIC_PREDS: &str = "fixtures/wider-val-synthetic-preds-seed1.tar.gz";
