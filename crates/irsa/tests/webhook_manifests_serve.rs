//! The generated install, run: `irsa webhook serve` is started with exactly the container args
//! of the generated Deployment (only ports, file paths and the kubeconfig are redirected to the
//! test), against the fake Kubernetes API. A TLS client that trusts only the generated caBundle
//! and dials the name the API server uses (`SERVICE.NS.svc`) must reach /readyz, and every
//! request the webhook makes to the API must be allowed by the generated RBAC rules.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use irsa_webhook::testing::{FakeApi, log_lines, wait_serving};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::Value;

const NS: &str = "irsa-system";
const NAME: &str = "pod-identity-webhook";

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn b64(v: &Value) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(v.as_str().unwrap())
        .unwrap()
}

/// GET `path` over TLS, trusting only `ca_bundle`, verifying the certificate for `host`.
fn https_get(
    addr: SocketAddr,
    ca_bundle: &[u8],
    host: &str,
    path: &str,
) -> std::io::Result<String> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_bundle) {
        roots
            .add(cert.map_err(std::io::Error::other)?)
            .map_err(std::io::Error::other)?;
    }
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = ServerName::try_from(host.to_owned()).map_err(std::io::Error::other)?;
    let conn =
        rustls::ClientConnection::new(Arc::new(config), name).map_err(std::io::Error::other)?;
    let tcp = TcpStream::connect(addr)?;
    tcp.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    tls.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
    )?;
    let mut response = Vec::new();
    match tls.read_to_end(&mut response) {
        Ok(_) => {}
        // A peer closing without close_notify after a complete response is fine here.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !response.is_empty() => {}
        Err(e) => return Err(e),
    }
    Ok(String::from_utf8_lossy(&response).into_owned())
}

/// Whether the generated RBAC rules allow `GET path?query` (get, list or watch).
fn allowed(rules: &[(Option<String>, Value)], request: &str) -> bool {
    let Some(target) = request.strip_prefix("GET ") else {
        return false;
    };
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    // /api/v1/RESOURCE[/NAME] or /api/v1/namespaces/NS/RESOURCE[/NAME]
    let (namespace, resource, name) = match segments.as_slice() {
        ["api", "v1", "namespaces", ns, resource] => (Some(*ns), *resource, None),
        ["api", "v1", "namespaces", ns, resource, name] => (Some(*ns), *resource, Some(*name)),
        ["api", "v1", resource] => (None, *resource, None),
        _ => return false,
    };
    let selected = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("fieldSelector="))
        .map(|s| s.replace("%3D", "="));
    let name = name
        .map(str::to_owned)
        .or_else(|| selected.and_then(|s| s.strip_prefix("metadata.name=").map(str::to_owned)));
    rules.iter().any(|(role_ns, rule)| {
        let has = |key: &str, v: &str| {
            rule[key]
                .as_array()
                .is_some_and(|a| a.iter().any(|x| x == v))
        };
        let ns_ok = match role_ns {
            None => true,
            Some(role_ns) => namespace == Some(role_ns.as_str()),
        };
        let name_ok = match rule.get("resourceNames").and_then(Value::as_array) {
            None => true,
            Some(names) => name
                .as_deref()
                .is_some_and(|n| names.iter().any(|x| x == n)),
        };
        ns_ok && name_ok && has("apiGroups", "") && has("resources", resource)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_generated_deployment_args_and_certificate_serve_behind_the_generated_ca_bundle() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let out = Command::new(env!("CARGO_BIN_EXE_irsa"))
        .args([
            "webhook",
            "manifests",
            "--namespace",
            NS,
            "--image",
            "x/irsa:t",
            "--watch-config-map",
        ])
        .args([
            "--aws-default-region",
            "eu-west-1",
            "--sts-regional-endpoint",
            "--token-expiration",
            "3600",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let docs: Vec<Value> =
        serde_yaml::Deserializer::from_str(std::str::from_utf8(&out.stdout).unwrap())
            .map(|d| serde::Deserialize::deserialize(d).unwrap())
            .collect();
    let of = |kind: &str| docs.iter().find(|d| d["kind"] == kind).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let secret = of("Secret");
    std::fs::write(dir.path().join("tls.crt"), b64(&secret["data"]["tls.crt"])).unwrap();
    std::fs::write(dir.path().join("tls.key"), b64(&secret["data"]["tls.key"])).unwrap();
    let ca_bundle =
        b64(&of("MutatingWebhookConfiguration")["webhooks"][0]["clientConfig"]["caBundle"]);

    let api = FakeApi::start().await.unwrap();
    api.put_service_account(
        "apps",
        "app",
        &[(
            "eks.amazonaws.com/role-arn",
            "arn:aws:iam::111122223333:role/r",
        )],
    );
    api.put_config_map(NS, NAME, &[("config", "{}")]);
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, api.kubeconfig()).unwrap();

    let container = &of("Deployment")["spec"]["template"]["spec"]["containers"][0];
    let args: Vec<String> = container["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let a = a.as_str().unwrap();
            match a.split_once('=').map(|(flag, _)| flag) {
                Some("--port") => "--port=0".to_owned(),
                Some("--metrics-port") => "--metrics-port=0".to_owned(),
                Some("--tls-cert") => {
                    format!("--tls-cert={}", dir.path().join("tls.crt").display())
                }
                Some("--tls-key") => format!("--tls-key={}", dir.path().join("tls.key").display()),
                _ => a.to_owned(),
            }
        })
        .collect();
    assert!(
        args.contains(&"--in-cluster=false".to_owned())
            && args.contains(&"--watch-config-map=true".to_owned())
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_irsa"))
        .args(&args)
        .arg(format!("--kubeconfig={}", kubeconfig.display()))
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = log_lines(child.stderr.take().unwrap());
    let _child = Killed(child);
    let https_port = wait_serving(&stderr, Duration::from_secs(30)).https.port();
    let addr: SocketAddr = ([127, 0, 0, 1], https_port).into();

    let host = format!("{NAME}.{NS}.svc");
    let probe = |path: &'static str| {
        let (ca, host) = (ca_bundle.clone(), host.clone());
        tokio::task::spawn_blocking(move || https_get(addr, &ca, &host, path))
    };
    let mut ready = String::new();
    for _ in 0..100 {
        ready = probe("/readyz")
            .await
            .unwrap()
            .unwrap_or_else(|e| format!("error: {e}"));
        if ready.starts_with("HTTP/1.1 200") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        ready.starts_with("HTTP/1.1 200"),
        "readiness probe path never answered 200: {ready}"
    );
    let live = probe("/healthz").await.unwrap().unwrap();
    assert!(live.starts_with("HTTP/1.1 200"), "{live}");

    // A client that checks another name fails: the SANs are exactly the Service's names.
    let wrong = {
        let ca = ca_bundle.clone();
        tokio::task::spawn_blocking(move || https_get(addr, &ca, "webhook.other.svc", "/healthz"))
            .await
            .unwrap()
    };
    assert!(
        wrong.is_err(),
        "a certificate for {host} was accepted for another name"
    );

    // Every API request the webhook made is one the generated RBAC allows.
    let mut rules: Vec<(Option<String>, Value)> = Vec::new();
    for doc in &docs {
        match doc["kind"].as_str().unwrap() {
            "ClusterRole" => rules.extend(
                doc["rules"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| (None, r.clone())),
            ),
            "Role" => rules.extend(doc["rules"].as_array().unwrap().iter().map(|r| {
                (
                    Some(doc["metadata"]["namespace"].as_str().unwrap().to_owned()),
                    r.clone(),
                )
            })),
            _ => {}
        }
    }
    let mut saw_config_map = false;
    for _ in 0..100 {
        saw_config_map = api.requests().iter().any(|r| r.contains("/configmaps"));
        if saw_config_map {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        saw_config_map,
        "the webhook never read its ConfigMap: {:?}",
        api.requests()
    );
    let requests = api.requests();
    eprintln!("API requests: {requests:?}");
    assert!(
        requests.iter().any(|r| r.contains("/serviceaccounts")),
        "{requests:?}"
    );
    for request in &requests {
        assert!(
            allowed(&rules, request),
            "the generated RBAC forbids {request}"
        );
    }
    // And the check itself is not vacuous.
    assert!(!allowed(
        &rules,
        "GET /api/v1/namespaces/other/configmaps?fieldSelector=metadata.name%3Dpod-identity-webhook"
    ));
    assert!(!allowed(
        &rules,
        "GET /api/v1/namespaces/irsa-system/configmaps"
    ));
    assert!(!allowed(&rules, "GET /api/v1/secrets"));
}
