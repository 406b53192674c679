//! An HTTP(S) server for a publication folder.
//!
//! It serves exactly two files, the discovery document and the JWKS that document names, and
//! nothing else: request paths are compared as raw strings with that allow-list, never
//! mapped onto the file system, so `..`, `%2e%2e`, symlink tricks and the like all get 404.
//! Files are read on every request, so `irsa issuer rotate` takes effect immediately.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::service::service_fn;
use hyper::{Method, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use crate::documents::{DISCOVERY_CONTENT_TYPE, Discovery, JWKS_CONTENT_TYPE, JwkSet};
use crate::publish::read_document;
use crate::url::{DISCOVERY_PATH, IssuerPolicy};

/// `Cache-Control` of both documents, as kube-apiserver sends it.
pub const CACHE_CONTROL: &str = "public, max-age=3600";

/// Time a client gets to finish the TLS handshake or send its request headers.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Time in-flight connections get to finish after shutdown was asked for.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Certificate and key files for HTTPS.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// PEM certificate chain, leaf first.
    pub cert: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// What to serve, where.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The publication folder (as written by `irsa issuer init`).
    pub dir: PathBuf,
    /// Address to listen on; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Serve HTTPS with these files instead of plain HTTP.
    pub tls: Option<TlsFiles>,
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The folder does not exist.
    #[error("{0} is not a directory; create it with `irsa issuer init --out DIR`")]
    NotADirectory(PathBuf),
    /// Binding failed.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// A TLS file is unusable.
    #[error("cannot use {path} for TLS: {reason}")]
    Tls {
        /// The file.
        path: PathBuf,
        /// What is wrong (no secret material).
        reason: String,
    },
}

/// Asks a running server to stop; cheap to clone.
#[derive(Debug, Clone)]
pub struct ShutdownHandle(Arc<watch::Sender<bool>>);

impl ShutdownHandle {
    /// Stops accepting connections and lets in-flight requests finish.
    pub fn shutdown(&self) {
        self.0.send_replace(true);
    }
}

/// A server running on the Tokio runtime it was started on.
#[derive(Debug)]
pub struct Server {
    local_addr: SocketAddr,
    tls: bool,
    shutdown: ShutdownHandle,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    /// Binds `options.listen` and starts serving in a background task.
    pub async fn start(options: ServeOptions) -> Result<Self, ServeError> {
        if !options.dir.is_dir() {
            return Err(ServeError::NotADirectory(options.dir));
        }
        let acceptor = match &options.tls {
            Some(files) => Some(tls_acceptor(files)?),
            None => None,
        };
        let listener =
            TcpListener::bind(options.listen)
                .await
                .map_err(|source| ServeError::Bind {
                    addr: options.listen,
                    source,
                })?;
        let local_addr = listener.local_addr().map_err(|source| ServeError::Bind {
            addr: options.listen,
            source,
        })?;
        let (tx, rx) = watch::channel(false);
        let tls = acceptor.is_some();
        let dir = Arc::new(options.dir);
        let task = tokio::spawn(accept_loop(listener, acceptor, dir, rx));
        Ok(Self {
            local_addr,
            tls,
            shutdown: ShutdownHandle(Arc::new(tx)),
            task,
        })
    }

    /// The bound address (with the real port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `http://ADDR` or `https://ADDR`.
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.local_addr)
    }

    /// A handle that stops the server.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        self.shutdown.clone()
    }

    /// Waits until the server has stopped (after a shutdown was asked for).
    pub async fn wait(self) {
        let _ = self.task.await;
    }

    /// Stops the server and waits for in-flight requests (at most 10 s).
    pub async fn shutdown(self) {
        self.shutdown.shutdown();
        self.wait().await;
    }
}

fn tls_acceptor(files: &TlsFiles) -> Result<TlsAcceptor, ServeError> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};

    let tls_err = |path: &Path, reason: String| ServeError::Tls {
        path: path.to_path_buf(),
        reason,
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.cert)
        .and_then(|it| it.collect::<Result<_, _>>())
        .map_err(|e| tls_err(&files.cert, format!("not a PEM certificate chain ({e})")))?;
    if certs.is_empty() {
        return Err(tls_err(&files.cert, "no CERTIFICATE block found".into()));
    }
    // The error of the PEM parser never includes key material.
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .map_err(|e| tls_err(&files.key, format!("not a PEM private key ({e})")))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_err(&files.cert, e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| tls_err(&files.key, format!("does not fit the certificate ({e})")))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: Option<TlsAcceptor>,
    dir: Arc<PathBuf>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    loop {
        while connections.try_join_next().is_some() {}
        let (stream, peer) = tokio::select! {
            _ = shutdown.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(err) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let dir = dir.clone();
        let rx = shutdown.clone();
        match acceptor.clone() {
            None => {
                connections.spawn(serve_connection(stream, dir, rx));
            }
            Some(acceptor) => {
                connections.spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => serve_connection(tls, dir, rx).await,
                        Ok(Err(err)) => {
                            tracing::debug!(%peer, error = %err, "TLS handshake failed")
                        }
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        }
    }
    drop(listener);
    let drain = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(DRAIN_TIMEOUT, drain).await.is_err() {
        connections.abort_all();
    }
}

async fn serve_connection<I>(io: I, dir: Arc<PathBuf>, mut shutdown: watch::Receiver<bool>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HANDSHAKE_TIMEOUT);
    let service = service_fn(move |req| {
        let dir = dir.clone();
        async move { Ok::<_, Infallible>(respond(&dir, req.method(), req.uri().path(), req.headers())) }
    });
    let conn = builder.serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);
    tokio::select! {
        result = conn.as_mut() => {
            if let Err(err) = result {
                tracing::debug!(error = %err, "connection ended with an error");
            }
        }
        _ = shutdown.changed() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

/// Answers one request from the folder `dir`. Public for benchmarks and in-process tests.
pub fn respond(
    dir: &Path,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
) -> Response<Full<Bytes>> {
    let response = route(dir, method, path, headers);
    tracing::debug!(%method, path, status = response.status().as_u16(), "request");
    response
}

fn route(dir: &Path, method: &Method, path: &str, headers: &HeaderMap) -> Response<Full<Bytes>> {
    let head = *method == Method::HEAD;
    if !head && *method != Method::GET {
        let mut r = plain(
            StatusCode::METHOD_NOT_ALLOWED,
            "405 method not allowed: use GET or HEAD\n",
        );
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    // The discovery document defines what exists; without it nothing is served.
    let discovery_file = dir.join(DISCOVERY_PATH);
    let Ok(discovery_bytes) = read_document(&discovery_file) else {
        return not_found();
    };
    let discovery = match Discovery::from_json(&discovery_bytes, IssuerPolicy::AllowInsecureHttp) {
        Ok(d) => d,
        Err(err) => {
            tracing::error!(file = %discovery_file.display(), error = %err, "unusable discovery document");
            return server_error();
        }
    };
    let prefix = discovery.issuer().path().trim_end_matches('/');
    let matches = |relative: &str| {
        path.strip_prefix('/') == Some(relative)
            || (!prefix.is_empty()
                && path.strip_prefix(prefix).and_then(|p| p.strip_prefix('/')) == Some(relative))
    };
    let (body, content_type) = if matches(DISCOVERY_PATH) {
        (discovery_bytes, DISCOVERY_CONTENT_TYPE)
    } else if matches(discovery.jwks_path()) {
        let jwks_file = dir.join(discovery.jwks_path());
        let Ok(bytes) = read_document(&jwks_file) else {
            tracing::error!(file = %jwks_file.display(), "the JWKS named by the discovery document is missing");
            return server_error();
        };
        // Never serve something that is not a public JWKS (e.g. a private JWK put there by hand).
        if let Err(err) = JwkSet::from_json(&bytes) {
            tracing::error!(file = %jwks_file.display(), error = %err, "refusing to serve an unusable JWKS");
            return server_error();
        }
        (bytes, JWKS_CONTENT_TYPE)
    } else {
        return not_found();
    };
    let etag = etag_of(&body);
    let not_modified = headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .any(|v| if_none_match_hits(v.as_bytes(), &etag));
    let mut builder = Response::builder()
        .header(header::CACHE_CONTROL, CACHE_CONTROL)
        .header(header::ETAG, &etag)
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    if not_modified {
        builder = builder.status(StatusCode::NOT_MODIFIED);
        return builder
            .body(Full::default())
            .unwrap_or_else(|_| server_error());
    }
    builder = builder
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, content_type)
        .header(header::CONTENT_LENGTH, body.len());
    let body = if head {
        Full::default()
    } else {
        Full::new(Bytes::from(body))
    };
    builder.body(body).unwrap_or_else(|_| server_error())
}

/// A strong entity tag: the first 128 bits of the body's SHA-256, in hex.
pub fn etag_of(body: &[u8]) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, body);
    let hex: String = digest.as_ref()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("\"{hex}\"")
}

/// `If-None-Match` uses the weak comparison (RFC 9110, 13.1.2): `W/"x"` matches `"x"`.
fn if_none_match_hits(value: &[u8], etag: &str) -> bool {
    let Ok(value) = std::str::from_utf8(value) else {
        return false;
    };
    value.split(',').map(str::trim).any(|candidate| {
        candidate == "*" || candidate.strip_prefix("W/").unwrap_or(candidate) == etag
    })
}

fn plain(status: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

fn not_found() -> Response<Full<Bytes>> {
    plain(StatusCode::NOT_FOUND, "404 not found\n")
}

fn server_error() -> Response<Full<Bytes>> {
    plain(
        StatusCode::INTERNAL_SERVER_ERROR,
        "500 the published documents are unusable; see the server log\n",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_are_strong_and_stable() {
        let a = etag_of(b"{}");
        assert_eq!(a, etag_of(b"{}"));
        assert_ne!(a, etag_of(b"{ }"));
        assert!(a.starts_with('"') && a.ends_with('"') && a.len() == 34);
    }

    #[test]
    fn if_none_match_lists_and_weak_tags() {
        let tag = "\"abc\"";
        assert!(if_none_match_hits(b"\"abc\"", tag));
        assert!(if_none_match_hits(b"\"x\", W/\"abc\"", tag));
        assert!(if_none_match_hits(b"*", tag));
        assert!(!if_none_match_hits(b"\"abcd\"", tag));
        assert!(!if_none_match_hits(b"abc", tag));
        assert!(!if_none_match_hits(b"\xff", tag));
    }
}
