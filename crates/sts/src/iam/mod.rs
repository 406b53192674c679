//! The IAM subset IRSA needs: OIDC providers, roles, inline and managed policies,
//! and the policy simulator. Wire details follow AWS (sts-iam.md 4.6, 4.7): policy
//! documents in responses are URL-encoded JSON, lists are `<member>` elements, and
//! errors carry IAM's codes, statuses and messages.

mod managed;
mod oidc;
mod roles;
mod simulate;

use irsa_policy::{Policy, PolicyKind};
use time::OffsetDateTime;

use crate::auth::CallerContext;
use crate::protocol::{AwsError, IAM_VERSION, QueryRequest, Violations, XmlWriter, is_name_char};
use crate::server::AppState;
use crate::store::StoreError;

/// Every IAM action this server implements.
pub const ACTIONS: &[&str] = &[
    "AddClientIDToOpenIDConnectProvider",
    "AttachRolePolicy",
    "CreateOpenIDConnectProvider",
    "CreatePolicy",
    "CreatePolicyVersion",
    "CreateRole",
    "DeleteOpenIDConnectProvider",
    "DeletePolicy",
    "DeletePolicyVersion",
    "DeleteRole",
    "DeleteRolePermissionsBoundary",
    "DeleteRolePolicy",
    "DetachRolePolicy",
    "GetOpenIDConnectProvider",
    "GetPolicy",
    "GetPolicyVersion",
    "GetRole",
    "GetRolePolicy",
    "ListAttachedRolePolicies",
    "ListOpenIDConnectProviderTags",
    "ListOpenIDConnectProviders",
    "ListPolicies",
    "ListPolicyVersions",
    "ListRolePolicies",
    "ListRoleTags",
    "ListRoles",
    "PutRolePermissionsBoundary",
    "PutRolePolicy",
    "RemoveClientIDFromOpenIDConnectProvider",
    "SetDefaultPolicyVersion",
    "SimulateCustomPolicy",
    "SimulatePrincipalPolicy",
    "TagOpenIDConnectProvider",
    "TagRole",
    "UntagOpenIDConnectProvider",
    "UntagRole",
    "UpdateAssumeRolePolicy",
    "UpdateOpenIDConnectProviderThumbprint",
    "UpdateRole",
    "UpdateRoleDescription",
];

/// Handles one IAM action (the caller is already authenticated and authorized).
/// Returns the inner XML of `<{Action}Result>` (empty for actions without output).
pub fn handle(
    state: &AppState,
    request: &QueryRequest,
    ctx: &CallerContext,
) -> Result<String, AwsError> {
    let now = OffsetDateTime::from(ctx.now);
    let r = request;
    match request.action.as_str() {
        "CreateOpenIDConnectProvider" => oidc::create(state, r, now),
        "GetOpenIDConnectProvider" => oidc::get(state, r),
        "ListOpenIDConnectProviders" => oidc::list(state),
        "DeleteOpenIDConnectProvider" => oidc::delete(state, r),
        "AddClientIDToOpenIDConnectProvider" => oidc::add_client_id(state, r),
        "RemoveClientIDFromOpenIDConnectProvider" => oidc::remove_client_id(state, r),
        "UpdateOpenIDConnectProviderThumbprint" => oidc::update_thumbprint(state, r),
        "TagOpenIDConnectProvider" => oidc::tag(state, r),
        "UntagOpenIDConnectProvider" => oidc::untag(state, r),
        "ListOpenIDConnectProviderTags" => oidc::list_tags(state, r),
        "CreateRole" => roles::create(state, r, now),
        "GetRole" => roles::get(state, r),
        "ListRoles" => roles::list(state, r),
        "DeleteRole" => roles::delete(state, r),
        "UpdateAssumeRolePolicy" => roles::update_assume_role_policy(state, r),
        "UpdateRole" => roles::update(state, r, false),
        "UpdateRoleDescription" => roles::update(state, r, true),
        "TagRole" => roles::tag(state, r),
        "UntagRole" => roles::untag(state, r),
        "ListRoleTags" => roles::list_tags(state, r),
        "PutRolePermissionsBoundary" => roles::put_boundary(state, r),
        "DeleteRolePermissionsBoundary" => roles::delete_boundary(state, r),
        "PutRolePolicy" => roles::put_policy(state, r),
        "GetRolePolicy" => roles::get_policy(state, r),
        "ListRolePolicies" => roles::list_policies(state, r),
        "DeleteRolePolicy" => roles::delete_policy(state, r),
        "CreatePolicy" => managed::create(state, r, now),
        "GetPolicy" => managed::get(state, r),
        "ListPolicies" => managed::list(state, r),
        "DeletePolicy" => managed::delete(state, r),
        "GetPolicyVersion" => managed::get_version(state, r),
        "CreatePolicyVersion" => managed::create_version(state, r, now),
        "ListPolicyVersions" => managed::list_versions(state, r),
        "DeletePolicyVersion" => managed::delete_version(state, r),
        "SetDefaultPolicyVersion" => managed::set_default_version(state, r, now),
        "AttachRolePolicy" => managed::attach(state, r),
        "DetachRolePolicy" => managed::detach(state, r),
        "ListAttachedRolePolicies" => managed::list_attached(state, r),
        "SimulatePrincipalPolicy" => simulate::principal(state, r, ctx),
        "SimulateCustomPolicy" => simulate::custom(state, r, ctx),
        _ => Err(AwsError::invalid_action(&request.action, IAM_VERSION)),
    }
}

/// Logs a database failure and answers AWS's generic 500 (no internals in the message).
pub(crate) fn store_err(e: StoreError) -> AwsError {
    tracing::error!(error = %e, source = ?std::error::Error::source(&e), "state database failed");
    AwsError::internal()
}

/// The empty reply of a write the store applied, or `absent()` when the store found nothing
/// to change (the entity the request names does not exist).
pub(crate) fn applied(
    changed: Result<bool, StoreError>,
    absent: impl FnOnce() -> AwsError,
) -> Result<String, AwsError> {
    if changed.map_err(store_err)? {
        Ok(String::new())
    } else {
        Err(absent())
    }
}

/// URL-encodes a policy document as IAM returns it (RFC 3986; spaces as `%20`).
pub fn encode_document(doc: &str) -> String {
    crate::sigv4::uri_encode(doc, false)
}

/// Checks a `[\w+=,.@-]+` name of `min..=max` characters.
pub(crate) fn check_name(v: &mut Violations, field: &str, name: &str, max: usize) {
    v.length(field, name, 1, max);
    v.pattern(field, name, "[\\w+=,.@-]+", is_name_char);
}

/// A required, validated name parameter.
pub(crate) fn required_name<'a>(
    r: &'a QueryRequest,
    param: &str,
    max: usize,
) -> Result<&'a str, AwsError> {
    let name = r.required(param)?;
    let mut v = Violations::new();
    check_name(&mut v, &crate::protocol::field_name(param), name, max);
    v.finish()?;
    Ok(name)
}

/// Validates an IAM path (`/` or `/a/b/`, printable ASCII, ≤ 512).
pub(crate) fn check_path(path: &str) -> Result<(), AwsError> {
    let mut v = Violations::new();
    v.length("path", path, 1, 512);
    v.finish()?;
    let ok = path == "/"
        || (path.len() >= 2
            && path.starts_with('/')
            && path.ends_with('/')
            && path.bytes().all(|b| (0x21..=0x7e).contains(&b)));
    if !ok {
        return Err(AwsError::validation(format!(
            "The specified value for path is invalid. It must begin and end with / and contain only alphanumeric \
             characters and/or / characters. Got '{path}'."
        )));
    }
    Ok(())
}

/// Validates tags: at most 50, keys 1..128, values 0..256, keys unique (case-insensitive).
pub(crate) fn check_tags(tags: &[(String, String)]) -> Result<(), AwsError> {
    if tags.len() > 50 {
        return Err(AwsError::limit_exceeded(
            "The number of tags has reached the maximum limit.",
        ));
    }
    let mut v = Violations::new();
    for (k, val) in tags {
        v.length("tags.member.key", k, 1, 128);
        v.length("tags.member.value", val, 0, 256);
    }
    v.finish()?;
    let mut keys: Vec<String> = tags.iter().map(|(k, _)| k.to_lowercase()).collect();
    keys.sort();
    keys.dedup();
    if keys.len() != tags.len() {
        return Err(AwsError::invalid_input(
            "Duplicate tag keys found. Please note that Tag keys are case insensitive.",
        ));
    }
    Ok(())
}

/// Merges `new` tags into `existing` (replacing values of equal keys, case-insensitive).
pub(crate) fn merge_tags(
    existing: &mut Vec<(String, String)>,
    new: Vec<(String, String)>,
) -> Result<(), AwsError> {
    check_tags(&new)?;
    for (k, v) in new {
        match existing
            .iter_mut()
            .find(|(ek, _)| ek.eq_ignore_ascii_case(&k))
        {
            Some(slot) => *slot = (k, v),
            None => existing.push((k, v)),
        }
    }
    if existing.len() > 50 {
        return Err(AwsError::limit_exceeded(
            "The number of tags has reached the maximum limit.",
        ));
    }
    Ok(())
}

/// Removes tags by key (case-insensitive).
pub(crate) fn remove_tags(existing: &mut Vec<(String, String)>, keys: &[String]) {
    existing.retain(|(k, _)| !keys.iter().any(|d| d.eq_ignore_ascii_case(k)));
}

/// Writes `<Tags><member><Key/><Value/></member>...</Tags>`.
pub(crate) fn write_tags(w: &mut XmlWriter, tags: &[(String, String)]) {
    w.members("Tags", tags, |w, (k, v)| {
        w.elem("Key", k).elem("Value", v);
    });
}

/// Parses and validates a policy document as IAM does on write.
pub(crate) fn check_policy(doc: &str, kind: PolicyKind, field: &str) -> Result<Policy, AwsError> {
    let mut v = Violations::new();
    v.length(field, doc, 1, 131_072);
    if !v.is_empty() {
        // AWS does not echo whole documents in the length message.
        let n = doc.chars().count();
        let which = if n == 0 {
            "greater than or equal to 1"
        } else {
            "less than or equal to 131072"
        };
        return Err(AwsError::validation(format!(
            "1 validation error detected: Value at '{field}' failed to satisfy constraint: Member must have length {which}"
        )));
    }
    Policy::parse_as(doc, kind)
        .map_err(|e| AwsError::malformed_policy_document(e.message().to_owned()))
}

/// The size IAM counts against policy quotas: characters excluding whitespace.
pub(crate) fn policy_size(doc: &str) -> usize {
    doc.chars().filter(|c| !c.is_whitespace()).count()
}

/// One page of a list: `MaxItems` (1..1000, default 100 as in AWS) items from the opaque
/// `Marker` of the previous page. Returns the page and the marker of the next one.
pub(crate) fn page<'a, T>(
    r: &QueryRequest,
    items: &'a [T],
) -> Result<(&'a [T], Option<String>), AwsError> {
    let max = r.optional_i64("MaxItems")?.unwrap_or(100);
    let mut v = Violations::new();
    v.range("maxItems", max, 1, 1000);
    v.finish()?;
    let start = match r.optional("Marker") {
        None => 0,
        Some(m) => m
            .strip_prefix("irsa-page-")
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|n| *n <= items.len())
            .ok_or_else(|| {
                AwsError::validation(
                    "Invalid Marker: pass the Marker of the previous page unchanged",
                )
            })?,
    };
    let end = start.saturating_add(max as usize).min(items.len());
    let next = (end < items.len()).then(|| format!("irsa-page-{end}"));
    Ok((&items[start..end], next))
}

/// Writes `<IsTruncated>` and, when truncated, `<Marker>`.
pub(crate) fn write_page_end(w: &mut XmlWriter, next: Option<String>) {
    w.elem("IsTruncated", xml_bool(next.is_some()))
        .opt_elem("Marker", next.as_deref());
}

/// `true` / `false` as IAM writes booleans.
pub(crate) fn xml_bool(b: bool) -> &'static str {
    if b { "true" } else { "false" }
}
