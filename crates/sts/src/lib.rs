//! The local AWS side: an STS + IAM Query API endpoint that verifies what AWS verifies.
//!
//! Module ownership while the crate is being built:
//! - protocol, sigv4, store, iam, server: the Query/XML protocol, SigV4, SQLite state, IAM API;
//! - credentials, oidc, sts: temporary credentials and session tokens, the OIDC
//!   discovery/JWKS fetcher, and the STS actions.

pub mod credentials;
pub mod oidc;
pub mod sts;
