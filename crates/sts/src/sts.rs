//! The STS actions: `AssumeRoleWithWebIdentity` (unsigned), `AssumeRole` and
//! `GetCallerIdentity` (SigV4, authenticated by [`crate::auth`] before they get here).
//!
//! Each handler returns the inner XML of `<{Action}Result>`; the server wraps it in AWS's
//! envelope. Errors carry AWS's codes and messages (see `docs/sts-actions.md`).

use crate::auth::{Caller, CallerContext};
use crate::protocol::{AwsError, QueryRequest, STS_VERSION, XmlWriter};
use crate::server::{AppState, ServerConfig};

/// State the STS actions keep between requests.
#[derive(Debug)]
pub struct StsState {
    /// Whether `http://` issuers may be fetched (`--allow-http-issuers`).
    pub allow_http_issuers: bool,
}

impl StsState {
    /// State for a server with `config`.
    pub fn new(config: &ServerConfig) -> StsState {
        StsState {
            allow_http_issuers: config.allow_http_issuers,
        }
    }
}

/// Answers one STS request; returns the inner XML of `<{Action}Result>`.
pub async fn handle(
    state: &AppState,
    request: &QueryRequest,
    ctx: &CallerContext,
) -> Result<String, AwsError> {
    if !request.version.is_empty() && request.version != STS_VERSION {
        return Err(AwsError::invalid_action(&request.action, &request.version));
    }
    match request.action.as_str() {
        "GetCallerIdentity" => get_caller_identity(state, ctx),
        _ => Err(AwsError::invalid_action(&request.action, STS_VERSION)),
    }
}

/// `GetCallerIdentity`: who signed the request. Needs no permission (as in AWS).
fn get_caller_identity(state: &AppState, ctx: &CallerContext) -> Result<String, AwsError> {
    let account = state.config.account_id.as_str();
    let (arn, user_id, account) = match &ctx.caller {
        Caller::Anonymous => return Err(AwsError::missing_authentication_token()),
        Caller::Admin { .. } => (
            format!("arn:aws:iam::{account}:root"),
            account.to_owned(),
            account.to_owned(),
        ),
        Caller::Session(claims) => (
            claims.assumed_role_arn(),
            claims.assumed_role_id(),
            claims.account_id().to_owned(),
        ),
    };
    let mut w = XmlWriter::new();
    w.elem("Arn", &arn)
        .elem("UserId", &user_id)
        .elem("Account", &account);
    Ok(w.finish())
}
