//! The whole webhook process, assembled: TLS files with reload, the association file, the
//! Kubernetes client and watches, and the servers. `irsa webhook serve` is a thin shell over
//! [`start`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::associations::AssociationFile;
use crate::cache::{Cache, MissPolicy};
use crate::kube_sync;
use crate::metrics::Metrics;
use crate::server::{self, App, Running, ServeConfig};
use crate::tls::{ReloadingCert, TlsSettings};

/// Everything the webhook process needs (the `serve` flags, parsed).
#[derive(Debug, Clone)]
pub struct Settings {
    /// HTTPS listen address.
    pub https: SocketAddr,
    /// Metrics listen address.
    pub metrics: SocketAddr,
    /// `--tls-cert`.
    pub tls_cert: PathBuf,
    /// `--tls-key`.
    pub tls_key: PathBuf,
    /// `--tls-min-version` and `--tls-cipher-suites`.
    pub tls: TlsSettings,
    /// `--kubeconfig` (empty: none).
    pub kubeconfig: String,
    /// `--kube-api` (empty: none).
    pub kube_api: String,
    /// `--namespace`: where the ConfigMap is watched.
    pub namespace: String,
    /// `--watch-config-map`.
    pub watch_config_map: bool,
    /// Cache-miss behaviour.
    pub miss: MissPolicy,
    /// The mutation flags.
    pub config: irsa_mutate::Config,
    /// `--watch-container-credentials-config`.
    pub associations: Option<PathBuf>,
    /// Bound of a `/mutate` body.
    pub max_body: usize,
    /// Time given to in-flight requests on shutdown.
    pub shutdown_timeout: Duration,
    /// How often the TLS and association files are checked for changes.
    pub reload_interval: Duration,
}

/// Errors starting the webhook.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// TLS files or settings.
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    /// The association file.
    #[error("cannot load --watch-container-credentials-config")]
    Associations(#[source] std::io::Error),
    /// The Kubernetes client.
    #[error(transparent)]
    Client(#[from] kube_sync::ClientError),
    /// Listening.
    #[error(transparent)]
    Start(#[from] server::StartError),
}

/// A started webhook.
#[derive(Debug)]
pub struct Webhook {
    running: Running,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// The ServiceAccount cache (for readiness checks).
    pub cache: Arc<Cache>,
}

impl Webhook {
    /// Bound HTTPS address.
    pub fn https_addr(&self) -> SocketAddr {
        self.running.https_addr
    }

    /// Bound metrics address.
    pub fn metrics_addr(&self) -> SocketAddr {
        self.running.metrics_addr
    }

    /// A sender that triggers the graceful shutdown when `true` is sent.
    pub fn stopper(&self) -> tokio::sync::watch::Sender<bool> {
        self.running.stopper()
    }

    /// Waits for the servers to stop (after [`Webhook::stopper`] fired), then stops the
    /// watches and file watchers.
    pub async fn wait(self) {
        self.running.wait().await;
        for t in self.tasks {
            t.abort();
        }
    }
}

/// Loads the TLS pair (fatal on error, as upstream), builds the Kubernetes client, starts the
/// watches and both servers. Readiness turns on once the ServiceAccount list (and the
/// ConfigMap, when watched) has synced.
pub async fn start(settings: Settings) -> Result<Webhook, RunError> {
    let cert = Arc::new(ReloadingCert::load(&settings.tls_cert, &settings.tls_key)?);
    let tls = settings.tls.server_config(cert.clone())?;
    let mut tasks = vec![cert.watch(settings.reload_interval)];
    let associations = match &settings.associations {
        Some(path) => {
            let file = Arc::new(AssociationFile::load(path).map_err(RunError::Associations)?);
            tasks.push(file.watch(settings.reload_interval));
            Some(file)
        }
        None => None,
    };
    let client = kube_sync::client(&settings.kubeconfig, &settings.kube_api).await?;
    let metrics = Arc::new(Metrics::default());
    let cache = Arc::new(Cache::new(
        settings.config.annotation_prefix.clone(),
        settings.miss.clone(),
        Some(kube_sync::fetcher(client.clone())),
        settings.watch_config_map,
        metrics.clone(),
    ));
    tasks.push(tokio::spawn(kube_sync::run_service_accounts(
        client.clone(),
        cache.clone(),
    )));
    if settings.watch_config_map {
        tasks.push(tokio::spawn(kube_sync::run_config_map(
            client,
            settings.namespace.clone(),
            cache.clone(),
        )));
    }
    let app = Arc::new(App {
        cache: cache.clone(),
        metrics,
        config: settings.config,
        associations,
        max_body: settings.max_body,
    });
    let running = server::start(
        ServeConfig {
            https: settings.https,
            metrics: settings.metrics,
            tls: Arc::new(tls),
            shutdown_timeout: settings.shutdown_timeout,
        },
        app,
    )
    .await;
    let running = match running {
        Ok(r) => r,
        Err(e) => {
            for t in tasks {
                t.abort();
            }
            return Err(e.into());
        }
    };
    Ok(Webhook {
        running,
        tasks,
        cache,
    })
}
