//! `versus`: the server, the verification ceiling and the transport ceiling measured in
//! alternating slices of one run.
//!
//! A shared virtual machine's speed drifts by a quarter within minutes (the RS256 ceiling
//! alone was measured at 53,000 and 77,000/s a minute apart), so figures measured one after
//! the other are not comparable. Here time is cut into `--slice` seconds (default 0.25) that
//! cycle through the phases: RS256 JWT verification, the bare RS256 signature check,
//! AssumeRoleWithWebIdentity load with the RS256 token, the same two ES256 checks, the load
//! with the ES256 token (with `--es256-token-file`), and the load against the transport
//! ceiling. Verification runs on one thread per core, load on `--conns` keep-alive
//! connections per target; each works only in its own slices, so every figure sees the same
//! machine. A request counts for the slice it was sent in; rates are over the slices of their
//! phase in the measured window (warm-up and duration are rounded up to whole cycles).
//!
//! With `--server-pid PID` (and `--transport-pid PID` for the transport ceiling's server),
//! the servers' CPU time (user + system, from /proc) is read at every slice boundary and
//! charged to that slice's phase: each load phase's server CPU per call.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::{RawClient, arg, ceiling_probes, cpu_seconds, form_value, request_bytes};

/// What a slice is for.
#[derive(Clone, Copy)]
enum Phase {
    /// One of [`ceiling_probes`], on every core.
    Verify(usize),
    /// Load against one target.
    Load(usize),
}

/// The slice clock: which phase runs at a given instant.
#[derive(Clone, Copy)]
struct Clock {
    start: Instant,
    slice: Duration,
    phases: usize,
}

impl Clock {
    fn index(&self, t: Instant) -> u64 {
        (t.saturating_duration_since(self.start).as_secs_f64() / self.slice.as_secs_f64()) as u64
    }

    fn phase_at(&self, t: Instant) -> usize {
        (self.index(t) % self.phases as u64) as usize
    }

    fn slice_start(&self, index: u64) -> Instant {
        self.start + self.slice.mul_f64(index as f64)
    }

    /// `t` itself when phase `p` runs at `t`, else the start of its next slice.
    fn next_slot(&self, p: usize, t: Instant) -> Instant {
        let k = self.index(t);
        let ahead = (p as u64 + self.phases as u64 - k % self.phases as u64) % self.phases as u64;
        if ahead == 0 { t } else { self.slice_start(k + ahead) }
    }
}

/// A load target: its name in the output, address and prebuilt request.
struct Target {
    name: &'static str,
    addr: SocketAddr,
    request: Bytes,
    /// The serving process, when known (CPU per call).
    pid: Option<u32>,
}

pub async fn versus(args: &[String]) {
    let addr_of = |url: String| -> SocketAddr {
        url.trim_start_matches("http://").trim_end_matches('/').parse().expect("http://IP:PORT")
    };
    let role = arg(args, "--role-arn").expect("--role-arn");
    let body = |token_file: String| {
        let token = std::fs::read_to_string(token_file).unwrap();
        format!(
            "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn={}&RoleSessionName=bench&WebIdentityToken={}",
            form_value(&role),
            form_value(token.trim())
        )
    };
    let float = |name: &str, default: f64| arg(args, name).map_or(default, |v| v.parse().expect("a number"));
    let conns = float("--conns", 32.0) as usize;
    let slice = Duration::from_secs_f64(float("--slice", 0.25));
    let pid = |name: &str| arg(args, name).map(|p| p.parse::<u32>().expect("a pid"));
    let (server_pid, transport_pid) = (pid("--server-pid"), pid("--transport-pid"));
    let server = addr_of(arg(args, "--url").expect("--url"));
    let transport = addr_of(arg(args, "--transport-url").expect("--transport-url"));
    let rs256 = body(arg(args, "--token-file").expect("--token-file"));
    let mut targets = vec![Target { name: "irsa", addr: server, request: request_bytes(server, rs256.as_bytes()), pid: server_pid }];
    if let Some(f) = arg(args, "--es256-token-file") {
        targets.push(Target { name: "es256", addr: server, request: request_bytes(server, body(f).as_bytes()), pid: server_pid });
    }
    targets.push(Target { name: "transport", addr: transport, request: request_bytes(transport, rs256.as_bytes()), pid: transport_pid });

    let probes = ceiling_probes();
    // RS256 checks, RS256 load, ES256 checks, ES256 load (when asked), transport.
    let mut phases = vec![Phase::Verify(0), Phase::Verify(1), Phase::Load(0), Phase::Verify(2), Phase::Verify(3)];
    phases.extend((1..targets.len()).map(Phase::Load));
    // The phase of each target's load.
    let load_phase: Vec<usize> = (0..targets.len())
        .map(|ti| phases.iter().position(|ph| matches!(ph, Phase::Load(t) if *t == ti)).unwrap())
        .collect();
    let clock = Clock { start: Instant::now() + Duration::from_millis(200), slice, phases: phases.len() };
    let cycle = slice.mul_f64(phases.len() as f64);
    let whole_cycles = |secs: f64| (secs / cycle.as_secs_f64()).ceil().max(1.0) as u64;
    let (warmup, cycles) = (whole_cycles(float("--warmup", 1.0)), whole_cycles(float("--seconds", 20.0)));
    let measure_from = clock.slice_start(warmup * phases.len() as u64);
    let end = clock.slice_start((warmup + cycles) * phases.len() as u64);

    // Verification: one OS thread per core, busy only in verification slices.
    let counts: Arc<Vec<AtomicU64>> = Arc::new(probes.iter().map(|_| AtomicU64::new(0)).collect());
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let verifiers: Vec<_> = (0..threads)
        .map(|_| {
            let (probes, counts, phases) = (probes.clone(), counts.clone(), phases.clone());
            std::thread::spawn(move || {
                loop {
                    let now = Instant::now();
                    if now >= end {
                        break;
                    }
                    match phases[clock.phase_at(now)] {
                        Phase::Verify(v) => {
                            (probes[v].1)();
                            if now >= measure_from {
                                counts[v].fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        Phase::Load(_) => {
                            let next = clock.slice_start(clock.index(now) + 1);
                            std::thread::sleep(next.saturating_duration_since(now));
                        }
                    }
                }
            })
        })
        .collect();

    // Load: `conns` connections per target, busy only in that target's slices.
    let mut tasks = Vec::new();
    for (ti, target) in targets.iter().enumerate() {
        let p = load_phase[ti];
        for _ in 0..conns {
            let (addr, request) = (target.addr, target.request.clone());
            tasks.push((ti, tokio::spawn(async move {
                let mut client = RawClient { addr, tcp: None, buf: Vec::with_capacity(8192) };
                let (mut latencies, mut errors, mut first_error) = (Vec::<u32>::new(), 0u64, None::<String>);
                loop {
                    let now = Instant::now();
                    if now >= end {
                        break;
                    }
                    let slot = clock.next_slot(p, now);
                    if slot > now {
                        tokio::time::sleep_until(slot).await;
                        continue;
                    }
                    let result = client.call(&request).await;
                    if now < measure_from {
                        continue;
                    }
                    match result {
                        Ok((200, _)) => latencies.push(now.elapsed().as_micros() as u32),
                        Ok((status, body)) => {
                            errors += 1;
                            first_error.get_or_insert_with(|| format!("{status}: {}", String::from_utf8_lossy(&body)));
                        }
                        Err(e) => {
                            errors += 1;
                            first_error.get_or_insert_with(|| format!("I/O: {e}"));
                        }
                    }
                }
                (latencies, errors, first_error)
            })));
        }
    }

    // CPU meter: at every slice boundary, charge the CPU used since the last one to the
    // phase of the slice that ended: this process's (the load generator) and, for load
    // phases, the serving process's.
    let server_of = |p: usize| match phases[p] {
        Phase::Load(t) => targets[t].pid,
        Phase::Verify(_) => None,
    };
    let mut own_cpu = vec![0.0f64; phases.len()];
    let mut server_cpu = vec![0.0f64; phases.len()];
    let mut k = clock.index(measure_from);
    tokio::time::sleep_until(measure_from).await;
    let mut own0 = cpu_seconds(None);
    let mut server0 = server_of(0).map(|pid| cpu_seconds(Some(pid)));
    while clock.slice_start(k) < end {
        tokio::time::sleep_until(clock.slice_start(k + 1)).await;
        let p = (k % phases.len() as u64) as usize;
        let own = cpu_seconds(None);
        own_cpu[p] += own - own0;
        own0 = own;
        if let (Some(pid), Some(before)) = (server_of(p), server0) {
            server_cpu[p] += cpu_seconds(Some(pid)) - before;
        }
        // The next slice's server, read at its start.
        let next = ((k + 1) % phases.len() as u64) as usize;
        server0 = server_of(next).map(|pid| cpu_seconds(Some(pid)));
        k += 1;
    }

    for v in verifiers {
        v.join().unwrap();
    }
    let window = slice.as_secs_f64() * cycles as f64;
    let mut out = serde_json::Map::new();
    out.insert("slice_s".into(), json!(slice.as_secs_f64()));
    out.insert("cycles".into(), json!(cycles));
    out.insert("threads".into(), json!(threads));
    for (v, (name, _)) in probes.iter().enumerate() {
        out.insert(format!("{name}_per_s"), json!((counts[v].load(Ordering::Relaxed) as f64 / window).round()));
    }
    let mut results: Vec<(Vec<u32>, u64, Option<String>)> = targets.iter().map(|_| Default::default()).collect();
    for (ti, task) in tasks {
        let (lat, errors, first) = task.await.unwrap();
        let r = &mut results[ti];
        r.0.extend(lat);
        r.1 += errors;
        if r.2.is_none() {
            r.2 = first;
        }
    }
    for (ti, (mut lat, errors, first_error)) in results.into_iter().enumerate() {
        lat.sort_unstable();
        let pct = |q: f64| lat.get(((lat.len() as f64 * q) as usize).min(lat.len().saturating_sub(1))).copied().unwrap_or(0);
        let p = load_phase[ti];
        let per_call = |cpu: f64| (cpu * 1e6 / lat.len().max(1) as f64 * 10.0).round() / 10.0;
        let mut r: serde_json::Map<String, Value> = serde_json::Map::new();
        r.insert("ok".into(), json!(lat.len()));
        r.insert("errors".into(), json!(errors));
        r.insert("calls_per_s".into(), json!((lat.len() as f64 / window).round()));
        r.insert("p50_us".into(), json!(pct(0.50)));
        r.insert("p99_us".into(), json!(pct(0.99)));
        r.insert("loadgen_cpu_us_per_call".into(), json!(per_call(own_cpu[p])));
        if targets[ti].pid.is_some() {
            r.insert("server_cpu_us_per_call".into(), json!(per_call(server_cpu[p])));
        }
        r.insert("first_error".into(), json!(first_error));
        out.insert(targets[ti].name.into(), Value::Object(r));
    }
    out.insert("conns".into(), json!(conns));
    println!("{}", Value::Object(out));
}
