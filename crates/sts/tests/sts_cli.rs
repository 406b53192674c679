//! Unmodified AWS clients (aws-cli v1 and boto3 from the test venv) doing IRSA against
//! the server: `AWS_ROLE_ARN` + `AWS_WEB_IDENTITY_TOKEN_FILE` + `AWS_ENDPOINT_URL_STS`.

mod sts_support;

use std::path::{Path, PathBuf};
use std::process::Output;

use irsa_jose::KeyAlgorithm;
use serde_json::{Value, json};
use sts_support::{
    ACCOUNT, StsServer, TestIssuer, jwks, key, mint, now, register_seed_role, sa_claims,
    test_python,
};

/// Runs `program args` with a clean AWS environment pointing at `endpoint`, using web
/// identity credentials from `token_file` for `role_arn`.
async fn run(
    program: &Path,
    args: &[&str],
    endpoint: &str,
    role_arn: &str,
    token_file: &Path,
    home: &Path,
) -> Output {
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args);
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("AWS_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("HOME", home)
        .env("AWS_CONFIG_FILE", home.join("config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.join("credentials"))
        .env("AWS_ROLE_ARN", role_arn)
        .env("AWS_WEB_IDENTITY_TOKEN_FILE", token_file)
        .env("AWS_ROLE_SESSION_NAME", "cli-session")
        .env("AWS_ENDPOINT_URL_STS", endpoint)
        .env("AWS_ENDPOINT_URL_IAM", endpoint)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true");
    cmd.output().await.unwrap()
}

struct Env {
    _dir: tempfile::TempDir,
    home: PathBuf,
    token_file: PathBuf,
    server: StsServer,
    issuer: TestIssuer,
    key: irsa_jose::PrivateKey,
    role_arn: String,
}

async fn env() -> Env {
    let key = key(KeyAlgorithm::Rsa2048);
    let issuer = TestIssuer::http(&jwks(&[&key])).await;
    let server = StsServer::start().await;
    let (_, role_arn) = register_seed_role(&server, &issuer.url).await;
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().to_owned();
    let token_file = home.join("token");
    Env {
        _dir: dir,
        home,
        token_file,
        server,
        issuer,
        key,
        role_arn,
    }
}

impl Env {
    fn write_token(&self, ns: &str, sa: &str, edit: impl FnOnce(&mut Value)) {
        let mut claims = sa_claims(&self.issuer.url, ns, sa, "sts.amazonaws.com");
        edit(&mut claims);
        // The kubelet writes the token without a newline; many tools add one. Send one.
        std::fs::write(&self.token_file, format!("{}\n", mint(&self.key, &claims))).unwrap();
    }

    async fn aws(&self, python: &Path, args: &[&str]) -> Output {
        let aws = python.parent().unwrap().join("aws");
        run(
            &aws,
            args,
            &self.server.url(),
            &self.role_arn,
            &self.token_file,
            &self.home,
        )
        .await
    }

    async fn python(&self, python: &Path, script: &str) -> Output {
        run(
            python,
            &["-c", script],
            &self.server.url(),
            &self.role_arn,
            &self.token_file,
            &self.home,
        )
        .await
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn aws_cli_get_caller_identity_with_web_identity() {
    let Some(python) = test_python("aws_cli_get_caller_identity_with_web_identity") else {
        return;
    };
    let e = env().await;
    e.write_token("default", "aws-cli", |_| {});
    let out = e
        .aws(&python, &["sts", "get-caller-identity", "--output", "json"])
        .await;
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let id: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        id["Arn"],
        json!(format!(
            "arn:aws:sts::{ACCOUNT}:assumed-role/k8s_default_aws-cli/cli-session"
        ))
    );
    assert_eq!(id["Account"], json!(ACCOUNT));
    assert!(id["UserId"].as_str().unwrap().starts_with("AROA"));

    // Another service account: AWS's AccessDenied, printed by the CLI.
    e.write_token("default", "intruder", |_| {});
    let out = e.aws(&python, &["sts", "get-caller-identity"]).await;
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("AccessDenied")
            && stderr.contains("Not authorized to perform sts:AssumeRoleWithWebIdentity"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn boto3_web_identity_and_refusals() {
    let Some(python) = test_python("boto3_web_identity_and_refusals") else {
        return;
    };
    let e = env().await;
    let script = r#"
import json, boto3, botocore.exceptions
try:
    print(json.dumps(boto3.client("sts").get_caller_identity()["Arn"]))
except botocore.exceptions.ClientError as err:
    print(json.dumps([err.response["Error"]["Code"], err.response["Error"]["Message"]]))
"#;
    e.write_token("default", "aws-cli", |_| {});
    let out = e.python(&python, script).await;
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let arn: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        arn,
        json!(format!(
            "arn:aws:sts::{ACCOUNT}:assumed-role/k8s_default_aws-cli/cli-session"
        ))
    );

    let exp = now() - 3600;
    e.write_token("default", "aws-cli", |c| {
        c["exp"] = json!(exp);
        c["iat"] = json!(exp - 600);
        c["nbf"] = json!(exp - 600);
    });
    let out = e.python(&python, script).await;
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let err: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(err[0], json!("ExpiredTokenException"), "{err}");
    assert!(
        err[1]
            .as_str()
            .unwrap()
            .starts_with("Token expired: current date/time"),
        "{err}"
    );

    e.write_token("default", "aws-cli", |c| {
        c["aud"] = json!(["https://kubernetes.default.svc"])
    });
    let out = e.python(&python, script).await;
    let err: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        err,
        json!(["InvalidIdentityToken", "Incorrect token audience"])
    );
}
