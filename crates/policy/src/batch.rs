//! The batch case format of `irsa policy simulate --cases` (one JSON case per line),
//! evaluated with a cache of parsed policies: identical documents across lines are
//! parsed once.

use std::collections::HashMap;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::context::Context;
use crate::document::{Policy, PolicyKind};
use crate::eval::{Evaluation, Mode, NamedPolicy, PolicySet, Principal, Request, evaluate};

/// Most distinct documents kept; the cache is emptied when it is full.
const CACHE_LIMIT: usize = 4096;

/// One case line.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Case<'a> {
    #[serde(default, borrow)]
    #[allow(dead_code)]
    id: Option<&'a RawValue>,
    #[serde(default, borrow)]
    identity_policies: Vec<&'a RawValue>,
    #[serde(default, borrow)]
    resource_policy: Option<&'a RawValue>,
    #[serde(default, borrow)]
    trust_policy: Option<&'a RawValue>,
    #[serde(default, borrow, alias = "permissionsBoundaries")]
    permission_boundaries: Vec<&'a RawValue>,
    #[serde(default, borrow)]
    session_policy: Option<&'a RawValue>,
    #[serde(default)]
    mode: Option<Mode>,
    request: CaseRequest,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CaseRequest {
    #[serde(default)]
    principal: Option<String>,
    action: String,
    #[serde(default)]
    resource: Option<String>,
    #[serde(default)]
    resource_account: Option<String>,
    #[serde(default)]
    context: HashMap<String, ContextValue>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum ContextValue {
    One(Scalar),
    Many(Vec<Scalar>),
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Scalar {
    String(String),
    Bool(bool),
    Number(serde_json::Number),
}

impl Scalar {
    fn into_string(self) -> String {
        match self {
            Scalar::String(s) => s,
            Scalar::Bool(b) => b.to_string(),
            Scalar::Number(n) => n.to_string(),
        }
    }
}

/// Evaluates batch case lines, caching parsed policies by document text.
///
/// Line format: `{"identityPolicies":[DOC...], "resourcePolicy":DOC, "trustPolicy":DOC,
/// "permissionBoundaries":[DOC...], "sessionPolicy":DOC, "mode":"auto|sameAccount|crossAccount|roleTrust",
/// "request":{"principal":ARN, "action":STR, "resource":ARN, "resourceAccount":ID,
/// "context":{KEY: STR | [STR...]}}}` where `DOC` is a policy object or a string
/// holding the policy JSON.
#[derive(Debug, Default)]
pub struct BatchEvaluator {
    cache: HashMap<Box<str>, Vec<(PolicyKind, Arc<Policy>)>>,
}

impl BatchEvaluator {
    /// An evaluator with an empty cache.
    pub fn new() -> BatchEvaluator {
        BatchEvaluator::default()
    }

    fn policy(
        &mut self,
        doc: &RawValue,
        name: &str,
        kind: PolicyKind,
    ) -> Result<NamedPolicy, String> {
        let raw = doc.get();
        let owned;
        let text = if raw.starts_with('"') {
            owned = serde_json::from_str::<String>(raw).map_err(|e| format!("{name}: {e}"))?;
            owned.as_str()
        } else {
            raw
        };
        if let Some(p) = self
            .cache
            .get(text)
            .and_then(|v| v.iter().find(|(k, _)| *k == kind))
        {
            return Ok(NamedPolicy::new(name, Arc::clone(&p.1)));
        }
        let policy = Policy::parse_as(text, kind).map_err(|e| {
            format!(
                "{name}: {} ({} at line {} column {})",
                e.message(),
                e.detail(),
                e.line(),
                e.column()
            )
        })?;
        let policy = Arc::new(policy);
        if self.cache.len() >= CACHE_LIMIT {
            self.cache.clear();
        }
        self.cache
            .entry(Box::from(text))
            .or_default()
            .push((kind, Arc::clone(&policy)));
        Ok(NamedPolicy::new(name, policy))
    }

    /// Evaluates one case line. The error says what is wrong with the line.
    pub fn evaluate_line(&mut self, line: &str) -> Result<Evaluation, String> {
        let case: Case<'_> =
            serde_json::from_str(line).map_err(|e| format!("invalid case: {e}"))?;
        let mut set = PolicySet::default();
        for (i, d) in case.identity_policies.iter().enumerate() {
            set.identity.push(self.policy(
                d,
                &format!("identityPolicies[{i}]"),
                PolicyKind::Identity,
            )?);
        }
        if let Some(d) = case.resource_policy {
            set.resource = Some(self.policy(d, "resourcePolicy", PolicyKind::Resource)?);
        }
        if let Some(d) = case.trust_policy {
            set.resource = Some(self.policy(d, "trustPolicy", PolicyKind::Trust)?);
            set.mode = Mode::RoleTrust;
        }
        for (i, d) in case.permission_boundaries.iter().enumerate() {
            let name = format!("permissionBoundaries[{i}]");
            set.permissions_boundaries.push(self.policy(
                d,
                &name,
                PolicyKind::PermissionsBoundary,
            )?);
        }
        if let Some(d) = case.session_policy {
            set.session
                .push(self.policy(d, "sessionPolicy", PolicyKind::Session)?);
        }
        if let Some(m) = case.mode {
            set.mode = m;
        }
        let r = case.request;
        set.resource_account = r.resource_account;
        let mut ctx = Context::new();
        for (k, v) in r.context {
            match v {
                ContextValue::One(s) => ctx.set(&k, s.into_string()),
                ContextValue::Many(vs) => {
                    ctx.set_values(&k, vs.into_iter().map(Scalar::into_string))
                }
            }
        }
        let principal = Principal::from_arn(r.principal.as_deref().unwrap_or(""));
        let request = Request::new(
            principal,
            r.action,
            r.resource.unwrap_or_else(|| "*".into()),
        )
        .with_context(ctx);
        Ok(evaluate(&set, &request))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::Decision;

    const LINE: &str = r#"{"id":"x","identityPolicies":[{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"NumericLessThan":{"s3:max-keys":10},"Bool":{"aws:SecureTransport":true}}}}],
      "request":{"principal":"arn:aws:iam::111122223333:user/a","action":"s3:ListBucket","resource":"arn:aws:s3:::b","context":{"s3:max-keys":5,"aws:SecureTransport":[true]}}}"#;

    #[test]
    fn evaluates_and_caches() {
        let mut b = BatchEvaluator::new();
        assert_eq!(b.evaluate_line(LINE).unwrap().decision, Decision::Allowed);
        assert_eq!(b.evaluate_line(LINE).unwrap().decision, Decision::Allowed);
        assert_eq!(b.cache.len(), 1);
        let as_string = serde_json::json!({
            "identityPolicies": [r#"{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"*","Resource":"*"}}"#],
            "request": {"action": "s3:GetObject"}
        });
        assert_eq!(
            b.evaluate_line(&as_string.to_string()).unwrap().decision,
            Decision::ExplicitDeny
        );
    }

    #[test]
    fn bad_lines_say_why() {
        let mut b = BatchEvaluator::new();
        assert!(
            b.evaluate_line("{")
                .unwrap_err()
                .starts_with("invalid case")
        );
        assert!(
            b.evaluate_line(r#"{"request":{}}"#)
                .unwrap_err()
                .contains("missing field `action`")
        );
        assert!(
            b.evaluate_line(r#"{"extra":1,"request":{"action":"a:b"}}"#)
                .unwrap_err()
                .contains("unknown field")
        );
        let e = b
            .evaluate_line(r#"{"sessionPolicy":{"Statement":[]},"request":{"action":"a:b"}}"#)
            .unwrap_err();
        assert!(
            e.starts_with("sessionPolicy: Syntax errors in policy."),
            "{e}"
        );
    }
}
