//! `reproduce check` with APs: the drift check of `bfpgm_core::cli::check`, measuring the APs
//! with the evaluation driver on the device asked for.

use std::process::ExitCode;

use anyhow::Result;

use crate::device;
use crate::eval::WiderAps;
use bfpgm_core::check::ApMeasure;
use bfpgm_core::cli::Global;
use bfpgm_core::cli::check::{CheckArgs, run as run_check};
use bfpgm_core::progress;

/// Runs the check, measuring APs when `--eval` asks for them.
pub fn run(args: &CheckArgs, global: &Global) -> Result<ExitCode> {
    let Some(set) = args.ap_set(global) else {
        return run_check(args, global, None);
    };
    let device = device::resolve(args.device)?;
    let sink = progress::stderr(args.quiet);
    let zoo = global.zoo()?;
    let mut aps = WiderAps::new(
        set,
        &zoo,
        &global.data_dir,
        &global.fetch_options()?,
        device,
        sink.as_ref(),
    )?;
    run_check(args, global, Some(&mut aps as &mut dyn ApMeasure))
}
