//! What the `irsa webhook serve` end-to-end tests (`webhook_serve_e2e.rs`,
//! `webhook_compose_role_arn.rs`) both need: the serving files and the base command.

use std::process::{Command, Stdio};

use irsa_webhook::testing::{FakeApi, TestCa};

/// A temporary folder with `tls.crt` / `tls.key` (a serving certificate from a fresh test CA)
/// and a `kubeconfig` pointing at the fake API.
pub struct ServeFiles {
    /// The folder (removed on drop).
    pub dir: tempfile::TempDir,
    /// The CA that signed the serving certificate (clients trust its PEM).
    pub ca: TestCa,
}

impl ServeFiles {
    /// Writes the files for a server named `name` that watches `api`.
    pub fn write(api: &FakeApi, name: &str) -> ServeFiles {
        let dir = tempfile::tempdir().unwrap();
        let ca = TestCa::new().unwrap();
        let (cert, key) = ca.leaf(name).unwrap();
        std::fs::write(dir.path().join("tls.crt"), cert).unwrap();
        std::fs::write(dir.path().join("tls.key"), key).unwrap();
        std::fs::write(dir.path().join("kubeconfig"), api.kubeconfig()).unwrap();
        ServeFiles { dir, ca }
    }

    /// A path in the folder.
    pub fn path(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }

    /// `irsa webhook serve --in-cluster=false --namespace=default` on ephemeral ports with these
    /// files, info logs on a piped stderr (read with `irsa_webhook::testing::log_lines`).
    /// Callers add their own flags and environment, then spawn.
    pub fn serve_command(&self) -> Command {
        let file = |name: &str| self.path(name).display().to_string();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_irsa"));
        cmd.args([
            "webhook",
            "serve",
            "--in-cluster=false",
            "--namespace=default",
        ])
        .args(["--port=0", "--metrics-port=0"])
        .arg(format!("--tls-cert={}", file("tls.crt")))
        .arg(format!("--tls-key={}", file("tls.key")))
        .arg(format!("--kubeconfig={}", file("kubeconfig")))
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stderr(Stdio::piped())
        .stdout(Stdio::null());
        cmd
    }
}
