//! `irsa webhook manifests` end to end: the real binary's output is checked by independent
//! peers: kubernetes-validate (the Kubernetes 1.33 OpenAPI schemas, strict mode) for every
//! core object, and openssl for the self-signed certificate chain. cert-manager's CRDs are not
//! in kubernetes-validate's schema set, so their shape is checked here in Rust.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const NS: &str = "irsa-system";
const NAME: &str = "pod-identity-webhook";

fn irsa(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_irsa"))
        .args(args)
        .output()
        .expect("run irsa")
}

fn manifests(extra: &[&str]) -> (String, String) {
    let mut args = vec![
        "webhook",
        "manifests",
        "--namespace",
        NS,
        "--image",
        "registry.example/irsa:test",
    ];
    args.extend_from_slice(extra);
    let out = irsa(&args);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(out.status.success(), "irsa {args:?} failed: {stderr}");
    (String::from_utf8(out.stdout).unwrap(), stderr)
}

fn parse(yaml: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(yaml)
        .map(|doc| serde::Deserialize::deserialize(doc).expect("each document is YAML"))
        .collect()
}

/// The test venv's python, or `None` (skip) outside scripts/test.sh; never skips under CI.
fn python() -> Option<PathBuf> {
    match std::env::var_os("IRSA_TEST_PYTHON") {
        Some(p) => Some(PathBuf::from(p)),
        None if std::env::var_os("CI").is_some() => {
            panic!("IRSA_TEST_PYTHON is not set under CI: run scripts/test.sh")
        }
        None => {
            eprintln!("skipped: kubernetes-validate needs IRSA_TEST_PYTHON (run scripts/test.sh)");
            None
        }
    }
}

/// Runs kubernetes-validate in strict mode on `file`; returns (success, combined output).
fn kubernetes_validate(python: &Path, file: &Path) -> (bool, String) {
    let out = Command::new(python)
        .args([
            "-m",
            "kubernetes_validate",
            "--kubernetes-version",
            "1.33.0",
            "--strict",
        ])
        .arg(file)
        .output()
        .expect("run kubernetes-validate");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Every core document passed validation by name; anything without a schema is returned.
fn assert_all_core_documents_pass(docs: &[Value], report: &str) -> Vec<String> {
    let mut unvalidated = Vec::new();
    for doc in docs {
        let kind = doc["kind"].as_str().unwrap();
        let name = doc["metadata"]["name"].as_str().unwrap();
        let api = doc["apiVersion"].as_str().unwrap();
        if api.starts_with("cert-manager.io/") {
            assert!(
                report.contains(&format!(
                    "Couldn't find schema for kind {kind} with api version {api}"
                )),
                "{report}"
            );
            unvalidated.push(format!("{kind}/{name}"));
        } else {
            let line = format!(
                "passed for resource {}/{name} against version 1.33",
                kind.to_lowercase()
            );
            assert!(
                report.contains(&line),
                "{kind}/{name} was not validated:\n{report}"
            );
        }
    }
    assert!(!report.contains("ERROR"), "{report}");
    unvalidated
}

fn b64(v: &Value) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(v.as_str().expect("base64 string"))
        .unwrap()
}

fn openssl(args: &[&str]) -> String {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("run openssl");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "openssl {args:?}: {text}");
    text
}

#[test]
fn self_signed_manifests_pass_the_schemas_and_the_certificate_chains_to_the_ca_bundle() {
    let (yaml, stderr) = manifests(&[
        "--self-signed",
        "--watch-config-map",
        "--aws-default-region",
        "eu-west-1",
    ]);
    assert!(
        !stderr.contains("PRIVATE KEY"),
        "a key reached stderr: {stderr}"
    );
    assert!(stderr.contains("expires on"), "{stderr}");
    let docs = parse(&yaml);
    let kinds: Vec<_> = docs.iter().map(|d| d["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "ServiceAccount",
            "ClusterRole",
            "ClusterRoleBinding",
            "Role",
            "RoleBinding",
            "Secret",
            "Service",
            "Deployment",
            "PodDisruptionBudget",
            "MutatingWebhookConfiguration"
        ]
    );

    let dir = tempfile::tempdir().unwrap();
    if let Some(python) = python() {
        let file = dir.path().join("manifests.yaml");
        std::fs::write(&file, &yaml).unwrap();
        let (ok, report) = kubernetes_validate(&python, &file);
        assert!(ok, "{report}");
        assert!(assert_all_core_documents_pass(&docs, &report).is_empty());
    }

    let secret = docs.iter().find(|d| d["kind"] == "Secret").unwrap();
    assert_eq!(secret["type"], "kubernetes.io/tls");
    let webhook = &docs
        .iter()
        .find(|d| d["kind"] == "MutatingWebhookConfiguration")
        .unwrap()["webhooks"][0];
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
    std::fs::write(
        path("bundle.pem"),
        b64(&webhook["clientConfig"]["caBundle"]),
    )
    .unwrap();
    std::fs::write(path("tls.crt"), b64(&secret["data"]["tls.crt"])).unwrap();
    std::fs::write(path("tls.key"), b64(&secret["data"]["tls.key"])).unwrap();
    assert_eq!(
        b64(&secret["data"]["ca.crt"]),
        b64(&webhook["clientConfig"]["caBundle"])
    );

    // The API server dials SERVICE.NS.svc; every name the Service answers to must verify.
    for host in [
        NAME.to_owned(),
        format!("{NAME}.{NS}"),
        format!("{NAME}.{NS}.svc"),
        format!("{NAME}.{NS}.svc.cluster.local"),
    ] {
        let out = openssl(&[
            "verify",
            "-purpose",
            "sslserver",
            "-verify_hostname",
            &host,
            "-CAfile",
            &path("bundle.pem"),
            &path("tls.crt"),
        ]);
        assert!(out.contains(": OK"), "{out}");
    }
    let wrong = Command::new("openssl")
        .args([
            "verify",
            "-verify_hostname",
            "other.irsa-system.svc",
            "-CAfile",
            &path("bundle.pem"),
            &path("tls.crt"),
        ])
        .output()
        .unwrap();
    assert!(!wrong.status.success(), "a name outside the SANs verified");

    // The key in the Secret belongs to the certificate.
    let cert_pub = openssl(&["x509", "-in", &path("tls.crt"), "-noout", "-pubkey"]);
    let key_pub = openssl(&["pkey", "-in", &path("tls.key"), "-pubout"]);
    assert_eq!(cert_pub, key_pub);
    let text = openssl(&[
        "x509",
        "-in",
        &path("tls.crt"),
        "-noout",
        "-ext",
        "basicConstraints,extendedKeyUsage",
    ]);
    assert!(
        text.contains("CA:FALSE") && text.contains("TLS Web Server Authentication"),
        "{text}"
    );
}

#[test]
fn cert_manager_manifests_pass_the_schemas_and_form_an_issuer_chain() {
    let (yaml, stderr) = manifests(&["--cert-manager", "--create-namespace"]);
    assert!(!yaml.contains("PRIVATE KEY") && !stderr.contains("expires on"));
    let docs = parse(&yaml);
    if let Some(python) = python() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("manifests.yaml");
        std::fs::write(&file, &yaml).unwrap();
        let (ok, report) = kubernetes_validate(&python, &file);
        assert!(ok, "{report}");
        let unvalidated = assert_all_core_documents_pass(&docs, &report);
        assert_eq!(
            unvalidated,
            [
                "Issuer/pod-identity-webhook-selfsigned",
                "Certificate/pod-identity-webhook-ca",
                "Issuer/pod-identity-webhook-ca",
                "Certificate/pod-identity-webhook"
            ]
        );
    }

    // cert-manager.io/v1 shape, checked here because kubernetes-validate has no CRD schemas.
    let cm: Vec<&Value> = docs
        .iter()
        .filter(|d| d["apiVersion"] == "cert-manager.io/v1")
        .collect();
    for doc in &cm {
        assert_eq!(doc["metadata"]["namespace"], NS, "{doc}");
        let spec = doc["spec"].as_object().unwrap();
        match doc["kind"].as_str().unwrap() {
            "Issuer" => assert_eq!(
                spec.len(),
                1,
                "an Issuer has exactly one issuer type: {doc}"
            ),
            "Certificate" => {
                assert!(spec["secretName"].is_string());
                assert_eq!(spec["issuerRef"]["kind"], "Issuer");
                assert_eq!(spec["issuerRef"]["group"], "cert-manager.io");
                for key in spec.keys() {
                    assert!(
                        [
                            "isCA",
                            "commonName",
                            "dnsNames",
                            "secretName",
                            "duration",
                            "renewBefore",
                            "usages",
                            "privateKey",
                            "issuerRef"
                        ]
                        .contains(&key.as_str()),
                        "unknown Certificate field {key}"
                    );
                }
            }
            other => panic!("unexpected cert-manager kind {other}"),
        }
    }
    let get = |kind: &str, name: &str| {
        *cm.iter()
            .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("{kind}/{name}"))
    };
    let mwc = docs
        .iter()
        .find(|d| d["kind"] == "MutatingWebhookConfiguration")
        .unwrap();
    let inject = mwc["metadata"]["annotations"]["cert-manager.io/inject-ca-from"]
        .as_str()
        .unwrap();
    let (ns, cert_name) = inject.split_once('/').unwrap();
    assert_eq!(ns, NS);
    let serving = get("Certificate", cert_name);
    let ca_issuer = get(
        "Issuer",
        serving["spec"]["issuerRef"]["name"].as_str().unwrap(),
    );
    let ca_secret = ca_issuer["spec"]["ca"]["secretName"].as_str().unwrap();
    let ca_cert = cm
        .iter()
        .find(|d| d["kind"] == "Certificate" && d["spec"]["secretName"] == ca_secret)
        .unwrap();
    assert_eq!(ca_cert["spec"]["isCA"], true);
    let root = get(
        "Issuer",
        ca_cert["spec"]["issuerRef"]["name"].as_str().unwrap(),
    );
    assert!(root["spec"]["selfSigned"].is_object());
    let deployment = docs.iter().find(|d| d["kind"] == "Deployment").unwrap();
    assert_eq!(
        deployment["spec"]["template"]["spec"]["volumes"][0]["secret"]["secretName"],
        serving["spec"]["secretName"]
    );
    assert_eq!(serving["spec"]["dnsNames"][2], format!("{NAME}.{NS}.svc"));
}

#[test]
fn the_validator_is_strict_enough_to_catch_a_broken_deployment() {
    let Some(python) = python() else { return };
    let (yaml, _) = manifests(&[]);
    let broken = yaml.replacen(
        "imagePullPolicy: IfNotPresent",
        "imagePullPolicy: IfNotPresent\n        imagePullPolicyy: Always",
        1,
    );
    assert_ne!(broken, yaml);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("broken.yaml");
    std::fs::write(&file, broken).unwrap();
    let (ok, report) = kubernetes_validate(&python, &file);
    assert!(!ok, "an unknown field passed strict validation:\n{report}");
    assert!(report.contains("imagePullPolicyy"), "{report}");
}

#[test]
fn output_file_is_private_and_bad_flags_name_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("webhook.yaml");
    std::fs::write(&file, "old").unwrap();
    let out = irsa(&[
        "webhook",
        "manifests",
        "--namespace",
        NS,
        "--image",
        "registry.example/irsa:test",
        "-o",
        file.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty());
    let written = std::fs::read_to_string(&file).unwrap();
    assert!(written.contains("kind: MutatingWebhookConfiguration"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(
            std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    let out = irsa(&[
        "webhook",
        "manifests",
        "--namespace",
        "Bad_NS",
        "--image",
        "x",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid --namespace"));

    let out = irsa(&[
        "webhook",
        "manifests",
        "--namespace",
        NS,
        "--image",
        "x",
        "--cert-manager",
        "--self-signed",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot be used with"));
}

#[test]
fn renewal_with_extra_ca_bundle_trusts_both_the_old_and_the_new_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
    let pick = |docs: &[Value]| {
        let secret = docs.iter().find(|d| d["kind"] == "Secret").unwrap().clone();
        let mwc = docs
            .iter()
            .find(|d| d["kind"] == "MutatingWebhookConfiguration")
            .unwrap();
        (
            b64(&secret["data"]["tls.crt"]),
            b64(&mwc["webhooks"][0]["clientConfig"]["caBundle"]),
        )
    };
    let (old_crt, old_bundle) = pick(&parse(&manifests(&[]).0));
    std::fs::write(path("old-bundle.pem"), &old_bundle).unwrap();
    std::fs::write(path("old.crt"), &old_crt).unwrap();

    let (yaml, _) = manifests(&["--extra-ca-bundle", &path("old-bundle.pem")]);
    let (new_crt, new_bundle) = pick(&parse(&yaml));
    std::fs::write(path("new-bundle.pem"), &new_bundle).unwrap();
    std::fs::write(path("new.crt"), &new_crt).unwrap();
    // During the kubelet's Secret refresh some replicas still serve the old certificate.
    for crt in ["old.crt", "new.crt"] {
        let out = openssl(&[
            "verify",
            "-purpose",
            "sslserver",
            "-verify_hostname",
            &format!("{NAME}.{NS}.svc"),
            "-CAfile",
            &path("new-bundle.pem"),
            &path(crt),
        ]);
        assert!(out.contains(": OK"), "{crt}: {out}");
    }
    // Without the extra bundle, the old certificate would not verify.
    let lone = Command::new("openssl")
        .args([
            "verify",
            "-CAfile",
            &path("old-bundle.pem"),
            &path("new.crt"),
        ])
        .output()
        .unwrap();
    assert!(!lone.status.success());

    // A private key in the file is refused, and not echoed.
    let secret = parse(&yaml)
        .into_iter()
        .find(|d| d["kind"] == "Secret")
        .unwrap();
    let key = String::from_utf8(b64(&secret["data"]["tls.key"])).unwrap();
    std::fs::write(
        path("with-key.pem"),
        format!("{}{key}", String::from_utf8(old_bundle).unwrap()),
    )
    .unwrap();
    let out = irsa(&[
        "webhook",
        "manifests",
        "--namespace",
        NS,
        "--image",
        "x",
        "--extra-ca-bundle",
        &path("with-key.pem"),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("invalid --extra-ca-bundle") && !stderr.contains(&key[30..70]),
        "{stderr}"
    );
}
