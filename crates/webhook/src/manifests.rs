//! Install manifests for the webhook: ServiceAccount, least-privilege RBAC, Deployment,
//! PodDisruptionBudget, Service, MutatingWebhookConfiguration, and the serving certificate
//! (cert-manager objects, or a freshly made CA and certificate in a `kubernetes.io/tls` Secret).
//!
//! Everything here is pure except certificate generation (`CertMode::SelfSigned` makes keys
//! and reads the clock). [`render`] returns one multi-document YAML string ready for
//! `kubectl apply -f -`; [`build`] returns the documents as JSON values for inspection.

mod cert_manager;
mod certs;
mod objects;

use serde_json::Value;
use time::OffsetDateTime;

/// The label that keeps a pod away from the webhook (upstream's `objectSelector` key; any value).
pub const SKIP_LABEL: &str = "eks.amazonaws.com/skip-pod-identity-webhook";

/// Where the Deployment mounts the TLS Secret (upstream's default `--tls-cert`/`--tls-key` directory).
pub const CERT_DIR: &str = "/etc/webhook/certs";

/// How the webhook's serving certificate is provided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertMode {
    /// A CA and serving certificate made now, printed in a Secret, with `caBundle` filled in.
    SelfSigned {
        /// Validity of the serving certificate in days (the CA lives one day longer).
        validity_days: u32,
    },
    /// cert-manager objects (self-signed Issuer, CA Certificate, CA Issuer, serving
    /// Certificate); cert-manager's CA injector fills in `caBundle` and renews the certificate.
    CertManager,
}

/// The mutation flags passed to `irsa webhook serve` (upstream names and defaults).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeFlags {
    /// `--annotation-prefix` (default `eks.amazonaws.com`).
    pub annotation_prefix: String,
    /// `--token-audience` (default `sts.amazonaws.com`).
    pub token_audience: String,
    /// `--aws-default-region`, only passed when set.
    pub aws_default_region: Option<String>,
    /// `--sts-regional-endpoint`.
    pub sts_regional_endpoint: bool,
    /// `--watch-config-map`; also grants read access to the `pod-identity-webhook` ConfigMap.
    pub watch_config_map: bool,
    /// `--token-expiration` in seconds, only passed when set.
    pub token_expiration: Option<i64>,
}

impl Default for ServeFlags {
    fn default() -> Self {
        Self {
            annotation_prefix: "eks.amazonaws.com".into(),
            token_audience: "sts.amazonaws.com".into(),
            aws_default_region: None,
            sts_regional_endpoint: false,
            watch_config_map: false,
            token_expiration: None,
        }
    }
}

/// Everything the generator needs. Build with [`ManifestOptions::new`] and adjust fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestOptions {
    /// Namespace of the webhook's namespaced objects.
    pub namespace: String,
    /// Container image that has `/irsa` as its entrypoint.
    pub image: String,
    /// Name of the Service, Deployment, ServiceAccount, RBAC objects and webhook configuration
    /// (default `pod-identity-webhook`, as upstream, so our objects replace upstream's in place).
    pub name: String,
    /// Deployment replicas (default 2). A PodDisruptionBudget is emitted only for 2 or more.
    pub replicas: i32,
    /// Certificate source.
    pub cert_mode: CertMode,
    /// Flags passed through to `irsa webhook serve`.
    pub serve: ServeFlags,
    /// HTTPS container port (`--port`, default 8443; the Service exposes 443).
    pub port: u16,
    /// Plain-HTTP metrics port (`--metrics-port`, default 9999).
    pub metrics_port: u16,
    /// `timeoutSeconds` of the webhook (1-30, default 10).
    pub timeout_seconds: i32,
    /// `priorityClassName` of the pods (default `system-cluster-critical`; `None` omits it).
    pub priority_class_name: Option<String>,
    /// `imagePullPolicy` (default `IfNotPresent`).
    pub image_pull_policy: String,
    /// Also emit the Namespace object.
    pub create_namespace: bool,
    /// `CertMode::SelfSigned` only: CA certificates (PEM) to trust in `caBundle` besides the new
    /// CA, typically the current one, so that replicas still serving the previous certificate
    /// keep working until the kubelet refreshes the mounted Secret (renewal without a gap).
    pub extra_ca_bundle: Option<String>,
}

impl ManifestOptions {
    /// Options with the documented defaults for `namespace` and `image`.
    pub fn new(namespace: impl Into<String>, image: impl Into<String>) -> Self {
        Self {
            namespace: namespace.into(),
            image: image.into(),
            name: "pod-identity-webhook".into(),
            replicas: 2,
            cert_mode: CertMode::SelfSigned { validity_days: 365 },
            serve: ServeFlags::default(),
            port: 8443,
            metrics_port: 9999,
            timeout_seconds: 10,
            priority_class_name: Some("system-cluster-critical".into()),
            image_pull_policy: "IfNotPresent".into(),
            create_namespace: false,
            extra_ca_bundle: None,
        }
    }

    /// Checks every field the API server would otherwise reject at apply time.
    pub fn validate(&self) -> Result<(), ManifestError> {
        let invalid =
            |field: &'static str, reason: String| ManifestError::Invalid { field, reason };
        check_dns_label("namespace", &self.namespace, NameRule::Namespace)?;
        // A Service name must be a DNS-1035 label: it must start with a letter.
        check_dns_label("name", &self.name, NameRule::ObjectName)?;
        if self.image.trim().is_empty() || self.image.chars().any(char::is_whitespace) {
            return Err(invalid(
                "image",
                format!(
                    "{:?} is not an image reference: give e.g. ghcr.io/org/irsa:v1",
                    self.image
                ),
            ));
        }
        if self.replicas < 1 {
            return Err(invalid(
                "replicas",
                format!("{} must be at least 1", self.replicas),
            ));
        }
        if !(1..=30).contains(&self.timeout_seconds) {
            return Err(invalid(
                "timeout-seconds",
                format!(
                    "{} is outside 1..=30, the range the API server accepts",
                    self.timeout_seconds
                ),
            ));
        }
        if self.port == 0 || self.metrics_port == 0 || self.port == self.metrics_port {
            return Err(invalid(
                "port",
                format!(
                    "port {} and metrics port {} must be distinct and non-zero",
                    self.port, self.metrics_port
                ),
            ));
        }
        if let CertMode::SelfSigned { validity_days } = self.cert_mode
            && !(1..=3650).contains(&validity_days)
        {
            return Err(invalid(
                "cert-validity-days",
                format!("{validity_days} is outside 1..=3650"),
            ));
        }
        let prefix = &self.serve.annotation_prefix;
        if prefix.is_empty() || prefix.contains('/') || prefix.chars().any(char::is_whitespace) {
            return Err(invalid(
                "annotation-prefix",
                format!("{prefix:?} must be a DNS subdomain such as eks.amazonaws.com"),
            ));
        }
        if self.serve.token_audience.is_empty() {
            return Err(invalid("token-audience", "must not be empty".into()));
        }
        if let Some(seconds) = self.serve.token_expiration
            && seconds < 600
        {
            return Err(invalid(
                "token-expiration",
                format!("{seconds} is below 600 seconds, the minimum the webhook applies"),
            ));
        }
        if let Some(pc) = &self.priority_class_name {
            check_dns_label("priority-class-name", pc, NameRule::Subdomain)?;
        }
        if let Some(pem) = &self.extra_ca_bundle {
            if self.cert_mode == CertMode::CertManager {
                return Err(invalid(
                    "extra-ca-bundle",
                    "applies to --self-signed only: cert-manager's CA injector owns caBundle"
                        .into(),
                ));
            }
            normalize_ca_bundle(pem).map_err(|reason| invalid("extra-ca-bundle", reason))?;
        }
        if !matches!(
            self.image_pull_policy.as_str(),
            "Always" | "IfNotPresent" | "Never"
        ) {
            return Err(invalid(
                "image-pull-policy",
                format!(
                    "{:?} must be Always, IfNotPresent or Never",
                    self.image_pull_policy
                ),
            ));
        }
        Ok(())
    }
}

/// Why the manifests could not be generated.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// An option has a value Kubernetes would reject.
    #[error("invalid --{field}: {reason}")]
    Invalid {
        /// The option (as its CLI flag name, without `--`).
        field: &'static str,
        /// What is wrong and what to give instead.
        reason: String,
    },
    /// Key or certificate generation failed.
    #[error("could not generate the webhook's CA and serving certificate")]
    Certificate {
        /// The rcgen error.
        #[source]
        source: rcgen::Error,
    },
    /// A document could not be serialized (a bug: the objects are built in code).
    #[error("could not serialize the manifests")]
    Serialize {
        /// The serde error.
        #[source]
        source: serde_json::Error,
    },
    /// YAML output failed (a bug: the documents are plain JSON values).
    #[error("could not write the manifests as YAML")]
    Yaml {
        /// The serde_yaml error.
        #[source]
        source: serde_yaml::Error,
    },
}

/// The generated documents, in `kubectl apply` order. `Debug` shows kinds and names only:
/// with `CertMode::SelfSigned` the documents hold a private key.
#[derive(Clone)]
pub struct Manifests {
    /// One JSON value per Kubernetes object.
    pub documents: Vec<Value>,
    /// For `CertMode::SelfSigned`: when the serving certificate expires.
    pub certificate_not_after: Option<OffsetDateTime>,
}

impl std::fmt::Debug for Manifests {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let objects: Vec<String> = self
            .documents
            .iter()
            .map(|d| {
                let kind = d["kind"].as_str().unwrap_or("?");
                let name = d["metadata"]["name"].as_str().unwrap_or("?");
                format!("{kind}/{name}")
            })
            .collect();
        f.debug_struct("Manifests")
            .field("documents", &objects)
            .field("certificate_not_after", &self.certificate_not_after)
            .finish()
    }
}

impl Manifests {
    /// Multi-document YAML, each document preceded by `---`.
    pub fn to_yaml(&self) -> Result<String, ManifestError> {
        let mut out = String::new();
        for doc in &self.documents {
            out.push_str("---\n");
            out.push_str(
                &serde_yaml::to_string(doc).map_err(|source| ManifestError::Yaml { source })?,
            );
        }
        Ok(out)
    }
}

/// Builds every document for `options` (validated first).
pub fn build(options: &ManifestOptions) -> Result<Manifests, ManifestError> {
    build_at(options, OffsetDateTime::now_utc())
}

/// [`build`] with an explicit clock, for certificate validity.
pub fn build_at(
    options: &ManifestOptions,
    now: OffsetDateTime,
) -> Result<Manifests, ManifestError> {
    options.validate()?;
    let o = options;
    let mut docs: Vec<Value> = Vec::new();
    let mut push = |v: Result<Value, serde_json::Error>| -> Result<(), ManifestError> {
        docs.push(v.map_err(|source| ManifestError::Serialize { source })?);
        Ok(())
    };
    if o.create_namespace {
        push(serde_json::to_value(objects::namespace(o)))?;
    }
    push(serde_json::to_value(objects::service_account(o)))?;
    push(serde_json::to_value(objects::cluster_role(o)))?;
    push(serde_json::to_value(objects::cluster_role_binding(o)))?;
    if o.serve.watch_config_map {
        push(serde_json::to_value(objects::config_map_role(o)))?;
        push(serde_json::to_value(objects::config_map_role_binding(o)))?;
    }
    let (ca_bundle, not_after) = match o.cert_mode {
        CertMode::SelfSigned { validity_days } => {
            let cert = certs::make(&o.name, &o.namespace, validity_days, now)?;
            push(serde_json::to_value(objects::tls_secret(o, &cert)))?;
            let mut bundle = cert.ca_pem.clone();
            if let Some(extra) = &o.extra_ca_bundle {
                // Validated above.
                bundle.push_str(&normalize_ca_bundle(extra).unwrap_or_default());
            }
            (Some(bundle), Some(cert.not_after))
        }
        CertMode::CertManager => {
            for doc in cert_manager::objects(o) {
                push(Ok(doc))?;
            }
            (None, None)
        }
    };
    push(serde_json::to_value(objects::service(o)))?;
    push(serde_json::to_value(objects::deployment(o)))?;
    if o.replicas >= 2 {
        push(serde_json::to_value(objects::pod_disruption_budget(o)))?;
    }
    push(serde_json::to_value(
        objects::mutating_webhook_configuration(o, ca_bundle.as_deref()),
    ))?;
    Ok(Manifests {
        documents: docs,
        certificate_not_after: not_after,
    })
}

/// Renders every document for `options` as multi-document YAML.
pub fn render(options: &ManifestOptions) -> Result<String, ManifestError> {
    build(options)?.to_yaml()
}

/// The name of the TLS Secret the Deployment mounts.
pub fn tls_secret_name(options: &ManifestOptions) -> String {
    format!("{}-cert", options.name)
}

/// Re-encodes a PEM bundle that holds only certificates; anything else (a private key, junk,
/// nothing at all) is refused so that it never ends up in a cluster-readable object.
fn normalize_ca_bundle(pem: &str) -> Result<String, String> {
    use base64::Engine as _;
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject as _;

    let mut labels = pem
        .lines()
        .filter_map(|l| l.trim().strip_prefix("-----BEGIN "));
    if let Some(other) = labels.find(|label| *label != "CERTIFICATE-----") {
        let label = other.trim_end_matches('-');
        return Err(format!(
            "holds a {label} block: give only CA certificates (BEGIN CERTIFICATE)"
        ));
    }
    let mut out = String::new();
    for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
        let der = cert.map_err(|e| format!("is not valid PEM: {e}"))?;
        let b64 = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
        out.push_str("-----BEGIN CERTIFICATE-----\n");
        for chunk in b64.as_bytes().chunks(64) {
            out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
            out.push('\n');
        }
        out.push_str("-----END CERTIFICATE-----\n");
    }
    if out.is_empty() {
        return Err("holds no certificate (BEGIN CERTIFICATE)".into());
    }
    Ok(out)
}

/// The shape of a Kubernetes name, checked before anything is printed.
#[derive(Clone, Copy)]
enum NameRule {
    /// A namespace: DNS-1123 label, at most 63 characters.
    Namespace,
    /// The objects' name: a DNS-1035 label (a Service name must start with a letter), at most
    /// 52 characters to leave room for suffixes such as `-selfsigned` and `-configmap`.
    ObjectName,
    /// A PriorityClass name: a DNS-1123 subdomain, at most 253 characters.
    Subdomain,
}

fn check_dns_label(field: &'static str, value: &str, rule: NameRule) -> Result<(), ManifestError> {
    let (max, dots, alpha_first, what) = match rule {
        NameRule::Namespace => (
            63,
            false,
            false,
            "1-63 lowercase letters, digits or '-', starting with a letter or digit",
        ),
        NameRule::ObjectName => (
            52,
            false,
            true,
            "1-52 lowercase letters, digits or '-', starting with a letter",
        ),
        NameRule::Subdomain => (
            253,
            true,
            false,
            "1-253 lowercase letters, digits, '-' or '.', starting with a letter or digit",
        ),
    };
    let ok = value.len() <= max
        && (dots || !value.contains('.'))
        && value.split('.').all(|label| {
            let first_ok = label
                .bytes()
                .next()
                .is_some_and(|b| b.is_ascii_lowercase() || (!alpha_first && b.is_ascii_digit()));
            first_ok
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        });
    if ok {
        Ok(())
    } else {
        Err(ManifestError::Invalid {
            field,
            reason: format!("{value:?} must be {what}, and not end with '-'"),
        })
    }
}

#[cfg(test)]
mod tests;
