//! Benchmark helper: runs the admission work of one `/mutate` request (no transport) N times,
//! for counting instructions with callgrind, which is repeatable on a busy machine:
//!
//! ```text
//! cargo build --release -p irsa-webhook --example review_cost
//! for n in 1000 2000; do
//!   valgrind --tool=callgrind --callgrind-out-file=/tmp/rc.$n \
//!     target/release/examples/review_cost all $n
//! done
//! # instructions per request = (total(2000) - total(1000)) / 1000
//! ```
//!
//! Phases: `decode` (AdmissionReview body to request), `mutate` (decode + mutation), `all`
//! (decode + mutation + reply body). The body is the one `bench/webhook/run.sh` sends.

use std::hint::black_box;
use std::sync::Arc;

use irsa_mutate::{Associations, Config, ConfigMapMappings, ServiceAccountInfo};
use irsa_webhook::admission;
use irsa_webhook::cache::Found;
use irsa_webhook::mutation;

/// The same allocator as the `irsa` binary.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

const REVIEW: &str = r#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"bench","kind":{"group":"","version":"v1","kind":"Pod"},"resource":{"group":"","version":"v1","resource":"pods"},"namespace":"apps","operation":"CREATE","userInfo":{"username":"bench"},"object":{"apiVersion":"v1","kind":"Pod","metadata":{"name":"app","namespace":"apps","labels":{"app":"bench"}},"spec":{"serviceAccountName":"sa-0","containers":[{"name":"app","image":"public.ecr.aws/docker/library/busybox:stable","command":["sleep","3600"],"resources":{"requests":{"cpu":"10m","memory":"16Mi"}}},{"name":"sidecar","image":"envoyproxy/envoy:v1.30","ports":[{"containerPort":9901}]}]}}}}"#;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (phase, n) = match args.as_slice() {
        [phase, n] => (phase.as_str(), n.parse::<usize>().unwrap_or(1000)),
        _ => {
            eprintln!("usage: review_cost decode|mutate|all N");
            std::process::exit(2);
        }
    };
    let config = Config::default();
    let found = Found::ServiceAccount(Arc::new(ServiceAccountInfo {
        role_arn: Some("arn:aws:iam::111122223333:role/sa-0".into()),
        ..Default::default()
    }));
    let mappings = ConfigMapMappings::default();
    let associations = Associations::default();
    let mut bytes = 0usize;
    for _ in 0..n {
        let Ok(request) = admission::decode(black_box(REVIEW.as_bytes())) else {
            panic!("the bench review does not decode");
        };
        if phase == "decode" {
            bytes += black_box(&request).uid.len();
            continue;
        }
        let Ok(outcome) = mutation::admit_json(&config, &request, &found, &mappings, &associations)
        else {
            panic!("the bench pod does not mutate");
        };
        if phase == "mutate" {
            bytes += black_box(&outcome).warnings.len();
            continue;
        }
        let body = admission::allow_json(
            &request.envelope,
            &request.uid,
            outcome.patch.as_deref(),
            &outcome.warnings,
        );
        bytes += black_box(body).len();
    }
    println!("{phase} x{n}: {bytes}");
}
