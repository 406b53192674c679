//! `irsa issuer`: write, rotate and serve the OIDC discovery document and JWKS.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use irsa_issuer::documents::{DEFAULT_JWKS_PATH, Jwk, JwkSet};
use irsa_issuer::publish::{self, InitOptions, Published};
use irsa_issuer::serve::{ServeOptions, Server, TlsFiles};
use irsa_issuer::{IssuerPolicy, IssuerUrl, rotation};

/// Subcommands of `irsa issuer`.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Write DIR/.well-known/openid-configuration and DIR/<jwks-path>, ready to upload.
    Init(InitArgs),
    /// Add or retire a published key in place (atomic writes) and print the safe procedure.
    Rotate(RotateArgs),
    /// Serve the folder over HTTP(S): the two documents only, with kube-apiserver's headers.
    Serve(ServeArgs),
}

/// Arguments of `irsa issuer init`.
#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// The issuer URL, byte-for-byte as in --service-account-issuer (https, no port/query).
    #[arg(long)]
    pub issuer_url: String,
    /// A key file (PEM: public or private keys, several blocks allowed); repeatable. Only
    /// public halves are published.
    #[arg(long = "key", value_name = "KEY")]
    pub keys: Vec<PathBuf>,
    /// A JWKS file to publish (e.g. from `irsa keys jwks`); repeatable.
    #[arg(long = "jwks", value_name = "FILE")]
    pub jwks_files: Vec<PathBuf>,
    /// The folder to write (created if missing).
    #[arg(long)]
    pub out: PathBuf,
    /// The JWKS path below the issuer.
    #[arg(long, default_value = DEFAULT_JWKS_PATH)]
    pub jwks_path: String,
    /// Allow an http:// issuer and a port: local test issuers only (AWS rejects them).
    #[arg(long)]
    pub allow_insecure_http: bool,
    /// Overwrite documents already in the folder.
    #[arg(long)]
    pub force: bool,
}

/// Arguments of `irsa issuer rotate`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("change").required(true).args(["add_key", "add_jwks", "retire_kid"])))]
pub struct RotateArgs {
    /// The folder written by `irsa issuer init`.
    #[arg(long)]
    pub dir: PathBuf,
    /// Publish this key (PEM) next to the current ones; repeatable.
    #[arg(long, value_name = "KEY")]
    pub add_key: Vec<PathBuf>,
    /// Publish the keys of this JWKS file next to the current ones; repeatable.
    #[arg(long, value_name = "FILE")]
    pub add_jwks: Vec<PathBuf>,
    /// Stop publishing the key with this kid (refused for the last key).
    #[arg(long, value_name = "KID", conflicts_with_all = ["add_key", "add_jwks"])]
    pub retire_kid: Option<String>,
}

/// Arguments of `irsa issuer serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// The folder written by `irsa issuer init`.
    #[arg(long)]
    pub dir: PathBuf,
    /// Address to listen on; port 0 picks a free port (printed on stdout).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// PEM certificate chain for HTTPS.
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for HTTPS.
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

/// Runs `irsa issuer`.
pub fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Init(args) => init(args),
        Command::Rotate(args) => rotate(args),
        Command::Serve(args) => serve(args),
    }
}

fn init(args: InitArgs) -> anyhow::Result<ExitCode> {
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
    if args.keys.is_empty() && args.jwks_files.is_empty() {
        bail!("give at least one --key KEY.pem (or --jwks FILE)");
    }
    let keys = collect_keys(&args.keys, &args.jwks_files)?;
    let options = InitOptions {
        issuer,
        jwks_path: args.jwks_path,
        force: args.force,
    };
    let published = publish::init(&args.out, &options, keys)?;
    println!("wrote {}", published.discovery_file().display());
    println!(
        "wrote {} ({})",
        published.jwks_file().display(),
        describe_kids(&published.jwks)
    );
    print_next_steps(&published);
    Ok(ExitCode::SUCCESS)
}

fn print_next_steps(p: &Published) {
    let issuer = p.discovery.issuer();
    let dir = p.dir.display();
    let jwks = p.discovery.jwks_path();
    println!();
    println!("Next steps:");
    println!("  1. Publish the folder as-is so that these URLs serve it:");
    println!("       {}", issuer.discovery_url());
    println!("       {}", p.discovery.jwks_uri());
    println!("     e.g. to S3 (keep the content types):");
    println!(
        "       aws s3 cp {dir}/.well-known/openid-configuration s3://BUCKET/PREFIX/.well-known/openid-configuration --content-type application/json"
    );
    println!(
        "       aws s3 cp {dir}/{jwks} s3://BUCKET/PREFIX/{jwks} --content-type application/jwk-set+json"
    );
    println!("     or for a local test: irsa issuer serve --dir {dir} --listen 127.0.0.1:8080");
    println!("  2. Point kube-apiserver at the issuer and the key:");
    println!(
        "       irsa cluster flags --distro DISTRO --issuer-url {issuer} --signing-key PRIVATE.pem --public-key PUBLIC.pem"
    );
    println!(
        "  3. Register the issuer in IAM as an OIDC provider with audience sts.amazonaws.com:"
    );
    println!(
        "       aws iam create-open-id-connect-provider --url {issuer} --client-id-list sts.amazonaws.com"
    );
}

fn rotate(args: RotateArgs) -> anyhow::Result<ExitCode> {
    // The folder was checked when it was written; read it back leniently (a local test
    // issuer may be http://127.0.0.1:PORT).
    let policy = IssuerPolicy::AllowInsecureHttp;
    if let Some(kid) = &args.retire_kid {
        let (removed, published) = publish::rotate_retire(&args.dir, kid, policy)?;
        println!(
            "retired kid {kid} ({removed} JWK entr{}) in {}",
            if removed == 1 { "y" } else { "ies" },
            published.jwks_file().display()
        );
        println!("now published: {}", describe_kids(&published.jwks));
        println!();
        print!(
            "{}",
            rotation::procedure(
                published.discovery.issuer().as_str(),
                &published.discovery.jwks_uri(),
                rotation::Stage::Retired(kid),
            )
        );
        return Ok(ExitCode::SUCCESS);
    }
    let keys = collect_keys(&args.add_key, &args.add_jwks)?;
    let (added, published) = publish::rotate_add(&args.dir, keys, policy)?;
    for kid in &added.already_published {
        println!("kid {kid} is already published; nothing to do for it");
    }
    if !added.added.is_empty() {
        println!(
            "published kid {} in {}",
            added.added.join(", "),
            published.jwks_file().display()
        );
    }
    println!("now published: {}", describe_kids(&published.jwks));
    println!();
    if let Some(new_kid) = added.added.first().or(added.already_published.first()) {
        let old: Vec<&str> = published
            .jwks
            .kids()
            .into_iter()
            .filter(|k| {
                !added
                    .added
                    .iter()
                    .chain(&added.already_published)
                    .any(|n| n == k)
            })
            .collect();
        print!(
            "{}",
            rotation::procedure(
                published.discovery.issuer().as_str(),
                &published.discovery.jwks_uri(),
                rotation::Stage::Added {
                    new: new_kid,
                    old: &old,
                },
            )
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .try_init();
    let tls = match (args.tls_cert, args.tls_key) {
        (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
        _ => None,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let server = Server::start(ServeOptions {
            dir: args.dir.clone(),
            listen: args.listen,
            tls,
        })
        .await?;
        match publish::load(&args.dir, IssuerPolicy::AllowInsecureHttp) {
            Ok(p) => eprintln!(
                "serving issuer {} ({}) from {}",
                p.discovery.issuer(),
                describe_kids(&p.jwks),
                args.dir.display()
            ),
            Err(err) => eprintln!(
                "warning: {:#}; answering 404 until `irsa issuer init --out {}` writes it",
                anyhow::Error::from(err),
                args.dir.display()
            ),
        }
        println!("listening on {}", server.url());
        let _ = std::io::stdout().flush();
        shutdown_signal().await;
        eprintln!("shutting down");
        server.shutdown().await;
        anyhow::Ok(ExitCode::SUCCESS)
    })
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn describe_kids(jwks: &JwkSet) -> String {
    let kids = jwks.kids();
    match kids.len() {
        0 => "no keys".to_owned(),
        1 => format!("1 key: kid {}", kids[0]),
        n => format!("{n} keys: kids {}", kids.join(", ")),
    }
}

/// Public JWKs from PEM key files and JWKS files.
fn collect_keys(pem_files: &[PathBuf], jwks_files: &[PathBuf]) -> anyhow::Result<Vec<Jwk>> {
    let mut keys = Vec::new();
    for path in pem_files {
        keys.extend(pem_public_jwks(path)?);
    }
    for path in jwks_files {
        let bytes = publish::read_document(path)?;
        let set = JwkSet::from_json(&bytes)
            .with_context(|| format!("{} is not a usable JWKS", path.display()))?;
        keys.extend(set.keys().iter().cloned());
    }
    Ok(keys)
}

/// The public JWKs of every key in a PEM file (private keys publish their public half).
fn pem_public_jwks(path: &Path) -> anyhow::Result<Vec<Jwk>> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let keys = irsa_jose::parse_pem(&bytes).with_context(|| format!("{}", path.display()))?;
    keys.iter()
        .map(
            |key| match serde_json::to_value(key.public_key().to_jwk()) {
                Ok(serde_json::Value::Object(jwk)) => Ok(jwk),
                _ => bail!("{}: cannot express the key as a JWK", path.display()),
            },
        )
        .collect()
}

/// A signing key and its public key, read and checked for `irsa cluster flags`.
pub(crate) struct KeyPair {
    /// PEM text of the private key.
    pub signing_pem: String,
    /// PEM text of the public key.
    pub public_pem: String,
    /// The kid tokens signed with this key will carry.
    pub kid: Option<String>,
}

/// Reads the signing and public key files and checks that they are a private key and the
/// public key that belongs to it.
pub(crate) fn read_key_pair(signing: &Path, public: &Path) -> anyhow::Result<KeyPair> {
    let read = |p: &Path, flag: &str| {
        std::fs::read_to_string(p).with_context(|| format!("{flag}: cannot read {}", p.display()))
    };
    let signing_pem = read(signing, "--signing-key")?;
    let public_pem = read(public, "--public-key")?;
    let private = irsa_jose::parse_private_pem(signing_pem.as_bytes())
        .with_context(|| format!("--signing-key {}", signing.display()))?;
    let publics = irsa_jose::parse_pem(public_pem.as_bytes())
        .with_context(|| format!("--public-key {}", public.display()))?;
    let kid = private.kid().to_owned();
    if !publics.iter().any(|k| k.public_key().kid() == kid) {
        bail!(
            "--public-key {} does not hold the public half of --signing-key {} (kid {kid}); \
             tokens signed with the key would not verify",
            public.display(),
            signing.display()
        );
    }
    if !private.public_key().is_rsa() {
        eprintln!(
            "warning: the signing key is {}; RSA (RS256) is what kube-apiserver and most OIDC \
             consumers expect",
            private.public_key().describe()
        );
    }
    Ok(KeyPair {
        signing_pem,
        public_pem,
        kid: Some(kid),
    })
}
