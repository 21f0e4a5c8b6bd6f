//! `reproduce`: the command-line entry point. It parses arguments, runs the commands that need no
//! network itself, and hands the others, arguments unchanged, to `reproduce-torch` beside it, so
//! that the registry, downloads, tables, the drift check and AP evaluation never load libtorch.
//! Exit codes: 0 success, 1 a check found drift, 2 an error (printed with its chain of causes).

use std::os::unix::process::CommandExt;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;

use bfpgm_core::cli::{Cli, exit_code};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.run_without_network() {
        Some(result) => exit_code(result),
        None => exit_code(hand_over()),
    }
}

/// Replaces this process with `reproduce-torch`, given the same arguments; returns only when it
/// cannot be started.
fn hand_over() -> Result<ExitCode> {
    let exe = std::env::current_exe().context("cannot tell where reproduce is installed")?;
    let torch = exe.with_file_name("reproduce-torch");
    let err = std::process::Command::new(&torch)
        .args(std::env::args_os().skip(1))
        .exec();
    Err(err).with_context(|| {
        format!(
            "this command runs networks, which is done by {}, and it cannot be started; it is \
             built beside reproduce by `cargo build --release` (or `./reproduce`)",
            torch.display()
        )
    })
}
