//! Test support: a small, faithful fake of the Kubernetes API, a test CA, and a minimal HTTPS
//! client. Used by this crate's tests, the binary's end-to-end tests and the benchmarks; the
//! `irsa` binary never calls it, so none of it is linked into it.
//!
//! No kube-apiserver can run in this environment, so the webhook's watch and lookup code is
//! exercised against this fake instead. It speaks the real wire protocol kube-rs uses, over
//! plain HTTP on loopback, for ServiceAccounts and ConfigMaps:
//!
//! - `GET /api/v1/serviceaccounts` and `/api/v1/namespaces/NS/serviceaccounts`: a list with
//!   `metadata.resourceVersion`;
//! - the same with `?watch=true&resourceVersion=N`: newline-delimited watch events (`ADDED`,
//!   `MODIFIED`, `DELETED`, `BOOKMARK`) after `N`, then live ones until `timeoutSeconds`;
//! - `GET /api/v1/namespaces/NS/serviceaccounts/NAME`: the object or a 404 `Status`;
//! - `configmaps` likewise; `fieldSelector=metadata.name=X` is honoured.
//!
//! The test drives it: [`FakeApi::put`] / [`FakeApi::delete`] change objects and emit events;
//! [`FakeApi::hold_lists`] delays list responses (to observe readiness before sync);
//! [`FakeApi::requests`] shows what the client asked.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};

/// A resource kind served by the fake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// `serviceaccounts`
    ServiceAccount,
    /// `configmaps`
    ConfigMap,
}

impl Kind {
    fn plural(self) -> &'static str {
        match self {
            Kind::ServiceAccount => "serviceaccounts",
            Kind::ConfigMap => "configmaps",
        }
    }

    fn kind(self) -> &'static str {
        match self {
            Kind::ServiceAccount => "ServiceAccount",
            Kind::ConfigMap => "ConfigMap",
        }
    }

    fn from_plural(s: &str) -> Option<Self> {
        match s {
            "serviceaccounts" => Some(Kind::ServiceAccount),
            "configmaps" => Some(Kind::ConfigMap),
            _ => None,
        }
    }
}

type Key = (Kind, String, String);

struct Watcher {
    kind: Kind,
    namespace: Option<String>,
    name: Option<String>,
    tx: mpsc::UnboundedSender<Bytes>,
}

impl Watcher {
    fn wants(&self, kind: Kind, namespace: &str, name: &str) -> bool {
        self.kind == kind
            && self.namespace.as_deref().is_none_or(|n| n == namespace)
            && self.name.as_deref().is_none_or(|n| n == name)
    }
}

#[derive(Default)]
struct Inner {
    rv: u64,
    objects: BTreeMap<Key, Value>,
    /// Every change, for watches that resume from an older resourceVersion.
    log: Vec<(u64, Key, &'static str, Value)>,
    watchers: Vec<Watcher>,
    requests: Vec<String>,
}

#[derive(Clone)]
struct Shared {
    inner: Arc<Mutex<Inner>>,
    lists_open: watch::Sender<bool>,
    stop: watch::Sender<bool>,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The running fake API server. Dropping it stops it.
pub struct FakeApi {
    addr: SocketAddr,
    shared: Shared,
}

impl std::fmt::Debug for FakeApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeApi").field("addr", &self.addr).finish()
    }
}

impl Drop for FakeApi {
    fn drop(&mut self) {
        self.shared.stop.send_replace(true);
    }
}

impl FakeApi {
    /// Starts the fake on 127.0.0.1 with an ephemeral port.
    pub async fn start() -> std::io::Result<Self> {
        Self::start_on("127.0.0.1:0".parse().map_err(std::io::Error::other)?).await
    }

    /// Starts the fake on `addr`.
    pub async fn start_on(addr: SocketAddr) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (lists_open, _) = watch::channel(true);
        let (stop, _) = watch::channel(false);
        let shared = Shared {
            inner: Arc::default(),
            lists_open,
            stop,
        };
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let mut stop_rx = shared.stop.subscribe();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stop_rx.wait_for(|v| *v).await;
                })
                .await;
        });
        Ok(Self { addr, shared })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A kube client talking to the fake.
    pub fn client(&self) -> kube::Client {
        let uri = self.url().parse().unwrap_or_default();
        kube::Client::try_from(kube::Config::new(uri)).unwrap_or_else(|e| {
            // Config::new over http cannot fail to build; keep the signature simple.
            panic!("kube client for the fake API: {e}")
        })
    }

    /// A kubeconfig file content pointing at the fake (for the binary's `--kubeconfig`).
    pub fn kubeconfig(&self) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: {}\ncontexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake\ncurrent-context: fake\nusers:\n- name: fake\n  user: {{}}\n",
            self.url()
        )
    }

    /// Creates or replaces a ServiceAccount with these annotations (ADDED or MODIFIED event).
    pub fn put_service_account(&self, namespace: &str, name: &str, annotations: &[(&str, &str)]) {
        let annotations: serde_json::Map<String, Value> = annotations
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Value::String((*v).to_owned())))
            .collect();
        self.put(
            Kind::ServiceAccount,
            json!({"metadata":{"name":name,"namespace":namespace,"annotations":annotations,
                   "uid": format!("uid-{namespace}-{name}")},
                   "secrets":[{"name": format!("{name}-token")}]}),
        );
    }

    /// Creates or replaces a ConfigMap with this `data`.
    pub fn put_config_map(&self, namespace: &str, name: &str, data: &[(&str, &str)]) {
        let data: serde_json::Map<String, Value> = data
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Value::String((*v).to_owned())))
            .collect();
        self.put(
            Kind::ConfigMap,
            json!({"metadata":{"name":name,"namespace":namespace},"data":data}),
        );
    }

    /// Creates or replaces an object (its `metadata.name`/`namespace` say which).
    pub fn put(&self, kind: Kind, mut object: Value) {
        let ns = str_at(&object, "/metadata/namespace");
        let name = str_at(&object, "/metadata/name");
        let mut inner = self.shared.lock();
        inner.rv += 1;
        let rv = inner.rv;
        object["apiVersion"] = json!("v1");
        object["kind"] = json!(kind.kind());
        object["metadata"]["resourceVersion"] = json!(rv.to_string());
        let key = (kind, ns.clone(), name.clone());
        let event = if inner.objects.contains_key(&key) {
            "MODIFIED"
        } else {
            "ADDED"
        };
        inner.objects.insert(key.clone(), object.clone());
        inner.log.push((rv, key, event, object.clone()));
        broadcast(&mut inner, kind, &ns, &name, event, &object);
    }

    /// Deletes an object (DELETED event); no-op when absent.
    pub fn delete(&self, kind: Kind, namespace: &str, name: &str) {
        let mut inner = self.shared.lock();
        let key = (kind, namespace.to_owned(), name.to_owned());
        let Some(mut object) = inner.objects.remove(&key) else {
            return;
        };
        inner.rv += 1;
        let rv = inner.rv;
        object["metadata"]["resourceVersion"] = json!(rv.to_string());
        inner.log.push((rv, key, "DELETED", object.clone()));
        broadcast(&mut inner, kind, namespace, name, "DELETED", &object);
    }

    /// Sends a BOOKMARK carrying the current resourceVersion to every open watch.
    pub fn bookmark(&self) {
        let mut inner = self.shared.lock();
        let rv = inner.rv.to_string();
        inner.watchers.retain(|w| {
            let line = json!({"type":"BOOKMARK","object":{"kind":w.kind.kind(),"apiVersion":"v1",
                "metadata":{"resourceVersion":rv}}});
            w.tx.send(line_bytes(&line)).is_ok()
        });
    }

    /// While `true`, list requests wait (so a client cannot finish its initial sync).
    pub fn hold_lists(&self, hold: bool) {
        self.shared.lists_open.send_replace(!hold);
    }

    /// Requests received so far, as `GET /path?query`.
    pub fn requests(&self) -> Vec<String> {
        self.shared.lock().requests.clone()
    }

    /// Number of open watch streams.
    pub fn open_watches(&self) -> usize {
        let mut inner = self.shared.lock();
        inner.watchers.retain(|w| !w.tx.is_closed());
        inner.watchers.len()
    }
}

fn str_at(v: &Value, ptr: &str) -> String {
    v.pointer(ptr)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn line_bytes(v: &Value) -> Bytes {
    let mut b = serde_json::to_vec(v).unwrap_or_default();
    b.push(b'\n');
    Bytes::from(b)
}

fn broadcast(inner: &mut Inner, kind: Kind, ns: &str, name: &str, event: &str, object: &Value) {
    let line = line_bytes(&json!({"type": event, "object": object}));
    inner
        .watchers
        .retain(|w| !w.wants(kind, ns, name) || w.tx.send(line.clone()).is_ok());
}

fn status(code: StatusCode, reason: &str, message: String) -> Response {
    let body = json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
        "message":message,"reason":reason,"code":code.as_u16()});
    (
        code,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

async fn handle(State(shared): State<Shared>, req: Request) -> Response {
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or("").to_owned();
    shared
        .lock()
        .requests
        .push(format!("{} {path}?{query}", req.method()));
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (kind, namespace, name) = match segments.as_slice() {
        ["api", "v1", plural] => (Kind::from_plural(plural), None, None),
        ["api", "v1", "namespaces", ns, plural] => (Kind::from_plural(plural), Some(*ns), None),
        ["api", "v1", "namespaces", ns, plural, name] => {
            (Kind::from_plural(plural), Some(*ns), Some(*name))
        }
        _ => (None, None, None),
    };
    let Some(kind) = kind else {
        return status(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("the server could not find the requested resource ({path})"),
        );
    };
    let params: Vec<(String, String)> = serde_urlencoded_pairs(&query);
    let param = |k: &str| {
        params
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    };
    if let Some(name) = name {
        let key = (
            kind,
            namespace.unwrap_or_default().to_owned(),
            name.to_owned(),
        );
        return match shared.lock().objects.get(&key) {
            Some(obj) => (
                [(header::CONTENT_TYPE, "application/json")],
                obj.to_string(),
            )
                .into_response(),
            None => status(
                StatusCode::NOT_FOUND,
                "NotFound",
                format!("{} \"{name}\" not found", kind.plural()),
            ),
        };
    }
    let name_filter = param("fieldSelector")
        .and_then(|f| f.strip_prefix("metadata.name="))
        .map(str::to_owned);
    let ns_filter = namespace.map(str::to_owned);
    let matches = |k: &Key| {
        k.0 == kind
            && ns_filter.as_deref().is_none_or(|n| n == k.1)
            && name_filter.as_deref().is_none_or(|n| n == k.2)
    };
    if matches!(param("watch"), Some("true" | "1")) {
        let since: u64 = param("resourceVersion")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let timeout = param("timeoutSeconds")
            .and_then(|v| v.parse().ok())
            .unwrap_or(300u64);
        let (tx, rx) = mpsc::unbounded_channel::<Bytes>();
        {
            let mut inner = shared.lock();
            for (rv, key, event, obj) in &inner.log {
                if *rv > since && matches(key) {
                    let _ = tx.send(line_bytes(&json!({"type": event, "object": obj})));
                }
            }
            inner.watchers.push(Watcher {
                kind,
                namespace: ns_filter.clone(),
                name: name_filter.clone(),
                tx,
            });
        }
        let stop = shared.stop.subscribe();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout);
        let stream = futures::stream::unfold((rx, stop), move |(mut rx, mut stop)| async move {
            let line = tokio::select! {
                line = rx.recv() => line,
                _ = stop.wait_for(|v| *v) => None,
                _ = tokio::time::sleep_until(deadline) => None,
            };
            line.map(|l| (Ok::<_, Infallible>(l), (rx, stop)))
        });
        return (
            [(header::CONTENT_TYPE, "application/json")],
            Body::from_stream(stream),
        )
            .into_response();
    }
    // A plain list, possibly held back by the test.
    let mut open = shared.lists_open.subscribe();
    let _ = open.wait_for(|v| *v).await;
    let inner = shared.lock();
    // Pagination as the API server does it: `limit` items per page and an opaque `continue`
    // token (here: the list's resourceVersion and the offset of the next item).
    let (rv, offset) = match param("continue").and_then(|c| c.split_once(':')) {
        Some((rv, off)) => (rv.to_owned(), off.parse().unwrap_or(0usize)),
        None => (inner.rv.to_string(), 0),
    };
    let limit: usize = param("limit")
        .and_then(|l| l.parse().ok())
        .filter(|l| *l > 0)
        .unwrap_or(usize::MAX);
    let mut matching = inner
        .objects
        .iter()
        .filter(|(k, _)| matches(k))
        .skip(offset);
    let items: Vec<&Value> = matching.by_ref().take(limit).map(|(_, v)| v).collect();
    let mut metadata = json!({"resourceVersion": rv});
    if matching.next().is_some() {
        metadata["continue"] = json!(format!("{rv}:{}", offset + items.len()));
    }
    let body = json!({"kind": format!("{}List", kind.kind()), "apiVersion":"v1",
        "metadata": metadata, "items": items});
    (
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// Minimal `application/x-www-form-urlencoded` query parsing (percent-decoding included).
fn serde_urlencoded_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|s| !s.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A throwaway CA that signs serving certificates for `localhost` / `127.0.0.1`.
pub struct TestCa {
    issuer: rcgen::CertifiedIssuer<'static, rcgen::KeyPair>,
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TestCa")
    }
}

impl TestCa {
    /// A new CA with a fresh key.
    pub fn new() -> Result<Self, rcgen::Error> {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new())?;
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "irsa test CA");
        let issuer = rcgen::CertifiedIssuer::self_signed(params, rcgen::KeyPair::generate()?)?;
        Ok(Self { issuer })
    }

    /// The CA certificate (PEM).
    pub fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// A serving certificate for localhost/127.0.0.1 with this common name: (cert PEM, key PEM).
    pub fn leaf(&self, common_name: &str) -> Result<(String, String), rcgen::Error> {
        let mut params =
            rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])?;
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, common_name);
        let key = rcgen::KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok((cert.pem(), key.serialize_pem()))
    }
}

/// One HTTP/1.1 request over TLS to `addr` (SNI `localhost`, trusting only `ca_pem`), with
/// `Connection: close`. Returns the status code and the body. Enough for end-to-end tests that
/// have no HTTP client dependency.
pub async fn https_request(
    addr: SocketAddr,
    ca_pem: &str,
    method: &str,
    path: &str,
    content_type: &str,
    body: &[u8],
) -> std::io::Result<(u16, Vec<u8>)> {
    use rustls_pki_types::pem::PemObject as _;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pki_types::CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots
            .add(cert.map_err(std::io::Error::other)?)
            .map_err(std::io::Error::other)?;
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(std::io::Error::other)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let name =
        rustls_pki_types::ServerName::try_from("localhost").map_err(std::io::Error::other)?;
    let mut tls = connector.connect(name, tcp).await?;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    tls.write_all(head.as_bytes()).await?;
    tls.write_all(body).await?;
    tls.flush().await?;
    let mut raw = Vec::new();
    // A close_notify-less close is fine for a test client: keep what was read.
    if let Err(e) = tls.read_to_end(&mut raw).await
        && raw.is_empty()
    {
        return Err(e);
    }
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no HTTP header terminator"))?;
    let header = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status: u16 = header
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other("bad status line"))?;
    let mut body = raw[split + 4..].to_vec();
    if header
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body);
    }
    Ok((status, body))
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = data.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&data[..eol])
            .ok()
            .and_then(|s| usize::from_str_radix(s.split(';').next().unwrap_or("").trim(), 16).ok())
            .unwrap_or(0);
        if size == 0 || data.len() < eol + 2 + size {
            break;
        }
        out.extend_from_slice(&data[eol + 2..eol + 2 + size]);
        data = &data[(eol + 4 + size).min(data.len())..];
    }
    out
}

/// The body of an AdmissionReview (`admission.k8s.io/v1`, CREATE) of pod `p` in namespace
/// `apps`, with one container (`app`, image `busybox`) running as ServiceAccount `sa`.
pub fn pod_review(uid: &str, sa: &str) -> Vec<u8> {
    json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "namespace": "apps",
            "operation": "CREATE",
            "userInfo": {"username": "irsa-test"},
            "object": {"metadata": {"name": "p"},
                       "spec": {"serviceAccountName": sa,
                                "containers": [{"name": "app", "image": "busybox"}]}}
        }
    })
    .to_string()
    .into_bytes()
}

/// Forwards the lines of a child process's output (e.g. its piped stderr) to a channel, from a
/// thread that ends with the output.
pub fn log_lines(output: impl std::io::Read + Send + 'static) -> std::sync::mpsc::Receiver<String> {
    use std::io::BufRead as _;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(output)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    rx
}

/// What `irsa webhook serve` logged up to its `irsa webhook serving` line ([`wait_serving`]).
#[derive(Debug, Clone)]
pub struct ServingLog {
    /// The lines read, the serving line last.
    pub lines: Vec<String>,
    /// The `https=` address of the serving line.
    pub https: SocketAddr,
    /// The `metrics=` address of the serving line.
    pub metrics: SocketAddr,
}

/// Reads log lines until `irsa webhook serving` and returns its addresses. Panics, showing the
/// lines read, when no line comes for `timeout` or the serving line lacks an address.
pub fn wait_serving(lines: &std::sync::mpsc::Receiver<String>, timeout: Duration) -> ServingLog {
    let mut read = Vec::new();
    loop {
        let line = lines
            .recv_timeout(timeout)
            .unwrap_or_else(|_| panic!("webhook did not log it is serving; log: {read:#?}"));
        let serving = line.contains("irsa webhook serving");
        read.push(line);
        if serving {
            let line = &read[read.len() - 1];
            let addr = |key: &str| -> SocketAddr {
                line.find(key)
                    .and_then(|at| line[at + key.len()..].split_whitespace().next())
                    .and_then(|a| a.parse().ok())
                    .unwrap_or_else(|| panic!("no {key}ADDRESS in the serving line: {line}"))
            };
            let (https, metrics) = (addr("https="), addr("metrics="));
            return ServingLog {
                lines: read,
                https,
                metrics,
            };
        }
    }
}

/// Polls `GET /readyz` of the webhook at `https` (trusting `ca_pem`) for up to 10 s; whether
/// it answered 200.
pub async fn wait_ready(https: SocketAddr, ca_pem: &str) -> bool {
    for _ in 0..100 {
        if let Ok((200, _)) =
            https_request(https, ca_pem, "GET", "/readyz", "text/plain", b"").await
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}
