//! `irsa webhook manifests`: print everything that installs the webhook in a cluster.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use irsa_webhook::manifests::{CertMode, ManifestOptions, ServeFlags};

/// Arguments of `irsa webhook manifests`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("certs").args(["cert_manager", "self_signed"])))]
pub struct Args {
    /// Namespace for the webhook's namespaced objects (it must exist, or pass --create-namespace).
    #[arg(long)]
    namespace: String,
    /// Container image whose entrypoint is the irsa binary (see the Dockerfile).
    #[arg(long)]
    image: String,
    /// Name of the Deployment, Service, ServiceAccount, RBAC objects and webhook configuration.
    /// The default is upstream's, so the objects replace an upstream install in place.
    #[arg(long, default_value = "pod-identity-webhook")]
    name: String,
    /// Deployment replicas. A PodDisruptionBudget (minAvailable 1) is added for 2 or more.
    #[arg(long, default_value_t = 2)]
    replicas: i32,
    /// Let cert-manager issue and renew the serving certificate and inject the caBundle.
    #[arg(long)]
    cert_manager: bool,
    /// Make a CA and serving certificate now and print them in a Secret, caBundle filled in
    /// (the default). The output then contains a private key: treat it as a secret.
    #[arg(long)]
    self_signed: bool,
    /// Validity of the self-signed serving certificate, in days. Re-run and apply before it ends.
    #[arg(long, default_value_t = 365, value_name = "DAYS")]
    cert_validity_days: u32,
    /// PEM file of CA certificates to trust in caBundle besides the new CA (--self-signed only).
    /// Pass the current caBundle when renewing, so that replicas still serving the previous
    /// certificate keep working until the kubelet refreshes the Secret. Private keys are refused.
    #[arg(long, value_name = "FILE")]
    extra_ca_bundle: Option<PathBuf>,
    /// `--annotation-prefix` passed to `irsa webhook serve`.
    #[arg(long, default_value = "eks.amazonaws.com")]
    annotation_prefix: String,
    /// `--token-audience` passed to `irsa webhook serve`.
    #[arg(long, default_value = "sts.amazonaws.com")]
    token_audience: String,
    /// `--aws-default-region` passed to `irsa webhook serve` (not passed when unset).
    #[arg(long, value_name = "REGION")]
    aws_default_region: Option<String>,
    /// Pass `--sts-regional-endpoint=true` to `irsa webhook serve`.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", default_value_t = false, require_equals = true, action = clap::ArgAction::Set)]
    sts_regional_endpoint: bool,
    /// Pass `--watch-config-map=true` and grant read access to the `pod-identity-webhook`
    /// ConfigMap in --namespace (only that one).
    #[arg(long, num_args = 0..=1, default_missing_value = "true", default_value_t = false, require_equals = true, action = clap::ArgAction::Set)]
    watch_config_map: bool,
    /// `--token-expiration` (seconds, at least 600) passed to `irsa webhook serve`.
    #[arg(long, value_name = "SECONDS")]
    token_expiration: Option<i64>,
    /// HTTPS port of the container (the Service always listens on 443).
    #[arg(long, default_value_t = 8443)]
    port: u16,
    /// Plain-HTTP metrics port of the container.
    #[arg(long, default_value_t = 9999)]
    metrics_port: u16,
    /// `timeoutSeconds` of the webhook registration (1-30).
    #[arg(long, default_value_t = 10)]
    timeout_seconds: i32,
    /// Pod priority class; an empty value omits it. The default keeps the webhook from being
    /// preempted or evicted before ordinary workloads: while it is gone, new pods start
    /// without AWS credentials (failurePolicy Ignore).
    #[arg(long, default_value = "system-cluster-critical")]
    priority_class_name: String,
    /// imagePullPolicy of the container.
    #[arg(long, default_value = "IfNotPresent")]
    image_pull_policy: String,
    /// Also print the Namespace object (not by default, so `kubectl delete -f` cannot remove a
    /// namespace that holds other things).
    #[arg(long)]
    create_namespace: bool,
    /// Write to FILE (created with mode 0600) instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,
}

impl Args {
    fn options(&self) -> anyhow::Result<ManifestOptions> {
        let cert_mode = if self.cert_manager {
            CertMode::CertManager
        } else {
            CertMode::SelfSigned {
                validity_days: self.cert_validity_days,
            }
        };
        let extra_ca_bundle =
            match &self.extra_ca_bundle {
                Some(path) => Some(std::fs::read_to_string(path).with_context(|| {
                    format!("could not read --extra-ca-bundle {}", path.display())
                })?),
                None => None,
            };
        Ok(ManifestOptions {
            name: self.name.clone(),
            extra_ca_bundle,
            replicas: self.replicas,
            cert_mode,
            serve: ServeFlags {
                annotation_prefix: self.annotation_prefix.clone(),
                token_audience: self.token_audience.clone(),
                aws_default_region: self.aws_default_region.clone(),
                sts_regional_endpoint: self.sts_regional_endpoint,
                watch_config_map: self.watch_config_map,
                token_expiration: self.token_expiration,
            },
            port: self.port,
            metrics_port: self.metrics_port,
            timeout_seconds: self.timeout_seconds,
            priority_class_name: Some(self.priority_class_name.clone()).filter(|p| !p.is_empty()),
            image_pull_policy: self.image_pull_policy.clone(),
            create_namespace: self.create_namespace,
            ..ManifestOptions::new(&self.namespace, &self.image)
        })
    }
}

/// Runs `irsa webhook manifests`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let manifests = irsa_webhook::manifests::build(&args.options()?)?;
    let yaml = manifests.to_yaml()?;
    match &args.output {
        Some(path) => write_private(path, yaml.as_bytes())
            .with_context(|| format!("could not write {}", path.display()))?,
        None => std::io::stdout()
            .lock()
            .write_all(yaml.as_bytes())
            .context("could not write to standard output")?,
    }
    eprintln!(
        "irsa webhook manifests: {} objects for namespace {}",
        manifests.documents.len(),
        args.namespace
    );
    if let Some(not_after) = manifests.certificate_not_after {
        let date = not_after.date();
        eprintln!(
            "irsa webhook manifests: the output holds the serving certificate's private key (Secret {}-cert); \
             the certificate expires on {date}: re-run and apply before then",
            args.name
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    #[cfg(unix)]
    {
        // An existing file keeps its mode on open: tighten it before writing the key.
        use std::os::unix::fs::PermissionsExt as _;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    file.write_all(bytes)?;
    file.sync_all()
}
