//! `reproduce bench loader`: images per second of the training data loader (decode, upstream's
//! training augmentation, batching) for several thread counts, without any training. On the
//! project's 2-core machines one thread makes about 100 images/s and two about 190 (640 × 640),
//! yet 16 threads on the H100 host made only 300–370: the curve over 1, 2, 4, 8, 16 threads
//! shows where it stops scaling, and that host is where to measure it.

use std::path::PathBuf;

use clap::Args;

/// Arguments of `reproduce bench loader`.
#[derive(Args)]
pub struct LoaderBench {
    /// Loader thread counts to measure, one after the other.
    #[arg(long, value_delimiter = ',', default_value = "1,2,4,8,16")]
    pub threads: Vec<usize>,
    /// Images per batch.
    #[arg(long, default_value_t = 16)]
    pub batch: usize,
    /// Timed batches per thread count.
    #[arg(long, default_value_t = 20)]
    pub batches: usize,
    /// Untimed batches before each measurement (the threads start and fill their queue).
    #[arg(long, default_value_t = 2)]
    pub warmup: usize,
    /// Side of the square output.
    #[arg(long, default_value_t = 640)]
    pub input_size: usize,
    /// WIDER root with WIDER_train/ [default: <data-dir>/WIDER-mini, `reproduce fetch wider-mini`].
    #[arg(long, value_name = "DIR")]
    pub wider: Option<PathBuf>,
}
