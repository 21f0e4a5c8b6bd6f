//! B-FPGM reproduced in Rust: the model zoo, the two tiny face detectors, the WIDER FACE
//! protocol, the paper's tables, training and pruning.
//!
//! The modules follow the paper's pipeline, so each step is where a reader expects it:
//!
//! * [`zoo`]: the registry (`zoo.yaml`) of checkpoints and datasets.
//! * [`imageio`]: the RGB image type shared by detection, evaluation and training.
//! * [`wider`]: WIDER FACE ground truth, the upstream inference protocol and AP evaluation.

pub mod imageio;
pub mod wider;
pub mod zoo;

#[cfg(test)]
pub(crate) mod testutil;
