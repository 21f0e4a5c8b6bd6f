//! The clap definitions. Each subcommand lives in its own file with its arguments and a `run`
//! that turns them into the library's typed settings; nothing below this module sees clap.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};

use bfpgm::fetch::{FetchOptions, Mirror};
use bfpgm::zoo::Zoo;

mod bench;
mod bench_loader;
mod bench_train;
mod bo;
mod check;
mod detect;
mod eval;
mod export;
mod fetch;
mod finetune;
mod model_arg;
mod pipeline;
mod pretrain;
mod prune;
mod sfp;
mod tables;
mod verify;
mod zoo;

/// Reproduce B-FPGM (WACVW 2025): fetch and verify the published face detectors, evaluate them on
/// WIDER FACE with the upstream protocol, print the paper's tables, and re-run the pruning
/// pipeline.
#[derive(Parser)]
#[command(name = "reproduce", version, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

/// Options every subcommand understands.
#[derive(Args)]
pub struct Global {
    /// Folder that holds Pruned_Models/ and WIDER/.
    #[arg(long, global = true, env = "BFPGM_DATA", default_value = ".")]
    pub data_dir: PathBuf,
    /// Registry to use instead of the built-in zoo.yaml.
    #[arg(long, global = true, env = "BFPGM_ZOO")]
    pub zoo: Option<PathBuf>,
    /// Folder or base URL searched first for every download, by file name (empty: none).
    #[arg(long, global = true, env = "BFPGM_MIRROR", value_name = "DIR|URL")]
    pub mirror: Option<String>,
}

impl Global {
    /// The registry named by `--zoo`, or the built-in one.
    pub fn zoo(&self) -> Result<Zoo> {
        match &self.zoo {
            Some(path) => Zoo::load(path),
            None => Ok(Zoo::builtin()),
        }
    }

    /// Download settings for commands that fetch what they need: the mirror, default retries.
    /// The mirror is parsed here rather than by clap so that an empty `BFPGM_MIRROR` means none.
    pub fn fetch_options(&self) -> Result<FetchOptions> {
        let mirror = match self.mirror.as_deref() {
            None | Some("") => None,
            Some(m) => Some(m.parse::<Mirror>().context("--mirror / BFPGM_MIRROR")?),
        };
        Ok(FetchOptions {
            mirror,
            ..FetchOptions::default()
        })
    }
}

#[derive(Subcommand)]
enum Command {
    /// List the published checkpoints or show one.
    Zoo(zoo::ZooArgs),
    /// Download and verify checkpoints and datasets by name or group.
    Fetch(fetch::FetchArgs),
    /// Re-hash every downloaded file against zoo.yaml.
    Verify(verify::VerifyArgs),
    /// WIDER FACE val APs (easy, medium, hard) of zoo models or prediction files, with the
    /// upstream protocol.
    Eval(eval::EvalArgs),
    /// Speed measurements.
    Bench(bench::BenchArgs),
    /// Detect faces in images with a zoo model.
    Detect(detect::DetectArgs),
    /// The paper's group-rate and sparsity tables, published beside measured from the weights.
    Tables(tables::TablesArgs),
    /// Drift check for CI: hashes, tables, sparsity (and APs) against zoo.yaml; exit 0/1/2.
    Check(check::CheckArgs),
    /// Export an EResFD model as TorchScript and a lite-interpreter file for mobile apps.
    Export(export::ExportArgs),
    /// Pre-train EResFD or EXTD on WIDER FACE as upstream does.
    Pretrain(Box<pretrain::PretrainArgs>),
    /// Bayesian optimisation of the six group pruning rates (resumable, one trial per device).
    Bo(Box<bo::BoArgs>),
    /// Soft filter pruning of a pre-trained model with the searched rates.
    Sfp(Box<sfp::SfpArgs>),
    /// Prune once and fine-tune with upstream's semantics; writes model.pth and model.json.
    Finetune(Box<finetune::FinetuneArgs>),
    /// The whole B-FPGM pipeline (pretrain or --from, BO, SFP, finetune), each stage resumable.
    Pipeline(Box<pipeline::PipelineArgs>),
}

impl Cli {
    /// Runs the chosen subcommand.
    pub fn run(self) -> Result<ExitCode> {
        match self.command {
            Command::Zoo(args) => args.run(&self.global),
            Command::Fetch(args) => args.run(&self.global),
            Command::Verify(args) => args.run(&self.global),
            Command::Eval(args) => args.run(&self.global),
            Command::Bench(args) => args.run(&self.global),
            Command::Detect(args) => args.run(&self.global),
            Command::Tables(args) => args.run(&self.global),
            Command::Check(args) => args.run(&self.global),
            Command::Export(args) => args.run(&self.global),
            Command::Pretrain(args) => args.run(&self.global),
            Command::Bo(args) => args.run(&self.global),
            Command::Sfp(args) => args.run(&self.global),
            Command::Finetune(args) => args.run(&self.global),
            Command::Pipeline(args) => args.run(&self.global),
        }
    }
}
