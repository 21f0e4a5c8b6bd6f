//! `reproduce pipeline --arch eresfd --target 0.3`: pre-training (or `--from` a zoo checkpoint),
//! the Bayesian optimisation, SFP and fine-tuning in one resumable run folder
//! (`crate::prune::pipeline`), then the new model's tables row and, when WIDER val is there, its
//! APs beside the zoo models'. `--quick` is a smoke-run profile.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Result, bail};

use super::bo::search_devices;
use super::flags::{criterion, data_config, run_options, set, starting_weights};
use crate::prune::bo::{BoConfig, BoOptions, device_name};
use crate::prune::finetune::FinetuneConfig;
use crate::prune::pipeline::{
    PipelineConfig, PipelineOptions, PipelineResult, QUICK, Start, run_pipeline,
};
use crate::prune::pruner::PrunePlan;
use crate::prune::sfp::SfpConfig;
use crate::train::{DataConfig, TrainConfig};
use bfpgm_core::check::{ApSet, EvalChoice};
use bfpgm_core::cli::Global;
use bfpgm_core::cli::pipeline::*;
use bfpgm_core::fetch;
use bfpgm_core::measure::Measurement;
use bfpgm_core::progress::{self, Progress};
use bfpgm_core::record::Semantics;
use bfpgm_core::report::tables::{self, render_text};
use bfpgm_core::zoo::{ApTriple, Arch};

/// The WIDER root of a full run, under the data folder.
const WIDER: &str = "WIDER";

fn out(args: &PipelineArgs, global: &Global) -> PathBuf {
    args.out.clone().unwrap_or_else(|| {
        let arch: Arch = args.arch;
        let quick = if args.quick { "-quick" } else { "" };
        global
            .data_dir
            .join("runs")
            .join(format!("pipeline-{arch}-{}{quick}", args.target))
    })
}

fn config(args: &PipelineArgs, global: &Global, sink: &dyn Progress) -> Result<PipelineConfig> {
    let arch: Arch = args.arch;
    // Each stage starts from its upstream constructor; `--quick` then shrinks it, and the flags
    // given override both.
    let quick = args.quick.then_some(QUICK);
    if args.quick && args.data.wider.is_none() {
        fetch::ensure(
            &global.zoo()?,
            &global.data_dir,
            &["wider-mini"],
            &global.fetch_options()?,
            sink,
        )?;
    }
    let root = args.data.root(global, quick.map_or(WIDER, |q| q.wider))?;
    let data = DataConfig {
        max_train_images: args.data.max_images.or(quick.map(|q| q.max_images)),
        max_val_images: args.data.max_val_images.or(quick.map(|q| q.max_val_images)),
        ..data_config(&args.data, &root)
    };
    let input_size = args.input_size.or(quick.map(|q| q.input_size));
    let seed = args.seed as u64;
    let stage = |cfg: &mut TrainConfig, epochs: [Option<u32>; 2], batch: Option<usize>| {
        for e in epochs {
            set(&mut cfg.epochs, e);
        }
        set(&mut cfg.batch_size, batch);
        set(&mut cfg.val_batch_size, batch);
        set(&mut cfg.augment.size, input_size);
        cfg.seed = seed;
    };
    let batch = quick.map(|q| q.batch);

    let start = match &args.from {
        Some(given) => {
            let (weights, other) = starting_weights(global, given, None, sink)?;
            if other != arch {
                bail!("--from {given} is an {other} model, not {arch}");
            }
            Start::Checkpoint(weights)
        }
        None => {
            let mut cfg = TrainConfig::upstream(arch, data.clone());
            let epochs = [quick.map(|q| q.pretrain_epochs), args.pretrain_epochs];
            stage(&mut cfg, epochs, batch);
            Start::Pretrain(Box::new(cfg))
        }
    };

    let mut bo = BoConfig::upstream(arch, PathBuf::new(), root.clone());
    bo.grouping = args.grouping.into();
    bo.target = args.target;
    set(&mut bo.n_init, quick.map(|q| q.n_init));
    set(&mut bo.n_init, args.n_init_points);
    set(&mut bo.n_iter, quick.map(|q| q.n_iter));
    set(&mut bo.n_iter, args.n_opt_iterations);
    bo.probe_offset = args.probing_offset;
    set(&mut bo.penalty.lambda, args.lambda);
    bo.seed = args.seed;
    bo.max_images = data.max_train_images;
    set(&mut bo.inner.batch_size, batch);
    set(&mut bo.inner.val_batch_size, batch);
    set(&mut bo.inner.augment.size, input_size);

    // The prune plans and inputs are placeholders: the pipeline fills them from the stages.
    let plan = PrunePlan {
        grouping: bo.grouping,
        rates: [0.0; 6],
        criterion: criterion(args.pruner),
    };
    let mut sfp = SfpConfig::upstream(arch, plan, &PathBuf::new(), data.clone());
    let epochs = [quick.map(|q| q.sfp_epochs), args.sfp_epochs];
    stage(&mut sfp.train, epochs, batch);
    let mut finetune = FinetuneConfig::upstream(arch, plan, None, &PathBuf::new(), data);
    let epochs = [quick.map(|q| q.finetune_epochs), args.finetune_epochs];
    stage(&mut finetune.train, epochs, quick.map(|q| q.finetune_batch));
    if args.train_all {
        finetune.finetune.semantics = Semantics::FixedMasks;
    }
    Ok(PipelineConfig {
        arch,
        start,
        bo,
        sfp,
        finetune,
        criterion: criterion(args.pruner),
        eval: eval_set(args, global, sink)?,
    })
}

/// The WIDER val set `--eval` asks for, fetched where the choice says so.
fn eval_set(
    args: &PipelineArgs,
    global: &Global,
    sink: &dyn Progress,
) -> Result<Option<bfpgm_core::wider::EvalSet>> {
    let zoo = global.zoo()?;
    let choice = match args.eval {
        EvalArg::Off => EvalChoice::Off,
        EvalArg::Auto => EvalChoice::Auto,
        EvalArg::Mini => EvalChoice::On(ApSet::Mini),
        EvalArg::Full => EvalChoice::On(ApSet::Full),
    };
    let Some(set) = choice.resolve(&zoo, &global.data_dir) else {
        return Ok(None);
    };
    Ok(Some(set.prepare(
        &zoo,
        &global.data_dir,
        &global.fetch_options()?,
        sink,
    )?))
}

/// Runs the pipeline, then prints the stage timings, the tables row and the APs.
pub fn run(args: PipelineArgs, global: &Global) -> Result<ExitCode> {
    let sink = progress::stderr(args.exec.quiet);
    let cfg = config(&args, global, sink.as_ref())?;
    let run = run_options(&args.exec)?;
    let opts = PipelineOptions {
        bo: BoOptions {
            devices: search_devices(&args.devices, &args.exec)?,
            loader_workers: run.workers,
            max_pixels: run.max_pixels,
            max_trials: None,
            shard: None,
            merge: Vec::new(),
        },
        eval_device: run.device.device,
        run,
    };
    let dir = out(&args, global);
    let result = run_pipeline(&cfg, &dir, &opts, sink.as_ref())?;
    let name = dir
        .file_name()
        .map_or("pipeline".into(), |n| n.to_string_lossy().into_owned());
    report(
        &mut std::io::stdout().lock(),
        global,
        &cfg,
        &opts,
        &name,
        &result,
    )?;
    Ok(ExitCode::SUCCESS)
}

/// The final report: stage timings, the new model's tables row, its APs beside the zoo's.
fn report(
    out: &mut impl Write,
    global: &Global,
    cfg: &PipelineConfig,
    opts: &PipelineOptions,
    name: &str,
    result: &PipelineResult,
) -> Result<()> {
    writeln!(
        out,
        "stage timings (training on {}, search on {}):",
        device_name(opts.run.device.device),
        opts.bo
            .devices
            .iter()
            .map(|d| device_name(*d))
            .collect::<Vec<_>>()
            .join(",")
    )?;
    for s in &result.stages {
        let status = serde_json::to_value(s.status)?;
        writeln!(
            out,
            "  {:<9} {:<9} {:>9.1} s",
            s.stage,
            status.as_str().unwrap_or_default(),
            s.seconds
        )?;
    }
    writeln!(out, "model: {}", result.checkpoint.display())?;
    let model = result.record.as_model(name, &result.checkpoint);
    let measured = Measurement::read(&result.checkpoint, cfg.arch, result.record.grouping)?;
    let table = tables::build(&[(&model, &measured)], result.record.grouping);
    writeln!(
        out,
        "\n(\"published\" below: the rates and sparsity this run recorded in model.json)"
    )?;
    write!(out, "{}", render_text(&table))?;
    if let (Some(aps), Some(set)) = (&result.aps, &cfg.eval) {
        let zoo = global.zoo()?;
        let (label, subset) = if set.subset {
            ("the mini val set (50 images, subset rule)", true)
        } else {
            ("WIDER val", false)
        };
        writeln!(out, "\nAPs on {label}:")?;
        writeln!(
            out,
            "  {:<28} {:>8} {:>8} {:>8}",
            "model", "easy", "medium", "hard"
        )?;
        let line = |out: &mut dyn Write, n: &str, a: &ApTriple| {
            writeln!(
                out,
                "  {n:<28} {:>8.4} {:>8.4} {:>8.4}",
                a.easy, a.medium, a.hard
            )
        };
        line(out, name, aps)?;
        for m in zoo.models.iter().filter(|m| m.arch == cfg.arch) {
            let recorded = if subset {
                m.expected.mini_ap
            } else {
                m.expected.ap.or(m.published.as_ref().and_then(|p| p.ap))
            };
            if let Some(a) = recorded {
                line(out, m.name(), &a)?;
            }
        }
    } else if cfg.eval.is_none() {
        writeln!(
            out,
            "\nAPs not measured: WIDER val is not downloaded (reproduce fetch wider-val \
             wider-gt), or --eval off; --eval mini measures on the 50-image mini set"
        )?;
    }
    Ok(())
}
