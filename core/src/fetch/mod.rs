//! Downloads: every file in `zoo.yaml`, fetched, verified and unpacked under the data directory.
//!
//! The flow for each entry, named by [`fetch`] or [`ensure`], under a per-file lock so two
//! processes never write the same file:
//! 1. [`plan`] looks at the disk without reading contents: missing, partial (`<file>.part`),
//!    verified (a stamp matching size, mtime and ctime), unchecked, or the wrong size.
//! 2. `download` acts on that: hashes an unchecked file once, or streams from the [`source`]s
//!    (the mirror first, then the registry's URLs, over `http` with Range resume) into the part
//!    file, hashing as it writes, with retries and back-off; the part becomes the final file only
//!    when its sha256 matches, so nothing unverified ever sits at a final path.
//! 3. [`extract`] unpacks archives into their folder, refusing entries that would escape it, with
//!    a marker so it happens once.
//!
//! An entry that is ready is used without a lock or any write, so a read-only data folder (a
//! shared cache, a CI cache restored read-only) serves every command that only reads; lock
//! files are removed when a fetch is done.
//!
//! [`verify`] re-hashes everything regardless of stamps and checks what archives unpacked. Other
//! commands call [`ensure`] to make files present before they run, or [`require`] /
//! [`cached_path`] to use them only when present. All progress goes through a [`Progress`] sink;
//! nothing here prints.

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

pub use extract::{Extraction, Unpacked};
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
    /// made progress). A source that cannot be reached at all gets none.
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

/// Like [`cached_path`], but an entry that is not ready is an error that says what is wrong
/// with it (absent, partly downloaded, changed since it was fetched, not unpacked) and that
/// `reproduce fetch` puts it right.
pub fn require(artifact: &Artifact, data_dir: &Path) -> Result<PathBuf> {
    let st = status(artifact, data_dir);
    let path = artifact.path(data_dir);
    if st.is_ready() {
        return Ok(path);
    }
    let (name, shown) = (&artifact.name, path.display());
    let fetch = format!("`reproduce fetch {name}`");
    Err(match st.state {
        State::Missing => anyhow!("{name} is not downloaded (expected at {shown}); run {fetch}"),
        State::Partial { have } => anyhow!(
            "{name} is only partly downloaded ({have} of {} bytes); run {fetch} to finish it",
            artifact.bytes
        ),
        State::WrongSize { len } => anyhow!(
            "{name} at {shown} changed since it was fetched ({len} bytes, the registry says {}); \
             {fetch} replaces it",
            artifact.bytes
        ),
        State::Unchecked => anyhow!(
            "{name} at {shown} changed since it was verified (or was put there by hand); {fetch} \
             hashes it and replaces it if it is not the registry's file"
        ),
        State::Verified => anyhow!(
            "{name} at {shown} is downloaded, but {}; {fetch} unpacks it again",
            extract::unpacked(&path, &artifact.sha256).describe()
        ),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::Hidden;

    /// A registry of one file entry `f.bin` holding `content`, and its artifact.
    fn one_file(content: &[u8]) -> Zoo {
        let text = format!(
            "version: 1\npapers: []\n\
             tolerances: {{sparsity: 0.0, ap: 0.0}}\nmodels: []\nfiles:\n  - name: f\n    \
             file: f.bin\n    bytes: {}\n    sha256: {}\n    urls: []\n    dest: d\n",
            content.len(),
            crate::hash::sha256_hex(content)
        );
        Zoo::parse(&text, "test").unwrap()
    }

    #[test]
    fn require_says_what_is_wrong_and_that_fetch_puts_it_right() {
        let data = tempfile::tempdir().unwrap();
        let zoo = one_file(b"registry bytes");
        let a = zoo.artifacts().next().unwrap();
        let err = |zoo: &Zoo| {
            require(zoo.artifacts().next().unwrap(), data.path())
                .unwrap_err()
                .to_string()
        };
        assert!(err(&zoo).starts_with("f is not downloaded (expected at "));
        std::fs::create_dir_all(data.path().join("d")).unwrap();
        std::fs::write(a.path(data.path()), b"registry bytes").unwrap();
        fetch(&zoo, data.path(), &["f"], &FetchOptions::default(), &Hidden).unwrap();
        assert_eq!(require(a, data.path()).unwrap(), a.path(data.path()));
        // Damaged in place (same size, another mtime): not "not downloaded", but changed.
        std::fs::write(a.path(data.path()), b"REGISTRY bytes").unwrap();
        std::fs::File::options()
            .append(true)
            .open(a.path(data.path()))
            .unwrap()
            .set_modified(std::time::SystemTime::UNIX_EPOCH)
            .unwrap();
        let changed = err(&zoo);
        assert!(
            changed.contains("changed since it was verified")
                && changed.ends_with(
                    "`reproduce fetch f` hashes it and replaces it if it is not the registry's file"
                ),
            "{changed}"
        );
        std::fs::write(a.path(data.path()), b"short").unwrap();
        let short = err(&zoo);
        assert!(
            short.contains("changed since it was fetched (5 bytes, the registry says 14)")
                && short.ends_with("`reproduce fetch f` replaces it"),
            "{short}"
        );
    }
}
