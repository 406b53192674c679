//! End-to-end: the `irsa webhook serve` binary, started the way upstream's Deployment starts
//! the Go webhook, against the fake Kubernetes API (no kube-apiserver can run here), over TLS
//! on loopback; then SIGTERM.

use std::process::Command;
use std::time::Duration;

use irsa_webhook::testing::{
    FakeApi, https_request, log_lines, pod_review, wait_ready, wait_serving,
};

mod webhook_support;
use serde_json::{Value, json};
use webhook_support::ServeFiles;

const ROLE: &str = "arn:aws:iam::111122223333:role/e2e";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_mutations_with_upstream_flags_and_stops_on_sigterm() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let api = FakeApi::start().await.unwrap();
    api.put_service_account("apps", "e2e", &[("eks.amazonaws.com/role-arn", ROLE)]);
    api.put_service_account("apps", "plain", &[]);
    let files = ServeFiles::write(&api, "e2e");
    let assoc = files.path("associations.json");
    std::fs::write(&assoc, r#"{"identities":[]}"#).unwrap();

    // The args of upstream's deploy/deployment-base.yaml, plus ports and files for the test.
    let mut child = files
        .serve_command()
        .args([
            "--service-name=pod-identity-webhook",
            "--annotation-prefix=eks.amazonaws.com",
        ])
        .args(["--token-audience=sts.amazonaws.com", "--logtostderr"])
        .arg("--aws-default-region=eu-west-1")
        .arg(format!(
            "--watch-container-credentials-config={}",
            assoc.display()
        ))
        .spawn()
        .unwrap();
    let rx = log_lines(child.stderr.take().unwrap());
    let serving = wait_serving(&rx, Duration::from_secs(30));
    let (https, metrics_port) = (serving.https, serving.metrics.port());
    let ca_pem = files.ca.pem();

    // Ready once the ServiceAccount list synced.
    assert!(
        wait_ready(https, &ca_pem).await,
        "webhook never became ready"
    );

    let (status, body) = https_request(
        https,
        &ca_pem,
        "POST",
        "/mutate",
        "application/json",
        &pod_review("e2e-1", "e2e"),
    )
    .await
    .unwrap();
    assert_eq!(status, 200);
    let out: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(out["response"]["uid"], "e2e-1");
    use base64::Engine as _;
    let patch = base64::engine::general_purpose::STANDARD
        .decode(out["response"]["patch"].as_str().expect("a patch"))
        .unwrap();
    let patch = String::from_utf8(patch).unwrap();
    assert!(patch.contains(ROLE), "{patch}");
    assert!(patch.contains("eu-west-1"), "{patch}");

    let (_, body) = https_request(
        https,
        &ca_pem,
        "POST",
        "/mutate",
        "application/json",
        &pod_review("e2e-2", "plain"),
    )
    .await
    .unwrap();
    let out: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(out["response"], json!({"uid": "e2e-2", "allowed": true}));

    // Metrics over plain HTTP on the metrics port.
    let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", metrics_port))
        .await
        .unwrap();
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    tcp.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut text = String::new();
    tcp.read_to_string(&mut text).await.unwrap();
    assert!(
        text.contains("pod_identity_webhook_pod_count{method=\"sts_web_identity\"} 1"),
        "{text}"
    );

    // SIGTERM: graceful stop, exit code 0.
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut exited = None;
    for _ in 0..150 {
        if let Some(s) = child.try_wait().unwrap() {
            exited = Some(s);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let Some(exit) = exited else {
        let _ = child.kill();
        panic!("webhook did not stop within 15 s of SIGTERM");
    };
    assert!(exit.success(), "exit status {exit}");
}

#[test]
fn rejects_bad_flags_with_a_clear_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_irsa"))
        .args([
            "webhook",
            "serve",
            "--tls-min-version=1.4",
            "--watch-container-credentials-config=/nonexistent",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--tls-min-version"), "{err}");
    let out = Command::new(env!("CARGO_BIN_EXE_irsa"))
        .args([
            "webhook",
            "serve",
            "--in-cluster=false",
            "--port=0",
            "--metrics-port=0",
        ])
        .args([
            "--tls-cert=/nonexistent/tls.crt",
            "--tls-key=/nonexistent/tls.key",
        ])
        .args([
            "--watch-container-credentials-config=/nonexistent",
            "--kube-api=http://127.0.0.1:1",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/nonexistent/tls.crt"), "{err}");
}
