//! Mobile export: an EResFD checkpoint as a TorchScript file and a lite-interpreter file that an
//! app loads and calls with an image tensor, getting face boxes back.
//!
//! **What the app gets.** `forward(image)` takes `[H, W, 3]` RGB pixels, uint8 or float, of any
//! size, subtracts upstream's mean inside (as upstream's `EResFDTorchscript` does) and returns
//! `[K, 5]` float32 rows `(score, x1, y1, x2, y2)` with boxes in pixels of that image, by
//! descending score: the rows `reproduce detect` prints for the same image. The manifest
//! ([`manifest`]) spells this out with the files' sizes and hashes.
//!
//! **Why a compiled TorchScript program and not a trace.** Tracing records one input's sizes
//! and control flow: the FPN's nearest-neighbour resizes, the prior grid and the NMS loop (whose
//! length depends on the scores) would be frozen for that input. Upstream therefore scripts its
//! model. Here the network, priors, decoding and NMS are a TorchScript program written for this
//! project ([`source`], `eresfd.py`) that reads the weights from a `Dict[str, Tensor]` under
//! upstream's state-dict keys. The small C++ shim ([`shim`]) compiles it into a module holding
//! the checkpoint's tensors, saves that module for `torch.jit.load`, then runs libtorch's
//! optimize-for-mobile (freezing turns every weight lookup into a constant, so BatchNorm folds
//! into the convolutions and those are prepacked for XNNPACK) and saves the result for the lite
//! interpreter. The checkpoint is read and checked by the same code as everywhere else
//! ([`Detector::load_state_dict`]), after [`identify`](bfpgm_core::checkpoint::identify) has told which network it holds.
//!
//! EXTD is not exported: upstream ships a mobile model for EResFD only.

pub mod manifest;
pub mod shim;
pub mod source;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use tch::Device;

use crate::model::Detector;
use bfpgm_core::checkpoint::StateDict;
use bfpgm_core::checkpoint::identify;
use bfpgm_core::fsutil::write_atomic;
use bfpgm_core::zoo::Arch;
use manifest::{Checkpoint, Input, Manifest, ModelFile, Output, Runtime, Versions};

/// The TorchScript class of the exported module.
const CLASS: &str = "__torch__.bfpgm.EResFDMobile";

/// What [`export`] wrote.
#[derive(Debug)]
pub struct Exported {
    /// The manifest, also written as `<name>.json`.
    pub manifest: Manifest,
    /// The manifest's path.
    pub manifest_path: PathBuf,
}

/// Exports the EResFD checkpoint at `checkpoint` under `name` into `out_dir`: `<name>.pt`
/// (TorchScript), `<name>.ptl` (lite interpreter, optimised for mobile) and, written last so its
/// presence means the export is complete, the manifest `<name>.json`. Each file is written
/// atomically, and its bytes depend only on the checkpoint and the libtorch version, so the
/// manifest's hashes identify the export. Fails, writing nothing, on a checkpoint of another
/// architecture, of EXTD, or with missing or mis-shaped weights.
pub fn export(checkpoint: &Path, name: &str, out_dir: &Path) -> Result<Exported> {
    let bytes = std::fs::read(checkpoint)
        .with_context(|| format!("cannot read {}", checkpoint.display()))?;
    let sd = StateDict::from_bytes(&bytes)
        .with_context(|| format!("{} is not a readable checkpoint", checkpoint.display()))?;
    let arch = identify(&sd).with_context(|| format!("{}", checkpoint.display()))?;
    if arch != Arch::Eresfd {
        bail!(
            "{} holds {arch} weights; only EResFD is exported for mobile (upstream ships an \
             EResFD app only)",
            checkpoint.display()
        );
    }
    let mut detector = Detector::new(arch, Device::Cpu);
    detector.load_state_dict(&sd).with_context(|| {
        format!(
            "{} does not hold usable {arch} weights",
            checkpoint.display()
        )
    })?;
    let vars = detector.var_store().variables();
    let weights: Vec<(&str, &tch::Tensor)> = detector
        .keys()
        .iter()
        .map(|k| (k.as_str(), &vars[k]))
        .collect();
    let compiled = shim::compile(CLASS, &source::eresfd(), &weights)
        .context("compiling the exported model")?;

    let mut files = Vec::new();
    for (runtime, ext, data, bytecode_version) in [
        (Runtime::Torchscript, "pt", &compiled.torchscript, None),
        (
            Runtime::Lite,
            "ptl",
            &compiled.lite,
            Some(compiled.bytecode_version),
        ),
    ] {
        let file = format!("{name}.{ext}");
        write_atomic(&out_dir.join(&file), data)?;
        files.push(ModelFile {
            runtime,
            file,
            bytes: data.len() as u64,
            sha256: bfpgm_core::hash::sha256_hex(data),
            optimized_for_mobile: runtime == Runtime::Lite,
            bytecode_version,
        });
    }
    let manifest = Manifest {
        format: manifest::FORMAT,
        model: name.to_string(),
        arch,
        checkpoint: Checkpoint {
            file: checkpoint
                .file_name()
                .map_or_else(String::new, |f| f.to_string_lossy().into_owned()),
            sha256: bfpgm_core::hash::sha256_hex(&bytes),
        },
        files,
        input: Input::image(),
        output: Output::detections(),
        versions: Versions {
            reproduce: env!("CARGO_PKG_VERSION").to_string(),
            libtorch: shim::libtorch_version(),
        },
    };
    let manifest_path = out_dir.join(format!("{name}.json"));
    let mut json = serde_json::to_string_pretty(&manifest)?;
    json.push('\n');
    write_atomic(&manifest_path, json.as_bytes())?;
    Ok(Exported {
        manifest,
        manifest_path,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::input_tensor;
    use bfpgm_core::imageio::RgbImage;
    use bfpgm_core::testutil::mirror_file;
    use tch::{Kind, Tensor};

    /// The exported TorchScript program is the Rust model: loaded back through libtorch in this
    /// process (same kernels, one thread), it returns `Detector::detect`'s rows, scaled to pixels,
    /// bit for bit, at sizes that exercise the odd-size rounding of every level and a 1×1 input.
    #[test]
    fn the_torchscript_file_returns_the_rust_detectors_rows_bit_for_bit() {
        tch::set_num_threads(1);
        let Some(path) = mirror_file("EResFD-30-pruned.pth") else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let exported = export(&path, "eresfd-30", dir.path()).unwrap();
        let file = &exported.manifest.files[0];
        assert_eq!(file.runtime, Runtime::Torchscript);
        let module = tch::CModule::load(dir.path().join(&file.file)).unwrap();
        let detector = Detector::load(Arch::Eresfd, &path, Device::Cpu).unwrap();

        tch::manual_seed(11);
        for (h, w) in [(1, 1), (37, 53), (250, 333)] {
            let pixels = Tensor::randint(256, [h, w, 3], (Kind::Uint8, Device::Cpu));
            let image = RgbImage::new(
                w as usize,
                h as usize,
                Vec::<u8>::try_from(&pixels.view(-1)).unwrap(),
            )
            .unwrap();
            let ours = detector.detect_rows(&input_tensor(&image)).unwrap();
            let scale = Tensor::from_slice(&[1.0f32, w as f32, h as f32, w as f32, h as f32]);
            let theirs = module.forward_ts(&[pixels]).unwrap();
            assert_eq!(theirs.size(), ours.size(), "{h}x{w}");
            assert!(theirs.equal(&(ours * scale)), "{h}x{w}: rows differ");
        }
    }

    /// The same checkpoint gives the same bytes, so a manifest's hashes identify an export.
    #[test]
    fn exporting_twice_gives_identical_files() {
        let Some(path) = mirror_file("EResFD-original.pth") else {
            return;
        };
        let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
        let [a, b] = dirs
            .each_ref()
            .map(|d| export(&path, "eresfd-original", d.path()).unwrap().manifest);
        for (x, y) in a.files.iter().zip(&b.files) {
            assert_eq!(x.sha256, y.sha256, "{}", x.file);
        }
        assert_eq!(a.checkpoint.sha256, b.checkpoint.sha256);
    }
}
