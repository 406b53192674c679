//! Who is calling: SigV4 authentication (admin keys or temporary credentials) and the
//! authorization of IAM calls made with temporary credentials.

use std::net::IpAddr;
use std::time::SystemTime;

use irsa_policy::{
    Context, NamedPolicy, Policy, PolicyKind, PolicySet, Principal, Request, evaluate,
};
use time::OffsetDateTime;

use crate::credentials::{self, CredentialError, SessionClaims};
use crate::protocol::{AwsError, QueryRequest, Service};
use crate::server::AppState;
use crate::sigv4::{self, HttpParts};

/// The authenticated identity behind a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// An unsigned request (only `AssumeRoleWithWebIdentity` accepts it).
    Anonymous,
    /// The server's admin key pair: the account root, allowed everything.
    Admin {
        /// The admin access key id used.
        access_key_id: String,
    },
    /// Temporary credentials of an assumed-role session (`ASIA...` + session token).
    Session(Box<SessionClaims>),
}

impl Caller {
    /// The caller's principal ARN: `arn:aws:iam::ACCOUNT:root` for admin, the assumed-role ARN
    /// for a session, `None` when anonymous.
    pub fn arn(&self, account_id: &str) -> Option<String> {
        match self {
            Caller::Anonymous => None,
            Caller::Admin { .. } => Some(format!("arn:aws:iam::{account_id}:root")),
            Caller::Session(c) => Some(c.assumed_role_arn()),
        }
    }

    /// The `UserId` GetCallerIdentity reports: the account id for root, `ROLEID:SESSION` for a session.
    pub fn user_id(&self, account_id: &str) -> Option<String> {
        match self {
            Caller::Anonymous => None,
            Caller::Admin { .. } => Some(account_id.to_owned()),
            Caller::Session(c) => Some(c.assumed_role_id()),
        }
    }
}

/// Everything a handler knows about the request besides its parameters.
#[derive(Debug, Clone)]
pub struct CallerContext {
    /// Who is calling.
    pub caller: Caller,
    /// The request id (`x-amzn-RequestId`, `<RequestId>`).
    pub request_id: String,
    /// The time the request arrived.
    pub now: SystemTime,
    /// The client's IP address, when known (`aws:SourceIp`).
    pub source_ip: Option<IpAddr>,
}

impl CallerContext {
    /// A context for in-process calls and tests.
    pub fn new(caller: Caller) -> CallerContext {
        CallerContext {
            caller,
            request_id: crate::protocol::new_request_id(),
            now: SystemTime::now(),
            source_ip: None,
        }
    }
}

/// Authenticates a SigV4-signed request addressed to `service`.
///
/// Unsigned → `MissingAuthenticationToken`; malformed → `IncompleteSignature`; unknown key or
/// bad session token → `InvalidClientTokenId`; expired session → `ExpiredToken`; wrong scope,
/// clock skew or signature → `SignatureDoesNotMatch`.
pub fn authenticate(
    state: &AppState,
    service: Service,
    parts: &HttpParts<'_>,
    now: SystemTime,
) -> Result<Caller, AwsError> {
    let Some(signed) = sigv4::parse(parts)? else {
        return Err(AwsError::missing_authentication_token());
    };
    signed.check(service.signing_name(), OffsetDateTime::from(now))?;
    let akid = signed.access_key_id.as_str();
    let (caller, secret) = if akid.starts_with("ASIA") {
        let Some(token) = signed.session_token.as_deref() else {
            return Err(AwsError::invalid_client_token_id());
        };
        let claims =
            credentials::open_for(&state.session_key, akid, token, now).map_err(|e| match e {
                CredentialError::Expired { .. } => AwsError::expired_token(),
                _ => AwsError::invalid_client_token_id(),
            })?;
        let secret = claims.secret_access_key.clone();
        (Caller::Session(Box::new(claims)), secret)
    } else if aws_lc_rs::constant_time::verify_slices_are_equal(
        akid.as_bytes(),
        state.admin.access_key_id.as_bytes(),
    )
    .is_ok()
    {
        (
            Caller::Admin {
                access_key_id: akid.to_owned(),
            },
            state.admin.secret_access_key.clone(),
        )
    } else {
        return Err(AwsError::invalid_client_token_id());
    };
    signed.verify(parts, &secret)?;
    Ok(caller)
}

/// Decides whether `caller` may perform the IAM action of `request`.
///
/// Admin may do everything. A role session may call `iam:<Action>` when the role's
/// identity policies (inline and attached), its permissions boundary and the session
/// policies allow it, evaluated by irsa-policy; the resource is the ARN named by
/// the request (role, policy, OIDC provider) or `*`.
pub fn authorize_iam(
    state: &AppState,
    ctx: &CallerContext,
    request: &QueryRequest,
) -> Result<(), AwsError> {
    let claims = match &ctx.caller {
        Caller::Admin { .. } => return Ok(()),
        Caller::Anonymous => return Err(AwsError::missing_authentication_token()),
        Caller::Session(c) => c,
    };
    let action = format!("iam:{}", request.action);
    let resource = iam_resource(state, request);
    let principal = Principal::Aws(claims.assumed_role_arn());
    let mut context = Context::new()
        .with("aws:PrincipalArn", claims.role_arn.clone())
        .with("aws:PrincipalAccount", state.config.account_id.clone())
        .with("aws:userid", claims.assumed_role_id())
        .with(
            "aws:CurrentTime",
            crate::store::iso8601(OffsetDateTime::from(ctx.now)),
        )
        .with("aws:SecureTransport", "false");
    if let Some(ip) = ctx.source_ip {
        context.set("aws:SourceIp", ip.to_string());
    }
    let req = Request::new(principal, action, resource).with_context(context);
    let set = session_policies(state, claims)?;
    let evaluation = evaluate(&set, &req);
    if evaluation.is_allowed() {
        return Ok(());
    }
    Err(AwsError::access_denied(evaluation.message.unwrap_or_else(
        || irsa_policy::denial_message(&req, PolicyKind::Identity, false),
    )))
}

pub(crate) fn push_policy(into: &mut Vec<NamedPolicy>, name: String, doc: &str, kind: PolicyKind) {
    match Policy::parse_as(doc, kind) {
        Ok(p) => into.push(NamedPolicy::new(name, p)),
        // Stored documents were validated on write; one that no longer parses grants nothing.
        Err(e) => {
            tracing::warn!(policy = %name, error = %e.message(), "ignoring a stored policy that does not parse")
        }
    }
}

/// The resource ARN an IAM request acts on, for authorization.
fn iam_resource(state: &AppState, request: &QueryRequest) -> String {
    if let Some(arn) = request
        .optional("PolicyArn")
        .or(request.optional("OpenIDConnectProviderArn"))
    {
        return arn.to_owned();
    }
    if let Some(name) = request.optional("RoleName") {
        if let Ok(Some(role)) = state.store.get_role_by_name(name) {
            return role.arn;
        }
        let path = request.optional("Path").unwrap_or("/");
        return format!("arn:aws:iam::{}:role{path}{name}", state.config.account_id);
    }
    if let Some(name) = request
        .optional("PolicyName")
        .filter(|_| request.action == "CreatePolicy")
    {
        let path = request.optional("Path").unwrap_or("/");
        return format!(
            "arn:aws:iam::{}:policy{path}{name}",
            state.config.account_id
        );
    }
    "*".to_owned()
}

/// A session policy that grants nothing beyond what every caller has.
const NOTHING_POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:GetCallerIdentity","Resource":"*"}]}"#;

/// The policies that bound what a role session may do: its role's identity policies,
/// the role's permissions boundary and the session's own session policies. Stored
/// documents come parsed from [`crate::cache::StateCache`].
pub(crate) fn session_policies(
    state: &AppState,
    claims: &SessionClaims,
) -> Result<PolicySet, AwsError> {
    let cache = &state.cache;
    let mut set = PolicySet::default();
    let Some(role) = cache.role_by_arn(&claims.role_arn).map_err(store_failed)? else {
        // The role was deleted after the session began: nothing is granted.
        return Ok(set);
    };
    let grants = cache.role_grants(&role.role).map_err(store_failed)?;
    set.identity = grants.identity.clone();
    set.permissions_boundaries = grants.boundary.iter().cloned().collect();
    if let Some(doc) = &claims.session_policy {
        push_policy(
            &mut set.session,
            "session policy".to_owned(),
            doc,
            PolicyKind::Session,
        );
    }
    for arn in &claims.policy_arns {
        if let Some(p) = cache
            .managed_policy(arn, PolicyKind::Session)
            .map_err(store_failed)?
        {
            set.session.push(NamedPolicy::new(arn.clone(), p));
        }
    }
    if set.session.is_empty() && (claims.session_policy.is_some() || !claims.policy_arns.is_empty())
    {
        // The session was limited by policies that no longer exist: it keeps no permissions
        // (an empty session set would mean "not limited").
        push_policy(
            &mut set.session,
            "session policy".to_owned(),
            NOTHING_POLICY,
            PolicyKind::Session,
        );
    }
    Ok(set)
}

fn store_failed(e: crate::store::StoreError) -> AwsError {
    tracing::error!(error = %e, "state database failed");
    AwsError::internal()
}
