//! `reproduce fetch NAME|GROUP...`: download, verify and unpack registry entries. A file stamped
//! as verified (by size and modification time) is not hashed again; `reproduce verify` re-hashes
//! everything.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;

use super::Global;
use crate::fetch::{self, Extraction, Fetched, Outcome};
use crate::progress::{self, Unit, amount};

/// Arguments of `reproduce fetch`.
#[derive(Args)]
pub struct FetchArgs {
    /// Entry or group names from zoo.yaml (e.g. eresfd-30, models, wider-val, wider-gt, all).
    #[arg(required = true, value_name = "NAME|GROUP")]
    names: Vec<String>,
    /// Print a JSON report instead of a table, and no progress.
    #[arg(long)]
    json: bool,
}

impl FetchArgs {
    /// Downloads, verifies and unpacks, then prints one line per entry.
    pub fn run(self, global: &Global) -> Result<ExitCode> {
        let zoo = global.zoo()?;
        let options = global.fetch_options()?;
        let sink = progress::stderr(self.json);
        let fetched = fetch::fetch(&zoo, &global.data_dir, &self.names, &options, sink.as_ref())?;
        let mut out = std::io::stdout().lock();
        if self.json {
            writeln!(out, "{}", serde_json::to_string_pretty(&fetched)?)?;
        } else {
            for f in &fetched {
                writeln!(
                    out,
                    "{:<18} {:<44} {}",
                    f.name,
                    describe(f),
                    f.path.display()
                )?;
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// What happened to one entry, in a few words.
fn describe(f: &Fetched) -> String {
    let mut text = match &f.outcome {
        Outcome::Cached => "already verified".to_string(),
        Outcome::Checked => "verified the file already there".to_string(),
        Outcome::Downloaded {
            bytes,
            resumed_from,
            ..
        } if *resumed_from > 0 => format!(
            "downloaded {} (resumed at {})",
            amount(Unit::Bytes, *bytes),
            amount(Unit::Bytes, *resumed_from)
        ),
        Outcome::Downloaded { bytes, .. } => format!("downloaded {}", amount(Unit::Bytes, *bytes)),
    };
    match &f.extraction {
        Some(Extraction::AlreadyDone) => text += ", already extracted",
        Some(Extraction::Extracted { entries, .. }) => {
            text += &format!(", extracted {entries} entries")
        }
        None => {}
    }
    text
}
