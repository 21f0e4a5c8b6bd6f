//! `reproduce pipeline --arch eresfd --target 0.3`: pre-training (or `--from` a zoo checkpoint),
//! the Bayesian optimisation, SFP and fine-tuning in one resumable run folder
//! (`bfpgm::prune::pipeline`), then the new model's tables row and, when WIDER val is there, its
//! APs beside the zoo models'. `--quick` is a smoke-run profile.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::{Args, ValueEnum};

use super::Global;
use super::bo::search_devices;
use super::prune::{ArchArg, DataArgs, ExecArgs, PrunerArg, checkpoint, set, zoo_arch};
use super::tables::GroupingArg;
use bfpgm::check::{ApSet, EvalChoice};
use bfpgm::fetch;
use bfpgm::progress::{self, Progress};
use bfpgm::prune::finetune::{FinetuneConfig, Semantics};
use bfpgm::prune::fpgm::Criterion;
use bfpgm::prune::measure::Measurement;
use bfpgm::prune::pipeline::{
    PipelineConfig, PipelineOptions, PipelineResult, Start, run_pipeline,
};
use bfpgm::prune::pruner::PrunePlan;
use bfpgm::prune::search::{BoConfig, BoOptions, device_name};
use bfpgm::prune::sfp::SfpConfig;
use bfpgm::report::tables::{self, render_text};
use bfpgm::train::{DataConfig, TrainConfig};
use bfpgm::zoo::{ApTriple, Arch};

/// The `--quick` profile, shown by `reproduce pipeline --help`.
const QUICK: &str = "\
--quick is a smoke run, not a reproduction: the mini WIDER set (fetched into
<data-dir>/WIDER-mini when --wider is not given), the first 16 training and 4 validation
images, 256 x 256 inputs, batches of 8 (4 for fine-tuning), 1 pre-training epoch, a search of
the probe + 3 random + 1 guided trials, 2 SFP epochs and 2 fine-tuning epochs. Every value can
still be changed with its flag. Without --quick every default is upstream's.";

/// Arguments of `reproduce pipeline`.
#[derive(Args)]
#[command(after_long_help = QUICK)]
pub struct PipelineArgs {
    /// The detector.
    #[arg(long, value_enum)]
    arch: ArchArg,
    /// Target whole-model sparsity, as a fraction.
    #[arg(long, default_value_t = 0.2)]
    target: f64,
    /// Skip pre-training and start from these weights: a zoo model (e.g. eresfd-original) or a
    /// file.
    #[arg(long, value_name = "NAME|FILE")]
    from: Option<String>,
    /// The smoke-run profile (see below).
    #[arg(long)]
    quick: bool,
    /// Run folder [default: <data-dir>/runs/pipeline-<arch>-<target>, with -quick for --quick].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,

    /// Pre-training epochs [default: 300 for eresfd, 600 for extd].
    #[arg(long)]
    pretrain_epochs: Option<u32>,
    /// SFP epochs [default: 200 for eresfd, 250 (50 rounds of 5) for extd].
    #[arg(long)]
    sfp_epochs: Option<u32>,
    /// Fine-tuning epochs [default: 10].
    #[arg(long)]
    finetune_epochs: Option<u32>,
    /// GP-guided points of the search [default: 940].
    #[arg(long)]
    n_opt_iterations: Option<usize>,
    /// Uniform random points after the probe [default: 60].
    #[arg(long)]
    n_init_points: Option<usize>,
    /// The probe point is target + offset for every group.
    #[arg(long, default_value_t = 0.04)]
    probing_offset: f64,
    /// Weight λ of the sparsity penalty [default: 5 for eresfd, 1 for extd].
    #[arg(long)]
    lambda: Option<f64>,
    /// Seed of the search, the splits, the shuffles and the augmentation.
    #[arg(long, default_value_t = 0)]
    seed: u32,
    /// EResFD's layer grouping.
    #[arg(long, value_enum, default_value_t = GroupingArg::Checkpoint)]
    grouping: GroupingArg,
    /// How SFP and fine-tuning rank filters (the search always uses FPGM, as upstream).
    #[arg(long, value_enum, default_value_t = PrunerArg::Fpgm)]
    pruner: PrunerArg,
    /// Fine-tune every parameter except the zeroed filters (not upstream's semantics).
    #[arg(long)]
    train_all: bool,
    /// Side of the square network input [default: 640].
    #[arg(long)]
    input_size: Option<usize>,
    /// Search trials run one per device, e.g. cuda:0,cuda:1 [default: --device].
    #[arg(long, value_delimiter = ',', value_name = "DEVICES")]
    devices: Vec<String>,
    /// When to measure the new model's APs: auto does so on WIDER val when it is downloaded.
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = EvalArg::Auto)]
    eval: EvalArg,

    #[command(flatten)]
    data: DataArgs,
    #[command(flatten)]
    exec: ExecArgs,
}

/// `--eval`.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum EvalArg {
    /// On full WIDER val when it and its ground truth are downloaded; otherwise not.
    Auto,
    /// Never.
    Off,
    /// On the 50 images of the mini val set (fetched when missing).
    Mini,
    /// On full WIDER val (fetched when missing).
    Full,
}

/// Per-stage sizes: upstream's, or the `--quick` profile's.
struct Profile {
    wider: &'static str,
    max_images: Option<usize>,
    max_val_images: Option<usize>,
    input_size: usize,
    batch: Option<usize>,
    finetune_batch: Option<usize>,
    pretrain_epochs: u32,
    sfp_epochs: u32,
    finetune_epochs: u32,
    n_init: usize,
    n_iter: usize,
}

impl Profile {
    fn of(arch: Arch, quick: bool) -> Profile {
        if quick {
            return Profile {
                wider: "WIDER-mini",
                max_images: Some(16),
                max_val_images: Some(4),
                input_size: 256,
                batch: Some(8),
                finetune_batch: Some(4),
                pretrain_epochs: 1,
                sfp_epochs: 2,
                finetune_epochs: 2,
                n_init: 3,
                n_iter: 1,
            };
        }
        Profile {
            wider: "WIDER",
            max_images: None,
            max_val_images: None,
            input_size: 640,
            batch: None,
            finetune_batch: None,
            pretrain_epochs: match arch {
                Arch::Eresfd => 300,
                Arch::Extd => 600,
            },
            sfp_epochs: match arch {
                Arch::Eresfd => 200,
                Arch::Extd => 250,
            },
            finetune_epochs: 10,
            n_init: 60,
            n_iter: 940,
        }
    }
}

impl PipelineArgs {
    fn out(&self, global: &Global) -> PathBuf {
        self.out.clone().unwrap_or_else(|| {
            let arch: Arch = self.arch.into();
            let quick = if self.quick { "-quick" } else { "" };
            global
                .data_dir
                .join("runs")
                .join(format!("pipeline-{arch}-{}{quick}", self.target))
        })
    }

    fn config(&self, global: &Global, sink: &dyn Progress) -> Result<PipelineConfig> {
        let arch: Arch = self.arch.into();
        let p = Profile::of(arch, self.quick);
        if self.quick && self.data.wider.is_none() {
            fetch::ensure(
                &global.zoo()?,
                &global.data_dir,
                &["wider-mini"],
                &global.fetch_options()?,
                sink,
            )?;
        }
        let root = self.data.root(global, p.wider)?;
        let data = DataConfig {
            max_train_images: self.data.max_images.or(p.max_images),
            max_val_images: self.data.max_val_images.or(p.max_val_images),
            ..self.data.config(&root)
        };
        let input_size = self.input_size.unwrap_or(p.input_size);
        let seed = self.seed as u64;
        let stage = |cfg: &mut TrainConfig, epochs: u32, batch: Option<usize>| {
            cfg.epochs = epochs;
            set(&mut cfg.batch_size, batch);
            set(&mut cfg.val_batch_size, batch);
            cfg.augment.size = input_size;
            cfg.seed = seed;
        };

        let start = match &self.from {
            Some(given) => {
                if let Some(other) = zoo_arch(global, given).filter(|a| *a != arch) {
                    bail!("--from {given} is an {other} model, not {arch}");
                }
                Start::Checkpoint(checkpoint(global, given, sink)?)
            }
            None => {
                let mut cfg = TrainConfig::upstream(arch, data.clone());
                stage(
                    &mut cfg,
                    self.pretrain_epochs.unwrap_or(p.pretrain_epochs),
                    p.batch,
                );
                Start::Pretrain(Box::new(cfg))
            }
        };

        let mut bo = BoConfig::upstream(arch, PathBuf::new(), root.clone());
        bo.grouping = self.grouping.into();
        bo.target = self.target;
        bo.n_init = self.n_init_points.unwrap_or(p.n_init);
        bo.n_iter = self.n_opt_iterations.unwrap_or(p.n_iter);
        bo.probe_offset = self.probing_offset;
        set(&mut bo.penalty.lambda, self.lambda);
        bo.seed = self.seed;
        bo.max_images = data.max_train_images;
        set(&mut bo.inner.batch_size, p.batch);
        set(&mut bo.inner.val_batch_size, p.batch);
        bo.inner.augment.size = input_size;

        // The prune plans and inputs are placeholders: the pipeline fills them from the stages.
        let plan = PrunePlan {
            grouping: bo.grouping,
            rates: [0.0; 6],
            criterion: self.pruner.into(),
        };
        let mut sfp = SfpConfig::upstream(arch, plan, &PathBuf::new(), data.clone());
        stage(
            &mut sfp.train,
            self.sfp_epochs.unwrap_or(p.sfp_epochs),
            p.batch,
        );
        let mut finetune = FinetuneConfig::upstream(arch, plan, None, &PathBuf::new(), data);
        stage(
            &mut finetune.train,
            self.finetune_epochs.unwrap_or(p.finetune_epochs),
            p.finetune_batch,
        );
        if self.train_all {
            finetune.finetune.semantics = Semantics::FixedMasks;
        }
        Ok(PipelineConfig {
            arch,
            start,
            bo,
            sfp,
            finetune,
            criterion: Criterion::from(self.pruner),
            eval: self.eval_set(global, sink)?,
        })
    }

    /// The WIDER val set `--eval` asks for, fetched where the choice says so.
    fn eval_set(
        &self,
        global: &Global,
        sink: &dyn Progress,
    ) -> Result<Option<bfpgm::wider::EvalSet>> {
        let zoo = global.zoo()?;
        let choice = match self.eval {
            EvalArg::Off => EvalChoice::Off,
            EvalArg::Auto => EvalChoice::Auto,
            EvalArg::Mini => EvalChoice::On(ApSet::Mini),
            EvalArg::Full => EvalChoice::On(ApSet::Full),
        };
        let Some(set) = choice.resolve(&zoo, &global.data_dir) else {
            return Ok(None);
        };
        Ok(Some(set.prepare(
            &zoo,
            &global.data_dir,
            &global.fetch_options()?,
            sink,
        )?))
    }

    /// Runs the pipeline, then prints the stage timings, the tables row and the APs.
    pub fn run(self, global: &Global) -> Result<ExitCode> {
        let sink = progress::stderr(self.exec.quiet);
        let cfg = self.config(global, sink.as_ref())?;
        let run = self.exec.run_options();
        let opts = PipelineOptions {
            bo: BoOptions {
                devices: search_devices(&self.devices, &self.exec)?,
                loader_workers: run.workers,
                max_trials: None,
                shard: None,
                merge: Vec::new(),
            },
            eval_device: run.device.device,
            run,
        };
        let dir = self.out(global);
        let result = run_pipeline(&cfg, &dir, &opts, sink.as_ref())?;
        let name = dir
            .file_name()
            .map_or("pipeline".into(), |n| n.to_string_lossy().into_owned());
        report(
            &mut std::io::stdout().lock(),
            global,
            &cfg,
            &opts,
            &name,
            &result,
        )?;
        Ok(ExitCode::SUCCESS)
    }
}

/// The final report: stage timings, the new model's tables row, its APs beside the zoo's.
fn report(
    out: &mut impl Write,
    global: &Global,
    cfg: &PipelineConfig,
    opts: &PipelineOptions,
    name: &str,
    result: &PipelineResult,
) -> Result<()> {
    writeln!(
        out,
        "stage timings (training on {}, search on {}):",
        device_name(opts.run.device.device),
        opts.bo
            .devices
            .iter()
            .map(|d| device_name(*d))
            .collect::<Vec<_>>()
            .join(",")
    )?;
    for s in &result.stages {
        let status = serde_json::to_value(s.status)?;
        writeln!(
            out,
            "  {:<9} {:<9} {:>9.1} s",
            s.stage,
            status.as_str().unwrap_or_default(),
            s.seconds
        )?;
    }
    writeln!(out, "model: {}", result.checkpoint.display())?;
    let model = result.record.as_model(name, &result.checkpoint);
    let measured = Measurement::read(&result.checkpoint, cfg.arch, result.record.grouping)?;
    let table = tables::build(&[(&model, &measured)], result.record.grouping);
    writeln!(
        out,
        "\n(\"published\" below: the rates and sparsity this run recorded in model.json)"
    )?;
    write!(out, "{}", render_text(&table))?;
    if let (Some(aps), Some(set)) = (&result.aps, &cfg.eval) {
        let zoo = global.zoo()?;
        let (label, subset) = if set.subset {
            ("the mini val set (50 images, subset rule)", true)
        } else {
            ("WIDER val", false)
        };
        writeln!(out, "\nAPs on {label}:")?;
        writeln!(
            out,
            "  {:<28} {:>8} {:>8} {:>8}",
            "model", "easy", "medium", "hard"
        )?;
        let line = |out: &mut dyn Write, n: &str, a: &ApTriple| {
            writeln!(
                out,
                "  {n:<28} {:>8.4} {:>8.4} {:>8.4}",
                a.easy, a.medium, a.hard
            )
        };
        line(out, name, aps)?;
        for m in zoo.models.iter().filter(|m| m.arch == cfg.arch) {
            let recorded = if subset {
                m.expected.mini_ap
            } else {
                m.expected.ap.or(m.published.ap)
            };
            if let Some(a) = recorded {
                line(out, m.name(), &a)?;
            }
        }
    } else if cfg.eval.is_none() {
        writeln!(
            out,
            "\nAPs not measured: WIDER val is not downloaded (reproduce fetch wider-val \
             wider-gt), or --eval off; --eval mini measures on the 50-image mini set"
        )?;
    }
    Ok(())
}
