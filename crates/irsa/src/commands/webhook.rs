//! `irsa webhook`.

use std::process::ExitCode;

/// Subcommands of `irsa webhook`.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Placeholder until this command lands.
    Pending,
}

/// Runs `irsa webhook`.
pub fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Pending => anyhow::bail!("irsa webhook is not implemented yet"),
    }
}
