//! Running a detector over WIDER FACE images with upstream's protocol (`wider_test.py::eval_wider`,
//! `docs/upstream.md` §test-protocol), one prediction file per image, resumable.
//!
//! * [`image_jobs`] lists the images to run: the ground truth's events in `.mat` order and their
//!   images in `file_list` order, found as `<images>/<event>/<name>.jpg`; with `subset`, only the
//!   images present (the mini val set), otherwise every image must be there.
//! * [`PassDetector`] is the detector closure the protocol calls once per pass: the forward on
//!   the model's device, then [`detect::detections`] (decode, softmax and threshold on the device,
//!   the candidates copied to the host once, NMS as a host loop over libtorch's CPU sort order).
//! * [`detect_image_timed`] runs every pass and the box voting of one image and accounts the time
//!   to [`StageTimes`], which `reproduce bench infer` prints.
//! * [`infer`] runs a checkpoint over a job list and writes `<out>/<event>/<name>.txt`
//!   atomically with [`bfpgm_core::wider::preds::write_pred_file`]. Several workers, each with its own copy
//!   of the model, take images in turn. An image whose file exists is skipped: that is the
//!   resume. The `stop` flag (set by Ctrl-C through [`interrupt_flag`]) is checked before each
//!   image, so an interrupted run loses nothing and a re-run continues where it stopped. A hidden
//!   [`RUN_MARKER`] beside the predictions records the checkpoint's sha256, so predictions of two
//!   different checkpoints are never mixed in one folder.
//!
//! Everything runs under `tch::no_grad`. On CUDA the input is uploaded as bytes and converted on
//! the device; per pass, exactly one transfer brings the candidates back (the NMS and the voting
//! are host loops, never loops of tiny device operations as upstream's are).
//!
//! Speed without changing a bit: the work is split across images, not inside operations, so
//! each worker's libtorch runs with the thread count the caller chose (one by default: then the
//! predictions do not depend on how many cores or workers there are), and the host stages
//! (JPEG decoding, resizing, NMS, voting) of one image overlap the convolutions of another.
//! [`prefer_huge_pages`] cuts the kernel's share of large tensor allocations.

use std::collections::HashSet;
use std::ops::AddAssign;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

use super::spec::ModelSpec;
use crate::model::{Detector, RGB_MEAN, detect, input_tensor};
use crate::protocol::run_passes;
use crate::protocol::vote::bbox_vote;
use bfpgm_core::fsutil::write_atomic;
use bfpgm_core::imageio::{RgbImage, read_image_within};
use bfpgm_core::progress::{Progress, Unit};
use bfpgm_core::wider::gt::GroundTruth;
use bfpgm_core::wider::preds::{Predictions, pred_path, write_pred_file};
use bfpgm_core::zoo::Arch;

/// One image to run: where it is and which prediction file it gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageJob {
    /// Event folder, e.g. `0--Parade`.
    pub event: String,
    /// Image name without `.jpg`.
    pub name: String,
    /// The JPEG file.
    pub path: PathBuf,
}

/// The images of `gt` under `images` (`<images>/<event>/<name>.jpg`), in upstream's order.
///
/// With `subset`, images that are not there are left out (and an empty result is an error);
/// without it, the first missing image is an error that says how many are missing.
pub fn image_jobs(gt: &GroundTruth, images: &Path, subset: bool) -> Result<Vec<ImageJob>> {
    if !images.is_dir() {
        bail!(
            "the WIDER val images folder {} does not exist (expected <event>/<image>.jpg inside)",
            images.display()
        );
    }
    let mut jobs = Vec::new();
    let mut missing: Vec<PathBuf> = Vec::new();
    for event in &gt.events {
        for image in &event.images {
            let path = images.join(&event.name).join(format!("{}.jpg", image.name));
            if path.is_file() {
                jobs.push(ImageJob {
                    event: event.name.clone(),
                    name: image.name.clone(),
                    path,
                });
            } else {
                missing.push(path);
            }
        }
    }
    if subset && jobs.is_empty() {
        bail!(
            "none of the {} images of {} is under {} (expected <event>/<image>.jpg)",
            gt.image_count(),
            gt.source,
            images.display()
        );
    }
    if !subset && let Some(first) = missing.first() {
        bail!(
            "{} of {} images are missing under {}, the first {}; fetch the whole val set, or \
             run the images that are there with --subset",
            missing.len(),
            gt.image_count(),
            images.display(),
            first.display()
        );
    }
    Ok(jobs)
}

/// Where the time of the protocol goes, summed over images.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StageTimes {
    /// Reading and decoding the JPEG.
    pub decode: Duration,
    /// The OpenCV-exact resizes and the flip of every pass.
    pub resize: Duration,
    /// Network input and forward passes (synchronised on CUDA).
    pub forward: Duration,
    /// The detection step: decode, softmax, threshold, sort and NMS.
    pub detect: Duration,
    /// Box voting of all passes.
    pub vote: Duration,
    /// Formatting and writing the prediction file.
    pub write: Duration,
}

impl StageTimes {
    /// The stages with their names, in pipeline order.
    pub fn stages(&self) -> [(&'static str, Duration); 6] {
        [
            ("decode", self.decode),
            ("resize", self.resize),
            ("forward", self.forward),
            ("detect/NMS", self.detect),
            ("vote", self.vote),
            ("write", self.write),
        ]
    }

    /// The sum of all stages.
    pub fn total(&self) -> Duration {
        self.stages().iter().map(|(_, d)| *d).sum()
    }
}

impl AddAssign for StageTimes {
    fn add_assign(&mut self, o: StageTimes) {
        self.decode += o.decode;
        self.resize += o.resize;
        self.forward += o.forward;
        self.detect += o.detect;
        self.vote += o.vote;
        self.write += o.write;
    }
}

/// The protocol's detector closure for one model: a pass's input image to the rows
/// `[score, x1, y1, x2, y2]` (normalised) of upstream's `Detect`, timing forward and detection.
pub struct PassDetector<'a> {
    detector: &'a Detector,
    forward: Duration,
    detect: Duration,
}

impl<'a> PassDetector<'a> {
    /// Wraps a loaded detector; its device decides where the passes run.
    pub fn new(detector: &'a Detector) -> PassDetector<'a> {
        PassDetector {
            detector,
            forward: Duration::ZERO,
            detect: Duration::ZERO,
        }
    }

    /// One pass: the network on `image` and the detection step.
    pub fn detect(&mut self, image: &RgbImage) -> Result<Vec<[f32; 5]>> {
        let device = self.detector.device();
        let t0 = Instant::now();
        let x = network_input(image, device);
        let out = tch::no_grad(|| self.detector.forward_t(&x, false));
        if let Device::Cuda(i) = device {
            // Only so that the forward's time is not counted as detection; the detection step
            // waits for it anyway.
            tch::Cuda::synchronize(i as i64);
        }
        let t1 = Instant::now();
        let rows =
            tch::no_grad(|| detect::detections(&out.loc, &out.conf, &out.priors, &detect::DETECT));
        self.forward += t1 - t0;
        self.detect += t1.elapsed();
        Ok(rows)
    }
}

/// The network input `[1, 3, H, W]` on `device`: [`input_tensor`] on the CPU; on a GPU the bytes
/// are uploaded and converted there (the same exact integers, a quarter of the transfer).
fn network_input(image: &RgbImage, device: Device) -> Tensor {
    if device == Device::Cpu {
        return input_tensor(image);
    }
    let (h, w) = (image.height as i64, image.width as i64);
    let mean = Tensor::from_slice(&RGB_MEAN)
        .to_device(device)
        .view([3, 1, 1]);
    let hwc = Tensor::from_slice(&image.data)
        .to_device(device)
        .view([h, w, 3]);
    (hwc.permute([2, 0, 1]).to_kind(Kind::Float) - mean).unsqueeze(0)
}

/// The whole protocol on one decoded image (every pass, then box voting), adding its resize,
/// forward, detection and voting time to `times`. Returns the voted boxes
/// `[x1, y1, x2, y2, score]`, ready for [`bfpgm_core::wider::preds::format_pred_file`].
pub fn detect_image_timed(
    detector: &Detector,
    image: &RgbImage,
    times: &mut StageTimes,
) -> Result<Vec<[f64; 5]>> {
    let mut passes = PassDetector::new(detector);
    let t0 = Instant::now();
    let dets = run_passes(image, &mut |img: &RgbImage| passes.detect(img))?;
    let t1 = Instant::now();
    let voted = bbox_vote(&dets.stacked());
    times.vote += t1.elapsed();
    times.forward += passes.forward;
    times.detect += passes.detect;
    // What the passes spent outside the network is the resizing and flipping.
    times.resize += (t1 - t0).saturating_sub(passes.forward + passes.detect);
    Ok(voted)
}

/// The hidden file beside the predictions that names the checkpoint they come from.
pub const RUN_MARKER: &str = ".run.json";

/// What [`RUN_MARKER`] records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunMarker {
    /// The network.
    pub arch: Arch,
    /// The checkpoint file the predictions were made with.
    pub checkpoint: PathBuf,
    /// Its sha256: resuming with another checkpoint is refused.
    pub sha256: String,
}

impl RunMarker {
    /// The marker for a checkpoint file.
    pub fn for_checkpoint(arch: Arch, checkpoint: &Path) -> Result<RunMarker> {
        let bytes = std::fs::read(checkpoint)
            .with_context(|| format!("cannot read the checkpoint {}", checkpoint.display()))?;
        Ok(RunMarker {
            arch,
            checkpoint: checkpoint.to_path_buf(),
            sha256: bfpgm_core::hash::sha256_hex(&bytes),
        })
    }

    /// Claims `out` for this checkpoint: writes the marker, or checks the one already there.
    pub fn claim(&self, out: &Path) -> Result<()> {
        let path = out.join(RUN_MARKER);
        if path.is_file() {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let found: RunMarker = serde_json::from_str(&text)
                .with_context(|| format!("{} is not a run marker", path.display()))?;
            if found.sha256 != self.sha256 || found.arch != self.arch {
                bail!(
                    "{} holds predictions of another checkpoint ({} {}, sha256 {}), not of {} \
                     (sha256 {}); choose another --out folder or delete that one",
                    out.display(),
                    found.arch,
                    found.checkpoint.display(),
                    found.sha256,
                    self.checkpoint.display(),
                    self.sha256
                );
            }
            return Ok(());
        }
        let mut text = serde_json::to_string_pretty(self)?;
        text.push('\n');
        write_atomic(&path, text.as_bytes())
    }
}

/// What [`infer`] did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InferOutcome {
    /// Images in the job list.
    pub images: usize,
    /// Of those, the ones whose prediction file already existed (skipped).
    pub already_done: usize,
    /// Images run now.
    pub inferred: usize,
    /// Whether `stop` ended the run before every image was done.
    pub interrupted: bool,
    /// Wall-clock time of the images run now (all workers together).
    pub wall: Duration,
    /// Time per stage over the images run now, summed over workers.
    pub times: StageTimes,
}

impl InferOutcome {
    /// Whether every image of the list has its prediction file.
    pub fn complete(&self) -> bool {
        self.already_done + self.inferred == self.images
    }

    /// Wall-clock seconds per image run now (the throughput), if any ran.
    pub fn seconds_per_image(&self) -> Option<f64> {
        (self.inferred > 0).then(|| self.wall.as_secs_f64() / self.inferred as f64)
    }
}

/// How [`infer`] runs a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InferSettings {
    /// Where the networks run.
    pub device: Device,
    /// Images processed at the same time, each worker with its own copy of the model.
    pub workers: usize,
    /// Images whose header declares more pixels are refused before decoding.
    pub max_pixels: u64,
}

/// Runs a model over `jobs`, writing `<out>/<event>/<name>.txt` per image and skipping images
/// whose file exists; progress is reported under the model's name.
///
/// Each of `settings.workers` threads loads its own copy of the model (tch modules cannot be
/// shared between threads) and takes the next image until none is left. `stop` is checked
/// before each image; when it is set the run returns with `interrupted` and every file written
/// so far complete. The first error stops the other workers after their current image.
pub fn infer(
    model: &ModelSpec,
    settings: InferSettings,
    jobs: &[ImageJob],
    out: &Path,
    progress: &dyn Progress,
    stop: &AtomicBool,
) -> Result<InferOutcome> {
    if settings.device.is_cuda() {
        // Every pass has another input size; cuDNN's benchmark mode (which training turns on
        // for its fixed 640 × 640 batches) would time every algorithm again for each one: a
        // pipeline that evaluated after fine-tuning ran at 0.2 images/s on an H100.
        tch::Cuda::cudnn_set_benchmark(false);
    }
    let todo: Vec<&ImageJob> = jobs
        .iter()
        .filter(|j| !pred_path(out, &j.event, &j.name).is_file())
        .collect();
    // Upstream creates every event folder, even one that stays empty.
    let events: HashSet<&str> = jobs.iter().map(|j| j.event.as_str()).collect();
    for event in events {
        let dir = out.join(event);
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create the folder {}", dir.display()))?;
    }
    let mut outcome = InferOutcome {
        images: jobs.len(),
        already_done: jobs.len() - todo.len(),
        inferred: 0,
        interrupted: false,
        wall: Duration::ZERO,
        times: StageTimes::default(),
    };
    let mut task = progress.task(&model.name, Unit::Items, Some(jobs.len() as u64));
    task.set(outcome.already_done as u64);
    let started = Instant::now();
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let mut first_error = None;
    std::thread::scope(|scope| {
        let (tx, rx) = mpsc::channel::<Result<StageTimes>>();
        for _ in 0..settings.workers.max(1).min(todo.len()) {
            let tx = tx.clone();
            let (todo, next, failed) = (&todo, &next, &failed);
            scope.spawn(move || {
                let detector = match Detector::load(model.arch, &model.checkpoint, settings.device)
                {
                    Ok(d) => d,
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                };
                while !stop.load(Ordering::SeqCst) && !failed.load(Ordering::SeqCst) {
                    let Some(job) = todo.get(next.fetch_add(1, Ordering::SeqCst)) else {
                        break;
                    };
                    let done = run_job(&detector, job, out, settings.max_pixels);
                    let error = done.is_err();
                    if tx.send(done).is_err() || error {
                        break;
                    }
                }
            });
        }
        drop(tx);
        for done in rx {
            match done {
                Ok(times) => {
                    outcome.times += times;
                    outcome.inferred += 1;
                    task.add(1);
                }
                Err(e) => {
                    failed.store(true, Ordering::SeqCst);
                    first_error.get_or_insert(e);
                }
            }
        }
    });
    if let Some(e) = first_error {
        return Err(e);
    }
    outcome.wall = started.elapsed();
    outcome.interrupted = !outcome.complete();
    let summary = match outcome.seconds_per_image() {
        None => format!("{} images, all done before", outcome.images),
        Some(s) => format!(
            "{} images ({} run now, {s:.3} s/image, {} done before)",
            outcome.images, outcome.inferred, outcome.already_done
        ),
    };
    task.finish(&summary);
    Ok(outcome)
}

/// One image: decode, the protocol, the prediction file. Returns its stage times.
fn run_job(detector: &Detector, job: &ImageJob, out: &Path, max_pixels: u64) -> Result<StageTimes> {
    let mut times = StageTimes::default();
    let t0 = Instant::now();
    let image = read_image_within(&job.path, max_pixels)?;
    times.decode = t0.elapsed();
    let voted = detect_image_timed(detector, &image, &mut times)
        .with_context(|| format!("detecting faces in {}", job.path.display()))?;
    let t1 = Instant::now();
    write_pred_file(out, &job.event, &job.name, &voted)?;
    times.write = t1.elapsed();
    Ok(times)
}

/// Asks libtorch to back its large tensors with transparent huge pages, unless the user set
/// `THP_MEM_ALLOC_ENABLE` already. Call it before any tensor is allocated: libtorch reads the
/// variable once, at its first allocation; the CLI calls it first thing.
///
/// Every tensor of a forward pass is a fresh allocation, and glibc serves each one above 32 MiB
/// with its own `mmap`, so the kernel faults it in and zeroes it page by page. EXTD at
/// upstream's scales allocates hundreds of such tensors per image. With huge pages (libtorch
/// aligns blocks of 2 MiB and more and marks them `MADV_HUGEPAGE`) that is one fault per 2 MiB
/// instead of per 4 KiB. Measured on the project's 2-core machines, EXTD on 4 mini val images
/// with 2 workers: 86 s of kernel time and 49 s of user time without, 45 s and 37 s with. The
/// numbers computed are unchanged.
///
/// Serving them from glibc's heap instead (`M_MMAP_MAX` = 0) avoids the faults almost entirely
/// (two EXTD passes: 7.2 s of kernel time → 1.2 s), but the heap then fragments without bound
/// under tensors of ever different sizes: an EXTD run over the mini val set grew to 23 GiB and
/// was killed, and trimming the heap after each image still peaked at 10.6 GiB.
pub fn prefer_huge_pages() {
    const VAR: &str = "THP_MEM_ALLOC_ENABLE";
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if std::env::var_os(VAR).is_none() {
            // SAFETY: called before the process starts other threads (see above), so nothing
            // reads the environment concurrently.
            unsafe { std::env::set_var(VAR, "1") };
        }
    });
}

/// The predictions of `dir` for exactly the images of `jobs` (a folder may hold files of an
/// earlier, larger run; they must not enter a subset's evaluation).
pub fn read_job_predictions(dir: &Path, jobs: &[ImageJob]) -> Result<Predictions> {
    let mut preds = Predictions::read_dir(dir)?;
    let wanted: HashSet<(&str, &str)> = jobs
        .iter()
        .map(|j| (j.event.as_str(), j.name.as_str()))
        .collect();
    for (event, images) in preds.events.iter_mut() {
        images.retain(|name, _| wanted.contains(&(event.as_str(), name.as_str())));
    }
    preds.events.retain(|_, images| !images.is_empty());
    Ok(preds)
}

/// A flag that Ctrl-C sets, installed once per process: the first Ctrl-C asks the running loop
/// to finish its current image and stop; a second one exits at once (prediction files are
/// written atomically, so even that leaves none half-written).
pub fn interrupt_flag() -> Result<&'static AtomicBool> {
    static FLAG: AtomicBool = AtomicBool::new(false);
    static INSTALLED: OnceLock<std::result::Result<(), String>> = OnceLock::new();
    INSTALLED
        .get_or_init(|| {
            ctrlc::set_handler(|| {
                if FLAG.swap(true, Ordering::SeqCst) {
                    std::process::exit(130);
                }
                eprintln!(
                    "\ninterrupted: finishing the current image (Ctrl-C again to stop at once)"
                );
            })
            .map_err(|e| e.to_string())
        })
        .clone()
        .map_err(|e| anyhow::anyhow!("cannot install the Ctrl-C handler: {e}"))?;
    Ok(&FLAG)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::detect_image;
    use bfpgm_core::imageio::{DEFAULT_MAX_PIXELS, read_image};
    use bfpgm_core::progress::Hidden;
    use bfpgm_core::testutil::{mirror_file, reference_file};
    use bfpgm_core::wider::gt::{Event, Image};

    fn gt(events: &[(&str, &[&str])]) -> GroundTruth {
        GroundTruth {
            source: "test".into(),
            events: events
                .iter()
                .map(|(name, images)| Event {
                    name: name.to_string(),
                    images: images
                        .iter()
                        .map(|i| Image {
                            name: i.to_string(),
                            boxes: vec![[1, 2, 3, 4]],
                            keep: None,
                        })
                        .collect(),
                })
                .collect(),
        }
    }

    fn touch(dir: &Path, rel: &str) {
        let path = dir.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, b"").unwrap();
    }

    #[test]
    fn jobs_follow_the_ground_truth_order_and_the_subset_rule() {
        let images = tempfile::tempdir().unwrap();
        touch(images.path(), "9--B/b_1.jpg");
        touch(images.path(), "10--A/a_1.jpg");
        let gt = gt(&[("9--B", &["b_2", "b_1"]), ("10--A", &["a_1"])]);
        let jobs = image_jobs(&gt, images.path(), true).unwrap();
        let names: Vec<String> = jobs
            .iter()
            .map(|j| format!("{}/{}", j.event, j.name))
            .collect();
        assert_eq!(names, ["9--B/b_1", "10--A/a_1"]);
        assert_eq!(jobs[1].path, images.path().join("10--A/a_1.jpg"));

        let err = image_jobs(&gt, images.path(), false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("1 of 3 images are missing"), "{err}");
        assert!(err.contains("b_2.jpg") && err.contains("--subset"), "{err}");

        let empty = tempfile::tempdir().unwrap();
        let err = image_jobs(&gt, empty.path(), true).unwrap_err().to_string();
        assert!(err.contains("none of the 3 images"), "{err}");
        let err = image_jobs(&gt, &empty.path().join("nope"), true)
            .unwrap_err()
            .to_string();
        assert!(err.contains("does not exist"), "{err}");
    }

    #[test]
    fn job_predictions_leave_out_other_images() {
        let dir = tempfile::tempdir().unwrap();
        let row = [[1.0, 2.0, 3.0, 4.0, 0.5]];
        write_pred_file(dir.path(), "9--B", "b_1", &row).unwrap();
        write_pred_file(dir.path(), "9--B", "b_2", &row).unwrap();
        write_pred_file(dir.path(), "10--A", "a_1", &row).unwrap();
        let jobs = [ImageJob {
            event: "9--B".into(),
            name: "b_2".into(),
            path: "b_2.jpg".into(),
        }];
        let preds = read_job_predictions(dir.path(), &jobs).unwrap();
        assert_eq!(preds.image_count(), 1);
        assert!(preds.get("9--B", "b_2").is_some());
        assert!(!preds.events.contains_key("10--A"));
    }

    #[test]
    fn a_folder_is_never_shared_by_two_checkpoints() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.pth"), dir.path().join("b.pth"));
        std::fs::write(&a, b"weights a").unwrap();
        std::fs::write(&b, b"weights b").unwrap();
        let out = dir.path().join("out");
        let marker = RunMarker::for_checkpoint(Arch::Eresfd, &a).unwrap();
        marker.claim(&out).unwrap();
        marker.claim(&out).unwrap();
        let err = RunMarker::for_checkpoint(Arch::Eresfd, &b)
            .unwrap()
            .claim(&out)
            .unwrap_err()
            .to_string();
        assert!(err.contains("another checkpoint"), "{err}");
        // The same file as another network is refused too.
        let err = RunMarker::for_checkpoint(Arch::Extd, &a)
            .unwrap()
            .claim(&out)
            .unwrap_err()
            .to_string();
        assert!(err.contains("another checkpoint"), "{err}");
    }

    #[test]
    fn infer_writes_what_the_protocol_gives_resumes_and_stops() {
        // libtorch's thread count is process-wide and changes the logits' last bits: the workers
        // and the direct run below must see the same one, which is the one every other test of
        // this binary sets.
        tch::set_num_threads(1);
        let (Some(checkpoint), Some(photo)) = (
            mirror_file("EResFD-60-pruned.pth"),
            reference_file("fixtures/grace_hopper.jpg"),
        ) else {
            return;
        };
        let images = tempfile::tempdir().unwrap();
        for name in ["gh_1", "gh_2"] {
            let path = images.path().join("0--Parade").join(format!("{name}.jpg"));
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::copy(&photo, path).unwrap();
        }
        let gt = gt(&[("0--Parade", &["gh_1", "gh_2"])]);
        let jobs = image_jobs(&gt, images.path(), false).unwrap();
        let out = tempfile::tempdir().unwrap();
        let settings = InferSettings {
            device: Device::Cpu,
            workers: 2,
            max_pixels: DEFAULT_MAX_PIXELS,
        };
        let model = ModelSpec {
            name: "eresfd-60".into(),
            arch: Arch::Eresfd,
            checkpoint: checkpoint.clone(),
            references: Vec::new(),
            band: None,
        };
        let run = |jobs: &[ImageJob], stop: bool| {
            let stop = AtomicBool::new(stop);
            infer(&model, settings, jobs, out.path(), &Hidden, &stop).unwrap()
        };
        // Ctrl-C before the first image: nothing is written, and the run says so.
        let stopped = run(&jobs, true);
        assert!(stopped.interrupted && stopped.inferred == 0);
        assert!(!pred_path(out.path(), "0--Parade", "gh_1").exists());

        let first = run(&jobs[..1], false);
        assert_eq!((first.inferred, first.already_done), (1, 0));
        assert!(first.complete() && !first.interrupted);
        let again = run(&jobs, false);
        assert_eq!((again.inferred, again.already_done), (1, 1));

        // The file is what the plain protocol gives with the detector's own detection step.
        let detector = Detector::load(Arch::Eresfd, &checkpoint, Device::Cpu).unwrap();
        let image = read_image(&jobs[0].path).unwrap();
        let voted = tch::no_grad(|| {
            detect_image(&image, &mut |img: &RgbImage| {
                let rows = detector.detect_rows(&input_tensor(img))?;
                Ok(detect::to_detections(&rows)
                    .iter()
                    .map(|d| [d.score, d.x1, d.y1, d.x2, d.y2])
                    .collect())
            })
        })
        .unwrap();
        assert!(!voted.is_empty());
        let expected = bfpgm_core::wider::preds::format_pred_file("0--Parade", "gh_1", &voted);
        for name in ["gh_1", "gh_2"] {
            let text = std::fs::read_to_string(pred_path(out.path(), "0--Parade", name)).unwrap();
            assert_eq!(text, expected.replace("gh_1", name));
        }
        let t = first.times;
        assert!(t.decode > Duration::ZERO && t.forward > Duration::ZERO);
        assert!(t.detect > Duration::ZERO && t.resize > Duration::ZERO);
        assert!(t.vote > Duration::ZERO && t.write > Duration::ZERO);
        assert!(first.wall > Duration::ZERO);
    }
}
