//! `reproduce bo`: the Bayesian optimisation of the six group rates (`crate::prune::bo`),
//! every hyper-parameter of upstream's driver a flag with its default. Trials run one per device
//! (`--devices`); every trial is logged as it finishes, and `--resume` continues a stopped search.

use std::process::ExitCode;

use anyhow::{Context, Result, bail};

use super::flags::{parse_devices, run_options, set, starting_weights};
use crate::prune::bayes::search_loop::{STATE, Shard, rates_text};
use crate::prune::bo::{BoConfig, BoOptions, BoOutcome, OPTIMAL_RATES, run_bo};
use bfpgm_core::cli::Global;
use bfpgm_core::cli::bo::*;
use bfpgm_core::cli::flags::ExecArgs;
use bfpgm_core::progress;

/// Whether a flag that defines the search was given.
fn defines_search(args: &BoArgs) -> bool {
    args.arch.is_some()
        || args.pretrained.is_some()
        || args.target.is_some()
        || args.n_init_points.is_some()
        || args.n_opt_iterations.is_some()
        || args.probing_offset.is_some()
        || args.lambda.is_some()
        || args.seed.is_some()
        || args.grouping.is_some()
        || args.wider.is_some()
        || args.max_images.is_some()
        || args.batch_size.is_some()
        || args.lr.is_some()
        || args.weight_decay.is_some()
        || args.input_size.is_some()
        || args.fuse.is_some()
}

fn config(args: &BoArgs, global: &Global, sink: &dyn progress::Progress) -> Result<BoConfig> {
    if args.resume {
        if defines_search(args) {
            bail!(
                "--resume continues the search in {} with its saved settings; drop the \
                 search flags (only --devices, --max-trials and the execution flags apply)",
                args.out.display()
            );
        }
        let text = std::fs::read_to_string(args.out.join(STATE)).with_context(|| {
            format!(
                "nothing to resume in {} (no {STATE}); start the search without --resume",
                args.out.display()
            )
        })?;
        let mut state: serde_json::Value = serde_json::from_str(&text)
            .with_context(|| format!("{} is not valid JSON", args.out.join(STATE).display()))?;
        let mut spec = state["spec"].take();
        if let Some(o) = spec.as_object_mut() {
            o.remove("pretrained_sha256");
        }
        return serde_json::from_value(spec)
            .with_context(|| format!("{} does not hold a B-FPGM search", args.out.display()));
    }
    let (Some(given), arch) = (&args.pretrained, args.arch) else {
        bail!("--pretrained is required to start a search");
    };
    let (pretrained, arch) = starting_weights(global, given, arch, sink)?;
    let wider = std::path::absolute(
        args.wider
            .clone()
            .unwrap_or_else(|| global.data_dir.join("WIDER")),
    )?;
    let mut cfg = BoConfig::upstream(arch, pretrained, wider);
    set(&mut cfg.target, args.target);
    set(&mut cfg.n_init, args.n_init_points);
    set(&mut cfg.n_iter, args.n_opt_iterations);
    set(&mut cfg.probe_offset, args.probing_offset);
    set(&mut cfg.penalty.lambda, args.lambda);
    set(&mut cfg.seed, args.seed);
    if let Some(g) = args.grouping {
        cfg.grouping = g.into();
    }
    cfg.max_images = args.max_images;
    set(&mut cfg.inner.batch_size, args.batch_size);
    set(&mut cfg.inner.val_batch_size, args.batch_size);
    set(&mut cfg.inner.optimizer.lr, args.lr);
    set(&mut cfg.inner.optimizer.weight_decay, args.weight_decay);
    set(&mut cfg.inner.augment.size, args.input_size);
    set(&mut cfg.fuse, args.fuse);
    Ok(cfg)
}

/// Runs or resumes the search and prints the winner.
pub fn run(args: BoArgs, global: &Global) -> Result<ExitCode> {
    let sink = progress::stderr(args.exec.quiet);
    let cfg = config(&args, global, sink.as_ref())?;
    let opts = BoOptions {
        devices: search_devices(&args.devices, &args.exec)?,
        loader_workers: args.exec.workers(),
        max_pixels: args.exec.limit.max_pixels,
        max_trials: args.max_trials,
        shard: args.shard.map(|s| Shard {
            index: s.index,
            count: s.count,
        }),
        merge: args.merge.clone(),
    };
    match run_bo(&cfg, &args.out, args.resume, &opts, sink.as_ref())? {
        BoOutcome::ShardDone(n) => {
            println!(
                "shard done ({n} trials finished here); merge it into the search with: \
                 reproduce bo --out MAIN --resume --merge {}",
                args.out.display()
            );
        }
        BoOutcome::Stopped(n) => {
            println!(
                "stopped after {n} of {} trials; continue with: reproduce bo --out {} --resume",
                cfg.settings().total(),
                args.out.display()
            );
        }
        BoOutcome::Done(best) => {
            println!(
                "best of {} trials: #{} with rates {}, sparsity {:.2} %, objective {:.4}",
                best.trials,
                best.best_trial.iter + 1,
                rates_text(&best.rates),
                100.0 * best.best_trial.sparsity,
                best.best_trial.objective
            );
            println!("rates for sfp: {}", args.out.join(OPTIMAL_RATES).display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The search's devices: `--devices`, else `--device` resolved.
pub fn search_devices(devices: &[String], exec: &ExecArgs) -> Result<Vec<tch::Device>> {
    if devices.is_empty() {
        Ok(vec![run_options(exec)?.device.device])
    } else {
        parse_devices(devices)
    }
}
