//! Roles, their tags, permissions boundaries and inline policies.

use irsa_policy::PolicyKind;
use time::OffsetDateTime;

use super::{
    applied, check_path, check_policy, check_tags, encode_document, merge_tags, page, policy_size,
    remove_tags, required_name, store_err, write_page_end, write_tags,
};
use crate::protocol::{AwsError, QueryRequest, Violations, XmlWriter};
use crate::server::AppState;
use crate::store::{Role, iso8601, random_base32};

/// Default and bounds of `MaxSessionDuration` (seconds).
const MAX_SESSION_DEFAULT: i64 = 3600;
/// Trust policy quota (characters without whitespace); AWS's default, raisable to 4096.
const TRUST_POLICY_QUOTA: usize = 2048;
/// Aggregate inline role policy quota (characters without whitespace).
const INLINE_QUOTA: usize = 10_240;

pub(super) fn write_role(w: &mut XmlWriter, role: &Role) {
    w.elem("Path", &role.path)
        .elem("RoleName", &role.name)
        .elem("RoleId", &role.id)
        .elem("Arn", &role.arn)
        .elem("CreateDate", &iso8601(role.create_date))
        .elem(
            "AssumeRolePolicyDocument",
            &encode_document(&role.assume_role_policy_document),
        )
        .opt_elem("Description", role.description.as_deref())
        .elem("MaxSessionDuration", &role.max_session_duration.to_string());
    if let Some(arn) = &role.permissions_boundary {
        w.with("PermissionsBoundary", |w| {
            w.elem("PermissionsBoundaryType", "PermissionsBoundaryPolicy")
                .elem("PermissionsBoundaryArn", arn);
        });
    }
    if !role.tags.is_empty() {
        write_tags(w, &role.tags);
    }
}

pub(super) fn not_found(name: &str) -> AwsError {
    AwsError::no_such_entity(format!("The role with name {name} cannot be found."))
}

pub(super) fn load(state: &AppState, r: &QueryRequest) -> Result<Role, AwsError> {
    let name = required_name(r, "RoleName", 64)?;
    state
        .store
        .get_role_by_name(name)
        .map_err(store_err)?
        .ok_or_else(|| not_found(name))
}

fn save(state: &AppState, role: &Role) -> Result<String, AwsError> {
    applied(state.store.update_role(role), || not_found(&role.name))
}

/// The `<Role>` reply of CreateRole and UpdateRole.
fn role_reply(role: &Role) -> String {
    let mut w = XmlWriter::new();
    w.with("Role", |w| write_role(w, role));
    w.finish()
}

fn check_trust_policy(doc: &str) -> Result<(), AwsError> {
    check_policy(doc, PolicyKind::Trust, "assumeRolePolicyDocument")?;
    if policy_size(doc) > TRUST_POLICY_QUOTA {
        return Err(AwsError::limit_exceeded(format!(
            "Cannot exceed quota for ACLSizePerRole: {TRUST_POLICY_QUOTA}"
        )));
    }
    Ok(())
}

fn check_max_session(v: &mut Violations, value: Option<i64>) {
    if let Some(d) = value {
        v.range("maxSessionDuration", d, 3600, 43_200);
    }
}

fn check_description(v: &mut Violations, d: Option<&str>) {
    if let Some(d) = d {
        v.length("description", d, 0, 1000);
    }
}

fn existing_boundary(state: &AppState, arn: &str) -> Result<(), AwsError> {
    if state
        .store
        .get_managed_policy(arn)
        .map_err(store_err)?
        .is_none()
    {
        return Err(AwsError::no_such_entity(format!(
            "Scope ARN: {arn} does not exist or is not attachable."
        )));
    }
    Ok(())
}

pub(super) fn create(
    state: &AppState,
    r: &QueryRequest,
    now: OffsetDateTime,
) -> Result<String, AwsError> {
    let name = required_name(r, "RoleName", 64)?;
    let doc = r.required("AssumeRolePolicyDocument")?;
    let path = r.optional("Path").unwrap_or("/");
    let max = r.optional_i64("MaxSessionDuration")?;
    let description = r.optional("Description");
    let mut v = Violations::new();
    check_max_session(&mut v, max);
    check_description(&mut v, description);
    v.finish()?;
    check_path(path)?;
    check_trust_policy(doc)?;
    let tags = r.tags("Tags");
    check_tags(&tags)?;
    let boundary = r.optional("PermissionsBoundary").map(str::to_owned);
    if let Some(b) = &boundary {
        existing_boundary(state, b)?;
    }
    let role = Role {
        name: name.to_owned(),
        id: format!("AROA{}", random_base32(17)),
        arn: format!("arn:aws:iam::{}:role{path}{name}", state.config.account_id),
        path: path.to_owned(),
        assume_role_policy_document: doc.to_owned(),
        description: description.map(str::to_owned),
        max_session_duration: max.unwrap_or(MAX_SESSION_DEFAULT),
        permissions_boundary: boundary,
        tags,
        create_date: now,
    };
    if !state.store.create_role(&role).map_err(store_err)? {
        return Err(AwsError::entity_already_exists(format!(
            "Role with name {name} already exists."
        )));
    }
    Ok(role_reply(&role))
}

pub(super) fn get(state: &AppState, r: &QueryRequest) -> Result<String, AwsError> {
    let role = load(state, r)?;
    let mut w = XmlWriter::new();
    w.with("Role", |w| {
        write_role(w, &role);
        w.with("RoleLastUsed", |_| {});
    });
    Ok(w.finish())
}

pub(super) fn list(state: &AppState, r: &QueryRequest) -> Result<String, AwsError> {
    let prefix = r.optional("PathPrefix").unwrap_or("/");
    let roles = state.store.list_roles(prefix).map_err(store_err)?;
    let (roles, next) = page(r, &roles)?;
    let mut w = XmlWriter::new();
    w.members("Roles", roles, write_role);
    write_page_end(&mut w, next);
    Ok(w.finish())
}

pub(super) fn delete(state: &AppState, r: &QueryRequest) -> Result<String, AwsError> {
    let name = required_name(r, "RoleName", 64)?;
    let store = &state.store;
    match store.delete_role(name).map_err(store_err)? {
        None => Err(not_found(name)),
        Some(true) => Ok(String::new()),
        Some(false) => {
            let inline = store.list_role_policies(name).map_err(store_err)?;
            Err(AwsError::delete_conflict(if inline.is_empty() {
                "Cannot delete entity, must detach all policies first."
            } else {
                "Cannot delete entity, must delete policies first."
            }))
        }
    }
}

pub(super) fn update_assume_role_policy(
    state: &AppState,
    r: &QueryRequest,
) -> Result<String, AwsError> {
    let mut role = load(state, r)?;
    let doc = r.required("PolicyDocument")?;
    check_trust_policy(doc)?;
    role.assume_role_policy_document = doc.to_owned();
    save(state, &role)
}

/// `UpdateRole` (MaxSessionDuration, Description) and `UpdateRoleDescription` (which returns the role).
pub(super) fn update(
    state: &AppState,
    r: &QueryRequest,
    description_only: bool,
) -> Result<String, AwsError> {
    let mut role = load(state, r)?;
    let max = if description_only {
        None
    } else {
        r.optional_i64("MaxSessionDuration")?
    };
    let description = if description_only {
        Some(r.required("Description")?)
    } else {
        r.optional("Description")
    };
    let mut v = Violations::new();
    check_max_session(&mut v, max);
    check_description(&mut v, description);
    v.finish()?;
    if let Some(m) = max {
        role.max_session_duration = m;
    }
    if let Some(d) = description {
        role.description = Some(d.to_owned());
    }
    save(state, &role)?;
    if description_only {
        return Ok(role_reply(&role));
    }
    Ok(String::new())
}

pub(super) fn tag(state: &AppState, r: &QueryRequest) -> Result<String, AwsError> {
    let mut role = load(state, r)?;
    merge_tags(&mut role.tags, r.tags("Tags"))?;
    save(state, &role)
}

pub(super) fn untag(state: &AppState, r: &QueryRequest) -> Result<String, AwsError> {
    let mut role = load(state, r)?;
    remove_tags(&mut role.tags, &r.list("TagKeys"));
    save(state, &role)
}

pub(super) fn list_tags(state: &AppState, r: &QueryRequest) -> Result<String, AwsError> {
    let role = load(state, r)?;
    let (tags, next) = page(r, &role.tags)?;
    let mut w = XmlWriter::new();
    write_tags(&mut w, tags);
    write_page_end(&mut w, next);
    Ok(w.finish())
}

pub(super) fn put_boundary(state: &AppState, r: &QueryRequest) -> Result<String, AwsError> {
    let mut role = load(state, r)?;
    let arn = r.required("PermissionsBoundary")?;
    existing_boundary(state, arn)?;
    role.permissions_boundary = Some(arn.to_owned());
    save(state, &role)
}

pub(super) fn delete_boundary(state: &AppState, r: &QueryRequest) -> Result<String, AwsError> {
    let mut role = load(state, r)?;
    role.permissions_boundary = None;
    save(state, &role)
}

pub(super) fn put_policy(state: &AppState, r: &QueryRequest) -> Result<String, AwsError> {
    let role = load(state, r)?;
    let policy_name = required_name(r, "PolicyName", 128)?;
    let doc = r.required("PolicyDocument")?;
    check_policy(doc, PolicyKind::Identity, "policyDocument")?;
    let others: usize = state
        .store
        .list_role_policies(&role.name)
        .map_err(store_err)?
        .iter()
        .filter(|(n, _)| n != policy_name)
        .map(|(_, d)| policy_size(d))
        .sum();
    if others + policy_size(doc) > INLINE_QUOTA {
        return Err(AwsError::limit_exceeded(format!(
            "Maximum policy size of {INLINE_QUOTA} bytes exceeded for role {}",
            role.name
        )));
    }
    applied(
        state.store.put_role_policy(&role.name, policy_name, doc),
        || not_found(&role.name),
    )
}

fn policy_not_found(name: &str) -> AwsError {
    AwsError::no_such_entity(format!("The role policy with name {name} cannot be found."))
}

pub(super) fn get_policy(state: &AppState, r: &QueryRequest) -> Result<String, AwsError> {
    let role = load(state, r)?;
    let policy_name = required_name(r, "PolicyName", 128)?;
    let doc = state
        .store
        .get_role_policy(&role.name, policy_name)
        .map_err(store_err)?
        .ok_or_else(|| policy_not_found(policy_name))?;
    let mut w = XmlWriter::new();
    w.elem("RoleName", &role.name)
        .elem("PolicyName", policy_name)
        .elem("PolicyDocument", &encode_document(&doc));
    Ok(w.finish())
}

pub(super) fn list_policies(state: &AppState, r: &QueryRequest) -> Result<String, AwsError> {
    let role = load(state, r)?;
    let names: Vec<String> = state
        .store
        .list_role_policies(&role.name)
        .map_err(store_err)?
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    let (names, next) = page(r, &names)?;
    let mut w = XmlWriter::new();
    w.string_members("PolicyNames", names);
    write_page_end(&mut w, next);
    Ok(w.finish())
}

pub(super) fn delete_policy(state: &AppState, r: &QueryRequest) -> Result<String, AwsError> {
    let role = load(state, r)?;
    let policy_name = required_name(r, "PolicyName", 128)?;
    applied(
        state.store.delete_role_policy(&role.name, policy_name),
        || policy_not_found(policy_name),
    )
}
