//! Test helpers shared by the `sts_*` tests: a loopback OIDC issuer (HTTP or HTTPS with a
//! private CA) that counts requests, and token minting.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use irsa_jose::{Header, JwkSet, KeyAlgorithm, PrivateKey};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

#[path = "../iam_support/calls.rs"]
pub mod iam_calls;

/// What the issuer serves, changeable while it runs.
pub struct IssuerState {
    /// The issuer URL (`http://127.0.0.1:PORT` or `https://...`).
    pub url: Mutex<String>,
    /// The JWKS body.
    pub jwks: Mutex<String>,
    /// `Cache-Control` of both documents.
    pub cache_control: Mutex<Option<String>>,
    /// Status of the JWKS answer (200 normally).
    pub jwks_status: AtomicU16,
    /// Requests seen.
    pub discovery_hits: AtomicUsize,
    /// Requests seen.
    pub jwks_hits: AtomicUsize,
}

/// A running loopback issuer.
pub struct TestIssuer {
    /// The issuer URL.
    pub url: String,
    /// Served content and counters.
    pub state: Arc<IssuerState>,
    /// SHA-1 thumbprint (hex) of the private CA that signed the HTTPS certificate.
    pub ca_thumbprint: Option<String>,
    /// SHA-1 thumbprint (hex) of the HTTPS server certificate.
    pub leaf_thumbprint: Option<String>,
    shutdown: Option<oneshot::Sender<()>>,
}

impl Drop for TestIssuer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

async fn discovery(State(state): State<Arc<IssuerState>>) -> Response {
    state.discovery_hits.fetch_add(1, Ordering::SeqCst);
    let url = state.url.lock().unwrap().clone();
    let body = json!({
        "issuer": url,
        "jwks_uri": format!("{url}/openid/v1/jwks"),
        "response_types_supported": ["id_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256", "ES256"],
    });
    with_cache(&state, (StatusCode::OK, body.to_string()).into_response())
}

async fn serve_jwks(State(state): State<Arc<IssuerState>>) -> Response {
    state.jwks_hits.fetch_add(1, Ordering::SeqCst);
    let status = StatusCode::from_u16(state.jwks_status.load(Ordering::SeqCst)).unwrap();
    let body = state.jwks.lock().unwrap().clone();
    with_cache(&state, (status, body).into_response())
}

fn with_cache(state: &IssuerState, mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Some(cc) = state.cache_control.lock().unwrap().as_deref() {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_str(cc).unwrap());
    }
    response
}

fn router(state: Arc<IssuerState>) -> Router {
    Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/openid/v1/jwks", get(serve_jwks))
        .with_state(state)
}

fn new_state(jwks: &JwkSet) -> Arc<IssuerState> {
    Arc::new(IssuerState {
        url: Mutex::new(String::new()),
        jwks: Mutex::new(jwks.to_json()),
        cache_control: Mutex::new(None),
        jwks_status: AtomicU16::new(200),
        discovery_hits: AtomicUsize::new(0),
        jwks_hits: AtomicUsize::new(0),
    })
}

impl TestIssuer {
    /// Serves `jwks` over plain HTTP on 127.0.0.1 (ephemeral port).
    pub async fn http(jwks: &JwkSet) -> TestIssuer {
        let state = new_state(jwks);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let url = format!("http://{addr}");
        *state.url.lock().unwrap() = url.clone();
        let (tx, rx) = oneshot::channel::<()>();
        let app = router(state.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await;
        });
        TestIssuer {
            url,
            state,
            ca_thumbprint: None,
            leaf_thumbprint: None,
            shutdown: Some(tx),
        }
    }

    /// Serves `jwks` over HTTPS on 127.0.0.1 with a certificate from a fresh private CA
    /// (chain sent: server certificate, then the CA certificate).
    pub async fn https(jwks: &JwkSet) -> TestIssuer {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, SanType};
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "irsa test private CA");
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let ca = Issuer::new(ca_params, ca_key);
        let leaf_key = KeyPair::generate().unwrap();
        let mut leaf_params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        leaf_params
            .subject_alt_names
            .push(SanType::IpAddress("127.0.0.1".parse().unwrap()));
        let leaf_cert = leaf_params.signed_by(&leaf_key, &ca).unwrap();

        let ca_thumbprint = irsa_sts::oidc::tls::thumbprint(ca_cert.der());
        let leaf_thumbprint = irsa_sts::oidc::tls::thumbprint(leaf_cert.der());
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![leaf_cert.der().clone(), ca_cert.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()),
            )
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));

        let state = new_state(jwks);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let url = format!("https://{addr}");
        *state.url.lock().unwrap() = url.clone();
        let app = router(state.clone());
        let (tx, mut rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            loop {
                let (tcp, _) = tokio::select! {
                    accepted = listener.accept() => match accepted { Ok(a) => a, Err(_) => continue },
                    _ = &mut rx => break,
                };
                let acceptor = acceptor.clone();
                let app = app.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let service = hyper_util::service::TowerToHyperService::new(app);
                    let _ = hyper_util::server::conn::auto::Builder::new(
                        hyper_util::rt::TokioExecutor::new(),
                    )
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                    .await;
                });
            }
        });
        TestIssuer {
            url,
            state,
            ca_thumbprint: Some(ca_thumbprint),
            leaf_thumbprint: Some(leaf_thumbprint),
            shutdown: Some(tx),
        }
    }

    /// Replaces the served JWKS.
    pub fn set_jwks(&self, jwks: &JwkSet) {
        *self.state.jwks.lock().unwrap() = jwks.to_json();
    }

    /// Discovery + JWKS requests seen so far.
    pub fn jwks_hits(&self) -> usize {
        self.state.jwks_hits.load(Ordering::SeqCst)
    }
}

/// A fresh signing key.
pub fn key(alg: KeyAlgorithm) -> PrivateKey {
    PrivateKey::generate(alg).unwrap()
}

/// The JWKS publishing `keys`.
pub fn jwks(keys: &[&PrivateKey]) -> JwkSet {
    JwkSet::from_public_keys(keys.iter().map(|k| k.public_key()), false)
}

/// Seconds since the epoch.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Claims of a Kubernetes projected service-account token for `ns`/`sa`.
pub fn sa_claims(issuer: &str, ns: &str, sa: &str, aud: &str) -> Value {
    let now = now();
    json!({
        "aud": [aud],
        "exp": now + 3600,
        "iat": now,
        "nbf": now,
        "iss": issuer,
        "jti": "5d0b6b2e-0f0e-4d0c-9a0e-2f6d8a1c0b11",
        "sub": format!("system:serviceaccount:{ns}:{sa}"),
        "kubernetes.io": {
            "namespace": ns,
            "serviceaccount": {"name": sa, "uid": "0e6c1f1e-7c39-4b4a-8d0a-6f7b7c9f1a22"}
        }
    })
}

/// Signs `claims` with `key` as kube-apiserver would (its alg and Kubernetes kid).
pub fn mint(key: &PrivateKey, claims: &Value) -> String {
    irsa_jose::sign(&Header::for_key(key), claims, key).unwrap()
}

/// Account of the test server.
pub const ACCOUNT: &str = "123456789012";
/// Admin keys of the test server.
pub const ADMIN_ID: &str = "AKIAIRSATESTADMIN002";
/// Admin secret of the test server.
pub const ADMIN_SECRET: &str = "irsa-sts-test-admin-secret-0123456789abc";

/// An in-process STS/IAM server on loopback (state in memory, http issuers allowed).
pub struct StsServer {
    /// The running server.
    pub server: irsa_sts::server::RunningServer,
    /// Its state.
    pub state: Arc<irsa_sts::server::AppState>,
}

impl StsServer {
    /// Starts a server with fixed admin keys.
    pub async fn start() -> StsServer {
        StsServer::start_with(irsa_sts::oidc::FetcherConfig {
            allow_http: true,
            ..Default::default()
        })
        .await
    }

    /// Starts a server whose OIDC fetcher uses `fetcher`.
    pub async fn start_with(fetcher: irsa_sts::oidc::FetcherConfig) -> StsServer {
        use irsa_sts::server::{AdminCredentials, AppState, ServerConfig};
        let config = ServerConfig {
            allow_http_issuers: true,
            admin: Some(AdminCredentials {
                access_key_id: ADMIN_ID.into(),
                secret_access_key: ADMIN_SECRET.into(),
            }),
            ..ServerConfig::default()
        };
        let store = irsa_sts::store::Store::in_memory().unwrap();
        let mut state = AppState::new(config, Arc::new(store)).unwrap();
        state.sts = irsa_sts::sts::StsState::with_fetcher(fetcher);
        let state = Arc::new(state);
        let server = irsa_sts::server::start("127.0.0.1:0".parse().unwrap(), state.clone())
            .await
            .unwrap();
        StsServer { server, state }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        self.server.endpoint_url()
    }

    /// An IAM client with the admin keys.
    pub fn iam(&self) -> aws_sdk_iam::Client {
        iam_calls::iam_client(&self.url(), ADMIN_ID, ADMIN_SECRET, None)
    }

    /// An STS client signing with the given keys.
    pub fn sts_with(&self, id: &str, secret: &str, token: Option<String>) -> aws_sdk_sts::Client {
        let conf = aws_sdk_sts::Config::builder()
            .behavior_version(aws_sdk_sts::config::BehaviorVersion::latest())
            .region(aws_sdk_sts::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_sts::config::Credentials::new(
                id, secret, token, None, "test",
            ))
            .endpoint_url(self.url())
            .build();
        aws_sdk_sts::Client::from_conf(conf)
    }

    /// An STS client with the admin keys (AssumeRoleWithWebIdentity is sent unsigned anyway).
    pub fn sts(&self) -> aws_sdk_sts::Client {
        self.sts_with(ADMIN_ID, ADMIN_SECRET, None)
    }
}

/// The code and message of an SDK service error (panics on other errors).
pub fn service_error<E, R>(err: aws_sdk_sts::error::SdkError<E, R>) -> (String, String)
where
    E: aws_sdk_sts::error::ProvideErrorMetadata + std::fmt::Debug,
    R: std::fmt::Debug,
{
    match err.as_service_error() {
        Some(e) => (
            e.code().unwrap_or_default().to_owned(),
            e.message().unwrap_or_default().to_owned(),
        ),
        None => panic!("expected a service error, got {err:?}"),
    }
}

/// Registers `issuer_url` as an OIDC provider (audience `sts.amazonaws.com`) and creates
/// role `k8s_default_aws-cli` trusting `system:serviceaccount:default:aws-cli` from it,
/// through aws-sdk-iam with the admin keys. Returns (provider ARN, role ARN).
pub async fn register_seed_role(server: &StsServer, issuer_url: &str) -> (String, String) {
    let iam = server.iam();
    let provider_arn = iam_calls::create_oidc_provider(&iam, issuer_url, "sts.amazonaws.com").await;
    let trust = web_identity_trust(
        &provider_arn,
        issuer_url,
        "system:serviceaccount:default:aws-cli",
    );
    let role = iam_calls::create_role(&iam, "k8s_default_aws-cli", &trust).await;
    (provider_arn, role.arn)
}

/// The statement trusting tokens of `sub` with audience `sts.amazonaws.com` from the provider
/// `provider_arn` of `issuer_url`.
fn web_identity_statement(provider_arn: &str, issuer_url: &str, sub: &str) -> Value {
    let host = issuer_url
        .split_once("://")
        .map_or(issuer_url, |(_, rest)| rest);
    json!({
        "Effect": "Allow",
        "Principal": {"Federated": provider_arn},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {
            format!("{host}:sub"): sub,
            format!("{host}:aud"): "sts.amazonaws.com"
        }}
    })
}

/// A trust policy for AssumeRoleWithWebIdentity by tokens of `sub` (audience
/// `sts.amazonaws.com`) from the provider `provider_arn` of `issuer_url`.
pub fn web_identity_trust(provider_arn: &str, issuer_url: &str, sub: &str) -> String {
    json!({
        "Version": "2012-10-17",
        "Statement": [web_identity_statement(provider_arn, issuer_url, sub)]
    })
    .to_string()
}

/// [`web_identity_trust`] plus a statement letting the account root call AssumeRole.
pub fn web_identity_and_root_trust(provider_arn: &str, issuer_url: &str, sub: &str) -> String {
    json!({
        "Version": "2012-10-17",
        "Statement": [
            web_identity_statement(provider_arn, issuer_url, sub),
            {
                "Effect": "Allow",
                "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:root")},
                "Action": "sts:AssumeRole"
            }
        ]
    })
    .to_string()
}

/// The test venv's python (`IRSA_TEST_PYTHON`), or `None` (after printing why) when the
/// tests were not started by `scripts/test.sh`. Under `CI` a missing venv fails the test.
pub fn test_python(test: &str) -> Option<std::path::PathBuf> {
    match std::env::var_os("IRSA_TEST_PYTHON") {
        Some(p) => Some(p.into()),
        None if std::env::var_os("CI").is_some() => {
            panic!("{test}: IRSA_TEST_PYTHON is not set in CI")
        }
        None => {
            println!("skipped: {test} needs the AWS CLI and boto3 (run scripts/test.sh)");
            None
        }
    }
}
