//! `irsa keys generate|jwks|kid` against keys made by real openssl and ssh-keygen, with kids
//! computed independently by openssl (`pkey -pubout -outform DER | dgst -sha256`).

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

const IRSA: &str = env!("CARGO_BIN_EXE_irsa");

fn irsa(args: &[&str]) -> Output {
    Command::new(IRSA).args(args).output().expect("run irsa")
}

fn ok(args: &[&str]) -> String {
    let out = irsa(args);
    assert!(
        out.status.success(),
        "irsa {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn fails(args: &[&str]) -> String {
    let out = irsa(args);
    assert_eq!(
        out.status.code(),
        Some(2),
        "irsa {args:?} should fail with exit 2"
    );
    assert!(out.stdout.is_empty(), "nothing on stdout when failing");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs a shell line in `dir`, asserting success; returns stdout.
fn sh(dir: &Path, line: &str) -> String {
    let out = Command::new("sh")
        .arg("-c")
        .arg(line)
        .current_dir(dir)
        .output()
        .expect("sh");
    assert!(
        out.status.success(),
        "{line}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The kid kube-apiserver computes, by openssl: base64url(SHA-256(DER SPKI)).
fn openssl_kid(dir: &Path, der_command: &str) -> String {
    sh(
        dir,
        &format!(
            "{der_command} -outform DER | openssl dgst -sha256 -binary | base64 | tr '+/' '-_' | tr -d '=\\n'"
        ),
    )
}

fn jwks(args: &[&str]) -> Vec<Value> {
    let out = ok(args);
    let v: Value = serde_json::from_str(&out).unwrap();
    v["keys"].as_array().unwrap().clone()
}

#[test]
fn jwks_kid_equals_openssl_kid_for_every_tool_and_format() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    sh(
        d,
        "openssl genrsa -traditional -out rsa-pkcs1.pem 2048 2>/dev/null \
         && openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:3072 -out rsa-pkcs8.pem 2>/dev/null \
         && openssl rsa -in rsa-pkcs1.pem -pubout -out rsa-spki.pem 2>/dev/null \
         && openssl rsa -in rsa-pkcs1.pem -RSAPublicKey_out -out rsa-pkcs1-pub.pem 2>/dev/null \
         && openssl ecparam -name prime256v1 -genkey -out ec-sec1.pem \
         && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out ec-p384.pem \
         && ssh-keygen -q -t rsa -b 2048 -m pem -N '' -f ssh-rsa \
         && ssh-keygen -e -m PKCS8 -f ssh-rsa.pub > ssh-rsa-spki.pem",
    );
    let cases = [
        (
            "rsa-pkcs1.pem",
            "openssl pkey -in rsa-pkcs1.pem -pubout",
            "RSA",
            "RS256",
        ),
        (
            "rsa-pkcs8.pem",
            "openssl pkey -in rsa-pkcs8.pem -pubout",
            "RSA",
            "RS256",
        ),
        (
            "rsa-spki.pem",
            "openssl pkey -pubin -in rsa-spki.pem",
            "RSA",
            "RS256",
        ),
        (
            "rsa-pkcs1-pub.pem",
            "openssl rsa -RSAPublicKey_in -in rsa-pkcs1-pub.pem -pubout 2>/dev/null",
            "RSA",
            "RS256",
        ),
        (
            "ec-sec1.pem",
            "openssl pkey -in ec-sec1.pem -pubout",
            "EC",
            "ES256",
        ),
        (
            "ec-p384.pem",
            "openssl pkey -in ec-p384.pem -pubout",
            "EC",
            "ES384",
        ),
        (
            "ssh-rsa",
            "openssl pkey -in ssh-rsa -pubout",
            "RSA",
            "RS256",
        ),
        (
            "ssh-rsa-spki.pem",
            "openssl pkey -pubin -in ssh-rsa-spki.pem",
            "RSA",
            "RS256",
        ),
    ];
    for (file, der, kty, alg) in cases {
        let expected = openssl_kid(d, der);
        assert_eq!(expected.len(), 43);
        let keys = jwks(&["keys", "jwks", d.join(file).to_str().unwrap()]);
        assert_eq!(keys.len(), 1, "{file}");
        let k = &keys[0];
        assert_eq!(k["kid"], expected.as_str(), "{file}");
        assert_eq!(k["kty"], kty, "{file}");
        assert_eq!(k["alg"], alg, "{file}");
        assert_eq!(k["use"], "sig", "{file}");
        assert!(
            k.get("d").is_none(),
            "{file}: private members never published"
        );
        // `irsa keys kid` agrees.
        let line = ok(&["keys", "kid", d.join(file).to_str().unwrap()]);
        assert!(line.starts_with(&format!("{expected}  ")), "{line}");
    }
    // The ssh-keygen private key and its exported public key are the same key.
    let both = jwks(&[
        "keys",
        "jwks",
        d.join("ssh-rsa").to_str().unwrap(),
        d.join("ssh-rsa-spki.pem").to_str().unwrap(),
    ]);
    assert_eq!(both.len(), 1, "duplicates by kid are published once");
}

#[test]
fn rsa_jwk_numbers_match_openssl() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    sh(d, "openssl genrsa -traditional -out k.pem 2048 2>/dev/null");
    let modulus = sh(d, "openssl rsa -in k.pem -noout -modulus");
    let modulus_hex = modulus
        .trim()
        .strip_prefix("Modulus=")
        .unwrap()
        .to_lowercase();
    let keys = jwks(&["keys", "jwks", d.join("k.pem").to_str().unwrap()]);
    let n = keys[0]["n"].as_str().unwrap();
    use base64::Engine as _;
    let n = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(n)
        .unwrap();
    let n_hex: String = n.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(n_hex, modulus_hex);
    assert_eq!(keys[0]["e"], "AQAB");
}

#[test]
fn several_files_and_blocks_and_legacy_empty_kid() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    sh(
        d,
        "openssl genrsa -traditional -out a.pem 2048 2>/dev/null \
         && openssl ecparam -name prime256v1 -genkey -out b.pem \
         && openssl pkey -in a.pem -pubout > bundle.pem && openssl pkey -in b.pem -pubout >> bundle.pem",
    );
    let kid_a = openssl_kid(d, "openssl pkey -in a.pem -pubout");
    let kid_b = openssl_kid(d, "openssl pkey -in b.pem -pubout");
    let keys = jwks(&["keys", "jwks", d.join("bundle.pem").to_str().unwrap()]);
    let kids: Vec<_> = keys.iter().map(|k| k["kid"].as_str().unwrap()).collect();
    assert_eq!(kids, [kid_a.as_str(), kid_b.as_str()]);
    let keys = jwks(&[
        "keys",
        "jwks",
        "--legacy-empty-kid",
        d.join("a.pem").to_str().unwrap(),
        d.join("b.pem").to_str().unwrap(),
    ]);
    let kids: Vec<_> = keys.iter().map(|k| k["kid"].as_str().unwrap()).collect();
    assert_eq!(kids, [kid_a.as_str(), kid_b.as_str(), "", ""]);
    assert_eq!(keys[2]["n"], keys[0]["n"]);
    assert_eq!(keys[3]["x"], keys[1]["x"]);
    // Compact output with go-jose member order, as kube-apiserver serves it.
    let out = ok(&["keys", "jwks", d.join("a.pem").to_str().unwrap()]);
    assert!(
        out.starts_with(&format!(
            "{{\"keys\":[{{\"use\":\"sig\",\"kty\":\"RSA\",\"kid\":\"{kid_a}\",\"alg\":\"RS256\",\"n\":"
        )),
        "{out}"
    );
}

#[test]
fn bad_key_files_get_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    sh(
        d,
        "printf '' > empty.pem && printf 'hello world\\n' > garbage.pem \
         && openssl genpkey -algorithm RSA -aes256 -pass pass:secret -out encrypted.pem 2>/dev/null \
         && openssl genrsa -traditional -aes128 -passout pass:secret -out encrypted-trad.pem 2048 2>/dev/null \
         && openssl ecparam -name secp256k1 -genkey -noout -out k1.pem \
         && openssl genpkey -algorithm ed25519 -out ed.pem \
         && openssl genrsa -traditional -out small.pem 1024 2>/dev/null \
         && ssh-keygen -q -t ed25519 -N '' -f openssh \
         && printf -- '-----BEGIN PUBLIC KEY-----\\nnot base64!\\n-----END PUBLIC KEY-----\\n' > badb64.pem \
         && printf -- '-----BEGIN PUBLIC KEY-----\\nAAAA\\n-----END PUBLIC KEY-----\\n' > badder.pem",
    );
    let cases = [
        ("empty.pem", "the file is empty"),
        ("garbage.pem", "no PEM key found"),
        ("encrypted.pem", "encrypted private key"),
        ("encrypted-trad.pem", "encrypted private key"),
        ("k1.pem", "secp256k1"),
        ("ed.pem", "Ed25519"),
        ("small.pem", "1024-bit RSA key"),
        ("openssh", "OPENSSH PRIVATE KEY"),
        ("openssh.pub", "OpenSSH public key"),
        ("badb64.pem", "not valid base64"),
        ("badder.pem", "not a valid SubjectPublicKeyInfo"),
        ("missing.pem", "cannot read"),
    ];
    for (file, words) in cases {
        let path = d.join(file);
        let err = fails(&["keys", "jwks", path.to_str().unwrap()]);
        assert!(
            err.contains(path.to_str().unwrap()),
            "{file}: names the file: {err}"
        );
        assert!(err.contains(words), "{file}: expected {words:?} in {err}");
    }
    // One bad file among good ones fails the whole command: no partial JWKS.
    sh(
        d,
        "openssl genrsa -traditional -out good.pem 2048 2>/dev/null",
    );
    fails(&[
        "keys",
        "jwks",
        d.join("good.pem").to_str().unwrap(),
        d.join("ed.pem").to_str().unwrap(),
    ]);
}

#[test]
fn generate_writes_keys_openssl_accepts() {
    for alg in ["rsa2048", "ec-p256", "ec-p384"] {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        let out_dir = d.join("keys");
        let out = ok(&[
            "keys",
            "generate",
            "--out-dir",
            out_dir.to_str().unwrap(),
            "--algorithm",
            alg,
        ]);
        let private = out_dir.join("private.pem");
        let public = out_dir.join("public.pem");
        let mode = std::fs::metadata(&private).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{alg}");
        let text = std::fs::read_to_string(&private).unwrap();
        assert!(
            text.starts_with("-----BEGIN PRIVATE KEY-----\n"),
            "{alg}: PKCS#8"
        );
        let pub_text = std::fs::read_to_string(&public).unwrap();
        assert!(
            pub_text.starts_with("-----BEGIN PUBLIC KEY-----\n"),
            "{alg}: SPKI"
        );
        // openssl reads both, and derives the same public key from the private one.
        let derived = sh(d, "openssl pkey -in keys/private.pem -pubout");
        assert_eq!(derived, pub_text, "{alg}");
        sh(d, "openssl pkey -in keys/private.pem -check -noout");
        let kid = openssl_kid(d, "openssl pkey -pubin -in keys/public.pem");
        assert!(out.contains(&format!("kid: {kid}")), "{alg}: {out}");
        // Only the two files, no temporaries.
        let mut names: Vec<_> = std::fs::read_dir(&out_dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["private.pem", "public.pem"]);
    }
}

#[test]
fn generate_default_is_rsa2048() {
    let tmp = tempfile::tempdir().unwrap();
    let out = ok(&[
        "keys",
        "generate",
        "--out-dir",
        tmp.path().to_str().unwrap(),
    ]);
    assert!(out.contains("alg: RS256 (RSA 2048-bit)"), "{out}");
    let bits = sh(
        tmp.path(),
        "openssl pkey -in private.pem -noout -text | head -1",
    );
    assert!(bits.contains("2048 bit"), "{bits}");
}

#[test]
fn generate_refuses_to_overwrite_without_force() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_str().unwrap();
    ok(&["keys", "generate", "--out-dir", dir]);
    let before = std::fs::read(tmp.path().join("private.pem")).unwrap();
    let err = fails(&[
        "keys",
        "generate",
        "--out-dir",
        dir,
        "--algorithm",
        "ec-p256",
    ]);
    assert!(
        err.contains("already exists") && err.contains("--force"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(tmp.path().join("private.pem")).unwrap(),
        before
    );
    // Only public.pem present still blocks, and nothing is written.
    std::fs::remove_file(tmp.path().join("private.pem")).unwrap();
    fails(&["keys", "generate", "--out-dir", dir]);
    assert!(!tmp.path().join("private.pem").exists());
    // --force replaces both.
    ok(&[
        "keys",
        "generate",
        "--out-dir",
        dir,
        "--algorithm",
        "ec-p256",
        "--force",
    ]);
    let text = std::fs::read_to_string(tmp.path().join("private.pem")).unwrap();
    assert_ne!(text.as_bytes(), before.as_slice());
    let keys = jwks(&[
        "keys",
        "jwks",
        tmp.path().join("private.pem").to_str().unwrap(),
    ]);
    assert_eq!(keys[0]["kty"], "EC");
}

#[test]
fn generate_failure_leaves_nothing_behind() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("not-a-dir");
    std::fs::write(&file, "x").unwrap();
    let err = fails(&[
        "keys",
        "generate",
        "--out-dir",
        file.join("keys").to_str().unwrap(),
    ]);
    assert!(err.contains("cannot create"), "{err}");
    let names: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
    assert_eq!(names.len(), 1);
    let err = irsa(&["keys", "generate", "--out-dir", "x", "--algorithm", "dsa"]);
    assert_eq!(err.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&err.stderr).contains("rsa2048, rsa3072, rsa4096, ec-p256"));
}
