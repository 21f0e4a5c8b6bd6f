//! `reproduce sfp`: soft filter pruning of a pre-trained model with the BO's rates, on upstream's
//! schedule (`crate::prune::sfp`), every hyper-parameter a flag with upstream's default.

use std::process::ExitCode;

use anyhow::Result;

use super::flags::{Begin, RatedFlags, apply_train, begin_rated, criterion, run_options};
use crate::prune::sfp::{SFP_SETTINGS, SfpConfig, SfpSchedule, run_sfp};
use crate::train::state::RunDir;
use bfpgm_core::cli::Global;
use bfpgm_core::cli::sfp::*;
use bfpgm_core::progress;

fn config(args: &SfpArgs, global: &Global, sink: &dyn progress::Progress) -> Result<SfpConfig> {
    let flags = RatedFlags {
        stage: "SFP",
        out: &args.out,
        resume: args.resume,
        weights_flag: "--pretrained",
        weights: args.pretrained.as_deref(),
        rates: args.rates.as_deref(),
        arch: args.arch,
        pruner: args.pruner,
        data: &args.data,
    };
    let mut cfg = match begin_rated(flags, SFP_SETTINGS, global, sink)? {
        Begin::Resume(sfp, train) => SfpConfig { sfp, train },
        Begin::Start(s) => SfpConfig::upstream(s.arch, s.plan, &s.weights, s.data),
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
