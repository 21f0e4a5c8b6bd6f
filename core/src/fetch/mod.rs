//! Downloads: every file in `zoo.yaml`, fetched, verified and unpacked under the data directory.
//!
//! The flow for each entry, named by [`fetch`] or [`ensure`], under a per-file lock so two
//! processes never write the same file:
//! 1. [`plan`] looks at the disk without reading contents: missing, partial (`<file>.part`),
//!    verified (a stamp matching size and mtime), unchecked, or the wrong size.
//! 2. `download` acts on that: hashes an unchecked file once, or streams from the [`source`]s
//!    (the mirror first, then the registry's URLs, over `http` with Range resume) into the part
//!    file, hashing as it writes, with retries and back-off; the part becomes the final file only
//!    when its sha256 matches, so nothing unverified ever sits at a final path.
//! 3. [`extract`] unpacks archives into their folder, refusing entries that would escape it, with
//!    a marker so it happens once.
//!
//! [`verify`] re-hashes everything regardless of stamps. Other commands call [`ensure`] to make
//! files present before they run, or [`require`] / [`cached_path`] to use them only when present.
//! All progress goes through a [`Progress`] sink; nothing here prints.

mod download;
pub mod extract;
mod files;
mod http;
mod opened;
pub mod plan;
pub mod source;
pub mod verify;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Result, anyhow, bail};
use serde::Serialize;

pub use extract::Extraction;
pub use plan::State;
pub use source::{Mirror, Source};
pub use verify::{Check, Verified, verify};

use crate::progress::Progress;
use crate::zoo::{Artifact, Zoo};

/// How to fetch: where else to look, and how patiently.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// Searched first, by file name (`--mirror`, `BFPGM_MIRROR`).
    pub mirror: Option<Mirror>,
    /// Extra attempts per source after a transient failure (the count restarts when an attempt
    /// made progress).
    pub retries: u32,
    /// Pause before the first retry; doubled for each further one, at most 30 s.
    pub backoff: Duration,
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions {
            mirror: None,
            retries: 3,
            backoff: Duration::from_secs(1),
        }
    }
}

/// How an entry came to be present.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Outcome {
    /// Already there and stamped as verified; nothing was read.
    Cached,
    /// Already there (copied in, or left complete by an interrupted run) and hashed right now.
    Checked,
    /// Downloaded, or finished downloading, from `source`.
    Downloaded {
        /// Where the bytes came from.
        source: Source,
        /// Bytes transferred by this run.
        bytes: u64,
        /// Where this run started (non-zero when it resumed a part file).
        resumed_from: u64,
        /// Transfer time.
        seconds: f64,
    },
}

/// The result of fetching one entry.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fetched {
    /// Registry name.
    pub name: String,
    /// The verified file.
    pub path: PathBuf,
    /// How it got there.
    #[serde(flatten)]
    pub outcome: Outcome,
    /// For archives, what extraction did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extraction: Option<Extraction>,
}

/// Fetches the named entries and groups into `data_dir`, in registry order, and reports what
/// happened to each. Every entry is attempted; the error lists all that failed.
pub fn fetch<S: AsRef<str>>(
    zoo: &Zoo,
    data_dir: &Path,
    names: &[S],
    options: &FetchOptions,
    progress: &dyn Progress,
) -> Result<Vec<Fetched>> {
    let names: Vec<String> = names.iter().map(|n| n.as_ref().to_string()).collect();
    let artifacts = zoo.resolve(&names)?;
    if let Some(Mirror::Dir(d)) = &options.mirror
        && !d.is_dir()
    {
        bail!(
            "the mirror folder {} does not exist (set by --mirror or BFPGM_MIRROR)",
            d.display()
        );
    }
    let downloader = download::Downloader::new(options, progress);
    let mut done = Vec::with_capacity(artifacts.len());
    let mut failed = Vec::new();
    for a in &artifacts {
        match downloader.fetch(a, data_dir) {
            Ok(f) => done.push(f),
            Err(e) => failed.push(e),
        }
    }
    match failed.len() {
        0 => Ok(done),
        1 => Err(failed.remove(0)),
        n => Err(anyhow!(
            "{n} of {} entries could not be fetched:\n  {}",
            artifacts.len(),
            failed
                .iter()
                .map(|e| format!("{e:#}"))
                .collect::<Vec<_>>()
                .join("\n  ")
        )),
    }
}

/// Makes sure the named entries are present, verified and unpacked, downloading what is
/// missing; returns their paths in registry order. Commands call this before they run.
pub fn ensure<S: AsRef<str>>(
    zoo: &Zoo,
    data_dir: &Path,
    names: &[S],
    options: &FetchOptions,
    progress: &dyn Progress,
) -> Result<Vec<PathBuf>> {
    Ok(fetch(zoo, data_dir, names, options, progress)?
        .into_iter()
        .map(|f| f.path)
        .collect())
}

/// The entry's path if it is present, stamped as verified and (for archives) unpacked. Costs a
/// few `stat` calls and never hashes; a file copied in by hand counts once `reproduce fetch`
/// has checked it.
pub fn cached_path(artifact: &Artifact, data_dir: &Path) -> Option<PathBuf> {
    status(artifact, data_dir)
        .is_ready()
        .then(|| artifact.path(data_dir))
}

/// Like [`cached_path`], but an absent entry is an error that says which command fetches it.
pub fn require(artifact: &Artifact, data_dir: &Path) -> Result<PathBuf> {
    cached_path(artifact, data_dir).ok_or_else(|| {
        anyhow!(
            "{} is not downloaded (expected at {}); run `reproduce fetch {}`",
            artifact.name,
            artifact.path(data_dir).display(),
            artifact.name
        )
    })
}

/// What is on disk for an entry, for listings: the file's [`State`] and, for archives, whether
/// they are unpacked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Status {
    /// The file's state.
    #[serde(flatten)]
    pub state: State,
    /// For archives: whether the marker says they are unpacked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extracted: Option<bool>,
}

impl Status {
    /// Whether the entry is ready to use (the [`cached_path`] condition).
    pub fn is_ready(&self) -> bool {
        self.state == State::Verified && self.extracted != Some(false)
    }
}

/// Reads the [`Status`] of an entry without hashing.
pub fn status(artifact: &Artifact, data_dir: &Path) -> Status {
    let state = plan::assess(artifact, &plan::observe(artifact, data_dir));
    let extracted = artifact
        .extract
        .then(|| extract::is_extracted(&artifact.path(data_dir), &artifact.sha256));
    Status { state, extracted }
}
