//! `reproduce compare`: B-FPGM's models and the uniform baselines of each network evaluated with
//! `eval`'s session (resumable), their sparsity measured from the weights, then the comparison of
//! `bfpgm_core::tradeoff` printed, written as JSON and drawn (`bfpgm_core::cli::compare` holds the
//! arguments).

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result};

use super::eval::INTERRUPTED;
use crate::device;
use crate::eval::infer::{interrupt_flag, prefer_huge_pages};
use crate::eval::session::{self, EvalConfig};
use crate::eval::spec::ModelSpec;
use bfpgm_core::cli::Global;
use bfpgm_core::cli::compare::CompareArgs;
use bfpgm_core::cli::eval::is_mini_val;
use bfpgm_core::fsutil::write_atomic;
use bfpgm_core::groups::Grouping;
use bfpgm_core::measure::Measurement;
use bfpgm_core::progress;
use bfpgm_core::report::plot::save_charts;
use bfpgm_core::report::tradeoff::{charts, render_markdown, render_text};
use bfpgm_core::tradeoff::{self, Entry};
use bfpgm_core::wider::{EvalSet, zoo_gt_files};
use bfpgm_core::zoo::Model;

/// Runs `compare`: fetches what is missing, evaluates, prints and writes the comparison.
pub fn run(args: CompareArgs, global: &Global) -> Result<ExitCode> {
    prefer_huge_pages();
    let zoo = global.zoo()?;
    let data = &global.data_dir;
    let options = global.fetch_options()?;
    let sink = progress::stderr(false);
    let archs = args.archs();
    let models: Vec<&Model> = archs
        .iter()
        .flat_map(|&a| zoo.models.iter().filter(move |m| m.arch == a))
        .collect();
    let names: Vec<&str> = models.iter().map(|m| m.name()).collect();
    bfpgm_core::fetch::ensure(&zoo, data, &names, &options, sink.as_ref())?;
    let set = match (&args.images, args.set(&zoo, data)) {
        (Some(images), _) => {
            bfpgm_core::fetch::ensure(&zoo, data, &["wider-gt"], &options, sink.as_ref())?;
            EvalSet {
                images: images.clone(),
                ground_truth: zoo_gt_files(&zoo, data)?,
                subset: args.subset,
            }
        }
        (None, Some(set)) => set.prepare(&zoo, data, &options, sink.as_ref())?,
        (None, None) => unreachable!("CompareArgs::set names a set whenever --images is absent"),
    };
    let on_mini = set.subset && is_mini_val(&zoo, data, &set.images);
    let specs = models
        .iter()
        .map(|m| ModelSpec {
            name: m.name().to_string(),
            arch: m.arch,
            checkpoint: m.artifact.path(data),
            references: Vec::new(),
            band: m.expected.mini_ap_band.filter(|_| on_mini),
        })
        .collect();
    let config = EvalConfig {
        models: specs,
        images: set.images.clone(),
        subset: set.subset,
        ground_truth: set.ground_truth.clone(),
        out: args.out.clone(),
        device: device::resolve(args.device)?,
        workers: args
            .workers
            .map_or_else(session::default_workers, usize::from),
        threads: usize::from(args.threads),
        max_pixels: args.limit.max_pixels,
    };
    let run = session::run(&config, sink.as_ref(), interrupt_flag()?)?;
    let mut stdout = std::io::stdout().lock();
    if let Some((name, done)) = &run.interrupted {
        writeln!(
            stdout,
            "interrupted: {name} has {} of {} prediction files in {}; run the same command \
             again to resume",
            done.already_done + done.inferred,
            done.images,
            config.out.join(name).display()
        )?;
        return Ok(ExitCode::from(INTERRUPTED));
    }
    let mut entries = Vec::with_capacity(models.len());
    for (m, result) in models.iter().zip(&run.models) {
        let measured = Measurement::read(&result.spec.checkpoint, m.arch, Grouping::Checkpoint)?;
        entries.push(Entry {
            model: m,
            sparsity: measured.sparsity.percent(),
            ap: result.evaluation.aps(),
            band: result.spec.band,
        });
    }
    let images = if on_mini {
        format!("the {} mini val images", run.images)
    } else if set.subset {
        format!("{} val images under {}", run.images, set.images.display())
    } else {
        format!("WIDER FACE val ({} images)", run.images)
    };
    let comparison = tradeoff::build(&entries, &images);
    let text = if args.markdown {
        render_markdown(&comparison)
    } else {
        render_text(&comparison)
    };
    stdout.write_all(text.as_bytes())?;
    let json = args
        .json
        .clone()
        .unwrap_or_else(|| config.out.join("compare.json"));
    write_atomic(
        &json,
        (serde_json::to_string_pretty(&comparison)? + "\n").as_bytes(),
    )
    .context("cannot write the comparison")?;
    writeln!(stdout, "comparison: {}", json.display())?;
    for n in &comparison.networks {
        let png = config.out.join(format!("tradeoff-{}.png", n.arch));
        save_charts(&charts(n, &images), &png)?;
        writeln!(stdout, "figure: {}", png.display())?;
    }
    Ok(ExitCode::SUCCESS)
}
