//! `reproduce sfp`: soft filter pruning of a pre-trained model with the BO's rates, on upstream's
//! schedule (`crate::prune::sfp`), every hyper-parameter a flag with upstream's default.

use std::process::ExitCode;

use anyhow::{Context, Result, bail};

use super::flags::{apply_train, criterion, rated_start, run_options};
use crate::prune::sfp::{SFP_SETTINGS, SfpConfig, SfpSchedule, SfpSettings, run_sfp};
use crate::train::state::RunDir;
use bfpgm_core::cli::Global;
use bfpgm_core::cli::sfp::*;
use bfpgm_core::progress;

fn config(args: &SfpArgs, global: &Global, sink: &dyn progress::Progress) -> Result<SfpConfig> {
    let dir = RunDir::new(&args.out);
    let mut cfg = if args.resume {
        if args.pretrained.is_some() || args.rates.is_some() || args.arch.is_some() {
            bail!(
                "--resume continues the run in {} with its saved weights and rates; drop \
                 --arch, --pretrained and --rates",
                args.out.display()
            );
        }
        let sfp: SfpSettings = dir
            .read_settings(SFP_SETTINGS)
            .context("nothing to resume")?;
        SfpConfig {
            sfp,
            train: dir.read_config()?,
        }
    } else {
        let (Some(given), Some(rates)) = (&args.pretrained, &args.rates) else {
            bail!("--pretrained and --rates are required to start SFP");
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
        SfpConfig::upstream(start.arch, start.plan, &start.weights, start.data)
    };
    if let Some(n) = args.prune_every {
        cfg.sfp.schedule = match cfg.sfp.schedule {
            SfpSchedule::PruneAfter { .. } => SfpSchedule::PruneAfter { every: n },
            SfpSchedule::Rounds { .. } => SfpSchedule::Rounds { epochs: n },
        };
    }
    if let Some(p) = args.pruner {
        cfg.sfp.plan.criterion = criterion(p);
    }
    if args.persistent_optimizer {
        cfg.train.fresh_optimizer_each_epoch = false;
    }
    apply_train(&args.train, &mut cfg.train);
    Ok(cfg)
}

/// Runs SFP and prints where the pruned weights are.
pub fn run(args: SfpArgs, global: &Global) -> Result<ExitCode> {
    let sink = progress::stderr(args.exec.quiet);
    let cfg = config(&args, global, sink.as_ref())?;
    let opts = run_options(&args.exec)?;
    let dir = RunDir::new(&args.out);
    let summary = run_sfp(&cfg, &dir, args.resume, &opts, sink.as_ref())?;
    println!(
        "trained {} of {} epochs; last (freshly pruned) weights: {}",
        summary.epochs_done,
        cfg.train.epochs,
        summary.last.display()
    );
    Ok(ExitCode::SUCCESS)
}
