//! `irsa webhook mutate`.

use std::process::ExitCode;

/// Arguments of `irsa webhook mutate`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `irsa webhook mutate`.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("irsa webhook mutate is not implemented yet")
}
