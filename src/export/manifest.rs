//! The manifest written beside an export (`<name>.json`): everything an app developer or a CI
//! job needs to use and check the two model files without reading this code — the input the
//! model takes, the rows it returns, the files with their sizes and sha256, the checkpoint they
//! come from and the versions that made them. Field names are stable; `format` changes when they
//! do.

use serde::Serialize;

use crate::model::{RGB_MEAN, detect::DETECT};
use bfpgm_core::zoo::Arch;

/// Version of the manifest's layout.
pub const FORMAT: u32 = 1;

/// The manifest of one exported model.
#[derive(Debug, Clone, Serialize)]
pub struct Manifest {
    /// [`FORMAT`].
    pub format: u32,
    /// The zoo name, or the checkpoint's file stem.
    pub model: String,
    /// The network.
    pub arch: Arch,
    /// The checkpoint the weights were read from.
    pub checkpoint: Checkpoint,
    /// The exported files, in the order they were written.
    pub files: Vec<ModelFile>,
    /// What `forward` takes.
    pub input: Input,
    /// What `forward` returns.
    pub output: Output,
    /// What made the files.
    pub versions: Versions,
}

/// The source checkpoint.
#[derive(Debug, Clone, Serialize)]
pub struct Checkpoint {
    /// Its file name.
    pub file: String,
    /// sha256 of its bytes, lower-case hex (the zoo's `sha256` for a zoo model).
    pub sha256: String,
}

/// Which runtime a file is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Runtime {
    /// Full TorchScript: `torch.jit.load` (Python) or `torch::jit::load` (C++).
    Torchscript,
    /// The mobile lite interpreter: `torch.jit.mobile._load_for_lite_interpreter`,
    /// `org.pytorch.LiteModuleLoader` on Android.
    Lite,
}

/// One exported file.
#[derive(Debug, Clone, Serialize)]
pub struct ModelFile {
    /// The runtime that loads it.
    pub runtime: Runtime,
    /// File name, in the manifest's folder.
    pub file: String,
    /// Size in bytes.
    pub bytes: u64,
    /// sha256 of the file, lower-case hex.
    pub sha256: String,
    /// Whether libtorch's optimize-for-mobile passes ran (freezing, BatchNorm folding, XNNPACK
    /// prepacking): results then differ from the plain model in the last float bits.
    pub optimized_for_mobile: bool,
    /// For lite files: the bytecode version, which the app's runtime must support.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytecode_version: Option<u64>,
}

/// The input of `forward`: one image, as upstream's mobile model takes it.
#[derive(Debug, Clone, Serialize)]
pub struct Input {
    /// Dimension order: `[H, W, 3]`.
    pub layout: &'static str,
    /// Channel order.
    pub channels: &'static str,
    /// Accepted element types; either is converted to float32 inside.
    pub dtypes: [&'static str; 2],
    /// Pixel values as decoded from the image file, not normalised.
    pub value_range: [u8; 2],
    /// Smallest accepted height and width; there is no upper bound but memory, and neither has
    /// to be a multiple of anything (priors and pyramid sizes follow the input).
    pub min_size: [u32; 2],
    /// Subtracted from R, G, B inside the model.
    pub mean: [f32; 3],
}

/// The output of `forward`.
#[derive(Debug, Clone, Serialize)]
pub struct Output {
    /// `[K, 5]`, `K` from 0 to `max_rows`.
    pub shape: (&'static str, u32),
    /// Element type.
    pub dtype: &'static str,
    /// The meaning of the five columns.
    pub columns: [&'static str; 5],
    /// The boxes' coordinate system.
    pub boxes: &'static str,
    /// Row order.
    pub order: &'static str,
    /// Rows have a face probability strictly above this.
    pub score_above: f64,
    /// IoU above which NMS suppresses the lower-scoring box.
    pub nms_iou: f64,
    /// At most this many rows.
    pub max_rows: i64,
}

/// Versions of the tools that wrote the files.
#[derive(Debug, Clone, Serialize)]
pub struct Versions {
    /// This crate's version.
    pub reproduce: String,
    /// The libtorch that compiled and serialised the model.
    pub libtorch: String,
}

impl Input {
    /// The input of the exported EResFD.
    pub fn image() -> Input {
        Input {
            layout: "HWC",
            channels: "RGB",
            dtypes: ["uint8", "float32"],
            value_range: [0, 255],
            min_size: [1, 1],
            mean: RGB_MEAN,
        }
    }
}

impl Output {
    /// The detection rows of the exported EResFD: `reproduce detect`'s boxes.
    pub fn detections() -> Output {
        Output {
            shape: ("K", 5),
            dtype: "float32",
            columns: ["score", "x1", "y1", "x2", "y2"],
            boxes: "pixels of the input, x to the right, y down; not clipped to the image",
            order: "descending score",
            score_above: DETECT.conf_thresh,
            nms_iou: DETECT.nms_thresh,
            max_rows: DETECT.top_k,
        }
    }
}
