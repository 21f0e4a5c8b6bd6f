//! `reproduce detect --model NAME|PATH IMAGE...`: one zoo model on photos, at their original
//! size, as upstream's `detect_face(net, img, shrink=1)` does (`docs/upstream.md`
//! §test-protocol): detections above 0.05, boxes in pixels. Writes JSON and the WIDER text format,
//! and can draw the boxes.

use super::max_pixels::MaxPixelsArg;
use super::model_arg;
use crate::device::DeviceChoice;
use crate::zoo::Arch;
use clap::Args;
use std::path::PathBuf;

/// Arguments of `reproduce detect`.
#[derive(Args)]
pub struct DetectArgs {
    /// Zoo model name (e.g. eresfd-30; `reproduce zoo list`) or a checkpoint file.
    #[arg(long)]
    pub model: String,
    /// Architecture of a checkpoint file given by path [default: told from its keys; zoo models
    /// know theirs].
    #[arg(long, value_parser = model_arg::arch_parser())]
    pub arch: Option<Arch>,
    /// Where the network runs: cpu, cuda or auto.
    #[arg(long, default_value = "auto")]
    pub device: DeviceChoice,
    /// Folder that receives <image>.json and <image>.txt (WIDER format) per image; without it,
    /// a JSON array of the same records goes to stdout.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Draw the boxes: a .png file for a single image, otherwise a folder for <image>.png files.
    #[arg(long)]
    pub draw: Option<PathBuf>,
    /// Lowest score drawn by --draw (all detections above 0.05 are written regardless).
    #[arg(long, default_value_t = 0.5)]
    pub draw_min_score: f32,
    /// The image size limit.
    #[command(flatten)]
    pub limit: MaxPixelsArg,
    /// JPEG or PNG images.
    #[arg(required = true)]
    pub images: Vec<PathBuf>,
}
