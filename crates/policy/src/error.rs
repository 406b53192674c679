//! Validation findings and the parse error, with AWS's MalformedPolicyDocument texts.

use std::fmt;

use serde::Serialize;

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// IAM would reject the document (MalformedPolicyDocument).
    Error,
    /// IAM accepts the document but it probably does not do what was meant.
    Warning,
}

/// The AWS error messages (MalformedPolicyDocument), ordered as IAM checks them.
pub mod messages {
    /// JSON errors, wrong types, unknown or duplicate elements.
    pub const SYNTAX: &str = "Syntax errors in policy.";
    /// Version other than 2012-10-17 where IAM requires it.
    pub const VERSION: &str = "Policy document must be version 2012-10-17 or greater.";
    /// Effect not exactly `Allow`/`Deny`, bad dates in Date* conditions, bad resources.
    pub const LEGACY: &str = "The policy failed legacy parsing";
    /// Duplicate Sid.
    pub const SID_UNIQUE: &str = "Statement IDs (SID) in a single policy must be unique.";
    /// Sid with characters other than `[0-9A-Za-z]` in an IAM policy.
    pub const SID_ALNUM: &str = "Statement IDs (SID) must be alpha-numeric. Check that your input satisfies the regular expression [0-9A-Za-z]*";
    /// Missing Action/NotAction.
    pub const NO_ACTIONS: &str = "Policy statement must contain actions.";
    /// Missing Resource/NotResource in an identity policy.
    pub const NO_RESOURCES: &str = "Policy statement must contain resources.";
    /// Action without `vendor:`.
    pub const ACTION_VENDOR: &str =
        "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.";
    /// Action with two colons.
    pub const ACTION_COLON: &str = "Actions/Condition can contain only one colon.";
    /// Resource in a trust policy.
    pub const TRUST_RESOURCE: &str = "Has prohibited field Resource";
    /// Principal in an identity policy.
    pub const IDENTITY_PRINCIPAL: &str = "Policy document should not specify a principal.";
    /// Resource policy without Principal.
    pub const MISSING_PRINCIPAL: &str = "Missing required field Principal";
    /// Invalid Federated principal.
    pub const FEDERATED: &str =
        "Federated principals must be valid domain names or SAML metadata ARNs";
    /// Resource vendor wildcard.
    pub const RESOURCE_VENDOR: &str =
        "Resource vendor must be fully qualified and cannot contain regexes.";
    /// Unknown IAM resource type.
    pub const IAM_PATH: &str = "IAM resource path must either be \"*\" or start with user/, federated-user/, role/, group/, instance-profile/, mfa/, server-certificate/, policy/, sms-mfa/, saml-provider/, oidc-provider/, report/, access-report/.";
}

/// One problem found in a policy document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Error or warning.
    pub severity: Severity,
    /// The message AWS would return (MalformedPolicyDocument) for errors; our text for warnings.
    pub message: String,
    /// What exactly is wrong and what to do, naming the element.
    pub detail: String,
    /// 1-based line of the offending element.
    pub line: usize,
    /// 1-based column (characters) of the offending element.
    pub column: usize,
    /// Order in which IAM reports errors (lower first); not serialised.
    #[serde(skip)]
    pub(crate) rank: u8,
}

/// A policy document that IAM would reject.
///
/// `Display` gives AWS's MalformedPolicyDocument message (what IAM would return);
/// [`PolicyError::detail`] says precisely what is wrong and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    message: String,
    detail: String,
    line: usize,
    column: usize,
}

impl PolicyError {
    pub(crate) fn from_finding(f: &Finding) -> PolicyError {
        PolicyError {
            message: f.message.clone(),
            detail: f.detail.clone(),
            line: f.line,
            column: f.column,
        }
    }

    /// AWS's message, e.g. `Syntax errors in policy.`
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Our precise explanation, e.g. `Statement[0].Effect must be "Allow" or "Deny", not "allow"`.
    pub fn detail(&self) -> &str {
        &self.detail
    }

    /// 1-based line.
    pub fn line(&self) -> usize {
        self.line
    }

    /// 1-based column.
    pub fn column(&self) -> usize {
        self.column
    }
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for PolicyError {}
