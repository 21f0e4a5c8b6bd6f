//! `reproduce finetune`: prune once with the BO's rates, then fine-tune with upstream's
//! semantics (`crate::prune::finetune`); writes `model.pth` and `model.json` (the rates and the
//! measured group rates and sparsity) in the run folder.

use std::process::ExitCode;

use anyhow::{Context, Result, bail};

use super::flags::{apply_train, criterion, rated_start, run_options};
use crate::prune::bayes::search::rates_text;
use crate::prune::finetune::{FINETUNE_SETTINGS, FinetuneConfig, FinetuneSettings, run_finetune};
use crate::train::state::RunDir;
use bfpgm_core::cli::Global;
use bfpgm_core::cli::finetune::*;
use bfpgm_core::progress;
use bfpgm_core::record::{Record, Semantics};

fn config(
    args: &FinetuneArgs,
    global: &Global,
    sink: &dyn progress::Progress,
) -> Result<FinetuneConfig> {
    let dir = RunDir::new(&args.out);
    let mut cfg = if args.resume {
        if args.init.is_some() || args.rates.is_some() || args.arch.is_some() {
            bail!(
                "--resume continues the run in {} with its saved weights and rates; drop \
                 --arch, --init and --rates",
                args.out.display()
            );
        }
        let finetune: FinetuneSettings = dir
            .read_settings(FINETUNE_SETTINGS)
            .context("nothing to resume")?;
        FinetuneConfig {
            finetune,
            train: dir.read_config()?,
        }
    } else {
        let (Some(given), Some(rates)) = (&args.init, &args.rates) else {
            bail!("--init and --rates are required to start fine-tuning");
        };
        let start = rated_start(
            global,
            sink,
            args.arch,
            given,
            rates,
            args.pruner,
            &args.data,
        )?;
        FinetuneConfig::upstream(
            start.arch,
            start.plan,
            Some(start.target),
            &start.weights,
            start.data,
        )
    };
    if let Some(p) = args.pruner {
        cfg.finetune.plan.criterion = criterion(p);
    }
    if args.train_all {
        cfg.finetune.semantics = Semantics::FixedMasks;
    }
    apply_train(&args.train, &mut cfg.train);
    Ok(cfg)
}

/// Fine-tunes and prints the final checkpoint with its measured sparsity.
pub fn run(args: FinetuneArgs, global: &Global) -> Result<ExitCode> {
    let sink = progress::stderr(args.exec.quiet);
    let cfg = config(&args, global, sink.as_ref())?;
    let opts = run_options(&args.exec)?;
    let dir = RunDir::new(&args.out);
    let result = run_finetune(&cfg, &dir, args.resume, &opts, sink.as_ref())?;
    let r = &result.record;
    println!(
        "model: {} (rates {}, sparsity {:.2} %, {} of {} filters zero); record: {}",
        result.checkpoint.display(),
        rates_text(&r.rates),
        r.sparsity_percent,
        r.zero_filters,
        r.filters,
        Record::path_for(&result.checkpoint).display()
    );
    Ok(ExitCode::SUCCESS)
}
