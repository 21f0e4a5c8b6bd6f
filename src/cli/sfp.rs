//! `reproduce sfp`: soft filter pruning of a pre-trained model with the BO's rates, on upstream's
//! schedule (`bfpgm::prune::sfp`), every hyper-parameter a flag with upstream's default.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Args;

use super::Global;
use super::prune::{ArchArg, DataArgs, ExecArgs, PrunerArg, TrainArgs, rated_start};
use bfpgm::progress;
use bfpgm::prune::sfp::{SFP_SETTINGS, SfpConfig, SfpSchedule, SfpSettings, run_sfp};
use bfpgm::train::state::RunDir;

/// Upstream's quirks, shown by `reproduce sfp --help`.
const QUIRKS: &str = "\
Upstream behaviour reproduced on purpose (see docs/pruning.md):
  * EResFD: the prune follows the training of epochs 0, 5, 10, ... and the last one; upstream
    rebuilds the model and a new Adam (lr 1e-3) every epoch, so the moments reset and the
    nominal decay at epochs 100 and 150 never applies (--persistent-optimizer keeps one).
  * EXTD: 50 rounds of 5 epochs; each starts with a prune and a new SGD (lr 1e-4), reads the
    images in file order and trains BatchNorm in its first epoch only; a final prune ends it.
  * No mask is kept: zeroed filters regrow until the next prune chooses again.";

/// Arguments of `reproduce sfp`.
#[derive(Args)]
#[command(after_long_help = QUIRKS)]
pub struct SfpArgs {
    /// The detector [default: the zoo model's, when --pretrained names one].
    #[arg(long, value_enum)]
    arch: Option<ArchArg>,
    /// Pre-trained weights: a zoo model (e.g. eresfd-original) or a file [required unless
    /// --resume].
    #[arg(long, value_name = "NAME|FILE")]
    pretrained: Option<String>,
    /// The search's optimal_rates.json [required unless --resume].
    #[arg(long, value_name = "FILE")]
    rates: Option<PathBuf>,
    /// Run folder: checkpoints per epoch (each freshly pruned where a prune happened), logs.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Continue the run in --out with its saved settings (only --epochs may change).
    #[arg(long)]
    resume: bool,
    /// How filters are ranked at each prune [default: fpgm].
    #[arg(long, value_enum)]
    pruner: Option<PrunerArg>,
    /// Epochs between EResFD's prunes, or per EXTD round [default: 5].
    #[arg(long, value_name = "N")]
    prune_every: Option<u32>,
    /// Keep one optimiser for the whole run, so the nominal learning-rate schedule applies
    /// (EResFD; upstream starts a new one every epoch).
    #[arg(long)]
    persistent_optimizer: bool,

    #[command(flatten)]
    train: TrainArgs,
    #[command(flatten)]
    data: DataArgs,
    #[command(flatten)]
    exec: ExecArgs,
}

impl SfpArgs {
    fn config(&self, global: &Global, sink: &dyn progress::Progress) -> Result<SfpConfig> {
        let dir = RunDir::new(&self.out);
        let mut cfg = if self.resume {
            if self.pretrained.is_some() || self.rates.is_some() || self.arch.is_some() {
                bail!(
                    "--resume continues the run in {} with its saved weights and rates; drop \
                     --arch, --pretrained and --rates",
                    self.out.display()
                );
            }
            let sfp: SfpSettings = dir
                .read_settings(SFP_SETTINGS)
                .context("nothing to resume")?;
            SfpConfig {
                sfp,
                train: dir.read_config()?,
            }
        } else {
            let (Some(given), Some(rates)) = (&self.pretrained, &self.rates) else {
                bail!("--pretrained and --rates are required to start SFP");
            };
            let start = rated_start(
                global,
                sink,
                self.arch,
                given,
                rates,
                self.pruner,
                &self.data,
            )?;
            SfpConfig::upstream(start.arch, start.plan, &start.weights, start.data)
        };
        if let Some(n) = self.prune_every {
            cfg.sfp.schedule = match cfg.sfp.schedule {
                SfpSchedule::PruneAfter { .. } => SfpSchedule::PruneAfter { every: n },
                SfpSchedule::Rounds { .. } => SfpSchedule::Rounds { epochs: n },
            };
        }
        if let Some(p) = self.pruner {
            cfg.sfp.plan.criterion = p.into();
        }
        if self.persistent_optimizer {
            cfg.train.fresh_optimizer_each_epoch = false;
        }
        self.train.apply(&mut cfg.train);
        Ok(cfg)
    }

    /// Runs SFP and prints where the pruned weights are.
    pub fn run(self, global: &Global) -> Result<ExitCode> {
        let sink = progress::stderr(self.exec.quiet);
        let cfg = self.config(global, sink.as_ref())?;
        let opts = self.exec.run_options();
        let dir = RunDir::new(&self.out);
        let summary = run_sfp(&cfg, &dir, self.resume, &opts, sink.as_ref())?;
        println!(
            "trained {} of {} epochs; last (freshly pruned) weights: {}",
            summary.epochs_done,
            cfg.train.epochs,
            summary.last.display()
        );
        Ok(ExitCode::SUCCESS)
    }
}
