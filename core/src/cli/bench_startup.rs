//! `reproduce bench startup`: what a command costs as a whole process, start-up included: wall
//! time and peak resident memory of `--version`, `zoo list`, `tables` and `eval --predictions`
//! on the full-val synthetic predictions, each run several times, the median reported. With
//! `--compare BIN` another build (e.g. the one before a change) runs in the same call, command by
//! command, so both see the same machine state.
//!
//! The goals are the ones the front binary was built for: `--version` and `zoo list` under 50 ms
//! and 50 MiB, `tables` under 0.3 s and `eval --predictions` under 0.2 s.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;

use super::Global;
use super::fixtures::SYNTHETIC_PREDS;
use crate::fetch;
use crate::progress;
use crate::report::text_table::TextTable;
use crate::wider::preds::unpack_predictions;
use crate::wider::zoo_gt_files;

/// Arguments of `reproduce bench startup`.
#[derive(Args)]
pub struct StartupBench {
    /// Runs per command; the median is reported.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub runs: u32,
    /// Another `reproduce` binary to measure in the same call, e.g. an earlier build.
    #[arg(long, value_name = "BIN")]
    pub compare: Option<PathBuf>,
    /// The shared reference folder that holds the synthetic predictions (fixtures/).
    #[arg(long, env = "BFPGM_REFERENCE", value_name = "DIR")]
    pub reference: Option<PathBuf>,
}

/// One measured command: its label, its arguments and its goals (seconds, MiB).
struct Case {
    label: &'static str,
    args: Vec<OsString>,
    goal_s: f64,
    goal_mib: Option<f64>,
}

/// The median wall time and peak memory of a command's runs.
struct Measured {
    wall: Duration,
    max_rss_kib: u64,
}

impl StartupBench {
    /// Fetches what the commands read, then measures them.
    pub fn run(self, global: &Global) -> Result<ExitCode> {
        let zoo = global.zoo()?;
        let sink = progress::stderr(false);
        fetch::ensure(
            &zoo,
            &global.data_dir,
            &["models", "baselines", "wider-gt"],
            &global.fetch_options()?,
            sink.as_ref(),
        )?;
        let Some(reference) = &self.reference else {
            bail!(
                "the synthetic predictions come from the reference folder: give --reference DIR \
                 (or BFPGM_REFERENCE)"
            );
        };
        let scratch = tempfile::Builder::new()
            .prefix("bfpgm-bench-")
            .tempdir()
            .context("cannot create a temporary folder")?;
        let preds = unpack_predictions(&reference.join(SYNTHETIC_PREDS), scratch.path())?;
        let gt = zoo_gt_files(&zoo, &global.data_dir)?;
        let gt_dir = gt.face.parent().context("the ground truth has a folder")?;
        let cases = cases(&preds, gt_dir);

        let ours = std::env::current_exe().context("cannot tell where this binary is")?;
        let mut bins = vec![("this", ours)];
        if let Some(other) = &self.compare {
            bins.push(("compared", other.clone()));
        }
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "bench startup: whole process, median of {} runs; peak RSS from wait4",
            self.runs
        )?;
        for (name, bin) in &bins {
            writeln!(out, "{name:>9}: {}", bin.display())?;
        }
        let mut table =
            TextTable::new(["command", "binary", "time", "peak RSS", "goal"]).right_align([2, 3]);
        for case in &cases {
            for (name, bin) in &bins {
                let m = measure(bin, &case.args, global, self.runs)
                    .with_context(|| format!("running {} {}", bin.display(), case.label))?;
                let secs = m.wall.as_secs_f64();
                let mib = m.max_rss_kib as f64 / 1024.0;
                let met = secs < case.goal_s && case.goal_mib.is_none_or(|g| mib < g);
                let goal = match case.goal_mib {
                    Some(g) => format!("< {:.0} ms, < {g:.0} MiB", case.goal_s * 1000.0),
                    None => format!("< {:.0} ms", case.goal_s * 1000.0),
                };
                table.push([
                    case.label.to_string(),
                    name.to_string(),
                    format!("{:.1} ms", secs * 1000.0),
                    format!("{mib:.1} MiB"),
                    format!("{goal} ({})", if met { "met" } else { "MISSED" }),
                ]);
            }
        }
        write!(out, "{}", table.plain())?;
        Ok(ExitCode::SUCCESS)
    }
}

fn cases(preds: &Path, gt_dir: &Path) -> Vec<Case> {
    let os = |parts: &[&str]| parts.iter().map(OsString::from).collect::<Vec<_>>();
    let mut eval = os(&["eval", "--predictions"]);
    eval.push(preds.into());
    eval.push("--gt".into());
    eval.push(gt_dir.into());
    vec![
        Case {
            label: "--version",
            args: os(&["--version"]),
            goal_s: 0.05,
            goal_mib: Some(50.0),
        },
        Case {
            label: "zoo list",
            args: os(&["zoo", "list"]),
            goal_s: 0.05,
            goal_mib: Some(50.0),
        },
        Case {
            label: "tables",
            args: os(&["tables"]),
            goal_s: 0.3,
            goal_mib: None,
        },
        Case {
            label: "eval --predictions",
            args: eval,
            goal_s: 0.2,
            goal_mib: None,
        },
    ]
}

/// Runs `bin args` `runs` times with this command's data folder and registry, and returns the
/// median wall time and the largest peak RSS.
fn measure(bin: &Path, args: &[OsString], global: &Global, runs: u32) -> Result<Measured> {
    let mut walls = Vec::new();
    let mut max_rss_kib = 0;
    for _ in 0..runs {
        let mut cmd = Command::new(bin);
        cmd.args(args)
            .env("BFPGM_DATA", &global.data_dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(zoo) = &global.zoo {
            cmd.env("BFPGM_ZOO", zoo);
        }
        let started = Instant::now();
        let child = cmd.spawn().context("cannot start it")?;
        let (status, rss) = wait_with_rusage(child.id())?;
        walls.push(started.elapsed());
        if status != 0 {
            bail!("it exited with status {status}");
        }
        max_rss_kib = max_rss_kib.max(rss);
    }
    walls.sort();
    Ok(Measured {
        wall: walls[walls.len() / 2],
        max_rss_kib,
    })
}

/// Waits for the child `pid` and returns its exit status and peak resident set in KiB.
fn wait_with_rusage(pid: u32) -> Result<(i32, u64)> {
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to fill in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our own child, not yet waited for; both pointers are valid for writes.
    let waited = unsafe { libc::wait4(pid as libc::pid_t, &mut status, 0, &mut usage) };
    if waited < 0 {
        return Err(std::io::Error::last_os_error()).context("wait4");
    }
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        128 + libc::WTERMSIG(status)
    };
    Ok((code, usage.ru_maxrss.max(0) as u64))
}
