//! The seed's objects: the `aws-cli` pod and ServiceAccount, the role's trust policy and the
//! S3-prefix permissions policy.

use serde_json::{Value, json};

/// Namespace of the seed's pod.
pub const NAMESPACE: &str = "default";
/// The seed's ServiceAccount.
pub const SERVICE_ACCOUNT: &str = "aws-cli";
/// The role eksctl would name for `default/aws-cli`.
pub const ROLE_NAME: &str = "k8s_default_aws-cli";
/// The audience the webhook projects tokens for.
pub const AUDIENCE: &str = "sts.amazonaws.com";
/// Session name the demo asks for.
pub const SESSION_NAME: &str = "k8s-demo";
/// A bucket inside the role's prefix.
pub const ALLOWED_BUCKET: &str = "k8s-default-aws-cli-demo";
/// A bucket outside it (one letter off).
pub const DENIED_BUCKET: &str = "k9s-default-aws-cli-demo";
/// Name of the inline policy on the role.
pub const POLICY_NAME: &str = "s3-prefix";

/// The pod the seed runs: the AWS CLI image, idle, with `serviceAccountName: aws-cli`.
pub fn pod() -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "aws-cli", "namespace": NAMESPACE},
        "spec": {
            "serviceAccountName": SERVICE_ACCOUNT,
            "containers": [{
                "name": "aws-cli",
                "image": "amazon/aws-cli:latest",
                "command": ["sleep", "infinity"]
            }]
        }
    })
}

/// The permissions policy: everything on the buckets named `k8s-default-aws-cli-*`.
pub fn s3_prefix_policy() -> String {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "BucketsOfThisServiceAccount",
            "Effect": "Allow",
            "Action": "s3:*",
            "Resource": [
                "arn:aws:s3:::k8s-default-aws-cli-*",
                "arn:aws:s3:::k8s-default-aws-cli-*/*"
            ]
        }]
    })
    .to_string()
}

/// The trust policy as eksctl writes it: the provider as Federated principal, `StringEquals`
/// on `<issuer-host-path>:sub` and `:aud`.
pub fn trust_policy(provider_arn: &str, host_path: &str) -> String {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Federated": provider_arn},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {
                format!("{host_path}:sub"): format!("system:serviceaccount:{NAMESPACE}:{SERVICE_ACCOUNT}"),
                format!("{host_path}:aud"): AUDIENCE
            }}
        }]
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_policies_parse_as_aws_would() {
        irsa_policy::Policy::parse(&s3_prefix_policy()).unwrap();
        irsa_policy::Policy::parse(&trust_policy(
            "arn:aws:iam::123456789012:oidc-provider/127.0.0.1:1",
            "127.0.0.1:1",
        ))
        .unwrap();
    }
}
