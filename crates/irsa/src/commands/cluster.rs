//! `irsa cluster`.

use std::process::ExitCode;

/// Subcommands of `irsa cluster`.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Placeholder until this command lands.
    Pending,
}

/// Runs `irsa cluster`.
pub fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Pending => anyhow::bail!("irsa cluster is not implemented yet"),
    }
}
