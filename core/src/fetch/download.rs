//! Bringing one artifact to "verified at its final path": the act that follows the plan.
//!
//! An entry that is ready (stamped and, for archives, unpacked) is used as it is, without a lock
//! or any write, so a read-only shared cache serves every command. Otherwise, under the
//! artifact's lock, the state from [`plan`](super::plan) decides: an unstamped file is hashed
//! once and stamped (or removed if it is wrong); a missing one comes from the sources, in order.
//! Each transfer streams into `<file>.part`, hashing as it writes (a resumed part is hashed from
//! disk first). Transient failures are retried with exponential back-off, resuming where the
//! part ends, and the count starts over whenever an attempt made progress, so a flaky connection
//! still finishes a large file. A source that cannot be reached at all is not retried, and its
//! host is skipped for the rest of the run, so an offline run fails at once and says so. A hash
//! mismatch deletes the part and moves on to the next source (after one fresh start, if the
//! part had been resumed, since the bad bytes may be old ones). Only a part that hashed right is
//! renamed to the final path. Archives are then unpacked, still under the lock.
//!
//! In a folder that cannot be written there is no lock and no stamp: a file is hashed (with a
//! note that the stamp is skipped), and anything that would have to write is an error that says
//! the folder is read-only.

use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;
use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use sha2::{Digest, Sha256};

use super::files::{self, part_path};
use super::http::Http;
use super::opened::Failure;
use super::plan::{FileMeta, Stamp, State, assess, observe};
use super::source::{Source, sources};
use super::{Extraction, FetchOptions, Fetched, Outcome, extract};
use crate::hash::{self, BLOCK};
use crate::progress::{Progress, Unit, amount, rate_text};
use crate::zoo::Artifact;

/// The longest pause between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Why a transfer stopped.
enum Stop {
    /// No connection could be made: the next source, at once.
    Unreachable(anyhow::Error),
    /// Worth another attempt at the same source after a pause.
    Retry(anyhow::Error),
    /// The part was resumed and the result hashed wrong: start this source again from zero.
    Restart(anyhow::Error),
    /// Give up on this source.
    NextSource(anyhow::Error),
    /// A local problem (disk full, permissions): no source can help.
    Fatal(anyhow::Error),
}

impl From<Failure> for Stop {
    fn from(f: Failure) -> Stop {
        match f {
            Failure::Unreachable(e) => Stop::Unreachable(e),
            Failure::Transient(e) => Stop::Retry(e),
            Failure::Permanent(e) => Stop::NextSource(e),
        }
    }
}

/// What one successful transfer did.
struct Transfer {
    bytes: u64,
    resumed_from: u64,
    seconds: f64,
}

/// Fetches artifacts one after another, sharing one lazily built HTTP client and what it
/// learnt about unreachable hosts.
pub struct Downloader<'a> {
    options: &'a FetchOptions,
    progress: &'a dyn Progress,
    http: Http,
    /// Hosts no connection could be made to in this run.
    unreachable: RefCell<BTreeSet<String>>,
    /// Whether the read-only note was given.
    noted_read_only: Cell<bool>,
}

impl<'a> Downloader<'a> {
    /// A downloader with the given options, reporting to `progress`.
    pub fn new(options: &'a FetchOptions, progress: &'a dyn Progress) -> Self {
        Downloader {
            options,
            progress,
            http: Http::new(),
            unreachable: RefCell::new(BTreeSet::new()),
            noted_read_only: Cell::new(false),
        }
    }

    /// Says once per run that a folder cannot be written, and what that changes.
    fn note_read_only(&self, dir: &Path) {
        if !self.noted_read_only.replace(true) {
            self.progress.note(&format!(
                "{} cannot be written: files there are used without lock files, and stamps of \
                 files hashed now are not recorded (the next run hashes them again)",
                dir.display()
            ));
        }
    }

    /// Makes `artifact` present, verified and (for archives) unpacked under `data_dir`, holding
    /// its lock throughout; says what it did.
    pub fn fetch(&self, a: &Artifact, data_dir: &Path) -> Result<Fetched> {
        let path = a.path(data_dir);
        if super::status(a, data_dir).is_ready() {
            return Ok(Fetched {
                name: a.name.clone(),
                path,
                outcome: Outcome::Cached,
                extraction: a.extract.then_some(Extraction::AlreadyDone),
            });
        }
        let dir = path.parent().expect("artifact paths have a folder");
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let lock = files::lock(&path, || {
            self.progress.note(&format!(
                "{}: waiting for another process that is fetching {}",
                a.name,
                path.display()
            ))
        })?;
        let writable = lock.is_some();
        if !writable {
            self.note_read_only(dir);
        }
        let outcome = self.settle(a, data_dir, &path, writable)?;
        if !writable && a.extract && !extract::is_extracted(&path, &a.sha256) {
            bail!(
                "{} is verified but not (or no longer completely) unpacked, and {} cannot be \
                 written; unpack it where you can write (--data-dir)",
                path.display(),
                dir.display()
            );
        }
        let extraction = if a.extract {
            let label = format!("{} (extracting)", a.name);
            Some(extract::extract(&path, &a.sha256, &label, self.progress)?)
        } else {
            None
        };
        Ok(Fetched {
            name: a.name.clone(),
            path,
            outcome,
            extraction,
        })
    }

    /// Brings the file at `path` to "verified", by the state [`plan`](super::plan) finds; in a
    /// folder that is not `writable`, only hashing is possible.
    fn settle(
        &self,
        a: &Artifact,
        data_dir: &Path,
        path: &Path,
        writable: bool,
    ) -> Result<Outcome> {
        let read_only = |what: String| {
            anyhow!(
                "{what}, and {} cannot be written; fetch it where you can write (--data-dir)",
                path.parent().map_or(path, |d| d).display()
            )
        };
        // Each pass either finishes or removes the file at the final path, so two passes suffice.
        for _ in 0..2 {
            match assess(a, &observe(a, data_dir)) {
                State::Verified => {
                    if writable {
                        remove_if_present(&part_path(path))?;
                    }
                    return Ok(Outcome::Cached);
                }
                State::Unchecked => {
                    let got =
                        hash::sha256_file(path, &format!("{} (checking)", a.name), self.progress)?;
                    if got == a.sha256 {
                        if writable {
                            Stamp::write(path, &got)?;
                            remove_if_present(&part_path(path))?;
                        }
                        return Ok(Outcome::Checked);
                    }
                    if !writable {
                        return Err(read_only(format!(
                            "{} changed since it was fetched (sha256 {got}, the registry's is {})",
                            path.display(),
                            a.sha256
                        )));
                    }
                    self.progress.note(&format!(
                        "{}: {} is not the registry's file (sha256 {got}, expected {}); downloading it again",
                        a.name,
                        path.display(),
                        a.sha256
                    ));
                    discard(path)?;
                }
                State::WrongSize { len } if !writable => {
                    return Err(read_only(format!(
                        "{} changed since it was fetched ({len} bytes, the registry says {})",
                        path.display(),
                        a.bytes
                    )));
                }
                State::Partial { .. } | State::Missing if !writable => {
                    return Err(read_only(format!(
                        "{} is not downloaded (expected at {})",
                        a.name,
                        path.display()
                    )));
                }
                State::WrongSize { len } => {
                    self.progress.note(&format!(
                        "{}: {} has {len} bytes, expected {}; downloading it again",
                        a.name,
                        path.display(),
                        a.bytes
                    ));
                    discard(path)?;
                }
                State::Partial { have } if have == a.bytes => {
                    if let Some(outcome) = self.complete_part(a, path)? {
                        return Ok(outcome);
                    }
                    return self.download(a, path);
                }
                State::Partial { .. } | State::Missing => return self.download(a, path),
            }
        }
        bail!(
            "{} did not settle after being replaced; is another program writing to it?",
            path.display()
        )
    }

    /// A part as long as the file (an earlier run stopped between download and rename): hash it
    /// instead of asking a server for zero bytes.
    fn complete_part(&self, a: &Artifact, path: &Path) -> Result<Option<Outcome>> {
        let part = part_path(path);
        let got = hash::sha256_file(&part, &format!("{} (checking)", a.name), self.progress)?;
        if got == a.sha256 {
            promote(&part, path, &got)?;
            return Ok(Some(Outcome::Checked));
        }
        self.progress.note(&format!(
            "{}: the complete {} hashed wrong; starting over",
            a.name,
            part.display()
        ));
        remove_if_present(&part)?;
        Ok(None)
    }

    fn download(&self, a: &Artifact, path: &Path) -> Result<Outcome> {
        let sources = sources(a, self.options.mirror.as_ref());
        if sources.is_empty() {
            bail!(
                "{} ({}) has no public URL: it exists only on the test mirror; fetch it with \
                 --mirror DIR or BFPGM_MIRROR",
                a.name,
                a.file
            );
        }
        let part = part_path(path);
        let mut failures = Vec::new();
        let mut all_unreachable = true;
        for (i, source) in sources.iter().enumerate() {
            if let Some(host) = source.host()
                && self.unreachable.borrow().contains(&host)
            {
                failures.push(format!(
                    "{source}: {host} could not be reached earlier in this run"
                ));
                continue;
            }
            match self.try_source(a, source, &part) {
                Ok(t) => {
                    promote(&part, path, &a.sha256)?;
                    return Ok(Outcome::Downloaded {
                        source: source.clone(),
                        bytes: t.bytes,
                        resumed_from: t.resumed_from,
                        seconds: t.seconds,
                    });
                }
                Err(Stop::Fatal(e)) => return Err(e),
                Err(stop) => {
                    let e = match stop {
                        Stop::Unreachable(e) => {
                            if let Some(host) = source.host() {
                                self.unreachable.borrow_mut().insert(host);
                            }
                            e
                        }
                        Stop::Retry(e)
                        | Stop::Restart(e)
                        | Stop::NextSource(e)
                        | Stop::Fatal(e) => {
                            all_unreachable = false;
                            e
                        }
                    };
                    if i + 1 < sources.len() {
                        self.progress
                            .note(&format!("{}: {e:#}; trying the next source", a.name));
                    }
                    failures.push(format!("{e:#}"));
                }
            }
        }
        if all_unreachable {
            bail!(
                "{} ({}) could not be fetched: none of its sources can be reached ({}); check \
                 the network connection, or point --mirror / BFPGM_MIRROR at a folder that holds \
                 {}",
                a.name,
                a.file,
                failures.join("; "),
                a.file
            );
        }
        let kept = FileMeta::of(&part).map_or(String::new(), |m| {
            format!(
                "; {} of the download are kept in {} and the next run resumes from there",
                amount(Unit::Bytes, m.len),
                part.display()
            )
        });
        Err(anyhow!(
            "{} ({}) could not be fetched from {}: {}{kept}",
            a.name,
            a.file,
            if sources.len() == 1 {
                "its source".to_string()
            } else {
                format!("any of its {} sources", sources.len())
            },
            failures.join("; ")
        ))
    }

    /// Transfers from one source, retrying transient failures. A source that cannot be reached
    /// is given up at once, unless it delivered bytes in this run (then the network dropped out
    /// mid-transfer, which retrying may outlast).
    fn try_source(&self, a: &Artifact, source: &Source, part: &Path) -> Result<Transfer, Stop> {
        let mut attempt = 0;
        let mut restarted = false;
        let mut delivered = false;
        loop {
            let have = FileMeta::of(part)
                .map(|m| m.len)
                .filter(|&len| len <= a.bytes)
                .unwrap_or(0);
            let outcome = match self.transfer(a, source, part, have) {
                Err(Stop::Unreachable(e)) if delivered => Err(Stop::Retry(e)),
                other => other,
            };
            match outcome {
                Ok(t) => return Ok(t),
                Err(Stop::Retry(e)) => {
                    let now = FileMeta::of(part).map_or(0, |m| m.len);
                    if now > have {
                        attempt = 0;
                        delivered = true;
                    }
                    if attempt >= self.options.retries {
                        return Err(Stop::Retry(e));
                    }
                    let pause = self
                        .options
                        .backoff
                        .saturating_mul(1 << attempt.min(16))
                        .min(MAX_BACKOFF);
                    attempt += 1;
                    self.progress.note(&format!(
                        "{}: {e:#}; retrying in {:.1} s ({attempt}/{})",
                        a.name,
                        pause.as_secs_f64(),
                        self.options.retries
                    ));
                    std::thread::sleep(pause);
                }
                Err(Stop::Restart(e)) if !restarted => {
                    restarted = true;
                    self.progress.note(&format!(
                        "{}: {e:#}; the resumed part was deleted, downloading from the start",
                        a.name
                    ));
                }
                Err(Stop::Restart(e)) => return Err(Stop::NextSource(e)),
                Err(stop) => return Err(stop),
            }
        }
    }

    /// One attempt: open the source at `have`, stream the rest into the part file while hashing,
    /// check length and sha256.
    fn transfer(
        &self,
        a: &Artifact,
        source: &Source,
        part: &Path,
        have: u64,
    ) -> Result<Transfer, Stop> {
        let opened = source.open(have, &self.http)?;
        let offset = opened.offset;
        if let Some(total) = opened.total
            && total != a.bytes
        {
            return Err(Stop::NextSource(anyhow!(
                "{source} has {total} bytes, but the registry says {}",
                a.bytes
            )));
        }
        let local = |e: std::io::Error| Stop::Fatal(anyhow!("writing {}: {e}", part.display()));
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(part)
            .map_err(local)?;
        file.set_len(offset).map_err(local)?;
        let mut hasher = Sha256::new();
        file.seek(SeekFrom::Start(0)).map_err(local)?;
        hash::update_from(&mut hasher, &mut file, offset, |_| {}).map_err(local)?;
        if offset > 0 {
            self.progress.note(&format!(
                "{}: resuming at {} from {source}",
                a.name,
                amount(Unit::Bytes, offset)
            ));
        } else if have > 0 {
            self.progress.note(&format!(
                "{}: {source} does not support resuming; downloading from the start",
                a.name
            ));
        }
        let mut task = self.progress.task(&a.name, Unit::Bytes, Some(a.bytes));
        task.set(offset);
        let started = Instant::now();
        let mut reader = opened.reader;
        let mut buf = vec![0u8; BLOCK];
        let mut received = 0u64;
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    file.sync_all().map_err(local)?;
                    return Err(Stop::Retry(anyhow!(
                        "{source}: the transfer broke after {} of {} bytes: {}",
                        offset + received,
                        a.bytes,
                        error_chain(&e)
                    )));
                }
            };
            if offset + received + n as u64 > a.bytes {
                drop(file);
                remove_if_present(part).map_err(Stop::Fatal)?;
                return Err(Stop::NextSource(anyhow!(
                    "{source} sent more than the registry's {} bytes",
                    a.bytes
                )));
            }
            hasher.update(&buf[..n]);
            file.write_all(&buf[..n]).map_err(local)?;
            received += n as u64;
            task.add(n as u64);
        }
        file.sync_all().map_err(local)?;
        drop(file);
        if offset + received < a.bytes {
            return Err(Stop::Retry(anyhow!(
                "{source}: the connection closed after {} of {} bytes",
                offset + received,
                a.bytes
            )));
        }
        let got = hex::encode(hasher.finalize());
        if got != a.sha256 {
            remove_if_present(part).map_err(Stop::Fatal)?;
            let err = anyhow!(
                "{} (the download was deleted)",
                hash::mismatch(&source.to_string(), &a.sha256, &got)
            );
            return Err(if offset > 0 {
                Stop::Restart(err)
            } else {
                Stop::NextSource(err)
            });
        }
        let seconds = started.elapsed().as_secs_f64();
        task.finish(&format!(
            "{} in {seconds:.1} s ({}) from {source}",
            amount(Unit::Bytes, received),
            rate_text(Unit::Bytes, received as f64 / seconds.max(1e-3))
        ));
        Ok(Transfer {
            bytes: received,
            resumed_from: offset,
            seconds,
        })
    }
}

/// Renames a part that hashed right to the final path and stamps it.
fn promote(part: &Path, path: &Path, sha256: &str) -> Result<()> {
    std::fs::rename(part, path)
        .with_context(|| format!("renaming {} to {}", part.display(), path.display()))?;
    Stamp::write(path, sha256)
}

/// Removes a file at the final path that is not the registry's, with its stamp.
fn discard(path: &Path) -> Result<()> {
    Stamp::remove(path);
    remove_if_present(path)
}

fn remove_if_present(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("removing {}", path.display()))
        }
        _ => Ok(()),
    }
}

/// An I/O error with its sources, which reqwest nests several levels deep.
fn error_chain(e: &std::io::Error) -> String {
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        let s = c.to_string();
        if !text.contains(&s) {
            text += &format!(": {s}");
        }
        cause = c.source();
    }
    text
}
