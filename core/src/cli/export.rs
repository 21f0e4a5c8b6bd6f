//! `reproduce export --model NAME|FILE --out DIR`: an EResFD checkpoint as TorchScript and as a
//! lite-interpreter file for mobile apps, with a manifest (`bfpgm::export`).

use clap::Args;
use std::path::PathBuf;

/// Arguments of `reproduce export`.
#[derive(Args)]
pub struct ExportArgs {
    /// Zoo model name (e.g. eresfd-30; `reproduce zoo list`) or an EResFD checkpoint file.
    #[arg(long)]
    pub model: String,
    /// Folder that receives <name>.pt, <name>.ptl and the manifest <name>.json.
    #[arg(long)]
    pub out: PathBuf,
}
