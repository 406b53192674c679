//! Evaluation: explicit deny > allow > implicit deny across identity policies, a
//! resource or trust policy, permissions boundaries and session policies, with the
//! decisive statements and AWS's AccessDenied message.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::arn::Arn;
use crate::context::Context;
use crate::document::{Effect, Policy, PolicyKind, PrincipalSpec, Statement};

/// Who makes the request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "type", content = "id")]
pub enum Principal {
    /// An unauthenticated caller.
    Anonymous,
    /// An IAM principal ARN: user, role, `assumed-role` session, federated user, or
    /// account root.
    Aws(String),
    /// A web identity / SAML provider: an `oidc-provider/HOST/PATH` or
    /// `saml-provider/NAME` ARN, or a built-in domain such as `accounts.google.com`.
    Federated(String),
    /// An AWS service principal (`ec2.amazonaws.com`).
    Service(String),
    /// An S3 canonical user ID.
    CanonicalUser(String),
}

impl Principal {
    /// Classifies an ARN or name: `oidc-provider`/`saml-provider` ARNs and domain names
    /// ending in `.amazonaws.com` become Federated/Service; other ARNs are AWS
    /// principals; `anonymous` / `*` / empty is Anonymous.
    pub fn from_arn(text: &str) -> Principal {
        if text.is_empty() || text == "*" || text == "anonymous" {
            return Principal::Anonymous;
        }
        match Arn::parse(text) {
            Some(a)
                if a.service == "iam"
                    && (a.resource.starts_with("oidc-provider/")
                        || a.resource.starts_with("saml-provider/")) =>
            {
                Principal::Federated(text.to_string())
            }
            Some(_) => Principal::Aws(text.to_string()),
            None if text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit()) => {
                Principal::Aws(format!("arn:aws:iam::{text}:root"))
            }
            None if text.ends_with(".amazonaws.com") => Principal::Service(text.to_string()),
            None => Principal::Federated(text.to_string()),
        }
    }

    /// The text used in denial messages (`User: <this> is not authorized ...`).
    pub fn display_name(&self) -> &str {
        match self {
            Principal::Anonymous => "anonymous",
            Principal::Aws(s)
            | Principal::Federated(s)
            | Principal::Service(s)
            | Principal::CanonicalUser(s) => s,
        }
    }

    /// The account of an AWS principal.
    pub fn account(&self) -> Option<&str> {
        match self {
            Principal::Aws(s) => Arn::parse(s).map(|a| a.account).filter(|a| !a.is_empty()),
            Principal::Federated(s) => Arn::parse(s).map(|a| a.account).filter(|a| !a.is_empty()),
            _ => None,
        }
    }
}

/// One request to authorize.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Who asks.
    pub principal: Principal,
    /// `service:Action`, any case.
    pub action: String,
    /// The resource ARN, or `*` for actions without a resource.
    pub resource: String,
    /// Condition keys.
    pub context: Context,
}

impl Request {
    /// A request with an empty context.
    pub fn new(
        principal: Principal,
        action: impl Into<String>,
        resource: impl Into<String>,
    ) -> Request {
        Request {
            principal,
            action: action.into(),
            resource: resource.into(),
            context: Context::new(),
        }
    }

    /// Builder: replaces the context.
    pub fn with_context(mut self, context: Context) -> Request {
        self.context = context;
        self
    }
}

/// A policy with the name used in explanations (policy name, ARN or file name).
#[derive(Debug, Clone, PartialEq)]
pub struct NamedPolicy {
    /// Name shown in matched statements.
    pub name: String,
    /// The document (shared: one parsed policy can serve many sets).
    pub policy: Arc<Policy>,
}

impl NamedPolicy {
    /// Pairs a name and a policy (a `Policy` or an `Arc<Policy>`).
    pub fn new(name: impl Into<String>, policy: impl Into<Arc<Policy>>) -> NamedPolicy {
        NamedPolicy {
            name: name.into(),
            policy: policy.into(),
        }
    }
}

/// How the resource policy combines with identity policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Mode {
    /// Role trust for `sts:AssumeRole*` on a role ARN with a resource policy; else same
    /// account when the principal's account equals the resource's (from the ARN or
    /// [`PolicySet::resource_account`]; unknown counts as same), else cross-account.
    #[default]
    Auto,
    /// Same account: an Allow in the resource policy or in the identity policies suffices.
    SameAccount,
    /// Cross-account: both the identity policies and the resource policy must allow.
    CrossAccount,
    /// Role trust policy: the trust policy (the resource policy) must allow. When
    /// identity policies are given (an IAM caller of `sts:AssumeRole`), they must allow
    /// too unless the trust policy names the caller's exact ARN. With no identity
    /// policies (AssumeRoleWithWebIdentity / SAML), the trust policy alone decides.
    RoleTrust,
}

/// All policies that apply to a request.
#[derive(Debug, Clone, Default)]
pub struct PolicySet {
    /// Identity-based policies of the principal (inline and managed).
    pub identity: Vec<NamedPolicy>,
    /// The resource-based policy, or the role trust policy in [`Mode::RoleTrust`].
    pub resource: Option<NamedPolicy>,
    /// Permissions boundaries (when set, they must allow).
    pub permissions_boundaries: Vec<NamedPolicy>,
    /// Session policies (when set, they must allow).
    pub session: Vec<NamedPolicy>,
    /// How the resource policy combines with identity policies.
    pub mode: Mode,
    /// The account that owns the resource, when its ARN does not say (S3 buckets);
    /// used by [`Mode::Auto`].
    pub resource_account: Option<String>,
}

impl PolicySet {
    /// Only a trust policy: the AssumeRoleWithWebIdentity check.
    pub fn trust(policy: NamedPolicy) -> PolicySet {
        PolicySet {
            resource: Some(policy),
            mode: Mode::RoleTrust,
            ..PolicySet::default()
        }
    }

    /// Only identity policies.
    pub fn identity(policies: Vec<NamedPolicy>) -> PolicySet {
        PolicySet {
            identity: policies,
            ..PolicySet::default()
        }
    }
}

/// The outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Decision {
    /// At least one applicable Allow, no applicable Deny, every required policy type allows.
    Allowed,
    /// An applicable Deny statement.
    ExplicitDeny,
    /// Nothing allows it (the default).
    ImplicitDeny,
}

/// A statement that decided the outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MatchedStatement {
    /// The policy's name.
    pub policy: String,
    /// Which policy type it belongs to.
    pub policy_type: PolicyKind,
    /// Index of the statement in the policy (0-based).
    pub statement_index: usize,
    /// The statement's Sid.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sid: Option<String>,
    /// Allow or Deny.
    pub effect: Effect,
    /// 1-based line of the statement in its document.
    pub line: usize,
    /// 1-based column of the statement in its document.
    pub column: usize,
}

/// The result of [`evaluate`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Evaluation {
    /// The decision.
    pub decision: Decision,
    /// The decisive statements: the applicable Deny statements for an explicit deny,
    /// the Allow statements that granted access otherwise; empty for an implicit deny.
    pub matched_statements: Vec<MatchedStatement>,
    /// AWS's AccessDenied message when denied.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub message: Option<String>,
}

impl Evaluation {
    /// True when allowed.
    pub fn is_allowed(&self) -> bool {
        self.decision == Decision::Allowed
    }
}

/// How a statement's principal element matched the request principal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum PrincipalMatch {
    /// Matched through the account (`123456789012` / `:root`): delegates to identity policies.
    Account,
    /// Matched through `*`, the role of a session, a service or a provider.
    Other,
    /// Names the caller's exact ARN.
    Exact,
}

#[derive(Default)]
struct GroupResult {
    allow: Vec<MatchedStatement>,
    deny: Vec<MatchedStatement>,
    best_principal: Option<PrincipalMatch>,
}

impl GroupResult {
    fn allows(&self) -> bool {
        !self.allow.is_empty()
    }
}

fn eval_group(
    policies: &[NamedPolicy],
    kind: PolicyKind,
    req: &Request,
    check_principal: bool,
) -> GroupResult {
    let mut out = GroupResult::default();
    for np in policies {
        for (idx, st) in np.policy.statements.iter().enumerate() {
            let Some(pm) = applies(st, req, check_principal) else {
                continue;
            };
            let ms = MatchedStatement {
                policy: np.name.clone(),
                policy_type: kind,
                statement_index: idx,
                sid: st.sid.clone(),
                effect: st.effect,
                line: st.pos.line,
                column: st.pos.column,
            };
            match st.effect {
                Effect::Deny => out.deny.push(ms),
                Effect::Allow => {
                    out.allow.push(ms);
                    if out.best_principal.is_none_or(|b| pm > b) {
                        out.best_principal = Some(pm);
                    }
                }
            }
        }
    }
    out
}

/// Whether a statement applies; returns how the principal matched.
fn applies(st: &Statement, req: &Request, check_principal: bool) -> Option<PrincipalMatch> {
    let (neg, pats) = &st.actions;
    let any = pats
        .iter()
        .any(|p| p.matches(&req.action, true, &req.context));
    if any == *neg {
        return None;
    }
    if let Some((neg, pats)) = &st.resources {
        let any = pats.iter().any(|p| p.matches(&req.resource, &req.context));
        if any == *neg {
            return None;
        }
    }
    let pm = match (&st.principal, check_principal) {
        (Some((false, spec)), true) => principal_matches(spec, &req.principal)?,
        (Some((true, spec)), true) => {
            if principal_matches(spec, &req.principal).is_some() {
                return None;
            }
            PrincipalMatch::Other
        }
        _ => PrincipalMatch::Other,
    };
    if st.conditions.iter().all(|c| c.holds(&req.context)) {
        Some(pm)
    } else {
        None
    }
}

fn principal_matches(spec: &PrincipalSpec, p: &Principal) -> Option<PrincipalMatch> {
    if spec.any {
        return Some(PrincipalMatch::Other);
    }
    match p {
        Principal::Anonymous => None,
        Principal::Federated(f) => spec
            .federated
            .iter()
            .any(|x| x == f)
            .then_some(PrincipalMatch::Exact),
        Principal::Service(s) => spec
            .service
            .iter()
            .any(|x| x.eq_ignore_ascii_case(s))
            .then_some(PrincipalMatch::Exact),
        Principal::CanonicalUser(c) => spec
            .canonical_user
            .iter()
            .any(|x| x == c)
            .then_some(PrincipalMatch::Exact),
        Principal::Aws(arn) => {
            let parsed = Arn::parse(arn);
            let mut best = None;
            for v in &spec.aws {
                let m = if v == arn {
                    Some(PrincipalMatch::Exact)
                } else if let Some(pa) = parsed {
                    aws_value_matches(v, &pa)
                } else {
                    None
                };
                if m > best {
                    best = m;
                }
            }
            best
        }
    }
}

fn aws_value_matches(v: &str, p: &Arn<'_>) -> Option<PrincipalMatch> {
    // Account ID or account root.
    if v.len() == 12 && v.bytes().all(|b| b.is_ascii_digit()) {
        return (v == p.account).then_some(PrincipalMatch::Account);
    }
    let va = Arn::parse(v)?;
    if va.partition != p.partition || va.account != p.account {
        return None;
    }
    if va.service == "iam" && va.resource == "root" {
        return Some(PrincipalMatch::Account);
    }
    // A role ARN matches the sessions of that role.
    if va.service == "iam"
        && p.service == "sts"
        && let (Some(role_path), Some(session)) = (
            va.resource.strip_prefix("role/"),
            p.resource.strip_prefix("assumed-role/"),
        )
    {
        let role_name = role_path.rsplit('/').next().unwrap_or(role_path);
        let session_role = session.split('/').next().unwrap_or("");
        if role_name == session_role {
            return Some(PrincipalMatch::Other);
        }
    }
    None
}

/// Which type a denial message names.
fn type_phrase(kind: PolicyKind, explicit: bool) -> &'static str {
    match (kind, explicit) {
        (PolicyKind::Identity, true) => "with an explicit deny in an identity-based policy",
        (PolicyKind::Identity, false) => "because no identity-based policy allows the",
        (PolicyKind::Resource, true) => "with an explicit deny in a resource-based policy",
        (PolicyKind::Resource, false) => "because no resource-based policy allows the",
        (PolicyKind::Trust, true) => "with an explicit deny in the role trust policy",
        (PolicyKind::Trust, false) => "because no role trust policy allows the",
        (PolicyKind::PermissionsBoundary, true) => {
            "with an explicit deny in a permissions boundary"
        }
        (PolicyKind::PermissionsBoundary, false) => "because no permissions boundary allows the",
        (PolicyKind::Session, true) => "with an explicit deny in a session policy",
        (PolicyKind::Session, false) => "because no session policy allows the",
    }
}

/// AWS's AccessDenied text for a denial caused by `kind`.
pub fn denial_message(req: &Request, kind: PolicyKind, explicit: bool) -> String {
    if kind == PolicyKind::Trust
        && req
            .action
            .eq_ignore_ascii_case("sts:AssumeRoleWithWebIdentity")
    {
        return "Not authorized to perform sts:AssumeRoleWithWebIdentity".to_string();
    }
    let mut s = format!(
        "User: {} is not authorized to perform: {}",
        req.principal.display_name(),
        req.action
    );
    if !req.resource.is_empty() && req.resource != "*" {
        // S3 (REST-XML) quotes the resource; the Query services (IAM, STS, ...) do not.
        let quote = req
            .action
            .get(..3)
            .is_some_and(|p| p.eq_ignore_ascii_case("s3:"));
        if quote {
            s.push_str(&format!(" on resource: \"{}\"", req.resource));
        } else {
            s.push_str(&format!(" on resource: {}", req.resource));
        }
    }
    s.push(' ');
    s.push_str(type_phrase(kind, explicit));
    if !explicit {
        s.push(' ');
        s.push_str(&req.action);
        s.push_str(" action");
    }
    s
}

/// Resolves [`Mode::Auto`]: the resource policy of a role is its trust policy for
/// `sts:AssumeRole*`; otherwise same account unless the principal's account differs
/// from the resource ARN's (or [`PolicySet::resource_account`]).
fn auto_mode(policies: &PolicySet, request: &Request) -> Mode {
    let res = Arn::parse(&request.resource);
    if policies.resource.is_some()
        && request
            .action
            .get(..14)
            .is_some_and(|p| p.eq_ignore_ascii_case("sts:AssumeRole"))
        && res.is_some_and(|a| a.service == "iam" && a.resource.starts_with("role/"))
    {
        return Mode::RoleTrust;
    }
    let res_account = policies
        .resource_account
        .as_deref()
        .or(res.map(|a| a.account))
        .unwrap_or("");
    match request.principal.account() {
        Some(pa) if !res_account.is_empty() && pa != res_account && policies.resource.is_some() => {
            Mode::CrossAccount
        }
        _ => Mode::SameAccount,
    }
}

/// Evaluates `request` against `policies` as IAM does (single account or
/// cross-account, see [`Mode`]).
pub fn evaluate(policies: &PolicySet, request: &Request) -> Evaluation {
    let resource_kind = if policies.mode == Mode::RoleTrust {
        PolicyKind::Trust
    } else {
        PolicyKind::Resource
    };
    let identity = eval_group(&policies.identity, PolicyKind::Identity, request, false);
    let resource = match &policies.resource {
        Some(p) => eval_group(std::slice::from_ref(p), resource_kind, request, true),
        None => GroupResult::default(),
    };
    let boundary = eval_group(
        &policies.permissions_boundaries,
        PolicyKind::PermissionsBoundary,
        request,
        false,
    );
    let session = eval_group(&policies.session, PolicyKind::Session, request, false);

    // 1. Explicit deny anywhere wins.
    let denies: Vec<MatchedStatement> = [&identity, &resource, &boundary, &session]
        .iter()
        .flat_map(|g| g.deny.iter().cloned())
        .collect();
    if let Some(first) = denies.first() {
        let message = denial_message(request, first.policy_type, true);
        return Evaluation {
            decision: Decision::ExplicitDeny,
            matched_statements: denies,
            message: Some(message),
        };
    }
    // sts:GetCallerIdentity needs no permission.
    if request.action.eq_ignore_ascii_case("sts:GetCallerIdentity") {
        return Evaluation {
            decision: Decision::Allowed,
            matched_statements: Vec::new(),
            message: None,
        };
    }

    let implicit = |kind: PolicyKind| Evaluation {
        decision: Decision::ImplicitDeny,
        matched_statements: Vec::new(),
        message: Some(denial_message(request, kind, false)),
    };
    let mode = match policies.mode {
        Mode::Auto => auto_mode(policies, request),
        m => m,
    };
    let has_boundary = !policies.permissions_boundaries.is_empty();
    let has_session = !policies.session.is_empty();
    let mut granted: Vec<MatchedStatement> = Vec::new();

    match mode {
        Mode::RoleTrust => {
            if !resource.allows() {
                return implicit(PolicyKind::Trust);
            }
            granted.extend(resource.allow.iter().cloned());
            let exact = resource.best_principal == Some(PrincipalMatch::Exact);
            if !policies.identity.is_empty() && !exact {
                if !identity.allows() {
                    return implicit(PolicyKind::Identity);
                }
                granted.extend(identity.allow.iter().cloned());
            }
            if !exact {
                if has_boundary && !boundary.allows() {
                    return implicit(PolicyKind::PermissionsBoundary);
                }
                if has_session && !session.allows() {
                    return implicit(PolicyKind::Session);
                }
            }
        }
        Mode::CrossAccount => {
            if !identity.allows() {
                return implicit(PolicyKind::Identity);
            }
            if has_boundary && !boundary.allows() {
                return implicit(PolicyKind::PermissionsBoundary);
            }
            if has_session && !session.allows() {
                return implicit(PolicyKind::Session);
            }
            if !resource.allows() {
                return implicit(PolicyKind::Resource);
            }
            granted.extend(identity.allow.iter().cloned());
            granted.extend(resource.allow.iter().cloned());
        }
        Mode::SameAccount | Mode::Auto => {
            let resource_grant = resource
                .best_principal
                .filter(|&m| m != PrincipalMatch::Account);
            match resource_grant {
                // A resource policy naming the caller's exact ARN (user, or role session) is not
                // limited by boundaries or session policies.
                Some(PrincipalMatch::Exact) => granted.extend(resource.allow.iter().cloned()),
                Some(_) => {
                    if has_boundary && !boundary.allows() {
                        return implicit(PolicyKind::PermissionsBoundary);
                    }
                    if has_session && !session.allows() {
                        return implicit(PolicyKind::Session);
                    }
                    granted.extend(resource.allow.iter().cloned());
                }
                None => {
                    if !identity.allows() {
                        return implicit(PolicyKind::Identity);
                    }
                    if has_boundary && !boundary.allows() {
                        return implicit(PolicyKind::PermissionsBoundary);
                    }
                    if has_session && !session.allows() {
                        return implicit(PolicyKind::Session);
                    }
                    granted.extend(identity.allow.iter().cloned());
                    granted.extend(resource.allow.iter().cloned());
                }
            }
        }
    }
    if has_boundary {
        granted.extend(boundary.allow);
    }
    if has_session {
        granted.extend(session.allow);
    }
    Evaluation {
        decision: Decision::Allowed,
        matched_statements: granted,
        message: None,
    }
}

#[cfg(test)]
mod tests;
