//! IAM calls the tests make through aws-sdk-iam to set state up, one line each, and the
//! checks of the AWS error an SDK call failed with. Shared by the IAM and the STS tests
//! (`sts_support` includes this file as `iam_calls`).
#![allow(dead_code)]

use std::fmt::Debug;

use aws_sdk_iam::Client;
use aws_sdk_iam::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_iam::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_iam::types::Role;

/// An IAM client for the server at `url` signing with these keys (region us-east-1).
pub fn iam_client(url: &str, id: &str, secret: &str, token: Option<String>) -> Client {
    let conf = aws_sdk_iam::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(id, secret, token, None, "irsa-test"))
        .endpoint_url(url)
        .build();
    Client::from_conf(conf)
}

/// The code and message of the AWS error an SDK call failed with; panics when the call
/// succeeded or failed without a service error (e.g. on the network).
#[track_caller]
pub fn error_of<T, E, R>(result: Result<T, SdkError<E, R>>) -> (String, String)
where
    T: Debug,
    E: ProvideErrorMetadata + Debug,
    R: Debug,
{
    let err = match result {
        Ok(out) => panic!("expected an AWS error, the call succeeded: {out:?}"),
        Err(err) => err,
    };
    match err.as_service_error().map(|e| (e.code(), e.message())) {
        Some((Some(code), message)) => (code.to_owned(), message.unwrap_or_default().to_owned()),
        _ => panic!("expected an AWS service error, got {err:?}"),
    }
}

/// Asserts that an SDK call failed with exactly this AWS error code and message.
#[track_caller]
pub fn assert_aws_error<T, E, R>(result: Result<T, SdkError<E, R>>, code: &str, message: &str)
where
    T: Debug,
    E: ProvideErrorMetadata + Debug,
    R: Debug,
{
    let (got_code, got_message) = error_of(result);
    assert_eq!((got_code.as_str(), got_message.as_str()), (code, message));
}

/// Asserts that an SDK call failed with this AWS error code; returns the message, for the
/// callers that check only part of it.
#[track_caller]
pub fn aws_error_message<T, E, R>(result: Result<T, SdkError<E, R>>, code: &str) -> String
where
    T: Debug,
    E: ProvideErrorMetadata + Debug,
    R: Debug,
{
    let (got_code, message) = error_of(result);
    assert_eq!(got_code, code, "{message}");
    message
}

/// CreateRole with only a name and a trust policy; returns the role.
pub async fn create_role(iam: &Client, name: &str, trust: &str) -> Role {
    let out = iam
        .create_role()
        .role_name(name)
        .assume_role_policy_document(trust)
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateRole {name}: {e:?}"));
    out.role.expect("CreateRole returns the role")
}

/// PutRolePolicy (creates or replaces the inline policy).
pub async fn put_role_policy(iam: &Client, role: &str, policy: &str, document: &str) {
    iam.put_role_policy()
        .role_name(role)
        .policy_name(policy)
        .policy_document(document)
        .send()
        .await
        .unwrap_or_else(|e| panic!("PutRolePolicy {role}/{policy}: {e:?}"));
}

/// DeleteRolePolicy.
pub async fn delete_role_policy(iam: &Client, role: &str, policy: &str) {
    iam.delete_role_policy()
        .role_name(role)
        .policy_name(policy)
        .send()
        .await
        .unwrap_or_else(|e| panic!("DeleteRolePolicy {role}/{policy}: {e:?}"));
}

/// CreatePolicy (a customer-managed policy at path `/`); returns its ARN.
pub async fn create_policy(iam: &Client, name: &str, document: &str) -> String {
    let out = iam
        .create_policy()
        .policy_name(name)
        .policy_document(document)
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreatePolicy {name}: {e:?}"));
    out.policy().unwrap().arn().unwrap().to_owned()
}

/// AttachRolePolicy.
pub async fn attach_role_policy(iam: &Client, role: &str, policy_arn: &str) {
    iam.attach_role_policy()
        .role_name(role)
        .policy_arn(policy_arn)
        .send()
        .await
        .unwrap_or_else(|e| panic!("AttachRolePolicy {role} {policy_arn}: {e:?}"));
}

/// DetachRolePolicy.
pub async fn detach_role_policy(iam: &Client, role: &str, policy_arn: &str) {
    iam.detach_role_policy()
        .role_name(role)
        .policy_arn(policy_arn)
        .send()
        .await
        .unwrap_or_else(|e| panic!("DetachRolePolicy {role} {policy_arn}: {e:?}"));
}

/// CreateOpenIDConnectProvider for `url` with one client id (audience); returns its ARN.
pub async fn create_oidc_provider(iam: &Client, url: &str, client_id: &str) -> String {
    let out = iam
        .create_open_id_connect_provider()
        .url(url)
        .client_id_list(client_id)
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateOpenIDConnectProvider {url}: {e:?}"));
    out.open_id_connect_provider_arn().unwrap().to_owned()
}
