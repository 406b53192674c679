//! `irsa sts`.

use std::process::ExitCode;

/// Subcommands of `irsa sts`.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Placeholder until this command lands.
    Pending,
}

/// Runs `irsa sts`.
pub fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Pending => anyhow::bail!("irsa sts is not implemented yet"),
    }
}
