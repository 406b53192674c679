//! `irsa sts`: the local AWS side (STS + IAM Query APIs that really verify).

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use irsa_sts::server::{self, AdminCredentials, AppState, ServerConfig};
use irsa_sts::store::Store;

/// Subcommands of `irsa sts`.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Serve STS (2011-06-15) and IAM (2010-05-08) on one endpoint, state in SQLite.
    Serve(ServeArgs),
}

/// Arguments of `irsa sts serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port; the chosen address is printed).
    #[arg(long, default_value = "127.0.0.1:8090")]
    pub listen: SocketAddr,
    /// SQLite state file (created if missing), or `:memory:` for a throwaway run.
    #[arg(long)]
    pub state: String,
    /// The AWS account id used in every ARN.
    #[arg(long, default_value = "123456789012")]
    pub account_id: String,
    /// The region reported by the server.
    #[arg(long, default_value = "us-east-1")]
    pub region: String,
    /// Admin access key id (with --admin-secret-access-key). Default: a pair generated on
    /// first start and kept in the state.
    #[arg(
        long,
        env = "IRSA_STS_ADMIN_ACCESS_KEY_ID",
        requires = "admin_secret_access_key"
    )]
    pub admin_access_key_id: Option<String>,
    /// Admin secret access key (prefer the environment variable over the command line).
    #[arg(
        long,
        env = "IRSA_STS_ADMIN_SECRET_ACCESS_KEY",
        hide_env_values = true,
        requires = "admin_access_key_id"
    )]
    pub admin_secret_access_key: Option<String>,
    /// Where to write the generated admin credentials (AWS shared-credentials format, mode
    /// 0600, profile `irsa-sts`). Default: STATE.credentials, or a file in the temp dir for
    /// `:memory:`.
    #[arg(long)]
    pub credentials_file: Option<PathBuf>,
    /// Accept http:// OIDC provider URLs with a port (loopback tests). AWS requires https.
    #[arg(long)]
    pub allow_http_issuers: bool,
}

/// Runs `irsa sts`.
pub fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Serve(args) => serve(args),
    }
}

fn validate(args: &ServeArgs) -> anyhow::Result<()> {
    if args.account_id.len() != 12 || !args.account_id.bytes().all(|b| b.is_ascii_digit()) {
        bail!("--account-id must be 12 digits, got {:?}", args.account_id);
    }
    if let Some(id) = &args.admin_access_key_id
        && (id.len() < 16
            || id.len() > 128
            || !id.bytes().all(|b| b.is_ascii_alphanumeric())
            || id.starts_with("ASIA"))
    {
        bail!(
            "--admin-access-key-id must be 16-128 letters/digits and not start with ASIA (reserved for sessions)"
        );
    }
    if args
        .admin_secret_access_key
        .as_deref()
        .is_some_and(|s| s.len() < 16)
    {
        bail!("--admin-secret-access-key must be at least 16 characters");
    }
    Ok(())
}

fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    validate(&args)?;
    init_tracing();
    let store = Store::open(&args.state)
        .with_context(|| format!("cannot open the state database {}", args.state))?;
    let admin = match (&args.admin_access_key_id, &args.admin_secret_access_key) {
        (Some(id), Some(secret)) => Some(AdminCredentials {
            access_key_id: id.clone(),
            secret_access_key: secret.clone(),
        }),
        _ => None,
    };
    let fixed_admin = admin.is_some();
    let config = ServerConfig {
        account_id: args.account_id.clone(),
        region: args.region.clone(),
        allow_http_issuers: args.allow_http_issuers,
        admin,
    };
    let state =
        AppState::new(config, Arc::new(store)).context("cannot prepare the server state")?;
    if args.allow_http_issuers {
        tracing::warn!(
            "--allow-http-issuers: http:// OIDC providers with ports are accepted; AWS itself requires https without a port"
        );
    }
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "irsa sts: state {}",
        if args.state == ":memory:" {
            "in memory (lost on exit)"
        } else {
            &args.state
        }
    )?;
    if fixed_admin {
        writeln!(
            out,
            "irsa sts: admin access key id {} (from the command line/environment)",
            state.admin.access_key_id
        )?;
    } else {
        let path = credentials_path(&args);
        write_credentials(&path, &state.admin)
            .with_context(|| format!("cannot write {}", path.display()))?;
        writeln!(
            out,
            "irsa sts: admin credentials (access key id {}) in {} (profile irsa-sts, mode 0600)",
            state.admin.access_key_id,
            path.display()
        )?;
    }
    drop(out);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let server = server::start_with_signal(args.listen, Arc::new(state), shutdown_signal())
            .await
            .context("cannot start the server")?;
        println!("listening on http://{}", server.addr());
        let _ = std::io::stdout().flush();
        server
            .wait()
            .await
            .context("the server stopped with an error")?;
        eprintln!("irsa sts: stopped");
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

fn credentials_path(args: &ServeArgs) -> PathBuf {
    if let Some(p) = &args.credentials_file {
        return p.clone();
    }
    if args.state == ":memory:" {
        return std::env::temp_dir().join(format!("irsa-sts-{}.credentials", std::process::id()));
    }
    PathBuf::from(format!("{}.credentials", args.state))
}

/// Writes the admin pair in AWS shared-credentials format, readable by the owner only.
fn write_credentials(path: &Path, admin: &AdminCredentials) -> std::io::Result<()> {
    let text = format!(
        "[irsa-sts]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
        admin.access_key_id, admin.secret_access_key
    );
    let tmp = path.with_extension("credentials.tmp");
    {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(0o600);
        }
        let mut f = options.open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    eprintln!("irsa sts: shutting down (in-flight requests finish first)");
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("irsa_sts=info,warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
