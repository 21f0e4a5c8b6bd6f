//! B-FPGM reproduced in Rust: the model zoo, the two tiny face detectors, the WIDER FACE
//! protocol, the paper's tables, training and pruning.
//!
//! The modules follow the paper's pipeline, so each step is where a reader expects it:
//!
//! * [`zoo`]: the registry (`zoo.yaml`) of checkpoints and datasets.
//! * [`imageio`]: the RGB image type shared by detection, evaluation and training.
//! * [`checkpoint`]: the strict `.pth` reader and writer (zip + pickle subset, no code execution).
//! * [`model`]: EResFD and EXTD on tch, priors, decoding and the detection step.
//! * [`device`]: `--device cpu|cuda|auto` into a `tch::Device`.
//! * [`report`]: what we write for people and machines: drawings, tables, JSON, plots.

pub mod checkpoint;
pub mod device;
pub mod imageio;
pub mod model;
pub mod report;
pub mod zoo;

#[cfg(test)]
pub(crate) mod testutil;
