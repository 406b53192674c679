//! Webhook-wide mutation settings (the flags of upstream's `main.go`), with upstream defaults.

/// Default `--annotation-prefix`.
pub const DEFAULT_ANNOTATION_PREFIX: &str = "eks.amazonaws.com";
/// Default `--token-audience`.
pub const DEFAULT_AUDIENCE: &str = "sts.amazonaws.com";
/// Default `--token-mount-path`.
pub const DEFAULT_MOUNT_PATH: &str = "/var/run/secrets/eks.amazonaws.com/serviceaccount";
/// Default `--token-expiration`, and the base expiration of container-credentials mode when the
/// ServiceAccount is unknown. This exact value is jittered in container-credentials mode.
pub const DEFAULT_TOKEN_EXPIRATION: i64 = 86_400;
/// Every token expiration (flag, ServiceAccount or pod annotation) is raised to at least this.
pub const MIN_TOKEN_EXPIRATION: i64 = 600;
/// Lower bound of the jittered expiration in container-credentials mode (upper bound is
/// [`DEFAULT_TOKEN_EXPIRATION`]).
pub const JITTER_MIN_EXPIRATION: i64 = 79_200;
/// Name of the projected token volume in IRSA mode (fixed upstream, not a flag).
pub const IRSA_VOLUME_NAME: &str = "aws-iam-token";
/// File name of the token inside the IRSA volume (fixed upstream, not a flag).
pub const IRSA_TOKEN_PATH: &str = "token";
/// Label added to pods mutated in container-credentials mode. Hard-coded upstream: it does not
/// follow `--annotation-prefix`.
pub const POD_IDENTITY_LABEL: &str = "eks.amazonaws.com/pod-identity";
/// Default `--container-credentials-audience`.
pub const DEFAULT_CC_AUDIENCE: &str = "pods.eks.amazonaws.com";
/// Default `--container-credentials-token-mount-path`.
pub const DEFAULT_CC_MOUNT_PATH: &str = "/var/run/secrets/pods.eks.amazonaws.com/serviceaccount";
/// Default `--container-credentials-token-volume-name`.
pub const DEFAULT_CC_VOLUME_NAME: &str = "eks-pod-identity-token";
/// Default `--container-credentials-token-path`.
pub const DEFAULT_CC_TOKEN_PATH: &str = "eks-pod-identity-token";
/// Default `--container-credentials-full-uri`.
pub const DEFAULT_CC_FULL_URI: &str = "http://169.254.170.23/v1/credentials";

/// Webhook-wide mutation settings. [`Default`] gives upstream's flag defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `--annotation-prefix`: prefix of every ServiceAccount and pod annotation.
    pub annotation_prefix: String,
    /// `--token-audience`: audience of the IRSA token unless the ServiceAccount overrides it.
    pub audience: String,
    /// `--token-mount-path`: where the IRSA token volume is mounted.
    pub mount_path: String,
    /// `--token-expiration` in seconds; values below [`MIN_TOKEN_EXPIRATION`] are raised to it.
    pub token_expiration: i64,
    /// `--aws-default-region`: when set, `AWS_DEFAULT_REGION` and `AWS_REGION` are injected.
    pub region: Option<String>,
    /// `--sts-regional-endpoint`: inject `AWS_STS_REGIONAL_ENDPOINTS=regional` unless the
    /// ServiceAccount says otherwise.
    pub regional_sts: bool,
    /// The `--container-credentials-*` settings (EKS Pod Identity mode).
    pub container_credentials: ContainerCredentialsConfig,
    /// `--default-fs-group` (irsa only): set `spec.securityContext.fsGroup` on mutated pods
    /// that have none, so non-root containers can read the token (upstream issue #8).
    pub default_fs_group: Option<i64>,
    /// `--compose-role-arn`: when set, a ServiceAccount `role-arn` annotation without `arn:` is
    /// completed to a full role ARN. ConfigMap mappings are used as-is (as upstream does).
    pub compose_role_arn: Option<ComposeRoleArn>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            annotation_prefix: DEFAULT_ANNOTATION_PREFIX.to_owned(),
            audience: DEFAULT_AUDIENCE.to_owned(),
            mount_path: DEFAULT_MOUNT_PATH.to_owned(),
            token_expiration: DEFAULT_TOKEN_EXPIRATION,
            region: None,
            regional_sts: false,
            container_credentials: ContainerCredentialsConfig::default(),
            default_fs_group: None,
            compose_role_arn: None,
        }
    }
}

/// Settings of container-credentials (EKS Pod Identity) mode. [`Default`] gives upstream's
/// defaults. Whether a ServiceAccount uses this mode is decided by the association file
/// ([`crate::Associations`]), not here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerCredentialsConfig {
    /// `--container-credentials-audience`.
    pub audience: String,
    /// `--container-credentials-token-mount-path`.
    pub mount_path: String,
    /// `--container-credentials-token-volume-name`.
    pub volume_name: String,
    /// `--container-credentials-token-path`: file name of the token inside the volume.
    pub token_path: String,
    /// `--container-credentials-full-uri`: value of `AWS_CONTAINER_CREDENTIALS_FULL_URI`.
    pub full_uri: String,
}

impl Default for ContainerCredentialsConfig {
    fn default() -> Self {
        Self {
            audience: DEFAULT_CC_AUDIENCE.to_owned(),
            mount_path: DEFAULT_CC_MOUNT_PATH.to_owned(),
            volume_name: DEFAULT_CC_VOLUME_NAME.to_owned(),
            token_path: DEFAULT_CC_TOKEN_PATH.to_owned(),
            full_uri: DEFAULT_CC_FULL_URI.to_owned(),
        }
    }
}

/// `--compose-role-arn`: completes a ServiceAccount `role-arn` annotation that is a bare role
/// name (no `arn:` in it) to `arn:<partition>:iam::<account_id>:role/<name>`. The webhook fills
/// it from the EC2 instance identity document at startup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComposeRoleArn {
    /// AWS partition of composed ARNs, e.g. `aws` or `aws-cn`.
    pub partition: String,
    /// 12-digit AWS account ID of composed ARNs.
    pub account_id: String,
}

impl ComposeRoleArn {
    /// The partition is chosen from `region` with [`partition_for_region`].
    pub fn from_region(region: &str, account_id: impl Into<String>) -> Self {
        Self {
            partition: partition_for_region(region).to_owned(),
            account_id: account_id.into(),
        }
    }

    /// The full ARN for `role` when it does not contain `arn:` (then it is a role name, possibly
    /// with a path such as `team/reader`); `None` when `role` is to be used as-is.
    ///
    /// ```
    /// let c = irsa_mutate::ComposeRoleArn::from_region("cn-north-1", "123456789012");
    /// assert_eq!(c.compose("s3-reader").as_deref(),
    ///            Some("arn:aws-cn:iam::123456789012:role/s3-reader"));
    /// assert_eq!(c.compose("arn:aws:iam::111122223333:role/x"), None);
    /// ```
    pub fn compose(&self, role: &str) -> Option<String> {
        if role.contains("arn:") {
            return None;
        }
        Some(format!(
            "arn:{}:iam::{}:role/{role}",
            self.partition, self.account_id
        ))
    }
}

/// The AWS partition of a region, by prefix: `cn-` is `aws-cn`, `us-gov-` `aws-us-gov`,
/// `us-iso-` `aws-iso`, `us-isob-` `aws-iso-b`, `eusc-` `aws-eusc` (upstream's list), plus
/// `eu-isoe-` `aws-iso-e` and `us-isof-` `aws-iso-f` (which upstream maps to `aws`); anything
/// else is `aws`.
pub fn partition_for_region(region: &str) -> &'static str {
    const PREFIXES: [(&str, &str); 7] = [
        ("cn-", "aws-cn"),
        ("us-gov-", "aws-us-gov"),
        ("us-iso-", "aws-iso"),
        ("us-isob-", "aws-iso-b"),
        ("eu-isoe-", "aws-iso-e"),
        ("us-isof-", "aws-iso-f"),
        ("eusc-", "aws-eusc"),
    ];
    PREFIXES
        .iter()
        .find(|(prefix, _)| region.starts_with(prefix))
        .map_or("aws", |(_, partition)| partition)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_for_every_region_prefix() {
        for (region, partition) in [
            ("us-east-1", "aws"),
            ("eu-west-1", "aws"),
            ("ap-southeast-2", "aws"),
            ("cn-north-1", "aws-cn"),
            ("cn-northwest-1", "aws-cn"),
            ("us-gov-west-1", "aws-us-gov"),
            ("us-gov-east-1", "aws-us-gov"),
            ("us-iso-east-1", "aws-iso"),
            ("us-isob-east-1", "aws-iso-b"),
            ("eu-isoe-west-1", "aws-iso-e"),
            ("us-isof-south-1", "aws-iso-f"),
            ("eusc-de-east-1", "aws-eusc"),
            // Prefixes only: look-alikes are in the commercial partition.
            ("us-gove-1", "aws"),
            ("cnx-north-1", "aws"),
            ("", "aws"),
        ] {
            assert_eq!(partition_for_region(region), partition, "{region}");
        }
    }

    #[test]
    fn isob_is_not_iso() {
        assert_eq!(partition_for_region("us-isob-east-1"), "aws-iso-b");
        assert_eq!(
            ComposeRoleArn::from_region("us-isob-east-1", "123456789012")
                .compose("r")
                .as_deref(),
            Some("arn:aws-iso-b:iam::123456789012:role/r")
        );
    }

    #[test]
    fn composes_bare_names_and_keeps_arns() {
        let c = ComposeRoleArn::from_region("us-gov-west-1", "123456789012");
        assert_eq!(c.partition, "aws-us-gov");
        assert_eq!(
            c.compose("s3-reader").as_deref(),
            Some("arn:aws-us-gov:iam::123456789012:role/s3-reader")
        );
        assert_eq!(
            c.compose("team/s3-reader").as_deref(),
            Some("arn:aws-us-gov:iam::123456789012:role/team/s3-reader")
        );
        for full in [
            "arn:aws:iam::111122223333:role/app",
            "arn:aws-cn:iam::111122223333:role/app",
            // Upstream's test is "contains arn:", not "starts with": kept as-is too.
            "my-arn:thing",
        ] {
            assert_eq!(c.compose(full), None, "{full}");
        }
    }

    /// `AWS_ROLE_ARN` injected into the first container for `sa` (cached) or `mapping`.
    fn injected_role(
        config: &Config,
        cached: Option<&str>,
        mapping: Option<&str>,
    ) -> (Option<String>, Vec<String>) {
        use crate::{Associations, ConfigMapMapping, ServiceAccountInfo, ServiceAccountLookup};
        let pod = serde_json::json!({"spec": {"containers": [{"name": "app"}]}});
        let info = cached.map(|role| ServiceAccountInfo {
            role_arn: Some(role.to_owned()),
            ..Default::default()
        });
        let mapping = mapping.map(|role| ConfigMapMapping {
            role_arn: role.to_owned(),
            ..Default::default()
        });
        let lookup = ServiceAccountLookup {
            cached: info.as_ref(),
            config_map: mapping.as_ref(),
            config_map_wildcard: false,
        };
        let m = crate::mutate(
            &pod,
            "ns",
            &lookup,
            &Associations::default(),
            config,
            &mut |_| 0,
        )
        .unwrap();
        let mut out = pod.clone();
        json_patch::patch(&mut out, &m.patch).unwrap();
        let role = out["spec"]["containers"][0]["env"]
            .as_array()
            .and_then(|env| env.iter().find(|e| e["name"] == "AWS_ROLE_ARN"))
            .and_then(|e| e["value"].as_str())
            .map(str::to_owned);
        (role, m.warnings)
    }

    #[test]
    fn mutation_composes_only_the_service_account_annotation() {
        let config = Config {
            compose_role_arn: Some(ComposeRoleArn::from_region("cn-north-1", "123456789012")),
            ..Config::default()
        };
        let (role, warnings) = injected_role(&config, Some("s3-reader"), None);
        assert_eq!(
            role.as_deref(),
            Some("arn:aws-cn:iam::123456789012:role/s3-reader")
        );
        assert!(warnings.is_empty(), "{warnings:?}");
        let full = "arn:aws:iam::111122223333:role/app";
        assert_eq!(
            injected_role(&config, Some(full), None).0.as_deref(),
            Some(full)
        );
        // ConfigMap mappings are used as-is, like upstream.
        assert_eq!(
            injected_role(&config, None, Some("bare")).0.as_deref(),
            Some("bare")
        );
        // Without the option a bare name is injected as-is, with upstream's warning.
        let (role, warnings) = injected_role(&Config::default(), Some("s3-reader"), None);
        assert_eq!(role.as_deref(), Some("s3-reader"));
        assert_eq!(warnings.len(), 1, "{warnings:?}");
    }
}
