//! Flags shared by `irsa webhook mutate` and `irsa webhook serve`: the mutation-related flags of
//! amazon-eks-pod-identity-webhook, with upstream's names and defaults.

use std::path::Path;

use clap::ArgAction;
use irsa_mutate::{Config, ContainerCredentialsConfig, MIN_TOKEN_EXPIRATION};

/// Mutation flags, with the names and defaults of amazon-eks-pod-identity-webhook.
#[derive(Debug, Clone, clap::Args)]
pub struct MutationFlags {
    /// Prefix of the ServiceAccount and pod annotations (`<prefix>/role-arn`, ...).
    #[arg(long, default_value = irsa_mutate::DEFAULT_ANNOTATION_PREFIX, value_name = "PREFIX")]
    pub annotation_prefix: String,

    /// Default audience of the projected token (the ServiceAccount annotation overrides it).
    #[arg(long, default_value = irsa_mutate::DEFAULT_AUDIENCE, value_name = "AUDIENCE")]
    pub token_audience: String,

    /// Mount path of the projected token volume.
    #[arg(long, default_value = irsa_mutate::DEFAULT_MOUNT_PATH, value_name = "PATH")]
    pub token_mount_path: String,

    /// Default token expiration in seconds (values below 600 are raised to 600).
    #[arg(long, default_value_t = irsa_mutate::DEFAULT_TOKEN_EXPIRATION, value_name = "SECONDS")]
    pub token_expiration: i64,

    /// When set, AWS_DEFAULT_REGION and AWS_REGION are injected with this value.
    #[arg(long, default_value = "", value_name = "REGION")]
    pub aws_default_region: String,

    /// Inject AWS_STS_REGIONAL_ENDPOINTS=regional (the ServiceAccount annotation overrides it).
    #[arg(long, num_args = 0..=1, default_value = "false", default_missing_value = "true",
          action = ArgAction::Set, value_name = "BOOL", value_parser = parse_bool_flag)]
    pub sts_regional_endpoint: bool,

    /// EKS Pod Identity association file; empty disables container-credentials mode.
    #[arg(long, default_value = "", value_name = "FILE")]
    pub watch_container_credentials_config: String,

    /// Token audience in container-credentials mode.
    #[arg(long, default_value = irsa_mutate::DEFAULT_CC_AUDIENCE, value_name = "AUDIENCE")]
    pub container_credentials_audience: String,

    /// Token mount path in container-credentials mode.
    #[arg(long, alias = "container-credentials-mount-path",
          default_value = irsa_mutate::DEFAULT_CC_MOUNT_PATH, value_name = "PATH")]
    pub container_credentials_token_mount_path: String,

    /// Token volume name in container-credentials mode.
    #[arg(long, alias = "container-credentials-volume-name",
          default_value = irsa_mutate::DEFAULT_CC_VOLUME_NAME, value_name = "NAME")]
    pub container_credentials_token_volume_name: String,

    /// Token file name inside the volume in container-credentials mode.
    #[arg(long, default_value = irsa_mutate::DEFAULT_CC_TOKEN_PATH, value_name = "NAME")]
    pub container_credentials_token_path: String,

    /// Value of AWS_CONTAINER_CREDENTIALS_FULL_URI in container-credentials mode.
    #[arg(long, default_value = irsa_mutate::DEFAULT_CC_FULL_URI, value_name = "URI")]
    pub container_credentials_full_uri: String,

    /// irsa only: set spec.securityContext.fsGroup to this on mutated pods that have none, so
    /// non-root containers can read the token (the pod annotation <prefix>/fs-group wins).
    #[arg(long, value_name = "GID", value_parser = clap::value_parser!(i64).range(0..))]
    pub default_fs_group: Option<i64>,
}

/// Parses a boolean flag value as Go's flag library does (`strconv.ParseBool`: `true`, `1`, `t`,
/// `T`, `TRUE`, `True`, and the same for false), for drop-in compatibility with upstream args.
pub fn parse_bool_flag(value: &str) -> Result<bool, String> {
    irsa_mutate::parse_go_bool(value)
        .ok_or_else(|| format!("{value:?} is not a boolean (use true or false)"))
}

impl MutationFlags {
    /// The mutation settings these flags describe (token expiration raised to at least 600, as
    /// upstream does at startup).
    pub fn to_config(&self) -> Config {
        Config {
            annotation_prefix: self.annotation_prefix.clone(),
            audience: self.token_audience.clone(),
            mount_path: self.token_mount_path.clone(),
            token_expiration: self.token_expiration.max(MIN_TOKEN_EXPIRATION),
            region: Some(self.aws_default_region.clone()).filter(|r| !r.is_empty()),
            regional_sts: self.sts_regional_endpoint,
            container_credentials: ContainerCredentialsConfig {
                audience: self.container_credentials_audience.clone(),
                mount_path: self.container_credentials_token_mount_path.clone(),
                volume_name: self.container_credentials_token_volume_name.clone(),
                token_path: self.container_credentials_token_path.clone(),
                full_uri: self.container_credentials_full_uri.clone(),
            },
            default_fs_group: self.default_fs_group,
            compose_role_arn: None,
        }
    }

    /// The association file to watch, or `None` when `--watch-container-credentials-config` is
    /// empty (container-credentials mode disabled).
    pub fn associations_file(&self) -> Option<&Path> {
        Some(Path::new(&self.watch_container_credentials_config))
            .filter(|p| !p.as_os_str().is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        flags: MutationFlags,
    }

    fn parse(args: &[&str]) -> MutationFlags {
        Cli::try_parse_from(std::iter::once("irsa").chain(args.iter().copied()))
            .unwrap()
            .flags
    }

    #[test]
    fn defaults_are_upstream_defaults() {
        assert_eq!(parse(&[]).to_config(), Config::default());
        assert_eq!(parse(&[]).associations_file(), None);
    }

    #[test]
    fn boolean_forms_and_floor() {
        assert!(parse(&["--sts-regional-endpoint"]).sts_regional_endpoint);
        assert!(parse(&["--sts-regional-endpoint=true"]).sts_regional_endpoint);
        assert!(!parse(&["--sts-regional-endpoint=false"]).sts_regional_endpoint);
        assert!(parse(&["--sts-regional-endpoint=1"]).sts_regional_endpoint);
        assert!(!parse(&["--sts-regional-endpoint=F"]).sts_regional_endpoint);
        assert!(Cli::try_parse_from(["irsa", "--sts-regional-endpoint=yes"]).is_err());
        assert_eq!(
            parse(&["--token-expiration", "10"])
                .to_config()
                .token_expiration,
            600
        );
        let c = parse(&[
            "--aws-default-region=eu-west-1",
            "--default-fs-group=65534",
            "--container-credentials-mount-path=/m",
            "--container-credentials-token-volume-name=v",
        ])
        .to_config();
        assert_eq!(c.region.as_deref(), Some("eu-west-1"));
        assert_eq!(c.default_fs_group, Some(65534));
        assert_eq!(c.container_credentials.mount_path, "/m");
        assert_eq!(c.container_credentials.volume_name, "v");
    }
}
