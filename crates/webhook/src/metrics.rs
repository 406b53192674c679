//! Prometheus metrics with upstream's names, types and labels (webhook.md §4.5).
//!
//! Exposed in the Prometheus text format 0.0.4, written by hand: the `prometheus-client`
//! crate only speaks OpenMetrics, which appends `_total` to every counter and would rename
//! `http_request_count` and `pod_identity_webhook_*_count`, breaking upstream dashboards.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of `http_request_latencies` in microseconds: upstream's
/// `ExponentialBuckets(125000, 2, 7)`.
const LATENCY_BUCKETS_US: [f64; 7] = [
    125_000.0,
    250_000.0,
    500_000.0,
    1_000_000.0,
    2_000_000.0,
    4_000_000.0,
    8_000_000.0,
];

#[derive(Debug, Default, Clone)]
struct Histogram {
    buckets: [u64; LATENCY_BUCKETS_US.len()],
    sum: f64,
    count: u64,
}

/// The HTTP metrics of one (verb, path): request counts by response code and the latency
/// histogram. A handful of these exist, so they live in a small vector searched by borrowed
/// strings: recording a request takes one lock and allocates nothing once the series exists.
#[derive(Debug, Clone)]
struct Series {
    verb: String,
    path: String,
    codes: Vec<(u16, u64)>,
    latency: Histogram,
}

/// The webhook's metrics registry.
#[derive(Debug, Default)]
pub struct Metrics {
    http: Mutex<Vec<Series>>,
    pod_sts: AtomicU64,
    pod_container_credentials: AtomicU64,
    missing_sa: AtomicU64,
    used: AtomicU64,
    sa_lookups: Mutex<BTreeMap<&'static str, u64>>,
}

/// Which mode a pod was mutated in (the `method` label of `pod_identity_webhook_pod_count`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PodMethod {
    /// IRSA (`sts_web_identity`).
    StsWebIdentity,
    /// EKS Pod Identity (`container_credentials`).
    ContainerCredentials,
}

impl Metrics {
    /// Records one instrumented HTTP request (`http_request_count`, `http_request_latencies`,
    /// `http_request_duration_microseconds`).
    pub fn observe_request(&self, verb: &str, path: &str, code: u16, elapsed: Duration) {
        let us = elapsed.as_secs_f64() * 1e6;
        let mut http = lock(&self.http);
        let index = match http.iter().position(|s| s.verb == verb && s.path == path) {
            Some(i) => i,
            None => {
                http.push(Series {
                    verb: verb.to_owned(),
                    path: path.to_owned(),
                    codes: Vec::new(),
                    latency: Histogram::default(),
                });
                http.len() - 1
            }
        };
        let series = &mut http[index];
        match series.codes.iter_mut().find(|(c, _)| *c == code) {
            Some((_, n)) => *n += 1,
            None => series.codes.push((code, 1)),
        }
        let h = &mut series.latency;
        for (i, bound) in LATENCY_BUCKETS_US.iter().enumerate() {
            if us <= *bound {
                h.buckets[i] += 1;
            }
        }
        h.sum += us;
        h.count += 1;
    }

    /// Counts a pod for which a patch config was built.
    pub fn pod_mutated(&self, method: PodMethod) {
        match method {
            PodMethod::StsWebIdentity => &self.pod_sts,
            PodMethod::ContainerCredentials => &self.pod_container_credentials,
        }
        .fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a pod whose ServiceAccount could not be found.
    pub fn missing_sa(&self) {
        self.missing_sa.fetch_add(1, Ordering::Relaxed);
    }

    /// Sets `pod_identity_webhook_used` to 1 (a ServiceAccount was cached).
    pub fn mark_used(&self) {
        self.used.store(1, Ordering::Relaxed);
    }

    /// Counts a direct ServiceAccount lookup after a cache miss, by outcome (`found`,
    /// `not_found`, `error`, `rate_limited`). This metric is ours, not upstream's.
    pub fn sa_lookup(&self, outcome: &'static str) {
        *lock(&self.sa_lookups).entry(outcome).or_default() += 1;
    }

    /// Current value of `pod_identity_webhook_missing_sa_count` (for tests and logs).
    pub fn missing_sa_count(&self) -> u64 {
        self.missing_sa.load(Ordering::Relaxed)
    }

    /// Renders every metric in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(2048);
        let _ = self.write(&mut out);
        out
    }

    fn write(&self, out: &mut String) -> std::fmt::Result {
        writeln!(
            out,
            "# HELP http_request_count Counter of requests broken out for each verb, path, and response code."
        )?;
        writeln!(out, "# TYPE http_request_count counter")?;
        let mut http = lock(&self.http).clone();
        http.sort_by(|a, b| (&a.verb, &a.path).cmp(&(&b.verb, &b.path)));
        for series in &mut http {
            series.codes.sort_unstable();
            for (code, n) in &series.codes {
                writeln!(
                    out,
                    "http_request_count{{code=\"{code}\",path=\"{}\",verb=\"{}\"}} {n}",
                    escape(&series.path),
                    escape(&series.verb)
                )?;
            }
        }
        let lat: Vec<_> = http
            .iter()
            .map(|s| ((&s.verb, &s.path), &s.latency))
            .collect();
        writeln!(
            out,
            "# HELP http_request_latencies Response latency distribution in microseconds for each verb and path"
        )?;
        writeln!(out, "# TYPE http_request_latencies histogram")?;
        for ((verb, path), h) in &lat {
            let labels = format!("path=\"{}\",verb=\"{}\"", escape(path), escape(verb));
            for (i, bound) in LATENCY_BUCKETS_US.iter().enumerate() {
                writeln!(
                    out,
                    "http_request_latencies_bucket{{{labels},le=\"{bound}\"}} {}",
                    h.buckets[i]
                )?;
            }
            writeln!(
                out,
                "http_request_latencies_bucket{{{labels},le=\"+Inf\"}} {}",
                h.count
            )?;
            writeln!(out, "http_request_latencies_sum{{{labels}}} {}", h.sum)?;
            writeln!(out, "http_request_latencies_count{{{labels}}} {}", h.count)?;
        }
        writeln!(
            out,
            "# HELP http_request_duration_microseconds Response latency summary in microseconds for each verb and path."
        )?;
        writeln!(out, "# TYPE http_request_duration_microseconds summary")?;
        for ((verb, path), h) in &lat {
            let labels = format!("path=\"{}\",verb=\"{}\"", escape(path), escape(verb));
            writeln!(
                out,
                "http_request_duration_microseconds_sum{{{labels}}} {}",
                h.sum
            )?;
            writeln!(
                out,
                "http_request_duration_microseconds_count{{{labels}}} {}",
                h.count
            )?;
        }
        writeln!(
            out,
            "# HELP pod_identity_webhook_pod_count Number of pods mutated, by method."
        )?;
        writeln!(out, "# TYPE pod_identity_webhook_pod_count counter")?;
        writeln!(
            out,
            "pod_identity_webhook_pod_count{{method=\"container_credentials\"}} {}",
            self.pod_container_credentials.load(Ordering::Relaxed)
        )?;
        writeln!(
            out,
            "pod_identity_webhook_pod_count{{method=\"sts_web_identity\"}} {}",
            self.pod_sts.load(Ordering::Relaxed)
        )?;
        writeln!(
            out,
            "# HELP pod_identity_webhook_missing_sa_count Number of pods whose ServiceAccount was not found."
        )?;
        writeln!(out, "# TYPE pod_identity_webhook_missing_sa_count counter")?;
        writeln!(
            out,
            "pod_identity_webhook_missing_sa_count {}",
            self.missing_sa.load(Ordering::Relaxed)
        )?;
        writeln!(
            out,
            "# HELP pod_identity_webhook_used Set to 1 once any ServiceAccount has been cached."
        )?;
        writeln!(out, "# TYPE pod_identity_webhook_used gauge")?;
        writeln!(
            out,
            "pod_identity_webhook_used {}",
            self.used.load(Ordering::Relaxed)
        )?;
        writeln!(
            out,
            "# HELP irsa_webhook_sa_lookup_count Direct ServiceAccount GETs after a cache miss, by outcome."
        )?;
        writeln!(out, "# TYPE irsa_webhook_sa_lookup_count counter")?;
        for (outcome, n) in lock(&self.sa_lookups).iter() {
            writeln!(
                out,
                "irsa_webhook_sa_lookup_count{{outcome=\"{outcome}\"}} {n}"
            )?;
        }
        if let Some(rss) = resident_memory_bytes() {
            writeln!(
                out,
                "# HELP process_resident_memory_bytes Resident memory size in bytes."
            )?;
            writeln!(out, "# TYPE process_resident_memory_bytes gauge")?;
            writeln!(out, "process_resident_memory_bytes {rss}")?;
        }
        Ok(())
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// RSS of this process from `/proc/self/status` (`VmRSS`), in bytes.
pub fn resident_memory_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn should_render_upstream_names_and_labels() {
        let m = Metrics::default();
        m.observe_request("POST", "/mutate", 200, Duration::from_millis(300));
        m.pod_mutated(PodMethod::StsWebIdentity);
        m.missing_sa();
        m.mark_used();
        let text = m.render();
        assert!(text.contains("http_request_count{code=\"200\",path=\"/mutate\",verb=\"POST\"} 1"));
        assert!(text.contains(
            "http_request_latencies_bucket{path=\"/mutate\",verb=\"POST\",le=\"250000\"} 0"
        ));
        assert!(text.contains(
            "http_request_latencies_bucket{path=\"/mutate\",verb=\"POST\",le=\"500000\"} 1"
        ));
        assert!(text.contains("pod_identity_webhook_pod_count{method=\"sts_web_identity\"} 1"));
        assert!(text.contains("pod_identity_webhook_missing_sa_count 1"));
        assert!(text.contains("pod_identity_webhook_used 1"));
        assert!(!text.contains("_total"));
    }
}
