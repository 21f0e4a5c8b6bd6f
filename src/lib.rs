//! B-FPGM reproduced in Rust: the model zoo, the two tiny face detectors, the WIDER FACE
//! protocol, the paper's tables, training and pruning.
//!
//! The modules follow the paper's pipeline, so each step is where a reader expects it:
//!
//! * [`zoo`]: the registry (`zoo.yaml`) of checkpoints and datasets.
//! * [`fetch`]: downloads, sha256 verification, resume, mirrors and archive extraction.
//! * [`fsutil`]: write-then-rename, so no command leaves a half-written file.
//! * [`progress`]: progress events from long steps, drawn by the CLI as bars or log lines.
//! * [`checkpoint`]: the strict `.pth` reader and writer (zip + pickle subset, no code execution).
//! * [`model`]: EResFD and EXTD on tch, priors, decoding and the detection step.
//! * [`device`]: `--device cpu|cuda|auto` into a `tch::Device`.
//! * [`imageio`]: the RGB image type shared by detection, evaluation and training, and its codecs.
//! * [`wider`]: WIDER FACE ground truth, the upstream inference protocol and AP evaluation.
//! * [`export`]: EResFD as TorchScript and a lite-interpreter file for mobile apps.
//! * [`train`]: WIDER FACE training: data, augmentation, anchor matching, loss, optimisers, runs.
//! * [`prune`]: layer groups and the Bayesian optimisation of their pruning rates.
//! * [`report`]: what we write for people and machines: drawings, tables, JSON, plots.
//! * [`check`]: the drift check CI runs: hashes, measured numbers and APs against `zoo.yaml`.

#![warn(missing_docs)]

pub mod check;
pub mod checkpoint;
pub mod device;
pub mod export;
pub mod fetch;
pub mod fsutil;
pub mod imageio;
pub mod model;
pub mod progress;
pub mod prune;
pub mod report;
mod simd;
pub mod train;
pub mod wider;
pub mod zoo;

#[cfg(test)]
pub(crate) mod testutil;
