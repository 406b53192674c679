//! The STS actions: `AssumeRoleWithWebIdentity` (unsigned, as in AWS), `AssumeRole` and
//! `GetCallerIdentity` (SigV4, authenticated by [`crate::auth`] before they get here).
//!
//! Each handler returns the inner XML of `<{Action}Result>`; the server wraps it in AWS's
//! envelope. Errors carry AWS's codes and messages; the precise reason of a refusal is
//! logged with the request id (clients get AWS's terse text). See `docs/sts-actions.md`.

mod assume_role;
pub mod params;
pub mod web_identity;

use std::sync::Arc;
use std::time::SystemTime;

use irsa_policy::Context;

use crate::auth::{Caller, CallerContext};
use crate::oidc::{FetcherConfig, OidcFetcher};
use crate::protocol::{AwsError, QueryRequest, STS_VERSION, XmlWriter};
use crate::server::{AppState, ServerConfig};

pub use assume_role::assume_role;
pub use web_identity::assume_role_with_web_identity;

/// State the STS actions keep between requests.
#[derive(Debug)]
pub struct StsState {
    /// Fetches and caches the signing keys of OIDC issuers.
    pub fetcher: OidcFetcher,
}

impl StsState {
    /// State for a server with `config` (`http://` issuers only with `allow_http_issuers`).
    pub fn new(config: &ServerConfig) -> StsState {
        StsState::with_fetcher(FetcherConfig {
            allow_http: config.allow_http_issuers,
            ..FetcherConfig::default()
        })
    }

    /// State with explicit fetcher settings (tests, tuning).
    pub fn with_fetcher(config: FetcherConfig) -> StsState {
        StsState {
            fetcher: OidcFetcher::new(config),
        }
    }
}

/// Answers one STS request; returns the inner XML of `<{Action}Result>`.
pub async fn handle(
    state: &Arc<AppState>,
    request: &QueryRequest,
    ctx: &CallerContext,
) -> Result<String, AwsError> {
    if !request.version.is_empty() && request.version != STS_VERSION {
        return Err(AwsError::invalid_action(&request.action, &request.version));
    }
    match request.action.as_str() {
        "AssumeRoleWithWebIdentity" => assume_role_with_web_identity(state, request, ctx).await,
        "AssumeRole" => {
            // Cache misses read SQLite: keep them off the async workers.
            let (state, request, ctx) = (state.clone(), request.clone(), ctx.clone());
            crate::server::run_blocking(move || assume_role(&state, &request, &ctx)).await
        }
        "GetCallerIdentity" => get_caller_identity(state, ctx),
        _ => Err(AwsError::invalid_action(&request.action, STS_VERSION)),
    }
}

/// `GetCallerIdentity`: who signed the request. Needs no permission (as in AWS).
pub fn get_caller_identity(state: &AppState, ctx: &CallerContext) -> Result<String, AwsError> {
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

/// Seconds since the epoch at the request's arrival.
fn unix_now(ctx: &CallerContext) -> i64 {
    ctx.now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Global condition keys: `aws:CurrentTime`, `aws:EpochTime`, `aws:SecureTransport`,
/// `aws:SourceIp`.
fn global_context(ctx: &CallerContext) -> Context {
    let now = unix_now(ctx);
    // Room for the keys the actions add (eight for a web-identity trust check).
    // Keys in lower case (condition keys are case-insensitive): stored without a copy.
    let mut c = Context::with_capacity(12)
        .with_key(
            "aws:currenttime",
            crate::credentials::iso8601(u64::try_from(now).unwrap_or(0)),
        )
        .with_key("aws:epochtime", now.to_string())
        .with_key("aws:securetransport", "false");
    if let Some(ip) = ctx.source_ip {
        c.set_key("aws:sourceip", ip.to_string());
    }
    c
}

/// A state-database failure: logged, answered as `InternalFailure`.
fn internal(e: crate::store::StoreError) -> AwsError {
    tracing::error!(error = %e, "state database failed");
    AwsError::internal()
}
