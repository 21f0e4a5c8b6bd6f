//! A WIDER val image set with its ground truth, as `zoo.yaml` places both under the data folder:
//! what the drift check and the pipeline measure APs on.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::gt::ValMatFiles;
use crate::zoo::Zoo;

/// A WIDER val set to measure APs on, as the pipeline's and the drift check's `--eval` choose it.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalSet {
    /// `WIDER_val/images` of the full set or of the mini set.
    pub images: PathBuf,
    /// The evaluation kit's `.mat` files.
    pub ground_truth: ValMatFiles,
    /// Only the images present are evaluated, with the ground truth restricted to them (the
    /// 50-image mini set).
    pub subset: bool,
}

/// The evaluation kit's four `.mat` files where `zoo.yaml` places them under `data_dir` (the
/// `wider-gt-*` entries).
pub fn zoo_gt_files(zoo: &Zoo, data_dir: &Path) -> Result<ValMatFiles> {
    let path = |name: &str| -> Result<PathBuf> {
        zoo.artifacts()
            .find(|a| a.name == name)
            .map(|a| a.path(data_dir))
            .with_context(|| format!("the registry has no '{name}' entry"))
    };
    Ok(ValMatFiles {
        face: path("wider-gt-face")?,
        settings: [
            path("wider-gt-easy")?,
            path("wider-gt-medium")?,
            path("wider-gt-hard")?,
        ],
    })
}
