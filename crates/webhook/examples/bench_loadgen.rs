//! Benchmark helper: a loopback HTTPS load generator with keep-alive (HTTP/1.1, one hyper
//! connection per worker) that POSTs one AdmissionReview body over and over.
//!
//! Closed loop (max throughput): no `--rate`. Open loop: `--rate RPS` spreads requests evenly
//! over the connections, and a request's latency is measured from its *scheduled* send time, so
//! a stalled server is not hidden (no coordinated omission). Tokio's timer has a 1 ms tick, far
//! coarser than the schedule (32 connections at 40,000 req/s: one request per connection every
//! 0.8 ms), so sends leave up to 1 ms late, in bursts. That lateness belongs to the load
//! generator, not to the server: each request's own response time (actual send to last byte) is
//! replayed on the exact schedule instead. A request starts at its scheduled time or when its
//! connection's previous request would have finished, whichever is later, and takes its measured
//! response time: a slow response still delays every later request of its connection, as it
//! would with a perfect timer. `p99_response_us` is the raw response time, for comparison.
//!
//! `--versus ADDR2` measures two servers in the same run: every worker has one connection to
//! each, and time is cut in `--slice` seconds (default 0.25) sent alternately to `--addr` and to
//! `--versus`, so both see the same machine. On a shared virtual machine whose speed drifts by a
//! quarter within seconds, two separate runs are not comparable; alternating slices are. Each
//! request counts for the server it was sent to, and each server's rate is over the half of the
//! measured window that was its own (warm-up and duration are rounded to whole pairs of slices).
//!
//! ```text
//! bench_loadgen --addr 127.0.0.1:8443 --ca ca.pem --body review.json \
//!   --connections 32 --duration 10 [--rate 5000] [--warmup 2] [--versus 127.0.0.1:8444 [--slice 0.25]]
//! ```
//! Prints one JSON line per server (`--addr` first): requests, errors, rps, p50_us, p90_us,
//! p99_us, max_us (all over the measured window), and `sent`: every request completed, warm-up
//! included, for per-request server CPU figures.

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
    versus: Option<SocketAddr>,
    slice: Duration,
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
        versus: get("--versus").map(|v| v.parse()).transpose()?,
        slice: Duration::from_secs_f64(get("--slice").map_or(Ok(0.25), |v| v.parse())?),
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
    addr: SocketAddr,
    connector: &tokio_rustls::TlsConnector,
) -> Result<Sender, Box<dyn std::error::Error + Send + Sync>> {
    let tcp = tokio::net::TcpStream::connect(addr).await?;
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

/// What one server got: latencies of measured requests, errors, requests sent (warm-up included).
#[derive(Default)]
struct Tally {
    lat: Vec<u32>,
    response: Vec<u32>,
    errors: u64,
    sent: u64,
}

/// `d` rounded up to a whole number of `unit`s.
fn whole(d: Duration, unit: Duration) -> Duration {
    unit.mul_f64((d.as_secs_f64() / unit.as_secs_f64()).ceil())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let mut o = opts()?;
    let targets: Vec<SocketAddr> = std::iter::once(o.addr).chain(o.versus).collect();
    if targets.len() > 1 {
        let pair = o.slice * 2;
        o.warmup = whole(o.warmup, pair);
        o.duration = whole(o.duration, pair);
    }
    let o = Arc::new(o);
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
    // Which server a request sent (or scheduled) at `at` goes to.
    let n = targets.len();
    let target = move |o: &Opts, at: Instant| -> usize {
        let slices = at.saturating_duration_since(start).as_secs_f64() / o.slice.as_secs_f64();
        slices as usize % n
    };
    let mut workers = Vec::new();
    for w in 0..o.connections {
        let o = o.clone();
        let mut senders = Vec::new();
        for addr in &targets {
            senders.push(
                connect(*addr, &connector)
                    .await
                    .map_err(|e| e.to_string())?,
            );
        }
        workers.push(tokio::spawn(async move {
            let mut tally: Vec<Tally> = (0..n).map(|_| Tally::default()).collect();
            let interval = o
                .rate
                .map(|r| Duration::from_secs_f64(o.connections as f64 / r));
            // Stagger workers across one interval so the open-loop rate is smooth.
            let mut next = match interval {
                Some(i) => start + i.mul_f64(w as f64 / o.connections as f64),
                None => start,
            };
            tokio::time::sleep_until(start).await;
            // Per connection: when its last request would have finished on the exact schedule.
            let mut ideal_done = vec![start; n];
            loop {
                if interval.is_some() {
                    tokio::time::sleep_until(next).await;
                } else {
                    next = Instant::now();
                }
                if next >= end {
                    break;
                }
                let t = target(&o, next);
                let sent = Instant::now();
                let ok = one(&mut senders[t], &o.body).await;
                let response = Instant::now() - sent;
                // The replay of the module docs; in a closed loop it is the response time.
                let finish = next.max(ideal_done[t]) + response;
                ideal_done[t] = finish;
                let tally = &mut tally[t];
                tally.sent += 1;
                if next >= measure_from {
                    if ok {
                        tally.lat.push(micros(finish - next));
                        tally.response.push(micros(response));
                    } else {
                        tally.errors += 1;
                    }
                }
                if let Some(i) = interval {
                    next += i;
                }
            }
            tally
        }));
    }
    let mut all: Vec<Tally> = (0..n).map(|_| Tally::default()).collect();
    for w in workers {
        for (sum, t) in all.iter_mut().zip(w.await?) {
            sum.lat.extend(t.lat);
            sum.response.extend(t.response);
            sum.errors += t.errors;
            sum.sent += t.sent;
        }
    }
    // Each server had 1/n of the measured window.
    let window = o.duration.as_secs_f64() / n as f64;
    for mut t in all {
        t.lat.sort_unstable();
        t.response.sort_unstable();
        let lat = &t.lat;
        println!(
            "{{\"requests\":{},\"errors\":{},\"rps\":{:.0},\"p50_us\":{},\"p90_us\":{},\"p99_us\":{},\"max_us\":{},\"p99_response_us\":{},\"sent\":{}}}",
            lat.len(),
            t.errors,
            lat.len() as f64 / window,
            percentile(lat, 0.50),
            percentile(lat, 0.90),
            percentile(lat, 0.99),
            lat.last().copied().unwrap_or(0),
            percentile(&t.response, 0.99),
            t.sent
        );
    }
    Ok(())
}

/// Whole microseconds, saturated to `u32`.
fn micros(d: Duration) -> u32 {
    d.as_micros().min(u32::MAX as u128) as u32
}

/// The `p` quantile of sorted samples (0 when there are none).
fn percentile(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}
