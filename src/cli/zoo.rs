//! `reproduce zoo list | show NAME`: what the registry holds and what is already downloaded.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Subcommand};
use serde_json::json;

use super::Global;
use bfpgm::zoo::{Model, Zoo};

/// Arguments of `reproduce zoo`.
#[derive(Args)]
pub struct ZooArgs {
    #[command(subcommand)]
    action: ZooAction,
}

#[derive(Subcommand)]
enum ZooAction {
    /// A table of the published checkpoints.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Everything the registry records about one checkpoint.
    Show {
        /// Registry name, e.g. eresfd-30.
        name: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

impl ZooArgs {
    pub fn run(self, global: &Global) -> Result<ExitCode> {
        let zoo = global.zoo()?;
        let mut out = std::io::stdout().lock();
        match self.action {
            ZooAction::List { json } => {
                if json {
                    let rows: Vec<_> = zoo.models.iter().map(|m| model_json(m, global)).collect();
                    writeln!(out, "{}", serde_json::to_string_pretty(&rows)?)?;
                } else {
                    list_table(&mut out, &zoo, global)?;
                }
            }
            ZooAction::Show { name, json } => {
                let m = zoo.model(&name)?;
                if json {
                    writeln!(
                        out,
                        "{}",
                        serde_json::to_string_pretty(&model_json(m, global))?
                    )?;
                } else {
                    show_text(&mut out, m, global)?;
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}

fn cached(m: &Model, global: &Global) -> bool {
    let path = m.artifact.path(&global.data_dir);
    std::fs::metadata(path).is_ok_and(|md| md.len() == m.artifact.bytes)
}

fn model_json(m: &Model, global: &Global) -> serde_json::Value {
    json!({
        "name": m.name(),
        "arch": m.arch,
        "file": m.artifact.file,
        "bytes": m.artifact.bytes,
        "sha256": m.artifact.sha256,
        "urls": m.artifact.urls,
        "target_rate": m.target_rate,
        "published": m.published,
        "expected": m.expected,
        "path": m.artifact.path(&global.data_dir),
        "cached": cached(m, global),
    })
}

fn pct(x: Option<f64>) -> String {
    x.map_or("-".to_string(), |r| format!("{:.0}%", r * 100.0))
}

fn list_table(out: &mut impl Write, zoo: &Zoo, global: &Global) -> Result<()> {
    writeln!(
        out,
        "{:<16} {:<7} {:>6} {:>9} {:>9}  cached",
        "name", "arch", "target", "sparsity", "size"
    )?;
    for m in &zoo.models {
        writeln!(
            out,
            "{:<16} {:<7} {:>6} {:>8.2}% {:>6} KB  {}",
            m.name(),
            m.arch.to_string(),
            pct(m.target_rate),
            m.published.sparsity,
            m.artifact.bytes / 1000,
            if cached(m, global) { "yes" } else { "no" }
        )?;
    }
    Ok(())
}

fn show_text(out: &mut impl Write, m: &Model, global: &Global) -> Result<()> {
    let a = &m.artifact;
    writeln!(out, "name:          {}", m.name())?;
    writeln!(out, "architecture:  {}", m.arch)?;
    writeln!(out, "target rate:   {}", pct(m.target_rate))?;
    writeln!(out, "file:          {} ({} bytes)", a.file, a.bytes)?;
    writeln!(out, "sha256:        {}", a.sha256)?;
    for u in &a.urls {
        writeln!(out, "url:           {u}")?;
    }
    let rates: Vec<String> = m
        .published
        .group_rates
        .iter()
        .map(|r| format!("{:.1}%", r * 100.0))
        .collect();
    writeln!(
        out,
        "group rates:   {} (published, G1..G6)",
        rates.join(" ")
    )?;
    writeln!(
        out,
        "sparsity:      {:.2}% published, {:.4}% expected",
        m.published.sparsity, m.expected.sparsity
    )?;
    writeln!(out, "path:          {}", a.path(&global.data_dir).display())?;
    writeln!(
        out,
        "cached:        {}",
        if cached(m, global) { "yes" } else { "no" }
    )?;
    if cached(m, global) {
        let params = bfpgm::checkpoint::parameter_count(&a.path(&global.data_dir))?;
        writeln!(out, "parameters:    {params} (counted from the file)")?;
    }
    Ok(())
}
