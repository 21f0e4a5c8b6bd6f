//! B-FPGM reproduced in Rust: the model zoo, the two tiny face detectors, the WIDER FACE
//! protocol, the paper's tables, training and pruning.
//!
//! The modules follow the paper's pipeline, so each step is where a reader expects it:
//!
//! * [`zoo`]: the registry (`zoo.yaml`) of checkpoints and datasets.
//! * [`imageio`]: the RGB image type shared by detection, evaluation and training.
//! * [`fetch`]: downloads, sha256 verification, resume, mirrors and archive extraction.
//! * [`progress`]: progress events from long steps, drawn by the CLI as bars or log lines.
//! * [`prune`]: layer groups and the Bayesian optimisation of their pruning rates.
//! * [`wider`]: WIDER FACE ground truth, the upstream inference protocol and AP evaluation.

pub mod fetch;
pub mod imageio;
pub mod progress;
pub mod prune;
pub mod wider;
pub mod zoo;

#[cfg(test)]
pub(crate) mod testutil;
