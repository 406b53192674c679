//! `irsa keys`: generate signing keys, print JWKS and key ids.

use std::fs::{self, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use irsa_jose::{JwkSet, KeyAlgorithm, PemKey, PrivateKey, PublicKey, parse_pem};

/// Subcommands of `irsa keys`.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Generate a signing key pair: DIR/private.pem (PKCS#8, mode 0600) and DIR/public.pem (SPKI).
    Generate(GenerateArgs),
    /// Print the JWK Set for the keys in the given PEM files, with Kubernetes key ids.
    Jwks(JwksArgs),
    /// Print one line per key: kid, type, algorithm, file.
    Kid(KidArgs),
}

/// Arguments of `irsa keys generate`.
#[derive(Debug, clap::Args)]
pub struct GenerateArgs {
    /// Folder to write private.pem and public.pem into (created if missing).
    #[arg(long, value_name = "DIR")]
    pub out_dir: PathBuf,
    /// Key type: rsa2048, rsa3072, rsa4096, ec-p256 or ec-p384.
    #[arg(long, default_value = "rsa2048", value_parser = parse_key_algorithm)]
    pub algorithm: KeyAlgorithm,
    /// Replace existing private.pem/public.pem (the old private key is lost).
    #[arg(long)]
    pub force: bool,
}

/// Arguments of `irsa keys jwks`.
#[derive(Debug, clap::Args)]
pub struct JwksArgs {
    /// PEM files (private or public keys, certificates; several blocks per file allowed).
    #[arg(required = true, value_name = "KEY")]
    pub keys: Vec<PathBuf>,
    /// Also publish each key with `"kid": ""`, for tokens from clusters older than 1.16.
    #[arg(long)]
    pub legacy_empty_kid: bool,
    /// Indent the JSON (default: compact, as kube-apiserver serves it).
    #[arg(long)]
    pub pretty: bool,
}

/// Arguments of `irsa keys kid`.
#[derive(Debug, clap::Args)]
pub struct KidArgs {
    /// PEM files.
    #[arg(required = true, value_name = "KEY")]
    pub keys: Vec<PathBuf>,
}

fn parse_key_algorithm(s: &str) -> Result<KeyAlgorithm, String> {
    s.parse().map_err(|_| {
        let names: Vec<_> = KeyAlgorithm::ALL.iter().map(|a| a.name()).collect();
        format!("expected one of {}", names.join(", "))
    })
}

/// Runs `irsa keys`.
pub fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Generate(args) => generate(&args),
        Command::Jwks(args) => jwks(&args),
        Command::Kid(args) => kid(&args),
    }
}

/// Reads every key of every file, in order; errors name the file.
pub fn read_public_keys(paths: &[PathBuf]) -> anyhow::Result<Vec<(PathBuf, PublicKey)>> {
    let mut out = Vec::new();
    for path in paths {
        for key in read_pem_file(path)? {
            let public = match key {
                PemKey::Private(k) => k.public_key().clone(),
                PemKey::Public(k) => k,
            };
            out.push((path.clone(), public));
        }
    }
    Ok(out)
}

/// Reads and parses one PEM file, naming it in errors.
pub fn read_pem_file(path: &Path) -> anyhow::Result<Vec<PemKey>> {
    let bytes = fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    parse_pem(&bytes).with_context(|| format!("{}", path.display()))
}

fn jwks(args: &JwksArgs) -> anyhow::Result<ExitCode> {
    let keys = read_public_keys(&args.keys)?;
    let set = JwkSet::from_public_keys(keys.iter().map(|(_, k)| k), args.legacy_empty_kid);
    let json = if args.pretty {
        serde_json::to_string_pretty(&set)?
    } else {
        serde_json::to_string(&set)?
    };
    println!("{json}");
    Ok(ExitCode::SUCCESS)
}

fn kid(args: &KidArgs) -> anyhow::Result<ExitCode> {
    for (path, key) in read_public_keys(&args.keys)? {
        println!(
            "{}  {}  {}  {}",
            key.kid(),
            key.describe(),
            key.algorithm(),
            path.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn generate(args: &GenerateArgs) -> anyhow::Result<ExitCode> {
    let dir = &args.out_dir;
    let private_path = dir.join("private.pem");
    let public_path = dir.join("public.pem");
    if !args.force {
        for path in [&private_path, &public_path] {
            if path.symlink_metadata().is_ok() {
                bail!(
                    "{} already exists; pass --force to replace it (the old private key is then lost)",
                    path.display()
                );
            }
        }
    }
    let key = PrivateKey::generate(args.algorithm).context("generating the key")?;
    let private_pem = key.to_pkcs8_pem().context("encoding the private key")?;
    let public_pem = key.public_key().to_spki_pem();
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    // Both files are fully written and synced under temporary names before either is
    // renamed into place, so a failure leaves no partial key behind.
    let private_tmp = TempFile::write(dir, "private.pem", private_pem.as_bytes(), 0o600)?;
    let public_tmp = TempFile::write(dir, "public.pem", public_pem.as_bytes(), 0o644)?;
    private_tmp.persist(&private_path)?;
    public_tmp.persist(&public_path)?;
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    println!("wrote {} (PKCS#8, mode 0600)", private_path.display());
    println!("wrote {} (SPKI)", public_path.display());
    println!("kid: {}", key.kid());
    println!("alg: {} ({})", key.algorithm(), key.public_key().describe());
    Ok(ExitCode::SUCCESS)
}

/// A file written under a temporary name and removed on drop unless persisted.
struct TempFile {
    path: Option<PathBuf>,
}

impl TempFile {
    fn write(dir: &Path, name: &str, contents: &[u8], mode: u32) -> anyhow::Result<Self> {
        let path = dir.join(format!(".{name}.tmp-{}", std::process::id()));
        let _ = fs::remove_file(&path);
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        let tmp = TempFile {
            path: Some(path.clone()),
        };
        file.write_all(contents)
            .and_then(|()| file.sync_all())
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(tmp)
    }

    fn persist(mut self, to: &Path) -> anyhow::Result<()> {
        let Some(from) = self.path.take() else {
            return Ok(());
        };
        fs::rename(&from, to).with_context(|| {
            let _ = fs::remove_file(&from);
            format!("cannot move the new key into {}", to.display())
        })
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(path) = self.path.take() {
            let _ = fs::remove_file(path);
        }
    }
}
