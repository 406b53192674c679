//! `irsa`: IAM Roles for Service Accounts on any Kubernetes.
//!
//! This binary is thin on purpose: clap types and one module per command under
//! `commands/`; the work happens in the library crates.

mod commands;

/// jemalloc instead of glibc's malloc: the servers make and drop a few hundred small objects per
/// request (JSON trees, patches, XML), and glibc's malloc and free were about 30 % of the
/// webhook's instructions per request. Tuned in `.cargo/config.toml` (two arenas, freed pages
/// returned after 1 s) so the resident set stays small. See docs/webhook-serve.md, Performance.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// IAM Roles for Service Accounts on any Kubernetes.
#[derive(Debug, Parser)]
#[command(name = "irsa", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Generate signing keys and print them as a JWKS.
    #[command(subcommand)]
    Keys(commands::keys::Command),
    /// Write, rotate and serve the OIDC discovery document and JWKS.
    #[command(subcommand)]
    Issuer(commands::issuer::Command),
    /// Print kube-apiserver configuration for a Kubernetes distribution.
    #[command(subcommand)]
    Cluster(commands::cluster::Command),
    /// Mint, decode and verify service-account tokens.
    #[command(subcommand)]
    Token(commands::token::Command),
    /// Validate IAM policies and simulate decisions.
    #[command(subcommand)]
    Policy(commands::policy::Command),
    /// The pod identity webhook: dry-run mutation, server, install manifests.
    #[command(subcommand)]
    Webhook(commands::webhook::Command),
    /// The local AWS side: an STS and IAM endpoint that really verifies.
    #[command(subcommand)]
    Sts(commands::sts::Command),
    /// Run the whole IRSA chain offline on loopback and check every step.
    Demo(commands::demo::Args),
}

/// Ends the process quietly when stdout is a closed pipe (`irsa ... | head`), as a Unix tool
/// killed by SIGPIPE would, instead of printing a panic; every other panic is reported as usual.
fn exit_quietly_on_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.contains("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info);
    }));
}

fn main() -> ExitCode {
    exit_quietly_on_broken_pipe();
    // One crypto provider for every TLS stack in the process (see deps.md).
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Keys(c) => commands::keys::run(c),
        Command::Issuer(c) => commands::issuer::run(c),
        Command::Cluster(c) => commands::cluster::run(c),
        Command::Token(c) => commands::token::run(c),
        Command::Policy(c) => commands::policy::run(c),
        Command::Webhook(c) => commands::webhook::run(c),
        Command::Sts(c) => commands::sts::run(c),
        Command::Demo(a) => commands::demo::run(a),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}
