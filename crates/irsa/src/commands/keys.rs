//! `irsa keys`.

use std::process::ExitCode;

/// Subcommands of `irsa keys`.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Placeholder until this command lands.
    Pending,
}

/// Runs `irsa keys`.
pub fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Pending => anyhow::bail!("irsa keys is not implemented yet"),
    }
}
