//! WIDER FACE as training data: the image lists, upstream's filtering, and the loader that
//! decodes and augments in worker threads.
//!
//! * [`WiderDir`] finds a split under a WIDER root (`WIDER/` or the mini set's `WIDER-mini/`):
//!   `WIDER_{train,val}/images/<event>/<name>.jpg` and
//!   `wider_face_split/wider_face_{train,val}_bbx_gt.txt`, as `zoo.yaml` extracts them.
//! * [`Dataset`] reads the official text file through [`GroundTruth::parse_txt`] (errors name
//!   the file and line) and applies upstream's loader filter (`docs/upstream.md` §train-data):
//!   boxes with `w ≤ 0` or `h ≤ 0` go, then images left without boxes. Boxes become
//!   `[x, y, x + w, y + h]` pixels (no `−1`). Tiny faces stay; the crops remove them.
//! * [`Loader`] yields the batches of one epoch, in order. Worker threads build whole batches
//!   (decode, augment, pack into one `[B, S, S, 3]` uint8 tensor, pinned for a fast host→device
//!   copy when training on CUDA); at most `prefetch` batches exist at a time, so memory stays
//!   bounded and the GPU is fed ahead. A sample's random numbers come from
//!   `(seed, epoch, position)` ([`Rng::derive`]), so batches do not depend on thread timing.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use anyhow::{Context, Result, anyhow, bail};
use tch::{Device, Tensor};

use super::augment::{self, AugmentConfig};
use super::matching::Targets;
use super::rng::{Rng, Stream};
use bfpgm_core::imageio::read_image_within;
use bfpgm_core::wider::GroundTruth;

/// A WIDER FACE split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// `WIDER_train`, 12,880 images.
    Train,
    /// `WIDER_val`, 3,226 images.
    Val,
}

impl Split {
    fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Val => "val",
        }
    }
}

/// A WIDER FACE root folder, holding `WIDER_<split>/images/` and `wider_face_split/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WiderDir {
    /// The root.
    pub root: PathBuf,
}

/// What to run when the data is missing.
const FETCH_HINT: &str = "reproduce fetch wider-train wider-val (the full set, into <data-dir>/WIDER) \
                          or reproduce fetch wider-mini (300 + 50 images, into <data-dir>/WIDER-mini)";

impl WiderDir {
    /// The root at `root`, e.g. `<data-dir>/WIDER` or `<data-dir>/WIDER-mini`.
    pub fn at(root: &Path) -> WiderDir {
        WiderDir {
            root: root.to_path_buf(),
        }
    }

    /// `WIDER_<split>/images`.
    pub fn images(&self, split: Split) -> PathBuf {
        self.root
            .join(format!("WIDER_{}", split.name()))
            .join("images")
    }

    /// `wider_face_split/wider_face_<split>_bbx_gt.txt`.
    pub fn annotations(&self, split: Split) -> PathBuf {
        self.root
            .join("wider_face_split")
            .join(format!("wider_face_{}_bbx_gt.txt", split.name()))
    }
}

/// One image and its face boxes in pixels, `[x1, y1, x2, y2]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// The image file.
    pub path: PathBuf,
    /// Faces with positive width and height.
    pub boxes: Vec<[f64; 4]>,
}

/// The images of a split that upstream trains or validates on.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// Where it came from, for messages.
    pub source: String,
    /// Images in file order.
    pub items: Vec<Item>,
    /// Boxes dropped because `w ≤ 0` or `h ≤ 0`.
    pub dropped_boxes: usize,
    /// Images dropped because no box was left.
    pub dropped_images: usize,
}

impl Dataset {
    /// Reads a split and checks that every listed image exists.
    pub fn load(dir: &WiderDir, split: Split) -> Result<Dataset> {
        let txt = dir.annotations(split);
        let images = dir.images(split);
        if !txt.is_file() || !images.is_dir() {
            bail!(
                "WIDER FACE {} not found under {} (expected {} and {}); run {FETCH_HINT}, \
                 and point --wider at the folder",
                split.name(),
                dir.root.display(),
                txt.display(),
                images.display(),
            );
        }
        let gt = GroundTruth::parse_txt(&txt)?;
        let ds = Dataset::from_ground_truth(&gt, &images);
        if let Some(missing) = ds.items.iter().find(|i| !i.path.is_file()) {
            bail!(
                "{} lists {}, which does not exist; the images and the annotations do not \
                 match: run {FETCH_HINT}",
                txt.display(),
                missing.path.display(),
            );
        }
        if ds.items.is_empty() {
            bail!(
                "{}: no image has a face box of positive size",
                txt.display()
            );
        }
        Ok(ds)
    }

    /// Upstream's `WIDERDetection` list: boxes of positive size as `[x, y, x + w, y + h]`,
    /// images without any left out.
    pub fn from_ground_truth(gt: &GroundTruth, images: &Path) -> Dataset {
        let mut ds = Dataset {
            source: gt.source.clone(),
            items: Vec::new(),
            dropped_boxes: 0,
            dropped_images: 0,
        };
        for event in &gt.events {
            for image in &event.images {
                let boxes: Vec<[f64; 4]> = image
                    .boxes
                    .iter()
                    .filter(|b| b[2] > 0 && b[3] > 0)
                    .map(|b| {
                        let [x, y, w, h] = b.map(f64::from);
                        [x, y, x + w, y + h]
                    })
                    .collect();
                ds.dropped_boxes += image.boxes.len() - boxes.len();
                if boxes.is_empty() {
                    ds.dropped_images += 1;
                    continue;
                }
                ds.items.push(Item {
                    path: images.join(&event.name).join(format!("{}.jpg", image.name)),
                    boxes,
                });
            }
        }
        ds
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// A random split into `int(fraction · len)` images and the rest, as the Bayesian
    /// optimisation splits the training set 80/20 (`docs/upstream.md` §bo-objective; upstream's
    /// permutation comes from an unseeded CUDA generator, so any fixed random split will do).
    pub fn random_split(&self, fraction: f64, seed: u64) -> (Dataset, Dataset) {
        let order = Rng::derive(seed, Stream::Split, 0, 0).permutation(self.len());
        let n = ((fraction * self.len() as f64) as usize).min(self.len());
        (self.subset(&order[..n]), self.subset(&order[n..]))
    }

    /// The images at `indices`, in that order (a random split, or the first `n` for a quick run).
    pub fn subset(&self, indices: &[usize]) -> Dataset {
        Dataset {
            source: self.source.clone(),
            items: indices.iter().map(|&i| self.items[i].clone()).collect(),
            dropped_boxes: 0,
            dropped_images: 0,
        }
    }
}

/// How samples are made: upstream's mode `train` (full augmentation) or `val` (resize only).
#[derive(Debug, Clone, PartialEq)]
pub enum Mode {
    /// Augmented training samples.
    Train(AugmentConfig),
    /// Validation samples of the given side.
    Val {
        /// Side of the square network input.
        size: usize,
    },
}

impl Mode {
    fn size(&self) -> usize {
        match self {
            Mode::Train(a) => a.size,
            Mode::Val { size } => *size,
        }
    }
}

/// One batch, ready for the device.
#[derive(Debug)]
pub struct Batch {
    /// Position of the batch in the epoch.
    pub index: usize,
    /// `[B, S, S, 3]` uint8 RGB pixels (pinned when the loader was asked to pin).
    pub images: Tensor,
    /// Per image, its boxes `[x1, y1, x2, y2]` normalised to the image (not clipped).
    pub boxes: Vec<Vec<[f32; 4]>>,
    /// The same boxes packed for matching, on the host (pinned with the images).
    pub targets: Targets,
    /// The dataset index of each image (after upstream's redraws of images that lost all faces).
    pub items: Vec<usize>,
}

/// How a [`Loader`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoaderConfig {
    /// Images per batch; the last batch of an epoch may be smaller.
    pub batch_size: usize,
    /// Worker threads.
    pub workers: usize,
    /// Batches built ahead of the consumer, at most.
    pub prefetch: usize,
    /// Pin batches in page-locked memory for this CUDA device. Off in training: on an H100,
    /// pinning in the loader threads while the device trained gave 28–80 images/s against
    /// 445 for the training steps alone and 300–370 for the loader alone (`bench train
    /// --pin` measures it against the pageable default).
    pub pin: Option<Device>,
    /// Niceness added to the worker threads (Linux; elsewhere ignored). A thread that drives a
    /// GPU queues kernels one after another and waits for no data, so any moment it waits for
    /// a core is a moment the GPU idles; workers at a lower priority yield the core at once and
    /// catch up from the prefetched batches. [`LoaderConfig::nice_for`] picks it.
    pub nice: i32,
    /// Images whose header declares more pixels are refused before decoding (`--max-pixels`).
    pub max_pixels: u64,
}

/// The niceness of loader threads that feed a CUDA device ([`LoaderConfig::nice`]).
pub const CUDA_LOADER_NICE: i32 = 10;

impl LoaderConfig {
    /// The worker niceness for training on `device`: [`CUDA_LOADER_NICE`] on CUDA; none on the
    /// CPU, where the consumer's arithmetic would otherwise starve its own data.
    pub fn nice_for(device: Device) -> i32 {
        if device.is_cuda() {
            CUDA_LOADER_NICE
        } else {
            0
        }
    }
}

/// Name of the loader's worker threads (in `top -H`, `perf`, `/proc/<pid>/task/*/comm`).
pub const WORKER_NAME: &str = "bfpgm-loader";

/// Lowers the calling thread's priority by `increment` (Linux keeps one per thread). Best
/// effort: a refusal changes only the speed, so it is ignored.
fn lower_own_priority(increment: i32) {
    #[cfg(target_os = "linux")]
    if increment > 0 {
        // SAFETY: `nice` changes only the calling thread's niceness, capped at 19 by Linux.
        unsafe {
            libc::nice(increment);
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = increment;
}

/// Upstream redraws an image until its augmentation keeps a face; give up after this many.
const MAX_REDRAWS: usize = 1000;

/// Makes sample `position` of an epoch from dataset item `index`.
fn sample(
    ds: &Dataset,
    mode: &Mode,
    seed: u64,
    epoch: u64,
    position: usize,
    index: usize,
    max_pixels: u64,
) -> Result<(Vec<u8>, Vec<[f32; 4]>, usize)> {
    let read = |i: usize| {
        let item = &ds.items[i];
        let img = read_image_within(&item.path, max_pixels)?;
        let (w, h) = (img.width as f64, img.height as f64);
        let boxes: Vec<[f64; 4]> = item
            .boxes
            .iter()
            .map(|b| [b[0] / w, b[1] / h, b[2] / w, b[3] / h])
            .collect();
        anyhow::Ok((img, boxes))
    };
    let to_f32 = |b: Vec<[f64; 4]>| b.into_iter().map(|b| b.map(|v| v as f32)).collect();
    match mode {
        Mode::Val { size } => {
            let mut rng = Rng::derive(seed, Stream::Val, epoch, position as u64);
            let (img, boxes) = read(index)?;
            let out = augment::val_sample(&img, *size, &mut rng);
            Ok((out.data, to_f32(boxes), index))
        }
        Mode::Train(cfg) => {
            let mut rng = Rng::derive(seed, Stream::Train, epoch, position as u64);
            let mut index = index;
            for _ in 0..MAX_REDRAWS {
                let (img, boxes) = read(index)?;
                let (out, boxes) = augment::train_sample(img, boxes, cfg, &mut rng);
                if !boxes.is_empty() {
                    return Ok((out.data, to_f32(boxes), index));
                }
                index = rng.below(ds.len());
            }
            bail!("{MAX_REDRAWS} augmented images in a row kept no face; check the annotations")
        }
    }
}

/// Builds batch `k` of an epoch.
fn build_batch(
    ds: &Dataset,
    order: &[usize],
    mode: &Mode,
    seed: u64,
    epoch: u64,
    k: usize,
    cfg: &LoaderConfig,
) -> Result<Batch> {
    let first = k * cfg.batch_size;
    let positions = first..(first + cfg.batch_size).min(order.len());
    let side = mode.size();
    let mut pixels = Vec::with_capacity(positions.len() * side * side * 3);
    let mut boxes = Vec::with_capacity(positions.len());
    let mut items = Vec::with_capacity(positions.len());
    for p in positions {
        let (data, b, used) = sample(ds, mode, seed, epoch, p, order[p], cfg.max_pixels)
            .with_context(|| {
                format!(
                    "sample {p} of epoch {epoch} ({})",
                    ds.items[order[p]].path.display()
                )
            })?;
        pixels.extend_from_slice(&data);
        boxes.push(b);
        items.push(used);
    }
    let n = items.len() as i64;
    let mut images = Tensor::from_slice(&pixels).view([n, side as i64, side as i64, 3]);
    if let Some(device) = cfg.pin {
        images = images.pin_memory(device);
    }
    Ok(Batch {
        index: k,
        images,
        targets: Targets::host(&boxes, cfg.pin),
        boxes,
        items,
    })
}

#[derive(Default)]
struct Shared {
    /// Next batch a worker may start.
    next: usize,
    /// Batches handed to the consumer so far.
    taken: usize,
    /// Finished batches not yet taken.
    ready: BTreeMap<usize, Result<Batch>>,
    stop: bool,
}

/// The batches of one epoch, built by worker threads (see the module docs).
pub struct Loader {
    shared: Arc<(Mutex<Shared>, Condvar)>,
    workers: Vec<JoinHandle<()>>,
    batches: usize,
}

impl Loader {
    /// Starts the workers for an epoch over `order` (dataset indices; a permutation for training).
    pub fn start(
        ds: Arc<Dataset>,
        order: Vec<usize>,
        mode: Mode,
        seed: u64,
        epoch: u64,
        cfg: LoaderConfig,
    ) -> Loader {
        assert!(cfg.batch_size > 0 && cfg.workers > 0 && cfg.prefetch > 0);
        let batches = order.len().div_ceil(cfg.batch_size);
        let shared = Arc::new((Mutex::new(Shared::default()), Condvar::new()));
        let order = Arc::new(order);
        let mode = Arc::new(mode);
        let workers = (0..cfg.workers.min(batches.max(1)))
            .map(|_| {
                let (shared, ds, order, mode) =
                    (shared.clone(), ds.clone(), order.clone(), mode.clone());
                let work = move || {
                    lower_own_priority(cfg.nice);
                    let (lock, cv) = &*shared;
                    loop {
                        let k = {
                            let mut s = lock.lock().unwrap_or_else(|e| e.into_inner());
                            while !s.stop && s.next < batches && s.next >= s.taken + cfg.prefetch {
                                s = cv.wait(s).unwrap_or_else(|e| e.into_inner());
                            }
                            if s.stop || s.next >= batches {
                                return;
                            }
                            s.next += 1;
                            s.next - 1
                        };
                        let built = catch_unwind(AssertUnwindSafe(|| {
                            build_batch(&ds, &order, &mode, seed, epoch, k, &cfg)
                        }))
                        .unwrap_or_else(|_| {
                            Err(anyhow!("the loader thread building batch {k} panicked"))
                        });
                        let mut s = lock.lock().unwrap_or_else(|e| e.into_inner());
                        s.ready.insert(k, built);
                        cv.notify_all();
                    }
                };
                std::thread::Builder::new()
                    .name(WORKER_NAME.into())
                    .spawn(work)
                    .expect("the system starts a loader thread")
            })
            .collect();
        Loader {
            shared,
            workers,
            batches,
        }
    }

    /// Number of batches in the epoch.
    pub fn len(&self) -> usize {
        self.batches
    }

    /// Whether the epoch has no batch.
    pub fn is_empty(&self) -> bool {
        self.batches == 0
    }
}

impl Iterator for Loader {
    type Item = Result<Batch>;

    fn next(&mut self) -> Option<Result<Batch>> {
        let (lock, cv) = &*self.shared;
        let mut s = lock.lock().unwrap_or_else(|e| e.into_inner());
        if s.taken >= self.batches {
            return None;
        }
        loop {
            let k = s.taken;
            if let Some(batch) = s.ready.remove(&k) {
                s.taken += 1;
                cv.notify_all();
                return Some(batch);
            }
            s = cv.wait(s).unwrap_or_else(|e| e.into_inner());
        }
    }
}

impl Drop for Loader {
    fn drop(&mut self) {
        {
            let (lock, cv) = &*self.shared;
            let mut s = lock.lock().unwrap_or_else(|e| e.into_inner());
            s.stop = true;
            cv.notify_all();
        }
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

/// The order of the training images in `epoch` (upstream: `shuffle=True`).
pub fn shuffled(len: usize, seed: u64, epoch: u64) -> Vec<usize> {
    Rng::derive(seed, Stream::Shuffle, epoch, 0).permutation(len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bfpgm_core::imageio::DEFAULT_MAX_PIXELS;

    fn gt(text: &str) -> GroundTruth {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gt.txt");
        std::fs::write(&path, text).unwrap();
        GroundTruth::parse_txt(&path).unwrap()
    }

    #[test]
    fn upstream_filter_drops_empty_boxes_then_empty_images() {
        let g = gt(
            "0--Parade/a.jpg\n3\n1 2 3 4 0 0 0 0 0 0\n5 6 0 8 0 0 0 0 0 0\n9 9 -1 2 0 0 0 0 0 0\n\
                    0--Parade/b.jpg\n1\n1 1 0 0 0 0 0 0 0 0\n\
                    1--Handshaking/c.jpg\n0\n0 0 0 0 0 0 0 0 0 0\n\
                    1--Handshaking/d.jpg\n1\n10 20 30 40 0 0 0 0 1 0\n",
        );
        let ds = Dataset::from_ground_truth(&g, Path::new("/imgs"));
        assert_eq!(ds.len(), 2);
        assert_eq!(ds.items[0].path, Path::new("/imgs/0--Parade/a.jpg"));
        assert_eq!(ds.items[0].boxes, [[1.0, 2.0, 4.0, 6.0]]);
        assert_eq!(ds.items[1].path, Path::new("/imgs/1--Handshaking/d.jpg"));
        // x + w and y + h, no −1; the invalid flag (column 8) is ignored as upstream does.
        assert_eq!(ds.items[1].boxes, [[10.0, 20.0, 40.0, 60.0]]);
        assert_eq!((ds.dropped_boxes, ds.dropped_images), (3, 2));
    }

    #[test]
    fn a_missing_split_names_the_files_and_the_fetch_command() {
        let dir = tempfile::tempdir().unwrap();
        let err = Dataset::load(&WiderDir::at(dir.path()), Split::Train)
            .unwrap_err()
            .to_string();
        assert!(err.contains("wider_face_train_bbx_gt.txt"), "{err}");
        assert!(err.contains("reproduce fetch wider-mini"), "{err}");
    }

    #[test]
    fn malformed_annotations_name_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let w = WiderDir::at(dir.path());
        std::fs::create_dir_all(w.images(Split::Train)).unwrap();
        std::fs::create_dir_all(w.annotations(Split::Train).parent().unwrap()).unwrap();
        std::fs::write(
            w.annotations(Split::Train),
            "0--Parade/a.jpg\n2\n1 2 3 4 0 0 0 0 0 0\n1 2 x 4 0 0 0 0 0 0\n",
        )
        .unwrap();
        let err = format!("{:#}", Dataset::load(&w, Split::Train).unwrap_err());
        assert!(err.contains("wider_face_train_bbx_gt.txt line 4"), "{err}");
    }

    /// A WIDER root with `n` small PNG images (one face each) and their annotations.
    fn synthetic(n: usize) -> (tempfile::TempDir, WiderDir) {
        let dir = tempfile::tempdir().unwrap();
        let w = WiderDir::at(dir.path());
        let images = w.images(Split::Train).join("0--Parade");
        std::fs::create_dir_all(&images).unwrap();
        std::fs::create_dir_all(w.annotations(Split::Train).parent().unwrap()).unwrap();
        let mut txt = String::new();
        for i in 0..n {
            let (width, height) = (90 + 7 * i, 70 + 3 * i);
            let data = (0..width * height * 3)
                .map(|k| ((k * (i + 3)) % 251) as u8)
                .collect();
            let img = bfpgm_core::imageio::RgbImage::new(width, height, data).unwrap();
            let png = bfpgm_core::imageio::encode_png(&img).unwrap();
            std::fs::write(images.join(format!("img_{i}.jpg")), png).unwrap();
            txt += &format!("0--Parade/img_{i}.jpg\n1\n{} 10 30 30 0 0 0 0 0 0\n", 5 + i);
        }
        std::fs::write(w.annotations(Split::Train), txt).unwrap();
        (dir, w)
    }

    /// A batch as plain values: position, pixels, boxes.
    type Plain = (usize, Vec<u8>, Vec<Vec<[f32; 4]>>);

    fn epoch(ds: &Arc<Dataset>, workers: usize, prefetch: usize) -> Vec<Plain> {
        let mode = Mode::Train(AugmentConfig::upstream(64, &[16, 32, 64, 128, 256, 512]));
        let cfg = LoaderConfig {
            batch_size: 3,
            workers,
            prefetch,
            pin: None,
            nice: 0,
            max_pixels: DEFAULT_MAX_PIXELS,
        };
        Loader::start(ds.clone(), shuffled(ds.len(), 5, 2), mode, 5, 2, cfg)
            .map(|b| {
                let b = b.unwrap();
                let pixels = Vec::<u8>::try_from(&b.images.view([-1])).unwrap();
                (b.index, pixels, b.boxes)
            })
            .collect()
    }

    #[test]
    fn batches_do_not_depend_on_threads_or_prefetch() {
        let (_dir, w) = synthetic(8);
        let ds = Arc::new(Dataset::load(&w, Split::Train).unwrap());
        let one = epoch(&ds, 1, 1);
        // 8 images in batches of 3: 3, 3 and a last batch of 2, in order.
        assert_eq!(one.iter().map(|b| b.0).collect::<Vec<_>>(), [0, 1, 2]);
        assert_eq!(one.iter().map(|b| b.2.len()).collect::<Vec<_>>(), [3, 3, 2]);
        assert_eq!(one[2].1.len(), 2 * 64 * 64 * 3);
        assert!(
            one.iter()
                .all(|b| b.2.iter().all(|boxes| !boxes.is_empty()))
        );
        assert_eq!(epoch(&ds, 4, 2), one);
        assert_eq!(epoch(&ds, 3, 8), one);
    }

    #[test]
    fn a_dropped_loader_stops_its_workers() {
        let (_dir, w) = synthetic(8);
        let ds = Arc::new(Dataset::load(&w, Split::Train).unwrap());
        let cfg = LoaderConfig {
            batch_size: 1,
            workers: 2,
            prefetch: 2,
            pin: None,
            nice: 0,
            max_pixels: DEFAULT_MAX_PIXELS,
        };
        let mut loader = Loader::start(ds, (0..8).collect(), Mode::Val { size: 32 }, 0, 0, cfg);
        assert_eq!(loader.len(), 8);
        assert_eq!(loader.next().unwrap().unwrap().items, [0]);
        drop(loader); // joins the workers; a hang here fails the test by timeout
    }

    /// The niceness of a thread from its `/proc/.../stat` (field 19).
    #[cfg(target_os = "linux")]
    fn niceness(stat: &Path) -> i32 {
        let text = std::fs::read_to_string(stat).unwrap();
        let after_name = &text[text.rfind(')').unwrap() + 1..];
        after_name
            .split_whitespace()
            .nth(16)
            .unwrap()
            .parse()
            .unwrap()
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn loader_threads_run_at_the_niceness_asked_for() {
        let (_dir, w) = synthetic(8);
        let ds = Arc::new(Dataset::load(&w, Split::Train).unwrap());
        let base = niceness(Path::new("/proc/thread-self/stat"));
        let want = (base + 5).min(19);
        assert_ne!(
            want, base,
            "the test process already runs at the lowest priority"
        );
        let cfg = LoaderConfig {
            batch_size: 1,
            workers: 2,
            prefetch: 2,
            pin: None,
            nice: 5,
            max_pixels: DEFAULT_MAX_PIXELS,
        };
        let mut loader = Loader::start(ds, (0..8).collect(), Mode::Val { size: 32 }, 0, 0, cfg);
        assert!(loader.next().unwrap().is_ok());
        // Other tests' loaders may run beside this one at niceness 0: count ours.
        let ours = || {
            std::fs::read_dir("/proc/self/task")
                .unwrap()
                .filter_map(|t| t.ok().map(|t| t.path()))
                .filter(|t| {
                    std::fs::read_to_string(t.join("comm")).is_ok_and(|c| c.trim() == WORKER_NAME)
                })
                .filter(|t| niceness(&t.join("stat")) == want)
                .count()
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while ours() < 2 && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert_eq!(ours(), 2);
        // The consumer keeps its priority.
        assert_eq!(niceness(Path::new("/proc/thread-self/stat")), base);
    }

    #[test]
    fn an_unreadable_image_is_an_error_naming_it() {
        let (_dir, w) = synthetic(2);
        std::fs::write(
            w.images(Split::Train).join("0--Parade/img_1.jpg"),
            b"not an image",
        )
        .unwrap();
        let ds = Arc::new(Dataset::load(&w, Split::Train).unwrap());
        let cfg = LoaderConfig {
            batch_size: 2,
            workers: 1,
            prefetch: 1,
            pin: None,
            nice: 0,
            max_pixels: DEFAULT_MAX_PIXELS,
        };
        let err = Loader::start(ds, vec![0, 1], Mode::Val { size: 32 }, 0, 0, cfg)
            .next()
            .unwrap()
            .unwrap_err();
        let text = format!("{err:#}");
        assert!(text.contains("img_1.jpg"), "{text}");
    }

    #[test]
    fn a_huge_declared_size_is_refused_before_decoding() {
        let (_dir, w) = synthetic(2);
        let path = w.images(Split::Train).join("0--Parade/img_1.jpg");
        let mut png = std::fs::read(&path).unwrap();
        png[16..24].copy_from_slice(&[0, 0, 0xEA, 0x60, 0, 0, 0xEA, 0x60]);
        std::fs::write(&path, png).unwrap();
        let ds = Arc::new(Dataset::load(&w, Split::Train).unwrap());
        let cfg = |max_pixels| LoaderConfig {
            batch_size: 1,
            workers: 1,
            prefetch: 1,
            pin: None,
            nice: 0,
            max_pixels,
        };
        let first_error = |order: Vec<usize>, max_pixels| {
            let loader = Loader::start(
                ds.clone(),
                order,
                Mode::Val { size: 32 },
                0,
                0,
                cfg(max_pixels),
            );
            format!("{:#}", loader.filter_map(Result::err).next().unwrap())
        };
        let err = first_error(vec![0, 1], DEFAULT_MAX_PIXELS);
        assert!(err.contains("img_1.jpg"), "{err}");
        assert!(
            err.contains("the header declares 60000×60000 pixels"),
            "{err}"
        );
        // The limit is the loader's: a lower one refuses the first, ordinary image too.
        let err = first_error(vec![0], 1000);
        assert!(
            err.contains("img_0.jpg: the header declares 90×70 pixels"),
            "{err}"
        );
    }

    #[test]
    fn a_random_split_partitions_the_images() {
        let g = gt(&(0..10)
            .map(|i| format!("0--Parade/{i}.jpg\n1\n1 1 5 5 0 0 0 0 0 0\n"))
            .collect::<String>());
        let ds = Dataset::from_ground_truth(&g, Path::new("/i"));
        let (a, b) = ds.random_split(0.8, 3);
        assert_eq!((a.len(), b.len()), (8, 2));
        let mut all: Vec<_> = a
            .items
            .iter()
            .chain(&b.items)
            .map(|i| i.path.clone())
            .collect();
        all.sort();
        let mut want: Vec<_> = ds.items.iter().map(|i| i.path.clone()).collect();
        want.sort();
        assert_eq!(all, want);
        assert_eq!(ds.random_split(0.8, 3), (a, b));
    }

    #[test]
    fn shuffles_are_permutations_fixed_by_seed_and_epoch() {
        let a = shuffled(100, 0, 3);
        assert_eq!(a, shuffled(100, 0, 3));
        assert_ne!(a, shuffled(100, 0, 4));
        let mut s = a.clone();
        s.sort_unstable();
        assert_eq!(s, (0..100).collect::<Vec<_>>());
    }
}
