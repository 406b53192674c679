//! `irsa webhook manifests`.

use std::process::ExitCode;

/// Arguments of `irsa webhook manifests`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `irsa webhook manifests`.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("irsa webhook manifests is not implemented yet")
}
