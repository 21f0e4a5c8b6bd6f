//! `reproduce bo`: the Bayesian optimisation of the six group rates (`bfpgm::prune::search`),
//! every hyper-parameter of upstream's driver a flag with its default. Trials run one per device
//! (`--devices`); every trial is logged as it finishes, and `--resume` continues a stopped search.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Args;

use super::Global;
use super::prune::{ArchArg, ExecArgs, checkpoint, parse_devices, set, zoo_arch};
use super::tables::GroupingArg;
use bfpgm::progress;
use bfpgm::prune::bayes::search::{STATE, Shard, rates_text};
use bfpgm::prune::search::{BoConfig, BoOptions, BoOutcome, OPTIMAL_RATES, run_bo};

/// How a cluster user spreads a search; shown by `reproduce bo --help`.
const NOTES: &str = "\
The search folder holds search.json (the whole state), optimization_results.csv (one row per
finished trial), optimization.png and, once complete, optimal_rates.json for `reproduce sfp`.
A killed search resumes with --resume and never repeats a finished trial. --devices runs one
trial per GPU; --fuse K trains K trials per GPU as one network, on the same batches. On a
cluster, --shard I/N spreads the initial design (probe + random points) over N jobs and --merge
collects them; the GP-guided phase runs in one job (docs/pruning.md).";

/// Arguments of `reproduce bo`.
#[derive(Args)]
#[command(after_long_help = NOTES)]
pub struct BoArgs {
    /// The detector [required unless --resume].
    #[arg(long, value_enum)]
    arch: Option<ArchArg>,
    /// Pre-trained weights every trial starts from: a zoo model (e.g. eresfd-original) or a file
    /// [required unless --resume].
    #[arg(long, value_name = "NAME|FILE")]
    pretrained: Option<String>,
    /// Search folder.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Continue the search in --out with its saved settings.
    #[arg(long)]
    resume: bool,
    /// Stop after N trials in this call (the search stays resumable).
    #[arg(long, value_name = "N")]
    max_trials: Option<usize>,
    /// One trial at a time on each of these devices, e.g. cuda:0,cuda:1,cuda:2
    /// [default: cuda:0 when available, else cpu].
    #[arg(long, value_delimiter = ',', value_name = "DEVICES")]
    devices: Vec<String>,
    /// Evaluate only share I of N of the initial design (probe + random points), e.g. 2/8, in
    /// its own --out; merge the shards into one search with --merge.
    #[arg(long, value_name = "I/N", conflicts_with = "merge")]
    shard: Option<Shard>,
    /// Take over the finished initial-design trials of these searches (shards of this search)
    /// before running.
    #[arg(long, value_name = "DIR", num_args = 1..)]
    merge: Vec<PathBuf>,

    /// Target whole-model sparsity T, as a fraction [default: 0.2].
    #[arg(long)]
    target: Option<f64>,
    /// Uniform random points after the probe [default: 60].
    #[arg(long)]
    n_init_points: Option<usize>,
    /// GP-guided points [default: 940].
    #[arg(long)]
    n_opt_iterations: Option<usize>,
    /// The probe point is T + offset for every group [default: 0.04].
    #[arg(long)]
    probing_offset: Option<f64>,
    /// Weight λ of the sparsity penalty [default: 5 for eresfd, 1 for extd].
    #[arg(long)]
    lambda: Option<f64>,
    /// Seed of the optimiser, the 80/20 split and the augmentation [default: 0].
    #[arg(long)]
    seed: Option<u32>,
    /// EResFD's layer grouping [default: checkpoint].
    #[arg(long, value_enum)]
    grouping: Option<GroupingArg>,
    /// WIDER root whose training list is split 80/20 [default: <data-dir>/WIDER].
    #[arg(long, value_name = "DIR")]
    wider: Option<PathBuf>,
    /// Use only the first N training images before the split.
    #[arg(long, value_name = "N")]
    max_images: Option<usize>,
    /// Batch size of a trial's training [default: 16 for eresfd, 4 for extd].
    #[arg(long)]
    batch_size: Option<usize>,
    /// Learning rate of a trial's training [default: 1e-3].
    #[arg(long)]
    lr: Option<f64>,
    /// Weight decay of a trial's training [default: 1e-5 for eresfd, 5e-4 for extd].
    #[arg(long)]
    weight_decay: Option<f64>,
    /// Side of the square network input [default: 640].
    #[arg(long)]
    input_size: Option<usize>,
    /// Train K trials at a time per device as one fused network, all on the same batches
    /// [default: 1].
    #[arg(long, value_name = "K")]
    fuse: Option<usize>,

    #[command(flatten)]
    exec: ExecArgs,
}

impl BoArgs {
    /// Whether a flag that defines the search was given.
    fn defines_search(&self) -> bool {
        self.arch.is_some()
            || self.pretrained.is_some()
            || self.target.is_some()
            || self.n_init_points.is_some()
            || self.n_opt_iterations.is_some()
            || self.probing_offset.is_some()
            || self.lambda.is_some()
            || self.seed.is_some()
            || self.grouping.is_some()
            || self.wider.is_some()
            || self.max_images.is_some()
            || self.batch_size.is_some()
            || self.lr.is_some()
            || self.weight_decay.is_some()
            || self.input_size.is_some()
            || self.fuse.is_some()
    }

    fn config(&self, global: &Global, sink: &dyn progress::Progress) -> Result<BoConfig> {
        if self.resume {
            if self.defines_search() {
                bail!(
                    "--resume continues the search in {} with its saved settings; drop the \
                     search flags (only --devices, --max-trials and the execution flags apply)",
                    self.out.display()
                );
            }
            let text = std::fs::read_to_string(self.out.join(STATE)).with_context(|| {
                format!(
                    "nothing to resume in {} (no {STATE}); start the search without --resume",
                    self.out.display()
                )
            })?;
            let mut state: serde_json::Value = serde_json::from_str(&text)
                .with_context(|| format!("{} is not valid JSON", self.out.join(STATE).display()))?;
            let mut spec = state["spec"].take();
            if let Some(o) = spec.as_object_mut() {
                o.remove("pretrained_sha256");
            }
            return serde_json::from_value(spec)
                .with_context(|| format!("{} does not hold a B-FPGM search", self.out.display()));
        }
        let (Some(given), arch) = (&self.pretrained, self.arch) else {
            bail!("--pretrained is required to start a search");
        };
        let arch = match (arch, zoo_arch(global, given)) {
            (Some(a), _) => a.into(),
            (None, Some(a)) => a,
            (None, None) => bail!("--arch is required when --pretrained is a file"),
        };
        let pretrained = checkpoint(global, given, sink)?;
        let wider = std::path::absolute(
            self.wider
                .clone()
                .unwrap_or_else(|| global.data_dir.join("WIDER")),
        )?;
        let mut cfg = BoConfig::upstream(arch, pretrained, wider);
        set(&mut cfg.target, self.target);
        set(&mut cfg.n_init, self.n_init_points);
        set(&mut cfg.n_iter, self.n_opt_iterations);
        set(&mut cfg.probe_offset, self.probing_offset);
        set(&mut cfg.penalty.lambda, self.lambda);
        set(&mut cfg.seed, self.seed);
        if let Some(g) = self.grouping {
            cfg.grouping = g.into();
        }
        cfg.max_images = self.max_images;
        set(&mut cfg.inner.batch_size, self.batch_size);
        set(&mut cfg.inner.val_batch_size, self.batch_size);
        set(&mut cfg.inner.optimizer.lr, self.lr);
        set(&mut cfg.inner.optimizer.weight_decay, self.weight_decay);
        set(&mut cfg.inner.augment.size, self.input_size);
        set(&mut cfg.fuse, self.fuse);
        Ok(cfg)
    }

    /// Runs or resumes the search and prints the winner.
    pub fn run(self, global: &Global) -> Result<ExitCode> {
        let sink = progress::stderr(self.exec.quiet);
        let cfg = self.config(global, sink.as_ref())?;
        let opts = BoOptions {
            devices: search_devices(&self.devices, &self.exec)?,
            loader_workers: self.exec.workers(),
            max_trials: self.max_trials,
            shard: self.shard,
            merge: self.merge.clone(),
        };
        match run_bo(&cfg, &self.out, self.resume, &opts, sink.as_ref())? {
            BoOutcome::ShardDone(n) => {
                println!(
                    "shard done ({n} trials finished here); merge it into the search with: \
                     reproduce bo --out MAIN --resume --merge {}",
                    self.out.display()
                );
            }
            BoOutcome::Stopped(n) => {
                println!(
                    "stopped after {n} of {} trials; continue with: reproduce bo --out {} --resume",
                    cfg.settings().total(),
                    self.out.display()
                );
            }
            BoOutcome::Done(best) => {
                println!(
                    "best of {} trials: #{} with rates {}, sparsity {:.2} %, objective {:.4}",
                    best.trials,
                    best.best_trial.iter + 1,
                    rates_text(&best.rates),
                    100.0 * best.best_trial.sparsity,
                    best.best_trial.objective
                );
                println!("rates for sfp: {}", self.out.join(OPTIMAL_RATES).display());
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// The search's devices: `--devices`, else `--device` resolved.
pub fn search_devices(devices: &[String], exec: &ExecArgs) -> Result<Vec<tch::Device>> {
    if devices.is_empty() {
        Ok(vec![exec.run_options().device.device])
    } else {
        parse_devices(devices)
    }
}
