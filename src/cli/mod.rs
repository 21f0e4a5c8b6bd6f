//! The runners of the commands that run networks: each turns its arguments (defined, with every
//! other command's, in `bfpgm_core::cli`) into the library's typed settings and calls it. The
//! rest are `bfpgm_core`'s runners, called from here too, so `reproduce-torch` does everything.

use std::process::ExitCode;

use anyhow::Result;

use bfpgm_core::cli::{Cli, Command};

mod bench;
mod bench_loader;
mod bench_train;
mod bo;
mod check;
mod compare;
mod detect;
mod eval;
mod export;
mod finetune;
mod flags;
mod pipeline;
mod pretrain;
mod sfp;

/// Runs any command.
pub fn run(cli: Cli) -> Result<ExitCode> {
    let Cli { global, command } = cli;
    let global = &global;
    match command {
        Command::Eval(args) => eval::run(args, global),
        Command::Bench(args) => bench::run(args, global),
        Command::Detect(args) => detect::run(args, global),
        Command::Check(args) => check::run(&args, global),
        Command::Compare(args) => compare::run(args, global),
        Command::Export(args) => export::run(args, global),
        Command::Pretrain(args) => pretrain::run(*args, global),
        Command::Bo(args) => bo::run(*args, global),
        Command::Sfp(args) => sfp::run(*args, global),
        Command::Finetune(args) => finetune::run(*args, global),
        Command::Pipeline(args) => pipeline::run(*args, global),
        command @ (Command::Zoo(_)
        | Command::Fetch(_)
        | Command::Verify(_)
        | Command::Tables(_)) => {
            let global = global.clone();
            Cli { global, command }
                .run_without_network()
                .expect("these commands run no network")
        }
    }
}
