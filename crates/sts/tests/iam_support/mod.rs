//! Shared helpers of the IAM tests: an in-process server and AWS SDK clients for it.
#![allow(dead_code)]

use std::sync::Arc;

use irsa_sts::server::{self, AdminCredentials, AppState, RunningServer, ServerConfig};
use irsa_sts::store::Store;

mod calls;
#[allow(unused_imports)] // not every test file uses the calls
pub use calls::*;

pub const ADMIN_ID: &str = "AKIAIRSATESTADMIN001";
pub const ADMIN_SECRET: &str = "irsa-test-admin-secret-0123456789abcdefgh";
pub const ACCOUNT: &str = "123456789012";

pub struct TestServer {
    pub server: RunningServer,
    pub state: Arc<AppState>,
}

impl TestServer {
    pub async fn start() -> TestServer {
        TestServer::with_store(Store::in_memory().unwrap(), false).await
    }

    pub async fn with_store(store: Store, allow_http_issuers: bool) -> TestServer {
        let config = ServerConfig {
            allow_http_issuers,
            admin: Some(AdminCredentials {
                access_key_id: ADMIN_ID.into(),
                secret_access_key: ADMIN_SECRET.into(),
            }),
            ..ServerConfig::default()
        };
        let state = Arc::new(AppState::new(config, Arc::new(store)).unwrap());
        let server = server::start("127.0.0.1:0".parse().unwrap(), state.clone())
            .await
            .unwrap();
        TestServer { server, state }
    }

    pub fn url(&self) -> String {
        self.server.endpoint_url()
    }

    pub fn iam(&self) -> aws_sdk_iam::Client {
        iam_client(&self.url(), ADMIN_ID, ADMIN_SECRET, None)
    }

    /// An IAM client signing with role-session credentials, sending `token` as the session
    /// token (the one issued with them, another, or none).
    pub fn session_iam(
        &self,
        creds: &irsa_sts::credentials::TemporaryCredentials,
        token: Option<String>,
    ) -> aws_sdk_iam::Client {
        iam_client(
            &self.url(),
            &creds.access_key_id,
            &creds.secret_access_key,
            token,
        )
    }

    /// Creates role `name` (trusting a web identity of `default:NAME`), puts `policy` as its
    /// inline policy `policy_name`, and issues credentials of a 15-minute session `s1`, as
    /// AssumeRole* would: the role and the credentials.
    pub async fn role_session(
        &self,
        name: &str,
        policy_name: &str,
        policy: &str,
    ) -> (
        aws_sdk_iam::types::Role,
        irsa_sts::credentials::TemporaryCredentials,
    ) {
        let iam = self.iam();
        let sa = format!("default:{name}");
        let role = create_role(&iam, name, &trust_policy("oidc.example.com", &sa)).await;
        put_role_policy(&iam, name, policy_name, policy).await;
        let creds = irsa_sts::credentials::issue(
            &self.state.session_key,
            irsa_sts::credentials::NewSession::new(role.arn(), role.role_id(), "s1", 900),
            std::time::SystemTime::now(),
        )
        .unwrap();
        (role, creds)
    }

    pub async fn stop(self) {
        self.server.shutdown().await.unwrap();
    }
}

/// Decodes a URL-encoded policy document as botocore does (`unquote`, no `+` to space).
pub fn decode_document(s: &str) -> serde_json::Value {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let h = u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap();
            out.push(h);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    serde_json::from_slice(&out).unwrap()
}

pub fn trust_policy(provider: &str, sa: &str) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"Federated":"arn:aws:iam::{ACCOUNT}:oidc-provider/{provider}"}},"Action":"sts:AssumeRoleWithWebIdentity","Condition":{{"StringEquals":{{"{provider}:sub":"system:serviceaccount:{sa}","{provider}:aud":"sts.amazonaws.com"}}}}}}]}}"#
    )
}

/// The seed's S3-prefix policy: buckets named after the namespace and service account.
pub const S3_PREFIX_POLICY: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Effect": "Allow",
      "Action": ["s3:CreateBucket", "s3:ListBucket", "s3:GetObject", "s3:PutObject"],
      "Resource": ["arn:aws:s3:::k8s-default-aws-cli-*", "arn:aws:s3:::k8s-default-aws-cli-*/*"]
    }
  ]
}"#;
