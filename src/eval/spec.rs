//! What an evaluation run is given: the models, each with the APs known for it on the images at
//! hand. Shared by the inference ([`super::infer`]), the run over several models
//! ([`super::session`]) and its report, none of which owns it.

use std::path::PathBuf;

use bfpgm_core::zoo::{ApTriple, Arch};

/// APs to print beside the measured ones, with where they come from.
#[derive(Debug, Clone, PartialEq)]
pub struct ReferenceAp {
    /// Short label for the table and the report, e.g. `upstream (mini)` or `published`.
    pub label: String,
    /// Easy, medium, hard.
    pub ap: ApTriple,
}

/// One model to evaluate.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelSpec {
    /// Zoo name, or the checkpoint's file stem; also the name of its predictions folder.
    pub name: String,
    /// The network.
    pub arch: Arch,
    /// The checkpoint file.
    pub checkpoint: PathBuf,
    /// Known APs of this model for the images being run (none for a checkpoint of one's own).
    pub references: Vec<ReferenceAp>,
    /// The stability band of its APs on these images (`zoo.yaml`'s `mini_ap_band`), where
    /// measured: how far kernel settings alone move them.
    pub band: Option<ApTriple>,
}
