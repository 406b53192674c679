//! `SimulatePrincipalPolicy` and `SimulateCustomPolicy`, answered by irsa-policy.

use std::collections::BTreeMap;

use irsa_policy::{
    Context, Decision, Evaluation, NamedPolicy, Policy, PolicyKind, PolicySet, Principal, Request,
    evaluate,
};

use super::{roles, store_err, xml_bool};
use crate::auth::CallerContext;
use crate::protocol::{AwsError, QueryRequest, XmlWriter};
use crate::server::AppState;

/// Where a policy came from, for `SourcePolicyType`.
#[derive(Debug, Clone, Copy)]
enum Source {
    Role,
    AwsManaged,
    UserManaged,
    Input,
    Resource,
}

impl Source {
    fn as_str(self) -> &'static str {
        match self {
            Source::Role => "role",
            Source::AwsManaged => "aws-managed",
            Source::UserManaged => "user-managed",
            Source::Input => "none",
            Source::Resource => "resource",
        }
    }
}

struct Simulation {
    set: PolicySet,
    sources: BTreeMap<String, Source>,
    principal: Principal,
}

fn parse_input(
    list: Vec<String>,
    prefix: &str,
    kind: PolicyKind,
    into: &mut Vec<NamedPolicy>,
    sources: &mut BTreeMap<String, Source>,
) -> Result<(), AwsError> {
    for (i, doc) in list.into_iter().enumerate() {
        let id = format!("{prefix}.{}", i + 1);
        let policy = Policy::parse_as(&doc, kind)
            .map_err(|e| AwsError::malformed_policy_document(e.message().to_owned()))?;
        sources.insert(id.clone(), Source::Input);
        into.push(NamedPolicy::new(id, policy));
    }
    Ok(())
}

fn stored(
    name: String,
    doc: &str,
    kind: PolicyKind,
    source: Source,
    into: &mut Vec<NamedPolicy>,
    sources: &mut BTreeMap<String, Source>,
) {
    match Policy::parse_as(doc, kind) {
        Ok(p) => {
            sources.insert(name.clone(), source);
            into.push(NamedPolicy::new(name, p));
        }
        Err(e) => {
            tracing::warn!(policy = %name, error = %e.message(), "ignoring a stored policy that does not parse")
        }
    }
}

fn managed_source(arn: &str) -> Source {
    if arn.starts_with("arn:aws:iam::aws:") {
        Source::AwsManaged
    } else {
        Source::UserManaged
    }
}

/// Display id of a policy: inline names as is, managed policies by name (last ARN segment).
fn policy_id(name: &str) -> &str {
    if name.starts_with("arn:") {
        name.rsplit('/').next().unwrap_or(name)
    } else {
        name
    }
}

fn common_inputs(r: &QueryRequest, sim: &mut Simulation) -> Result<(), AwsError> {
    parse_input(
        r.list("PolicyInputList"),
        "PolicyInputList",
        PolicyKind::Identity,
        &mut sim.set.identity,
        &mut sim.sources,
    )?;
    parse_input(
        r.list("PermissionsBoundaryPolicyInputList"),
        "PermissionsBoundaryPolicyInputList",
        PolicyKind::PermissionsBoundary,
        &mut sim.set.permissions_boundaries,
        &mut sim.sources,
    )?;
    if let Some(doc) = r.optional("ResourcePolicy") {
        let p = Policy::parse_as(doc, PolicyKind::Resource)
            .map_err(|e| AwsError::malformed_policy_document(e.message().to_owned()))?;
        sim.sources
            .insert("ResourcePolicy".to_owned(), Source::Resource);
        sim.set.resource = Some(NamedPolicy::new("ResourcePolicy", p));
    }
    if let Some(caller) = r.optional("CallerArn") {
        sim.principal = Principal::from_arn(caller);
    }
    Ok(())
}

/// `ContextEntries.member.N.{ContextKeyName, ContextKeyValues.member.M, ContextKeyType}`.
fn context(r: &QueryRequest) -> Context {
    let mut ctx = Context::new();
    for entry in r.struct_list("ContextEntries") {
        let Some(name) = entry.get("ContextKeyName") else {
            continue;
        };
        let mut values: Vec<(u32, String)> = entry
            .iter()
            .filter_map(|(k, v)| {
                k.strip_prefix("ContextKeyValues.member.")
                    .and_then(|n| n.parse().ok())
                    .map(|n| (n, v.clone()))
            })
            .collect();
        values.sort_by_key(|(n, _)| *n);
        ctx.set_values(name, values.into_iter().map(|(_, v)| v));
    }
    ctx
}

fn run(r: &QueryRequest, sim: Simulation) -> Result<String, AwsError> {
    let actions = r.list("ActionNames");
    if actions.is_empty() {
        return Err(AwsError::validation(
            "1 validation error detected: Value null at 'actionNames' failed to satisfy constraint: Member must not be null",
        ));
    }
    let mut resources = r.list("ResourceArns");
    if resources.is_empty() {
        resources.push("*".to_owned());
    }
    let ctx = context(r);
    let boundary_only = (!sim.set.permissions_boundaries.is_empty())
        .then(|| PolicySet::identity(sim.set.permissions_boundaries.clone()));
    let mut w = XmlWriter::new();
    w.open("EvaluationResults");
    for action in &actions {
        for resource in &resources {
            let req = Request::new(sim.principal.clone(), action.clone(), resource.clone())
                .with_context(ctx.clone());
            let ev = evaluate(&sim.set, &req);
            w.open("member");
            w.elem("EvalActionName", action)
                .elem("EvalResourceName", resource)
                .elem("EvalDecision", decision(&ev));
            write_matched(&mut w, &ev, &sim.sources);
            w.open("MissingContextValues").close("MissingContextValues");
            if let Some(b) = &boundary_only {
                let allowed = evaluate(b, &req).is_allowed();
                w.with("PermissionsBoundaryDecisionDetail", |w| {
                    w.elem("AllowedByPermissionsBoundary", xml_bool(allowed));
                });
            }
            w.close("member");
        }
    }
    w.close("EvaluationResults");
    w.elem("IsTruncated", "false");
    Ok(w.finish())
}

fn decision(ev: &Evaluation) -> &'static str {
    match ev.decision {
        Decision::Allowed => "allowed",
        Decision::ExplicitDeny => "explicitDeny",
        Decision::ImplicitDeny => "implicitDeny",
    }
}

fn write_matched(w: &mut XmlWriter, ev: &Evaluation, sources: &BTreeMap<String, Source>) {
    w.members("MatchedStatements", &ev.matched_statements, |w, m| {
        let source = sources.get(&m.policy).copied().unwrap_or(Source::Input);
        w.elem("SourcePolicyId", policy_id(&m.policy))
            .elem("SourcePolicyType", source.as_str());
        w.with("StartPosition", |w| {
            w.elem("Line", &m.line.to_string())
                .elem("Column", &m.column.to_string());
        });
    });
}

/// `SimulatePrincipalPolicy`: the role's inline and attached policies (plus inputs).
pub(super) fn principal(
    state: &AppState,
    r: &QueryRequest,
    _ctx: &CallerContext,
) -> Result<String, AwsError> {
    let source = r.required("PolicySourceArn")?;
    let kind_and_name = source
        .split_once(':')
        .and(source.splitn(6, ':').nth(5))
        .unwrap_or("");
    let Some(role_part) = kind_and_name.strip_prefix("role/") else {
        let (kind, name) = kind_and_name
            .split_once('/')
            .unwrap_or(("entity", kind_and_name));
        let name = name.rsplit('/').next().unwrap_or(name);
        return Err(AwsError::no_such_entity(format!(
            "The {kind} with name {name} cannot be found."
        )));
    };
    let name = role_part.rsplit('/').next().unwrap_or(role_part);
    let role = state
        .store
        .get_role_by_name(name)
        .map_err(store_err)?
        .filter(|r| r.arn == source)
        .ok_or_else(|| roles::not_found(name))?;
    let mut sim = Simulation {
        set: PolicySet::default(),
        sources: BTreeMap::new(),
        principal: Principal::Aws(role.arn.clone()),
    };
    for (name, doc) in state
        .store
        .list_role_policies(&role.name)
        .map_err(store_err)?
    {
        stored(
            name,
            &doc,
            PolicyKind::Identity,
            Source::Role,
            &mut sim.set.identity,
            &mut sim.sources,
        );
    }
    let excluded = r.list("PolicyExclusionList");
    for arn in state
        .store
        .list_attached_role_policies(&role.name)
        .map_err(store_err)?
    {
        if excluded.contains(&arn) {
            continue;
        }
        if let Some(doc) = state
            .store
            .get_managed_policy_document(&arn)
            .map_err(store_err)?
        {
            stored(
                arn.clone(),
                &doc,
                PolicyKind::Identity,
                managed_source(&arn),
                &mut sim.set.identity,
                &mut sim.sources,
            );
        }
    }
    if let Some(arn) = &role.permissions_boundary
        && let Some(doc) = state
            .store
            .get_managed_policy_document(arn)
            .map_err(store_err)?
    {
        stored(
            arn.clone(),
            &doc,
            PolicyKind::PermissionsBoundary,
            managed_source(arn),
            &mut sim.set.permissions_boundaries,
            &mut sim.sources,
        );
    }
    common_inputs(r, &mut sim)?;
    run(r, sim)
}

/// `SimulateCustomPolicy`: only the given policies.
pub(super) fn custom(
    _state: &AppState,
    r: &QueryRequest,
    _ctx: &CallerContext,
) -> Result<String, AwsError> {
    if r.list("PolicyInputList").is_empty() {
        return Err(AwsError::validation(
            "1 validation error detected: Value null at 'policyInputList' failed to satisfy constraint: Member must not be null",
        ));
    }
    let mut sim = Simulation {
        set: PolicySet::default(),
        sources: BTreeMap::new(),
        principal: Principal::Anonymous,
    };
    common_inputs(r, &mut sim)?;
    run(r, sim)
}
