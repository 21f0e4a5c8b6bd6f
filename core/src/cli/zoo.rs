//! `reproduce zoo list | show NAME`: what the registry holds and what is already downloaded.
//! `list --arch` and `--method` narrow the models down (e.g. `--method fpgm`: the uniform FPGM
//! baselines).
//!
//! "cached" comes from [`crate::fetch::status`]: a few `stat` calls, no hashing. A file is
//! "yes" once a fetch or verify has hashed it right and it has not changed since.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Subcommand};
use serde_json::json;

use super::Global;
use crate::fetch::{self, State, Status};
use crate::progress::{Unit, amount};
use crate::report::text_table::TextTable;
use crate::zoo::{Arch, Artifact, Method, Model, Zoo, unknown_name};

/// Arguments of `reproduce zoo`.
#[derive(Args)]
pub struct ZooArgs {
    #[command(subcommand)]
    action: ZooAction,
}

#[derive(Subcommand)]
enum ZooAction {
    /// A table of the published checkpoints, then of the dataset files.
    List {
        /// Print JSON instead of tables.
        #[arg(long)]
        json: bool,
        /// Only the models of this network (and no dataset files).
        #[arg(long, value_parser = super::model_arg::arch_parser())]
        arch: Option<Arch>,
        /// Only the models pruned this way (and no dataset files).
        #[arg(long, value_parser = super::model_arg::method_parser())]
        method: Option<Method>,
    },
    /// Everything the registry records about one entry.
    Show {
        /// Registry name, e.g. eresfd-30 or wider-gt-easy.
        name: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

impl ZooArgs {
    /// Lists or shows the registry entries.
    pub fn run(self, global: &Global) -> Result<ExitCode> {
        let zoo = global.zoo()?;
        let mut out = std::io::stdout().lock();
        match self.action {
            ZooAction::List { json, arch, method } => {
                let models: Vec<&Model> = zoo
                    .models
                    .iter()
                    .filter(|m| arch.is_none_or(|a| m.arch == a))
                    .filter(|m| method.is_none_or(|x| m.method == x))
                    .collect();
                let files: &[Artifact] = if arch.is_some() || method.is_some() {
                    &[]
                } else {
                    &zoo.files
                };
                if json {
                    let models = models
                        .iter()
                        .map(|m| model_json(m, global))
                        .collect::<Result<Vec<_>>>()?;
                    let files: Vec<_> = files.iter().map(|a| file_json(a, global)).collect();
                    let doc = json!({ "models": models, "files": files });
                    writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
                } else {
                    list_table(&mut out, &zoo, &models, files, global)?;
                }
            }
            ZooAction::Show { name, json } => match zoo.models.iter().find(|m| m.name() == name) {
                Some(m) if json => writeln!(
                    out,
                    "{}",
                    serde_json::to_string_pretty(&model_json(m, global)?)?
                )?,
                Some(m) => show_model(&mut out, &zoo, m, global)?,
                None => {
                    let a = zoo.files.iter().find(|a| a.name == name).ok_or_else(|| {
                        let known: Vec<&str> = zoo.artifacts().map(|a| a.name.as_str()).collect();
                        unknown_name("entry", &name, &known, "reproduce zoo list")
                    })?;
                    if json {
                        writeln!(
                            out,
                            "{}",
                            serde_json::to_string_pretty(&file_json(a, global))?
                        )?;
                    } else {
                        show_file(&mut out, a, global)?;
                    }
                }
            },
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// The "cached" column: yes, or why not.
fn cached_text(a: &Artifact, s: &Status) -> String {
    match s.state {
        State::Verified if s.extracted == Some(false) => "not unpacked".into(),
        State::Verified => "yes".into(),
        State::Unchecked => "unverified".into(),
        State::WrongSize { .. } => "wrong size".into(),
        State::Partial { have } => format!("partial {:.0}%", 100.0 * have as f64 / a.bytes as f64),
        State::Missing => "no".into(),
    }
}

fn artifact_json(a: &Artifact, global: &Global) -> serde_json::Value {
    let status = fetch::status(a, &global.data_dir);
    json!({
        "name": a.name,
        "file": a.file,
        "bytes": a.bytes,
        "sha256": a.sha256,
        "urls": a.urls,
        "path": a.path(&global.data_dir),
        "cached": status.is_ready(),
        "status": status,
    })
}

fn model_json(m: &Model, global: &Global) -> Result<serde_json::Value> {
    let mut v = artifact_json(&m.artifact, global);
    let extra = json!({
        "arch": m.arch,
        "method": m.method,
        "paper": m.paper,
        "groups": m.artifact.groups,
        "target_rate": m.target_rate,
        "published": m.published,
        "expected": m.expected,
        "parameters": parameter_count(m, global)?,
    });
    if let (Some(obj), serde_json::Value::Object(more)) = (v.as_object_mut(), extra) {
        obj.extend(more);
    }
    Ok(v)
}

fn file_json(a: &Artifact, global: &Global) -> serde_json::Value {
    let mut v = artifact_json(a, global);
    if let Some(obj) = v.as_object_mut() {
        obj.insert("extract".into(), json!(a.extract));
        obj.insert("groups".into(), json!(a.groups));
    }
    v
}

fn pct(x: Option<f64>) -> String {
    x.map_or("-".to_string(), |r| format!("{:.0}%", r * 100.0))
}

/// The models' table (sparsity measured from the weights, `expected.sparsity`), then the data
/// files' and the groups.
fn list_table(
    out: &mut impl Write,
    zoo: &Zoo,
    models: &[&Model],
    files: &[Artifact],
    global: &Global,
) -> Result<()> {
    let mut table = TextTable::new([
        "name", "arch", "method", "target", "sparsity", "size", "cached",
    ])
    .right_align(3..6);
    for m in models {
        let status = fetch::status(&m.artifact, &global.data_dir);
        table.push([
            m.name().to_string(),
            m.arch.to_string(),
            m.method.to_string(),
            pct(m.target_rate),
            format!("{:.2}%", m.expected.sparsity),
            amount(Unit::Bytes, m.artifact.bytes),
            cached_text(&m.artifact, &status),
        ]);
    }
    writeln!(out, "{}", table.plain())?;
    if !files.is_empty() {
        writeln!(out, "{}", files_table(files, global).plain())?;
    }
    writeln!(
        out,
        "`reproduce fetch NAME|GROUP...` downloads entries; groups: {}",
        zoo.group_names().into_iter().collect::<Vec<_>>().join(", ")
    )?;
    Ok(())
}

fn files_table(files: &[Artifact], global: &Global) -> TextTable {
    let mut table =
        TextTable::new(["data file", "file", "size", "groups", "cached"]).right_align([2]);
    for a in files {
        let status = fetch::status(a, &global.data_dir);
        table.push([
            a.name.clone(),
            a.file.clone(),
            amount(Unit::Bytes, a.bytes),
            if a.groups.is_empty() {
                "-".to_string()
            } else {
                a.groups.join(",")
            },
            cached_text(a, &status),
        ]);
    }
    table
}

fn show_common(out: &mut impl Write, a: &Artifact, global: &Global) -> Result<()> {
    writeln!(out, "file:          {} ({} bytes)", a.file, a.bytes)?;
    writeln!(out, "sha256:        {}", a.sha256)?;
    for u in &a.urls {
        writeln!(out, "url:           {u}")?;
    }
    writeln!(out, "path:          {}", a.path(&global.data_dir).display())?;
    let status = fetch::status(a, &global.data_dir);
    writeln!(out, "cached:        {}", cached_text(a, &status))?;
    Ok(())
}

fn show_model(out: &mut impl Write, zoo: &Zoo, m: &Model, global: &Global) -> Result<()> {
    writeln!(out, "name:          {}", m.name())?;
    writeln!(out, "architecture:  {}", m.arch)?;
    writeln!(out, "method:        {}", m.method)?;
    if let Some(paper) = m.paper.as_deref().and_then(|id| zoo.paper(id)) {
        writeln!(out, "paper:         {} (arXiv {})", paper.cite, paper.arxiv)?;
    }
    writeln!(out, "target rate:   {}", pct(m.target_rate))?;
    match &m.published {
        Some(p) => {
            let rates: Vec<String> = p
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
                p.sparsity, m.expected.sparsity
            )?;
        }
        None => writeln!(
            out,
            "sparsity:      {:.4}% expected (measured; none published)",
            m.expected.sparsity
        )?,
    }
    if let Some(params) = parameter_count(m, global)? {
        writeln!(out, "parameters:    {params} (counted from the file)")?;
    }
    show_common(out, &m.artifact, global)
}

/// Parameters of a downloaded checkpoint, counted as upstream's `named_parameters()` does over
/// the model's canonical keys, after the checks loading it would make.
fn parameter_count(m: &Model, global: &Global) -> Result<Option<u64>> {
    fetch::cached_path(&m.artifact, &global.data_dir)
        .map(|path| crate::checkpoint::parameter_count(&path, m.arch))
        .transpose()
}

fn show_file(out: &mut impl Write, a: &Artifact, global: &Global) -> Result<()> {
    writeln!(out, "name:          {}", a.name)?;
    if !a.groups.is_empty() {
        writeln!(out, "groups:        {}", a.groups.join(", "))?;
    }
    if a.urls.is_empty() {
        writeln!(
            out,
            "url:           none (test mirror only: use --mirror or BFPGM_MIRROR)"
        )?;
    }
    if a.extract {
        writeln!(
            out,
            "unpacked into: {}",
            a.path(&global.data_dir)
                .parent()
                .map_or_else(String::new, |p| p.display().to_string())
        )?;
    }
    show_common(out, a, global)
}
