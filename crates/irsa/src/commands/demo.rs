//! `irsa demo`.

use std::process::ExitCode;

/// Arguments of `irsa demo`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Leave the servers running and print the environment to use them.
    #[arg(long)]
    keep: bool,
}

/// Runs `irsa demo`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("irsa demo is not implemented yet (keep={})", args.keep)
}
