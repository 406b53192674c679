//! `irsa webhook serve --compose-role-arn`: the binary reads the account and region from a fake
//! EC2 instance metadata service (IMDSv2 with session token, or IMDSv1) on loopback, and
//! completes bare role names from ServiceAccount annotations; an unreachable IMDS is fatal.

use std::net::SocketAddr;
use std::process::Child;
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use irsa_webhook::testing::{
    FakeApi, https_request, log_lines, pod_review, wait_ready, wait_serving,
};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;

mod webhook_support;
use webhook_support::ServeFiles;

const ACCOUNT: &str = "123456789012";
const REGION: &str = "cn-north-1";
const TOKEN: &str = "AQAEAFake-imds-session-token==";
const FULL_ROLE: &str = "arn:aws:iam::111122223333:role/already-full";

/// A fake IMDS on 127.0.0.1:0. In IMDSv2 mode the token PUT needs the TTL header and the
/// document GET needs the token; in IMDSv1-only mode the PUT is answered 405, as an IMDS with
/// tokens disabled at the HTTP layer would be. Every request is recorded as
/// `METHOD PATH token=<header or ->`.
struct FakeImds {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeImds {
    async fn start(v2: bool) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let log = requests.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let log = log.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 1024];
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let head = String::from_utf8_lossy(&buf).into_owned();
                    let mut lines = head.split("\r\n");
                    let mut request_line = lines.next().unwrap_or("").split(' ');
                    let method = request_line.next().unwrap_or("").to_owned();
                    let path = request_line.next().unwrap_or("").to_owned();
                    let header = |name: &str| {
                        head.split("\r\n").skip(1).find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.trim()
                                .eq_ignore_ascii_case(name)
                                .then(|| v.trim().to_owned())
                        })
                    };
                    let token = header("x-aws-ec2-metadata-token");
                    log.lock().unwrap().push(format!(
                        "{method} {path} token={}",
                        token.as_deref().unwrap_or("-")
                    ));
                    let document = json!({
                        "accountId": ACCOUNT, "region": REGION,
                        "availabilityZone": "cn-north-1a", "instanceId": "i-0123456789abcdef0",
                        "instanceType": "m5.large", "privateIp": "10.0.0.10",
                        "version": "2017-09-30"
                    })
                    .to_string();
                    let ttl_ok = header("x-aws-ec2-metadata-token-ttl-seconds")
                        .and_then(|v| v.parse::<u32>().ok())
                        .is_some_and(|ttl| (1..=21600).contains(&ttl));
                    let (status, body) = match (method.as_str(), path.as_str()) {
                        ("PUT", "/latest/api/token") if !v2 => ("405 Method Not Allowed", ""),
                        ("PUT", "/latest/api/token") if ttl_ok => ("200 OK", TOKEN),
                        ("PUT", "/latest/api/token") => ("400 Bad Request", ""),
                        ("GET", "/latest/dynamic/instance-identity/document") => {
                            if !v2 || token.as_deref() == Some(TOKEN) {
                                ("200 OK", document.as_str())
                            } else {
                                ("401 Unauthorized", "")
                            }
                        }
                        _ => ("404 Not Found", ""),
                    };
                    let response = format!(
                        "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\
                         Connection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = stream.write_all(response.as_bytes()).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        Self {
            addr,
            requests,
            task,
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for FakeImds {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The webhook process, killed when the test ends (even on panic).
struct Webhook {
    child: Child,
    stderr: mpsc::Receiver<String>,
    _files: ServeFiles,
    ca_pem: String,
}

impl Drop for Webhook {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `irsa webhook serve --compose-role-arn` against `api` with IMDS at `imds_endpoint`.
fn start_webhook(api: &FakeApi, imds_endpoint: &str) -> Webhook {
    let files = ServeFiles::write(api, "compose");
    let mut child = files
        .serve_command()
        .arg("--compose-role-arn")
        .env("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds_endpoint)
        .env_remove("AWS_EC2_METADATA_DISABLED")
        .spawn()
        .unwrap();
    let stderr = log_lines(child.stderr.take().unwrap());
    Webhook {
        child,
        stderr,
        ca_pem: files.ca.pem(),
        _files: files,
    }
}

/// Admits a pod of ServiceAccount `sa` and returns the `AWS_ROLE_ARN` its patch injects.
async fn injected_role(https: SocketAddr, ca_pem: &str, sa: &str) -> String {
    let (status, body) = https_request(
        https,
        ca_pem,
        "POST",
        "/mutate",
        "application/json",
        &pod_review(sa, sa),
    )
    .await
    .unwrap();
    assert_eq!(status, 200);
    let out: Value = serde_json::from_slice(&body).unwrap();
    use base64::Engine as _;
    let patch = base64::engine::general_purpose::STANDARD
        .decode(out["response"]["patch"].as_str().expect("a patch"))
        .unwrap();
    let patch: json_patch::Patch = serde_json::from_slice(&patch).unwrap();
    let mut pod = json!({"spec": {"containers": [{"name": "app", "image": "busybox"}]}});
    json_patch::patch(&mut pod, &patch).unwrap();
    pod["spec"]["containers"][0]["env"]
        .as_array()
        .and_then(|env| env.iter().find(|e| e["name"] == "AWS_ROLE_ARN"))
        .and_then(|e| e["value"].as_str())
        .unwrap_or_else(|| panic!("no AWS_ROLE_ARN in {pod}"))
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn composes_bare_role_names_from_imdsv2_identity() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let imds = FakeImds::start(true).await;
    let api = FakeApi::start().await.unwrap();
    api.put_service_account(
        "apps",
        "bare",
        &[("eks.amazonaws.com/role-arn", "s3-reader")],
    );
    api.put_service_account("apps", "full", &[("eks.amazonaws.com/role-arn", FULL_ROLE)]);
    let webhook = start_webhook(&api, &imds.url());
    let serving = wait_serving(&webhook.stderr, Duration::from_secs(30));
    let (log, https) = (serving.lines, serving.https);
    let expected = format!("arn:aws-cn:iam::{ACCOUNT}:role/<name>");
    assert!(log.iter().any(|l| l.contains(&expected)), "{log:#?}");
    // IMDSv2: a session token first, then the document with that token.
    assert_eq!(
        imds.requests(),
        [
            "PUT /latest/api/token token=-".to_owned(),
            format!("GET /latest/dynamic/instance-identity/document token={TOKEN}"),
        ]
    );
    assert!(
        wait_ready(https, &webhook.ca_pem).await,
        "webhook never became ready"
    );

    assert_eq!(
        injected_role(https, &webhook.ca_pem, "bare").await,
        format!("arn:aws-cn:iam::{ACCOUNT}:role/s3-reader")
    );
    assert_eq!(
        injected_role(https, &webhook.ca_pem, "full").await,
        FULL_ROLE
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn falls_back_to_imdsv1_when_tokens_are_refused() {
    let imds = FakeImds::start(false).await;
    let api = FakeApi::start().await.unwrap();
    let webhook = start_webhook(&api, &format!("{}/", imds.url()));
    let log = wait_serving(&webhook.stderr, Duration::from_secs(30)).lines;
    let expected = format!("arn:aws-cn:iam::{ACCOUNT}:role/<name>");
    assert!(log.iter().any(|l| l.contains(&expected)), "{log:#?}");
    assert_eq!(
        imds.requests(),
        [
            "PUT /latest/api/token token=-",
            "GET /latest/dynamic/instance-identity/document token=-",
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_imds_is_fatal_with_a_clear_error() {
    // A port that was just free: nothing listens there.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let api = FakeApi::start().await.unwrap();
    let mut webhook = start_webhook(&api, &endpoint);
    let started = Instant::now();
    let status = loop {
        if let Some(status) = webhook.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the webhook kept running without IMDS"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(!status.success(), "{status}");
    let mut lines = Vec::new();
    while let Ok(line) = webhook.stderr.recv_timeout(Duration::from_secs(5)) {
        lines.push(line); // ends when the reader thread hits EOF (the process is gone)
    }
    let stderr = lines.join("\n");
    assert!(stderr.contains("--compose-role-arn"), "{stderr}");
    assert!(stderr.contains(&endpoint), "{stderr}");
    assert!(stderr.contains("full role ARNs"), "{stderr}");
    assert!(
        !stderr.contains("irsa webhook serving"),
        "served without IMDS: {stderr}"
    );
}
