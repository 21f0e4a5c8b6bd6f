//! WIDER FACE as data and arithmetic: the ground truth, prediction files and the official AP
//! evaluation, exactly as upstream (`IDT-ITI/B-FPGM` @4c62d4e, `eval_tools/evaluation.py`)
//! computes them. Running a detector over the images is the `bfpgm` crate's `eval` layer.
//!
//! * [`gt`]: the [`GroundTruth`] of a split, read from the evaluation kit's `.mat` files or
//!   from the official text format, with the easy/medium/hard keep lists;
//! * [`preds`]: prediction files in the official folder layout (`<event>/<image>.txt`), read as
//!   upstream's `read_pred_file` does and written in its format;
//! * [`ap`]: the AP protocol (score normalisation, per-image matching, the 1000-threshold PR
//!   curve, `voc_ap`), with upstream's quirks, and the rules for images without predictions;
//! * [`numpy`]: numpy's summation, sort and maximum, whose exact behaviour the results depend on;
//! * [`EvalSet`]: a val image set and its ground truth, where the registry puts them.
//!
//! Ground truth and prediction files use `[x, y, w, h]` in pixels of the original image.

pub mod ap;
pub mod gt;
mod matfile;
pub mod numpy;
pub mod preds;
mod set;

pub use ap::{Evaluation, MissingPolicy, SettingResult, evaluate};
pub use gt::{GroundTruth, Setting, ValMatFiles};
pub use preds::Predictions;
pub use set::{EvalSet, zoo_gt_files};
