//! Criterion bench of one `/mutate` request without the transport: decode the AdmissionReview
//! (whole, with serde, the fallback; and as the server does, by its scanner, into the view of
//! the pod fields the mutation reads), run the mutation for a cached ServiceAccount with a role, and encode the reply (patch JSON,
//! base64, AdmissionReview JSON), the way the server does. The body is the one
//! `bench/webhook/run.sh` sends. Instruction counts of the same work, which do not depend on
//! the machine's load: `examples/review_cost.rs`.

use std::hint::black_box;

use irsa_mutate::{Associations, Config, ConfigMapMappings, ServiceAccountInfo};
use irsa_webhook::admission;
use irsa_webhook::cache::Found;
use irsa_webhook::mutation;

use criterion::{Criterion, criterion_group, criterion_main};

const REVIEW: &str = r#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"bench","kind":{"group":"","version":"v1","kind":"Pod"},"resource":{"group":"","version":"v1","resource":"pods"},"namespace":"apps","operation":"CREATE","userInfo":{"username":"bench"},"object":{"apiVersion":"v1","kind":"Pod","metadata":{"name":"app","namespace":"apps","labels":{"app":"bench"}},"spec":{"serviceAccountName":"sa-0","containers":[{"name":"app","image":"public.ecr.aws/docker/library/busybox:stable","command":["sleep","3600"],"resources":{"requests":{"cpu":"10m","memory":"16Mi"}}},{"name":"sidecar","image":"envoyproxy/envoy:v1.30","ports":[{"containerPort":9901}]}]}}}}"#;

fn bench(c: &mut Criterion) {
    let config = Config::default();
    let found = Found::ServiceAccount(std::sync::Arc::new(ServiceAccountInfo {
        role_arn: Some("arn:aws:iam::111122223333:role/sa-0".into()),
        ..Default::default()
    }));
    let mappings = ConfigMapMappings::default();
    let associations = Associations::default();
    c.bench_function("review/decode_whole", |b| {
        b.iter(|| admission::decode_whole(black_box(REVIEW.as_bytes())).unwrap())
    });
    c.bench_function("review/decode", |b| {
        b.iter(|| admission::decode(black_box(REVIEW.as_bytes())).unwrap())
    });
    c.bench_function("review/decode_mutate_encode", |b| {
        b.iter(|| {
            let request = admission::decode(black_box(REVIEW.as_bytes())).unwrap();
            let outcome =
                mutation::admit_json(&config, &request, &found, &mappings, &associations).unwrap();
            admission::allow_json(
                &request.envelope,
                &request.uid,
                outcome.patch.as_deref(),
                &outcome.warnings,
            )
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
