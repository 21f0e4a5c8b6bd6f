//! WIDER FACE: ground truth, the upstream inference protocol and the official AP evaluation.
//!
//! Everything here follows `shared/reference/wider-eval.md`, which pins down upstream
//! (`IDT-ITI/B-FPGM` @4c62d4e: `wider_test.py`, `eval_tools/evaluation.py`) to the bit:
//!
//! * [`gt`]: the [`GroundTruth`] of a split, read from the evaluation kit's `.mat` files or
//!   from the official text format, with the easy/medium/hard keep lists;
//! * [`preds`]: prediction files in the official folder layout (`<event>/<image>.txt`), read as
//!   upstream's `read_pred_file` does and written in its format;
//! * [`ap`]: the AP protocol (score normalisation, per-image matching, the 1000-threshold PR
//!   curve, `voc_ap`), with upstream's quirks, and the rules for images without predictions;
//! * [`protocol`]: upstream's per-image inference protocol (single scale, flip, multi-scale,
//!   voting) around any detector given as a closure;
//! * [`resize`]: OpenCV's bilinear resize (and its exact-½ area path) and flip, bit for bit;
//! * [`vote`]: upstream's box voting, which merges the detections of all passes;
//! * [`numpy`]: numpy's summation, sort and maximum, whose exact behaviour the results depend on;
//! * [`infer`]: a detector over the val images, one prediction file per image, resumable;
//! * [`session`]: [`EvalConfig`] and the run over several models (inference, then APs);
//! * [`report`]: the JSON report and the PR-curve PNG of such a run;
//! * [`compare`]: how far two prediction folders are apart (parity with upstream's files);
//!
//! All boxes in this module are in pixels of the original image. Ground truth and prediction
//! files use `[x, y, w, h]`; detector passes and box voting use `[x1, y1, x2, y2, score]`.

pub mod ap;
pub mod compare;
pub mod gt;
pub mod infer;
mod matfile;
pub mod numpy;
pub mod preds;
pub mod protocol;
pub mod report;
pub mod resize;
pub mod session;
pub mod vote;

pub use ap::{Evaluation, MissingPolicy, SettingResult, evaluate};
pub use gt::{GroundTruth, Setting, ValMatFiles};
pub use preds::Predictions;
pub use session::{EvalConfig, EvalRun, EvalSet, ModelSpec};
