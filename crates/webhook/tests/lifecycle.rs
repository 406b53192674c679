//! Certificate hot reload (Kubernetes Secret symlink swap) and graceful shutdown.

mod support;

use std::sync::Arc;
use std::time::Duration;

use irsa_webhook::cache::MissPolicy;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls_pki_types::pem::PemObject as _;
use support::{Harness, Options, eventually, pod, review};

/// Handshakes with the server and returns the common name of the certificate it presented.
async fn served_common_name(h: &Harness) -> String {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(h.ca.pem().as_bytes()).unwrap())
        .unwrap();
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(h.https).await.unwrap();
    let tls = connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    let der = tls.get_ref().1.peer_certificates().unwrap()[0].clone();
    // The CN is the last printable run after the CN OID (2.5.4.3) in this small certificate.
    let bytes = der.as_ref();
    let oid = [0x06, 0x03, 0x55, 0x04, 0x03];
    let pos = bytes
        .windows(oid.len())
        .rposition(|w| w == oid)
        .expect("certificate has a CN");
    let len = bytes[pos + oid.len() + 1] as usize;
    let start = pos + oid.len() + 2;
    String::from_utf8(bytes[start..start + len].to_vec()).unwrap()
}

#[tokio::test]
async fn reloads_the_certificate_after_a_secret_symlink_swap() {
    let h = Harness::start(Options::default()).await;
    assert_eq!(served_common_name(&h).await, "serving-1");
    let (cert, key) = h.ca.leaf("serving-2").unwrap();
    support::write_projected(
        &h.dir.path().join("certs"),
        "v2",
        &[("tls.crt", &cert), ("tls.key", &key)],
    );
    let h = Arc::new(h);
    let h2 = h.clone();
    eventually("the new certificate is served", async || {
        served_common_name(&h2).await == "serving-2"
    })
    .await;
    // A broken update (key that does not match) keeps the previous certificate.
    let (_, other_key) = h.ca.leaf("unused").unwrap();
    let (cert3, _) = h.ca.leaf("serving-3").unwrap();
    support::write_projected(
        &h.dir.path().join("certs"),
        "v3",
        &[("tls.crt", &cert3), ("tls.key", &other_key)],
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(served_common_name(&h).await, "serving-2");
    // And the HTTP client still works across the reloads.
    let resp = h.client.get(h.url("/healthz")).send().await.unwrap();
    assert_eq!(resp.text().await.unwrap(), "ok");
}

#[tokio::test]
async fn finishes_in_flight_requests_on_shutdown_then_refuses_connections() {
    // A ServiceAccount that never appears, with a grace period: the request waits ~1.5 s.
    let mut h = Harness::start(Options {
        policy: MissPolicy {
            grace_period: Duration::from_millis(1500),
            lookup_timeout: Duration::ZERO,
            ..MissPolicy::default()
        },
        ..Options::default()
    })
    .await;
    h.synced().await;
    let client = h.client.clone();
    let url = h.url("/mutate");
    let body = review("admission.k8s.io/v1", "slow", "apps", pod("never")).to_string();
    let in_flight = tokio::spawn(async move {
        client
            .post(url)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
    });
    // Let the request reach the handler, then shut down while it waits.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let running = h.running.take().unwrap();
    let shutdown = tokio::spawn(running.shutdown());
    let resp = in_flight
        .await
        .unwrap()
        .expect("in-flight request completed");
    assert_eq!(resp.status().as_u16(), 200);
    let out: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(out["response"]["uid"], "slow");
    assert_eq!(out["response"]["allowed"], true);
    tokio::time::timeout(Duration::from_secs(10), shutdown)
        .await
        .expect("shutdown finished")
        .unwrap();
    assert!(tokio::net::TcpStream::connect(h.https).await.is_err());
    assert!(
        tokio::net::TcpStream::connect(h.metrics_addr)
            .await
            .is_err()
    );
}
