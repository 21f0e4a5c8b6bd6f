//! `reproduce export --model NAME|FILE --out DIR`: an EResFD checkpoint as TorchScript and as a
//! lite-interpreter file for mobile apps, with a manifest (`crate::export`).

use std::process::ExitCode;

use anyhow::Result;

use bfpgm_core::cli::Global;
use bfpgm_core::cli::export::*;
use bfpgm_core::cli::model_arg::{self, IfMissing};

/// Resolves the checkpoint (a downloaded zoo model or a file) and exports it.
pub fn run(args: ExportArgs, global: &Global) -> Result<ExitCode> {
    let zoo = global.zoo()?;
    let (path, _, model) =
        model_arg::resolve(&zoo, &global.data_dir, &args.model, None, IfMissing::Refuse)?;
    let name = model_arg::model_name(&path, model)?;
    let exported = crate::export::export(&path, &name, &args.out)?;
    for f in &exported.manifest.files {
        println!(
            "{} ({} bytes, sha256 {})",
            args.out.join(&f.file).display(),
            f.bytes,
            f.sha256
        );
    }
    println!("{}", exported.manifest_path.display());
    Ok(ExitCode::SUCCESS)
}
