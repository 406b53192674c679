//! The policy document model and its construction from positioned JSON, with every
//! IAM validation rule reported as a [`Finding`] at the offending element.

use crate::arn::ArnPattern;
use crate::condition::{Condition, Operator, compile_values};
use crate::error::{Finding, PolicyError, Severity, messages as m};
use crate::json::{self, Key, Node, Pos, Value};
use crate::pattern::Pattern;

/// What a policy document is used as; decides the kind-specific rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PolicyKind {
    /// An identity-based policy (inline or managed, attached to a user/group/role).
    Identity,
    /// A resource-based policy (bucket policy, queue policy...): needs `Principal`.
    Resource,
    /// A role trust policy (`AssumeRolePolicyDocument`): needs `Principal`, no `Resource`.
    Trust,
    /// A permissions boundary (same rules as identity policies).
    PermissionsBoundary,
    /// A session policy passed to AssumeRole* (same rules as identity policies).
    Session,
}

impl PolicyKind {
    fn is_identity_like(self) -> bool {
        matches!(
            self,
            PolicyKind::Identity | PolicyKind::PermissionsBoundary | PolicyKind::Session
        )
    }
}

/// `Allow` or `Deny`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Effect {
    /// `Allow`.
    Allow,
    /// `Deny`.
    Deny,
}

/// A parsed, validated policy document, compiled for fast evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub(crate) version: Option<String>,
    pub(crate) id: Option<String>,
    pub(crate) statements: Vec<Statement>,
}

/// The principals named in `Principal` / `NotPrincipal`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct PrincipalSpec {
    /// `"*"` (or `{"AWS": "*"}`).
    pub any: bool,
    pub aws: Vec<String>,
    pub federated: Vec<String>,
    pub service: Vec<String>,
    pub canonical_user: Vec<String>,
}

/// One compiled statement.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Statement {
    pub sid: Option<String>,
    pub effect: Effect,
    /// (negated = NotPrincipal, principals); `None` when absent.
    pub principal: Option<(bool, PrincipalSpec)>,
    /// (negated = NotAction, lower-cased patterns).
    pub actions: (bool, Vec<Pattern>),
    /// (negated = NotResource, patterns); `None` when absent (trust policies).
    pub resources: Option<(bool, Vec<ArnPattern>)>,
    pub conditions: Vec<Condition>,
    pub pos: Pos,
}

impl Policy {
    /// Parses and validates a document with the rules common to every policy kind.
    /// Returns the first error IAM would report.
    pub fn parse(json: &str) -> Result<Policy, PolicyError> {
        Self::build(json, None)
    }

    /// Parses and validates a document used as `kind` (e.g. a trust policy must not
    /// contain `Resource`; an identity policy must not contain `Principal`).
    pub fn parse_as(json: &str, kind: PolicyKind) -> Result<Policy, PolicyError> {
        Self::build(json, Some(kind))
    }

    fn build(json: &str, kind: Option<PolicyKind>) -> Result<Policy, PolicyError> {
        let (policy, findings) = analyse(json, kind);
        match first_error(&findings) {
            Some(f) => Err(PolicyError::from_finding(f)),
            None => Ok(policy.unwrap_or_else(|| Policy {
                version: None,
                id: None,
                statements: Vec::new(),
            })),
        }
    }

    /// The `Version` element, if present.
    pub fn version(&self) -> Option<&str> {
        self.version.as_deref()
    }

    /// The `Id` element, if present.
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// Number of statements.
    pub fn statement_count(&self) -> usize {
        self.statements.len()
    }

    /// The `Sid` of statement `index`, if any.
    pub fn sid(&self, index: usize) -> Option<&str> {
        self.statements.get(index).and_then(|s| s.sid.as_deref())
    }
}

/// Validates a document with the common rules: every finding, errors and warnings,
/// in document order.
pub fn validate(json: &str) -> Vec<Finding> {
    analyse(json, None).1
}

/// Validates a document used as `kind`.
pub fn validate_as(json: &str, kind: PolicyKind) -> Vec<Finding> {
    analyse(json, Some(kind)).1
}

pub(crate) fn first_error(findings: &[Finding]) -> Option<&Finding> {
    findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .min_by_key(|f| (f.rank, f.line, f.column))
}

/// Rank of each message in IAM's checking order.
fn rank(message: &str) -> u8 {
    match message {
        m::SYNTAX => 0,
        m::TRUST_RESOURCE | m::IDENTITY_PRINCIPAL | m::MISSING_PRINCIPAL => 1,
        m::VERSION => 2,
        m::LEGACY => 3,
        m::SID_UNIQUE | m::SID_ALNUM => 4,
        m::NO_ACTIONS => 5,
        m::NO_RESOURCES => 6,
        m::ACTION_VENDOR | m::ACTION_COLON => 8,
        _ if message.starts_with("Vendor ") => 8,
        _ => 7,
    }
}

struct Ctx {
    kind: Option<PolicyKind>,
    findings: Vec<Finding>,
}

impl Ctx {
    fn error(&mut self, pos: Pos, message: impl Into<String>, detail: impl Into<String>) {
        let message = message.into();
        self.findings.push(Finding {
            severity: Severity::Error,
            rank: rank(&message),
            message,
            detail: detail.into(),
            line: pos.line,
            column: pos.column,
        });
    }

    fn warn(&mut self, pos: Pos, message: impl Into<String>, detail: impl Into<String>) {
        self.findings.push(Finding {
            severity: Severity::Warning,
            rank: u8::MAX,
            message: message.into(),
            detail: detail.into(),
            line: pos.line,
            column: pos.column,
        });
    }
}

fn analyse(text: &str, kind: Option<PolicyKind>) -> (Option<Policy>, Vec<Finding>) {
    let mut cx = Ctx {
        kind,
        findings: Vec::new(),
    };
    let root = match json::parse(text) {
        Ok(n) => n,
        Err(e) => {
            cx.error(e.pos, m::SYNTAX, format!("invalid JSON: {}", e.message));
            return (None, cx.findings);
        }
    };
    let policy = top(&mut cx, &root);
    cx.findings.sort_by_key(|f| (f.line, f.column));
    (policy, cx.findings)
}

fn top(cx: &mut Ctx, root: &Node) -> Option<Policy> {
    let Value::Object(members) = &root.value else {
        cx.error(
            root.pos,
            m::SYNTAX,
            format!(
                "the policy must be a JSON object, not {}",
                root.value.type_name()
            ),
        );
        return None;
    };
    let mut version = None;
    let mut id = None;
    let mut statement_node = None;
    for (k, v) in members {
        match k.name.as_str() {
            "Version" => match &v.value {
                Value::String(s) if s == "2012-10-17" || s == "2008-10-17" => version = Some((s.clone(), k.pos)),
                _ => cx.error(
                    v.pos,
                    m::SYNTAX,
                    "Version must be \"2012-10-17\" (or the legacy \"2008-10-17\")".to_string(),
                ),
            },
            "Id" => match &v.value {
                Value::String(s) => id = Some(s.clone()),
                other => cx.error(v.pos, m::SYNTAX, format!("Id must be a string, not {}", other.type_name())),
            },
            "Statement" => statement_node = Some(v),
            other => cx.error(
                k.pos,
                m::SYNTAX,
                format!("unknown top-level element \"{other}\" (valid: Version, Id, Statement; names are case-sensitive)"),
            ),
        }
    }
    let variables = version.as_ref().is_some_and(|(v, _)| v == "2012-10-17");
    if cx.kind.is_some_and(PolicyKind::is_identity_like) && !variables {
        let pos = version.as_ref().map_or(root.pos, |(_, p)| *p);
        cx.error(
            pos,
            m::VERSION,
            "add \"Version\": \"2012-10-17\" (IAM requires it for this kind of policy)",
        );
    }
    let Some(stmts) = statement_node else {
        cx.error(root.pos, m::SYNTAX, "the policy has no Statement element");
        return None;
    };
    let items: Vec<&Node> = match &stmts.value {
        Value::Object(_) => vec![stmts],
        Value::Array(a) => a.iter().collect(),
        other => {
            cx.error(
                stmts.pos,
                m::SYNTAX,
                format!(
                    "Statement must be an object or an array of objects, not {}",
                    other.type_name()
                ),
            );
            return None;
        }
    };
    if items.is_empty() {
        cx.error(
            stmts.pos,
            m::SYNTAX,
            "Statement is an empty array; add at least one statement",
        );
        return None;
    }
    let mut statements = Vec::with_capacity(items.len());
    let mut sids: Vec<(String, Pos)> = Vec::new();
    for (i, node) in items.into_iter().enumerate() {
        if let Value::Object(members) = &node.value
            && let Some((_, v)) = members.iter().find(|(k, _)| k.name == "Sid")
            && let Value::String(sid) = &v.value
            && !sid.is_empty()
        {
            if sids.iter().any(|(x, _)| x == sid) {
                cx.error(
                    v.pos,
                    m::SID_UNIQUE,
                    format!(
                        "Statement[{i}]: Sid \"{sid}\" is already used by an earlier statement"
                    ),
                );
            }
            sids.push((sid.clone(), v.pos));
        }
        if let Some(s) = statement(cx, i, node, variables) {
            statements.push(s);
        }
    }
    if !variables && text_has_variables(&stmts.value) {
        cx.warn(
            stmts.pos,
            "Policy variables are not substituted",
            "this document uses ${...} but its Version is not 2012-10-17, so IAM treats the text literally; add \"Version\": \"2012-10-17\"",
        );
    }
    Some(Policy {
        version: version.map(|(v, _)| v),
        id,
        statements,
    })
}

fn text_has_variables(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains("${"),
        Value::Array(a) => a.iter().any(|n| text_has_variables(&n.value)),
        Value::Object(o) => o.iter().any(|(_, n)| text_has_variables(&n.value)),
        _ => false,
    }
}

/// Reads a string or an array of strings.
fn strings(cx: &mut Ctx, what: &str, node: &Node) -> Option<Vec<(String, Pos)>> {
    match &node.value {
        Value::String(s) => Some(vec![(s.clone(), node.pos)]),
        Value::Array(a) => {
            let mut out = Vec::with_capacity(a.len());
            for n in a {
                match &n.value {
                    Value::String(s) => out.push((s.clone(), n.pos)),
                    other => {
                        cx.error(
                            n.pos,
                            m::SYNTAX,
                            format!("{what} entries must be strings, not {}", other.type_name()),
                        );
                        return None;
                    }
                }
            }
            Some(out)
        }
        other => {
            cx.error(
                node.pos,
                m::SYNTAX,
                format!(
                    "{what} must be a string or an array of strings, not {}",
                    other.type_name()
                ),
            );
            None
        }
    }
}

fn statement(cx: &mut Ctx, i: usize, node: &Node, variables: bool) -> Option<Statement> {
    let Value::Object(members) = &node.value else {
        cx.error(
            node.pos,
            m::SYNTAX,
            format!(
                "Statement[{i}] must be an object, not {}",
                node.value.type_name()
            ),
        );
        return None;
    };
    let get = |name: &str| members.iter().find(|(k, _)| k.name == name);
    let mut ok = true;
    for (k, _) in members {
        if !matches!(
            k.name.as_str(),
            "Sid"
                | "Effect"
                | "Principal"
                | "NotPrincipal"
                | "Action"
                | "NotAction"
                | "Resource"
                | "NotResource"
                | "Condition"
        ) {
            cx.error(
                k.pos,
                m::SYNTAX,
                format!(
                    "Statement[{i}]: unknown element \"{}\" (valid: Sid, Effect, Principal, NotPrincipal, Action, NotAction, Resource, NotResource, Condition; names are case-sensitive)",
                    k.name
                ),
            );
            ok = false;
        }
    }
    for (a, b) in [
        ("Action", "NotAction"),
        ("Resource", "NotResource"),
        ("Principal", "NotPrincipal"),
    ] {
        if let (Some(_), Some((kb, _))) = (get(a), get(b)) {
            cx.error(
                kb.pos,
                m::SYNTAX,
                format!("Statement[{i}] has both {a} and {b}; use one of them"),
            );
            ok = false;
        }
    }
    // Sid
    let mut sid = None;
    if let Some((_, v)) = get("Sid") {
        match &v.value {
            Value::String(s) => {
                if cx.kind.is_some_and(PolicyKind::is_identity_like)
                    && !s.chars().all(|c| c.is_ascii_alphanumeric())
                {
                    cx.error(
                        v.pos,
                        m::SID_ALNUM,
                        format!("Statement[{i}]: Sid \"{s}\" may only contain letters and digits"),
                    );
                }
                sid = Some(s.clone());
            }
            other => {
                cx.error(
                    v.pos,
                    m::SYNTAX,
                    format!(
                        "Statement[{i}]: Sid must be a string, not {}",
                        other.type_name()
                    ),
                );
                ok = false;
            }
        }
    }
    // Effect
    let mut effect = Effect::Allow;
    match get("Effect") {
        None => {
            cx.error(
                node.pos,
                m::SYNTAX,
                format!("Statement[{i}] has no Effect; add \"Effect\": \"Allow\" or \"Deny\""),
            );
            ok = false;
        }
        Some((_, v)) => match &v.value {
            Value::String(s) if s == "Allow" => effect = Effect::Allow,
            Value::String(s) if s == "Deny" => effect = Effect::Deny,
            Value::String(s)
                if s.eq_ignore_ascii_case("allow") || s.eq_ignore_ascii_case("deny") =>
            {
                cx.error(v.pos, m::LEGACY, format!("Statement[{i}]: Effect must be written exactly \"Allow\" or \"Deny\", not \"{s}\""));
                ok = false;
            }
            other => {
                cx.error(
                    v.pos,
                    m::SYNTAX,
                    format!(
                        "Statement[{i}]: Effect must be \"Allow\" or \"Deny\", not {}",
                        describe(other)
                    ),
                );
                ok = false;
            }
        },
    }
    // Principal / NotPrincipal
    let principal = match (get("Principal"), get("NotPrincipal")) {
        (Some((k, v)), _) => principal(cx, i, k, v, false),
        (None, Some((k, v))) => principal(cx, i, k, v, true),
        (None, None) => {
            if matches!(cx.kind, Some(PolicyKind::Resource | PolicyKind::Trust)) {
                cx.error(node.pos, m::MISSING_PRINCIPAL, format!("Statement[{i}] has no Principal; a resource or trust policy must say who it applies to"));
            }
            None
        }
    };
    // Action / NotAction
    let actions = match (get("Action"), get("NotAction")) {
        (Some((_, v)), _) => actions(cx, i, "Action", v).map(|a| (false, a)),
        (None, Some((_, v))) => actions(cx, i, "NotAction", v).map(|a| (true, a)),
        (None, None) => {
            cx.error(
                node.pos,
                m::NO_ACTIONS,
                format!("Statement[{i}] has no Action or NotAction"),
            );
            None
        }
    };
    // Resource / NotResource
    let resources = match (get("Resource"), get("NotResource")) {
        (Some((k, v)), _) => {
            resources(cx, i, k, "Resource", v, variables).map(|r| Some((false, r)))
        }
        (None, Some((k, v))) => {
            resources(cx, i, k, "NotResource", v, variables).map(|r| Some((true, r)))
        }
        (None, None) => {
            if cx.kind.is_some_and(PolicyKind::is_identity_like) {
                cx.error(
                    node.pos,
                    m::NO_RESOURCES,
                    format!("Statement[{i}] has no Resource or NotResource"),
                );
            }
            Some(None)
        }
    };
    // Condition
    let conditions = match get("Condition") {
        Some((_, v)) => conditions(cx, i, v, variables),
        None => Some(Vec::new()),
    };
    if let (Some(p), Some(c)) = (&principal, &conditions)
        && cx.kind == Some(PolicyKind::Trust)
    {
        trust_warnings(cx, i, node.pos, p, c, actions.as_ref());
    }
    let (true, Some(actions), Some(resources), Some(conditions)) =
        (ok, actions, resources, conditions)
    else {
        return None;
    };
    if principal.is_none() && (get("Principal").is_some() || get("NotPrincipal").is_some()) {
        return None;
    }
    Some(Statement {
        sid,
        effect,
        principal,
        actions,
        resources,
        conditions,
        pos: node.pos,
    })
}

fn describe(v: &Value) -> String {
    match v {
        Value::String(s) => format!("\"{s}\""),
        other => other.type_name().to_string(),
    }
}

fn principal(
    cx: &mut Ctx,
    i: usize,
    key: &Key,
    v: &Node,
    negated: bool,
) -> Option<(bool, PrincipalSpec)> {
    let name = &key.name;
    match cx.kind {
        Some(k) if k.is_identity_like() => {
            cx.error(key.pos, m::IDENTITY_PRINCIPAL, format!("Statement[{i}]: remove {name}; identity policies apply to the principal they are attached to"));
        }
        Some(PolicyKind::Trust) if negated => {
            cx.error(key.pos, m::SYNTAX, format!("Statement[{i}]: NotPrincipal cannot be used in a role trust policy; use Principal"));
        }
        _ => {}
    }
    let mut spec = PrincipalSpec::default();
    match &v.value {
        Value::String(s) if s == "*" => spec.any = true,
        Value::Object(members) => {
            for (k, val) in members {
                let list = strings(cx, &format!("Statement[{i}].{name}.{}", k.name), val)?;
                let target = match k.name.as_str() {
                    "AWS" => &mut spec.aws,
                    "Federated" => &mut spec.federated,
                    "Service" => &mut spec.service,
                    "CanonicalUser" => &mut spec.canonical_user,
                    other => {
                        cx.error(k.pos, m::SYNTAX, format!("Statement[{i}].{name}: unknown principal type \"{other}\" (valid: AWS, Federated, Service, CanonicalUser)"));
                        return None;
                    }
                };
                for (s, pos) in list {
                    if k.name == "Federated" && !valid_federated(&s) {
                        cx.error(pos, m::FEDERATED, format!("Statement[{i}].{name}.Federated: \"{s}\" is neither an oidc-provider/saml-provider ARN nor a domain name"));
                    }
                    if k.name == "AWS" && s == "*" {
                        spec.any = true;
                    }
                    target.push(s);
                }
            }
        }
        other => {
            cx.error(v.pos, m::SYNTAX, format!("Statement[{i}].{name} must be \"*\" or an object such as {{\"AWS\": \"arn:...\"}}, not {}", describe(other)));
            return None;
        }
    }
    Some((negated, spec))
}

fn valid_federated(s: &str) -> bool {
    if let Some(arn) = crate::arn::Arn::parse(s) {
        return arn.service == "iam"
            && arn.account.len() == 12
            && arn.account.bytes().all(|b| b.is_ascii_digit())
            && (arn.resource.starts_with("oidc-provider/")
                || arn.resource.starts_with("saml-provider/"))
            && arn.resource.len() > 14;
    }
    !s.is_empty()
        && s.contains('.')
        && s.split('/').next().is_some_and(|host| {
            host.split('.')
                .all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        })
}

fn actions(cx: &mut Ctx, i: usize, name: &str, v: &Node) -> Option<Vec<Pattern>> {
    let list = strings(cx, &format!("Statement[{i}].{name}"), v)?;
    if list.is_empty() {
        cx.error(
            v.pos,
            m::NO_ACTIONS,
            format!("Statement[{i}].{name} is an empty array"),
        );
        return None;
    }
    let mut out = Vec::with_capacity(list.len());
    let mut ok = true;
    for (a, pos) in list {
        if a != "*" {
            let parts: Vec<&str> = a.split(':').collect();
            if parts.len() == 1 {
                cx.error(
                    pos,
                    m::ACTION_VENDOR,
                    format!(
                        "Statement[{i}].{name}: \"{a}\" needs a service prefix, e.g. \"s3:{a}\""
                    ),
                );
                ok = false;
            } else if parts.len() > 2 {
                cx.error(
                    pos,
                    m::ACTION_COLON,
                    format!("Statement[{i}].{name}: \"{a}\" has more than one ':'"),
                );
                ok = false;
            } else if parts[0] != "*"
                && !parts[0]
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
            {
                cx.error(pos, format!("Vendor {} is not valid", parts[0]), format!("Statement[{i}].{name}: service prefix \"{}\" may only contain letters, digits, '-' and '.'", parts[0]));
                ok = false;
            }
        }
        out.push(Pattern::new(&a.to_ascii_lowercase(), false, true));
    }
    ok.then_some(out)
}

fn resources(
    cx: &mut Ctx,
    i: usize,
    key: &Key,
    name: &str,
    v: &Node,
    variables: bool,
) -> Option<Vec<ArnPattern>> {
    if cx.kind == Some(PolicyKind::Trust) {
        cx.error(
            key.pos,
            m::TRUST_RESOURCE,
            format!("Statement[{i}]: remove {name}; a trust policy applies to its own role"),
        );
    }
    let list = strings(cx, &format!("Statement[{i}].{name}"), v)?;
    if list.is_empty() {
        cx.error(
            v.pos,
            m::NO_RESOURCES,
            format!("Statement[{i}].{name} is an empty array"),
        );
        return None;
    }
    let mut out = Vec::with_capacity(list.len());
    for (r, pos) in list {
        if let Some((message, detail)) = resource_format_error(&r) {
            cx.error(pos, message, format!("Statement[{i}].{name}: {detail}"));
        }
        out.push(ArnPattern::new(&r, variables));
    }
    Some(out)
}

/// IAM's resource format checks (message, detail).
fn resource_format_error(r: &str) -> Option<(String, String)> {
    if r == "*" {
        return None;
    }
    let Some((_, rest)) = r.split_once(':') else {
        return Some((
            format!("Resource {r} must be in ARN format or \"*\"."),
            format!(
                "\"{r}\" is not an ARN (arn:partition:service:region:account:resource) or \"*\""
            ),
        ));
    };
    let (partition, rest) = rest.split_once(':').unwrap_or((rest, ""));
    if !matches!(
        partition,
        "aws"
            | "aws-cn"
            | "aws-us-gov"
            | "aws-iso"
            | "aws-iso-b"
            | "aws-iso-e"
            | "aws-iso-f"
            | "aws-eusc"
            | "*"
    ) {
        let segs: Vec<&str> = rest.split(':').collect();
        let seg = |n: usize| {
            segs.get(n)
                .filter(|s| !s.is_empty() || segs.len() > n + 1)
                .copied()
                .unwrap_or("*")
        };
        let tail = if segs.len() > 3 {
            segs[3..].join(":")
        } else {
            "*".to_string()
        };
        return Some((
            format!(
                "Partition \"{partition}\" is not valid for resource \"arn:{partition}:{}:{}:{}:{tail}\".",
                seg(0),
                seg(1),
                seg(2)
            ),
            format!("\"{partition}\" is not an AWS partition (aws, aws-cn, aws-us-gov, ...)"),
        ));
    }
    let (service, rest) = rest.split_once(':').unwrap_or((rest, ""));
    if service.is_empty() || service.contains(['*', '?']) {
        return Some((
            m::RESOURCE_VENDOR.to_string(),
            format!("\"{r}\" has a wildcard or empty service segment"),
        ));
    }
    let (region, rest) = rest.split_once(':').unwrap_or((rest, ""));
    if service == "iam" && !region.is_empty() {
        return Some((
            format!("IAM resource {r} cannot contain region information."),
            "IAM is global: leave the region segment empty".into(),
        ));
    }
    if service == "s3" && !region.is_empty() {
        return Some((
            format!("Resource {r} can not contain region information."),
            "S3 bucket ARNs have no region: arn:aws:s3:::bucket".into(),
        ));
    }
    let (_account, resource) = rest.split_once(':').unwrap_or((rest, ""));
    if service == "iam" && !resource.starts_with('*') {
        const OK: [&str; 13] = [
            "user/",
            "federated-user/",
            "role/",
            "group/",
            "instance-profile/",
            "mfa/",
            "server-certificate/",
            "policy/",
            "sms-mfa/",
            "saml-provider/",
            "oidc-provider/",
            "report/",
            "access-report/",
        ];
        if !OK.iter().any(|p| resource.starts_with(p)) && !resource.eq("root") {
            return Some((
                m::IAM_PATH.to_string(),
                format!("\"{resource}\" is not an IAM resource type"),
            ));
        }
    }
    None
}

fn value_strings(cx: &mut Ctx, what: &str, node: &Node) -> Option<Vec<String>> {
    let one = |n: &Node| -> Option<String> {
        match &n.value {
            Value::String(s) => Some(s.clone()),
            Value::Number(s) => Some(s.clone()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    };
    match &node.value {
        Value::Array(a) => {
            let mut out = Vec::with_capacity(a.len());
            for n in a {
                match one(n) {
                    Some(s) => out.push(s),
                    None => {
                        cx.error(n.pos, m::SYNTAX, format!("{what}: condition values must be strings, numbers or booleans, not {}", n.value.type_name()));
                        return None;
                    }
                }
            }
            Some(out)
        }
        _ => {
            match one(node) {
                Some(s) => Some(vec![s]),
                None => {
                    cx.error(node.pos, m::SYNTAX, format!("{what}: a condition value must be a string or an array of strings, not {}", node.value.type_name()));
                    None
                }
            }
        }
    }
}

fn conditions(cx: &mut Ctx, i: usize, node: &Node, variables: bool) -> Option<Vec<Condition>> {
    let Value::Object(ops) = &node.value else {
        cx.error(node.pos, m::SYNTAX, format!("Statement[{i}].Condition must be an object such as {{\"StringEquals\": {{\"key\": \"value\"}}}}"));
        return None;
    };
    let mut out = Vec::new();
    let mut ok = true;
    for (opk, block) in ops {
        let Value::Object(keys) = &block.value else {
            cx.error(
                block.pos,
                m::SYNTAX,
                format!(
                    "Statement[{i}].Condition.{}: must be an object of condition keys",
                    opk.name
                ),
            );
            ok = false;
            continue;
        };
        let Some(op) = Operator::parse(&opk.name) else {
            if !keys.is_empty() {
                cx.error(opk.pos, m::SYNTAX, format!("Statement[{i}].Condition: unknown condition operator \"{}\" (operators are case-sensitive, e.g. StringEquals, StringLike, ArnLike, IpAddress, ForAnyValue:StringEquals, StringEqualsIfExists)", opk.name));
                ok = false;
            }
            continue;
        };
        for (key, vals) in keys {
            let what = format!("Statement[{i}].Condition.{}.{}", opk.name, key.name);
            let Some(raw) = value_strings(cx, &what, vals) else {
                ok = false;
                continue;
            };
            if !key.name.contains(':') && !key.name.is_empty() {
                cx.warn(key.pos, "Condition key has no service prefix", format!("{what}: condition keys look like \"aws:SourceIp\" or \"<issuer>:sub\"; this one matches nothing AWS sends"));
            }
            match compile_values(&op, &raw, variables) {
                Ok(values) => out.push(Condition {
                    op,
                    key: key.name.to_ascii_lowercase(),
                    values,
                }),
                Err(bad) => {
                    let pos = match &vals.value {
                        Value::Array(a) => a.get(bad.index).map_or(vals.pos, |n| n.pos),
                        _ => vals.pos,
                    };
                    cx.error(pos, m::LEGACY, format!("{what}: {}", bad.detail));
                    ok = false;
                }
            }
        }
    }
    ok.then_some(out)
}

/// IRSA-specific audit of trust statements for OIDC providers.
fn trust_warnings(
    cx: &mut Ctx,
    i: usize,
    pos: Pos,
    p: &(bool, PrincipalSpec),
    conds: &[Condition],
    actions: Option<&(bool, Vec<Pattern>)>,
) {
    use crate::condition::{OperatorKind, Values};
    let allows_web_identity = actions.is_some_and(|(neg, a)| {
        !neg && a.iter().any(|p| {
            p.matches(
                "sts:assumerolewithwebidentity",
                true,
                &crate::Context::new(),
            )
        })
    });
    if !allows_web_identity || p.0 {
        return;
    }
    for fed in &p.1.federated {
        let Some(host) = fed.split_once(":oidc-provider/").map(|(_, h)| h) else {
            continue;
        };
        let sub_key = format!("{}:sub", host.to_ascii_lowercase());
        let aud_key = format!("{}:aud", host.to_ascii_lowercase());
        let sub: Vec<&Condition> = conds
            .iter()
            .filter(|c| c.key == sub_key && !c.op.negated)
            .collect();
        if sub.is_empty() {
            cx.warn(pos, "Trust policy does not restrict the subject", format!("Statement[{i}]: no condition on \"{host}:sub\": every service account of every cluster using this issuer can assume the role; add StringEquals {{\"{host}:sub\": \"system:serviceaccount:NAMESPACE:NAME\"}}"));
        } else if sub.iter().any(|c| match &c.values {
            Values::Like(ps) => ps.iter().any(|p| matches!(p, Pattern::Any) || matches!(p, Pattern::Prefix(s) if s == "system:serviceaccount:")),
            _ => false,
        } && c.op.kind == OperatorKind::StringLike)
        {
            cx.warn(pos, "Trust policy subject is a wildcard", format!("Statement[{i}]: the \"{host}:sub\" condition matches any service account"));
        }
        if !conds.iter().any(|c| c.key == aud_key && !c.op.negated) {
            cx.warn(pos, "Trust policy does not restrict the audience", format!("Statement[{i}]: no condition on \"{host}:aud\"; add StringEquals {{\"{host}:aud\": \"sts.amazonaws.com\"}}"));
        }
    }
}

#[cfg(test)]
mod tests;
