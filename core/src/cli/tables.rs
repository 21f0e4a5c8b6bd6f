//! `reproduce tables`: the reviewer's first step. Fetches the zoo's checkpoints (the mirror
//! first, then the pinned upstream URLs, each verified by sha256), measures every one, and prints
//! the paper's group-rate and sparsity tables for EResFD and EXTD with the published value, the
//! measured one and their difference in every cell (`crate::report::tables`), then the uniform
//! baselines' measured rates and sparsity beside their target (`crate::report::baselines`).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::{Args, ValueEnum};

use super::Global;
use super::model_arg;
use crate::fetch;
use crate::groups::Grouping;
use crate::measure::Measurement;
use crate::progress;
use crate::record::Record;
use crate::report::tables::{self, render_json, render_markdown, render_text};
use crate::zoo::Arch;

/// Arguments of `reproduce tables`.
#[derive(Args)]
pub struct TablesArgs {
    /// Print JSON (stable fields, documented in `report::tables`) and no progress.
    #[arg(long, conflicts_with = "markdown")]
    json: bool,
    /// Print GitHub-flavoured Markdown, to paste into a review.
    #[arg(long)]
    markdown: bool,
    /// EResFD's layer grouping: the one the released checkpoints follow, or the one written in
    /// upstream's main_bayesian_prune.py.
    #[arg(long, value_enum, default_value_t = GroupingArg::Checkpoint)]
    grouping: GroupingArg,
    /// Also measure this checkpoint (e.g. a pipeline's model.pth), in the table of its network;
    /// the network and the rates it was pruned with come from the record beside it (model.json).
    #[arg(long, value_name = "FILE")]
    checkpoint: Vec<PathBuf>,
    /// Architecture the --checkpoint files must hold [default: what their records say].
    #[arg(long, value_parser = model_arg::arch_parser())]
    arch: Option<Arch>,
}

/// `--grouping`, mirrored from [`Grouping`] so the library stays free of clap.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GroupingArg {
    /// The grouping behind the released checkpoints and README rates (docs/upstream.md §groups).
    Checkpoint,
    /// The grouping in upstream's committed code.
    UpstreamCode,
}

impl From<GroupingArg> for Grouping {
    fn from(g: GroupingArg) -> Grouping {
        match g {
            GroupingArg::Checkpoint => Grouping::Checkpoint,
            GroupingArg::UpstreamCode => Grouping::UpstreamCode,
        }
    }
}

impl TablesArgs {
    /// Fetches what is missing, measures every model and prints both tables; a model that cannot
    /// be measured is named on stderr after them, and the exit code is 2.
    pub fn run(self, global: &Global) -> Result<ExitCode> {
        let zoo = global.zoo()?;
        let grouping = Grouping::from(self.grouping);
        let sink = progress::stderr(self.json);
        let names: Vec<&str> = zoo.models.iter().map(|m| m.name()).collect();
        fetch::ensure(
            &zoo,
            &global.data_dir,
            &names,
            &global.fetch_options()?,
            sink.as_ref(),
        )?;
        // A checkpoint that cannot be measured (NaN weights, say) loses its row, not the tables.
        let mut measured = Vec::new();
        let mut unreadable = Vec::new();
        for m in &zoo.models {
            match Measurement::read(&m.artifact.path(&global.data_dir), m.arch, grouping) {
                Ok(x) => measured.push((m, x)),
                Err(e) => unreadable.push(format!("{}: {e:#}", m.name())),
            }
        }
        let mut extra = Vec::new();
        for path in &self.checkpoint {
            let record = Record::read_for(path)?;
            let arch = self.arch.map_or(record.arch, Arch::from);
            if record.arch != arch {
                bail!(
                    "{} holds {} weights by its record, not {arch}",
                    path.display(),
                    record.arch
                );
            }
            let name = path.to_string_lossy().into_owned();
            let m = Measurement::read(path, arch, grouping)?;
            extra.push((record.as_model(&name, path), m));
        }
        let pairs: Vec<_> = measured
            .iter()
            .map(|(m, x)| (*m, x))
            .chain(extra.iter().map(|(m, x)| (m, x)))
            .collect();
        let tables = tables::build(&pairs, grouping);
        let text = if self.json {
            render_json(&tables)
        } else if self.markdown {
            render_markdown(&tables)
        } else {
            render_text(&tables)
        };
        std::io::stdout().lock().write_all(text.as_bytes())?;
        if unreadable.is_empty() {
            return Ok(ExitCode::SUCCESS);
        }
        for e in &unreadable {
            eprintln!("error: {e}");
        }
        eprintln!(
            "error: {} of {} zoo models could not be measured (above); the tables lack their rows",
            unreadable.len(),
            zoo.models.len()
        );
        Ok(ExitCode::from(2))
    }
}
