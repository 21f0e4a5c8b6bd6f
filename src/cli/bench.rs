//! `reproduce bench ...`: speed measurements, one subcommand per goal. Timings live here and
//! never in tests, whose machines vary.
//!
//! * `bench eval`: the WIDER FACE AP evaluation on the full-val synthetic predictions fixture
//!   (3,226 files), stage by stage. Upstream's `evaluation.py` needs about 40 s for it on the
//!   project's 2-core machines; the goal is under 0.2 s.
//! * `bench train`: training images/s (`bench_train`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use clap::{Args, Subcommand};

use super::Global;
use super::eval::val_gt_files;
use bfpgm::wider::{GroundTruth, MissingPolicy, Predictions, Setting, ValMatFiles, evaluate};

/// The full-val synthetic predictions, relative to the shared reference folder.
const SYNTHETIC_PREDS: &str = "fixtures/wider-val-synthetic-preds-seed1.tar.gz";

/// `bench eval`'s goal for reading, loading and evaluating, in seconds.
const EVAL_GOAL_S: f64 = 0.2;

/// Arguments of `reproduce bench`.
#[derive(Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    what: Bench,
}

#[derive(Subcommand)]
enum Bench {
    /// Time the AP evaluation (read predictions, load ground truth, evaluate) on the full-val
    /// synthetic predictions.
    Eval(EvalBench),
    /// Training throughput: data loading alone, and training steps fed by the loader.
    Train(super::bench_train::TrainBench),
}

#[derive(Args)]
struct EvalBench {
    /// A .tar.gz of prediction files in the official layout
    /// [default: the synthetic full-val predictions of the reference folder].
    #[arg(long, value_name = "FILE")]
    archive: Option<PathBuf>,
    /// The shared reference folder that holds fixtures/.
    #[arg(long, env = "BFPGM_REFERENCE", value_name = "DIR")]
    reference: Option<PathBuf>,
    /// Folder holding the four val .mat files [default: the data directory's WIDER/ground_truth].
    #[arg(long, value_name = "DIR")]
    gt: Option<PathBuf>,
    /// Timed repetitions; the best and the median are reported.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    repeat: u32,
}

impl BenchArgs {
    /// Runs the chosen benchmark.
    pub fn run(self, global: &Global) -> Result<ExitCode> {
        match self.what {
            Bench::Eval(args) => args.run(global),
            Bench::Train(args) => args.run(global),
        }
    }
}

impl EvalBench {
    fn run(self, global: &Global) -> Result<ExitCode> {
        let archive = match (&self.archive, &self.reference) {
            (Some(a), _) => a.clone(),
            (None, Some(r)) => r.join(SYNTHETIC_PREDS),
            (None, None) => bail!(
                "no predictions to time: give --archive FILE or the reference folder with \
                 --reference DIR (or BFPGM_REFERENCE)"
            ),
        };
        let files = match &self.gt {
            Some(dir) => ValMatFiles::in_dir(dir),
            None => val_gt_files(global)?,
        };
        let scratch = tempfile::Builder::new()
            .prefix("bfpgm-bench-")
            .tempdir()
            .context("cannot create a temporary folder")?;
        let started = Instant::now();
        let preds_dir = unpack_tar_gz(&archive, scratch.path())?;
        let unpack = started.elapsed();

        let mut runs: Vec<[Duration; 3]> = Vec::new();
        let mut aps = [0.0; 3];
        let mut images = 0;
        for _ in 0..self.repeat {
            let t0 = Instant::now();
            let preds = Predictions::read_dir(&preds_dir)?;
            let t1 = Instant::now();
            let gt = GroundTruth::load_val(&files)?;
            let t2 = Instant::now();
            let eval = evaluate(&gt, &preds, MissingPolicy::Error)?;
            let t3 = Instant::now();
            runs.push([t1 - t0, t2 - t1, t3 - t2]);
            aps = Setting::ALL.map(|s| eval.ap(s));
            images = eval.images;
        }

        let mut out = std::io::stdout().lock();
        writeln!(out, "bench eval: {} ({images} images)", archive.display())?;
        writeln!(out, "unpack (once, not timed below): {}", ms(unpack))?;
        writeln!(
            out,
            "{:<20} {:>10} {:>10}   ({} runs)",
            "stage",
            "best",
            "median",
            runs.len()
        )?;
        let stages = [
            "read predictions",
            "load ground truth",
            "evaluate (3 settings)",
        ];
        for (i, name) in stages.iter().enumerate() {
            let times: Vec<Duration> = runs.iter().map(|r| r[i]).collect();
            let (best, median) = best_median(times);
            writeln!(out, "{name:<20} {:>10} {:>10}", ms(best), ms(median))?;
        }
        let (best, median) = best_median(runs.iter().map(|r| r.iter().sum()).collect());
        writeln!(out, "{:<20} {:>10} {:>10}", "total", ms(best), ms(median))?;
        let verdict = if best.as_secs_f64() < EVAL_GOAL_S {
            "met"
        } else {
            "MISSED"
        };
        writeln!(
            out,
            "goal: total < {:.0} ms ({verdict}); upstream evaluation.py takes about 40 s on 2 cores",
            EVAL_GOAL_S * 1000.0
        )?;
        writeln!(out, "AP: easy {} medium {} hard {}", aps[0], aps[1], aps[2])?;
        Ok(ExitCode::SUCCESS)
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn best_median(mut times: Vec<Duration>) -> (Duration, Duration) {
    times.sort();
    (times[0], times[times.len() / 2])
}

/// Unpacks a `.tar.gz` of predictions and returns the folder that holds the event folders
/// (the archive's single top-level folder, if it has one).
fn unpack_tar_gz(archive: &Path, dest: &Path) -> Result<PathBuf> {
    let file = std::fs::File::open(archive)
        .with_context(|| format!("cannot open the predictions archive {}", archive.display()))?;
    tar::Archive::new(flate2::read::GzDecoder::new(file))
        .unpack(dest)
        .with_context(|| format!("cannot unpack {}", archive.display()))?;
    let top: Vec<PathBuf> = std::fs::read_dir(dest)?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()?;
    ensure!(!top.is_empty(), "{} holds no files", archive.display());
    Ok(match top.as_slice() {
        [only] if only.is_dir() && !looks_like_event(only) => only.clone(),
        _ => dest.to_path_buf(),
    })
}

/// WIDER event folders are named `<number>--<Name>`.
fn looks_like_event(dir: &Path) -> bool {
    dir.file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.split_once("--"))
        .is_some_and(|(num, _)| !num.is_empty() && num.bytes().all(|b| b.is_ascii_digit()))
}
