//! `reproduce verify [NAME|GROUP...]`: re-hash what is downloaded against zoo.yaml, whatever the
//! stamps say, and check the files each archive unpacked (by name and size; `--deep` also by
//! CRC-32, reading them all).
//!
//! Exit status: 0 when every present file is right (absent ones are only listed), 1 when any
//! file has the wrong size or hash, or an archive is not (or no longer completely) unpacked, 2
//! when verification could not run. Needs no write access to the data folder.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;

use super::Global;
use crate::fetch::{self, Check, Unpacked, Verified};
use crate::progress;

/// Arguments of `reproduce verify`.
#[derive(Args)]
pub struct VerifyArgs {
    /// Entry or group names to check (default: everything in zoo.yaml).
    #[arg(value_name = "NAME|GROUP")]
    names: Vec<String>,
    /// Print a JSON report instead of a table, and no progress.
    #[arg(long)]
    json: bool,
    /// Also read every file the archives unpacked and compare its CRC-32 with the archive's
    /// (damage that keeps a file's size; slower: reads all of WIDER).
    #[arg(long)]
    deep: bool,
}

impl VerifyArgs {
    /// Re-hashes the downloaded entries and prints one line per entry; exit 1 when one is bad.
    pub fn run(self, global: &Global) -> Result<ExitCode> {
        let zoo = global.zoo()?;
        let sink = progress::stderr(self.json);
        let report = fetch::verify(
            &zoo,
            &global.data_dir,
            &self.names,
            self.deep,
            sink.as_ref(),
        )?;
        let bad = report.iter().filter(|v| v.is_bad()).count();
        let mut out = std::io::stdout().lock();
        if self.json {
            writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
        } else {
            for v in &report {
                writeln!(
                    out,
                    "{:<20} {:<16} {}",
                    v.name,
                    verdict(v),
                    v.path.display()
                )?;
                match &v.check {
                    Check::Mismatch { got } => writeln!(
                        out,
                        "{:<20} expected sha256 {}\n{:<20}      got sha256 {got}",
                        "", v.expected, ""
                    )?,
                    Check::WrongSize { len } => writeln!(
                        out,
                        "{:<20} {len} bytes, which is not the registry's size",
                        ""
                    )?,
                    Check::Ok | Check::NotCached => {}
                }
                if v.is_bad()
                    && let Some(u) = &v.unpacked
                {
                    writeln!(out, "{:<20} {}", "", u.describe())?;
                }
            }
            let ok = report
                .iter()
                .filter(|v| v.check == Check::Ok && !v.is_bad())
                .count();
            let absent = report
                .iter()
                .filter(|v| v.check == Check::NotCached)
                .count();
            writeln!(out, "{ok} ok, {bad} bad, {absent} not downloaded")?;
            if bad > 0 {
                writeln!(
                    out,
                    "each bad entry changed since it was fetched: `reproduce fetch NAME` \
                     replaces a wrong file and unpacks an archive again"
                )?;
            }
        }
        Ok(if bad > 0 {
            ExitCode::from(1)
        } else {
            ExitCode::SUCCESS
        })
    }
}

fn verdict(v: &Verified) -> &'static str {
    match (&v.check, &v.unpacked) {
        (Check::Ok, Some(Unpacked::NotUnpacked)) => "NOT UNPACKED",
        (Check::Ok, Some(Unpacked::Changed { .. })) => "UNPACKED CHANGED",
        (Check::Ok, _) => "ok",
        (Check::NotCached, _) => "absent",
        (Check::WrongSize { .. }, _) => "WRONG SIZE",
        (Check::Mismatch { .. }, _) => "MISMATCH",
    }
}
