//! The local AWS side: an STS + IAM Query API endpoint that verifies what AWS verifies.
//!
//! Module ownership while the crate is being built:
//! - protocol, sigv4, store, iam, auth, server: the Query/XML protocol, SigV4, SQLite state,
//!   IAM API, authentication and the HTTP server;
//! - credentials, oidc, sts: temporary credentials and session tokens, the OIDC
//!   discovery/JWKS fetcher, and the STS actions.
//!
//! Start a server in-process with [`server::AppState::new`] and [`server::start`].

pub mod auth;
pub mod cache;
pub mod credentials;
pub mod iam;
pub mod metrics;
pub mod oidc;
pub mod protocol;
pub mod random;
pub mod server;
pub mod sigv4;
pub mod store;
pub mod sts;
