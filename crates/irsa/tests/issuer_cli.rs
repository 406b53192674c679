//! `irsa issuer init|rotate|serve` as a user runs them: real files, exit codes, messages.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

const IRSA: &str = env!("CARGO_BIN_EXE_irsa");

fn irsa(args: &[&str]) -> Output {
    Command::new(IRSA).args(args).output().expect("run irsa")
}

fn ok(args: &[&str]) -> (String, String) {
    let out = irsa(args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "irsa {args:?} failed:\n{stderr}");
    (String::from_utf8(out.stdout).unwrap(), stderr)
}

fn fails(args: &[&str]) -> String {
    let out = irsa(args);
    assert!(!out.status.success(), "irsa {args:?} should have failed");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn openssl(args: &[&str]) {
    let status = Command::new("openssl")
        .args(args)
        .stderr(Stdio::null())
        .status()
        .expect("openssl is installed");
    assert!(status.success(), "openssl {args:?}");
}

/// An RSA key made by openssl (traditional PKCS#1 PEM) and its SPKI public key, plus the kid
/// kube-apiserver would compute: base64url(SHA-256(DER SPKI)), as tooling.md 4.1 verifies it.
fn openssl_rsa(dir: &Path, name: &str) -> (String, String, String) {
    let private = dir.join(format!("{name}.key"));
    let public = dir.join(format!("{name}.pub"));
    let der = dir.join(format!("{name}.der"));
    openssl(&[
        "genrsa",
        "-traditional",
        "-out",
        private.to_str().unwrap(),
        "2048",
    ]);
    openssl(&[
        "rsa",
        "-in",
        private.to_str().unwrap(),
        "-pubout",
        "-out",
        public.to_str().unwrap(),
    ]);
    openssl(&[
        "pkey",
        "-pubin",
        "-in",
        public.to_str().unwrap(),
        "-outform",
        "DER",
        "-out",
        der.to_str().unwrap(),
    ]);
    let digest = Command::new("openssl")
        .args(["dgst", "-sha256", "-binary", der.to_str().unwrap()])
        .output()
        .unwrap()
        .stdout;
    let kid = b64url(&digest);
    (
        private.to_str().unwrap().to_owned(),
        public.to_str().unwrap().to_owned(),
        kid,
    )
}

fn b64url(data: &[u8]) -> String {
    const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(B64[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

fn json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn kids(site: &Path) -> Vec<String> {
    json(&site.join("keys.json"))["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn init_publishes_openssl_keys_with_the_kube_apiserver_kid() {
    let tmp = tempfile::tempdir().unwrap();
    let (private, public, kid) = openssl_rsa(tmp.path(), "sa");
    let site = tmp.path().join("site");
    let site_s = site.to_str().unwrap();
    // The private key and its public key are the same key: published once.
    let (stdout, stderr) = ok(&[
        "issuer",
        "init",
        "--issuer-url",
        "https://oidc.example.com",
        "--key",
        &private,
        "--key",
        &public,
        "--out",
        site_s,
    ]);
    assert!(stderr.is_empty(), "{stderr}");
    assert!(stdout.contains(&format!("1 key: kid {kid}")), "{stdout}");
    assert!(stdout.contains("Next steps:"), "{stdout}");
    assert!(stdout.contains("https://oidc.example.com/.well-known/openid-configuration"));
    let doc = std::fs::read_to_string(site.join(".well-known/openid-configuration")).unwrap();
    assert_eq!(
        doc,
        r#"{"issuer":"https://oidc.example.com","jwks_uri":"https://oidc.example.com/keys.json","response_types_supported":["id_token"],"subject_types_supported":["public"],"id_token_signing_alg_values_supported":["RS256"]}"#
    );
    let jwks = json(&site.join("keys.json"));
    let key = &jwks["keys"][0];
    assert_eq!(key["kid"], kid.as_str());
    assert_eq!(key["kty"], "RSA");
    assert_eq!(key["alg"], "RS256");
    assert_eq!(key["use"], "sig");
    assert!(key.get("d").is_none(), "no private member published");
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 1);
}

#[test]
fn init_with_a_jwks_path_and_a_trailing_slash_warning() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, public, _) = openssl_rsa(tmp.path(), "sa");
    let site = tmp.path().join("site");
    let (_, stderr) = ok(&[
        "issuer",
        "init",
        "--issuer-url",
        "https://oidc.example.com/cluster-a/",
        "--key",
        &public,
        "--out",
        site.to_str().unwrap(),
        "--jwks-path",
        "openid/v1/jwks",
    ]);
    assert!(
        stderr.contains("warning: the issuer URL ends with '/'"),
        "{stderr}"
    );
    let doc = json(&site.join(".well-known/openid-configuration"));
    assert_eq!(doc["issuer"], "https://oidc.example.com/cluster-a/");
    assert_eq!(
        doc["jwks_uri"],
        "https://oidc.example.com/cluster-a/openid/v1/jwks"
    );
    assert!(site.join("openid/v1/jwks").is_file());
}

#[test]
fn bad_input_fails_clearly_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, public, _) = openssl_rsa(tmp.path(), "sa");
    let garbage = tmp.path().join("garbage.pem");
    std::fs::write(&garbage, "hello").unwrap();
    let site = tmp.path().join("site");
    let site_s = site.to_str().unwrap();
    let cases: [(&[&str], &str); 8] = [
        (
            &[
                "--issuer-url",
                "https://oidc.example.com:8443",
                "--key",
                &public,
            ],
            "port",
        ),
        (
            &["--issuer-url", "http://oidc.example.com", "--key", &public],
            "--allow-insecure-http",
        ),
        (
            &[
                "--issuer-url",
                "https://oidc.example.com/?x=1",
                "--key",
                &public,
            ],
            "query",
        ),
        (
            &[
                "--issuer-url",
                "https://oidc.example.com#f",
                "--key",
                &public,
            ],
            "fragment",
        ),
        (&["--issuer-url", "https://oidc.example.com"], "--key"),
        (
            &[
                "--issuer-url",
                "https://oidc.example.com",
                "--key",
                garbage.to_str().unwrap(),
            ],
            "garbage.pem",
        ),
        (
            &[
                "--issuer-url",
                "https://oidc.example.com",
                "--key",
                "/nonexistent.pem",
            ],
            "/nonexistent.pem",
        ),
        (
            &[
                "--issuer-url",
                "https://oidc.example.com",
                "--key",
                &public,
                "--jwks-path",
                "../x",
            ],
            "JWKS path",
        ),
    ];
    for (args, needle) in cases {
        let mut full = vec!["issuer", "init", "--out", site_s];
        full.extend_from_slice(args);
        let stderr = fails(&full);
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert!(!site.exists(), "{args:?} left {site_s} behind");
    }
    // An existing issuer is not overwritten without --force.
    ok(&[
        "issuer",
        "init",
        "--issuer-url",
        "https://a.example",
        "--key",
        &public,
        "--out",
        site_s,
    ]);
    let before = std::fs::read(site.join("keys.json")).unwrap();
    let stderr = fails(&[
        "issuer",
        "init",
        "--issuer-url",
        "https://b.example",
        "--key",
        &public,
        "--out",
        site_s,
    ]);
    assert!(stderr.contains("already exists"), "{stderr}");
    assert_eq!(std::fs::read(site.join("keys.json")).unwrap(), before);
    ok(&[
        "issuer",
        "init",
        "--issuer-url",
        "https://b.example",
        "--key",
        &public,
        "--out",
        site_s,
        "--force",
    ]);
    assert_eq!(
        json(&site.join(".well-known/openid-configuration"))["issuer"],
        "https://b.example"
    );
}

#[test]
fn rotate_adds_then_retires_with_the_procedure() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, old_pub, old_kid) = openssl_rsa(tmp.path(), "old");
    let (new_priv, _, new_kid) = openssl_rsa(tmp.path(), "new");
    let site = tmp.path().join("site");
    let site_s = site.to_str().unwrap();
    ok(&[
        "issuer",
        "init",
        "--issuer-url",
        "https://oidc.example.com",
        "--key",
        &old_pub,
        "--out",
        site_s,
    ]);

    let (stdout, _) = ok(&["issuer", "rotate", "--dir", site_s, "--add-key", &new_priv]);
    assert!(
        stdout.contains(&format!("published kid {new_kid}")),
        "{stdout}"
    );
    assert!(stdout.contains("Safe signing-key rotation"), "{stdout}");
    assert!(
        stdout.contains("--service-account-signing-key-file"),
        "{stdout}"
    );
    assert_eq!(kids(&site), vec![old_kid.clone(), new_kid.clone()]);

    let (stdout, _) = ok(&["issuer", "rotate", "--dir", site_s, "--add-key", &new_priv]);
    assert!(stdout.contains("already published"), "{stdout}");
    assert_eq!(kids(&site).len(), 2);

    let stderr = fails(&["issuer", "rotate", "--dir", site_s, "--retire-kid", "nope"]);
    assert!(stderr.contains("no key with kid \"nope\""), "{stderr}");
    let (stdout, _) = ok(&[
        "issuer",
        "rotate",
        "--dir",
        site_s,
        "--retire-kid",
        &old_kid,
    ]);
    assert!(
        stdout.contains(&format!("retired kid {old_kid}")),
        "{stdout}"
    );
    assert_eq!(kids(&site), vec![new_kid.clone()]);

    let before = std::fs::read(site.join("keys.json")).unwrap();
    let stderr = fails(&[
        "issuer",
        "rotate",
        "--dir",
        site_s,
        "--retire-kid",
        &new_kid,
    ]);
    assert!(stderr.contains("last published key"), "{stderr}");
    assert_eq!(std::fs::read(site.join("keys.json")).unwrap(), before);
    let leftovers: Vec<_> = std::fs::read_dir(&site)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    let stderr = fails(&[
        "issuer",
        "rotate",
        "--dir",
        tmp.path().to_str().unwrap(),
        "--retire-kid",
        "x",
    ]);
    assert!(stderr.contains("openid-configuration"), "{stderr}");
    let stderr = fails(&["issuer", "rotate", "--dir", site_s]);
    assert!(stderr.contains("--add-key"), "{stderr}");
}

#[test]
fn serve_prints_its_port_serves_and_stops_on_sigterm() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, public, kid) = openssl_rsa(tmp.path(), "sa");
    let site = tmp.path().join("site");
    let site_s = site.to_str().unwrap();
    ok(&[
        "issuer",
        "init",
        "--issuer-url",
        "https://oidc.example.com",
        "--key",
        &public,
        "--out",
        site_s,
    ]);
    let mut child = Command::new(IRSA)
        .args([
            "issuer",
            "serve",
            "--dir",
            site_s,
            "--listen",
            "127.0.0.1:0",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on http://")
        .expect("parseable line")
        .to_owned();
    let mut stream = TcpStream::connect(&addr).unwrap();
    stream
        .write_all(b"GET /keys.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(reply.contains("application/jwk-set+json"), "{reply}");
    assert!(reply.contains(&kid), "{reply}");
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    assert!(child.wait().unwrap().success(), "clean exit on SIGTERM");

    let stderr = fails(&[
        "issuer",
        "serve",
        "--dir",
        "/nonexistent/site",
        "--listen",
        "127.0.0.1:0",
    ]);
    assert!(stderr.contains("/nonexistent/site"), "{stderr}");
    let stderr = fails(&["issuer", "serve", "--dir", site_s, "--tls-cert", "/x.pem"]);
    assert!(stderr.contains("--tls-key"), "{stderr}");
}

#[test]
fn init_publishes_ssh_keygen_keys_with_the_kube_apiserver_kid() {
    let tmp = tempfile::tempdir().unwrap();
    let key = tmp.path().join("sa");
    // `ssh-keygen -m pem` writes a PKCS#1 `RSA PRIVATE KEY`; `-e -m PKCS8` its SPKI public key.
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "rsa", "-b", "2048", "-m", "pem", "-N", "", "-f"])
        .arg(&key)
        .status()
        .expect("ssh-keygen is installed");
    assert!(status.success());
    let spki = Command::new("ssh-keygen")
        .args(["-e", "-m", "PKCS8", "-f"])
        .arg(key.with_extension("pub"))
        .output()
        .unwrap();
    assert!(spki.status.success());
    let public = tmp.path().join("sa.spki.pem");
    std::fs::write(&public, &spki.stdout).unwrap();
    let der = tmp.path().join("sa.der");
    openssl(&[
        "pkey",
        "-pubin",
        "-in",
        public.to_str().unwrap(),
        "-outform",
        "DER",
        "-out",
        der.to_str().unwrap(),
    ]);
    let digest = Command::new("openssl")
        .args(["dgst", "-sha256", "-binary", der.to_str().unwrap()])
        .output()
        .unwrap()
        .stdout;
    let kid = b64url(&digest);
    for (name, input) in [("private", &key), ("public", &public)] {
        let site = tmp.path().join(format!("site-{name}"));
        ok(&[
            "issuer",
            "init",
            "--issuer-url",
            "https://oidc.example.com",
            "--key",
            input.to_str().unwrap(),
            "--out",
            site.to_str().unwrap(),
        ]);
        assert_eq!(kids(&site), vec![kid.clone()], "{name}");
    }
}
