//! B-FPGM reproduced in Rust, the part that runs networks: the two tiny face detectors on tch
//! (libtorch), upstream's inference protocol and the evaluation driver, training and pruning, and
//! the mobile export. Everything that needs no network (the zoo, downloads, the checkpoint format,
//! WIDER ground truth and AP, the tables, the drift check) is the `bfpgm_core` crate below.
//!
//! The modules follow the paper's pipeline, so each step is where a reader expects it:
//!
//! * [`device`]: `--device cpu|cuda[:N]|auto` into a `tch::Device`, loading CUDA only then.
//! * [`tensors`]: the checkpoint format's plain arrays to and from tch tensors.
//! * [`model`]: EResFD and EXTD on tch, priors, decoding and the detection step.
//! * [`resize`]: OpenCV's resizes and flip, bit for bit (test protocol and training).
//! * [`protocol`]: upstream's per-image test protocol (passes, box voting).
//! * [`eval`]: a detector over WIDER val, the run over several models, its report.
//! * [`export`]: EResFD as TorchScript and a lite-interpreter file for mobile apps.
//! * [`train`]: WIDER FACE training: data, augmentation, anchor matching, loss, optimisers, runs.
//! * [`prune`]: filter selection, the group pruner, SFP, fine-tuning and the Bayesian search.
//! * [`cli`]: the commands that run networks (the front binary hands them over).

#![warn(missing_docs)]

pub mod cli;
pub mod device;
pub mod eval;
pub mod export;
pub mod model;
pub mod protocol;
pub mod prune;
pub mod resize;
mod simd;
pub mod tensors;
pub mod train;
