//! The drift check's AP measurement: [`WiderAps`] runs `reproduce eval`'s inference and
//! evaluation for `bfpgm_core::check`, which only compares the numbers it returns.

use std::path::Path;

use anyhow::{Context, Result};
use tch::Device;

use bfpgm_core::check::{ApMeasure, ApSet};
use bfpgm_core::fetch::FetchOptions;
use bfpgm_core::progress::Progress;
use bfpgm_core::wider::EvalSet;
use bfpgm_core::zoo::{ApTriple, Model, Zoo};

use super::session;
use super::spec::ModelSpec;

/// [`ApMeasure`] by `reproduce eval`'s inference and evaluation
/// ([`session::measure`]). Its prediction files go to a temporary folder deleted
/// with it: a drift check measures afresh every time rather than trusting files of an earlier
/// build.
pub struct WiderAps<'a> {
    set: ApSet,
    eval: EvalSet,
    scratch: tempfile::TempDir,
    device: Device,
    progress: &'a dyn Progress,
}

impl<'a> WiderAps<'a> {
    /// Fetches what `set` needs (verified) and prepares the measurement on `device`.
    pub fn new(
        set: ApSet,
        zoo: &Zoo,
        data_dir: &Path,
        options: &FetchOptions,
        device: Device,
        progress: &'a dyn Progress,
    ) -> Result<WiderAps<'a>> {
        let eval = set.prepare(zoo, data_dir, options, progress)?;
        let scratch = tempfile::Builder::new()
            .prefix("bfpgm-check-")
            .tempdir()
            .context("cannot create a temporary folder for the prediction files")?;
        Ok(WiderAps {
            set,
            eval,
            scratch,
            device,
            progress,
        })
    }
}

impl ApMeasure for WiderAps<'_> {
    fn set(&self) -> ApSet {
        self.set
    }

    fn measure(&mut self, model: &Model, checkpoint: &Path) -> Result<ApTriple> {
        let spec = ModelSpec {
            name: model.name().to_string(),
            arch: model.arch,
            checkpoint: checkpoint.to_path_buf(),
            references: Vec::new(),
            band: None,
        };
        session::measure(
            &spec,
            &self.eval,
            self.scratch.path(),
            self.device,
            self.progress,
        )
    }
}
