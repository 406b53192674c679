//! HTTP-level tests of the webhook over real TLS on loopback, with the ServiceAccount cache fed
//! by the fake Kubernetes API (no kube-apiserver can run here).

mod support;

use std::sync::Arc;
use std::time::Duration;

use irsa_webhook::cache::MissPolicy;
use irsa_webhook::testing::Kind;
use serde_json::json;
use support::{Harness, Options, apply_patch, env, eventually, patch_of, pod, review};

const ROLE: &str = "arn:aws:iam::111122223333:role/app";

#[tokio::test]
async fn mutates_pod_of_annotated_service_account_and_keeps_unknown_fields() {
    let h = Harness::start(Options::default()).await;
    h.api
        .put_service_account("apps", "app", &[("eks.amazonaws.com/role-arn", ROLE)]);
    h.synced().await;
    let p = pod("app");
    let response = h.admit("apps", p.clone()).await;
    assert_eq!(response["allowed"], true);
    assert_eq!(response["uid"], "uid-1");
    assert_eq!(response["patchType"], "JSONPatch");
    let mutated = apply_patch(&p, &response);
    assert_eq!(env(&mutated, "AWS_ROLE_ARN").as_deref(), Some(ROLE));
    assert_eq!(
        env(&mutated, "AWS_WEB_IDENTITY_TOKEN_FILE").as_deref(),
        Some("/var/run/secrets/eks.amazonaws.com/serviceaccount/token")
    );
    assert_eq!(
        mutated["spec"]["containers"][0]["futureField"],
        json!({"keep": true})
    );
    let volumes = mutated["spec"]["volumes"].as_array().unwrap();
    assert!(volumes.iter().any(|v| v["name"] == "aws-iam-token"));
}

#[tokio::test]
async fn leaves_pod_of_unannotated_service_account_alone() {
    let h = Harness::start(Options::default()).await;
    h.api
        .put_service_account("apps", "plain", &[("example.com/other", "x")]);
    h.synced().await;
    let response = h.admit("apps", pod("plain")).await;
    assert_eq!(response, json!({"uid": "uid-1", "allowed": true}));
    assert!(
        h.metrics_text()
            .await
            .contains("pod_identity_webhook_missing_sa_count 0")
    );
}

#[tokio::test]
async fn sees_service_account_created_after_start_through_the_watch() {
    let h = Harness::start(Options {
        policy: MissPolicy {
            lookup_timeout: Duration::ZERO,
            ..MissPolicy::default()
        },
        ..Options::default()
    })
    .await;
    h.synced().await;
    h.api
        .put_service_account("apps", "late", &[("eks.amazonaws.com/role-arn", ROLE)]);
    let cache = h.cache.clone();
    eventually("watch delivers the new ServiceAccount", async || {
        cache.cached("apps", "late").is_some()
    })
    .await;
    let response = h.admit("apps", pod("late")).await;
    assert!(patch_of(&response).is_some(), "{response}");
    // No direct GET was needed (the lookup is disabled in this run anyway).
    assert!(
        !h.api
            .requests()
            .iter()
            .any(|r| r.contains("/serviceaccounts/late"))
    );
    // An annotation change and a deletion reach the cache too.
    h.api.put_service_account("apps", "late", &[]);
    eventually("MODIFIED applied", async || {
        cache
            .cached("apps", "late")
            .is_some_and(|a| a.role_arn.is_none())
    })
    .await;
    h.api.delete(Kind::ServiceAccount, "apps", "late");
    eventually("DELETED applied", async || {
        cache.cached("apps", "late").is_none()
    })
    .await;
}

#[tokio::test]
async fn looks_up_a_service_account_missing_from_the_cache() {
    // No watch: the cache is synced but empty, as right after an SA was created and before its
    // watch event arrived.
    let h = Harness::start(Options {
        watch: false,
        ..Options::default()
    })
    .await;
    h.api
        .put_service_account("apps", "fresh", &[("eks.amazonaws.com/role-arn", ROLE)]);
    let response = h.admit("apps", pod("fresh")).await;
    let mutated = apply_patch(&pod("fresh"), &response);
    assert_eq!(env(&mutated, "AWS_ROLE_ARN").as_deref(), Some(ROLE));
    assert!(
        h.api
            .requests()
            .iter()
            .any(|r| r.starts_with("GET /api/v1/namespaces/apps/serviceaccounts/fresh"))
    );
    // A ServiceAccount that does not exist is counted and not mutated.
    let response = h.admit("apps", pod("ghost")).await;
    assert!(patch_of(&response).is_none());
    let text = h.metrics_text().await;
    assert!(
        text.contains("pod_identity_webhook_missing_sa_count 1"),
        "{text}"
    );
    assert!(
        text.contains("irsa_webhook_sa_lookup_count{outcome=\"found\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("irsa_webhook_sa_lookup_count{outcome=\"not_found\"} 1"),
        "{text}"
    );
}

#[tokio::test]
async fn echoes_v1beta1_envelope_and_uid() {
    let h = Harness::start(Options::default()).await;
    h.api
        .put_service_account("apps", "app", &[("eks.amazonaws.com/role-arn", ROLE)]);
    h.synced().await;
    let body = review("admission.k8s.io/v1beta1", "beta-uid", "apps", pod("app"));
    let (status, out) = h.post(body.to_string()).await;
    assert_eq!(status, 200);
    assert_eq!(out["apiVersion"], "admission.k8s.io/v1beta1");
    assert_eq!(out["kind"], "AdmissionReview");
    assert_eq!(out["response"]["uid"], "beta-uid");
    assert!(patch_of(&out["response"]).is_some());
}

#[tokio::test]
async fn answers_malformed_bodies_in_admission_review_shape() {
    let h = Harness::start(Options::default()).await;
    let cases: [(&str, &str); 5] = [
        ("", "bad content"),
        (
            "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\"}",
            "bad content",
        ),
        ("{\"apiVersion\":", "json parse error"),
        ("[1,2,3]", "json parse error"),
        (
            "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":{\"uid\":\"u\",\"object\":\"pod\"}}",
            "v1.Pod",
        ),
    ];
    for (body, message) in cases {
        let (status, out) = h.post(body.to_owned()).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(out["kind"], "AdmissionReview", "{body}");
        assert_eq!(out["response"]["allowed"], false, "{body}");
        let got = out["response"]["status"]["message"].as_str().unwrap();
        assert!(got.contains(message), "{body}: {got}");
    }
    // Invalid UTF-8 and deep nesting do not bring the server down either.
    let (status, _) = h.post(vec![0xff, 0xfe, b'{']).await;
    assert_eq!(status, 200);
    let deep = "[".repeat(100_000);
    let (status, out) = h.post(deep).await;
    assert_eq!(status, 200);
    assert_eq!(out["response"]["allowed"], false);
}

#[tokio::test]
async fn rejects_wrong_content_type_with_415() {
    let h = Harness::start(Options::default()).await;
    let resp = h
        .client
        .post(h.url("/mutate"))
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 415);
    assert_eq!(
        resp.text().await.unwrap(),
        "Invalid Content-Type, expected `application/json`\n"
    );
    let text = h.metrics_text().await;
    assert!(
        text.contains("http_request_count{code=\"415\",path=\"/mutate\",verb=\"POST\"} 1"),
        "{text}"
    );
}

#[tokio::test]
async fn rejects_oversized_bodies_with_413() {
    let h = Harness::start(Options {
        max_body: 64 * 1024,
        ..Options::default()
    })
    .await;
    let big = format!("{{\"pad\":\"{}\"}}", "x".repeat(100 * 1024));
    let (status, _) = h.post(big.clone()).await;
    assert_eq!(status, 413);
    // Chunked (no Content-Length) is bounded too.
    let stream = futures::stream::iter(
        big.into_bytes()
            .chunks(8192)
            .map(|c| {
                Ok::<_, std::io::Error>(hyper::body::Frame::data(
                    hyper::body::Bytes::copy_from_slice(c),
                ))
            })
            .collect::<Vec<_>>(),
    );
    let resp = h
        .client
        .post(h.url("/mutate"))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap(http_body_util::StreamBody::new(stream)))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 413);
}

#[tokio::test]
async fn is_ready_only_after_the_cache_synced() {
    let h = Harness::start(Options {
        hold_lists: true,
        ..Options::default()
    })
    .await;
    let get = |path: &'static str| {
        let c = h.client.clone();
        let url = h.url(path);
        async move { c.get(url).send().await.unwrap().status().as_u16() }
    };
    assert_eq!(get("/healthz").await, 200);
    // The list is held: give the watcher time to be blocked in it, readiness must stay off.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(get("/readyz").await, 503);
    h.api.hold_lists(false);
    h.synced().await;
    assert_eq!(get("/readyz").await, 200);
}

#[tokio::test]
async fn answers_probes_and_unknown_paths_as_before() {
    let h = Harness::start(Options::default()).await;
    h.synced().await;
    let c = &h.client;
    let ok = c.get(h.url("/healthz")).send().await.unwrap();
    assert_eq!(ok.status().as_u16(), 200);
    assert_eq!(
        ok.headers()["content-type"],
        "text/plain; charset=utf-8",
        "probe content type"
    );
    assert_eq!(ok.text().await.unwrap(), "ok");
    let head = c.head(h.url("/readyz")).send().await.unwrap();
    assert_eq!(head.status().as_u16(), 200);
    assert_eq!(head.text().await.unwrap(), "");
    let post = c.post(h.url("/healthz")).send().await.unwrap();
    assert_eq!(post.status().as_u16(), 405);
    assert_eq!(post.headers()["allow"], "GET,HEAD");
    let missing = c.get(h.url("/mutate/")).send().await.unwrap();
    assert_eq!(missing.status().as_u16(), 404);
    assert_eq!(missing.text().await.unwrap(), "");
}

#[tokio::test]
async fn exposes_upstream_metrics() {
    let h = Harness::start(Options::default()).await;
    h.api
        .put_service_account("apps", "app", &[("eks.amazonaws.com/role-arn", ROLE)]);
    h.synced().await;
    h.admit("apps", pod("app")).await;
    let text = h.metrics_text().await;
    for needle in [
        "http_request_count{code=\"200\",path=\"/mutate\",verb=\"POST\"} 1",
        "# TYPE http_request_latencies histogram",
        "http_request_latencies_count{path=\"/mutate\",verb=\"POST\"} 1",
        "http_request_duration_microseconds_count{path=\"/mutate\",verb=\"POST\"} 1",
        "pod_identity_webhook_pod_count{method=\"sts_web_identity\"} 1",
        "pod_identity_webhook_used 1",
    ] {
        assert!(text.contains(needle), "missing {needle} in\n{text}");
    }
}

#[tokio::test]
async fn uses_and_forgets_config_map_mappings() {
    let h = Harness::start(Options {
        watch_config_map: true,
        ..Options::default()
    })
    .await;
    h.api.put_service_account("apps", "mapped", &[]);
    h.api.put_config_map(
        "irsa",
        "pod-identity-webhook",
        &[("config", r#"{"*/mapped":{"RoleARN":"arn:aws:iam::111122223333:role/mapped","Audience":"sts.amazonaws.com"}}"#)],
    );
    h.synced().await;
    let cache = h.cache.clone();
    eventually("mapping loaded", async || {
        cache.has_mapping("apps", "mapped")
    })
    .await;
    let response = h.admit("apps", pod("mapped")).await;
    let mutated = apply_patch(&pod("mapped"), &response);
    assert_eq!(
        env(&mutated, "AWS_ROLE_ARN").as_deref(),
        Some("arn:aws:iam::111122223333:role/mapped")
    );
    h.api
        .delete(Kind::ConfigMap, "irsa", "pod-identity-webhook");
    eventually("mapping dropped on delete", async || {
        !cache.has_mapping("apps", "mapped")
    })
    .await;
    let response = h.admit("apps", pod("mapped")).await;
    assert!(patch_of(&response).is_none());
}

#[tokio::test]
async fn switches_to_container_credentials_when_the_association_file_is_swapped() {
    let dir = tempfile::tempdir().unwrap();
    support::write_projected(
        dir.path(),
        "v1",
        &[("associations.json", r#"{"identities":[]}"#)],
    );
    let h = Harness::start(Options {
        associations: Some(dir.path().join("associations.json")),
        ..Options::default()
    })
    .await;
    h.api
        .put_service_account("apps", "app", &[("eks.amazonaws.com/role-arn", ROLE)]);
    h.synced().await;
    let mutated = apply_patch(&pod("app"), &h.admit("apps", pod("app")).await);
    assert!(env(&mutated, "AWS_ROLE_ARN").is_some());
    support::write_projected(
        dir.path(),
        "v2",
        &[(
            "associations.json",
            r#"{"identities":[{"namespace":"apps","serviceAccount":"app"}]}"#,
        )],
    );
    let h = Arc::new(h);
    let h2 = h.clone();
    eventually("association reloaded", async || {
        let mutated = apply_patch(&pod("app"), &h2.admit("apps", pod("app")).await);
        env(&mutated, "AWS_CONTAINER_CREDENTIALS_FULL_URI").is_some()
    })
    .await;
    let mutated = apply_patch(&pod("app"), &h.admit("apps", pod("app")).await);
    assert_eq!(
        mutated["metadata"]["labels"]["eks.amazonaws.com/pod-identity"],
        "enabled"
    );
    assert!(env(&mutated, "AWS_ROLE_ARN").is_none());
}

#[tokio::test]
async fn syncs_a_paginated_list() {
    let h = Harness::start(Options {
        hold_lists: true,
        ..Options::default()
    })
    .await;
    for i in 0..1200 {
        h.api.put_service_account("bulk", &format!("sa-{i}"), &[]);
    }
    h.api.hold_lists(false);
    h.synced().await;
    assert_eq!(h.cache.len(), 1200);
    // kube-rs lists in pages of 500: three pages, the later ones with a continue token.
    let pages = h
        .api
        .requests()
        .into_iter()
        .filter(|r| r.starts_with("GET /api/v1/serviceaccounts?") && !r.contains("watch=true"))
        .collect::<Vec<_>>();
    assert_eq!(pages.len(), 3, "{pages:?}");
    assert!(pages[1].contains("continue="), "{pages:?}");
}
