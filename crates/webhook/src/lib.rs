//! The pod identity webhook shell: admission HTTPS server, ServiceAccount cache,
//! TLS reload, metrics, and install manifests. The mutation itself is `irsa-mutate`.
//!
//! Layout: [`admission`] (wire format), [`cache`] (ServiceAccount store and miss path),
//! [`kube_sync`] (kube-rs watchers feeding the cache, ConfigMap mappings), [`associations`]
//! (the container-credentials file), [`tls`] and [`files`] (hot-reloaded files),
//! [`metrics`], [`mutation`] (glue to `irsa-mutate`), `scan` (the fast decode of only the pod
//! fields the mutation reads), [`server`] (HTTP wiring and graceful
//! shutdown), [`runner`] (the whole process, as `irsa webhook serve` runs it) and [`testing`]
//! (a fake Kubernetes API, a test CA and a tiny HTTPS client for tests and benchmarks).

pub mod admission;
pub mod associations;
pub mod cache;
pub mod files;
pub mod kube_sync;
pub mod manifests;
pub mod metrics;
pub mod mutation;
pub mod runner;
pub(crate) mod scan;
pub mod server;
pub mod testing;
pub mod tls;
