//! The AWS-managed policies present under `arn:aws:iam::aws:policy/...`.
//!
//! Documents are data files next to this module. `AmazonS3ReadOnlyAccess`,
//! `AmazonS3FullAccess` and `ReadOnlyAccess` are AWS's documents (`ReadOnlyAccess` is AWS's
//! version `v182` of 2026-04-03: 2,743 read-only actions over 309 services in two
//! statements, plus `s3express:CreateSession` limited to read-only sessions);
//! `AmazonDynamoDBFullAccess` keeps AWS's DynamoDB/DAX grants with a shortened list of
//! supporting services. To refresh `ReadOnlyAccess`, replace the JSON file with AWS's current
//! default version (`aws iam get-policy-version --policy-arn arn:aws:iam::aws:policy/ReadOnlyAccess
//! --version-id vN`, its `Document`) and update `version_id` and `updated_unix` below.

use time::OffsetDateTime;

use super::ManagedPolicy;

/// A built-in AWS-managed policy.
#[derive(Debug, Clone, Copy)]
pub struct AwsManagedPolicy {
    /// Policy name.
    pub name: &'static str,
    /// Policy id (`ANPA...`).
    pub id: &'static str,
    /// Description as AWS shows it.
    pub description: &'static str,
    /// Default version id.
    pub version_id: &'static str,
    /// The document.
    pub document: &'static str,
    /// Creation time (unix seconds).
    pub created_unix: i64,
    /// When the default version was published (unix seconds): the policy's `UpdateDate`.
    pub updated_unix: i64,
}

/// Every built-in AWS-managed policy.
pub const AWS_MANAGED_POLICIES: &[AwsManagedPolicy] = &[
    AwsManagedPolicy {
        name: "AmazonS3ReadOnlyAccess",
        id: "ANPAIZTJ4DXE7G6AGAE6M",
        description: "Provides read only access to all buckets via the AWS Management Console.",
        version_id: "v1",
        document: include_str!("aws_managed/AmazonS3ReadOnlyAccess.json"),
        created_unix: 1_423_602_000,
        updated_unix: 1_423_602_000,
    },
    AwsManagedPolicy {
        name: "AmazonS3FullAccess",
        id: "ANPAIFIR6V6BVTRAHWINE",
        description: "Provides full access to all buckets via the AWS Management Console.",
        version_id: "v1",
        document: include_str!("aws_managed/AmazonS3FullAccess.json"),
        created_unix: 1_423_602_000,
        updated_unix: 1_423_602_000,
    },
    AwsManagedPolicy {
        name: "AmazonDynamoDBFullAccess",
        id: "ANPAINUGF2JSOSUY76KYA",
        description: "Provides full access to Amazon DynamoDB via the AWS Management Console.",
        version_id: "v1",
        document: include_str!("aws_managed/AmazonDynamoDBFullAccess.json"),
        created_unix: 1_423_602_000,
        updated_unix: 1_423_602_000,
    },
    AwsManagedPolicy {
        name: "ReadOnlyAccess",
        id: "ANPAILL3HVNFSB6DCOWYQ",
        description: "Provides read-only access to AWS services and resources.",
        version_id: "v182",
        document: include_str!("aws_managed/ReadOnlyAccess.json"),
        created_unix: 1_423_602_000,
        // v182: 2026-04-03T15:27:12Z.
        updated_unix: 1_775_230_032,
    },
];

/// The built-in policy with this ARN (`arn:aws:iam::aws:policy/NAME`).
pub fn aws_managed_policy(arn: &str) -> Option<&'static AwsManagedPolicy> {
    let name = arn.strip_prefix("arn:aws:iam::aws:policy/")?;
    AWS_MANAGED_POLICIES.iter().find(|p| p.name == name)
}

impl AwsManagedPolicy {
    /// Its ARN.
    pub fn arn(&self) -> String {
        format!("arn:aws:iam::aws:policy/{}", self.name)
    }

    /// Its creation time.
    pub fn created(&self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(self.created_unix).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    /// When its default version was published.
    pub fn updated(&self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(self.updated_unix).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    /// As a [`ManagedPolicy`] with the given attachment count.
    pub fn to_managed(&self, attachment_count: i64) -> ManagedPolicy {
        ManagedPolicy {
            arn: self.arn(),
            name: self.name.to_owned(),
            id: self.id.to_owned(),
            path: "/".to_owned(),
            description: Some(self.description.to_owned()),
            default_version_id: self.version_id.to_owned(),
            tags: Vec::new(),
            attachment_count,
            create_date: self.created(),
            update_date: self.updated(),
        }
    }
}

#[cfg(test)]
mod tests {
    use irsa_policy::{
        Context, Decision, NamedPolicy, Policy, PolicyKind, PolicySet, Principal, Request, evaluate,
    };

    use super::*;

    const READER: &str = "arn:aws:sts::123456789012:assumed-role/reader/s";

    fn decide(policy: &Policy, action: &str, resource: &str) -> Decision {
        let set = PolicySet::identity(vec![NamedPolicy::new("ReadOnlyAccess", policy.clone())]);
        let request = Request::new(Principal::from_arn(READER), action, resource);
        evaluate(&set, &request).decision
    }

    #[test]
    fn every_builtin_document_parses_as_an_identity_policy() {
        for p in AWS_MANAGED_POLICIES {
            if let Err(e) = Policy::parse_as(p.document, PolicyKind::Identity) {
                panic!("{}: {}", p.name, e.message());
            }
            assert_eq!(aws_managed_policy(&p.arn()).map(|q| q.name), Some(p.name));
            assert!(p.updated_unix >= p.created_unix, "{}", p.name);
        }
    }

    #[test]
    fn read_only_access_is_awss_full_document() {
        let p = aws_managed_policy("arn:aws:iam::aws:policy/ReadOnlyAccess").unwrap();
        assert_eq!(p.version_id, "v182");
        let doc: serde_json::Value = serde_json::from_str(p.document).unwrap();
        let statements = doc["Statement"].as_array().unwrap();
        let sids: Vec<_> = statements
            .iter()
            .map(|s| s["Sid"].as_str().unwrap())
            .collect();
        assert_eq!(
            sids,
            [
                "ReadOnlyActionsGroup1",
                "ReadOnlyActionsGroup2",
                "S3ExpressReadOnlySessionObjectAccess"
            ]
        );
        let actions: usize = statements
            .iter()
            .map(|s| s["Action"].as_array().unwrap().len())
            .sum();
        assert_eq!(actions, 2744);
    }

    #[test]
    fn read_only_access_allows_reads_and_denies_writes() {
        let p = aws_managed_policy("arn:aws:iam::aws:policy/ReadOnlyAccess").unwrap();
        let policy = Policy::parse_as(p.document, PolicyKind::Identity).unwrap();
        for (action, resource) in [
            ("s3:GetObject", "arn:aws:s3:::bucket/key"),
            ("s3:ListBucket", "arn:aws:s3:::bucket"),
            ("ec2:DescribeInstances", "*"),
            (
                "dynamodb:Query",
                "arn:aws:dynamodb:us-east-1:123456789012:table/t",
            ),
            ("iam:GetRole", "arn:aws:iam::123456789012:role/app"),
            ("sts:GetCallerIdentity", "*"),
            ("xray:GetTraceSummaries", "*"),
        ] {
            assert_eq!(
                decide(&policy, action, resource),
                Decision::Allowed,
                "{action}"
            );
        }
        for (action, resource) in [
            ("s3:PutObject", "arn:aws:s3:::bucket/key"),
            ("s3:CreateBucket", "arn:aws:s3:::bucket"),
            ("ec2:RunInstances", "*"),
            ("iam:CreateRole", "arn:aws:iam::123456789012:role/app"),
            ("sts:AssumeRole", "arn:aws:iam::123456789012:role/app"),
            // Only read-only S3 Express sessions (the condition key is absent here).
            ("s3express:CreateSession", "*"),
        ] {
            assert_eq!(
                decide(&policy, action, resource),
                Decision::ImplicitDeny,
                "{action}"
            );
        }
        let set = PolicySet::identity(vec![NamedPolicy::new("ReadOnlyAccess", policy)]);
        let session = |mode: &str| {
            Request::new(Principal::from_arn(READER), "s3express:CreateSession", "*")
                .with_context(Context::new().with("s3express:SessionMode", mode))
        };
        assert_eq!(
            evaluate(&set, &session("ReadOnly")).decision,
            Decision::Allowed
        );
        assert_eq!(
            evaluate(&set, &session("ReadWrite")).decision,
            Decision::ImplicitDeny
        );
    }
}
