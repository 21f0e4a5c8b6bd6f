//! `reproduce check [NAME|GROUP...]`: the drift check a scheduled CI job runs
//! (`bfpgm::check`). Prints one verdict line per model and a summary, writes the JSON report
//! atomically, and exits 0 when every metric holds, 1 when one drifted, 2 when a model could not
//! be checked (missing or changed file, unreadable weights).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, ValueEnum};

use super::Global;
use bfpgm::check::{self, ApMeasure, ApSet, EvalChoice, WiderAps, verdict_line};
use bfpgm::device::{self, DeviceChoice};
use bfpgm::fsutil::write_atomic;
use bfpgm::progress;

/// Arguments of `reproduce check`.
#[derive(Args)]
pub struct CheckArgs {
    /// Models or groups to check [default: every model in the zoo].
    #[arg(value_name = "NAME|GROUP")]
    names: Vec<String>,
    /// Where the JSON report is written.
    #[arg(long, value_name = "FILE", default_value = "check-report.json")]
    report: PathBuf,
    /// When to measure and compare the APs: auto does so on WIDER val when it is downloaded.
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = Eval::Auto)]
    eval: Eval,
    /// Where the networks run when APs are measured: cpu, cuda or auto.
    #[arg(long, default_value = "auto")]
    device: DeviceChoice,
    /// Print no progress (the verdict lines still go to stdout).
    #[arg(long)]
    quiet: bool,
}

/// `--eval`, mirrored from [`EvalChoice`] so the library stays free of clap.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Eval {
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
    /// Runs the check, prints the verdicts, writes the report and returns its exit code.
    pub fn run(self, global: &Global) -> Result<ExitCode> {
        let zoo = global.zoo()?;
        let sink = progress::stderr(self.quiet);
        let resolved = device::resolve(self.device);
        if let Some(note) = &resolved.note {
            eprintln!("{note}");
        }
        let mut aps = match EvalChoice::from(self.eval).resolve(&zoo, &global.data_dir) {
            Some(set) => Some(WiderAps::new(
                set,
                &zoo,
                &global.data_dir,
                &global.fetch_options()?,
                resolved.device,
                sink.as_ref(),
            )?),
            None => None,
        };
        let report = check::run(
            &zoo,
            &global.data_dir,
            &self.names,
            &global.fetch_options()?,
            aps.as_mut().map(|a| a as &mut dyn ApMeasure),
            sink.as_ref(),
        )?;
        write_atomic(
            &self.report,
            (serde_json::to_string_pretty(&report)? + "\n").as_bytes(),
        )?;
        let mut out = std::io::stdout().lock();
        for model in &report.models {
            writeln!(out, "{}", verdict_line(model))?;
        }
        let c = report.counts;
        writeln!(
            out,
            "{} model{}: {} ok, {} drifted, {} could not be checked; report: {}",
            c.models,
            if c.models == 1 { "" } else { "s" },
            c.ok,
            c.drift,
            c.error,
            self.report.display()
        )?;
        Ok(ExitCode::from(report.exit_code))
    }
}
