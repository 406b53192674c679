//! `irsa policy`: validate IAM policy documents and simulate IAM decisions.

use std::io::{BufRead, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use irsa_policy::{
    BatchEvaluator, Context, Decision, Evaluation, Finding, Mode, NamedPolicy, Policy, PolicyKind,
    PolicySet, Principal, Request, Severity, evaluate, validate, validate_as,
};

/// Subcommands of `irsa policy`.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Check policy documents as IAM would (MalformedPolicyDocument), with line/column.
    ///
    /// Exit status: 0 when no file has errors (warnings allowed), 1 otherwise.
    Validate(ValidateArgs),
    /// Decide whether a request is allowed, explicitly denied or implicitly denied.
    ///
    /// Exit status: 0 when allowed, 1 when denied (single request); 0 in --cases mode.
    Simulate(SimulateArgs),
}

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    /// Human-readable text.
    Text,
    /// JSON.
    Json,
}

/// What the documents are used as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    /// Only the rules common to every policy.
    Any,
    /// Identity-based policy (no Principal, Resource required, Version 2012-10-17).
    Identity,
    /// Resource-based policy (Principal required).
    Resource,
    /// Role trust policy (Principal required, no Resource; IRSA audit warnings).
    Trust,
    /// Permissions boundary (identity rules).
    PermissionsBoundary,
    /// Session policy (identity rules).
    Session,
}

impl Kind {
    fn policy_kind(self) -> Option<PolicyKind> {
        match self {
            Kind::Any => None,
            Kind::Identity => Some(PolicyKind::Identity),
            Kind::Resource => Some(PolicyKind::Resource),
            Kind::Trust => Some(PolicyKind::Trust),
            Kind::PermissionsBoundary => Some(PolicyKind::PermissionsBoundary),
            Kind::Session => Some(PolicyKind::Session),
        }
    }
}

/// Arguments of `irsa policy validate`.
#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// Policy documents (JSON); `-` reads standard input.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// What the documents are used as (adds that kind's rules).
    #[arg(long, value_enum, default_value = "any")]
    pub kind: Kind,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value = "text")]
    pub output: Output,
}

/// How a resource policy combines with identity policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ModeArg {
    /// Cross-account when the principal's and the resource ARN's accounts differ.
    Auto,
    /// An Allow in the identity or the resource policy suffices.
    SameAccount,
    /// Both the identity and the resource policy must allow.
    CrossAccount,
    /// The resource policy is a role trust policy.
    RoleTrust,
}

/// Arguments of `irsa policy simulate`.
#[derive(Debug, clap::Args)]
pub struct SimulateArgs {
    /// Identity-based policy documents of the principal (repeatable).
    #[arg(long = "policy", value_name = "FILE")]
    pub policies: Vec<PathBuf>,
    /// A resource-based policy (bucket policy, ...).
    #[arg(long, value_name = "FILE", conflicts_with = "trust_policy")]
    pub resource_policy: Option<PathBuf>,
    /// A role trust policy (evaluated as the resource policy in role-trust mode).
    #[arg(long, value_name = "FILE")]
    pub trust_policy: Option<PathBuf>,
    /// A permissions boundary (repeatable).
    #[arg(long = "permissions-boundary", value_name = "FILE")]
    pub permissions_boundaries: Vec<PathBuf>,
    /// A session policy (repeatable).
    #[arg(long = "session-policy", value_name = "FILE")]
    pub session_policies: Vec<PathBuf>,
    /// The caller: an IAM/STS ARN, an oidc-provider ARN (web identity), or a service.
    #[arg(long, default_value = "anonymous")]
    pub principal: String,
    /// The action, e.g. `s3:GetObject`.
    #[arg(long, required_unless_present = "cases")]
    pub action: Option<String>,
    /// The resource ARN (`*` for actions without a resource).
    #[arg(long, default_value = "*")]
    pub resource: String,
    /// A condition key value, `KEY=VALUE`; repeat a key for a multi-valued key.
    #[arg(long = "context", value_name = "KEY=VALUE")]
    pub context: Vec<String>,
    /// The account owning the resource when its ARN has none (S3 buckets), for --mode auto.
    #[arg(long, value_name = "ACCOUNT")]
    pub resource_account: Option<String>,
    /// How a resource policy combines with identity policies (role-trust with --trust-policy).
    #[arg(long, value_enum)]
    pub mode: Option<ModeArg>,
    /// Evaluate many requests: one JSON case per line (`-` = stdin), one result per line.
    #[arg(long, value_name = "FILE.jsonl", conflicts_with_all = ["policies", "resource_policy", "trust_policy", "action"])]
    pub cases: Option<PathBuf>,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value = "text")]
    pub output: Output,
}

/// Runs `irsa policy`.
pub fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Validate(args) => run_validate(&args),
        Command::Simulate(args) => match &args.cases {
            Some(path) => run_cases(path),
            None => run_simulate(&args),
        },
    }
}

fn read_input(path: &Path) -> anyhow::Result<String> {
    if path == Path::new("-") {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("reading standard input")?;
        Ok(s)
    } else {
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
    }
}

fn run_validate(args: &ValidateArgs) -> anyhow::Result<ExitCode> {
    let mut any_error = false;
    let mut report = Vec::new();
    let mut out = String::new();
    for path in &args.files {
        let text = read_input(path)?;
        let findings = match args.kind.policy_kind() {
            Some(k) => validate_as(&text, k),
            None => validate(&text),
        };
        any_error |= findings.iter().any(|f| f.severity == Severity::Error);
        match args.output {
            Output::Text => {
                for f in &findings {
                    out.push_str(&format_finding(path, f));
                    out.push('\n');
                }
            }
            Output::Json => report.push(serde_json::json!({
                "file": path.display().to_string(),
                "valid": !findings.iter().any(|f| f.severity == Severity::Error),
                "findings": findings,
            })),
        }
    }
    match args.output {
        Output::Text => {
            if !any_error {
                let n = args.files.len();
                out.push_str(&format!(
                    "{n} document{} valid\n",
                    if n == 1 { "" } else { "s" }
                ));
            }
            print!("{out}");
        }
        Output::Json => println!("{}", serde_json::to_string_pretty(&report)?),
    }
    Ok(if any_error {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn format_finding(path: &Path, f: &Finding) -> String {
    let sev = match f.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    };
    match f.severity {
        Severity::Error => {
            format!(
                "{}:{}:{}: {sev}: {} (IAM: {})",
                path.display(),
                f.line,
                f.column,
                f.detail,
                f.message
            )
        }
        Severity::Warning => format!(
            "{}:{}:{}: {sev}: {}: {}",
            path.display(),
            f.line,
            f.column,
            f.message,
            f.detail
        ),
    }
}

fn load(path: &Path, kind: PolicyKind) -> anyhow::Result<NamedPolicy> {
    let text = read_input(path)?;
    let policy = Policy::parse_as(&text, kind).map_err(|e| {
        anyhow::anyhow!(
            "{}:{}:{}: {} (IAM: {})",
            path.display(),
            e.line(),
            e.column(),
            e.detail(),
            e.message()
        )
    })?;
    let name = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    Ok(NamedPolicy::new(name, policy))
}

fn parse_context(pairs: &[String]) -> anyhow::Result<Context> {
    let mut ctx = Context::new();
    for pair in pairs {
        let Some((k, v)) = pair.split_once('=') else {
            bail!("--context {pair:?}: expected KEY=VALUE, e.g. aws:SourceIp=10.0.0.1");
        };
        let mut values: Vec<String> = ctx.values(k).map(<[String]>::to_vec).unwrap_or_default();
        values.push(v.to_string());
        ctx.set_values(k, values);
    }
    Ok(ctx)
}

fn run_simulate(args: &SimulateArgs) -> anyhow::Result<ExitCode> {
    let Some(action) = &args.action else {
        bail!("--action is required")
    };
    let mut set = PolicySet::default();
    for p in &args.policies {
        set.identity.push(load(p, PolicyKind::Identity)?);
    }
    if let Some(p) = &args.resource_policy {
        set.resource = Some(load(p, PolicyKind::Resource)?);
    }
    if let Some(p) = &args.trust_policy {
        set.resource = Some(load(p, PolicyKind::Trust)?);
        set.mode = Mode::RoleTrust;
    }
    for p in &args.permissions_boundaries {
        set.permissions_boundaries
            .push(load(p, PolicyKind::PermissionsBoundary)?);
    }
    for p in &args.session_policies {
        set.session.push(load(p, PolicyKind::Session)?);
    }
    set.resource_account = args.resource_account.clone();
    if let Some(m) = args.mode {
        set.mode = match m {
            ModeArg::Auto => Mode::Auto,
            ModeArg::SameAccount => Mode::SameAccount,
            ModeArg::CrossAccount => Mode::CrossAccount,
            ModeArg::RoleTrust => Mode::RoleTrust,
        };
    }
    let request = Request::new(
        Principal::from_arn(&args.principal),
        action.clone(),
        args.resource.clone(),
    )
    .with_context(parse_context(&args.context)?);
    let eval = evaluate(&set, &request);
    match args.output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&eval)?),
        Output::Text => print!("{}", format_text(&eval)),
    }
    Ok(if eval.is_allowed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn format_text(e: &Evaluation) -> String {
    let decision = match e.decision {
        Decision::Allowed => "allowed",
        Decision::ExplicitDeny => "explicitDeny",
        Decision::ImplicitDeny => "implicitDeny",
    };
    let mut s = format!("decision: {decision}\n");
    if let Some(m) = &e.message {
        s.push_str(&format!("message: {m}\n"));
    }
    if !e.matched_statements.is_empty() {
        s.push_str("matched statements:\n");
        for m in &e.matched_statements {
            let kind = serde_json::to_value(m.policy_type)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            let sid = m
                .sid
                .as_deref()
                .map(|s| format!(" (Sid {s})"))
                .unwrap_or_default();
            s.push_str(&format!(
                "  {:?} {} Statement[{}]{sid} in {} at line {} column {}\n",
                m.effect, kind, m.statement_index, m.policy, m.line, m.column
            ));
        }
    }
    s
}

fn run_cases(path: &Path) -> anyhow::Result<ExitCode> {
    let reader: Box<dyn BufRead> = if path == Path::new("-") {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(std::io::BufReader::new(
            std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?,
        ))
    };
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut batch = BatchEvaluator::new();
    for (n, line) in reader.lines().enumerate() {
        let line = line.with_context(|| format!("reading line {} of {}", n + 1, path.display()))?;
        if line.trim().is_empty() {
            writeln!(
                out,
                "{}",
                serde_json::json!({"error": "empty line", "line": n + 1})
            )?;
            continue;
        }
        match batch.evaluate_line(&line) {
            Ok(e) => serde_json::to_writer(&mut out, &e)?,
            Err(msg) => {
                serde_json::to_writer(&mut out, &serde_json::json!({"error": msg, "line": n + 1}))?
            }
        }
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
