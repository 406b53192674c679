//! `irsa webhook serve`: the admission webhook, with amazon-eks-pod-identity-webhook's flags.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::ArgAction;
use irsa_mutate::ComposeRoleArn;
use irsa_webhook::cache::MissPolicy;
use irsa_webhook::runner::{self, Settings};
use irsa_webhook::tls::TlsSettings;

use super::flags::MutationFlags;
use super::imds;

/// Arguments of `irsa webhook serve`. Names and defaults are upstream's (`main.go`), so an
/// upstream Deployment switches by changing its image and command. Boolean flags take the Go
/// forms `--flag`, `--flag=true`, `--flag=false`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    mutation: MutationFlags,

    /// HTTPS port for /mutate, /healthz and /readyz (all interfaces).
    #[arg(long, default_value_t = 443, value_name = "PORT")]
    port: u16,

    /// Plain-HTTP port for /metrics (all interfaces).
    #[arg(long, default_value_t = 9999, value_name = "PORT")]
    metrics_port: u16,

    /// Serving certificate (PEM chain); reloaded when it changes, Secret symlink swaps included.
    #[arg(
        long,
        default_value = "/etc/webhook/certs/tls.crt",
        value_name = "FILE"
    )]
    tls_cert: PathBuf,

    /// Serving key (PEM: PKCS#8, PKCS#1 or SEC1); reloaded with the certificate.
    #[arg(
        long,
        default_value = "/etc/webhook/certs/tls.key",
        value_name = "FILE"
    )]
    tls_key: PathBuf,

    /// Minimum TLS version: 1.0, 1.1, 1.2, 1.3 or VersionTLS10..VersionTLS13 (below 1.2 means
    /// 1.2: rustls never speaks older versions). Empty: 1.2.
    #[arg(long, default_value = "", value_name = "VERSION")]
    tls_min_version: String,

    /// Comma-separated Go cipher-suite names for TLS 1.2 (TLS 1.3 suites are always on). Names
    /// Go knows but rustls does not implement are skipped with a warning; unknown names are an
    /// error. Empty: rustls defaults.
    #[arg(long, default_value = "", value_name = "SUITES")]
    tls_cipher_suites: String,

    /// Namespace of the webhook, where the pod-identity-webhook ConfigMap is watched.
    #[arg(long, default_value = "eks", value_name = "NS")]
    namespace: String,

    /// Service name (accepted for compatibility: only used by upstream's in-cluster CSR mode).
    #[arg(long, default_value = "pod-identity-webhook", value_name = "NAME")]
    service_name: String,

    /// Secret name (accepted for compatibility: only used by upstream's in-cluster CSR mode).
    #[arg(long, default_value = "pod-identity-webhook", value_name = "NAME")]
    tls_secret: String,

    /// Accepted for compatibility. Upstream's in-cluster certificate (CSR) mode is broken
    /// upstream and not implemented: the certificate always comes from --tls-cert/--tls-key.
    #[arg(long, num_args = 0..=1, require_equals = true, default_value = "true",
          default_missing_value = "true", value_parser = go_bool, action = ArgAction::Set,
          value_name = "BOOL")]
    in_cluster: bool,

    /// Path to a kubeconfig (out of cluster). With neither this nor --kube-api, the in-cluster
    /// service-account configuration (or $KUBECONFIG) is used.
    #[arg(long, default_value = "", value_name = "FILE")]
    kubeconfig: String,

    /// URL of the API server (out of cluster); overrides the kubeconfig's server.
    #[arg(long, default_value = "", value_name = "URL")]
    kube_api: String,

    /// Accepted for compatibility; the watch keeps the cache current, so no resync is needed.
    #[arg(long, default_value = "60s", value_parser = go_duration, value_name = "DURATION")]
    resync_period: Duration,

    /// How long a pod whose ServiceAccount is not cached waits for the watch to deliver it
    /// (upstream's flag; 0 = no wait).
    #[arg(long, default_value = "0s", value_parser = go_duration, value_name = "DURATION")]
    service_account_lookup_grace_period: Duration,

    /// irsa only: bound of the direct GET of a ServiceAccount missing from the cache (rate
    /// limited to 10/s, burst 20). 0 restores upstream's behaviour (no lookup unless a grace
    /// period is set, and then only the wait).
    #[arg(long, default_value = "1s", value_parser = go_duration, value_name = "DURATION")]
    service_account_lookup_timeout: Duration,

    /// Watch ConfigMap pod-identity-webhook in --namespace for ServiceAccount-to-role mappings.
    #[arg(long, num_args = 0..=1, require_equals = true, default_value = "false",
          default_missing_value = "true", value_parser = go_bool, action = ArgAction::Set,
          value_name = "BOOL")]
    watch_config_map: bool,

    /// Complete a ServiceAccount role-arn annotation without "arn:" (a role name such as
    /// s3-reader) to arn:<partition>:iam::<account>:role/<name>, with the account and region
    /// (hence partition) of the EC2 instance, read from the instance metadata service at
    /// startup (AWS_EC2_METADATA_SERVICE_ENDPOINT overrides http://169.254.169.254). Startup
    /// fails when IMDS cannot be read. ConfigMap mappings are used as-is.
    #[arg(long, num_args = 0..=1, require_equals = true, default_value = "false",
          default_missing_value = "true", value_parser = go_bool, action = ArgAction::Set,
          value_name = "BOOL")]
    compose_role_arn: bool,

    /// Accepted for compatibility; the debug routes are not served.
    #[arg(long, num_args = 0..=1, require_equals = true, default_value = "false",
          default_missing_value = "true", value_parser = go_bool, action = ArgAction::Set,
          value_name = "BOOL")]
    enable_debugging_handlers: bool,

    /// irsa only: largest accepted /mutate body in bytes (413 above; default: the API
    /// server's own 3 MiB request limit).
    #[arg(long, default_value_t = irsa_webhook::server::DEFAULT_MAX_BODY, value_name = "BYTES")]
    max_request_bytes: usize,

    /// Log verbosity in klog's scale: 4 and above logs every request (debug), 5 and above
    /// traces. RUST_LOG overrides it.
    #[arg(short = 'v', long = "v", default_value_t = 0, value_name = "LEVEL")]
    verbosity: u8,

    #[command(flatten)]
    klog: KlogFlags,
}

/// klog's flags, accepted so upstream command lines parse. Logs always go to stderr.
#[derive(Debug, clap::Args)]
struct KlogFlags {
    #[arg(long, hide = true, num_args = 0..=1, require_equals = true, default_value = "true",
          default_missing_value = "true", value_parser = go_bool, action = ArgAction::Set)]
    logtostderr: bool,
    #[arg(long, hide = true, num_args = 0..=1, require_equals = true, default_value = "false",
          default_missing_value = "true", value_parser = go_bool, action = ArgAction::Set)]
    alsologtostderr: bool,
    #[arg(long = "add_dir_header", hide = true, num_args = 0..=1, require_equals = true,
          default_value = "false", default_missing_value = "true", value_parser = go_bool,
          action = ArgAction::Set)]
    add_dir_header: bool,
    #[arg(long = "skip_headers", hide = true, num_args = 0..=1, require_equals = true,
          default_value = "false", default_missing_value = "true", value_parser = go_bool,
          action = ArgAction::Set)]
    skip_headers: bool,
    #[arg(long = "skip_log_headers", hide = true, num_args = 0..=1, require_equals = true,
          default_value = "false", default_missing_value = "true", value_parser = go_bool,
          action = ArgAction::Set)]
    skip_log_headers: bool,
    #[arg(long = "one_output", hide = true, num_args = 0..=1, require_equals = true,
          default_value = "false", default_missing_value = "true", value_parser = go_bool,
          action = ArgAction::Set)]
    one_output: bool,
    #[arg(long = "legacy_stderr_threshold_behavior", hide = true, num_args = 0..=1,
          require_equals = true, default_value = "true", default_missing_value = "true",
          value_parser = go_bool, action = ArgAction::Set)]
    legacy_stderr_threshold_behavior: bool,
    #[arg(long = "log_dir", hide = true)]
    log_dir: Option<String>,
    #[arg(long = "log_file", hide = true)]
    log_file: Option<String>,
    #[arg(long = "log_file_max_size", hide = true)]
    log_file_max_size: Option<u64>,
    #[arg(long = "log_backtrace_at", hide = true)]
    log_backtrace_at: Option<String>,
    #[arg(long, hide = true)]
    stderrthreshold: Option<String>,
    #[arg(long, hide = true)]
    vmodule: Option<String>,
}

/// Go's `strconv.ParseBool`.
fn go_bool(s: &str) -> Result<bool, String> {
    irsa_mutate::parse_go_bool(s)
        .ok_or_else(|| format!("invalid boolean {s:?}: use true or false (or 1/0, t/f)"))
}

/// Go's `time.ParseDuration`: a sequence of decimal numbers with units ns, us (µs), ms, s, m,
/// h, e.g. `300ms`, `1m30s`, `1.5h`; a bare `0` is allowed.
fn go_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("invalid duration {s:?}: use Go syntax such as 100ms, 1s or 1m30s");
    let body = s.strip_prefix('+').unwrap_or(s);
    if body == "0" {
        return Ok(Duration::ZERO);
    }
    if body.is_empty() || body.starts_with('-') {
        return Err(bad());
    }
    let mut total = 0f64;
    let mut rest = body;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let value: f64 = rest[..num_len].parse().map_err(|_| bad())?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        total += value * scale;
        rest = &rest[unit_len..];
    }
    Duration::try_from_secs_f64(total).map_err(|_| bad())
}

fn init_logging(verbosity: u8) {
    let default = match verbosity {
        0..=3 => "info",
        4 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!(
            "warn,irsa={default},irsa_webhook={default},kube_runtime=info"
        ))
    });
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

impl Args {
    fn settings(&self) -> anyhow::Result<Settings> {
        let tls = TlsSettings::parse(&self.tls_min_version, &self.tls_cipher_suites)?;
        let any = |port| SocketAddr::from((Ipv4Addr::UNSPECIFIED, port));
        Ok(Settings {
            https: any(self.port),
            metrics: any(self.metrics_port),
            tls_cert: self.tls_cert.clone(),
            tls_key: self.tls_key.clone(),
            tls,
            kubeconfig: self.kubeconfig.clone(),
            kube_api: self.kube_api.clone(),
            namespace: self.namespace.clone(),
            watch_config_map: self.watch_config_map,
            miss: MissPolicy {
                grace_period: self.service_account_lookup_grace_period,
                lookup_timeout: self.service_account_lookup_timeout,
                ..MissPolicy::default()
            },
            config: self.mutation.to_config(),
            associations: self.mutation.associations_file().map(Into::into),
            max_body: self.max_request_bytes,
            shutdown_timeout: Duration::from_secs(10),
            reload_interval: Duration::from_secs(1),
        })
    }
}

/// Runs `irsa webhook serve` until SIGTERM or SIGINT (a second signal exits at once with 1).
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    init_logging(args.verbosity);
    let settings = args.settings()?;
    if args.in_cluster {
        tracing::warn!(
            "--in-cluster=true: the CSR certificate mode is not implemented (it is broken upstream); serving {} (pass --in-cluster=false to silence this)",
            settings.tls_cert.display()
        );
    }
    if args.enable_debugging_handlers {
        tracing::warn!(
            "--enable-debugging-handlers is accepted but the debug routes are not served"
        );
    }
    tracing::debug!(
        service_name = %args.service_name,
        tls_secret = %args.tls_secret,
        resync_period = ?args.resync_period,
        "compatibility flags accepted"
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let mut settings = settings;
        if args.compose_role_arn {
            settings.config.compose_role_arn = Some(compose_role_arn().await?);
        }
        let webhook = runner::start(settings).await?;
        tracing::info!(
            https = %webhook.https_addr(),
            metrics = %webhook.metrics_addr(),
            "irsa webhook serving; ready once the ServiceAccount cache has synced"
        );
        let stopper = webhook.stopper();
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!("shutting down: no new connections, finishing in-flight requests");
            stopper.send_replace(true);
            wait_for_signal().await;
            tracing::error!("second signal: exiting immediately");
            std::process::exit(1);
        });
        webhook.wait().await;
        tracing::info!("stopped");
        Ok(ExitCode::SUCCESS)
    })
}

/// `--compose-role-arn`: account and partition of the instance, from IMDS. Fatal on failure,
/// as upstream: a webhook that cannot compose would inject role names that STS rejects.
async fn compose_role_arn() -> anyhow::Result<ComposeRoleArn> {
    let endpoint = imds::endpoint();
    let document = imds::identity_document(&endpoint).await.map_err(|err| {
        anyhow::anyhow!(
            "--compose-role-arn: cannot read the EC2 instance identity document from {endpoint} \
             ({err:#}). Run the webhook on EC2 with the instance metadata service reachable from \
             the pod (for IMDSv2 from a pod the instance's metadata hop limit must be at least 2: \
             aws ec2 modify-instance-metadata-options --instance-id <id> \
             --http-put-response-hop-limit 2), point \
             AWS_EC2_METADATA_SERVICE_ENDPOINT at a reachable endpoint, or annotate \
             ServiceAccounts with full role ARNs and drop --compose-role-arn"
        )
    })?;
    let compose = ComposeRoleArn::from_region(&document.region, document.account_id);
    tracing::info!(
        region = %document.region,
        "--compose-role-arn: role names become arn:{}:iam::{}:role/<name>",
        compose.partition,
        compose.account_id
    );
    Ok(compose)
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    fn parse(args: &[&str]) -> Result<Args, clap::Error> {
        Cli::try_parse_from(std::iter::once("serve").chain(args.iter().copied())).map(|c| c.args)
    }

    #[test]
    fn defaults_are_upstream_defaults() {
        let a = parse(&[]).unwrap();
        assert_eq!((a.port, a.metrics_port), (443, 9999));
        assert_eq!(a.namespace, "eks");
        assert!(a.in_cluster);
        assert!(!a.watch_config_map);
        assert_eq!(a.resync_period, Duration::from_secs(60));
        assert_eq!(a.service_account_lookup_grace_period, Duration::ZERO);
        assert_eq!(a.tls_cert, PathBuf::from("/etc/webhook/certs/tls.crt"));
    }

    #[test]
    fn parses_upstream_deployment_args() {
        // deploy/deployment-base.yaml of amazon-eks-pod-identity-webhook.
        let a = parse(&[
            "--in-cluster=false",
            "--namespace=default",
            "--service-name=pod-identity-webhook",
            "--annotation-prefix=eks.amazonaws.com",
            "--token-audience=sts.amazonaws.com",
            "--logtostderr",
        ])
        .unwrap();
        assert!(!a.in_cluster);
        assert_eq!(a.namespace, "default");
        let a = parse(&[
            "--port=8443",
            "--metrics-port",
            "9999",
            "--watch-config-map=true",
            "--resync-period=1m30s",
            "--service-account-lookup-grace-period=100ms",
            "--tls-min-version=VersionTLS12",
            "--tls-cipher-suites=TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
            "--logtostderr=false",
            "--stderrthreshold=2",
            "--log_dir=/tmp",
            "-v=4",
        ])
        .unwrap();
        assert_eq!(a.port, 8443);
        assert!(a.watch_config_map);
        assert_eq!(a.resync_period, Duration::from_secs(90));
        assert_eq!(
            a.service_account_lookup_grace_period,
            Duration::from_millis(100)
        );
        assert_eq!(a.verbosity, 4);
        assert!(a.settings().is_ok());
    }

    #[test]
    fn go_booleans_and_durations() {
        assert!(parse(&["--watch-config-map"]).unwrap().watch_config_map);
        assert!(parse(&["--watch-config-map=1"]).unwrap().watch_config_map);
        assert!(!parse(&["--in-cluster=F"]).unwrap().in_cluster);
        assert!(parse(&["--in-cluster=maybe"]).is_err());
        assert_eq!(go_duration("1.5h").unwrap(), Duration::from_secs(5400));
        assert_eq!(go_duration("250us").unwrap(), Duration::from_micros(250));
        assert!(go_duration("10").is_err());
        assert!(go_duration("-1s").is_err());
        // Accepted in every Go form; IMDS is read later, at startup (see the e2e test).
        for form in [
            "--compose-role-arn",
            "--compose-role-arn=true",
            "--compose-role-arn=1",
        ] {
            let a = parse(&[form]).unwrap();
            assert!(a.compose_role_arn, "{form}");
            assert_eq!(a.settings().unwrap().config.compose_role_arn, None);
        }
        assert!(!parse(&[]).unwrap().compose_role_arn);
        assert!(
            parse(&["--tls-cipher-suites=NOPE"])
                .unwrap()
                .settings()
                .is_err()
        );
    }
}
