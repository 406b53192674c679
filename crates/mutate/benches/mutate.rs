//! Criterion benches of the mutation: a typical pod and a pod with 10 containers, the core alone
//! and with the JSON parse + patch serialization a webhook request adds.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use irsa_mutate::{Associations, Config, ServiceAccountInfo, ServiceAccountLookup, mutate};
use serde_json::{Value, json};

fn container(i: usize) -> Value {
    json!({
        "name": format!("app-{i}"),
        "image": "public.ecr.aws/docker/library/nginx:1.27",
        "ports": [{"containerPort": 8080, "protocol": "TCP"}],
        "env": [{"name": "LOG_LEVEL", "value": "info"}, {"name": "PORT", "value": "8080"}],
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
        "volumeMounts": [{"name": "kube-api-access-abcde", "readOnly": true,
                          "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}],
        "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}},
    })
}

fn pod(containers: usize) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web-7d4b9c", "namespace": "shop", "labels": {"app": "web"},
                     "annotations": {"kubectl.kubernetes.io/default-container": "app-0"}},
        "spec": {
            "serviceAccountName": "web",
            "containers": (0..containers).map(container).collect::<Vec<_>>(),
            "volumes": [{"name": "kube-api-access-abcde", "projected": {"sources": [
                {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}}]}}],
        },
    })
}

fn bench(c: &mut Criterion) {
    let sa = ServiceAccountInfo {
        role_arn: Some("arn:aws:iam::111122223333:role/web".into()),
        ..Default::default()
    };
    let config = Config {
        region: Some("eu-west-1".into()),
        regional_sts: true,
        ..Config::default()
    };
    let associations = Associations::default();
    let lookup = ServiceAccountLookup::cached(Some(&sa));
    for (name, n) in [("typical_pod", 1), ("pod_10_containers", 10)] {
        let pod = pod(n);
        let bytes = serde_json::to_vec(&pod).unwrap();
        c.bench_function(&format!("mutate/{name}"), |b| {
            b.iter(|| {
                mutate(
                    black_box(&pod),
                    "shop",
                    &lookup,
                    &associations,
                    &config,
                    &mut |_| 0,
                )
                .unwrap()
            })
        });
        c.bench_function(&format!("parse_mutate_serialize/{name}"), |b| {
            b.iter(|| {
                let pod: Value = serde_json::from_slice(black_box(&bytes)).unwrap();
                let m = mutate(&pod, "shop", &lookup, &associations, &config, &mut |_| 0).unwrap();
                serde_json::to_vec(&m.patch).unwrap()
            })
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
