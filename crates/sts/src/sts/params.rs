//! Parameters shared by the AssumeRole* actions: validation with AWS's messages, session
//! policies, and the credentials part of the response.

use irsa_policy::{Policy, PolicyKind};

use crate::credentials::TemporaryCredentials;
use crate::protocol::{AwsError, QueryRequest, Violations, XmlWriter, is_name_char};

/// Default session lifetime (AWS: 1 hour).
pub const DEFAULT_DURATION: i64 = 3600;
/// Shortest session.
pub const MIN_DURATION: i64 = 900;
/// Longest session any role can allow.
pub const MAX_DURATION: i64 = 43200;
/// Plaintext budget of `Policy` + `PolicyArns` (AWS: 2,048 characters).
pub const SESSION_POLICY_BUDGET: usize = 2048;

/// The validated parameters common to `AssumeRole` and `AssumeRoleWithWebIdentity`.
#[derive(Debug, Clone)]
pub struct SessionParams {
    /// `RoleArn`.
    pub role_arn: String,
    /// The account id inside `RoleArn`.
    pub role_account: String,
    /// `RoleSessionName`.
    pub session_name: String,
    /// `DurationSeconds` (default 3600).
    pub duration: i64,
    /// `Policy`, parsed.
    pub policy: Option<(String, Policy)>,
    /// `PolicyArns.member.N.arn`.
    pub policy_arns: Vec<String>,
}

impl SessionParams {
    /// Whether any session policy was passed (then `PackedPolicySize` is reported).
    pub fn has_session_policy(&self) -> bool {
        self.policy.is_some() || !self.policy_arns.is_empty()
    }

    /// AWS's `PackedPolicySize`: the share (percent, rounded up) of the session-policy
    /// budget used. AWS compresses with an undisclosed format; this counts the policy
    /// without whitespace plus each ARN, which keeps the same 100 % limit.
    pub fn packed_policy_size(&self) -> usize {
        let policy: usize = self
            .policy
            .as_ref()
            .map(|(text, _)| text.chars().filter(|c| !c.is_whitespace()).count())
            .unwrap_or(0);
        let arns: usize = self.policy_arns.iter().map(String::len).sum();
        ((policy + arns) * 100).div_ceil(SESSION_POLICY_BUDGET)
    }
}

/// `[\u0009\u000A\u000D\u0020-\u00FF]`: the characters a session policy may contain.
fn is_policy_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r') || ('\u{20}'..='\u{FF}').contains(&c)
}

/// Validates `RoleArn`, `RoleSessionName`, `DurationSeconds`, `Policy` and `PolicyArns`
/// (plus the action-specific checks the caller adds to `v`), all constraint violations in
/// one `ValidationError` as AWS reports them; then the ARN syntax and the session policy.
pub fn parse(
    request: &QueryRequest,
    mut v: Violations,
    policy_max_len: Option<usize>,
) -> Result<SessionParams, AwsError> {
    let role_arn = request.required("RoleArn")?.to_owned();
    let session_name = request.required("RoleSessionName")?.to_owned();
    v.length("roleArn", &role_arn, 20, 2048);
    v.length("roleSessionName", &session_name, 2, 64);
    v.pattern(
        "roleSessionName",
        &session_name,
        "[\\w+=,.@-]*",
        is_name_char,
    );
    let duration = request
        .optional_i64("DurationSeconds")?
        .unwrap_or(DEFAULT_DURATION);
    v.range("durationSeconds", duration, MIN_DURATION, MAX_DURATION);
    let policy = request.optional("Policy").map(str::to_owned);
    if let Some(p) = &policy {
        v.length("policy", p, 1, policy_max_len.unwrap_or(usize::MAX));
        v.pattern(
            "policy",
            p,
            "[\\u0009\\u000A\\u000D\\u0020-\\u00FF]+",
            is_policy_char,
        );
    }
    let policy_arns: Vec<String> = request
        .struct_list("PolicyArns")
        .into_iter()
        .filter_map(|m| m.get("arn").cloned())
        .collect();
    if policy_arns.len() > 10 {
        v.add(
            "policyArns",
            None,
            "Member must have length less than or equal to 10",
        );
    }
    for arn in &policy_arns {
        v.length("policyArns.member.arn", arn, 20, 2048);
    }
    v.finish()?;

    let role_account = role_account(&role_arn)
        .ok_or_else(|| AwsError::validation(format!("{role_arn} is invalid")))?
        .to_owned();
    for arn in &policy_arns {
        if !is_policy_arn(arn) {
            return Err(AwsError::validation(format!("{arn} is invalid")));
        }
    }
    let policy = match policy {
        None => None,
        Some(text) => match Policy::parse_as(&text, PolicyKind::Session) {
            Ok(p) => Some((text, p)),
            Err(e) => return Err(AwsError::malformed_policy_document(e.message())),
        },
    };
    let params = SessionParams {
        role_arn,
        role_account,
        session_name,
        duration,
        policy,
        policy_arns,
    };
    let size = params.packed_policy_size();
    if size > 100 {
        return Err(AwsError::sender(
            "PackedPolicyTooLarge",
            400,
            format!("Packed policy consumes {size}% of allotted space, please use smaller policy."),
        ));
    }
    Ok(params)
}

/// The account of `arn:PARTITION:iam::ACCOUNT:role/...`, `None` for anything else.
pub fn role_account(arn: &str) -> Option<&str> {
    let a = irsa_policy::Arn::parse(arn)?;
    let ok = matches!(a.partition, "aws" | "aws-cn" | "aws-us-gov")
        && a.service == "iam"
        && a.region.is_empty()
        && a.account.len() == 12
        && a.account.bytes().all(|b| b.is_ascii_digit())
        && a.resource
            .strip_prefix("role/")
            .is_some_and(|r| !r.is_empty());
    ok.then_some(a.account)
}

fn is_policy_arn(arn: &str) -> bool {
    irsa_policy::Arn::parse(arn).is_some_and(|a| {
        a.service == "iam"
            && a.region.is_empty()
            && (a.account == "aws"
                || (a.account.len() == 12 && a.account.bytes().all(|b| b.is_ascii_digit())))
            && a.resource.starts_with("policy/")
    })
}

/// Writes `<Credentials>` as STS does.
pub fn write_credentials(w: &mut XmlWriter, creds: &TemporaryCredentials) {
    w.with("Credentials", |w| {
        w.elem("AccessKeyId", &creds.access_key_id)
            .elem("SecretAccessKey", &creds.secret_access_key)
            .elem("SessionToken", &creds.session_token)
            .elem("Expiration", &creds.expiration_iso8601());
    });
}

/// Writes `<AssumedRoleUser>`.
pub fn write_assumed_role_user(w: &mut XmlWriter, creds: &TemporaryCredentials) {
    w.with("AssumedRoleUser", |w| {
        w.elem("AssumedRoleId", &creds.claims.assumed_role_id())
            .elem("Arn", &creds.claims.assumed_role_arn());
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(params: &[(&str, &str)]) -> QueryRequest {
        QueryRequest::new("AssumeRole", "2011-06-15", params.iter().copied())
    }

    const ARN: &str = "arn:aws:iam::123456789012:role/app";

    #[test]
    fn defaults_and_valid_input() {
        let p = parse(
            &req(&[("RoleArn", ARN), ("RoleSessionName", "s1")]),
            Violations::new(),
            None,
        )
        .unwrap();
        assert_eq!(p.duration, 3600);
        assert_eq!(p.role_account, "123456789012");
        assert!(!p.has_session_policy());
    }

    #[test]
    fn constraint_violations_are_reported_together_like_aws() {
        let err = parse(
            &req(&[
                ("RoleArn", ARN),
                ("RoleSessionName", "Session1:2"),
                ("DurationSeconds", "600"),
            ]),
            Violations::new(),
            None,
        )
        .unwrap_err();
        assert_eq!(err.code, "ValidationError");
        assert_eq!(
            err.message,
            "2 validation errors detected: Value 'Session1:2' at 'roleSessionName' failed to satisfy constraint: \
             Member must satisfy regular expression pattern: [\\w+=,.@-]*; Value '600' at 'durationSeconds' \
             failed to satisfy constraint: Member must have value greater than or equal to 900"
        );
        let long = "x".repeat(65);
        let err = parse(
            &req(&[("RoleArn", ARN), ("RoleSessionName", &long)]),
            Violations::new(),
            None,
        )
        .unwrap_err();
        assert!(
            err.message
                .ends_with("Member must have length less than or equal to 64"),
            "{err}"
        );
    }

    #[test]
    fn arn_syntax() {
        for bad in [
            "nothing-valid-in-here",
            "arn:a:::something/test-role",
            "arn:aws:iam::123456789012:user/x",
        ] {
            let padded = format!("{bad:<20}");
            let err = parse(
                &req(&[("RoleArn", &padded), ("RoleSessionName", "s1")]),
                Violations::new(),
                None,
            )
            .unwrap_err();
            assert_eq!(err.message, format!("{padded} is invalid"));
        }
        assert_eq!(
            role_account("arn:aws:iam::123456789012:role/a/b/c"),
            Some("123456789012")
        );
    }

    #[test]
    fn session_policies() {
        let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#;
        let p = parse(
            &req(&[
                ("RoleArn", ARN),
                ("RoleSessionName", "s1"),
                ("Policy", policy),
                (
                    "PolicyArns.member.1.arn",
                    "arn:aws:iam::aws:policy/ReadOnlyAccess",
                ),
            ]),
            Violations::new(),
            Some(2048),
        )
        .unwrap();
        assert!(p.has_session_policy());
        assert_eq!(p.policy_arns, ["arn:aws:iam::aws:policy/ReadOnlyAccess"]);
        assert!(p.packed_policy_size() > 0 && p.packed_policy_size() <= 100);

        let err = parse(
            &req(&[
                ("RoleArn", ARN),
                ("RoleSessionName", "s1"),
                ("Policy", "{not json"),
            ]),
            Violations::new(),
            Some(2048),
        )
        .unwrap_err();
        assert_eq!(err.code, "MalformedPolicyDocument");

        let big = format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::{}"}}]}}"#,
            "b".repeat(2100)
        );
        let err = parse(
            &req(&[
                ("RoleArn", ARN),
                ("RoleSessionName", "s1"),
                ("Policy", &big),
            ]),
            Violations::new(),
            None,
        )
        .unwrap_err();
        assert_eq!(err.code, "PackedPolicyTooLarge", "{err}");
    }
}
