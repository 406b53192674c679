//! `irsa cluster`: kube-apiserver configuration for a Kubernetes distribution.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::builder::{PossibleValuesParser, TypedValueParser};
use irsa_issuer::snippets::{self, Distro, FlagsInput};
use irsa_issuer::{IssuerPolicy, IssuerUrl};

/// Subcommands of `irsa cluster`.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Print the kube-apiserver settings for the issuer, written for one distribution.
    ///
    /// The new issuer signs new tokens; the old one stays accepted (a second
    /// --service-account-issuer) and the old key stays a verification key, so tokens already in
    /// pods keep working. --api-audiences is set to what the cluster accepted before and never
    /// to sts.amazonaws.com.
    Flags(FlagsArgs),
}

/// Arguments of `irsa cluster flags`.
#[derive(Debug, clap::Args)]
pub struct FlagsArgs {
    /// The Kubernetes distribution.
    #[arg(long, value_parser = distro_parser())]
    pub distro: Distro,
    /// The issuer URL, exactly as published (`irsa issuer init --issuer-url`).
    #[arg(long)]
    pub issuer_url: String,
    /// The private signing key (PEM). kind mounts it from this path; kops and Talos embed it.
    #[arg(long)]
    pub signing_key: PathBuf,
    /// The matching public key (PEM).
    #[arg(long)]
    pub public_key: PathBuf,
    /// The issuer to keep accepting so existing tokens stay valid [default: the
    /// distribution's built-in issuer, where it has a fixed one].
    #[arg(long, value_name = "OLD_URL")]
    pub keep_issuer: Option<String>,
    /// The JWKS path below the issuer, as given to `irsa issuer init`.
    #[arg(long, default_value = irsa_issuer::documents::DEFAULT_JWKS_PATH)]
    pub jwks_path: String,
    /// Allow an http:// issuer or one with a port (local test clusters only).
    #[arg(long)]
    pub allow_insecure_http: bool,
}

fn distro_parser() -> impl TypedValueParser<Value = Distro> {
    PossibleValuesParser::new(Distro::ALL.map(Distro::name))
        .map(|name| name.parse::<Distro>().expect("offered names parse"))
}

/// Runs `irsa cluster`.
pub fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Flags(args) => flags(args),
    }
}

fn flags(args: FlagsArgs) -> anyhow::Result<ExitCode> {
    let policy = if args.allow_insecure_http {
        IssuerPolicy::AllowInsecureHttp
    } else {
        IssuerPolicy::Aws
    };
    let issuer = IssuerUrl::parse(&args.issuer_url, policy)
        .with_context(|| format!("--issuer-url {:?}", args.issuer_url))?;
    for warning in issuer.warnings() {
        eprintln!("warning: {warning}");
    }
    irsa_issuer::url::check_jwks_path(&args.jwks_path).context("--jwks-path")?;
    if let Some(old) = &args.keep_issuer
        && (old.is_empty() || old.chars().any(char::is_whitespace))
    {
        bail!("--keep-issuer {old:?}: give the current issuer URL exactly, without spaces");
    }
    let keys = crate::commands::issuer::read_key_pair(&args.signing_key, &args.public_key)?;
    let signing_key_path = absolute(&args.signing_key)?;
    let public_key_path = absolute(&args.public_key)?;
    let jwks_uri = issuer.child_url(&args.jwks_path);
    let input = FlagsInput {
        distro: args.distro,
        issuer: &issuer,
        jwks_uri: &jwks_uri,
        keep_issuer: args.keep_issuer.as_deref(),
        signing_key_path: &signing_key_path,
        public_key_path: &public_key_path,
        signing_key_pem: &keys.signing_pem,
        public_key_pem: &keys.public_pem,
        kid: keys.kid.as_deref(),
    };
    print!("{}", snippets::snippet(&input));
    if matches!(args.distro, Distro::Kops | Distro::Talos) {
        eprintln!(
            "note: the {} snippet embeds the private signing key; store it like the key itself",
            args.distro
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The absolute path (symlinks resolved when possible; `/dev/fd/N` and the like kept).
fn absolute(path: &Path) -> anyhow::Result<String> {
    let abs = std::fs::canonicalize(path)
        .or_else(|_| std::path::absolute(path))
        .with_context(|| format!("cannot resolve {}", path.display()))?;
    abs.to_str()
        .map(str::to_owned)
        .with_context(|| format!("{} is not valid UTF-8", abs.display()))
}
