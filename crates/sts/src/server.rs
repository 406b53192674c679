//! The HTTP server: STS and IAM Query APIs on one endpoint (`POST /`, `GET /?Action=..`),
//! plus `/healthz` and `/readyz`. Library-callable: [`start`] binds, serves in the
//! background and returns the bound address and a shutdown handle.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, Uri, header};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::auth::{self, Caller, CallerContext};
use crate::credentials::SessionKey;
use crate::protocol::{self, AwsError, IAM_VERSION, QueryRequest, STS_VERSION, Service};
use crate::sigv4::HttpParts;
use crate::store::{self, Store, StoreError};

/// Largest accepted request body. IAM policy documents are at most 131,072 characters;
/// URL-encoded that is under 512 KiB.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// STS actions that AWS serves without a signature.
pub const UNSIGNED_ACTIONS: &[&str] = &["AssumeRoleWithWebIdentity", "AssumeRoleWithSAML"];

/// STS actions (routed to [`crate::sts::handle`] when the request has no `Version`).
pub const STS_ACTIONS: &[&str] = &[
    "AssumeRole",
    "AssumeRoleWithSAML",
    "AssumeRoleWithWebIdentity",
    "AssumeRoot",
    "DecodeAuthorizationMessage",
    "GetAccessKeyInfo",
    "GetCallerIdentity",
    "GetFederationToken",
    "GetSessionToken",
];

/// Server settings.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The AWS account id of every ARN (`123456789012` by default).
    pub account_id: String,
    /// The region reported where one is needed (`us-east-1`).
    pub region: String,
    /// Accept `http://` OIDC provider URLs with a port (loopback tests); AWS requires https.
    pub allow_http_issuers: bool,
    /// Fixed admin credentials; when `None`, a pair is generated on first start and stored.
    pub admin: Option<AdminCredentials>,
}

impl Default for ServerConfig {
    fn default() -> ServerConfig {
        ServerConfig {
            account_id: "123456789012".to_owned(),
            region: "us-east-1".to_owned(),
            allow_http_issuers: false,
            admin: None,
        }
    }
}

/// The long-term admin key pair (account root: allowed everything).
#[derive(Clone, PartialEq, Eq)]
pub struct AdminCredentials {
    /// `AKIA...`.
    pub access_key_id: String,
    /// 40 characters. Never logged.
    pub secret_access_key: String,
}

impl std::fmt::Debug for AdminCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .finish()
    }
}

/// Errors while preparing the server.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The state database failed.
    #[error("cannot load the server secrets from the state database")]
    Store(#[from] StoreError),
    /// A stored secret has the wrong shape.
    #[error(
        "the stored {0} is invalid; restore the state file from a backup or start with a fresh one"
    )]
    BadSecret(&'static str),
    /// Binding or serving failed.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// Shared state of every request.
#[derive(Debug)]
pub struct AppState {
    /// Settings.
    pub config: ServerConfig,
    /// The state database.
    pub store: Arc<Store>,
    /// In-memory views of the state the STS actions read on every call.
    pub cache: Arc<crate::cache::StateCache>,
    /// Seals and opens session tokens.
    pub session_key: SessionKey,
    /// The admin key pair in effect.
    pub admin: AdminCredentials,
    /// Whether the admin pair was generated during this start (first start).
    pub admin_generated: bool,
    /// State of the STS actions (OIDC key cache, ...), owned by [`crate::sts`].
    pub sts: crate::sts::StsState,
    /// Request metrics served on `/metrics`.
    pub metrics: crate::metrics::Metrics,
}

impl AppState {
    /// Loads (or generates and stores) the session key and the admin key pair.
    pub fn new(config: ServerConfig, store: Arc<Store>) -> Result<AppState, ServerError> {
        let (key, _) =
            store.secret_or_insert(store::SESSION_KEY, || SessionKey::generate_bytes().to_vec())?;
        let session_key =
            SessionKey::from_slice(&key).ok_or(ServerError::BadSecret("session key"))?;
        let (admin, admin_generated) = match &config.admin {
            Some(a) => (a.clone(), false),
            None => {
                let (id, new_id) = store.secret_or_insert(store::ADMIN_ACCESS_KEY_ID, || {
                    format!("AKIA{}", store::random_base32(16)).into_bytes()
                })?;
                let (secret, _) = store.secret_or_insert(store::ADMIN_SECRET_ACCESS_KEY, || {
                    random_secret().into_bytes()
                })?;
                let access_key_id = String::from_utf8(id)
                    .map_err(|_| ServerError::BadSecret("admin access key id"))?;
                let secret_access_key = String::from_utf8(secret)
                    .map_err(|_| ServerError::BadSecret("admin secret access key"))?;
                (
                    AdminCredentials {
                        access_key_id,
                        secret_access_key,
                    },
                    new_id,
                )
            }
        };
        let sts = crate::sts::StsState::new(&config);
        let cache = Arc::new(crate::cache::StateCache::new(store.clone()));
        Ok(AppState {
            config,
            cache,
            store,
            session_key,
            admin,
            admin_generated,
            sts,
            metrics: crate::metrics::Metrics::default(),
        })
    }
}

/// A 40-character secret access key from the system RNG (`A-Za-z0-9+/`).
pub fn random_secret() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut b = [0u8; 40];
    store::random_fill(&mut b);
    b.iter()
        .map(|x| ALPHABET[(x & 63) as usize] as char)
        .collect()
}

/// A running server.
#[derive(Debug)]
pub struct RunningServer {
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl RunningServer {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR` for `AWS_ENDPOINT_URL_STS` / `AWS_ENDPOINT_URL_IAM`.
    pub fn endpoint_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting connections, lets in-flight requests finish, and waits.
    pub async fn shutdown(mut self) -> std::io::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.task
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e)))
    }

    /// Waits until the server stops (after `shutdown_signal` resolves, see [`start_with_signal`]).
    pub async fn wait(self) -> std::io::Result<()> {
        self.task
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e)))
    }
}

/// Binds `listen` (use `127.0.0.1:0` for an ephemeral port) and serves in the background.
pub async fn start(listen: SocketAddr, state: Arc<AppState>) -> Result<RunningServer, ServerError> {
    let (tx, rx) = oneshot::channel::<()>();
    let mut server = start_with_signal(listen, state, async move {
        let _ = rx.await;
    })
    .await?;
    server.shutdown = Some(tx);
    Ok(server)
}

/// Like [`start`], stopping gracefully when `signal` resolves (e.g. SIGTERM / Ctrl-C).
pub async fn start_with_signal(
    listen: SocketAddr,
    state: Arc<AppState>,
    signal: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<RunningServer, ServerError> {
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|source| ServerError::Bind {
            addr: listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| ServerError::Bind {
        addr: listen,
        source,
    })?;
    let task = tokio::spawn(serve(listener, state, signal));
    Ok(RunningServer {
        addr,
        shutdown: None,
        task,
    })
}

/// Accepts HTTP/1.1 connections until `signal` resolves, then stops accepting and lets the
/// requests in flight finish (idle keep-alive connections are closed).
async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    signal: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let graceful = GracefulShutdown::new();
    let builder = hyper::server::conn::http1::Builder::new();
    tokio::pin!(signal);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(err) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(error = %err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut signal => break,
        };
        // Responses go out at once, not held back by Nagle's algorithm behind a delayed ACK.
        let _ = tcp.set_nodelay(true);
        let state = Arc::clone(&state);
        let service = hyper::service::service_fn(move |request| {
            let state = Arc::clone(&state);
            async move { Ok::<_, Infallible>(respond(&state, request, Some(peer)).await) }
        });
        let conn = graceful.watch(builder.serve_connection(TokioIo::new(tcp), service));
        tokio::spawn(async move {
            if let Err(err) = conn.await {
                tracing::debug!(%peer, error = %err, "connection error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// Answers one request: `/healthz`, `/readyz` and `/metrics` (GET or HEAD), and the Query
/// APIs on every other path. `peer` is the client's address (`aws:SourceIp`). Public so
/// benchmarks can run the server's whole path without a socket.
pub async fn respond<B>(
    state: &Arc<AppState>,
    request: Request<B>,
    peer: Option<SocketAddr>,
) -> Response<Full<Bytes>>
where
    B: hyper::body::Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let path = request.uri().path();
    if !matches!(path, "/healthz" | "/readyz" | "/metrics") {
        return query_api(state, request, peer.map(|p| p.ip())).await;
    }
    let method = request.method();
    if method != Method::GET && method != Method::HEAD {
        let mut r = probe_reply(StatusCode::METHOD_NOT_ALLOWED, "");
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET,HEAD"));
        return r;
    }
    let mut r = match path {
        "/metrics" => {
            let mut r = probe_reply(StatusCode::OK, state.metrics.render());
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            r
        }
        "/readyz" if state.store.schema_version().is_err() => probe_reply(
            StatusCode::SERVICE_UNAVAILABLE,
            "state database unavailable\n",
        ),
        _ => probe_reply(StatusCode::OK, "ok\n"),
    };
    if method == Method::HEAD {
        *r.body_mut() = Full::default();
    }
    r
}

/// A plain-text reply of the probe and metrics paths.
fn probe_reply(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

async fn query_api<B>(
    state: &Arc<AppState>,
    request: Request<B>,
    source_ip: Option<IpAddr>,
) -> Response<Full<Bytes>>
where
    B: hyper::body::Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let started = Instant::now();
    let request_id = protocol::new_request_id();
    let (parts, body) = request.into_parts();
    let (method, uri, headers) = (parts.method, parts.uri, parts.headers);
    let (service, action, result) =
        handle_request(state, &method, &uri, &headers, body, &request_id, source_ip).await;
    let status = match &result {
        Ok(_) => 200,
        Err(e) => e.status,
    };
    let code = match &result {
        Ok(_) => "OK",
        Err(e) => e.code.as_str(),
    };
    state
        .metrics
        .record(service, &action, code, started.elapsed());
    let xml = match &result {
        Ok(inner) => protocol::success_response(service, &action, inner, &request_id),
        Err(e) => protocol::error_response(service, e, &request_id),
    };
    match &result {
        Err(e) if e.status >= 500 => {
            tracing::warn!(%request_id, %action, code = %e.code, status, "request failed")
        }
        Err(e) => {
            tracing::info!(%request_id, %action, code = %e.code, status, elapsed_us = started.elapsed().as_micros() as u64, "request refused")
        }
        Ok(_) => {
            tracing::debug!(%request_id, %action, status, elapsed_us = started.elapsed().as_micros() as u64, "request served")
        }
    }
    let mut response = Response::new(Full::new(Bytes::from(xml)));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        h.insert(REQUEST_ID_HEADER, v);
    }
    response
}

/// `x-amzn-RequestId` (header names are case-insensitive; HTTP/1.1 writes them lower-case).
const REQUEST_ID_HEADER: http::HeaderName = http::HeaderName::from_static("x-amzn-requestid");

/// Runs a handler that uses SQLite on tokio's blocking pool.
pub(crate) async fn run_blocking(
    f: impl FnOnce() -> Result<String, AwsError> + Send + 'static,
) -> Result<String, AwsError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => Err(AwsError::internal()),
    }
}

/// Decides the target service of a request from `Version` (or, without one, the action name).
pub fn route(request: &QueryRequest) -> Result<Service, AwsError> {
    match request.version.as_str() {
        STS_VERSION => Ok(Service::Sts),
        IAM_VERSION => Ok(Service::Iam),
        "" if STS_ACTIONS.contains(&request.action.as_str()) => Ok(Service::Sts),
        "" => Ok(Service::Iam),
        v => Err(AwsError::invalid_action(&request.action, v)),
    }
}

async fn handle_request<B>(
    state: &Arc<AppState>,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: B,
    request_id: &str,
    source_ip: Option<IpAddr>,
) -> (Service, String, Result<String, AwsError>)
where
    B: hyper::body::Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let now = SystemTime::now();
    let body = match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            let err = AwsError::sender(
                "RequestEntityTooLarge",
                413,
                format!("Request body must be at most {MAX_BODY_BYTES} bytes"),
            );
            return (Service::Sts, String::new(), Err(err));
        }
    };
    if *method != Method::POST && *method != Method::GET {
        let err = AwsError::sender(
            "InvalidHttpRequest",
            405,
            "The HTTP method must be POST or GET",
        );
        return (Service::Sts, String::new(), Err(err));
    }
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|ct| {
            ct.to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        });
    let form = (*method == Method::POST && is_form).then_some(&body[..]);
    let request = match QueryRequest::parse(uri.query(), form) {
        Ok(r) => r,
        Err(e) => return (Service::Sts, String::new(), Err(e)),
    };
    let service = match route(&request) {
        Ok(s) => s,
        Err(e) => return (Service::Sts, request.action.clone(), Err(e)),
    };
    let action = request.action.clone();
    let caller = if service == Service::Sts && UNSIGNED_ACTIONS.contains(&action.as_str()) {
        Caller::Anonymous
    } else {
        let parts = HttpParts {
            method: method.as_str(),
            path: uri.path(),
            query: uri.query(),
            headers,
            body: &body,
        };
        match auth::authenticate(state, service, &parts, now) {
            Ok(c) => c,
            Err(e) => return (service, action, Err(e)),
        }
    };
    let ctx = CallerContext {
        caller,
        request_id: request_id.to_owned(),
        now,
        source_ip,
    };
    let result = match service {
        Service::Sts => crate::sts::handle(state, &request, &ctx).await,
        Service::Iam => {
            // IAM reads and writes SQLite (a write waits for fsync): off the async workers.
            let state = state.clone();
            run_blocking(move || {
                auth::authorize_iam(&state, &ctx, &request)?;
                crate::iam::handle(&state, &request, &ctx)
            })
            .await
        }
    };
    (service, action, result)
}
