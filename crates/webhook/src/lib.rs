//! The pod identity webhook shell: admission HTTPS server, ServiceAccount cache,
//! TLS reload, metrics, and install manifests. The mutation itself is `irsa-mutate`.

pub mod manifests;
