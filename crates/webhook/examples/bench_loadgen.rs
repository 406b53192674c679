//! Benchmark helper: a loopback HTTPS load generator with keep-alive (HTTP/1.1, one hyper
//! connection per worker) that POSTs one AdmissionReview body over and over.
//!
//! Closed loop (max throughput): no `--rate`. Open loop: `--rate RPS` spreads requests evenly
//! over the connections. When a request's scheduled send time passed while its connection was
//! still waiting for the previous response, latency is measured from the *scheduled* time, so a
//! stalled server is not hidden (no coordinated omission). When the connection was idle, it is
//! measured from the actual send: Tokio's timer wakes up to 1 ms late, and that lateness belongs
//! to the load generator, not to the server.
//!
//! ```text
//! bench_loadgen --addr 127.0.0.1:8443 --ca ca.pem --body review.json \
//!   --connections 32 --duration 10 [--rate 5000] [--warmup 2]
//! ```
//! Prints one JSON line: requests, errors, rps, p50_us, p90_us, p99_us, max_us (all over the
//! measured window), and `sent`: every request completed, warm-up included, for per-request
//! server CPU figures.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rustls_pki_types::pem::PemObject as _;
use tokio::time::Instant;

struct Opts {
    addr: SocketAddr,
    ca: String,
    body: Bytes,
    connections: usize,
    duration: Duration,
    warmup: Duration,
    rate: Option<f64>,
}

fn opts() -> Result<Opts, Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let get = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let need = |name: &str| get(name).ok_or(format!("missing {name}"));
    Ok(Opts {
        addr: need("--addr")?.parse()?,
        ca: std::fs::read_to_string(need("--ca")?)?,
        body: Bytes::from(std::fs::read(need("--body")?)?),
        connections: get("--connections").map_or(Ok(16), |v| v.parse())?,
        duration: Duration::from_secs_f64(get("--duration").map_or(Ok(10.0), |v| v.parse())?),
        warmup: Duration::from_secs_f64(get("--warmup").map_or(Ok(2.0), |v| v.parse())?),
        rate: get("--rate").map(|v| v.parse()).transpose()?,
    })
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

async fn connect(
    o: &Opts,
    connector: &tokio_rustls::TlsConnector,
) -> Result<Sender, Box<dyn std::error::Error + Send + Sync>> {
    let tcp = tokio::net::TcpStream::connect(o.addr).await?;
    tcp.set_nodelay(true)?;
    let tls = connector
        .connect(rustls_pki_types::ServerName::try_from("localhost")?, tcp)
        .await?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await?;
    tokio::spawn(conn);
    Ok(sender)
}

async fn one(sender: &mut Sender, body: &Bytes) -> bool {
    let req = hyper::Request::post("/mutate")
        .header("host", "localhost")
        .header("content-type", "application/json")
        .body(Full::new(body.clone()));
    let Ok(req) = req else { return false };
    if sender.ready().await.is_err() {
        return false;
    }
    match sender.send_request(req).await {
        Ok(resp) => {
            let ok = resp.status() == 200;
            ok && resp.into_body().collect().await.is_ok()
        }
        Err(_) => false,
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let o = Arc::new(opts()?);
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pki_types::CertificateDer::pem_slice_iter(o.ca.as_bytes()) {
        roots.add(cert?)?;
    }
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let start = Instant::now() + Duration::from_millis(200);
    let measure_from = start + o.warmup;
    let end = measure_from + o.duration;
    let mut workers = Vec::new();
    for w in 0..o.connections {
        let o = o.clone();
        let mut sender = connect(&o, &connector).await.map_err(|e| e.to_string())?;
        workers.push(tokio::spawn(async move {
            let mut lat: Vec<u32> = Vec::with_capacity(1 << 16);
            let mut errors = 0u64;
            let mut sent = 0u64;
            let interval = o
                .rate
                .map(|r| Duration::from_secs_f64(o.connections as f64 / r));
            // Stagger workers across one interval so the open-loop rate is smooth.
            let mut next = match interval {
                Some(i) => start + i.mul_f64(w as f64 / o.connections as f64),
                None => start,
            };
            tokio::time::sleep_until(start).await;
            let mut previous_done = start;
            loop {
                // Where this request's latency is measured from (see the module docs).
                let from = if interval.is_some() {
                    tokio::time::sleep_until(next).await;
                    if previous_done > next {
                        next
                    } else {
                        Instant::now()
                    }
                } else {
                    next = Instant::now();
                    next
                };
                if next >= end {
                    break;
                }
                let ok = one(&mut sender, &o.body).await;
                let done = Instant::now();
                previous_done = done;
                sent += 1;
                if next >= measure_from {
                    if ok {
                        lat.push((done - from).as_micros().min(u32::MAX as u128) as u32);
                    } else {
                        errors += 1;
                    }
                }
                if let Some(i) = interval {
                    next += i;
                }
            }
            (lat, errors, sent)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    let mut sent = 0;
    for w in workers {
        let (lat, e, s) = w.await?;
        all.extend(lat);
        errors += e;
        sent += s;
    }
    all.sort_unstable();
    let pct = |p: f64| -> u32 {
        if all.is_empty() {
            return 0;
        }
        all[((all.len() as f64 * p).ceil() as usize).clamp(1, all.len()) - 1]
    };
    println!(
        "{{\"requests\":{},\"errors\":{},\"rps\":{:.0},\"p50_us\":{},\"p90_us\":{},\"p99_us\":{},\"max_us\":{},\"sent\":{}}}",
        all.len(),
        errors,
        all.len() as f64 / o.duration.as_secs_f64(),
        pct(0.50),
        pct(0.90),
        pct(0.99),
        all.last().copied().unwrap_or(0),
        sent
    );
    Ok(())
}
