//! Feeds the [`Cache`] from the Kubernetes API with kube-rs watchers, and does the direct
//! ServiceAccount lookup on a cache miss.

use std::path::Path;
use std::sync::Arc;

use futures::StreamExt as _;
use k8s_openapi::api::core::v1::{ConfigMap, ServiceAccount};
use kube::runtime::{WatchStreamExt as _, watcher};
use kube::{Api, Client};

use crate::cache::{Cache, Fetched, Fetcher};
use irsa_mutate::ConfigMapMappings;

/// Name of the watched ConfigMap (fixed upstream).
pub const CONFIG_MAP_NAME: &str = "pod-identity-webhook";

/// Errors building the Kubernetes client.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The kubeconfig file could not be read.
    #[error("cannot read kubeconfig {path}: check --kubeconfig")]
    Kubeconfig {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: kube::config::KubeconfigError,
    },
    /// `--kube-api` is not a URL.
    #[error("invalid --kube-api {url:?}: expected a URL such as https://10.0.0.1:6443")]
    Url {
        /// The value.
        url: String,
        /// Why.
        #[source]
        source: http::uri::InvalidUri,
    },
    /// No flags and no in-cluster environment.
    #[error("no Kubernetes API configuration: pass --kubeconfig or --kube-api, or run in a pod")]
    Infer(#[source] kube::config::InferConfigError),
    /// The client could not be built from the configuration.
    #[error("cannot build the Kubernetes client")]
    Build(#[source] kube::Error),
}

/// Builds a client like upstream's `clientcmd.BuildConfigFromFlags(kube_api, kubeconfig)`:
/// the kubeconfig file when given (with `kube_api` overriding its server), else `kube_api`
/// alone, else the in-cluster (or `KUBECONFIG`) configuration.
pub async fn client(kubeconfig: &str, kube_api: &str) -> Result<Client, ClientError> {
    let url = if kube_api.is_empty() {
        None
    } else {
        Some(
            kube_api
                .parse::<http::Uri>()
                .map_err(|source| ClientError::Url {
                    url: kube_api.to_owned(),
                    source,
                })?,
        )
    };
    let config = if !kubeconfig.is_empty() {
        let kc = kube::config::Kubeconfig::read_from(Path::new(kubeconfig)).map_err(|source| {
            ClientError::Kubeconfig {
                path: kubeconfig.to_owned(),
                source,
            }
        })?;
        let mut config =
            kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
                .await
                .map_err(|source| ClientError::Kubeconfig {
                    path: kubeconfig.to_owned(),
                    source,
                })?;
        if let Some(url) = url {
            config.cluster_url = url;
        }
        config
    } else if let Some(url) = url {
        kube::Config::new(url)
    } else {
        kube::Config::infer().await.map_err(ClientError::Infer)?
    };
    Client::try_from(config).map_err(ClientError::Build)
}

/// A [`Fetcher`] doing `GET /api/v1/namespaces/NS/serviceaccounts/NAME`.
pub fn fetcher(client: Client) -> Fetcher {
    Arc::new(move |namespace: String, name: String| {
        let api: Api<ServiceAccount> = Api::namespaced(client.clone(), &namespace);
        Box::pin(async move {
            match api.get_opt(&name).await {
                Ok(Some(sa)) => Fetched::Found(sa.metadata.annotations.unwrap_or_default()),
                Ok(None) => Fetched::NotFound,
                Err(err) => Fetched::Failed(err.to_string()),
            }
        })
    })
}

/// Watches every ServiceAccount in every namespace (as upstream) into `cache`, forever,
/// retrying with kube's default backoff. Objects are reduced to the prefix annotations before
/// they are kept.
pub async fn run_service_accounts(client: Client, cache: Arc<Cache>) {
    let config = watcher::Config::default();
    let api: Api<ServiceAccount> = Api::all(client);
    let mut stream = watcher(api, config).default_backoff().boxed();
    while let Some(event) = stream.next().await {
        match event {
            Ok(watcher::Event::Init) => cache.init_start(),
            Ok(watcher::Event::InitApply(sa) | watcher::Event::Apply(sa)) => {
                let meta = sa.metadata;
                if let (Some(ns), Some(name)) = (meta.namespace, meta.name) {
                    cache.apply(&ns, &name, &meta.annotations.unwrap_or_default());
                }
            }
            Ok(watcher::Event::Delete(sa)) => {
                if let (Some(ns), Some(name)) = (sa.metadata.namespace, sa.metadata.name) {
                    cache.delete(&ns, &name);
                }
            }
            Ok(watcher::Event::InitDone) => {
                tracing::info!(
                    service_accounts = cache.len(),
                    "ServiceAccount cache synced"
                );
                cache.init_done();
            }
            Err(err) => tracing::warn!(error = %err, "ServiceAccount watch failed; retrying"),
        }
    }
}

/// Watches ConfigMap `pod-identity-webhook` in `namespace` (`--watch-config-map`). Unlike
/// upstream, deleting it (or its `config` key) clears the mappings.
pub async fn run_config_map(client: Client, namespace: String, cache: Arc<Cache>) {
    let api: Api<ConfigMap> = Api::namespaced(client, &namespace);
    let config = watcher::Config::default().fields(&format!("metadata.name={CONFIG_MAP_NAME}"));
    let mut stream = watcher(api, config).default_backoff().boxed();
    let mut seen_in_init = false;
    while let Some(event) = stream.next().await {
        match event {
            Ok(watcher::Event::Init) => seen_in_init = false,
            Ok(watcher::Event::InitApply(cm) | watcher::Event::Apply(cm)) => {
                seen_in_init = true;
                apply_config_map(&cache, &cm);
            }
            Ok(watcher::Event::Delete(_)) => {
                tracing::info!(
                    namespace,
                    "ConfigMap {CONFIG_MAP_NAME} deleted; mappings cleared"
                );
                cache.set_mappings(ConfigMapMappings::default());
            }
            Ok(watcher::Event::InitDone) => {
                if !seen_in_init {
                    cache.set_mappings(ConfigMapMappings::default());
                }
            }
            Err(err) => tracing::warn!(error = %err, "ConfigMap watch failed; retrying"),
        }
    }
}

fn apply_config_map(cache: &Cache, cm: &ConfigMap) {
    let config = cm.data.as_ref().and_then(|d| d.get("config"));
    let parsed = match config {
        None => Ok(ConfigMapMappings::default()),
        Some(c) if c.trim().is_empty() => Ok(ConfigMapMappings::default()),
        Some(c) => ConfigMapMappings::parse(c),
    };
    match parsed {
        Ok(mappings) => {
            tracing::info!(
                mappings = mappings.len(),
                "ConfigMap {CONFIG_MAP_NAME} loaded"
            );
            cache.set_mappings(mappings);
        }
        Err(err) => {
            tracing::warn!(error = %err, "ignoring ConfigMap {CONFIG_MAP_NAME}; keeping the previous mappings");
            // A bad ConfigMap must not keep the webhook unready forever.
            if !cache.mappings_synced() {
                cache.set_mappings(ConfigMapMappings::default());
            }
        }
    }
}
