//! `irsa token mint|decode|verify` as a user runs them: openssl keys, PyJWT as the
//! independent peer, discovery over real HTTP on loopback, one message per failure.

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use serde_json::{Value, json};

const IRSA: &str = env!("CARGO_BIN_EXE_irsa");
const ISS: &str = "https://oidc.example.com/cluster-1";
const T0: i64 = 1_767_225_600; // 2026-01-01 00:00:00 UTC

fn irsa(args: &[&str]) -> Output {
    Command::new(IRSA).args(args).output().expect("run irsa")
}

fn irsa_stdin(args: &[&str], input: &str) -> Output {
    let mut child = Command::new(IRSA)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn stdout_ok(out: Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn ok(args: &[&str]) -> String {
    stdout_ok(irsa(args), &format!("irsa {args:?}"))
}

/// Asserts `irsa token verify` rejected the token (exit 1) and returns its message.
fn rejected(args: &[&str]) -> String {
    let out = irsa(args);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(1),
        "irsa {args:?} should reject: {err}"
    );
    assert!(err.starts_with("token rejected: "), "{err}");
    err
}

fn sh(dir: &Path, line: &str) {
    let out = Command::new("sh")
        .arg("-c")
        .arg(line)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{line}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

struct Keys {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
}

impl Keys {
    /// An RSA key (openssl genrsa, PKCS#1), an EC P-256 key (SEC1 with parameters), another
    /// RSA key, and the JWKS of the first two made by `irsa keys jwks`.
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        sh(
            &dir,
            "openssl genrsa -traditional -out rsa.pem 2048 2>/dev/null \
             && openssl ecparam -name prime256v1 -genkey -out ec.pem \
             && openssl genrsa -traditional -out other.pem 2048 2>/dev/null",
        );
        let keys = Keys { _tmp: tmp, dir };
        let jwks = ok(&["keys", "jwks", &keys.path("rsa.pem"), &keys.path("ec.pem")]);
        std::fs::write(keys.dir.join("jwks.json"), jwks).unwrap();
        keys
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).to_str().unwrap().to_owned()
    }

    fn mint(&self, key: &str, extra: &[&str]) -> String {
        let key = self.path(key);
        let mut args = vec![
            "token",
            "mint",
            "--key",
            &key,
            "--issuer",
            ISS,
            "--namespace",
            "default",
            "--service-account",
            "app",
        ];
        args.extend_from_slice(extra);
        ok(&args).trim().to_owned()
    }

    fn verify_args<'a>(&'a self, jwks: &'a str, token: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
        let mut args = vec!["token", "verify", "--issuer", ISS, "--jwks", jwks];
        args.extend_from_slice(extra);
        args.push(token);
        args
    }
}

fn decode_json(token: &str) -> Value {
    serde_json::from_str(&ok(&["token", "decode", "--json", token])).unwrap()
}

#[test]
fn minted_token_has_the_kube_apiserver_shape() {
    let keys = Keys::new();
    let token = keys.mint(
        "rsa.pem",
        &[
            "--pod",
            "app-7d9c",
            "--node",
            "node-1",
            "--expiration",
            "7200",
            "--issued-at",
            "1767225600",
        ],
    );
    let d = decode_json(&token);
    let kid = ok(&["keys", "kid", &keys.path("rsa.pem")]);
    let kid = kid.split_whitespace().next().unwrap();
    assert_eq!(d["header"], json!({"alg": "RS256", "kid": kid}));
    let c = &d["claims"];
    let names: Vec<_> = c.as_object().unwrap().keys().cloned().collect();
    assert_eq!(
        names,
        [
            "aud",
            "exp",
            "iat",
            "iss",
            "jti",
            "kubernetes.io",
            "nbf",
            "sub"
        ]
    );
    assert_eq!(c["aud"], json!(["sts.amazonaws.com"]));
    assert_eq!(c["iss"], ISS);
    assert_eq!(c["iat"], T0);
    assert_eq!(c["nbf"], T0);
    assert_eq!(c["exp"], T0 + 7200);
    assert_eq!(c["sub"], "system:serviceaccount:default:app");
    let k8s = &c["kubernetes.io"];
    assert_eq!(k8s["namespace"], "default");
    assert_eq!(k8s["serviceaccount"]["name"], "app");
    assert_eq!(k8s["pod"]["name"], "app-7d9c");
    assert_eq!(k8s["node"]["name"], "node-1");
    let uuid = |v: &Value| {
        let s = v.as_str().unwrap();
        s.len() == 36 && &s[14..15] == "4" && s.split('-').count() == 5
    };
    assert!(uuid(&c["jti"]) && uuid(&k8s["pod"]["uid"]) && uuid(&k8s["serviceaccount"]["uid"]));
    // EC keys sign ES256; several audiences; no kid on request.
    let token = keys.mint(
        "ec.pem",
        &["--audience", "a", "--audience", "b", "--no-kid"],
    );
    let d = decode_json(&token);
    assert_eq!(d["header"], json!({"alg": "ES256"}));
    assert_eq!(d["claims"]["aud"], json!(["a", "b"]));
    assert!(d["claims"]["kubernetes.io"].get("pod").is_none());
}

#[test]
fn mint_rejects_bad_input() {
    let keys = Keys::new();
    let public = keys.dir.join("public.pem");
    sh(
        &keys.dir,
        "openssl pkey -in rsa.pem -pubout -out public.pem",
    );
    let out = irsa(&[
        "token",
        "mint",
        "--key",
        public.to_str().unwrap(),
        "--issuer",
        ISS,
        "--namespace",
        "n",
        "--service-account",
        "s",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("public.pem") && err.contains("no private key"),
        "{err}"
    );
    let out = irsa(&[
        "token",
        "mint",
        "--key",
        &keys.path("ec.pem"),
        "--issuer",
        ISS,
        "--namespace",
        "n",
        "--service-account",
        "s",
        "--algorithm",
        "RS256",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot sign RS256"));
    let out = irsa(&[
        "token",
        "mint",
        "--key",
        &keys.path("rsa.pem"),
        "--issuer",
        ISS,
        "--namespace",
        "n",
        "--service-account",
        "s",
        "--expiration",
        "0",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
}

#[test]
fn decode_prints_header_claims_and_utc_times() {
    let keys = Keys::new();
    let token = keys.mint("rsa.pem", &["--issued-at", "1767225600"]);
    let out = stdout_ok(
        irsa_stdin(&["token", "decode"], &format!("{token}\n")),
        "decode -",
    );
    assert!(
        out.contains("\"sub\": \"system:serviceaccount:default:app\""),
        "{out}"
    );
    assert!(
        out.contains("iat (issued): 2026-01-01 00:00:00 UTC"),
        "{out}"
    );
    assert!(
        out.contains("exp (expires): 2026-01-01 01:00:00 UTC"),
        "{out}"
    );
    assert!(out.contains("NOT verified"), "{out}");
    let file = keys.dir.join("token");
    std::fs::write(&file, &token).unwrap();
    let from_file = ok(&["token", "decode", "--token-file", file.to_str().unwrap()]);
    assert_eq!(from_file.lines().next(), out.lines().next());
    for bad in ["not-a-token", "a.b.c", ""] {
        let out = irsa_stdin(&["token", "decode"], bad);
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
        assert!(!String::from_utf8_lossy(&out.stderr).is_empty());
    }
}

#[test]
fn verify_with_a_jwks_file_and_every_failure_message() {
    let keys = Keys::new();
    let jwks = keys.path("jwks.json");
    let now = "1767226000"; // T0 + 400 s
    let rsa = keys.mint("rsa.pem", &["--issued-at", "1767225600"]);
    let ec = keys.mint("ec.pem", &["--issued-at", "1767225600"]);
    for token in [&rsa, &ec] {
        let out = ok(&keys.verify_args(&jwks, token, &["--at", now]));
        assert!(out.starts_with("token is valid\n"), "{out}");
        assert!(
            out.contains("subject:   system:serviceaccount:default:app"),
            "{out}"
        );
    }
    // Expired: says by how long and when.
    let err = rejected(&keys.verify_args(&jwks, &rsa, &["--at", "1767236400"]));
    assert!(
        err.contains("expired 2h ago, at 2026-01-01 01:00:00 UTC"),
        "{err}"
    );
    // Within the clock skew it still passes; with --leeway 0 it does not.
    ok(&keys.verify_args(&jwks, &rsa, &["--at", "1767229230"]));
    rejected(&keys.verify_args(&jwks, &rsa, &["--at", "1767229230", "--leeway", "0"]));
    // Not yet valid.
    let err = rejected(&keys.verify_args(&jwks, &rsa, &["--at", "1767225000"]));
    assert!(
        err.contains("not valid yet") && err.contains("10m from now"),
        "{err}"
    );
    // Wrong audience (and --any-audience skips the check).
    let err = rejected(&keys.verify_args(&jwks, &rsa, &["--at", now, "--audience", "vault"]));
    assert!(
        err.contains("wrong audience") && err.contains("sts.amazonaws.com"),
        "{err}"
    );
    ok(&keys.verify_args(&jwks, &rsa, &["--at", now, "--any-audience"]));
    // Wrong issuer: a trailing slash is a different issuer.
    let slash = format!("{ISS}/");
    let err = rejected(&[
        "token", "verify", "--issuer", &slash, "--jwks", &jwks, "--at", now, &rsa,
    ]);
    assert!(err.contains("wrong issuer"), "{err}");
    // Unknown kid: a key not in the JWKS.
    let other = keys.mint("other.pem", &["--issued-at", "1767225600"]);
    let err = rejected(&keys.verify_args(&jwks, &other, &["--at", now]));
    assert!(err.contains("no key with kid"), "{err}");
    // Bad signature: the other key's signature under the published kid.
    let (h, p, _) = split3(&rsa);
    let (_, _, s) = split3(&keys.mint("other.pem", &["--issued-at", "1767225600"]));
    let forged = format!("{h}.{p}.{s}");
    let err = rejected(&keys.verify_args(&jwks, &forged, &["--at", now]));
    assert!(err.contains("bad signature"), "{err}");
    // Algorithm confusion: alg none.
    let none = format!("{}.{p}.", b64(r#"{"alg":"none"}"#));
    let err = rejected(&keys.verify_args(&jwks, &none, &["--at", now]));
    assert!(err.contains("\"none\" is not accepted"), "{err}");
    // Malformed token.
    let err = rejected(&keys.verify_args(&jwks, "abc.def", &["--at", now]));
    assert!(err.contains("malformed"), "{err}");
    // A JWKS file that is not one: exit 2 naming the file.
    std::fs::write(keys.dir.join("bad.json"), "{\"keys\": 3}").unwrap();
    let out = irsa(&keys.verify_args(&keys.path("bad.json"), &rsa, &[]));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad.json"));
}

fn split3(token: &str) -> (String, String, String) {
    let mut it = token.split('.').map(str::to_owned);
    (it.next().unwrap(), it.next().unwrap(), it.next().unwrap())
}

fn b64(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
}

/// PyJWT (an independent, widely used JWT library) verifies tokens minted by irsa with the
/// JWKS from `irsa keys jwks`, and irsa verifies tokens PyJWT signs with openssl keys.
#[test]
fn pyjwt_interoperates_both_ways() {
    let Some(python) = std::env::var_os("IRSA_TEST_PYTHON") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "IRSA_TEST_PYTHON must be set in CI"
        );
        eprintln!("skipped: PyJWT interop needs IRSA_TEST_PYTHON (run scripts/test.sh)");
        return;
    };
    let keys = Keys::new();
    let script = r#"
import json, sys, time, jwt
mode, jwks_path, key_path, token, alg = sys.argv[1:6]
iss = "https://oidc.example.com/cluster-1"
if mode == "verify":
    header = jwt.get_unverified_header(token)
    keys = jwt.PyJWKSet.from_dict(json.load(open(jwks_path)))
    key = next(k for k in keys.keys if k.key_id == header["kid"])
    claims = jwt.decode(token, key.key, algorithms=[alg], audience="sts.amazonaws.com", issuer=iss)
    print(claims["sub"])
else:
    now = int(time.time())
    kid = json.load(open(jwks_path))["keys"][0 if alg == "RS256" else 1]["kid"]
    claims = {"iss": iss, "sub": "system:serviceaccount:ns:py", "aud": "sts.amazonaws.com",
              "iat": now, "nbf": now, "exp": now + 600}
    print(jwt.encode(claims, open(key_path).read(), algorithm=alg, headers={"kid": kid}))
"#;
    let py = |args: &[&str]| {
        let out = Command::new(&python)
            .arg("-c")
            .arg(script)
            .args(args)
            .output()
            .unwrap();
        stdout_ok(out, &format!("python {args:?}"))
            .trim()
            .to_owned()
    };
    let jwks = keys.path("jwks.json");
    for (key, alg) in [("rsa.pem", "RS256"), ("ec.pem", "ES256")] {
        let ours = keys.mint(key, &[]);
        assert_eq!(
            py(&["verify", &jwks, "", &ours, alg]),
            "system:serviceaccount:default:app"
        );
        let theirs = py(&["sign", &jwks, &keys.path(key), "", alg]);
        let out = ok(&["token", "verify", "--issuer", ISS, "--jwks", &jwks, &theirs]);
        assert!(out.contains("system:serviceaccount:ns:py"), "{out}");
    }
}

/// A loopback HTTP/1.1 server answering fixed routes, one request per connection; stopped
/// and joined on drop.
struct Server {
    addr: SocketAddr,
    issuer: String,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    /// Binds 127.0.0.1:0 and serves the routes `routes(own_url)` returns.
    fn start(routes: impl FnOnce(&str) -> Vec<(String, u16, String)>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let issuer = format!("http://{addr}");
        let routes = routes(&issuer);
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if flag.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(stream) = stream {
                    let _ = answer(stream, &routes);
                }
            }
        });
        Server {
            addr,
            issuer,
            stop,
            thread: Some(thread),
        }
    }
}

fn answer(mut stream: TcpStream, routes: &[(String, u16, String)]) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let path = line.split_whitespace().nth(1).unwrap_or("").to_owned();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header.trim().is_empty() {
            break;
        }
    }
    let (status, body) = routes
        .iter()
        .find(|(p, _, _)| *p == path)
        .map_or((404, "not found".to_owned()), |(_, s, b)| (*s, b.clone()));
    write!(
        stream,
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn discovery(issuer: &str, jwks_uri: &str) -> String {
    json!({"issuer": issuer, "jwks_uri": jwks_uri, "response_types_supported": ["id_token"],
           "subject_types_supported": ["public"], "id_token_signing_alg_values_supported": ["RS256", "ES256"]})
    .to_string()
}

fn mint_for(keys: &Keys, issuer: &str) -> String {
    let key = keys.path("rsa.pem");
    ok(&[
        "token",
        "mint",
        "--key",
        &key,
        "--issuer",
        issuer,
        "--namespace",
        "default",
        "--service-account",
        "app",
    ])
    .trim()
    .to_owned()
}

#[test]
fn verify_fetches_keys_through_discovery() {
    let keys = Keys::new();
    let jwks = std::fs::read_to_string(keys.dir.join("jwks.json")).unwrap();
    let server = Server::start(|issuer| {
        vec![
            (
                "/.well-known/openid-configuration".into(),
                200,
                discovery(issuer, &format!("{issuer}/openid/v1/jwks")),
            ),
            ("/openid/v1/jwks".into(), 200, jwks.clone()),
        ]
    });
    let token = mint_for(&keys, &server.issuer);
    let out = ok(&["token", "verify", "--issuer", &server.issuer, &token]);
    assert!(
        out.contains("token is valid") && out.contains("/openid/v1/jwks"),
        "{out}"
    );
    // Issuer mismatch between the document and --issuer.
    let bad = Server::start(|issuer| {
        vec![(
            "/.well-known/openid-configuration".into(),
            200,
            discovery(&format!("{issuer}/"), "x"),
        )]
    });
    let token = mint_for(&keys, &bad.issuer);
    let err = fails2(&["token", "verify", "--issuer", &bad.issuer, &token]);
    assert!(err.contains("issuer mismatch"), "{err}");
    // JWKS answering 404.
    let missing = Server::start(|issuer| {
        vec![(
            "/.well-known/openid-configuration".into(),
            200,
            discovery(issuer, &format!("{issuer}/keys.json")),
        )]
    });
    let token = mint_for(&keys, &missing.issuer);
    let err = fails2(&["token", "verify", "--issuer", &missing.issuer, &token]);
    assert!(
        err.contains("HTTP 404") && err.contains("keys.json"),
        "{err}"
    );
    // Not JSON.
    let html = Server::start(|_| {
        vec![(
            "/.well-known/openid-configuration".into(),
            200,
            "<html>hi</html>".into(),
        )]
    });
    let token = mint_for(&keys, &html.issuer);
    let err = fails2(&["token", "verify", "--issuer", &html.issuer, &token]);
    assert!(err.contains("is not JSON"), "{err}");
    // Unreachable: a port nobody listens on any more.
    let gone = Server::start(|_| Vec::new());
    let issuer = gone.issuer.clone();
    drop(gone);
    let token = mint_for(&keys, &issuer);
    let err = fails2(&[
        "token",
        "verify",
        "--issuer",
        &issuer,
        "--timeout",
        "5",
        &token,
    ]);
    assert!(err.contains("cannot fetch the discovery document"), "{err}");
    // Keys fetched, but the token was signed by a key that is not published.
    let token = ok(&[
        "token",
        "mint",
        "--key",
        &keys.path("other.pem"),
        "--issuer",
        &server.issuer,
        "--namespace",
        "default",
        "--service-account",
        "app",
    ]);
    let err = rejected(&["token", "verify", "--issuer", &server.issuer, token.trim()]);
    assert!(err.contains("no key with kid"), "{err}");
}

fn fails2(args: &[&str]) -> String {
    let out = irsa(args);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "irsa {args:?}: {err}");
    err
}
