//! `irsa webhook`: the pod identity webhook.

pub mod flags;
mod imds;
mod manifests;
mod mutate;
mod serve;

use std::process::ExitCode;

/// Subcommands of `irsa webhook`.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Run the mutation offline on a pod manifest and print the JSON Patch or the mutated pod.
    Mutate(mutate::Args),
    /// Serve the mutating admission webhook over HTTPS (upstream-compatible flags).
    Serve(serve::Args),
    /// Print the manifests that install the webhook in a cluster.
    Manifests(manifests::Args),
}

/// Runs `irsa webhook`.
pub fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Mutate(args) => mutate::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Manifests(args) => manifests::run(args),
    }
}
