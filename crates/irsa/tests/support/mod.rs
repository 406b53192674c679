//! Helpers shared by the end-to-end tests that drive the real `irsa` binary
//! (`e2e_aws_clients.rs`, `e2e_rust_sdk.rs`): server processes read until they listen, one-shot
//! commands, and token tampering.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

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
