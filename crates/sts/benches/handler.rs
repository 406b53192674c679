//! Per-call cost of `AssumeRoleWithWebIdentity` inside the server, without the network:
//! the request goes through the same entry point as over HTTP (form parsing, routing, token
//! decode, provider and role from the in-memory view, signature, trust policy,
//! credentials, XML). Next to it, the bare JWT verification the call contains, so the
//! difference is what the server adds around the signature check; `action_*` is the same call
//! without the HTTP layer (parse, STS action, envelope), so `handler_*` minus `action_*` is
//! what the request and response plumbing costs.
//!
//! `cargo bench -p irsa-sts --bench handler`

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::{Request, header};
use criterion::{Criterion, criterion_group, criterion_main};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use irsa_jose::{Header, JwkSet, KeyAlgorithm, PrivateKey, Validation, VerifyingKeys};
use irsa_sts::auth::{Caller, CallerContext};
use irsa_sts::protocol::{IAM_VERSION, QueryRequest};
use irsa_sts::server::{AdminCredentials, AppState, ServerConfig};
use serde_json::json;

/// The allocator of the `irsa` binary, so the figures match the server's.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Serves discovery + JWKS for `keys` on an ephemeral loopback port; returns the issuer URL.
async fn issuer(keys: &[&PrivateKey]) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let discovery = Bytes::from(
        json!({"issuer": url, "jwks_uri": format!("{url}/jwks"),
               "response_types_supported": ["id_token"], "subject_types_supported": ["public"],
               "id_token_signing_alg_values_supported": ["RS256", "ES256"]})
        .to_string(),
    );
    let jwks =
        Bytes::from(JwkSet::from_public_keys(keys.iter().map(|k| k.public_key()), false).to_json());
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let (discovery, jwks) = (discovery.clone(), jwks.clone());
            tokio::spawn(async move {
                let service =
                    hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                        let body = match req.uri().path() {
                            "/.well-known/openid-configuration" => discovery.clone(),
                            _ => jwks.clone(),
                        };
                        async move { Ok::<_, Infallible>(hyper::Response::new(Full::new(body))) }
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), service)
                    .await;
            });
        }
    });
    url
}

fn admin(state: &AppState, action: &str, params: &[(&str, &str)]) -> String {
    let ctx = CallerContext {
        caller: Caller::Admin {
            access_key_id: "AKIABENCHADMIN000001".into(),
        },
        request_id: "bench".into(),
        now: SystemTime::now(),
        source_ip: None,
    };
    let request = QueryRequest::new(action, IAM_VERSION, params.iter().copied());
    irsa_sts::iam::handle(state, &request, &ctx).unwrap()
}

fn form(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let rsa = PrivateKey::generate(KeyAlgorithm::Rsa2048).unwrap();
    let ec = PrivateKey::generate(KeyAlgorithm::EcP256).unwrap();
    let url = rt.block_on(issuer(&[&rsa, &ec]));
    let config = ServerConfig {
        allow_http_issuers: true,
        admin: Some(AdminCredentials {
            access_key_id: "AKIABENCHADMIN000001".into(),
            secret_access_key: "bench-admin-secret-0123456789abcdefghijk".into(),
        }),
        ..ServerConfig::default()
    };
    let store = Arc::new(irsa_sts::store::Store::in_memory().unwrap());
    let state = Arc::new(AppState::new(config, store).unwrap());
    admin(
        &state,
        "CreateOpenIDConnectProvider",
        &[
            ("Url", &url),
            ("ClientIDList.member.1", "sts.amazonaws.com"),
        ],
    );
    let host = url.trim_start_matches("http://");
    let provider = format!("arn:aws:iam::123456789012:oidc-provider/{host}");
    let trust = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"Federated": provider}, "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {format!("{host}:sub"): "system:serviceaccount:default:aws-cli",
                                       format!("{host}:aud"): "sts.amazonaws.com"}}}]});
    admin(
        &state,
        "CreateRole",
        &[
            ("RoleName", "k8s_default_aws-cli"),
            ("AssumeRolePolicyDocument", &trust.to_string()),
        ],
    );
    let role = "arn:aws:iam::123456789012:role/k8s_default_aws-cli";
    let now = unix();
    let claims = json!({
        "aud": ["sts.amazonaws.com"], "exp": now + 86400, "iat": now, "nbf": now, "iss": url,
        "sub": "system:serviceaccount:default:aws-cli",
        "kubernetes.io": {"namespace": "default", "serviceaccount": {"name": "aws-cli", "uid": "7f0c3c1e-0000-4000-8000-000000000001"}}
    });
    let mut group = c.benchmark_group("assume_role_with_web_identity");
    group.measurement_time(Duration::from_secs(5));
    for (name, key) in [("rs256", &rsa), ("es256", &ec)] {
        let token = irsa_jose::sign(&Header::for_key(key), &claims, key).unwrap();
        let body = Bytes::from(format!(
            "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn={}&RoleSessionName=bench&WebIdentityToken={}",
            form(role),
            form(&token)
        ));
        let call = || {
            let request = Request::post("/")
                .header(
                    header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded; charset=utf-8",
                )
                .body(Full::new(body.clone()))
                .unwrap();
            rt.block_on(async {
                let response = irsa_sts::server::respond(&state, request, None).await;
                assert_eq!(response.status(), 200);
                response.into_body().collect().await.unwrap().to_bytes()
            })
        };
        // The first call fetches the issuer's keys; every measured call then verifies.
        let first = call();
        assert!(
            std::str::from_utf8(&first)
                .unwrap()
                .contains("<AssumedRoleUser>"),
            "the bench call must succeed"
        );
        group.bench_function(format!("handler_{name}"), |b| b.iter(call));
        // The same work without the HTTP layer: parse, STS action, response envelope.
        let direct = || {
            let request = QueryRequest::parse(None, Some(&body)).unwrap();
            let ctx = CallerContext {
                caller: Caller::Anonymous,
                request_id: irsa_sts::protocol::new_request_id(),
                now: SystemTime::now(),
                source_ip: None,
            };
            let inner = rt
                .block_on(irsa_sts::sts::handle(&state, &request, &ctx))
                .unwrap();
            irsa_sts::protocol::success_response(
                irsa_sts::protocol::Service::Sts,
                &request.action,
                &inner,
                &ctx.request_id,
            )
        };
        group.bench_function(format!("action_{name}"), |b| b.iter(direct));
        let keys = VerifyingKeys::from_public_keys([key.public_key().clone()]);
        group.bench_function(format!("jwt_verify_{name}"), |b| {
            b.iter(|| keys.verify(&token, &Validation::default(), now).unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
