//! Prometheus metrics of the STS/IAM endpoint, in the text exposition format.
//!
//! - `irsa_sts_requests_total{service,action,code}`: requests answered, `code` is `OK` or
//!   the AWS error code; unknown actions are counted as `action="other"` so clients cannot
//!   grow the label set.
//! - `irsa_sts_request_duration_seconds{service}`: a histogram of handling time.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

use crate::protocol::Service;

const BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

#[derive(Debug, Default)]
struct Histogram {
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

type Counts = BTreeMap<&'static str, BTreeMap<String, BTreeMap<String, u64>>>;

/// Request counters and latency histograms.
#[derive(Debug, Default)]
pub struct Metrics {
    /// service → action → code → count (nested so that counting allocates nothing).
    requests: Mutex<Counts>,
    durations: Mutex<BTreeMap<&'static str, Histogram>>,
}

fn service_label(s: Service) -> &'static str {
    match s {
        Service::Sts => "sts",
        Service::Iam => "iam",
    }
}

impl Metrics {
    /// Records one answered request.
    pub fn record(&self, service: Service, action: &str, code: &str, elapsed: Duration) {
        let known =
            crate::iam::ACTIONS.contains(&action) || crate::server::STS_ACTIONS.contains(&action);
        let action = if known { action } else { "other" };
        let code = if code.len() <= 64 && code.bytes().all(|b| b.is_ascii_alphanumeric()) {
            code
        } else {
            "other"
        };
        let svc = service_label(service);
        {
            let mut r = self.requests.lock().unwrap_or_else(|e| e.into_inner());
            let actions = r.entry(svc).or_default();
            match actions
                .get_mut(action)
                .and_then(|codes| codes.get_mut(code))
            {
                Some(n) => *n += 1,
                // First time this (action, code) is seen: allocate its key.
                None => {
                    *actions
                        .entry(action.to_owned())
                        .or_default()
                        .entry(code.to_owned())
                        .or_default() += 1
                }
            }
        }
        let mut d = self.durations.lock().unwrap_or_else(|e| e.into_inner());
        let h = d.entry(svc).or_insert_with(|| Histogram {
            counts: vec![0; BUCKETS.len()],
            ..Histogram::default()
        });
        let secs = elapsed.as_secs_f64();
        for (i, b) in BUCKETS.iter().enumerate() {
            if secs <= *b {
                h.counts[i] += 1;
            }
        }
        h.sum += secs;
        h.count += 1;
    }

    /// The text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP irsa_sts_requests_total Requests answered, by service, action and AWS result code.\n");
        out.push_str("# TYPE irsa_sts_requests_total counter\n");
        let requests = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        for (svc, actions) in requests.iter() {
            for (action, codes) in actions {
                for (code, n) in codes {
                    let _ = writeln!(
                        out,
                        "irsa_sts_requests_total{{service=\"{svc}\",action=\"{action}\",code=\"{code}\"}} {n}"
                    );
                }
            }
        }
        drop(requests);
        out.push_str("# HELP irsa_sts_request_duration_seconds Time to answer a request.\n");
        out.push_str("# TYPE irsa_sts_request_duration_seconds histogram\n");
        for (svc, h) in self
            .durations
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            for (b, c) in BUCKETS.iter().zip(&h.counts) {
                let _ = writeln!(
                    out,
                    "irsa_sts_request_duration_seconds_bucket{{service=\"{svc}\",le=\"{b}\"}} {c}"
                );
            }
            let _ = writeln!(
                out,
                "irsa_sts_request_duration_seconds_bucket{{service=\"{svc}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "irsa_sts_request_duration_seconds_sum{{service=\"{svc}\"}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "irsa_sts_request_duration_seconds_count{{service=\"{svc}\"}} {}",
                h.count
            );
        }
        out
    }
}
