//! `reproduce eval MODEL...|--all`: runs the models over the val images with upstream's
//! protocol, then prints and writes their APs (`bfpgm_core::cli::eval` holds the arguments and
//! `--predictions`).

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Result, bail};

use crate::device;
use crate::eval::infer::{interrupt_flag, prefer_huge_pages};
use crate::eval::report::{write_json, write_pr_png};
use crate::eval::session::{self, EvalConfig, EvalRun};
use crate::eval::spec::{ModelSpec, ReferenceAp};
use bfpgm_core::cli::Global;
use bfpgm_core::cli::eval::{EvalArgs, VAL_IMAGES, VAL_IMAGES_DIR, artifact, is_mini_val};
use bfpgm_core::cli::model_arg::{self, IfMissing};
use bfpgm_core::fsutil::check_writable;
use bfpgm_core::progress;
use bfpgm_core::report::text_table::TextTable;
use bfpgm_core::report::tradeoff::ap_text;
use bfpgm_core::wider::ValMatFiles;
use bfpgm_core::zoo::{Arch, GROUP_MODELS, Model, Zoo};

/// Exit code of a run stopped by Ctrl-C (128 + SIGINT, as shells report it).
pub(super) const INTERRUPTED: u8 = 130;

/// Runs `eval`: the models over the images, or the prediction files of `--predictions`.
pub fn run(args: EvalArgs, global: &Global) -> Result<ExitCode> {
    if args.predictions.is_some() {
        return args.run_predictions(global);
    }
    let files = args.gt_files(global)?;
    run_models(&args, global, files)
}

/// Runs the models over the images, evaluates, prints the table and writes the reports.
fn run_models(args: &EvalArgs, global: &Global, ground_truth: ValMatFiles) -> Result<ExitCode> {
    prefer_huge_pages();
    let zoo = global.zoo()?;
    let data = &global.data_dir;
    let names = if args.all {
        vec![GROUP_MODELS.to_string()]
    } else {
        args.models.clone()
    };
    let names = model_arg::expand_groups(&zoo, &names);
    let resolved_models = names
        .iter()
        .map(|n| model_spec(&zoo, data, n, args.arch))
        .collect::<Result<Vec<_>>>()?;
    refuse_shared_folders(&resolved_models, &args.out)?;
    let device = device::resolve(args.device)?;
    let json = args
        .json
        .clone()
        .unwrap_or_else(|| args.out.join("report.json"));
    let png = args
        .png
        .clone()
        .unwrap_or_else(|| args.out.join("pr_curves.png"));
    for output in [&json, &png] {
        check_writable(output)?;
    }
    let images = match &args.images {
        Some(dir) => dir.clone(),
        None => {
            let val = artifact(&zoo, VAL_IMAGES)?;
            bfpgm_core::fetch::require(val, data)?;
            data.join(&val.dest).join(VAL_IMAGES_DIR)
        }
    };
    let on_mini = args.subset && is_mini_val(&zoo, data, &images);
    let models = resolved_models
        .into_iter()
        .map(|(mut spec, zoo_model)| {
            if let Some(m) = zoo_model {
                spec.references = references(m, args.subset, on_mini);
                spec.band = m.expected.mini_ap_band.filter(|_| on_mini);
            }
            spec
        })
        .collect();
    let config = EvalConfig {
        models,
        images,
        subset: args.subset,
        ground_truth,
        out: args.out.clone(),
        device,
        workers: args
            .workers
            .map_or_else(session::default_workers, usize::from),
        threads: usize::from(args.threads),
        max_pixels: args.limit.max_pixels,
    };
    let stop = interrupt_flag()?;
    let run = session::run(&config, progress::stderr(false).as_ref(), stop)?;
    let mut stdout = std::io::stdout().lock();
    print_model_table(&mut stdout, &config, &run)?;
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
    write_json(&json, &config, &run)?;
    write_pr_png(&png, &run)?;
    writeln!(stdout, "report: {}", json.display())?;
    writeln!(stdout, "PR curves: {}", png.display())?;
    Ok(ExitCode::SUCCESS)
}

/// Refuses, before anything runs, two models whose predictions would share a folder under
/// `out` (two checkpoints with one file stem, or a model named twice), naming both.
fn refuse_shared_folders(models: &[(ModelSpec, Option<&Model>)], out: &Path) -> Result<()> {
    for (i, (a, _)) in models.iter().enumerate() {
        if let Some((b, _)) = models[..i].iter().find(|(b, _)| b.name == a.name) {
            bail!(
                "{} and {} would both write their predictions to {}; evaluate them in separate \
                 runs with different --out folders (or give one a different file name)",
                b.checkpoint.display(),
                a.checkpoint.display(),
                out.join(&a.name).display()
            );
        }
    }
    Ok(())
}

/// A model by zoo name (downloaded; the zoo entry comes along) or by checkpoint file. The spec
/// has no reference APs yet: they depend on the images.
pub(super) fn model_spec<'z>(
    zoo: &'z Zoo,
    data: &Path,
    name: &str,
    arch: Option<Arch>,
) -> Result<(ModelSpec, Option<&'z Model>)> {
    let (checkpoint, arch, model) = model_arg::resolve(zoo, data, name, arch, IfMissing::Refuse)?;
    let spec = ModelSpec {
        name: model_arg::model_name(&checkpoint, model)?,
        arch,
        checkpoint,
        references: Vec::new(),
        band: None,
    };
    Ok((spec, model))
}

/// The APs `zoo.yaml` knows for a model on these images: upstream's on the mini val set, or the
/// published and expected full-val ones for a full run.
fn references(m: &Model, subset: bool, on_mini: bool) -> Vec<ReferenceAp> {
    let known = if on_mini {
        vec![("upstream (mini)", m.expected.mini_ap)]
    } else if !subset {
        vec![
            ("published", m.published.as_ref().and_then(|p| p.ap)),
            ("expected", m.expected.ap),
        ]
    } else {
        Vec::new()
    };
    known
        .into_iter()
        .filter_map(|(label, ap)| {
            ap.map(|ap| ReferenceAp {
                label: label.to_string(),
                ap,
            })
        })
        .collect()
}

/// The measured APs per model, with each known reference and its largest difference below.
fn print_model_table(out: &mut impl Write, config: &EvalConfig, run: &EvalRun) -> Result<()> {
    let scope = if config.subset { " (subset)" } else { "" };
    writeln!(
        out,
        "images: {} under {}{scope}; device {}, --workers {} --threads {}",
        run.images,
        config.images.display(),
        crate::eval::report::device_name(config.device),
        config.workers,
        config.threads
    )?;
    let mut table =
        TextTable::new(["model", "easy", "medium", "hard", "s/image"]).right_align(1..4);
    for m in &run.models {
        let ap = m.evaluation.aps();
        let time = m
            .inference
            .seconds_per_image()
            .map_or("-".to_string(), |s| format!("{s:.3}"));
        let band = m.spec.band.as_ref();
        table.push([
            m.spec.name.clone(),
            ap_text(ap.easy, band.map(|b| b.easy)),
            ap_text(ap.medium, band.map(|b| b.medium)),
            ap_text(ap.hard, band.map(|b| b.hard)),
            time,
        ]);
        for r in &m.spec.references {
            table.push([
                format!("  {}", r.label),
                format!("{:.4}", r.ap.easy),
                format!("{:.4}", r.ap.medium),
                format!("{:.4}", r.ap.hard),
                format!("max |diff| {:.1e}", ap.max_abs_diff(&r.ap)),
            ]);
        }
    }
    write!(out, "{}", table.plain())?;
    Ok(())
}
