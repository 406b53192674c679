//! `irsa cluster flags` for every distribution, with keys made by openssl.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const IRSA: &str = env!("CARGO_BIN_EXE_irsa");
const DISTROS: [&str; 7] = [
    "microk8s", "kops", "kind", "k3s", "kubeadm", "rke2", "talos",
];

fn openssl(args: &[&str]) {
    let status = Command::new("openssl")
        .args(args)
        .stderr(Stdio::null())
        .status()
        .expect("openssl is installed");
    assert!(status.success(), "openssl {args:?}");
}

fn key_pair(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let private = dir.join(format!("{name}.key"));
    let public = dir.join(format!("{name}.pub"));
    openssl(&[
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:2048",
        "-out",
        private.to_str().unwrap(),
    ]);
    openssl(&[
        "pkey",
        "-in",
        private.to_str().unwrap(),
        "-pubout",
        "-out",
        public.to_str().unwrap(),
    ]);
    (private, public)
}

fn flags(distro: &str, private: &Path, public: &Path, extra: &[&str]) -> Output {
    Command::new(IRSA)
        .args([
            "cluster",
            "flags",
            "--distro",
            distro,
            "--issuer-url",
            "https://oidc.example.com",
        ])
        .arg("--signing-key")
        .arg(private)
        .arg("--public-key")
        .arg(public)
        .args(extra)
        .output()
        .unwrap()
}

/// Parses YAML with PyYAML from the test venv when available (kubernetes-validate brings it).
fn yaml_to_json(text: &str) -> Option<serde_json::Value> {
    let python = std::env::var_os("IRSA_TEST_PYTHON")?;
    let out = Command::new(python)
        .args([
            "-c",
            "import json,sys,yaml; print(json.dumps(yaml.safe_load(sys.stdin.read())))",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(text.as_bytes())?;
            child.wait_with_output()
        })
        .unwrap();
    assert!(out.status.success(), "YAML does not parse:\n{text}");
    Some(serde_json::from_slice(&out.stdout).unwrap())
}

#[test]
fn every_distro_gets_a_snippet_with_the_issuer_and_jwks() {
    let tmp = tempfile::tempdir().unwrap();
    let (private, public) = key_pair(tmp.path(), "sa");
    for distro in DISTROS {
        let out = flags(
            distro,
            &private,
            &public,
            &["--keep-issuer", "https://old.example.com"],
        );
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(
            out.status.success(),
            "{distro}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            text.contains("https://oidc.example.com/keys.json"),
            "{distro}"
        );
        assert!(text.contains("New signing key kid: "), "{distro}");
        assert!(
            text.contains("never put sts.amazonaws.com in --api-audiences"),
            "{distro}"
        );
        for line in text.lines().filter(|l| !l.trim_start().starts_with('#')) {
            assert!(!line.contains("sts.amazonaws.com"), "{distro}: {line}");
        }
        if distro != "microk8s"
            && let Some(doc) = yaml_to_json(&text)
        {
            assert!(doc.is_object(), "{distro}: {doc}");
        }
    }
}

#[test]
fn kubeadm_keeps_the_old_issuer_as_second_issuer() {
    let tmp = tempfile::tempdir().unwrap();
    let (private, public) = key_pair(tmp.path(), "sa");
    let out = flags(
        "kubeadm",
        &private,
        &public,
        &["--keep-issuer", "https://old.example.com"],
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let new = text.find("value: \"https://oidc.example.com\"").unwrap();
    let old = text.find("value: \"https://old.example.com\"").unwrap();
    assert!(new < old, "the new issuer comes first (it signs):\n{text}");
}

#[test]
fn kind_mounts_the_absolute_key_paths() {
    let tmp = tempfile::tempdir().unwrap();
    let (private, public) = key_pair(tmp.path(), "sa");
    let out = flags("kind", &private, &public, &[]);
    let text = String::from_utf8(out.stdout).unwrap();
    let abs = std::fs::canonicalize(&private).unwrap();
    assert!(
        text.contains(&format!("hostPath: \"{}\"", abs.display())),
        "{text}"
    );
}

#[test]
fn talos_and_kops_warn_that_the_key_is_embedded() {
    let tmp = tempfile::tempdir().unwrap();
    let (private, public) = key_pair(tmp.path(), "sa");
    for distro in ["kops", "talos"] {
        let out = flags(distro, &private, &public, &[]);
        assert!(out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("embeds the private signing key"));
    }
}

#[test]
fn mismatched_or_bad_keys_and_urls_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let (private, public) = key_pair(tmp.path(), "a");
    let (_, other_public) = key_pair(tmp.path(), "b");
    let out = flags("k3s", &private, &other_public, &[]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("does not hold the public half"), "{stderr}");
    assert!(out.stdout.is_empty());

    let out = flags("k3s", &public, &public, &[]);
    assert!(!out.status.success(), "a public key cannot sign");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--signing-key"));

    let out = flags("minikube", &private, &public, &[]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("microk8s"));

    let out = Command::new(IRSA)
        .args([
            "cluster",
            "flags",
            "--distro",
            "k3s",
            "--issuer-url",
            "https://oidc.example.com:6443",
        ])
        .arg("--signing-key")
        .arg(&private)
        .arg("--public-key")
        .arg(&public)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("port"));
}
