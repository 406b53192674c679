//! `irsa webhook serve`.

use std::process::ExitCode;

/// Arguments of `irsa webhook serve`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `irsa webhook serve`.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("irsa webhook serve is not implemented yet")
}
