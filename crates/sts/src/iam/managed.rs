//! Managed policies (customer- and AWS-managed), versions and role attachments.

use irsa_policy::PolicyKind;
use time::OffsetDateTime;

use super::{
    applied, check_path, check_policy, check_tags, encode_document, page, policy_size,
    required_name, roles, store_err, write_page_end, xml_bool,
};
use crate::protocol::{AwsError, QueryRequest, Violations, XmlWriter};
use crate::server::AppState;
use crate::store::{
    AWS_MANAGED_POLICIES, ManagedPolicy, PolicyVersion, PolicyWrite, iso8601, random_base32,
};

/// Managed policy size quota (characters without whitespace).
const MANAGED_QUOTA: usize = 6144;

fn write_policy(w: &mut XmlWriter, p: &ManagedPolicy) {
    w.elem("PolicyName", &p.name)
        .elem("PolicyId", &p.id)
        .elem("Arn", &p.arn)
        .elem("Path", &p.path)
        .elem("DefaultVersionId", &p.default_version_id)
        .elem("AttachmentCount", &p.attachment_count.to_string())
        .elem("PermissionsBoundaryUsageCount", "0")
        .elem("IsAttachable", "true")
        .opt_elem("Description", p.description.as_deref())
        .elem("CreateDate", &iso8601(p.create_date))
        .elem("UpdateDate", &iso8601(p.update_date));
    if !p.tags.is_empty() {
        super::write_tags(w, &p.tags);
    }
}

fn write_version(w: &mut XmlWriter, v: &PolicyVersion, with_document: bool) {
    if with_document {
        w.elem("Document", &encode_document(&v.document));
    }
    w.elem("VersionId", &v.version_id)
        .elem("IsDefaultVersion", xml_bool(v.is_default))
        .elem("CreateDate", &iso8601(v.create_date));
}

fn not_attachable(arn: &str) -> AwsError {
    AwsError::no_such_entity(format!("Policy {arn} does not exist or is not attachable."))
}

fn version_not_found(arn: &str, vid: &str) -> AwsError {
    AwsError::no_such_entity(format!(
        "Policy {arn} version {vid} does not exist or is not attachable."
    ))
}

fn check_arn(r: &QueryRequest) -> Result<&str, AwsError> {
    let arn = r.required("PolicyArn")?;
    let mut v = Violations::new();
    v.length("policyArn", arn, 20, 2048);
    v.finish()?;
    if !arn.starts_with("arn:") || arn.split(':').count() < 6 {
        return Err(AwsError::invalid_input(format!("ARN {arn} is not valid.")));
    }
    Ok(arn)
}

fn load(state: &AppState, r: &QueryRequest) -> Result<ManagedPolicy, AwsError> {
    let arn = check_arn(r)?;
    state
        .store
        .get_managed_policy(arn)
        .map_err(store_err)?
        .ok_or_else(|| not_attachable(arn))
}

fn check_document(doc: &str) -> Result<(), AwsError> {
    check_policy(doc, PolicyKind::Identity, "policyDocument")?;
    if policy_size(doc) > MANAGED_QUOTA {
        return Err(AwsError::limit_exceeded(format!(
            "Cannot exceed quota for PolicySize: {MANAGED_QUOTA}"
        )));
    }
    Ok(())
}

/// The `PolicyArn` of a request that changes a policy: AWS-managed ones cannot be changed.
fn customer_arn(r: &QueryRequest) -> Result<&str, AwsError> {
    let arn = check_arn(r)?;
    if arn.starts_with("arn:aws:iam::aws:") {
        return Err(AwsError::invalid_input(format!(
            "Cannot modify AWS managed policy {arn}."
        )));
    }
    Ok(arn)
}

pub(super) fn create(
    state: &AppState,
    r: &QueryRequest,
    now: OffsetDateTime,
) -> Result<String, AwsError> {
    let name = required_name(r, "PolicyName", 128)?;
    let doc = r.required("PolicyDocument")?;
    let path = r.optional("Path").unwrap_or("/");
    let description = r.optional("Description");
    let mut v = Violations::new();
    if let Some(d) = description {
        v.length("description", d, 0, 1000);
    }
    v.finish()?;
    check_path(path)?;
    check_document(doc)?;
    let tags = r.tags("Tags");
    check_tags(&tags)?;
    let policy = ManagedPolicy {
        arn: format!(
            "arn:aws:iam::{}:policy{path}{name}",
            state.config.account_id
        ),
        name: name.to_owned(),
        id: format!("ANPA{}", random_base32(17)),
        path: path.to_owned(),
        description: description.map(str::to_owned),
        default_version_id: "v1".to_owned(),
        tags,
        attachment_count: 0,
        create_date: now,
        update_date: now,
    };
    // IAM policy names are unique per account regardless of path.
    let taken = state
        .store
        .list_managed_policies()
        .map_err(store_err)?
        .iter()
        .any(|p| p.name == name);
    if taken
        || state
            .store
            .create_managed_policy(&policy, doc)
            .map_err(store_err)?
            == PolicyWrite::Exists
    {
        return Err(AwsError::entity_already_exists(format!(
            "A policy called {name} already exists. Duplicate names are not allowed."
        )));
    }
    Ok(policy_reply(&policy))
}

/// The `<Policy>` reply of CreatePolicy and GetPolicy.
fn policy_reply(p: &ManagedPolicy) -> String {
    let mut w = XmlWriter::new();
    w.with("Policy", |w| write_policy(w, p));
    w.finish()
}

pub(super) fn get(state: &AppState, r: &QueryRequest) -> Result<String, AwsError> {
    Ok(policy_reply(&load(state, r)?))
}

pub(super) fn list(state: &AppState, r: &QueryRequest) -> Result<String, AwsError> {
    let scope = r.optional("Scope").unwrap_or("All");
    if !matches!(scope, "All" | "AWS" | "Local") {
        let mut v = Violations::new();
        v.add(
            "scope",
            Some(scope),
            "Member must satisfy enum value set: [All, AWS, Local]",
        );
        v.finish()?;
    }
    let only_attached = r.optional_bool("OnlyAttached")?.unwrap_or(false);
    let prefix = r.optional("PathPrefix").unwrap_or("/");
    let mut all = Vec::new();
    if scope != "Local" {
        for p in AWS_MANAGED_POLICIES {
            if let Some(m) = state
                .store
                .get_managed_policy(&p.arn())
                .map_err(store_err)?
            {
                all.push(m);
            }
        }
    }
    if scope != "AWS" {
        all.extend(state.store.list_managed_policies().map_err(store_err)?);
    }
    all.retain(|p| p.path.starts_with(prefix) && (!only_attached || p.attachment_count > 0));
    let (all, next) = page(r, &all)?;
    let mut w = XmlWriter::new();
    w.members("Policies", all, write_policy);
    write_page_end(&mut w, next);
    Ok(w.finish())
}

pub(super) fn delete(state: &AppState, r: &QueryRequest) -> Result<String, AwsError> {
    let arn = customer_arn(r)?;
    match state.store.delete_managed_policy(arn).map_err(store_err)? {
        PolicyWrite::Ok => Ok(String::new()),
        PolicyWrite::NotFound => Err(AwsError::no_such_entity(format!(
            "Policy {arn} was not found."
        ))),
        _ => {
            let p = state.store.get_managed_policy(arn).map_err(store_err)?;
            if p.is_some_and(|p| p.attachment_count > 0) {
                Err(AwsError::delete_conflict(
                    "Cannot delete a policy attached to entities.",
                ))
            } else {
                Err(AwsError::delete_conflict(
                    "This policy has more than one version. Before you delete a policy, you must delete the policy's \
                     versions. The default version is deleted with the policy.",
                ))
            }
        }
    }
}

fn version_id(r: &QueryRequest) -> Result<&str, AwsError> {
    let v = r.required("VersionId")?;
    let ok = v.len() >= 2 && v.starts_with('v') && v[1..].bytes().all(|b| b.is_ascii_digit());
    if !ok {
        let mut vi = Violations::new();
        vi.add(
            "versionId",
            Some(v),
            "Member must satisfy regular expression pattern: v[1-9][0-9]*(\\.[A-Za-z0-9-]*)?",
        );
        vi.finish()?;
    }
    Ok(v)
}

pub(super) fn get_version(state: &AppState, r: &QueryRequest) -> Result<String, AwsError> {
    let arn = check_arn(r)?;
    let vid = version_id(r)?;
    let v = state
        .store
        .get_policy_version(arn, vid)
        .map_err(store_err)?
        .ok_or_else(|| version_not_found(arn, vid))?;
    let mut w = XmlWriter::new();
    w.with("PolicyVersion", |w| write_version(w, &v, true));
    Ok(w.finish())
}

pub(super) fn list_versions(state: &AppState, r: &QueryRequest) -> Result<String, AwsError> {
    let p = load(state, r)?;
    let versions = if p.arn.starts_with("arn:aws:iam::aws:") {
        state
            .store
            .get_policy_version(&p.arn, &p.default_version_id)
            .map_err(store_err)?
            .into_iter()
            .collect()
    } else {
        state
            .store
            .list_policy_versions(&p.arn)
            .map_err(store_err)?
    };
    let (versions, next) = page(r, &versions)?;
    let mut w = XmlWriter::new();
    w.members("Versions", versions, |w, v| write_version(w, v, false));
    write_page_end(&mut w, next);
    Ok(w.finish())
}

pub(super) fn create_version(
    state: &AppState,
    r: &QueryRequest,
    now: OffsetDateTime,
) -> Result<String, AwsError> {
    let arn = customer_arn(r)?;
    let doc = r.required("PolicyDocument")?;
    let set_default = r.optional_bool("SetAsDefault")?.unwrap_or(false);
    check_document(doc)?;
    let (outcome, version) = state
        .store
        .create_policy_version(arn, doc, set_default, now)
        .map_err(store_err)?;
    match (outcome, version) {
        (PolicyWrite::Ok, Some(version_id)) => {
            let v = PolicyVersion {
                version_id,
                document: String::new(),
                is_default: set_default,
                create_date: now,
            };
            let mut w = XmlWriter::new();
            w.with("PolicyVersion", |w| write_version(w, &v, false));
            Ok(w.finish())
        }
        (PolicyWrite::LimitExceeded, _) => Err(AwsError::limit_exceeded(
            "A managed policy can have up to 5 versions. Before you create a new version, you must delete an existing version.",
        )),
        _ => Err(not_attachable(arn)),
    }
}

pub(super) fn delete_version(state: &AppState, r: &QueryRequest) -> Result<String, AwsError> {
    let arn = customer_arn(r)?;
    let vid = version_id(r)?;
    match state
        .store
        .delete_policy_version(arn, vid)
        .map_err(store_err)?
    {
        PolicyWrite::Ok => Ok(String::new()),
        PolicyWrite::Conflict => Err(AwsError::delete_conflict(
            "Cannot delete the default version of a policy.",
        )),
        _ => Err(version_not_found(arn, vid)),
    }
}

pub(super) fn set_default_version(
    state: &AppState,
    r: &QueryRequest,
    now: OffsetDateTime,
) -> Result<String, AwsError> {
    let arn = customer_arn(r)?;
    let vid = version_id(r)?;
    applied(
        state.store.set_default_policy_version(arn, vid, now),
        || version_not_found(arn, vid),
    )
}

pub(super) fn attach(state: &AppState, r: &QueryRequest) -> Result<String, AwsError> {
    let role = roles::load(state, r)?;
    let p = load(state, r)?;
    match state
        .store
        .attach_role_policy(&role.name, &p.arn)
        .map_err(store_err)?
    {
        PolicyWrite::Ok => Ok(String::new()),
        PolicyWrite::LimitExceeded => Err(AwsError::limit_exceeded(
            "Cannot exceed quota for PoliciesPerRole: 10",
        )),
        _ => Err(roles::not_found(&role.name)),
    }
}

pub(super) fn detach(state: &AppState, r: &QueryRequest) -> Result<String, AwsError> {
    let role = roles::load(state, r)?;
    let arn = check_arn(r)?;
    applied(state.store.detach_role_policy(&role.name, arn), || {
        AwsError::no_such_entity(format!("Policy {arn} was not found."))
    })
}

pub(super) fn list_attached(state: &AppState, r: &QueryRequest) -> Result<String, AwsError> {
    let role = roles::load(state, r)?;
    let prefix = r.optional("PathPrefix").unwrap_or("/");
    let mut attached = Vec::new();
    for arn in state
        .store
        .list_attached_role_policies(&role.name)
        .map_err(store_err)?
    {
        if let Some(p) = state.store.get_managed_policy(&arn).map_err(store_err)?
            && p.path.starts_with(prefix)
        {
            attached.push(p);
        }
    }
    let (attached, next) = page(r, &attached)?;
    let mut w = XmlWriter::new();
    w.members("AttachedPolicies", attached, |w, p| {
        w.elem("PolicyName", &p.name).elem("PolicyArn", &p.arn);
    });
    write_page_end(&mut w, next);
    Ok(w.finish())
}
