//! `irsa-policy`: the IAM policy language as a pure library (no I/O).
//!
//! - [`Policy::parse`] / [`Policy::parse_as`] parse and validate a document, returning
//!   AWS's `MalformedPolicyDocument` message with a line and column on error;
//!   [`validate`] / [`validate_as`] list every [`Finding`] (errors and warnings).
//! - [`evaluate`] decides a [`Request`] against a [`PolicySet`] (identity policies, a
//!   resource or trust policy, permissions boundaries, session policies) the way IAM
//!   does: explicit deny beats allow beats implicit deny. The [`Evaluation`] names the
//!   decisive statements and carries AWS's exact AccessDenied message.
//!
//! ```
//! use irsa_policy::{evaluate, Context, Decision, NamedPolicy, Policy, PolicySet, Principal, Request};
//!
//! let trust = Policy::parse(r#"{
//!   "Version": "2012-10-17",
//!   "Statement": [{
//!     "Effect": "Allow",
//!     "Principal": {"Federated": "arn:aws:iam::111122223333:oidc-provider/oidc.example.com/id/abc"},
//!     "Action": "sts:AssumeRoleWithWebIdentity",
//!     "Condition": {"StringEquals": {
//!       "oidc.example.com/id/abc:sub": "system:serviceaccount:default:app",
//!       "oidc.example.com/id/abc:aud": "sts.amazonaws.com"}}
//!   }]}"#).unwrap();
//! let set = PolicySet::trust(NamedPolicy::new("trust", trust));
//! let request = Request::new(
//!     Principal::from_arn("arn:aws:iam::111122223333:oidc-provider/oidc.example.com/id/abc"),
//!     "sts:AssumeRoleWithWebIdentity",
//!     "arn:aws:iam::111122223333:role/app",
//! )
//! .with_context(Context::new()
//!     .with("oidc.example.com/id/abc:sub", "system:serviceaccount:default:app")
//!     .with("oidc.example.com/id/abc:aud", "sts.amazonaws.com"));
//! assert_eq!(evaluate(&set, &request).decision, Decision::Allowed);
//! ```

mod arn;
mod batch;
mod condition;
mod context;
mod document;
mod error;
mod eval;
pub mod json;
mod pattern;

pub use arn::Arn;
pub use batch::BatchEvaluator;
pub use condition::{Operator, OperatorKind, SetQualifier, parse_date};
pub use context::Context;
pub use document::{Effect, Policy, PolicyKind, validate, validate_as};
pub use error::{Finding, PolicyError, Severity, messages};
pub use eval::{
    Decision, Evaluation, MatchedStatement, Mode, NamedPolicy, PolicySet, Principal, Request,
    denial_message, evaluate,
};

#[cfg(test)]
mod proptests;
