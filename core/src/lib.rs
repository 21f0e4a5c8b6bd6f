//! The part of `reproduce` that runs without libtorch, so that the commands a reviewer or a CI
//! job runs most (the registry, downloads, the paper's tables, the drift check, AP evaluation of
//! prediction files) start in milliseconds and need no CUDA at all. The networks, training and
//! pruning live in the `bfpgm` crate above this one, which the front binary hands over to.
//!
//! The modules follow the paper's pipeline up to the point where a network has to run:
//!
//! * [`zoo`]: the registry (`zoo.yaml`) of checkpoints and datasets.
//! * [`fetch`]: downloads, sha256 verification, resume, mirrors and archive extraction.
//! * [`hash`]: sha256 of files and bytes, one home for downloads and runs.
//! * [`fsutil`]: write-then-rename, so no command leaves a half-written file.
//! * [`progress`]: progress events from long steps, drawn by the CLI as bars or log lines.
//! * [`quiet_panic`]: a library's panic on hostile input as an error, without a crash report.
//! * [`checkpoint`]: the strict `.pth` reader and writer (zip + pickle subset, no code execution),
//!   holding plain arrays.
//! * [`groups`]: the layer groups of the two networks and upstream's rounding rule.
//! * [`measure`]: what the weights say about pruning: zero filters, group rates, sparsity.
//! * [`record`]: the record a pruned model carries (`model.json`), read by the tables.
//! * [`imageio`]: the RGB image type and its codecs (JPEG decoded as Pillow does).
//! * [`wider`]: WIDER FACE ground truth, prediction files and the official AP evaluation.
//! * [`report`]: tables, plots and drawings for people, JSON for machines.
//! * [`tradeoff`]: B-FPGM against the uniform baselines at the same measured sparsity.
//! * [`check`]: the drift check CI runs: hashes and measured numbers against `zoo.yaml`, with APs
//!   measured by whoever can run the networks ([`check::ApMeasure`]).
//! * [`device`]: the `--device` a user asks for, before anything knows whether CUDA is there.
//! * [`cli`]: the command line: every command's arguments, and the commands that need no network.

#![warn(missing_docs)]

pub mod check;
pub mod checkpoint;
pub mod cli;
pub mod device;
pub mod fetch;
pub mod fsutil;
pub mod groups;
pub mod hash;
pub mod imageio;
pub mod measure;
pub mod progress;
pub mod quiet_panic;
pub mod record;
pub mod report;
pub mod tradeoff;
pub mod wider;
pub mod zoo;

#[cfg(any(test, feature = "testutil"))]
pub mod testutil;
