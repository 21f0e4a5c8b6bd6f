//! The command line: every command's arguments (clap), and the runners of the commands that need
//! no network. Nothing below this module sees clap.
//!
//! Both binaries parse this one definition. `reproduce` runs what [`Cli::needs_network`] says it
//! can and hands everything else, arguments unchanged, to `reproduce-torch`, whose runners (the
//! `bfpgm` crate's `cli`) turn the same arguments into the networks' settings.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};

use crate::fetch::{FetchOptions, Mirror};
use crate::zoo::Zoo;

pub mod bench;
pub mod bench_loader;
pub mod bench_startup;
pub mod bench_train;
pub mod bo;
pub mod check;
pub mod compare;
pub mod detect;
pub mod eval;
pub mod export;
pub mod fetch;
pub mod finetune;
pub mod fixtures;
pub mod flags;
pub mod max_pixels;
pub mod model_arg;
pub mod pipeline;
pub mod pretrain;
pub mod sfp;
pub mod tables;
pub mod verify;
pub mod zoo;

/// Reproduce B-FPGM (WACVW 2025): fetch and verify the published face detectors, evaluate them on
/// WIDER FACE with the upstream protocol, print the paper's tables, and re-run the pruning
/// pipeline.
#[derive(Parser)]
#[command(name = "reproduce", version, max_term_width = 100)]
pub struct Cli {
    /// Options every subcommand understands.
    #[command(flatten)]
    pub global: Global,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every subcommand understands.
#[derive(Args, Clone)]
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
    /// Extra attempts per download source after a network failure (0: fail at once, keeping a
    /// partial download for the next run); a source that cannot be reached at all gets none.
    #[arg(long, global = true, default_value_t = 3, value_name = "N")]
    pub retries: u32,
}

impl Global {
    /// The registry named by `--zoo`, or the built-in one.
    pub fn zoo(&self) -> Result<Zoo> {
        match &self.zoo {
            Some(path) => Zoo::load(path),
            None => Ok(Zoo::builtin()),
        }
    }

    /// Download settings for commands that fetch what they need: the mirror and `--retries`.
    /// The mirror is parsed here rather than by clap so that an empty `BFPGM_MIRROR` means none.
    pub fn fetch_options(&self) -> Result<FetchOptions> {
        let mirror = match self.mirror.as_deref() {
            None | Some("") => None,
            Some(m) => Some(m.parse::<Mirror>().context("--mirror / BFPGM_MIRROR")?),
        };
        Ok(FetchOptions {
            mirror,
            retries: self.retries,
            ..FetchOptions::default()
        })
    }
}

/// The commands, in the order `--help` lists them.
#[derive(Subcommand)]
pub enum Command {
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
    /// B-FPGM against the uniform FPGM and L1 baselines: APs at the same measured sparsity.
    Compare(compare::CompareArgs),
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
    /// Whether the command runs a network, so that it needs libtorch (`reproduce-torch`): every
    /// command but the registry, downloads, tables, `eval --predictions`, `bench eval` and a drift
    /// check that measures no APs.
    pub fn needs_network(&self) -> bool {
        match &self.command {
            Command::Zoo(_) | Command::Fetch(_) | Command::Verify(_) | Command::Tables(_) => false,
            Command::Eval(args) => args.predictions.is_none(),
            Command::Bench(args) => args.needs_network(),
            Command::Check(args) => args.ap_set(&self.global).is_some(),
            Command::Detect(_)
            | Command::Compare(_)
            | Command::Export(_)
            | Command::Pretrain(_)
            | Command::Bo(_)
            | Command::Sfp(_)
            | Command::Finetune(_)
            | Command::Pipeline(_) => true,
        }
    }

    /// Runs a command that needs no network; `None` for one that does (see
    /// [`Cli::needs_network`]).
    pub fn run_without_network(self) -> Option<Result<ExitCode>> {
        if self.needs_network() {
            return None;
        }
        let global = &self.global;
        Some(match self.command {
            Command::Zoo(args) => args.run(global),
            Command::Fetch(args) => args.run(global),
            Command::Verify(args) => args.run(global),
            Command::Tables(args) => args.run(global),
            Command::Eval(args) => args.run_predictions(global),
            Command::Bench(args) => args.run_without_network(global),
            Command::Check(args) => check::run(&args, global, None),
            _ => unreachable!("needs_network() said the command needs no network"),
        })
    }
}

/// The exit code of a command's outcome; an error is printed with its chain of causes and gives
/// 2, except a broken pipe (`reproduce zoo list | head`), which is not an error.
pub fn exit_code(result: Result<ExitCode>) -> ExitCode {
    match result {
        Ok(code) => code,
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
