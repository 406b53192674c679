//! `irsa-sts-loadgen`: the load side of `bench/sts/run.sh`.
//!
//! - `issuer --listen ADDR --out DIR`: serves an OIDC issuer (discovery + JWKS of a fresh
//!   RSA-2048 and a P-256 key) on ADDR over HTTP and writes `DIR/token` (RS256) and
//!   `DIR/token-es256` (ES256), service-account tokens for
//!   `system:serviceaccount:default:aws-cli`, audience `sts.amazonaws.com`, valid 24 h.
//! - `load --url URL --role-arn ARN --token-file F [--conns N] [--seconds D] [--warmup W]`:
//!   closed-loop AssumeRoleWithWebIdentity over N keep-alive HTTP/1.1 connections; prints
//!   one JSON line (calls/s, errors, latency percentiles).
//! - `verify [--threads T] [--seconds D]`: the signature ceiling: RS256 (RSA-2048) and
//!   ES256 token verification per second with irsa-jose (what the server runs per call),
//!   and the bare aws-lc signature check, on T threads.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use irsa_jose::{Header, JwkSet, KeyAlgorithm, PrivateKey, Validation, VerifyingKeys};
use serde_json::json;

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned())
}

fn num(args: &[String], name: &str, default: u64) -> u64 {
    arg(args, name).map(|v| v.parse().expect("a number")).unwrap_or(default)
}

fn unix() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

fn claims(iss: &str) -> serde_json::Value {
    let now = unix();
    json!({
        "aud": ["sts.amazonaws.com"], "exp": now + 86400, "iat": now, "nbf": now, "iss": iss,
        "sub": "system:serviceaccount:default:aws-cli",
        "kubernetes.io": {"namespace": "default", "serviceaccount": {"name": "aws-cli", "uid": "7f0c3c1e-0000-4000-8000-000000000001"}}
    })
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("issuer") => issuer(&args).await,
        Some("load") => load(&args).await,
        Some("verify") => verify(&args),
        _ => {
            eprintln!("usage: irsa-sts-loadgen issuer|load|verify ... (see the source header)");
            std::process::exit(2);
        }
    }
}

async fn issuer(args: &[String]) {
    let listen: SocketAddr = arg(args, "--listen").expect("--listen").parse().unwrap();
    let out = std::path::PathBuf::from(arg(args, "--out").expect("--out"));
    let key = PrivateKey::generate(KeyAlgorithm::Rsa2048).unwrap();
    let ec_key = PrivateKey::generate(KeyAlgorithm::EcP256).unwrap();
    let url = format!("http://{listen}");
    let token = irsa_jose::sign(&Header::for_key(&key), &claims(&url), &key).unwrap();
    let ec_token = irsa_jose::sign(&Header::for_key(&ec_key), &claims(&url), &ec_key).unwrap();
    std::fs::write(out.join("token-es256"), &ec_token).unwrap();
    std::fs::write(out.join("token"), &token).unwrap();
    let discovery = Bytes::from(
        json!({"issuer": url, "jwks_uri": format!("{url}/openid/v1/jwks"),
               "response_types_supported": ["id_token"], "subject_types_supported": ["public"],
               "id_token_signing_alg_values_supported": ["RS256", "ES256"]})
        .to_string(),
    );
    let jwks = Bytes::from(JwkSet::from_public_keys([key.public_key(), ec_key.public_key()], false).to_json());
    let listener = tokio::net::TcpListener::bind(listen).await.unwrap();
    std::fs::write(out.join("issuer.url"), &url).unwrap();
    loop {
        let (tcp, _) = listener.accept().await.unwrap();
        let (discovery, jwks) = (discovery.clone(), jwks.clone());
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                let body = if req.uri().path() == "/.well-known/openid-configuration" {
                    Some(discovery.clone())
                } else if req.uri().path() == "/openid/v1/jwks" {
                    Some(jwks.clone())
                } else {
                    None
                };
                async move {
                    let resp = match body {
                        Some(b) => Response::builder()
                            .header("content-type", "application/json")
                            .header("cache-control", "max-age=3600")
                            .body(Full::new(b)),
                        None => Response::builder().status(404).body(Full::new(Bytes::new())),
                    };
                    Ok::<_, std::convert::Infallible>(resp.unwrap())
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tcp), service)
                .await;
        });
    }
}

fn form_value(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn load(args: &[String]) {
    let url = arg(args, "--url").expect("--url");
    let addr: SocketAddr = url.trim_start_matches("http://").trim_end_matches('/').parse().expect("http://IP:PORT");
    let role = arg(args, "--role-arn").expect("--role-arn");
    let token = std::fs::read_to_string(arg(args, "--token-file").expect("--token-file")).unwrap();
    let conns = num(args, "--conns", 32);
    let seconds = num(args, "--seconds", 10);
    let warmup = num(args, "--warmup", 2);
    let body = Bytes::from(format!(
        "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn={}&RoleSessionName=bench&WebIdentityToken={}",
        form_value(&role),
        form_value(token.trim())
    ));
    let measuring = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(AtomicU64::new(0));
    let first_error = Arc::new(std::sync::Mutex::new(None::<String>));
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let (body, measuring, stop, errors, first_error) =
            (body.clone(), measuring.clone(), stop.clone(), errors.clone(), first_error.clone());
        tasks.push(tokio::spawn(async move {
            // Servers that close connections (moto's werkzeug) are reconnected transparently.
            let connect = || async {
                let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
                tcp.set_nodelay(true).unwrap();
                let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await.unwrap();
                tokio::spawn(conn);
                sender
            };
            let mut sender = connect().await;
            let mut latencies: Vec<u32> = Vec::with_capacity(1 << 16);
            while !stop.load(Ordering::Relaxed) {
                let req = Request::post("/")
                    .header("host", addr.to_string())
                    .header("content-type", "application/x-www-form-urlencoded; charset=utf-8")
                    .body(Full::new(body.clone()))
                    .unwrap();
                let t = Instant::now();
                if sender.ready().await.is_err() {
                    sender = connect().await;
                }
                let resp = match sender.send_request(req).await {
                    Ok(r) => r,
                    Err(_) => {
                        sender = connect().await;
                        continue;
                    }
                };
                let status = resp.status();
                let bytes = resp.into_body().collect().await.unwrap().to_bytes();
                let us = t.elapsed().as_micros() as u32;
                if !measuring.load(Ordering::Relaxed) {
                    continue;
                }
                if status == 200 {
                    latencies.push(us);
                } else {
                    errors.fetch_add(1, Ordering::Relaxed);
                    let mut fe = first_error.lock().unwrap();
                    if fe.is_none() {
                        *fe = Some(format!("{status}: {}", String::from_utf8_lossy(&bytes)));
                    }
                }
            }
            latencies
        }));
    }
    tokio::time::sleep(Duration::from_secs(warmup)).await;
    measuring.store(true, Ordering::Relaxed);
    let started = Instant::now();
    let cpu0 = own_cpu_seconds();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    measuring.store(false, Ordering::Relaxed);
    let cpu = own_cpu_seconds() - cpu0;
    let elapsed = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort_unstable();
    let pct = |p: f64| all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1))).copied().unwrap_or(0);
    println!(
        "{}",
        json!({
            "ok": all.len(), "errors": errors.load(Ordering::Relaxed), "conns": conns, "seconds": elapsed,
            "calls_per_s": (all.len() as f64 / elapsed).round(),
            "p50_us": pct(0.50), "p99_us": pct(0.99),
            "loadgen_cpu_us_per_call": (cpu * 1e6 / (all.len().max(1)) as f64).round(),
            "first_error": first_error.lock().unwrap().clone(),
        })
    );
}

fn verify(args: &[String]) {
    let threads = num(args, "--threads", std::thread::available_parallelism().map_or(1, |n| n.get() as u64));
    let seconds = num(args, "--seconds", 5);
    let mut out = serde_json::Map::new();
    out.insert("threads".into(), json!(threads));
    for (name, alg) in [("rs256", KeyAlgorithm::Rsa2048), ("es256", KeyAlgorithm::EcP256)] {
        let key = PrivateKey::generate(alg).unwrap();
        let token = irsa_jose::sign(&Header::for_key(&key), &claims("https://issuer.example"), &key).unwrap();
        let keys = Arc::new(VerifyingKeys::from_public_keys([key.public_key().clone()]));
        let token = Arc::new(token);
        let now = unix();
        let jwt = run_threads(threads, seconds, {
            let (keys, token) = (keys.clone(), token.clone());
            move || {
                keys.verify(&token, &Validation::default(), now).unwrap();
            }
        });
        out.insert(format!("{name}_jwt_verify_per_s"), json!(jwt.round()));
        // The bare signature check over the same signing input.
        let (input, sig) = token.rsplit_once('.').unwrap();
        let sig = base64_decode(sig);
        let spki = key.public_key().spki_der().to_vec();
        let alg: &'static dyn aws_lc_rs::signature::VerificationAlgorithm = if name == "rs256" {
            &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256
        } else {
            &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED
        };
        let parsed = Arc::new(aws_lc_rs::signature::ParsedPublicKey::new(alg, spki).unwrap());
        let input = Arc::new(input.as_bytes().to_vec());
        let sig = Arc::new(sig);
        assert!(parsed.verify_sig(&input, &sig).is_ok(), "bare check must verify");
        let raw = run_threads(threads, seconds, move || {
            parsed.verify_sig(&input, &sig).unwrap();
        });
        out.insert(format!("{name}_signature_verify_per_s"), json!(raw.round()));
    }
    println!("{}", serde_json::Value::Object(out));
}

/// CPU time (user + system) of this process so far, in seconds.
fn own_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may contain spaces) start at ") ".
    let rest = stat.rsplit_once(") ").map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of the line (indexes 11 and 12 after the name),
    // in clock ticks of 1/100 s (USER_HZ on Linux).
    (ticks(11) + ticks(12)) / 100.0
}

fn base64_decode(s: &str) -> Vec<u8> {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let (mut acc, mut bits, mut out) = (0u32, 0u32, Vec::new());
    for c in s.bytes() {
        acc = (acc << 6) | A.iter().position(|&a| a == c).unwrap() as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

fn run_threads(threads: u64, seconds: u64, work: impl Fn() + Send + Sync + Clone + 'static) -> f64 {
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (stop, count, work) = (stop.clone(), count.clone(), work.clone());
            std::thread::spawn(move || {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    work();
                    n += 1;
                }
                count.fetch_add(n, Ordering::Relaxed);
            })
        })
        .collect();
    let started = Instant::now();
    std::thread::sleep(Duration::from_secs(seconds));
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        h.join().unwrap();
    }
    count.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}
