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
