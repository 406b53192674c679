//! irsa-issuer: the service-account issuer that AWS trusts, as static documents.
//!
//! - [`url`]: issuer URL rules (what AWS IAM accepts) and derived URLs. Pure.
//! - [`documents`]: the OIDC discovery document and the JWKS. Pure.
//! - [`rotation`]: the key rotation plan and procedure. Pure.
//! - [`snippets`]: kube-apiserver configuration per Kubernetes distribution. Pure.
//! - [`publish`]: the publication folder, with atomic writes. File I/O.
//! - [`serve`]: an HTTP(S) server for the folder. Network I/O.

pub mod documents;
pub mod publish;
pub mod rotation;
pub mod serve;
pub mod snippets;
pub mod url;

pub use documents::{Discovery, JwkSet};
pub use url::{IssuerPolicy, IssuerUrl};
