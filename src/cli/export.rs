//! `reproduce export --model NAME|FILE --out DIR`: an EResFD checkpoint as TorchScript and as a
//! lite-interpreter file for mobile apps, with a manifest (`bfpgm::export`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;

use super::Global;
use super::model_arg;

/// Arguments of `reproduce export`.
#[derive(Args)]
pub struct ExportArgs {
    /// Zoo model name (e.g. eresfd-30; `reproduce zoo list`) or an EResFD checkpoint file.
    #[arg(long)]
    model: String,
    /// Folder that receives <name>.pt, <name>.ptl and the manifest <name>.json.
    #[arg(long)]
    out: PathBuf,
}

impl ExportArgs {
    /// Resolves the checkpoint (a downloaded zoo model or a file) and exports it.
    pub fn run(self, global: &Global) -> Result<ExitCode> {
        let zoo = global.zoo()?;
        let (path, _, model) = model_arg::resolve(&zoo, &global.data_dir, &self.model, None)?;
        let name = model_arg::model_name(&path, model)?;
        let exported = bfpgm::export::export(&path, &name, &self.out)?;
        for f in &exported.manifest.files {
            println!(
                "{} ({} bytes, sha256 {})",
                self.out.join(&f.file).display(),
                f.bytes,
                f.sha256
            );
        }
        println!("{}", exported.manifest_path.display());
        Ok(ExitCode::SUCCESS)
    }
}
