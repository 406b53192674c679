//! `irsa token`.

use std::process::ExitCode;

/// Subcommands of `irsa token`.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Placeholder until this command lands.
    Pending,
}

/// Runs `irsa token`.
pub fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Pending => anyhow::bail!("irsa token is not implemented yet"),
    }
}
