//! Criterion benchmarks: parsing and evaluating realistic IRSA policies.
//!
//! Run: `cargo bench -p irsa-policy --bench evaluate`

use criterion::{Criterion, criterion_group, criterion_main};
use irsa_policy::{
    BatchEvaluator, Context, NamedPolicy, Policy, PolicySet, Principal, Request, evaluate, validate,
};
use std::hint::black_box;

const TRUST: &str = include_str!("../testdata/trust-irsa.json");
const S3: &str = r#"{"Version":"2012-10-17","Statement":[
 {"Sid":"ListOwnBuckets","Effect":"Allow","Action":["s3:ListBucket","s3:GetBucketLocation"],"Resource":"arn:aws:s3:::k8s-default-api-*"},
 {"Sid":"ObjectsInOwnBuckets","Effect":"Allow","Action":["s3:GetObject","s3:PutObject","s3:DeleteObject"],"Resource":"arn:aws:s3:::k8s-default-api-*/*"},
 {"Sid":"TeamHome","Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::shared-data/home/${aws:PrincipalTag/team}/*"},
 {"Sid":"OfficeOnlyWrites","Effect":"Deny","Action":"s3:PutObject","Resource":"*","Condition":{"NotIpAddress":{"aws:SourceIp":["10.0.0.0/8","192.0.2.0/24","2001:db8::/32"]}}},
 {"Sid":"TlsOnly","Effect":"Deny","Action":"s3:*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}"#;
const BOUNDARY: &str = include_str!("../testdata/boundary-s3-only.json");

fn benches(c: &mut Criterion) {
    c.bench_function("parse/trust-policy", |b| {
        b.iter(|| Policy::parse(black_box(TRUST)).unwrap())
    });
    c.bench_function("parse/s3-identity-policy", |b| {
        b.iter(|| Policy::parse(black_box(S3)).unwrap())
    });
    c.bench_function("validate/s3-identity-policy", |b| {
        b.iter(|| validate(black_box(S3)))
    });

    let trust = PolicySet::trust(NamedPolicy::new("trust", Policy::parse(TRUST).unwrap()));
    let provider = "arn:aws:iam::111122223333:oidc-provider/oidc.example.com/cluster";
    let web = Request::new(
        Principal::from_arn(provider),
        "sts:AssumeRoleWithWebIdentity",
        "arn:aws:iam::111122223333:role/k8s_default_aws-cli",
    )
    .with_context(
        Context::new()
            .with(
                "oidc.example.com/cluster:sub",
                "system:serviceaccount:default:aws-cli",
            )
            .with("oidc.example.com/cluster:aud", "sts.amazonaws.com"),
    );
    c.bench_function("evaluate/trust-allowed", |b| {
        b.iter(|| evaluate(black_box(&trust), black_box(&web)))
    });

    let mut set = PolicySet::identity(vec![NamedPolicy::new("s3", Policy::parse(S3).unwrap())]);
    set.permissions_boundaries.push(NamedPolicy::new(
        "boundary",
        Policy::parse(BOUNDARY).unwrap(),
    ));
    let ctx = Context::new()
        .with("aws:SecureTransport", "true")
        .with("aws:SourceIp", "10.1.2.3")
        .with("aws:PrincipalTag/team", "blue");
    let who = Principal::from_arn("arn:aws:sts::111122223333:assumed-role/irsa-default-api/s");
    let put = Request::new(
        who.clone(),
        "s3:PutObject",
        "arn:aws:s3:::k8s-default-api-logs/obj-1",
    )
    .with_context(ctx.clone());
    c.bench_function("evaluate/s3-allowed-with-boundary", |b| {
        b.iter(|| evaluate(black_box(&set), black_box(&put)))
    });
    let denied =
        Request::new(who, "s3:CreateBucket", "arn:aws:s3:::k9s-default-api-logs").with_context(ctx);
    c.bench_function("evaluate/s3-implicit-deny-message", |b| {
        b.iter(|| evaluate(black_box(&set), black_box(&denied)))
    });

    // One line of the batch format, parsed policies cached as in `--cases` mode.
    let line = serde_json::json!({
        "identityPolicies": [serde_json::from_str::<serde_json::Value>(S3).unwrap()],
        "permissionBoundaries": [serde_json::from_str::<serde_json::Value>(BOUNDARY).unwrap()],
        "request": {"principal": "arn:aws:sts::111122223333:assumed-role/irsa-default-api/s", "action": "s3:PutObject",
                    "resource": "arn:aws:s3:::k8s-default-api-logs/obj-1",
                    "context": {"aws:SecureTransport": "true", "aws:SourceIp": "10.1.2.3", "aws:PrincipalTag/team": "blue"}}
    })
    .to_string();
    let mut batch = BatchEvaluator::new();
    c.bench_function("batch/line-cached-policies", |b| {
        b.iter(|| batch.evaluate_line(black_box(&line)).unwrap())
    });
}

criterion_group!(policy, benches);
criterion_main!(policy);
