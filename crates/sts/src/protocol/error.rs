//! AWS Query-protocol errors: the `<ErrorResponse>` shape shared by STS and IAM.

use std::fmt;

/// Who AWS blames for an error: the `<Type>` element of an `ErrorResponse`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request was wrong (HTTP 4xx).
    Sender,
    /// The server failed (HTTP 5xx).
    Receiver,
}

impl ErrorKind {
    /// The text of the `<Type>` element.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Sender => "Sender",
            ErrorKind::Receiver => "Receiver",
        }
    }
}

/// An error as AWS answers it: a code, a message, an HTTP status and a kind.
///
/// Messages are AWS's own texts wherever they are known, so clients that match on
/// them (and people who search for them) find what they expect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsError {
    /// The `<Code>`, e.g. `NoSuchEntity`.
    pub code: String,
    /// The `<Message>`.
    pub message: String,
    /// The HTTP status code.
    pub status: u16,
    /// `Sender` or `Receiver`.
    pub kind: ErrorKind,
}

impl fmt::Display for AwsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for AwsError {}

impl AwsError {
    /// A client error with the given code, HTTP status and message.
    pub fn sender(code: &str, status: u16, message: impl Into<String>) -> AwsError {
        AwsError {
            code: code.to_owned(),
            message: message.into(),
            status,
            kind: ErrorKind::Sender,
        }
    }

    /// `ValidationError` (400) with a free-form message.
    pub fn validation(message: impl Into<String>) -> AwsError {
        AwsError::sender("ValidationError", 400, message)
    }

    /// `InvalidInput` (400), IAM's error for semantically invalid input.
    pub fn invalid_input(message: impl Into<String>) -> AwsError {
        AwsError::sender("InvalidInput", 400, message)
    }

    /// `InvalidAction` (400): the action does not exist in this API version.
    pub fn invalid_action(action: &str, version: &str) -> AwsError {
        AwsError::sender(
            "InvalidAction",
            400,
            format!("Could not find operation {action} for version {version}"),
        )
    }

    /// `MissingAction` (400): the request has no `Action` parameter.
    pub fn missing_action() -> AwsError {
        AwsError::sender("MissingAction", 400, "Missing Action")
    }

    /// `MissingParameter` (400): a required parameter is absent.
    pub fn missing_parameter(name: &str) -> AwsError {
        AwsError::sender(
            "MissingParameter",
            400,
            format!("The request must contain the parameter {name}"),
        )
    }

    /// `AccessDenied` (403) with AWS's message (built by the caller, usually by irsa-policy).
    pub fn access_denied(message: impl Into<String>) -> AwsError {
        AwsError::sender("AccessDenied", 403, message)
    }

    /// `MissingAuthenticationToken` (403): the request is not signed at all.
    pub fn missing_authentication_token() -> AwsError {
        AwsError::sender(
            "MissingAuthenticationToken",
            403,
            "Request is missing Authentication Token",
        )
    }

    /// `InvalidClientTokenId` (403): the access key id or session token is unknown.
    pub fn invalid_client_token_id() -> AwsError {
        AwsError::sender(
            "InvalidClientTokenId",
            403,
            "The security token included in the request is invalid.",
        )
    }

    /// `ExpiredToken` (403): the session token has expired.
    pub fn expired_token() -> AwsError {
        AwsError::sender(
            "ExpiredToken",
            403,
            "The security token included in the request is expired",
        )
    }

    /// `SignatureDoesNotMatch` (403) with AWS's standard message.
    pub fn signature_does_not_match() -> AwsError {
        AwsError::signature_error(
            "The request signature we calculated does not match the signature you provided. \
             Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
        )
    }

    /// `SignatureDoesNotMatch` (403) with a specific message (expired signature, wrong scope).
    pub fn signature_error(message: impl Into<String>) -> AwsError {
        AwsError::sender("SignatureDoesNotMatch", 403, message)
    }

    /// `IncompleteSignature` (400): the `Authorization` header or presigned query is malformed.
    pub fn incomplete_signature(message: impl Into<String>) -> AwsError {
        AwsError::sender("IncompleteSignature", 400, message)
    }

    /// `NoSuchEntity` (404).
    pub fn no_such_entity(message: impl Into<String>) -> AwsError {
        AwsError::sender("NoSuchEntity", 404, message)
    }

    /// `EntityAlreadyExists` (409).
    pub fn entity_already_exists(message: impl Into<String>) -> AwsError {
        AwsError::sender("EntityAlreadyExists", 409, message)
    }

    /// `DeleteConflict` (409).
    pub fn delete_conflict(message: impl Into<String>) -> AwsError {
        AwsError::sender("DeleteConflict", 409, message)
    }

    /// `MalformedPolicyDocument` (400).
    pub fn malformed_policy_document(message: impl Into<String>) -> AwsError {
        AwsError::sender("MalformedPolicyDocument", 400, message)
    }

    /// `LimitExceeded` (409).
    pub fn limit_exceeded(message: impl Into<String>) -> AwsError {
        AwsError::sender("LimitExceeded", 409, message)
    }

    /// `InternalFailure` (500). The message never carries internal details; log them instead.
    pub fn internal() -> AwsError {
        AwsError {
            code: "InternalFailure".to_owned(),
            message: "The request processing has failed because of an unknown error, exception or failure."
                .to_owned(),
            status: 500,
            kind: ErrorKind::Receiver,
        }
    }
}

/// Collects constraint violations and reports them the way AWS does:
/// `N validation error(s) detected: Value '<v>' at '<field>' failed to satisfy constraint: <c>; ...`.
#[derive(Debug, Default)]
pub struct Violations {
    items: Vec<String>,
}

impl Violations {
    /// An empty collection.
    pub fn new() -> Violations {
        Violations::default()
    }

    /// Records that `value` at `field` (lowerCamelCase, as AWS prints it) broke `constraint`.
    pub fn add(&mut self, field: &str, value: Option<&str>, constraint: &str) {
        match value {
            Some(v) => self.items.push(format!(
                "Value '{v}' at '{field}' failed to satisfy constraint: {constraint}"
            )),
            None => self.items.push(format!(
                "Value at '{field}' failed to satisfy constraint: {constraint}"
            )),
        }
    }

    /// Checks a string's length against `min..=max` (in characters).
    pub fn length(&mut self, field: &str, value: &str, min: usize, max: usize) {
        let n = value.chars().count();
        if n < min {
            self.add(
                field,
                Some(value),
                &format!("Member must have length greater than or equal to {min}"),
            );
        } else if n > max {
            self.add(
                field,
                Some(value),
                &format!("Member must have length less than or equal to {max}"),
            );
        }
    }

    /// Checks that every character satisfies `ok`, reporting `pattern` as AWS prints it.
    pub fn pattern(&mut self, field: &str, value: &str, pattern: &str, ok: impl Fn(char) -> bool) {
        if !value.chars().all(ok) {
            self.add(
                field,
                Some(value),
                &format!("Member must satisfy regular expression pattern: {pattern}"),
            );
        }
    }

    /// Checks an integer range.
    pub fn range(&mut self, field: &str, value: i64, min: i64, max: i64) {
        let text = value.to_string();
        if value < min {
            self.add(
                field,
                Some(&text),
                &format!("Member must have value greater than or equal to {min}"),
            );
        } else if value > max {
            self.add(
                field,
                Some(&text),
                &format!("Member must have value less than or equal to {max}"),
            );
        }
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// `Ok(())` when nothing was recorded, else one `ValidationError` listing every violation.
    pub fn finish(self) -> Result<(), AwsError> {
        if self.items.is_empty() {
            return Ok(());
        }
        let n = self.items.len();
        let noun = if n == 1 { "error" } else { "errors" };
        Err(AwsError::validation(format!(
            "{n} validation {noun} detected: {}",
            self.items.join("; ")
        )))
    }
}

/// `[\w+=,.@-]`: the character class of role names, session names and policy names.
pub fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '=' | ',' | '.' | '@' | '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn violations_format_like_aws() {
        let mut v = Violations::new();
        v.pattern(
            "roleSessionName",
            "Session1:2",
            "[\\w+=,.@-]*",
            is_name_char,
        );
        let err = v.finish().unwrap_err();
        assert_eq!(err.code, "ValidationError");
        assert_eq!(
            err.message,
            "1 validation error detected: Value 'Session1:2' at 'roleSessionName' failed to satisfy constraint: \
             Member must satisfy regular expression pattern: [\\w+=,.@-]*"
        );
        let mut v = Violations::new();
        v.range("durationSeconds", 600, 900, 43200);
        v.length("roleName", "", 1, 64);
        let err = v.finish().unwrap_err();
        assert!(
            err.message
                .starts_with("2 validation errors detected: Value '600' at 'durationSeconds'"),
            "{err}"
        );
        assert!(Violations::new().finish().is_ok());
    }
}
