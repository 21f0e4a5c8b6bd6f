//! `reproduce-torch`: every command of `reproduce`, including those that run networks, which the
//! front binary hands over to it. Linked with libtorch (CPU); CUDA is loaded only when a command
//! resolves `--device cuda` or `auto` (`bfpgm::device`).

use std::process::ExitCode;

use clap::Parser;

use bfpgm_core::cli::{Cli, exit_code};

fn main() -> ExitCode {
    exit_code(bfpgm::cli::run(Cli::parse()))
}
