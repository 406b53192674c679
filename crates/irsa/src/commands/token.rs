//! `irsa token`: mint, decode and verify service-account tokens.

pub(crate) mod fetch;
mod human;

use std::io::{IsTerminal as _, Read as _};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, bail};
use irsa_jose::{
    Algorithm, Header, JwkSet, ObjectRef, ServiceAccountClaims, Validation, VerifyingKeys,
    decode_unverified, parse_private_pem, sign, verify,
};
use serde_json::Value;

use human::{ago_or_in, explain, utc};

/// Subcommands of `irsa token`.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Sign a token shaped like a kube-apiserver bound service-account token.
    Mint(MintArgs),
    /// Print a token's header and claims (times in UTC). Does NOT verify it.
    Decode(DecodeArgs),
    /// Verify a token: signature (keys from the issuer's discovery document or a JWKS
    /// file), issuer, audience, expiry. Exit 0 when valid, 1 when rejected, 2 when the
    /// check itself could not run.
    Verify(VerifyArgs),
}

/// Arguments of `irsa token mint`.
#[derive(Debug, clap::Args)]
pub struct MintArgs {
    /// Private key PEM file (PKCS#1, PKCS#8 or SEC1).
    #[arg(long, value_name = "PRIVATE")]
    pub key: PathBuf,
    /// The `iss` claim, written byte for byte.
    #[arg(long, value_name = "URL")]
    pub issuer: String,
    /// Namespace of the service account.
    #[arg(long, value_name = "NS")]
    pub namespace: String,
    /// Name of the service account.
    #[arg(long, value_name = "SA")]
    pub service_account: String,
    /// Audience (repeatable); the `aud` claim is always an array.
    #[arg(
        long = "audience",
        value_name = "AUD",
        default_value = "sts.amazonaws.com"
    )]
    pub audiences: Vec<String>,
    /// Lifetime in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 3600,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub expiration: u32,
    /// Bind the token to a pod of this name (random uid).
    #[arg(long, value_name = "NAME")]
    pub pod: Option<String>,
    /// Record the node of the pod (random uid).
    #[arg(long, value_name = "NAME")]
    pub node: Option<String>,
    /// Signing algorithm (default: RS256 for RSA keys, the curve's ES* for EC keys).
    #[arg(long, value_name = "ALG")]
    pub algorithm: Option<Algorithm>,
    /// Leave `kid` out of the header, as clusters before 1.16 did.
    #[arg(long)]
    pub no_kid: bool,
    /// Issue time as seconds since 1970 (default: now). For tests and reproductions.
    #[arg(long, value_name = "UNIX")]
    pub issued_at: Option<i64>,
}

/// Where a token comes from.
#[derive(Debug, clap::Args)]
pub struct TokenInput {
    /// The token, or `-` (the default) to read it from standard input.
    #[arg(value_name = "TOKEN|-")]
    pub token: Option<String>,
    /// Read the token from this file instead (e.g. a projected token path).
    #[arg(long, value_name = "FILE", conflicts_with = "token")]
    pub token_file: Option<PathBuf>,
}

/// Arguments of `irsa token decode`.
#[derive(Debug, clap::Args)]
pub struct DecodeArgs {
    #[command(flatten)]
    input: TokenInput,
    /// Print `{"header":...,"claims":...}` as JSON instead of the human view.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `irsa token verify`.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    input: TokenInput,
    /// The expected issuer; `iss` must equal it byte for byte. Keys are fetched from
    /// `<issuer>/.well-known/openid-configuration` and its `jwks_uri` unless --jwks is given.
    #[arg(long, value_name = "URL")]
    pub issuer: String,
    /// Accepted audience (repeatable; any one must be in `aud`).
    #[arg(
        long = "audience",
        value_name = "AUD",
        default_value = "sts.amazonaws.com"
    )]
    pub audiences: Vec<String>,
    /// Skip the audience check.
    #[arg(long, conflicts_with = "audiences")]
    pub any_audience: bool,
    /// Read the JWK Set from this file instead of fetching it.
    #[arg(long, value_name = "FILE")]
    pub jwks: Option<PathBuf>,
    /// Allowed clock skew in seconds for exp/nbf/iat.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    pub leeway: u64,
    /// Check validity at this time (seconds since 1970) instead of now.
    #[arg(long, value_name = "UNIX")]
    pub at: Option<i64>,
    /// Timeout in seconds for each HTTP request.
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    pub timeout: u64,
}

/// Runs `irsa token`.
pub fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Mint(args) => mint(&args),
        Command::Decode(args) => decode(&args),
        Command::Verify(args) => verify_command(&args),
    }
}

fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn mint(args: &MintArgs) -> anyhow::Result<ExitCode> {
    let pem =
        std::fs::read(&args.key).with_context(|| format!("cannot read {}", args.key.display()))?;
    let key = parse_private_pem(&pem).with_context(|| format!("{}", args.key.display()))?;
    let alg = args.algorithm.unwrap_or_else(|| key.algorithm());
    let mut claims = ServiceAccountClaims::new(
        args.issuer.clone(),
        args.namespace.clone(),
        args.service_account.clone(),
        args.audiences.clone(),
        args.issued_at.unwrap_or_else(now_unix),
        i64::from(args.expiration),
    );
    claims.pod = args.pod.as_deref().map(ObjectRef::with_random_uid);
    claims.node = args.node.as_deref().map(ObjectRef::with_random_uid);
    let kid = (!args.no_kid).then(|| key.kid().to_owned());
    let token = sign(&Header::new(alg, kid), &claims.to_json(), &key)
        .with_context(|| format!("signing with {}", args.key.display()))?;
    println!("{token}");
    Ok(ExitCode::SUCCESS)
}

fn read_token(input: &TokenInput) -> anyhow::Result<String> {
    let raw = match (&input.token, &input.token_file) {
        (_, Some(path)) => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the token from {}", path.display()))?,
        (Some(t), None) if t != "-" => t.clone(),
        _ => {
            if std::io::stdin().is_terminal() {
                bail!("no token given: pass it as an argument, with --token-file, or pipe it in");
            }
            let mut s = String::new();
            std::io::stdin()
                .take(irsa_jose::MAX_TOKEN_BYTES as u64 + 1)
                .read_to_string(&mut s)
                .context("cannot read the token from standard input")?;
            s
        }
    };
    let token = raw.trim();
    if token.is_empty() {
        bail!("no token given (pass it as an argument, with --token-file, or on standard input)");
    }
    Ok(token.to_owned())
}

fn decode(args: &DecodeArgs) -> anyhow::Result<ExitCode> {
    let token = read_token(&args.input)?;
    let (header, claims) = decode_unverified(&token).context("cannot decode the token")?;
    if args.json {
        let out = serde_json::json!({"header": header.to_json(), "claims": claims});
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(ExitCode::SUCCESS);
    }
    let now = now_unix();
    println!(
        "Header:\n{}",
        serde_json::to_string_pretty(&header.to_json())?
    );
    println!("Claims:\n{}", serde_json::to_string_pretty(&claims)?);
    let mut times = Vec::new();
    for (name, label) in [("iat", "issued"), ("nbf", "not before"), ("exp", "expires")] {
        match claims.get(name) {
            Some(Value::Number(n)) if n.as_i64().is_some() => {
                let t = n.as_i64().unwrap_or_default();
                times.push(format!(
                    "  {name} ({label}): {} ({})",
                    utc(t),
                    ago_or_in(t, now)
                ));
            }
            Some(other) => times.push(format!("  {name} ({label}): {other} (not an integer)")),
            None => {}
        }
    }
    if let Some(warn) = claims
        .pointer("/kubernetes.io/warnafter")
        .and_then(Value::as_i64)
    {
        times.push(format!(
            "  warnafter: {} ({})",
            utc(warn),
            ago_or_in(warn, now)
        ));
    }
    if !times.is_empty() {
        println!("Times (UTC, now {}):", utc(now));
        for line in times {
            println!("{line}");
        }
    }
    println!("Signature: NOT verified (use `irsa token verify`)");
    Ok(ExitCode::SUCCESS)
}

fn verify_command(args: &VerifyArgs) -> anyhow::Result<ExitCode> {
    let token = read_token(&args.input)?;
    let now = args.at.unwrap_or_else(now_unix);
    let (set, source) = match &args.jwks {
        Some(path) => {
            let bytes =
                std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
            let set = JwkSet::from_json(&bytes).with_context(|| format!("{}", path.display()))?;
            (set, path.display().to_string())
        }
        None => fetch::discover_jwks(&args.issuer, std::time::Duration::from_secs(args.timeout))?,
    };
    let keys = VerifyingKeys::from_jwks(&set);
    for skipped in keys.skipped() {
        eprintln!(
            "note: key {} in {source} is not used: {}",
            skipped.kid.as_deref().unwrap_or("(no kid)"),
            skipped.error
        );
    }
    let validation = Validation {
        issuer: Some(args.issuer.clone()),
        audiences: if args.any_audience {
            Vec::new()
        } else {
            args.audiences.clone()
        },
        leeway_secs: args.leeway,
        ..Validation::default()
    };
    match verify(&token, &keys, &validation, now) {
        Ok(ok) => {
            println!("token is valid");
            println!("  issuer:    {}", ok.issuer().unwrap_or("-"));
            println!("  subject:   {}", ok.subject().unwrap_or("-"));
            println!("  audience:  {}", ok.audiences().join(", "));
            println!(
                "  signature: {} with key {} from {source}",
                ok.algorithm,
                ok.key_id
                    .as_deref()
                    .map_or("(no kid)".to_owned(), |k| format!("{k:?}"))
            );
            if let Some(exp) = ok.numeric("exp") {
                println!("  expires:   {} ({})", utc(exp), ago_or_in(exp, now));
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(err) => {
            eprintln!(
                "token rejected: {}",
                explain(&err, now, &keys_summary(&keys, &source))
            );
            Ok(ExitCode::from(1))
        }
    }
}

fn keys_summary(keys: &VerifyingKeys, source: &str) -> String {
    let kids: Vec<String> = keys
        .kids()
        .map(|k| k.map_or("(no kid)".to_owned(), |k| format!("{k:?}")))
        .collect();
    format!("{source} has kid(s) {}", kids.join(", "))
}
