//! `reproduce finetune`: prune once with the BO's rates, then fine-tune with upstream's
//! semantics (`crate::prune::finetune`); writes `model.pth` and `model.json` (the rates and the
//! measured group rates and sparsity) in the run folder.

use std::process::ExitCode;

use anyhow::Result;

use super::flags::{Begin, RatedFlags, apply_train, begin_rated, criterion, run_options};
use crate::prune::bayes::search_loop::rates_text;
use crate::prune::finetune::{FINETUNE_SETTINGS, FinetuneConfig, run_finetune};
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
    let flags = RatedFlags {
        stage: "fine-tuning",
        out: &args.out,
        resume: args.resume,
        weights_flag: "--init",
        weights: args.init.as_deref(),
        rates: args.rates.as_deref(),
        arch: args.arch,
        pruner: args.pruner,
        data: &args.data,
    };
    let mut cfg = match begin_rated(flags, FINETUNE_SETTINGS, global, sink)? {
        Begin::Resume(finetune, train) => FinetuneConfig { finetune, train },
        Begin::Start(s) => {
            FinetuneConfig::upstream(s.arch, s.plan, Some(s.target), &s.weights, s.data)
        }
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
