//! `reproduce compare`: the paper's claim measured. Evaluates B-FPGM's models and the uniform
//! FPGM / L1 baselines of a network on one image set with `eval`'s driver (resumable: prediction
//! files already in `--out` are kept), then prints, per network, every model's measured sparsity
//! and APs, and each baseline's AP at every B-FPGM model's sparsity (`crate::tradeoff`). Writes
//! the comparison as JSON (`<out>/compare.json`, fields in `crate::tradeoff`) and one figure per
//! network (`<out>/tradeoff-<arch>.png`: AP against sparsity, easy / medium / hard).

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::max_pixels::MaxPixelsArg;
use super::model_arg;
use crate::check::ApSet;
use crate::device::DeviceChoice;
use crate::zoo::Arch;

/// Arguments of `reproduce compare`.
#[derive(Args)]
pub struct CompareArgs {
    /// The network [default: both, EResFD first].
    #[arg(long, value_parser = model_arg::arch_parser())]
    pub arch: Option<Arch>,
    /// The images: full WIDER val when it is downloaded, else the 50-image mini val set (fetched
    /// from the mirror).
    #[arg(long, value_enum, value_name = "SET", default_value_t = ImageSet::Auto, conflicts_with = "images")]
    pub on: ImageSet,
    /// Other WIDER val images instead, <event>/<image>.jpg (with --subset for a part of val).
    #[arg(long, value_name = "DIR")]
    pub images: Option<PathBuf>,
    /// Only the ground-truth images under --images, with the ground truth restricted to them.
    #[arg(long, requires = "images")]
    pub subset: bool,
    /// Predictions go to DIR/<model>/<event>/<image>.txt, the comparison and figures to DIR; a
    /// re-run keeps the files already there.
    #[arg(long, value_name = "DIR", default_value = "runs/compare")]
    pub out: PathBuf,
    /// Where the networks run: cpu, cuda or auto.
    #[arg(long, default_value = "auto")]
    pub device: DeviceChoice,
    /// Images run at the same time, each by its own copy of the model [default: the number of
    /// CPU cores, at most 8].
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    pub workers: Option<u16>,
    /// libtorch threads per worker (`--workers 1 --threads 2` is upstream's CPU setting).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    pub threads: u16,
    /// Print Markdown instead of text, to paste into a review.
    #[arg(long)]
    pub markdown: bool,
    /// Where the JSON comparison goes [default: <out>/compare.json].
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// The image size limit.
    #[command(flatten)]
    pub limit: MaxPixelsArg,
}

/// `--on`: which WIDER val images the models are compared on.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ImageSet {
    /// Full WIDER val when it and its ground truth are downloaded, else the mini set.
    Auto,
    /// The 50 images of the mini val set (test mirror only), as a subset.
    Mini,
    /// All 3,226 val images (`reproduce fetch wider-val wider-gt`).
    Full,
}

impl CompareArgs {
    /// The networks compared, in order.
    pub fn archs(&self) -> Vec<Arch> {
        match self.arch {
            Some(a) => vec![a],
            None => vec![Arch::Eresfd, Arch::Extd],
        }
    }

    /// The WIDER set named by `--on` (`None` with `--images`); `auto` looks for a verified full
    /// val set under the data directory without hashing.
    pub fn set(&self, zoo: &crate::zoo::Zoo, data_dir: &std::path::Path) -> Option<ApSet> {
        if self.images.is_some() {
            return None;
        }
        Some(match self.on {
            ImageSet::Mini => ApSet::Mini,
            ImageSet::Full => ApSet::Full,
            ImageSet::Auto => crate::check::EvalChoice::Auto
                .resolve(zoo, data_dir)
                .unwrap_or(ApSet::Mini),
        })
    }
}
