//! Helpers shared by the end-to-end tests that drive the real `irsa` binary
//! (`e2e_aws_clients.rs`, `e2e_rust_sdk.rs`): server processes read until they listen, one-shot
//! commands, the issuer + STS stack they both start, the seed's policy documents, and token
//! tampering.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

/// The binary under test.
pub const IRSA: &str = env!("CARGO_BIN_EXE_irsa");

/// A child process killed (and reaped) on drop, whatever happened in the test.
pub struct Proc {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Proc {
    /// Starts `irsa ARGS` with stdout piped and drained by a thread (so the server never blocks
    /// on a full pipe); stderr goes to the test's output.
    pub fn spawn(args: &[&str]) -> Self {
        let mut child = Command::new(IRSA)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start irsa {args:?}: {e}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self { child, lines }
    }

    /// Waits for the `listening on URL` line and returns the URL.
    pub fn listening_url(&mut self) -> String {
        loop {
            let line = match self.lines.recv_timeout(Duration::from_secs(120)) {
                Ok(line) => line,
                Err(e) => panic!(
                    "no `listening on` line ({e}); exit status: {:?}",
                    self.child.try_wait()
                ),
            };
            if let Some(url) = line.strip_prefix("listening on ") {
                let url = url.trim().to_owned();
                assert!(url.starts_with("http://127.0.0.1:"), "{url}");
                return url;
            }
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `irsa ARGS` to completion and returns stdout; panics with stderr on failure.
pub fn irsa(args: &[&str]) -> String {
    let out = Command::new(IRSA)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run irsa");
    assert!(
        out.status.success(),
        "irsa {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

pub fn describe(out: &Output) -> String {
    format!(
        "{}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Flips one character in the middle of the signature segment (kid, header and claims intact).
pub fn tamper_signature(token: &str) -> String {
    let token = token.trim();
    let (signed, signature) = token.rsplit_once('.').expect("three segments");
    let mut sig: Vec<char> = signature.chars().collect();
    let i = sig.len() / 2;
    sig[i] = if sig[i] == 'A' { 'B' } else { 'A' };
    format!("{signed}.{}", sig.into_iter().collect::<String>())
}

/// The seed's ServiceAccount subject.
pub const SEED_SUBJECT: &str = "system:serviceaccount:default:aws-cli";

/// A cluster side and an AWS side on loopback, in a temporary folder: a key pair
/// (`keys/private.pem`, `keys/public.pem`), `irsa issuer serve` on the folder `irsa issuer
/// init` filled for the URL it got, and `irsa sts serve` with a SQLite state file and fixed
/// admin keys. Both servers are killed when the stack is dropped.
pub struct Stack {
    /// The temporary folder (removed on drop).
    pub dir: tempfile::TempDir,
    /// `http://127.0.0.1:PORT` of the issuer.
    pub issuer_url: String,
    /// `http://127.0.0.1:PORT` of the STS/IAM endpoint.
    pub sts_url: String,
    _issuer: Proc,
    _sts: Proc,
}

impl Stack {
    /// Keys, issuer, endpoint (admin key pair `admin_key_id` / `admin_secret`).
    pub fn start(admin_key_id: &str, admin_secret: &str) -> Stack {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = |p: &str| dir.path().join(p).to_string_lossy().into_owned();
        irsa(&["keys", "generate", "--out-dir", &path("keys")]);

        // The issuer serves its folder per request, so it can start before `issuer init`
        // writes the documents for the URL it got.
        let issuer_dir = path("issuer");
        std::fs::create_dir_all(&issuer_dir).unwrap();
        let mut issuer = Proc::spawn(&[
            "issuer",
            "serve",
            "--dir",
            &issuer_dir,
            "--listen",
            "127.0.0.1:0",
        ]);
        let issuer_url = issuer.listening_url();
        irsa(&[
            "issuer",
            "init",
            "--issuer-url",
            &issuer_url,
            "--allow-insecure-http",
            "--key",
            &path("keys/public.pem"),
            "--jwks-path",
            "openid/v1/jwks",
            "--out",
            &issuer_dir,
        ]);

        let mut sts = Proc::spawn(&[
            "sts",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--state",
            &path("state.sqlite"),
            "--allow-http-issuers",
            "--admin-access-key-id",
            admin_key_id,
            "--admin-secret-access-key",
            admin_secret,
        ]);
        let sts_url = sts.listening_url();
        Stack {
            dir,
            issuer_url,
            sts_url,
            _issuer: issuer,
            _sts: sts,
        }
    }

    /// A path in the stack's folder.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `host:port` of the issuer: what IAM puts in the provider ARN and the condition keys.
    pub fn host_path(&self) -> &str {
        self.issuer_url.strip_prefix("http://").unwrap()
    }

    /// `irsa token mint` for `default/aws-cli` with the stack's key and issuer; `extra` may
    /// name another ServiceAccount or add flags. Returns the token file.
    pub fn mint(&self, file: &str, extra: &[&str]) -> PathBuf {
        self.mint_with(file, &self.issuer_url, "keys/private.pem", extra)
    }

    /// [`Stack::mint`] with another `issuer` claim and signing `key` (a path in the folder).
    pub fn mint_with(&self, file: &str, issuer: &str, key: &str, extra: &[&str]) -> PathBuf {
        let key = self.path(key).to_string_lossy().into_owned();
        let mut args = vec![
            "token",
            "mint",
            "--key",
            &key,
            "--issuer",
            issuer,
            "--namespace",
            "default",
        ];
        if !extra.contains(&"--service-account") {
            args.extend(["--service-account", "aws-cli"]);
        }
        args.extend_from_slice(extra);
        let token = irsa(&args);
        assert_eq!(token.matches('.').count(), 2, "a compact JWS: {token:?}");
        let path = self.path(file);
        std::fs::write(&path, token).unwrap();
        path
    }
}

/// The seed's trust policy: `provider_arn` may assume the role for [`SEED_SUBJECT`] with
/// audience `audience`; `host_path` is the issuer's `host:port` of the condition keys.
pub fn seed_trust_policy(provider_arn: &str, host_path: &str, audience: &str) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Federated": provider_arn},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {
                format!("{host_path}:sub"): SEED_SUBJECT,
                format!("{host_path}:aud"): audience,
            }}
        }]
    })
}

/// The seed's identity policy: every S3 action on buckets named `k8s-default-aws-cli-*`.
pub fn seed_s3_prefix_policy() -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Action": "s3:*",
            "Resource": [
                "arn:aws:s3:::k8s-default-aws-cli-*",
                "arn:aws:s3:::k8s-default-aws-cli-*/*"
            ]
        }]
    })
}
