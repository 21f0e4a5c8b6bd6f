//! `--max-pixels`: the image size limit of the commands that decode user or dataset images
//! (`detect`, `eval`, `compare` and the training stages), checked against each file's header
//! before decoding (`crate::imageio::header`).

use clap::Args;

use crate::imageio::DEFAULT_MAX_PIXELS;

/// The image size limit.
#[derive(Args, Clone, Copy, Debug)]
pub struct MaxPixelsArg {
    /// Refuse an image whose header declares more pixels than this: a forged or damaged header
    /// would otherwise make the decoder allocate gigabytes and abort.
    #[arg(
        long,
        value_name = "N",
        default_value_t = DEFAULT_MAX_PIXELS,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub max_pixels: u64,
}
