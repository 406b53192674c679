//! `irsa sts serve` as users run it: the printed address and credentials file, the AWS
//! CLI against it, state that survives `kill -9`, and graceful shutdown on SIGTERM.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use aws_sdk_iam::config::{BehaviorVersion, Credentials, Region};

struct Served {
    child: Child,
    url: String,
    credentials: Option<PathBuf>,
}

fn serve(state: &Path, extra: &[&str]) -> Served {
    let child = Command::new(env!("CARGO_BIN_EXE_irsa"))
        .args(["sts", "serve", "--listen", "127.0.0.1:0", "--state"])
        .arg(state)
        .args(extra)
        .env_remove("IRSA_STS_ADMIN_ACCESS_KEY_ID")
        .env_remove("IRSA_STS_ADMIN_SECRET_ACCESS_KEY")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start irsa sts serve");
    // From here on, Drop stops the server even if the test fails.
    let mut served = Served {
        child,
        url: String::new(),
        credentials: None,
    };
    let stdout = served.child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("irsa sts serve printed its address");
        if let Some(rest) = line.strip_prefix("listening on ") {
            served.url = rest.trim().to_owned();
            return served;
        }
        if let Some((_, after)) = line.split_once(") in ") {
            served.credentials = Some(PathBuf::from(after.split(" (profile").next().unwrap()));
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn read_credentials(path: &Path) -> (String, String) {
    let text = std::fs::read_to_string(path).unwrap();
    let get = |key: &str| {
        text.lines()
            .find_map(|l| {
                l.strip_prefix(key)
                    .map(|v| v.trim_start_matches([' ', '=']).trim().to_owned())
            })
            .unwrap()
    };
    assert!(text.starts_with("[irsa-sts]\n"), "{text}");
    (get("aws_access_key_id"), get("aws_secret_access_key"))
}

fn iam(url: &str, (id, secret): &(String, String)) -> aws_sdk_iam::Client {
    let conf = aws_sdk_iam::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(id, secret, None, None, "test"))
        .endpoint_url(url)
        .build();
    aws_sdk_iam::Client::from_conf(conf)
}

const TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":"arn:aws:iam::123456789012:oidc-provider/oidc.example.com/id/ABC"},"Action":"sts:AssumeRoleWithWebIdentity","Condition":{"StringEquals":{"oidc.example.com/id/ABC:sub":"system:serviceaccount:default:aws-cli","oidc.example.com/id/ABC:aud":"sts.amazonaws.com"}}}]}"#;
const S3_POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:CreateBucket","s3:ListBucket"],"Resource":"arn:aws:s3:::k8s-default-aws-cli-*"}]}"#;

#[test]
fn acknowledged_writes_survive_kill_9_and_keys_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("sts.db");
    let rt = tokio::runtime::Runtime::new().unwrap();

    let mut first = serve(&state, &[]);
    let cred_path = first
        .credentials
        .clone()
        .expect("the credentials file path is printed");
    assert_eq!(cred_path, dir.path().join("sts.db.credentials"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&cred_path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let keys = read_credentials(&cred_path);
    assert!(
        keys.0.starts_with("AKIA") && keys.0.len() == 20,
        "{}",
        keys.0
    );
    assert_eq!(keys.1.len(), 40);
    let client = iam(&first.url, &keys);
    rt.block_on(async {
        client
            .create_open_id_connect_provider()
            .url("https://oidc.example.com/id/ABC")
            .client_id_list("sts.amazonaws.com")
            .send()
            .await
            .unwrap();
        client
            .create_role()
            .role_name("k8s_default_aws-cli")
            .assume_role_policy_document(TRUST)
            .send()
            .await
            .unwrap();
        client
            .put_role_policy()
            .role_name("k8s_default_aws-cli")
            .policy_name("s3")
            .policy_document(S3_POLICY)
            .send()
            .await
            .unwrap();
    });
    // No graceful anything: SIGKILL right after the last acknowledged write.
    first.child.kill().unwrap();
    first.child.wait().unwrap();

    let mut second = serve(&state, &[]);
    assert_eq!(
        read_credentials(&cred_path),
        keys,
        "the admin pair is stored with the state, not regenerated"
    );
    let client = iam(&second.url, &keys);
    rt.block_on(async {
        let role = client
            .get_role()
            .role_name("k8s_default_aws-cli")
            .send()
            .await
            .unwrap();
        assert_eq!(
            role.role().unwrap().arn(),
            "arn:aws:iam::123456789012:role/k8s_default_aws-cli"
        );
        let p = client
            .get_role_policy()
            .role_name("k8s_default_aws-cli")
            .policy_name("s3")
            .send()
            .await
            .unwrap();
        assert!(p.policy_document().starts_with("%7B"));
        let providers = client
            .list_open_id_connect_providers()
            .send()
            .await
            .unwrap();
        assert_eq!(providers.open_id_connect_provider_list().len(), 1);
    });

    // SIGTERM: graceful shutdown, exit code 0.
    let status = Command::new("kill")
        .args(["-TERM", &second.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = second.child.wait().unwrap();
    assert!(exit.success(), "{exit:?}");
}

#[test]
fn bad_flags_are_refused_with_a_clear_message() {
    let out = Command::new(env!("CARGO_BIN_EXE_irsa"))
        .args([
            "sts",
            "serve",
            "--state",
            ":memory:",
            "--account-id",
            "12345",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--account-id must be 12 digits"), "{err}");
}

fn test_python() -> Option<PathBuf> {
    match std::env::var_os("IRSA_TEST_PYTHON") {
        Some(p) => Some(PathBuf::from(p)),
        None if std::env::var_os("CI").is_some() => {
            panic!("IRSA_TEST_PYTHON must be set in CI (run scripts/test.sh)")
        }
        None => {
            eprintln!("skipped: the AWS CLI test needs IRSA_TEST_PYTHON (run scripts/test.sh)");
            None
        }
    }
}

#[test]
fn aws_cli_drives_the_iam_api() {
    let Some(python) = test_python() else { return };
    let aws = python.parent().unwrap().join("aws");
    let dir = tempfile::tempdir().unwrap();
    let mut served = serve(
        Path::new(":memory:"),
        &[
            "--credentials-file",
            dir.path().join("creds").to_str().unwrap(),
        ],
    );
    let trust = dir.path().join("trust.json");
    std::fs::write(&trust, TRUST).unwrap();
    let policy = dir.path().join("policy.json");
    std::fs::write(&policy, S3_POLICY).unwrap();
    let run = |args: &[&str]| -> serde_json::Value {
        let out = Command::new(&aws)
            .args(args)
            .args(["--output", "json"])
            .env("AWS_SHARED_CREDENTIALS_FILE", dir.path().join("creds"))
            .env("AWS_PROFILE", "irsa-sts")
            .env("AWS_CONFIG_FILE", dir.path().join("no-config"))
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_ENDPOINT_URL_IAM", &served.url)
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env_remove("AWS_SESSION_TOKEN")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "aws {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        if out.stdout.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_slice(&out.stdout).unwrap()
        }
    };
    let created = run(&[
        "iam",
        "create-open-id-connect-provider",
        "--url",
        "https://oidc.example.com/id/ABC",
        "--client-id-list",
        "sts.amazonaws.com",
        "--thumbprint-list",
        "9e99a48a9960b14926bb7f3b02e22da2b0ab7280",
    ]);
    assert_eq!(
        created["OpenIDConnectProviderArn"],
        "arn:aws:iam::123456789012:oidc-provider/oidc.example.com/id/ABC"
    );
    let role = run(&[
        "iam",
        "create-role",
        "--role-name",
        "k8s_default_aws-cli",
        "--assume-role-policy-document",
        &format!("file://{}", trust.display()),
    ]);
    // botocore URL-decodes and parses the document: proof the wire encoding is right.
    assert_eq!(
        role["Role"]["AssumeRolePolicyDocument"],
        serde_json::from_str::<serde_json::Value>(TRUST).unwrap()
    );
    let arn = role["Role"]["Arn"].as_str().unwrap().to_owned();
    run(&[
        "iam",
        "put-role-policy",
        "--role-name",
        "k8s_default_aws-cli",
        "--policy-name",
        "s3",
        "--policy-document",
        &format!("file://{}", policy.display()),
    ]);
    let sim = run(&[
        "iam",
        "simulate-principal-policy",
        "--policy-source-arn",
        &arn,
        "--action-names",
        "s3:CreateBucket",
        "--resource-arns",
        "arn:aws:s3:::k8s-default-aws-cli-demo",
        "arn:aws:s3:::k9s-default-aws-cli-demo",
    ]);
    let results = sim["EvaluationResults"].as_array().unwrap();
    assert_eq!(results[0]["EvalDecision"], "allowed");
    assert_eq!(results[0]["MatchedStatements"][0]["SourcePolicyId"], "s3");
    assert_eq!(results[1]["EvalDecision"], "implicitDeny");
    served.child.kill().unwrap();
    served.child.wait().unwrap();
}
