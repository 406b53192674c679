//! The AWS-managed policies present under `arn:aws:iam::aws:policy/...`.
//!
//! Documents are data files next to this module. `AmazonS3ReadOnlyAccess` and
//! `AmazonS3FullAccess` are AWS's documents; `AmazonDynamoDBFullAccess` keeps AWS's
//! DynamoDB/DAX grants with a shortened list of supporting services; `ReadOnlyAccess`
//! is abbreviated to a representative read-only action list (the real one lists
//! hundreds of services).

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
    },
    AwsManagedPolicy {
        name: "AmazonS3FullAccess",
        id: "ANPAIFIR6V6BVTRAHWINE",
        description: "Provides full access to all buckets via the AWS Management Console.",
        version_id: "v1",
        document: include_str!("aws_managed/AmazonS3FullAccess.json"),
        created_unix: 1_423_602_000,
    },
    AwsManagedPolicy {
        name: "AmazonDynamoDBFullAccess",
        id: "ANPAINUGF2JSOSUY76KYA",
        description: "Provides full access to Amazon DynamoDB via the AWS Management Console.",
        version_id: "v1",
        document: include_str!("aws_managed/AmazonDynamoDBFullAccess.json"),
        created_unix: 1_423_602_000,
    },
    AwsManagedPolicy {
        name: "ReadOnlyAccess",
        id: "ANPAILL3HVNFSB6DCOWYQ",
        description: "Provides read-only access to AWS services and resources.",
        version_id: "v1",
        document: include_str!("aws_managed/ReadOnlyAccess.json"),
        created_unix: 1_423_602_000,
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
            update_date: self.created(),
        }
    }
}
