//! `reproduce bench infer` and `bench train`: the benchmarks that run networks (the others, and
//! every benchmark's arguments, are `bfpgm_core::cli::bench`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use tch::Device;

use super::{bench_loader, bench_train};
use crate::device;
use crate::eval::compare::{Comparison, STABLE_SCORE, compare_dirs};
use crate::eval::infer::{
    InferOutcome, InferSettings, image_jobs, infer, interrupt_flag, prefer_huge_pages,
};
use crate::eval::report::device_name;
use bfpgm_core::cli::Global;
use bfpgm_core::cli::bench::{Bench, BenchArgs, InferBench};
use bfpgm_core::cli::eval::val_gt_files;
use bfpgm_core::imageio::DEFAULT_MAX_PIXELS;
use bfpgm_core::progress;
use bfpgm_core::report::text_table::TextTable;
use bfpgm_core::wider::{GroundTruth, ValMatFiles};
use bfpgm_core::zoo::Arch;

/// Runs the chosen benchmark.
pub fn run(args: BenchArgs, global: &Global) -> Result<ExitCode> {
    if !args.needs_network() {
        return args.run_without_network(global);
    }
    match args.what {
        Bench::Train(args) => bench_train::run(args, global),
        Bench::Loader(args) => bench_loader::run(args, global),
        Bench::Infer(args) => run_infer(args, global),
        Bench::Eval(_) | Bench::Startup(_) => unreachable!("runs without a network"),
    }
}

/// `bench infer`'s goals in seconds per image (wall clock), from the issue: a tenth of
/// upstream's 18 s for EXTD and half its 1.0 s for EResFD on 2 CPU cores; 0.1 s for EResFD on
/// CUDA, where upstream's per-box loops make it slower (2.5 s on an H100) than on the CPU.
fn infer_goal(arch: Arch, device: Device) -> Option<f64> {
    match (arch, device) {
        (Arch::Eresfd, Device::Cpu) => Some(0.5),
        (Arch::Extd, Device::Cpu) => Some(1.8),
        (Arch::Eresfd, _) => Some(0.1),
        (Arch::Extd, _) => None,
    }
}

/// Upstream's predictions and timings for the mini val set, relative to the reference folder.
const UPSTREAM_PREDS: &str = "fixtures/upstream-preds-mini";
const UPSTREAM_MINI_AP: &str = "fixtures/upstream-mini-ap.json";

fn run_infer(args: InferBench, global: &Global) -> Result<ExitCode> {
    prefer_huge_pages();
    let zoo = global.zoo()?;
    let (spec, _) = super::eval::model_spec(&zoo, &global.data_dir, &args.model, args.arch)?;
    let images = match &args.images {
        Some(dir) => dir.clone(),
        None => bfpgm_core::cli::eval::mini_val_images(&zoo, &global.data_dir)?,
    };
    let files = match &args.gt {
        Some(dir) => ValMatFiles::in_dir(dir),
        None => val_gt_files(global)?,
    };
    let gt = GroundTruth::load_val(&files)?;
    let mut jobs = image_jobs(&gt, &images, true)?;
    if let Some(n) = args.limit {
        jobs.truncate(n as usize);
    }
    let device = device::resolve(args.device)?;
    let settings = InferSettings {
        device,
        workers: args
            .workers
            .map_or_else(crate::eval::session::default_workers, usize::from),
        max_pixels: DEFAULT_MAX_PIXELS,
    };
    tch::set_num_threads(i32::from(args.threads));
    let stop = interrupt_flag()?;
    let sink = progress::stderr(false);
    let scratch = tempfile::Builder::new()
        .prefix("bfpgm-bench-")
        .tempdir()
        .context("cannot create a temporary folder")?;
    let mut best: Option<InferOutcome> = None;
    let mut out = PathBuf::new();
    for r in 0..args.repeat {
        let dir = scratch.path().join(format!("run{r}"));
        let outcome = infer(&spec, settings, &jobs, &dir, sink.as_ref(), stop)?;
        ensure!(!outcome.interrupted, "interrupted");
        if best.as_ref().is_none_or(|b| outcome.wall < b.wall) {
            best = Some(outcome);
            out = dir;
        }
    }
    let best = best.expect("at least one run");

    let mut w = std::io::stdout().lock();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    writeln!(
        w,
        "bench infer: {} ({}), {} images of {}",
        spec.name,
        spec.arch,
        jobs.len(),
        images.display()
    )?;
    writeln!(
        w,
        "device {}, --workers {} --threads {}, {cores} cores",
        device_name(settings.device),
        settings.workers,
        args.threads
    )?;
    let per_image = |d: Duration| d.as_secs_f64() * 1000.0 / best.inferred as f64;
    let mut table = TextTable::new(["stage (one image, one worker)", "ms/image"]).right_align([1]);
    for (name, d) in best.times.stages() {
        table.push([format!("  {name}"), format!("{:.1}", per_image(d))]);
    }
    table.push([
        "  total".to_string(),
        format!("{:.1}", per_image(best.times.total())),
    ]);
    let wall = best.wall.as_secs_f64() / best.inferred as f64;
    table.push([
        format!(
            "wall clock per image, all workers (best of {} runs)",
            args.repeat
        ),
        format!("{:.1}", wall * 1000.0),
    ]);
    write!(w, "{}", table.plain())?;
    let upstream = args
        .reference
        .as_deref()
        .and_then(|r| upstream_seconds(r, &spec.checkpoint));
    let upstream_text = upstream.map_or(String::new(), |s| {
        format!(
            "; upstream on 2 CPU cores: {:.0} ms ({UPSTREAM_MINI_AP})",
            s * 1000.0
        )
    });
    match infer_goal(spec.arch, settings.device) {
        Some(goal) => {
            let verdict = if wall <= goal { "met" } else { "MISSED" };
            writeln!(
                w,
                "goal: <= {:.0} ms per image ({verdict}){upstream_text}",
                goal * 1000.0
            )?;
        }
        None => writeln!(
            w,
            "goal: none set for this model on this device{upstream_text}"
        )?,
    }

    let reference_dir = args.compare.clone().or_else(|| {
        let stem = spec.checkpoint.file_stem()?;
        let dir = args.reference.as_ref()?.join(UPSTREAM_PREDS).join(stem);
        dir.is_dir().then_some(dir)
    });
    if let Some(dir) = reference_dir {
        let c = compare_dirs(&out, &dir, &jobs)?;
        print_comparison(&mut w, &dir, &c)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Upstream's CPU seconds per image for a checkpoint, from `upstream-mini-ap.json`.
fn upstream_seconds(reference: &Path, checkpoint: &Path) -> Option<f64> {
    let text = std::fs::read_to_string(reference.join(UPSTREAM_MINI_AP)).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    let file = checkpoint.file_name()?.to_str()?;
    json["models"]
        .as_object()?
        .values()
        .find(|m| m["checkpoint"] == file)?["cpu_mean_s_per_image"]
        .as_f64()
}

fn print_comparison(w: &mut impl Write, dir: &Path, c: &Comparison) -> Result<()> {
    writeln!(w, "predictions vs {}:", dir.display())?;
    writeln!(
        w,
        "  {} of {} files identical; headers differ in {}; box counts differ in {}{}",
        c.identical_files,
        c.files,
        c.header_mismatches.len(),
        c.count_mismatches.len(),
        if c.count_mismatches.is_empty() {
            String::new()
        } else {
            let list: Vec<String> = c
                .count_mismatches
                .iter()
                .map(|(k, a, b)| format!("{k} {a} vs {b}"))
                .collect();
            format!(" ({})", list.join(", "))
        }
    )?;
    writeln!(
        w,
        "  rows scoring >= {STABLE_SCORE}: {}",
        if c.stable_row_mismatches.is_empty() {
            "identical and in place in every file".to_string()
        } else {
            format!("DIFFER in {}", c.stable_row_mismatches.join(", "))
        }
    )?;
    writeln!(
        w,
        "  {} of {} rows moved or changed; {} without a partner within 0.1 px / 0.001 \
         (highest score {:.3})",
        c.rows_moved_or_changed, c.rows, c.rows_unmatched, c.max_unmatched_score
    )?;
    Ok(())
}
