//! `irsa issuer`.

use std::process::ExitCode;

/// Subcommands of `irsa issuer`.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Placeholder until this command lands.
    Pending,
}

/// Runs `irsa issuer`.
pub fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Pending => anyhow::bail!("irsa issuer is not implemented yet"),
    }
}
