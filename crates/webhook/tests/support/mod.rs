//! Test harness: a CA and serving certificates (rcgen), the fake Kubernetes API, the webhook
//! started in-process on 127.0.0.1:0, and an HTTPS client that trusts the test CA.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use irsa_webhook::associations::AssociationFile;
use irsa_webhook::cache::{Cache, MissPolicy};
use irsa_webhook::kube_sync;
use irsa_webhook::metrics::Metrics;
use irsa_webhook::server::{self, App, Running, ServeConfig};
use irsa_webhook::testing::{FakeApi, TestCa};
use irsa_webhook::tls::{ReloadingCert, TlsSettings};
use serde_json::{Value, json};

/// Options of a harness run.
pub struct Options {
    pub policy: MissPolicy,
    /// Start the ServiceAccount watch (otherwise the cache is marked synced empty, so only the
    /// direct lookup can find ServiceAccounts).
    pub watch: bool,
    pub watch_config_map: bool,
    pub associations: Option<PathBuf>,
    pub max_body: usize,
    pub hold_lists: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            policy: MissPolicy::default(),
            watch: true,
            watch_config_map: false,
            associations: None,
            max_body: server::DEFAULT_MAX_BODY,
            hold_lists: false,
        }
    }
}

pub struct Harness {
    pub api: FakeApi,
    pub ca: TestCa,
    pub dir: tempfile::TempDir,
    pub running: Option<Running>,
    pub https: SocketAddr,
    pub metrics_addr: SocketAddr,
    pub client: reqwest::Client,
    pub cache: Arc<Cache>,
    pub metrics: Arc<Metrics>,
    pub cert: Arc<ReloadingCert>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Harness {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

pub fn install_crypto() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// Writes `name` into the Kubernetes-style layout `dir/..data -> dir/<version>/` with
/// `dir/name -> ..data/name`, switching `..data` atomically (as the kubelet does).
pub fn write_projected(dir: &Path, version: &str, files: &[(&str, &str)]) {
    let versioned = dir.join(version);
    std::fs::create_dir_all(&versioned).unwrap();
    for (name, content) in files {
        std::fs::write(versioned.join(name), content).unwrap();
    }
    let tmp = dir.join("..data_tmp");
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(version, &tmp).unwrap();
    std::fs::rename(&tmp, dir.join("..data")).unwrap();
    for (name, _) in files {
        let link = dir.join(name);
        if std::fs::symlink_metadata(&link).is_err() {
            std::os::unix::fs::symlink(Path::new("..data").join(name), &link).unwrap();
        }
    }
}

impl Harness {
    pub async fn start(opts: Options) -> Self {
        install_crypto();
        let api = FakeApi::start().await.unwrap();
        api.hold_lists(opts.hold_lists);
        let ca = TestCa::new().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let certs = dir.path().join("certs");
        std::fs::create_dir_all(&certs).unwrap();
        let (cert, key) = ca.leaf("serving-1").unwrap();
        write_projected(&certs, "v1", &[("tls.crt", &cert), ("tls.key", &key)]);
        let reloading =
            Arc::new(ReloadingCert::load(certs.join("tls.crt"), certs.join("tls.key")).unwrap());
        let mut tasks = vec![reloading.watch(Duration::from_millis(100))];
        let tls = TlsSettings::default()
            .server_config(reloading.clone())
            .unwrap();
        let metrics = Arc::new(Metrics::default());
        let kube = api.client();
        let cache = Arc::new(Cache::new(
            "eks.amazonaws.com",
            opts.policy,
            Some(kube_sync::fetcher(kube.clone())),
            opts.watch_config_map,
            metrics.clone(),
        ));
        if opts.watch {
            tasks.push(tokio::spawn(kube_sync::run_service_accounts(
                kube.clone(),
                cache.clone(),
            )));
        } else {
            cache.init_start();
            cache.init_done();
        }
        if opts.watch_config_map {
            tasks.push(tokio::spawn(kube_sync::run_config_map(
                kube.clone(),
                "irsa".to_owned(),
                cache.clone(),
            )));
        }
        let associations = opts.associations.map(|path| {
            let file = Arc::new(AssociationFile::load(path).unwrap());
            tasks.push(file.watch(Duration::from_millis(100)));
            file
        });
        let app = Arc::new(App {
            cache: cache.clone(),
            metrics: metrics.clone(),
            config: irsa_mutate::Config::default(),
            associations,
            max_body: opts.max_body,
        });
        let running = server::start(
            ServeConfig {
                https: "127.0.0.1:0".parse().unwrap(),
                metrics: "127.0.0.1:0".parse().unwrap(),
                tls: Arc::new(tls),
                shutdown_timeout: Duration::from_secs(10),
            },
            app,
        )
        .await
        .unwrap();
        let client = reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(ca.pem().as_bytes()).unwrap())
            .build()
            .unwrap();
        Self {
            api,
            ca,
            dir,
            https: running.https_addr,
            metrics_addr: running.metrics_addr,
            running: Some(running),
            client,
            cache,
            metrics,
            cert: reloading,
            tasks,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.https.port())
    }

    /// Waits (bounded) until the cache has synced.
    pub async fn synced(&self) {
        tokio::time::timeout(Duration::from_secs(10), self.cache.wait_ready())
            .await
            .expect("cache did not sync within 10 s");
    }

    /// POSTs an AdmissionReview body, returns (status, parsed JSON response or null).
    pub async fn post(&self, body: impl Into<reqwest::Body>) -> (u16, Value) {
        let resp = self
            .client
            .post(self.url("/mutate"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Admits `pod` in `namespace` as admission/v1, returns the `response` object.
    pub async fn admit(&self, namespace: &str, pod: Value) -> Value {
        let (status, body) = self
            .post(review("admission.k8s.io/v1", "uid-1", namespace, pod).to_string())
            .await;
        assert_eq!(status, 200, "{body}");
        body["response"].clone()
    }

    pub async fn metrics_text(&self) -> String {
        reqwest::get(format!("http://{}/metrics", self.metrics_addr))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }
}

pub fn review(api_version: &str, uid: &str, namespace: &str, pod: Value) -> Value {
    json!({
        "apiVersion": api_version,
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "namespace": namespace,
            "operation": "CREATE",
            "userInfo": {"username": "system:serviceaccount:kube-system:replicaset-controller"},
            "object": pod,
            "oldObject": null,
            "dryRun": false
        }
    })
}

pub fn pod(service_account: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "app", "labels": {"app": "x"}},
        "spec": {
            "serviceAccountName": service_account,
            "containers": [{"name": "app", "image": "busybox", "futureField": {"keep": true}}]
        }
    })
}

/// Decodes `response.patch` into a JSON value (the RFC 6902 operations).
pub fn patch_of(response: &Value) -> Option<Value> {
    use base64::Engine as _;
    let b64 = response.get("patch")?.as_str()?;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    Some(serde_json::from_slice(&raw).unwrap())
}

/// Applies the response's patch to `pod` and returns the mutated pod.
pub fn apply_patch(pod: &Value, response: &Value) -> Value {
    let mut out = pod.clone();
    if let Some(p) = patch_of(response) {
        let patch: json_patch::Patch = serde_json::from_value(p).unwrap();
        json_patch::patch(&mut out, &patch).unwrap();
    }
    out
}

/// The env var `name` of the first container of `pod`.
pub fn env(pod: &Value, name: &str) -> Option<String> {
    pod.pointer("/spec/containers/0/env")?
        .as_array()?
        .iter()
        .find(|e| e["name"] == name)
        .and_then(|e| e["value"].as_str())
        .map(str::to_owned)
}

/// Polls `cond` every 50 ms for up to 10 s.
pub async fn eventually(what: &str, mut cond: impl AsyncFnMut() -> bool) {
    for _ in 0..200 {
        if cond().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for: {what}");
}
