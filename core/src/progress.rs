//! Progress reporting: the library emits events, the front end decides how they look.
//!
//! Long steps (downloads, hashing, extraction, and later evaluation and training loops) take a
//! `&dyn Progress` and open one [`Task`] per unit of work, counting either bytes (drawn with rate
//! and ETA) or items (drawn with items per second). They also emit one-line [`Progress::note`]s
//! for decisions worth a log line ("resuming at 12 MiB", "trying the next URL").
//!
//! Three sinks cover every caller:
//! * [`Hidden`]: nothing at all, for `--json` output and library users that want silence;
//! * [`Lines`]: plain lines for logs and CI (a line at most every few seconds while a task runs,
//!   and one when it ends);
//! * [`Bars`]: indicatif bars on a terminal.
//!
//! [`stderr`] picks between them the way the CLI wants: hidden when asked, bars when stderr is a
//! terminal, plain lines otherwise.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{HumanBytes, HumanCount, HumanDuration, MultiProgress, ProgressBar, ProgressStyle};

/// What a task counts; it decides how positions and rates are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Bytes, shown as KiB/MiB with a transfer rate and an ETA.
    Bytes,
    /// Discrete items (images, batches, archive entries), shown as counts per second.
    Items,
}

/// A sink for progress events. Implementations must tolerate tasks opened from several threads.
pub trait Progress: Sync {
    /// Opens a task of `total` units (`None` when unknown) that counts from zero.
    fn task(&self, label: &str, unit: Unit, total: Option<u64>) -> Box<dyn Task + '_>;
    /// A one-line message worth keeping in a log.
    fn note(&self, line: &str);
}

/// One running unit of work. Dropping it without [`Task::finish`] abandons it silently (the
/// caller reports the error).
pub trait Task: Send {
    /// Jumps to an absolute position, e.g. a download resumed at a byte offset or restarted at
    /// zero. Rates and ETAs count only what happens after the jump.
    fn set(&mut self, done: u64);
    /// Advances by `n` units.
    fn add(&mut self, n: u64);
    /// Ends the task with a one-line summary (empty for none).
    fn finish(self: Box<Self>, summary: &str);
}

/// The sink the command line uses: nothing when `quiet` (e.g. `--json`), bars on a terminal,
/// plain lines when stderr is a file or a pipe.
pub fn stderr(quiet: bool) -> Box<dyn Progress> {
    if quiet {
        Box::new(Hidden)
    } else if std::io::stderr().is_terminal() {
        Box::new(Bars::new())
    } else {
        Box::new(Lines::new(std::io::stderr(), Duration::from_secs(10)))
    }
}

/// Discards every event.
pub struct Hidden;

struct HiddenTask;

impl Progress for Hidden {
    fn task(&self, _: &str, _: Unit, _: Option<u64>) -> Box<dyn Task + '_> {
        Box::new(HiddenTask)
    }
    fn note(&self, _: &str) {}
}

impl Task for HiddenTask {
    fn set(&mut self, _: u64) {}
    fn add(&mut self, _: u64) {}
    fn finish(self: Box<Self>, _: &str) {}
}

/// Writes plain lines: notes as they come, a status line per task at most once per `every`, and
/// the task's summary when it finishes. Meant for logs, so nothing is ever redrawn.
pub struct Lines<W: Write + Send> {
    out: Mutex<W>,
    every: Duration,
}

impl<W: Write + Send> Lines<W> {
    /// Writes to `out`, with at most one status line per task every `every`.
    pub fn new(out: W, every: Duration) -> Self {
        Lines {
            out: Mutex::new(out),
            every,
        }
    }

    /// The writer back, e.g. to inspect what was written.
    pub fn into_inner(self) -> W {
        self.out.into_inner().unwrap_or_else(|e| e.into_inner())
    }

    fn line(&self, text: &str) {
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        // A log line that cannot be written is not worth failing the work for.
        let _ = writeln!(out, "{text}");
    }
}

struct LineTask<'a, W: Write + Send> {
    sink: &'a Lines<W>,
    label: String,
    unit: Unit,
    total: Option<u64>,
    pos: u64,
    since: Instant,
    since_pos: u64,
    last_line: Instant,
}

impl<W: Write + Send> Progress for Lines<W> {
    fn task(&self, label: &str, unit: Unit, total: Option<u64>) -> Box<dyn Task + '_> {
        let now = Instant::now();
        Box::new(LineTask {
            sink: self,
            label: label.to_string(),
            unit,
            total,
            pos: 0,
            since: now,
            since_pos: 0,
            last_line: now,
        })
    }

    fn note(&self, line: &str) {
        self.line(line);
    }
}

impl<W: Write + Send> LineTask<'_, W> {
    fn status(&self) -> String {
        let elapsed = self.since.elapsed().as_secs_f64();
        let rate = if elapsed > 0.0 {
            (self.pos - self.since_pos) as f64 / elapsed
        } else {
            0.0
        };
        let mut s = format!("{}: {}", self.label, amount(self.unit, self.pos));
        if let Some(total) = self.total {
            s += &format!(" / {}", amount(self.unit, total));
            if total > 0 {
                s += &format!(" ({:.0}%)", 100.0 * self.pos as f64 / total as f64);
            }
        }
        s += &format!(", {}", rate_text(self.unit, rate));
        if let Some(total) = self.total
            && rate > 0.0
            && total > self.pos
        {
            let eta = Duration::from_secs_f64((total - self.pos) as f64 / rate);
            s += &format!(", ETA {}", HumanDuration(eta));
        }
        s
    }
}

impl<W: Write + Send> Task for LineTask<'_, W> {
    fn set(&mut self, done: u64) {
        self.pos = done;
        self.since = Instant::now();
        self.since_pos = done;
    }

    fn add(&mut self, n: u64) {
        self.pos += n;
        if self.last_line.elapsed() >= self.sink.every {
            self.last_line = Instant::now();
            self.sink.line(&self.status());
        }
    }

    fn finish(self: Box<Self>, summary: &str) {
        if !summary.is_empty() {
            self.sink.line(&format!("{}: {summary}", self.label));
        }
    }
}

/// indicatif bars on stderr, one per open task, with notes printed above them.
pub struct Bars {
    multi: MultiProgress,
}

impl Bars {
    /// Bars drawn on stderr.
    pub fn new() -> Self {
        Bars {
            multi: MultiProgress::new(),
        }
    }
}

impl Default for Bars {
    fn default() -> Self {
        Bars::new()
    }
}

struct BarTask<'a> {
    multi: &'a MultiProgress,
    bar: ProgressBar,
    label: String,
}

impl Progress for Bars {
    fn task(&self, label: &str, unit: Unit, total: Option<u64>) -> Box<dyn Task + '_> {
        let template = match (unit, total) {
            (Unit::Bytes, Some(_)) => {
                "{msg:28!} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}"
            }
            (Unit::Items, Some(_)) => {
                "{msg:28!} [{bar:30}] {human_pos}/{human_len} {per_sec} ETA {eta}"
            }
            (Unit::Bytes, None) => "{spinner} {msg:28!} {bytes} {binary_bytes_per_sec}",
            (Unit::Items, None) => "{spinner} {msg:28!} {human_pos} {per_sec}",
        };
        let style = ProgressStyle::with_template(template)
            .expect("the progress templates are valid")
            .progress_chars("=> ");
        let bar = match total {
            Some(n) => ProgressBar::new(n),
            None => ProgressBar::no_length(),
        };
        let bar = self
            .multi
            .add(bar.with_style(style).with_message(label.to_string()));
        Box::new(BarTask {
            multi: &self.multi,
            bar,
            label: label.to_string(),
        })
    }

    fn note(&self, line: &str) {
        self.multi.suspend(|| eprintln!("{line}"));
    }
}

impl Task for BarTask<'_> {
    fn set(&mut self, done: u64) {
        self.bar.set_position(done);
        self.bar.reset_eta();
    }

    fn add(&mut self, n: u64) {
        self.bar.inc(n);
    }

    fn finish(self: Box<Self>, summary: &str) {
        self.bar.finish_and_clear();
        if !summary.is_empty() {
            let line = format!("{}: {summary}", self.label);
            self.multi.suspend(|| eprintln!("{line}"));
        }
    }
}

impl Drop for BarTask<'_> {
    fn drop(&mut self) {
        if !self.bar.is_finished() {
            self.bar.finish_and_clear();
        }
        self.multi.remove(&self.bar);
    }
}

/// `n` units in words: "1.50 MiB" or "1,234".
pub fn amount(unit: Unit, n: u64) -> String {
    match unit {
        Unit::Bytes => HumanBytes(n).to_string(),
        Unit::Items => HumanCount(n).to_string(),
    }
}

/// A rate per second in words: "12.00 MiB/s" or "35.2/s".
pub fn rate_text(unit: Unit, per_sec: f64) -> String {
    match unit {
        Unit::Bytes => format!("{}/s", HumanBytes(per_sec as u64)),
        Unit::Items => format!("{per_sec:.1}/s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_print_notes_and_summaries_and_throttle_status_lines() {
        let sink = Lines::new(Vec::new(), Duration::from_secs(3600));
        sink.note("eresfd-30: downloading");
        let mut task = sink.task("eresfd-30", Unit::Bytes, Some(2048));
        task.add(1024);
        task.add(1024);
        task.finish("2.00 KiB in 0.1 s");
        let text = String::from_utf8(sink.into_inner()).unwrap();
        assert_eq!(
            text,
            "eresfd-30: downloading\neresfd-30: 2.00 KiB in 0.1 s\n"
        );
    }

    #[test]
    fn lines_status_shows_position_total_percent_rate_and_eta() {
        let sink = Lines::new(Vec::new(), Duration::ZERO);
        let mut task = sink.task("WIDER_val.zip", Unit::Bytes, Some(4 << 20));
        task.set(1 << 20);
        std::thread::sleep(Duration::from_millis(20));
        task.add(1 << 20);
        drop(task);
        let text = String::from_utf8(sink.into_inner()).unwrap();
        assert!(
            text.starts_with("WIDER_val.zip: 2.00 MiB / 4.00 MiB (50%), "),
            "{text}"
        );
        assert!(text.contains("/s, ETA "), "{text}");
    }

    #[test]
    fn items_are_counted_not_sized() {
        assert_eq!(amount(Unit::Items, 3226), "3,226");
        assert_eq!(amount(Unit::Bytes, 3 << 20), "3.00 MiB");
        assert_eq!(rate_text(Unit::Items, 35.0), "35.0/s");
    }
}
