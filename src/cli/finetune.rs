//! `reproduce finetune`: prune once with the BO's rates, then fine-tune with upstream's
//! semantics (`bfpgm::prune::finetune`); writes `model.pth` and `model.json` (the rates and the
//! measured group rates and sparsity) in the run folder.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Args;

use super::Global;
use super::prune::{ArchArg, DataArgs, ExecArgs, PrunerArg, TrainArgs, rated_start};
use bfpgm::progress;
use bfpgm::prune::bayes::search::rates_text;
use bfpgm::prune::finetune::{
    FINETUNE_SETTINGS, FinetuneConfig, FinetuneSettings, Semantics, run_finetune,
};
use bfpgm::train::state::RunDir;

/// What trains, shown by `reproduce finetune --help`.
const SEMANTICS: &str = "\
What trains (see docs/pruning.md): upstream creates the optimiser before the prune, and the
prune replaces every grouped conv's weight with a new tensor the optimiser does not hold, so
those convs never change; only BatchNorm, the parameters outside the groups (EResFD's heads and
FPN fusion weights) and EXTD's PReLU slopes train. That is the default. --train-all trains
everything except the zeroed filters, which stay 0: a different algorithm, whose models are not
comparable to the released ones.";

/// Arguments of `reproduce finetune`.
#[derive(Args)]
#[command(after_long_help = SEMANTICS)]
pub struct FinetuneArgs {
    /// The detector [default: the rates' architecture].
    #[arg(long, value_enum)]
    arch: Option<ArchArg>,
    /// Weights to fine-tune, normally SFP's last epoch: a file or a zoo model [required unless
    /// --resume].
    #[arg(long, value_name = "FILE|NAME")]
    init: Option<String>,
    /// The search's optimal_rates.json [required unless --resume].
    #[arg(long, value_name = "FILE")]
    rates: Option<PathBuf>,
    /// Run folder: checkpoints per epoch, logs, then model.pth and model.json.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Continue the run in --out with its saved settings (only --epochs may change).
    #[arg(long)]
    resume: bool,
    /// How filters are ranked by the prune [default: fpgm].
    #[arg(long, value_enum)]
    pruner: Option<PrunerArg>,
    /// Train every parameter except the zeroed filters (not upstream's semantics).
    #[arg(long)]
    train_all: bool,

    #[command(flatten)]
    train: TrainArgs,
    #[command(flatten)]
    data: DataArgs,
    #[command(flatten)]
    exec: ExecArgs,
}

impl FinetuneArgs {
    fn config(&self, global: &Global, sink: &dyn progress::Progress) -> Result<FinetuneConfig> {
        let dir = RunDir::new(&self.out);
        let mut cfg = if self.resume {
            if self.init.is_some() || self.rates.is_some() || self.arch.is_some() {
                bail!(
                    "--resume continues the run in {} with its saved weights and rates; drop \
                     --arch, --init and --rates",
                    self.out.display()
                );
            }
            let finetune: FinetuneSettings = dir
                .read_settings(FINETUNE_SETTINGS)
                .context("nothing to resume")?;
            FinetuneConfig {
                finetune,
                train: dir.read_config()?,
            }
        } else {
            let (Some(given), Some(rates)) = (&self.init, &self.rates) else {
                bail!("--init and --rates are required to start fine-tuning");
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
            FinetuneConfig::upstream(
                start.arch,
                start.plan,
                Some(start.target),
                &start.weights,
                start.data,
            )
        };
        if let Some(p) = self.pruner {
            cfg.finetune.plan.criterion = p.into();
        }
        if self.train_all {
            cfg.finetune.semantics = Semantics::FixedMasks;
        }
        self.train.apply(&mut cfg.train);
        Ok(cfg)
    }

    /// Fine-tunes and prints the final checkpoint with its measured sparsity.
    pub fn run(self, global: &Global) -> Result<ExitCode> {
        let sink = progress::stderr(self.exec.quiet);
        let cfg = self.config(global, sink.as_ref())?;
        let opts = self.exec.run_options();
        let dir = RunDir::new(&self.out);
        let result = run_finetune(&cfg, &dir, self.resume, &opts, sink.as_ref())?;
        let r = &result.record;
        println!(
            "model: {} (rates {}, sparsity {:.2} %, {} of {} filters zero); record: {}",
            result.checkpoint.display(),
            rates_text(&r.rates),
            r.sparsity_percent,
            r.zero_filters,
            r.filters,
            bfpgm::prune::finetune::Record::path_for(&result.checkpoint).display()
        );
        Ok(ExitCode::SUCCESS)
    }
}
