//! The HTTPS admission server (`/mutate`, `/healthz`, `/readyz`) and the plain-HTTP metrics
//! server (`/metrics`), with graceful shutdown.
//!
//! Start with [`start`], which binds both listeners (port 0 works: the bound addresses are
//! returned) and returns a [`Running`] handle. [`Running::shutdown`] stops accepting, lets
//! in-flight requests finish (up to the configured timeout), then returns.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt as _, Full, LengthLimitError, Limited};
use hyper::body::{Bytes, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use crate::admission;
use crate::associations::AssociationFile;
use crate::cache::{Cache, Found};
use crate::metrics::Metrics;
use crate::mutation;

/// Default bound of a `/mutate` body: the API server's own request limit (3 MiB), so any pod
/// it accepted fits.
pub const DEFAULT_MAX_BODY: usize = 3 * 1024 * 1024;

/// Everything the handlers share.
pub struct App {
    /// The ServiceAccount cache.
    pub cache: Arc<Cache>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// The mutation settings (the mutation flags).
    pub config: irsa_mutate::Config,
    /// The container-credentials association file, when configured.
    pub associations: Option<Arc<AssociationFile>>,
    /// Bound of a `/mutate` body in bytes.
    pub max_body: usize,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("cache", &self.cache)
            .field("max_body", &self.max_body)
            .finish_non_exhaustive()
    }
}

/// Where and how to serve.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// HTTPS listen address (`--port`).
    pub https: SocketAddr,
    /// Plain-HTTP metrics listen address (`--metrics-port`).
    pub metrics: SocketAddr,
    /// TLS settings, with the (reloading) certificate resolver inside.
    pub tls: Arc<rustls::ServerConfig>,
    /// How long in-flight requests get to finish on shutdown (upstream: 10 s).
    pub shutdown_timeout: Duration,
}

/// A running server.
#[derive(Debug)]
pub struct Running {
    /// Bound HTTPS address.
    pub https_addr: SocketAddr,
    /// Bound metrics address.
    pub metrics_addr: SocketAddr,
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Running {
    /// Stops accepting, waits for in-flight requests (bounded by the shutdown timeout), and
    /// returns when both servers are down.
    pub async fn shutdown(self) {
        self.stop.send_replace(true);
        for t in self.tasks {
            let _ = t.await;
        }
    }

    /// A handle that triggers the shutdown from elsewhere (e.g. a signal task).
    pub fn stopper(&self) -> watch::Sender<bool> {
        self.stop.clone()
    }

    /// Waits until the servers stopped (after a shutdown was triggered through a stopper).
    pub async fn wait(self) {
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

/// Errors starting the server.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A listener could not be bound.
    #[error(
        "cannot listen on {addr}: is the port in use, or privileged (use a port ≥ 1024 as non-root)?"
    )]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// The HTTPS service: `/mutate`, `/healthz`, `/readyz`.
///
/// A plain hyper service rather than an axum `Router`: three fixed paths need no router, and
/// routing, matched-path and extension bookkeeping were a measurable share of a request.
/// The answers are axum's for the same routes (404 with an empty body for other paths; 405
/// with `Allow: GET,HEAD` for other methods on the probes; text bodies as
/// `text/plain; charset=utf-8`).
pub fn admission_service(
    app: Arc<App>,
) -> impl hyper::service::Service<
    Request<Incoming>,
    Response = Response<Full<Bytes>>,
    Error = Infallible,
    Future = impl Future<Output = Result<Response<Full<Bytes>>, Infallible>> + Send,
> + Clone
+ Send
+ 'static {
    let service = move |request: Request<Incoming>| {
        let app = Arc::clone(&app);
        async move { Ok::<_, Infallible>(route(&app, request).await) }
    };
    hyper::service::service_fn(service)
}

async fn route(app: &App, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let probe = |ok: bool, body: &'static str, unready: &'static str| {
        if !matches!(*request.method(), Method::GET | Method::HEAD) {
            let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "");
            r.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET,HEAD"));
            return r;
        }
        let mut r = if ok {
            text(StatusCode::OK, body)
        } else {
            text(StatusCode::SERVICE_UNAVAILABLE, unready)
        };
        if request.method() == Method::HEAD {
            *r.body_mut() = Full::default();
        }
        r
    };
    match request.uri().path() {
        "/mutate" => mutate(app, request).await,
        "/healthz" => probe(true, "ok", ""),
        "/readyz" => probe(
            app.cache.is_ready(),
            "ok",
            "ServiceAccount cache not synced yet\n",
        ),
        _ => {
            let mut r = Response::new(Full::default());
            *r.status_mut() = StatusCode::NOT_FOUND;
            r
        }
    }
}

/// A response with a text body.
fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// The metrics router: `/metrics`.
pub fn metrics_router(metrics: Arc<Metrics>) -> Router {
    Router::new().route(
        "/metrics",
        get(move || {
            let metrics = Arc::clone(&metrics);
            async move {
                (
                    [(
                        header::CONTENT_TYPE,
                        "text/plain; version=0.0.4; charset=utf-8",
                    )],
                    metrics.render(),
                )
            }
        }),
    )
}

/// Binds both listeners and starts serving.
pub async fn start(config: ServeConfig, app: Arc<App>) -> Result<Running, StartError> {
    let bind = |addr: SocketAddr| async move {
        TcpListener::bind(addr)
            .await
            .map_err(|source| StartError::Bind { addr, source })
    };
    let https = bind(config.https).await?;
    let metrics = bind(config.metrics).await?;
    let https_addr = https.local_addr().map_err(|source| StartError::Bind {
        addr: config.https,
        source,
    })?;
    let metrics_addr = metrics.local_addr().map_err(|source| StartError::Bind {
        addr: config.metrics,
        source,
    })?;
    let (stop, _) = watch::channel(false);
    let tls = TlsAcceptor::from(Arc::clone(&config.tls));
    let tasks = vec![
        tokio::spawn(serve(
            https,
            Some(tls),
            admission_service(Arc::clone(&app)),
            stop.subscribe(),
            config.shutdown_timeout,
        )),
        tokio::spawn(serve(
            metrics,
            None,
            TowerToHyperService::new(metrics_router(Arc::clone(&app.metrics))),
            stop.subscribe(),
            config.shutdown_timeout,
        )),
    ];
    tracing::info!(%https_addr, %metrics_addr, "webhook listening");
    Ok(Running {
        https_addr,
        metrics_addr,
        stop,
        tasks,
    })
}

async fn serve<S, B>(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    service: S,
    mut stop: watch::Receiver<bool>,
    shutdown_timeout: Duration,
) where
    S: hyper::service::Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let graceful = GracefulShutdown::new();
    let builder = auto::Builder::new(TokioExecutor::new());
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.wait_for(|v| *v) => break,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(err) => {
                // EMFILE and friends: back off instead of spinning.
                tracing::warn!(error = %err, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let service = service.clone();
        let builder = builder.clone();
        let watcher = graceful.watcher();
        let tls = tls.clone();
        tokio::spawn(async move {
            match tls {
                Some(acceptor) => {
                    let handshake =
                        tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream))
                            .await;
                    let stream = match handshake {
                        Ok(Ok(s)) => s,
                        Ok(Err(err)) => {
                            tracing::debug!(%peer, error = %err, "TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!(%peer, "TLS handshake timed out");
                            return;
                        }
                    };
                    let conn = builder.serve_connection(TokioIo::new(stream), service);
                    if let Err(err) = watcher.watch(conn.into_owned()).await {
                        tracing::debug!(%peer, error = %err, "connection error");
                    }
                }
                None => {
                    let conn = builder.serve_connection(TokioIo::new(stream), service);
                    if let Err(err) = watcher.watch(conn.into_owned()).await {
                        tracing::debug!(%peer, error = %err, "connection error");
                    }
                }
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(shutdown_timeout, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::error!("in-flight requests did not finish within {shutdown_timeout:?}; closing");
    }
}

async fn mutate(app: &App, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let started = Instant::now();
    let method = request.method().clone();
    let response = handle_mutate(app, request).await;
    app.metrics.observe_request(
        method.as_str(),
        "/mutate",
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

fn is_json(headers: &HeaderMap) -> bool {
    // The media type is what precedes any `;` parameters (`; charset=utf-8`).
    headers.get(header::CONTENT_TYPE).is_some_and(|v| {
        let v = v.as_bytes();
        let media = v.iter().position(|&b| b == b';').map_or(v, |end| &v[..end]);
        media.trim_ascii().eq_ignore_ascii_case(b"application/json")
    })
}

fn json_response(body: Vec<u8>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

async fn handle_mutate(app: &App, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let (parts, body) = request.into_parts();
    let headers = &parts.headers;
    if !is_json(headers) {
        return text(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Invalid Content-Type, expected `application/json`\n",
        );
    }
    let too_large = || {
        text(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body larger than {} bytes\n", app.max_body),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > app.max_body) {
        return too_large();
    }
    let bytes: Bytes = match Limited::new(body, app.max_body).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(err) if err.downcast_ref::<LengthLimitError>().is_some() => return too_large(),
        Err(err) => {
            tracing::debug!(error = %err, "cannot read /mutate body");
            return text(StatusCode::BAD_REQUEST, "cannot read request body\n");
        }
    };
    let request = match admission::decode(&bytes) {
        Ok(r) => r,
        Err(rejection) => {
            tracing::info!(message = %rejection.message, "rejecting malformed AdmissionReview");
            return json_response(admission::reject(&rejection));
        }
    };
    let sa_name = request.service_account_name();
    let associations = app
        .associations
        .as_ref()
        .map(|a| a.current())
        .unwrap_or_default();
    // Container-credentials mode never waits for the cache (as upstream).
    let found = if associations.contains(&request.namespace, sa_name) {
        match app.cache.cached(&request.namespace, sa_name) {
            Some(a) => Found::ServiceAccount(a),
            None => Found::Missing,
        }
    } else {
        app.cache.lookup(&request.namespace, sa_name).await
    };
    let mappings = app.cache.mappings();
    match mutation::admit_json(&app.config, &request, &found, &mappings, &associations) {
        Ok(outcome) => {
            if let Some(method) = outcome.method {
                app.metrics.pod_mutated(method);
            }
            tracing::debug!(
                namespace = %request.namespace,
                service_account = %sa_name,
                mutated = outcome.patch.is_some(),
                "admission reviewed"
            );
            json_response(admission::allow_json(
                &request.envelope,
                &request.uid,
                outcome.patch.as_deref(),
                &outcome.warnings,
            ))
        }
        Err(message) => {
            tracing::warn!(namespace = %request.namespace, service_account = %sa_name, %message, "mutation failed");
            json_response(admission::reject(&admission::Rejection {
                envelope: request.envelope,
                uid: request.uid.into_owned(),
                message,
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_the_media_type_before_any_parameters() {
        let with = |value: &[u8]| {
            let mut h = HeaderMap::new();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_bytes(value).unwrap(),
            );
            is_json(&h)
        };
        assert!(with(b"application/json"));
        assert!(with(b"Application/JSON; charset=utf-8"));
        assert!(with(b" application/json ;x=1"));
        assert!(with(b"application/json;"));
        assert!(!with(b"application/jsonx"));
        assert!(!with(b"application/json-patch+json"));
        assert!(!with(b"text/plain; application/json"));
        assert!(!with(b"application/\xe9json"));
        assert!(!with(b""));
        assert!(!is_json(&HeaderMap::new()));
    }
}
