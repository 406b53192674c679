//! `AssumeRole`: a signed caller (the admin keys or a role session) asks for a session
//! of another role.
//!
//! Decision (irsa-policy, [`Mode::RoleTrust`]): the role's trust policy must allow
//! `sts:AssumeRole` for the caller's principal. The admin keys act as the account root
//! with full permissions, so a trust policy naming the account (`"AWS":
//! "arn:aws:iam::ACCOUNT:root"` or the account id) suffices. A role session (role
//! chaining) additionally needs its own policies (role policies, permissions boundary,
//! session policies) to allow `sts:AssumeRole` on the target role, unless the trust policy
//! names the session or its role explicitly; chained sessions last at most one hour.

use irsa_policy::{
    Context, Mode, NamedPolicy, Policy, PolicyKind, PolicySet, Principal, Request, evaluate,
};

use super::internal;
use super::params;
use crate::auth::{Caller, CallerContext};
use crate::credentials::{self, NewSession};
use crate::protocol::{AwsError, QueryRequest, Violations, XmlWriter};
use crate::server::AppState;

/// The admin's identity policy: everything.
const ADMIN_POLICY: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;

fn is_external_id_char(c: char) -> bool {
    crate::protocol::is_name_char(c) || c == ':' || c == '/'
}

/// Handles the action; returns the inner XML of the result.
pub fn assume_role(
    state: &AppState,
    request: &QueryRequest,
    ctx: &CallerContext,
) -> Result<String, AwsError> {
    let mut v = Violations::new();
    let external_id = request.optional("ExternalId");
    if let Some(id) = external_id {
        v.length("externalId", id, 2, 1224);
        v.pattern("externalId", id, "[\\w+=,.@:\\/-]*", is_external_id_char);
    }
    let source_identity = request.optional("SourceIdentity");
    if let Some(si) = source_identity {
        v.length("sourceIdentity", si, 2, 64);
        v.pattern(
            "sourceIdentity",
            si,
            "[\\w+=,.@-]*",
            crate::protocol::is_name_char,
        );
    }
    let params = params::parse(request, v, None)?;

    let (caller_arn, identity_set) = match &ctx.caller {
        Caller::Anonymous => return Err(AwsError::missing_authentication_token()),
        Caller::Admin { .. } => {
            let policy = Policy::parse(ADMIN_POLICY).map_err(|_| AwsError::internal())?;
            let set = PolicySet {
                identity: vec![NamedPolicy::new("account root", policy)],
                ..PolicySet::default()
            };
            (
                format!("arn:aws:iam::{}:root", state.config.account_id),
                set,
            )
        }
        Caller::Session(claims) => (
            claims.assumed_role_arn(),
            crate::auth::session_policies(state, claims)?,
        ),
    };
    let chained = matches!(ctx.caller, Caller::Session(_));
    let principal = Principal::Aws(caller_arn.clone());

    let mut context: Context = super::global_context(ctx)
        .with("aws:PrincipalAccount", state.config.account_id.clone())
        .with("sts:RoleSessionName", params.session_name.clone());
    if let Caller::Session(claims) = &ctx.caller {
        context.set("aws:PrincipalArn", claims.role_arn.clone());
        context.set("aws:userid", claims.assumed_role_id());
        if let Some(si) = &claims.source_identity {
            context.set("aws:SourceIdentity", si.clone());
        }
    } else {
        context.set("aws:PrincipalArn", caller_arn.clone());
        context.set("aws:userid", state.config.account_id.clone());
    }
    if let Some(id) = external_id {
        context.set("sts:ExternalId", id);
    }
    if let Some(si) = source_identity {
        context.set("sts:SourceIdentity", si);
    }

    let denied = |action: &str| {
        let req = Request::new(principal.clone(), action, params.role_arn.clone());
        AwsError::access_denied(irsa_policy::denial_message(&req, PolicyKind::Trust, false))
    };
    let cached = state
        .cache
        .role_by_arn(&params.role_arn)
        .map_err(internal)?;
    let Some(cached) = cached.filter(|_| params.role_account == state.config.account_id) else {
        return Err(denied("sts:AssumeRole"));
    };
    let role = &cached.role;
    // A stored trust policy that no longer parses allows nothing (logged when loaded).
    let Some(trust) = cached.trust_policy() else {
        return Err(denied("sts:AssumeRole"));
    };
    let mut set = identity_set;
    set.resource = Some(trust.clone());
    set.mode = Mode::RoleTrust;
    let mut actions = vec!["sts:AssumeRole"];
    if source_identity.is_some() {
        actions.push("sts:SetSourceIdentity");
    }
    for action in actions {
        let req =
            Request::new(principal.clone(), action, role.arn.clone()).with_context(context.clone());
        let evaluation = evaluate(&set, &req);
        if !evaluation.is_allowed() {
            let message = evaluation.message.unwrap_or_else(|| denied(action).message);
            tracing::info!(request_id = %ctx.request_id, caller = %caller_arn, role = %role.arn, %action, "AssumeRole refused");
            return Err(AwsError::access_denied(message));
        }
    }

    if chained && params.duration > 3600 {
        return Err(AwsError::validation(
            "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.",
        ));
    }
    if params.duration > role.max_session_duration {
        return Err(AwsError::validation(
            "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
        ));
    }

    let mut session = NewSession::new(
        &role.arn,
        &role.id,
        &params.session_name,
        params.duration as u64,
    );
    session.session_policy = params.policy.as_ref().map(|(text, _)| text.clone());
    session.policy_arns = params.policy_arns.clone();
    // A source identity, once set, stays with chained sessions.
    session.source_identity = source_identity
        .map(str::to_owned)
        .or_else(|| match &ctx.caller {
            Caller::Session(c) => c.source_identity.clone(),
            _ => None,
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
        caller = %caller_arn,
        role = %role.arn,
        session = %params.session_name,
        access_key_id = %creds.access_key_id,
        "AssumeRole granted"
    );

    let mut w = XmlWriter::new();
    w.opt_elem("SourceIdentity", creds.claims.source_identity.as_deref());
    params::write_assumed_role_user(&mut w, &creds);
    params::write_credentials(&mut w, &creds);
    if params.has_session_policy() {
        w.elem("PackedPolicySize", &params.packed_policy_size().to_string());
    }
    Ok(w.finish())
}
