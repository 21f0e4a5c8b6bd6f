//! `reproduce check [NAME|GROUP...]`: the drift check a scheduled CI job runs
//! ([`crate::check`]). The APs, when measured, come from the networks (`reproduce-torch`, which
//! calls [`run`] with its measurement). Prints one verdict line per model and a summary, writes the JSON report
//! atomically, and exits 0 when every metric holds, 1 when one drifted, 2 when a model could not
//! be checked (missing or changed file, unreadable weights).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, ValueEnum};

use super::Global;
use crate::check::{self, ApMeasure, ApSet, EvalChoice, verdict_table};
use crate::device::DeviceChoice;
use crate::fsutil::{check_writable, write_atomic};
use crate::progress;

/// Arguments of `reproduce check`.
#[derive(Args)]
pub struct CheckArgs {
    /// Models or groups to check [default: every model in the zoo].
    #[arg(value_name = "NAME|GROUP")]
    pub names: Vec<String>,
    /// Where the JSON report is written.
    #[arg(long, value_name = "FILE", default_value = "check-report.json")]
    pub report: PathBuf,
    /// When to measure and compare the APs: auto does so on WIDER val when it is downloaded.
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = Eval::Auto)]
    pub eval: Eval,
    /// Where the networks run when APs are measured: cpu, cuda or auto.
    #[arg(long, default_value = "auto")]
    pub device: DeviceChoice,
    /// Print no progress (the verdict lines still go to stdout).
    #[arg(long)]
    pub quiet: bool,
}

/// `--eval`, mirrored from [`EvalChoice`] so the library stays free of clap.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Eval {
    /// On full WIDER val (expected.ap) when it and its ground truth are downloaded.
    Auto,
    /// Never.
    Off,
    /// On the 50-image mini val set (expected.mini_ap).
    Mini,
    /// On full WIDER val (expected.ap).
    Full,
}

impl From<Eval> for EvalChoice {
    fn from(e: Eval) -> EvalChoice {
        match e {
            Eval::Auto => EvalChoice::Auto,
            Eval::Off => EvalChoice::Off,
            Eval::Mini => EvalChoice::On(ApSet::Mini),
            Eval::Full => EvalChoice::On(ApSet::Full),
        }
    }
}

impl CheckArgs {
    /// The WIDER set whose APs this check measures, if any (`--eval auto` looks for a downloaded
    /// full val set).
    pub fn ap_set(&self, global: &Global) -> Option<ApSet> {
        let zoo = global.zoo().ok()?;
        EvalChoice::from(self.eval).resolve(&zoo, &global.data_dir)
    }
}

/// Runs the check with `aps` measuring the APs (none: not measured), prints the verdicts, writes
/// the report and returns its exit code.
pub fn run(args: &CheckArgs, global: &Global, aps: Option<&mut dyn ApMeasure>) -> Result<ExitCode> {
    let zoo = global.zoo()?;
    check_writable(&args.report)?;
    let sink = progress::stderr(args.quiet);
    let report = check::run(
        &zoo,
        &global.data_dir,
        &args.names,
        &global.fetch_options()?,
        aps,
        sink.as_ref(),
    )?;
    write_atomic(
        &args.report,
        (serde_json::to_string_pretty(&report)? + "\n").as_bytes(),
    )?;
    let mut out = std::io::stdout().lock();
    write!(out, "{}", verdict_table(&report.models))?;
    let c = report.counts;
    writeln!(
        out,
        "{} model{}: {} ok, {} drifted, {} could not be checked; report: {}",
        c.models,
        if c.models == 1 { "" } else { "s" },
        c.ok,
        c.drift,
        c.error,
        args.report.display()
    )?;
    Ok(ExitCode::from(report.exit_code))
}
