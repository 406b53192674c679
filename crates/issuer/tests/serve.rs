//! The issuer server over real loopback sockets, spoken to with raw HTTP/1.1 so that request
//! paths reach the server exactly as written (HTTP clients normalise `/../` away).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use irsa_issuer::publish::{self, InitOptions};
use irsa_issuer::serve::{ServeOptions, Server, TlsFiles};
use irsa_issuer::{IssuerPolicy, IssuerUrl};
use serde_json::{Map, Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn jwk(kid: &str, n: &str) -> Map<String, Value> {
    let Value::Object(m) =
        json!({"use":"sig","kty":"RSA","kid":kid,"alg":"RS256","n":n,"e":"AQAB"})
    else {
        unreachable!()
    };
    m
}

fn publish(dir: &Path, issuer: &str) {
    let options = InitOptions {
        issuer: IssuerUrl::parse(issuer, IssuerPolicy::AllowInsecureHttp).unwrap(),
        jwks_path: "keys.json".into(),
        force: true,
    };
    publish::init(dir, &options, vec![jwk("k1", "AQAB")]).unwrap();
}

async fn start(dir: &Path) -> Server {
    Server::start(ServeOptions {
        dir: dir.to_path_buf(),
        listen: "127.0.0.1:0".parse().unwrap(),
        tls: None,
    })
    .await
    .unwrap()
}

async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, request: String) -> Reply {
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete response head");
    let head = String::from_utf8(raw[..split].to_vec()).unwrap();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .map(|l| {
            let (n, v) = l.split_once(':').unwrap();
            (n.trim().to_owned(), v.trim().to_owned())
        })
        .collect();
    Reply {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    }
}

fn request(method: &str, path: &str, extra: &str) -> String {
    format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{extra}\r\n")
}

async fn call(addr: SocketAddr, method: &str, path: &str, extra: &str) -> Reply {
    let stream = TcpStream::connect(addr).await.unwrap();
    exchange(stream, request(method, path, extra)).await
}

#[tokio::test]
async fn serves_both_documents_with_kube_apiserver_headers() {
    let dir = tempfile::tempdir().unwrap();
    publish(dir.path(), "https://oidc.example.com");
    let server = start(dir.path()).await;
    let addr = server.local_addr();

    let doc = call(addr, "GET", "/.well-known/openid-configuration", "").await;
    assert_eq!(doc.status, 200);
    assert_eq!(doc.header("content-type"), Some("application/json"));
    assert_eq!(doc.header("cache-control"), Some("public, max-age=3600"));
    assert_eq!(
        doc.body,
        std::fs::read(dir.path().join(".well-known/openid-configuration")).unwrap()
    );
    let jwks = call(addr, "GET", "/keys.json", "").await;
    assert_eq!(jwks.status, 200);
    assert_eq!(
        jwks.header("content-type"),
        Some("application/jwk-set+json")
    );
    assert_eq!(jwks.header("cache-control"), Some("public, max-age=3600"));
    let body: Value = serde_json::from_slice(&jwks.body).unwrap();
    assert_eq!(body["keys"][0]["kid"], "k1");
    assert_ne!(doc.header("etag"), jwks.header("etag"));
    server.shutdown().await;
}

#[tokio::test]
async fn etag_if_none_match_and_head() {
    let dir = tempfile::tempdir().unwrap();
    publish(dir.path(), "https://oidc.example.com");
    let server = start(dir.path()).await;
    let addr = server.local_addr();

    let first = call(addr, "GET", "/keys.json", "").await;
    let etag = first.header("etag").unwrap().to_owned();
    assert!(etag.starts_with('"'), "strong ETag: {etag}");

    let cached = call(
        addr,
        "GET",
        "/keys.json",
        &format!("If-None-Match: {etag}\r\n"),
    )
    .await;
    assert_eq!(cached.status, 304);
    assert!(cached.body.is_empty());
    assert_eq!(cached.header("etag"), Some(etag.as_str()));
    assert_eq!(cached.header("cache-control"), Some("public, max-age=3600"));

    let weak = call(
        addr,
        "GET",
        "/keys.json",
        &format!("If-None-Match: \"x\", W/{etag}\r\n"),
    )
    .await;
    assert_eq!(weak.status, 304);
    let stale = call(addr, "GET", "/keys.json", "If-None-Match: \"stale\"\r\n").await;
    assert_eq!(stale.status, 200);
    assert_eq!(stale.body, first.body);

    let head = call(addr, "HEAD", "/keys.json", "").await;
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert_eq!(
        head.header("content-length"),
        Some(first.body.len().to_string().as_str())
    );
    assert_eq!(head.header("etag"), Some(etag.as_str()));
    assert_eq!(
        head.header("content-type"),
        Some("application/jwk-set+json")
    );

    // A rotation is visible on the next request, with a new ETag.
    publish::rotate_add(
        dir.path(),
        vec![jwk("k2", "AQAC")],
        IssuerPolicy::AllowInsecureHttp,
    )
    .unwrap();
    let after = call(
        addr,
        "GET",
        "/keys.json",
        &format!("If-None-Match: {etag}\r\n"),
    )
    .await;
    assert_eq!(after.status, 200);
    assert_ne!(after.header("etag"), Some(etag.as_str()));
    server.shutdown().await;
}

#[tokio::test]
async fn nothing_but_the_two_documents_is_served() {
    let dir = tempfile::tempdir().unwrap();
    publish(dir.path(), "https://oidc.example.com");
    std::fs::write(
        dir.path().join("private.pem"),
        "-----BEGIN PRIVATE KEY-----",
    )
    .unwrap();
    let outside = dir.path().parent().unwrap().join("outside.txt");
    let server = start(dir.path()).await;
    let addr = server.local_addr();
    for path in [
        "/",
        "/private.pem",
        "/keys.json/",
        "//keys.json",
        "/KEYS.json",
        "/keys.json%00",
        "/../keys.json",
        "/.well-known/../keys.json",
        "/%2e%2e/keys.json",
        "/.well-known/%2e%2e/private.pem",
        "/%2e%2e%2foutside.txt",
        "/..%2f..%2fetc%2fpasswd",
        "/.well-known/openid-configuration/",
        "/.well-known/",
        "/.well-known/openid-configuration/..",
        "/etc/passwd",
    ] {
        let reply = call(addr, "GET", path, "").await;
        assert_eq!(reply.status, 404, "{path}");
        assert!(
            !String::from_utf8_lossy(&reply.body).contains("BEGIN"),
            "{path}"
        );
    }
    assert!(!outside.exists());
    server.shutdown().await;
}

#[tokio::test]
async fn only_get_and_head() {
    let dir = tempfile::tempdir().unwrap();
    publish(dir.path(), "https://oidc.example.com");
    let server = start(dir.path()).await;
    for method in ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"] {
        let reply = call(
            server.local_addr(),
            method,
            "/keys.json",
            "Content-Length: 0\r\n",
        )
        .await;
        assert_eq!(reply.status, 405, "{method}");
        assert_eq!(reply.header("allow"), Some("GET, HEAD"), "{method}");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn issuer_path_prefix_and_an_empty_folder() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path()).await;
    let addr = server.local_addr();
    // Started before the documents exist (how `irsa demo` and the e2e test use it).
    assert_eq!(
        call(addr, "GET", "/.well-known/openid-configuration", "")
            .await
            .status,
        404
    );
    publish(
        dir.path(),
        "https://s3.eu-west-1.amazonaws.com/bucket/cluster-a",
    );
    for path in [
        "/.well-known/openid-configuration",
        "/bucket/cluster-a/.well-known/openid-configuration",
        "/keys.json",
        "/bucket/cluster-a/keys.json",
    ] {
        assert_eq!(call(addr, "GET", path, "").await.status, 200, "{path}");
    }
    assert_eq!(call(addr, "GET", "/bucket/keys.json", "").await.status, 404);
    server.shutdown().await;
}

#[tokio::test]
async fn refuses_to_serve_a_private_jwk() {
    let dir = tempfile::tempdir().unwrap();
    publish(dir.path(), "https://oidc.example.com");
    let mut private = jwk("k1", "AQAB");
    private.insert("d".into(), "c2VjcmV0".into());
    std::fs::write(
        dir.path().join("keys.json"),
        serde_json::to_vec(&json!({ "keys": [private] })).unwrap(),
    )
    .unwrap();
    let server = start(dir.path()).await;
    let reply = call(server.local_addr(), "GET", "/keys.json", "").await;
    assert_eq!(reply.status, 500);
    assert!(!String::from_utf8_lossy(&reply.body).contains("c2VjcmV0"));
    server.shutdown().await;
}

#[tokio::test]
async fn serves_https_with_a_certificate_made_here() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path().join("site");
    publish(&site, "https://localhost");
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert = dir.path().join("tls.crt");
    let key = dir.path().join("tls.key");
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
    let server = Server::start(ServeOptions {
        dir: site,
        listen: "127.0.0.1:0".parse().unwrap(),
        tls: Some(TlsFiles {
            cert: cert.clone(),
            key: key.clone(),
        }),
    })
    .await
    .unwrap();
    assert!(server.url().starts_with("https://127.0.0.1:"));

    let mut roots = rustls::RootCertStore::empty();
    roots.add(certified.cert.der().clone()).unwrap();
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(server.local_addr()).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tls = connector.connect(name, tcp).await.unwrap();
    let reply = exchange(tls, request("GET", "/.well-known/openid-configuration", "")).await;
    assert_eq!(reply.status, 200);
    let doc: Value = serde_json::from_slice(&reply.body).unwrap();
    assert_eq!(doc["issuer"], "https://localhost");

    // A plain-HTTP request on the TLS port gets no document.
    let plain = TcpStream::connect(server.local_addr()).await.unwrap();
    let mut plain = plain;
    plain
        .write_all(request("GET", "/keys.json", "").as_bytes())
        .await
        .unwrap();
    let mut raw = Vec::new();
    let _ = plain.read_to_end(&mut raw).await;
    assert!(!String::from_utf8_lossy(&raw).contains("\"keys\""));
    server.shutdown().await;

    // Unusable TLS files are refused at start, naming the file.
    std::fs::write(&key, "not a key").unwrap();
    let err = Server::start(ServeOptions {
        dir: dir.path().to_path_buf(),
        listen: "127.0.0.1:0".parse().unwrap(),
        tls: Some(TlsFiles {
            cert,
            key: key.clone(),
        }),
    })
    .await
    .unwrap_err();
    assert!(
        err.to_string().contains(&key.display().to_string()),
        "{err}"
    );
}

#[tokio::test]
async fn shutdown_stops_listening() {
    let dir = tempfile::tempdir().unwrap();
    publish(dir.path(), "https://oidc.example.com");
    let server = start(dir.path()).await;
    let addr = server.local_addr();
    // An idle keep-alive connection must not hold the shutdown up.
    let mut idle = TcpStream::connect(addr).await.unwrap();
    idle.write_all(b"GET /keys.json HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 12];
    idle.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"HTTP/1.1 200");
    server.shutdown().await;
    assert!(TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn start_errors_are_clear() {
    let missing = Path::new("/nonexistent/irsa-site");
    let err = Server::start(ServeOptions {
        dir: missing.to_path_buf(),
        listen: "127.0.0.1:0".parse().unwrap(),
        tls: None,
    })
    .await
    .unwrap_err();
    assert!(err.to_string().contains("/nonexistent/irsa-site"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let first = start(dir.path()).await;
    let err = Server::start(ServeOptions {
        dir: dir.path().to_path_buf(),
        listen: first.local_addr(),
        tls: None,
    })
    .await
    .unwrap_err();
    assert!(err.to_string().contains("cannot listen on"), "{err}");
    first.shutdown().await;
}
