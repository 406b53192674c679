//! Benchmarks of the issuer: document generation (pure), one request answered in-process
//! (file reads, JWKS check, ETag), and full HTTP/1.1 round trips over loopback keep-alive.
//!
//! `cargo bench -p irsa-issuer --bench issuer`

use std::hint::black_box;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;

use criterion::{Criterion, criterion_group, criterion_main};
use hyper::Method;
use hyper::header::HeaderMap;
use irsa_issuer::documents::{Discovery, JwkSet};
use irsa_issuer::publish::{self, InitOptions};
use irsa_issuer::serve::{self, ServeOptions, Server};
use irsa_issuer::{IssuerPolicy, IssuerUrl};
use serde_json::{Map, Value, json};

/// A JWKS shaped like a real one: `count` RSA-2048 public keys (342-character moduli).
fn keys(count: usize) -> Vec<Map<String, Value>> {
    (0..count)
        .map(|i| {
            let n = format!("{i:0>342}");
            let kid = format!("{i:0>43}");
            let Value::Object(m) =
                json!({"use":"sig","kty":"RSA","kid":kid,"alg":"RS256","n":n,"e":"AQAB"})
            else {
                unreachable!()
            };
            m
        })
        .collect()
}

fn documents(c: &mut Criterion) {
    let issuer = IssuerUrl::parse("https://oidc.example.com", IssuerPolicy::Aws).unwrap();
    let mut jwks = JwkSet::new();
    for k in keys(2) {
        jwks.insert(k);
    }
    c.bench_function("documents/discovery+jwks json (2 keys)", |b| {
        b.iter(|| {
            let d = Discovery::new(black_box(&issuer), "keys.json", &jwks).unwrap();
            (d.to_json(), jwks.to_json())
        })
    });
}

fn serving(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let options = InitOptions {
        issuer: IssuerUrl::parse("https://oidc.example.com", IssuerPolicy::Aws).unwrap(),
        jwks_path: "keys.json".into(),
        force: false,
    };
    publish::init(dir.path(), &options, keys(2)).unwrap();
    let headers = HeaderMap::new();
    c.bench_function("serve/respond in-process GET /keys.json", |b| {
        b.iter(|| serve::respond(dir.path(), &Method::GET, black_box("/keys.json"), &headers))
    });

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let server = runtime
        .block_on(Server::start(ServeOptions {
            dir: dir.path().to_path_buf(),
            listen: "127.0.0.1:0".parse().unwrap(),
            tls: None,
        }))
        .unwrap();
    let stream = TcpStream::connect(server.local_addr()).unwrap();
    stream.set_nodelay(true).unwrap();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    let mut round_trip = |request: &[u8]| {
        writer.write_all(request).unwrap();
        let mut length = 0usize;
        let mut line = String::new();
        loop {
            line.clear();
            reader.read_line(&mut line).unwrap();
            if line == "\r\n" {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap();
            }
        }
        let mut body = vec![0u8; length];
        reader.read_exact(&mut body).unwrap();
        body.len()
    };
    c.bench_function("serve/loopback keep-alive GET /keys.json", |b| {
        b.iter(|| round_trip(b"GET /keys.json HTTP/1.1\r\nHost: x\r\n\r\n"))
    });
    runtime.block_on(server.shutdown());
}

criterion_group!(benches, documents, serving);
criterion_main!(benches);
