//! `reproduce bench loader`: runs the training data loader alone for each thread count (the
//! arguments are `bfpgm_core::cli::bench_loader`).

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Result, ensure};

use super::bench_train::Endless;
use crate::model::priors;
use crate::train::augment::AugmentConfig;
use crate::train::data::{Dataset, LoaderConfig, Mode, Split, WiderDir};
use bfpgm_core::cli::Global;
use bfpgm_core::cli::bench_loader::LoaderBench;
use bfpgm_core::imageio::DEFAULT_MAX_PIXELS;

/// Measures each thread count and prints one line per count.
pub fn run(args: LoaderBench, global: &Global) -> Result<ExitCode> {
    ensure!(
        args.threads.iter().all(|&t| t > 0) && args.batch > 0 && args.batches > 0,
        "thread counts, --batch and --batches must be at least 1"
    );
    let root = args
        .wider
        .clone()
        .unwrap_or_else(|| global.data_dir.join("WIDER-mini"));
    let ds = Arc::new(Dataset::load(&WiderDir::at(&root), Split::Train)?);
    let mode = Mode::Train(AugmentConfig::upstream(
        args.input_size,
        &priors::ERESFD.sizes,
    ));
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "bench loader: batch {}, {}x{}, training augmentation, {} images in {}, {cores} CPUs",
        args.batch,
        args.input_size,
        args.input_size,
        ds.len(),
        root.display()
    )?;
    writeln!(
        out,
        "{:>7} {:>10} {:>17} {:>10}",
        "threads", "images/s", "per thread", "scaling"
    )?;
    let mut single = None;
    for &threads in &args.threads {
        let cfg = LoaderConfig {
            batch_size: args.batch,
            workers: threads,
            prefetch: 2 * threads,
            pin: None,
            nice: 0,
            max_pixels: DEFAULT_MAX_PIXELS,
        };
        let mut batches = Endless::new(ds.clone(), mode.clone(), cfg);
        for _ in 0..args.warmup {
            batches.next_batch()?;
        }
        let started = Instant::now();
        let mut images = 0;
        for _ in 0..args.batches {
            images += batches.next_batch()?.items.len();
        }
        let rate = images as f64 / started.elapsed().as_secs_f64();
        let per_thread = rate / threads as f64;
        let one = *single.get_or_insert(per_thread);
        writeln!(
            out,
            "{threads:>7} {rate:>10.1} {per_thread:>10.1} images/s {:>9.0} %",
            100.0 * per_thread / one
        )?;
    }
    Ok(ExitCode::SUCCESS)
}
