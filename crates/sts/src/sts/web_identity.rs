//! `AssumeRoleWithWebIdentity`: trade an OIDC token (a Kubernetes service-account token)
//! for temporary credentials, checking what AWS checks, in this order:
//!
//! 1. parameters (`ValidationError`);
//! 2. token structure (`InvalidIdentityToken`);
//! 3. the IAM OIDC provider for `iss` in the role's account;
//! 4. required claims (`aud`, `sub`, `exp`);
//! 5. `aud` in the provider's client ids;
//! 6. algorithm, issuer keys (discovery + JWKS) and signature;
//! 7. `exp` with 5 minutes of leeway (`ExpiredTokenException`), `nbf`/`iat` sanity;
//! 8. role and trust policy (`AccessDenied`);
//! 9. `DurationSeconds` against the role's `MaxSessionDuration`;
//! 10. session policies (checked with the parameters);
//! 11. credentials.

use irsa_jose::{Algorithm, JwtError, Validation};
use std::sync::Arc;

use irsa_policy::{Context, Principal, Request, evaluate};
use serde_json::Value;

use super::params::{self, SessionParams};
use super::{internal, unix_now};
use crate::auth::CallerContext;
use crate::credentials::{self, NewSession, WebIdentity};
use crate::protocol::{AwsError, QueryRequest, Violations, XmlWriter};
use crate::server::AppState;
use crate::store::OidcProvider;

/// AWS's text for a token it cannot validate (malformed, bad signature, unsupported alg).
pub const INVALID_TOKEN: &str = "The web identity token that was passed could not be validated by Amazon Web Services. \
                                 Get a new identity token from the identity provider and then retry the request.";
/// AWS's text when the issuer's keys cannot be fetched or none matches (two spaces after the comma, as AWS).
pub const NO_VERIFICATION_KEY: &str = "Couldn't retrieve verification key from your identity provider,  please reference \
                                       AssumeRoleWithWebIdentity documentation for requirements";
/// AWS's text when the trust policy does not allow the request (or the role does not exist).
pub const NOT_AUTHORIZED: &str = "Not authorized to perform sts:AssumeRoleWithWebIdentity";
/// Clock skew AWS allows beyond `exp` (and that is allowed on `nbf`/`iat`).
pub const LEEWAY_SECS: u64 = 300;
/// The claim carrying a source identity.
const SOURCE_IDENTITY_CLAIM: &str = "https://aws.amazon.com/source_identity";

fn invalid_token(message: impl Into<String>) -> AwsError {
    AwsError::sender("InvalidIdentityToken", 400, message)
}

/// Logs why a request was refused (the client only sees AWS's terse message).
fn refuse(ctx: &CallerContext, reason: &str, err: AwsError) -> AwsError {
    tracing::info!(request_id = %ctx.request_id, code = %err.code, %reason, "AssumeRoleWithWebIdentity refused");
    err
}

/// Handles the action; returns the inner XML of the result.
pub async fn assume_role_with_web_identity(
    state: &AppState,
    request: &QueryRequest,
    ctx: &CallerContext,
) -> Result<String, AwsError> {
    // 1. Parameters.
    let token_param = request.required("WebIdentityToken")?;
    let mut v = Violations::new();
    let token = token_param.trim_matches(|c: char| c.is_ascii_whitespace());
    // AWS counts characters; a byte length within the bounds needs no count (a character
    // is one to four bytes).
    let token_len = match token.len() {
        n @ 16..=20000 => n,
        _ => token.chars().count(),
    };
    if token_len < 4 {
        v.add(
            "webIdentityToken",
            None,
            "Member must have length greater than or equal to 4",
        );
    } else if token_len > 20000 {
        v.add(
            "webIdentityToken",
            None,
            "Member must have length less than or equal to 20000",
        );
    }
    if let Some(p) = request.optional("ProviderId") {
        v.length("providerId", p, 4, 2048);
    }
    let params = params::parse(request, v, Some(params::SESSION_POLICY_BUDGET))?;
    if request.optional("ProviderId").is_some() {
        // Only for OAuth 2.0 access tokens of Amazon / Facebook, which are out of scope.
        return Err(refuse(
            ctx,
            "ProviderId is only for OAuth 2.0 providers",
            invalid_token(INVALID_TOKEN),
        ));
    }

    // 2. Token structure.
    // Decoded once: read here for routing, verified below without a second decode.
    let decoded = irsa_jose::decode(token)
        .map_err(|e| refuse(ctx, &e.to_string(), invalid_token(INVALID_TOKEN)))?;
    let header = decoded.header();
    let claims = ClaimRefs::of(decoded.claims());

    // 3. Provider for `iss` in the role's account.
    let Some(iss) = claims.iss.and_then(Value::as_str) else {
        return Err(refuse(
            ctx,
            "no iss claim",
            invalid_token("Missing a required claim: iss"),
        ));
    };
    let provider = find_provider(state, &params, iss).await?.ok_or_else(|| {
        refuse(
            ctx,
            "no provider registered for the issuer",
            invalid_token(format!(
                "No OpenIDConnect provider found in your account for {iss}"
            )),
        )
    })?;

    // 4. Required claims.
    let (aud, sub) = (claims.aud, claims.sub);
    for (claim, value) in [("aud", aud), ("sub", sub), ("exp", claims.exp)] {
        if value.is_none_or(Value::is_null) {
            return Err(refuse(
                ctx,
                "missing claim",
                invalid_token(format!("Missing a required claim: {claim}")),
            ));
        }
    }
    let Some(subject) = sub.and_then(Value::as_str).map(str::to_owned) else {
        return Err(refuse(
            ctx,
            "sub is not a string",
            invalid_token(INVALID_TOKEN),
        ));
    };

    // 5. Audience.
    let audiences = audiences(aud);
    let Some(audience) = audiences
        .iter()
        .find(|a| provider.client_ids.iter().any(|id| id == *a))
        .map(|a| (*a).to_owned())
    else {
        return Err(refuse(
            ctx,
            &format!("token audiences {audiences:?} not in the provider's client ids"),
            invalid_token("Incorrect token audience"),
        ));
    };

    // 6. Algorithm, keys, signature; 7. time claims.
    let alg = header
        .algorithm()
        .map_err(|e| refuse(ctx, &e.to_string(), invalid_token(INVALID_TOKEN)))?;
    let keys = state
        .sts
        .fetcher
        .keys(iss, &provider.thumbprints, header.kid.as_deref())
        .await
        .map_err(|e| {
            let err = if e.is_transient() {
                AwsError::sender("IDPCommunicationError", 400, NO_VERIFICATION_KEY)
            } else {
                invalid_token(NO_VERIFICATION_KEY)
            };
            refuse(ctx, &e.to_string(), err)
        })?;
    let validation = Validation {
        issuer: None,
        audiences: Vec::new(),
        leeway_secs: LEEWAY_SECS,
        allowed_algorithms: Algorithm::ALL.to_vec(),
        require_exp: true,
        required_claims: Vec::new(),
        max_age_secs: None,
    };
    let now = unix_now(ctx);
    let verified = match keys.keys.verify_decoded(decoded, &validation, now) {
        Ok(verified) => verified,
        Err(e) => {
            let err = match &e {
                JwtError::Expired { exp, now, .. } => AwsError::sender(
                    "ExpiredTokenException",
                    400,
                    format!(
                        "Token expired: current date/time {now} must be before the expiration date/time {exp}"
                    ),
                ),
                JwtError::KeyNotFound { .. } | JwtError::KeyAlgorithmMismatch { .. } => {
                    invalid_token(NO_VERIFICATION_KEY)
                }
                JwtError::MissingClaim { claim } => {
                    invalid_token(format!("Missing a required claim: {claim}"))
                }
                _ => invalid_token(INVALID_TOKEN),
            };
            return Err(refuse(ctx, &format!("{alg}: {e}"), err));
        }
    };
    let claims = ClaimRefs::of(&verified.claims);

    // 8. Role and trust policy.
    let source_identity = claims
        .source_identity
        .and_then(Value::as_str)
        .map(str::to_owned);
    let cached = state
        .cache
        .role_by_arn_async(&params.role_arn)
        .await
        .map_err(internal)?;
    let Some(cached) = cached.filter(|_| params.role_account == state.config.account_id) else {
        return Err(refuse(
            ctx,
            "no such role",
            AwsError::access_denied(NOT_AUTHORIZED),
        ));
    };
    let role = &cached.role;
    // A stored trust policy that no longer parses allows nothing (logged when loaded).
    let Some(set) = cached.trust.as_deref() else {
        return Err(refuse(
            ctx,
            "stored trust policy does not parse",
            AwsError::access_denied(NOT_AUTHORIZED),
        ));
    };
    let context = trust_context(
        ctx,
        &provider,
        &claims,
        &subject,
        &audience,
        &params,
        source_identity.as_deref(),
    );
    // One request for both checks: the second (a source identity) only changes the action.
    let mut req = Request::new(
        Principal::Federated(provider.arn.clone()),
        "sts:AssumeRoleWithWebIdentity",
        role.arn.as_str(),
    )
    .with_context(context);
    let allowed = |req: &Request| {
        let evaluation = evaluate(set, req);
        if evaluation.is_allowed() {
            return Ok(());
        }
        Err(refuse(
            ctx,
            &format!(
                "trust policy of {} does not allow {} ({:?})",
                role.arn, req.action, evaluation.decision
            ),
            AwsError::access_denied(NOT_AUTHORIZED),
        ))
    };
    allowed(&req)?;
    if source_identity.is_some() {
        req.action = "sts:SetSourceIdentity".to_owned();
        allowed(&req)?;
    }

    // 9. Duration.
    if params.duration > role.max_session_duration {
        return Err(AwsError::validation(
            "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
        ));
    }

    // 10-11. Session policies were validated with the parameters; mint the credentials.
    let mut session = NewSession::new(
        &role.arn,
        &role.id,
        &params.session_name,
        params.duration as u64,
    );
    session.session_policy = params.policy.as_ref().map(|(text, _)| text.clone());
    session.policy_arns = params.policy_arns.clone();
    session.source_identity = source_identity.clone();
    session.web_identity = Some(WebIdentity {
        provider_arn: provider.arn.clone(),
        subject: subject.clone(),
        audience: audience.clone(),
    });
    let creds = credentials::issue(&state.session_key, session, ctx.now).map_err(|e| {
        tracing::error!(error = %e, "could not seal a session token");
        AwsError::internal()
    })?;
    // A line per success costs a formatted line and a write(2) per call (about 6% of a
    // call's CPU, docs/sts.md "Performance"): successes are debug
    // (`RUST_LOG=irsa_sts=debug`), refusals stay info.
    tracing::debug!(
        request_id = %ctx.request_id,
        role = %role.arn,
        session = %params.session_name,
        subject = %subject,
        access_key_id = %creds.access_key_id,
        "AssumeRoleWithWebIdentity granted"
    );

    // Room for the whole result (the session token is most of it): no regrowth.
    let mut w = XmlWriter::with_capacity(creds.session_token.len() + 1024);
    w.elem("Audience", &audience);
    params::write_assumed_role_user(&mut w, &creds);
    w.elem("Provider", &provider.arn);
    params::write_credentials(&mut w, &creds);
    w.elem("SubjectFromWebIdentityToken", &subject);
    w.opt_elem("SourceIdentity", source_identity.as_deref());
    if params.has_session_policy() {
        w.elem("PackedPolicySize", &params.packed_policy_size().to_string());
    }
    Ok(w.finish())
}

/// The provider whose URL is `iss` without its scheme, in the role's account.
async fn find_provider(
    state: &AppState,
    params: &SessionParams,
    iss: &str,
) -> Result<Option<Arc<OidcProvider>>, AwsError> {
    if params.role_account != state.config.account_id {
        return Ok(None);
    }
    let host_path = match iss.strip_prefix("https://") {
        Some(rest) => rest,
        None => match iss.strip_prefix("http://") {
            Some(rest) if state.config.allow_http_issuers => rest,
            _ => return Ok(None),
        },
    };
    if host_path.is_empty() {
        return Ok(None);
    }
    state
        .cache
        .provider_by_url_async(host_path)
        .await
        .map_err(internal)
}

/// The claims this action reads, found in one walk over the token's claims (a hash lookup
/// each otherwise; JSON object keys are unique once parsed).
#[derive(Default)]
struct ClaimRefs<'a> {
    iss: Option<&'a Value>,
    aud: Option<&'a Value>,
    sub: Option<&'a Value>,
    exp: Option<&'a Value>,
    amr: Option<&'a Value>,
    azp: Option<&'a Value>,
    source_identity: Option<&'a Value>,
}

impl<'a> ClaimRefs<'a> {
    fn of(claims: &'a Value) -> ClaimRefs<'a> {
        let mut c = ClaimRefs::default();
        for (name, value) in claims.as_object().into_iter().flatten() {
            let slot = match name.as_str() {
                "iss" => &mut c.iss,
                "aud" => &mut c.aud,
                "sub" => &mut c.sub,
                "exp" => &mut c.exp,
                "amr" => &mut c.amr,
                "azp" => &mut c.azp,
                SOURCE_IDENTITY_CLAIM => &mut c.source_identity,
                _ => continue,
            };
            *slot = Some(value);
        }
        c
    }
}

/// The `aud` claim as a list (a string or an array of strings).
fn audiences(aud: Option<&Value>) -> Vec<&str> {
    match aud {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// Condition keys of the trust evaluation: `<provider>:sub`, `:aud`, `:amr`, `:azp`, the
/// session name, source identity and the global keys.
fn trust_context(
    ctx: &CallerContext,
    provider: &OidcProvider,
    claims: &ClaimRefs<'_>,
    subject: &str,
    audience: &str,
    params: &SessionParams,
    source_identity: Option<&str>,
) -> Context {
    // `<issuer host/path>:<claim>` (built without `format!`: this runs on every call).
    let issuer_key = |claim: &str| [provider.url.as_str(), ":", claim].concat();
    let mut c = super::global_context(ctx)
        .with_key(issuer_key("sub"), subject)
        .with_key(issuer_key("aud"), audience)
        .with_key("aws:federatedprovider", provider.arn.clone())
        .with_key("sts:rolesessionname", params.session_name.clone());
    match claims.amr {
        Some(Value::String(s)) => c.set_key(issuer_key("amr"), s.clone()),
        Some(Value::Array(items)) => {
            c.set_values(&issuer_key("amr"), items.iter().filter_map(Value::as_str));
        }
        _ => {}
    }
    if let Some(azp) = claims.azp.and_then(Value::as_str) {
        c.set_key(issuer_key("azp"), azp);
    }
    if let Some(si) = source_identity {
        c.set_key("sts:sourceidentity", si);
    }
    c
}
