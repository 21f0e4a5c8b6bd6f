//! Evaluation as an application: a detector run over WIDER val images with upstream's test
//! protocol, one prediction file per image, then the official APs of those files
//! (`bfpgm_core::wider`), for one model or several, with a report.
//!
//! * [`infer`]: a detector over the val images, one prediction file per image, resumable;
//! * [`session`]: [`EvalConfig`] and the run over several models (inference, then APs);
//! * [`spec`]: the models a run is given, with the APs known for them;
//! * [`report`]: the JSON report and the PR-curve PNG of such a run;
//! * [`compare`]: how far two prediction folders are apart (parity with upstream's files);
//! * [`wider_aps`]: the drift check's AP measurement.

pub mod compare;
pub mod infer;
pub mod report;
pub mod session;
pub mod spec;
pub mod wider_aps;

pub use session::{EvalConfig, EvalRun};
pub use spec::{ModelSpec, ReferenceAp};
pub use wider_aps::WiderAps;
