//! `irsa policy`.

use std::process::ExitCode;

/// Subcommands of `irsa policy`.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Placeholder until this command lands.
    Pending,
}

/// Runs `irsa policy`.
pub fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Pending => anyhow::bail!("irsa policy is not implemented yet"),
    }
}
