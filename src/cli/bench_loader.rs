//! `reproduce bench loader`: images per second of the training data loader (decode, upstream's
//! training augmentation, batching) for several thread counts, without any training. On the
//! project's 2-core machines one thread makes about 100 images/s and two about 190 (640 × 640),
//! yet 16 threads on the H100 host made only 300–370: the curve over 1, 2, 4, 8, 16 threads
//! shows where it stops scaling, and that host is where to measure it.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Result, ensure};
use clap::Args;

use super::Global;
use super::bench_train::Endless;
use bfpgm::model::priors;
use bfpgm::train::augment::AugmentConfig;
use bfpgm::train::data::{Dataset, LoaderConfig, Mode, Split, WiderDir};

/// Arguments of `reproduce bench loader`.
#[derive(Args)]
pub struct LoaderBench {
    /// Loader thread counts to measure, one after the other.
    #[arg(long, value_delimiter = ',', default_value = "1,2,4,8,16")]
    threads: Vec<usize>,
    /// Images per batch.
    #[arg(long, default_value_t = 16)]
    batch: usize,
    /// Timed batches per thread count.
    #[arg(long, default_value_t = 20)]
    batches: usize,
    /// Untimed batches before each measurement (the threads start and fill their queue).
    #[arg(long, default_value_t = 2)]
    warmup: usize,
    /// Side of the square output.
    #[arg(long, default_value_t = 640)]
    input_size: usize,
    /// WIDER root with WIDER_train/ [default: <data-dir>/WIDER-mini, `reproduce fetch wider-mini`].
    #[arg(long, value_name = "DIR")]
    wider: Option<PathBuf>,
}

impl LoaderBench {
    /// Measures each thread count and prints one line per count.
    pub fn run(self, global: &Global) -> Result<ExitCode> {
        ensure!(
            self.threads.iter().all(|&t| t > 0) && self.batch > 0 && self.batches > 0,
            "thread counts, --batch and --batches must be at least 1"
        );
        let root = self
            .wider
            .clone()
            .unwrap_or_else(|| global.data_dir.join("WIDER-mini"));
        let ds = Arc::new(Dataset::load(&WiderDir::at(&root), Split::Train)?);
        let mode = Mode::Train(AugmentConfig::upstream(
            self.input_size,
            &priors::ERESFD.sizes,
        ));
        let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "bench loader: batch {}, {}x{}, training augmentation, {} images in {}, {cores} CPUs",
            self.batch,
            self.input_size,
            self.input_size,
            ds.len(),
            root.display()
        )?;
        writeln!(
            out,
            "{:>7} {:>10} {:>17} {:>10}",
            "threads", "images/s", "per thread", "scaling"
        )?;
        let mut single = None;
        for &threads in &self.threads {
            let cfg = LoaderConfig {
                batch_size: self.batch,
                workers: threads,
                prefetch: 2 * threads,
                pin: None,
                nice: 0,
            };
            let mut batches = Endless::new(ds.clone(), mode.clone(), cfg);
            for _ in 0..self.warmup {
                batches.next_batch()?;
            }
            let started = Instant::now();
            let mut images = 0;
            for _ in 0..self.batches {
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
}
