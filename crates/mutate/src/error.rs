//! Typed errors of the mutation core.

/// The pod cannot be mutated because its JSON does not have the shape of a Pod.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MutateError {
    /// The admitted object is not a JSON object.
    #[error("the object is not a Pod: expected a JSON object")]
    NotAnObject,
    /// The pod has no `spec` object.
    #[error("the Pod has no spec object")]
    MissingSpec,
    /// A field has the wrong JSON type (for example `spec.containers` is not an array).
    #[error("the Pod field {path} must be {expected}")]
    InvalidField {
        /// JSON pointer of the field.
        path: String,
        /// What it must be.
        expected: &'static str,
    },
}

/// The `pod-identity-webhook` ConfigMap's `data.config` cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigMapError {
    /// `data.config` is not a JSON object.
    #[error("ConfigMap data.config is not a JSON object of \"namespace/name\" mappings")]
    Json(#[source] serde_json::Error),
    /// `data.config` is present but not a string.
    #[error("ConfigMap data.config must be a string holding JSON")]
    NotAString,
    /// A key is not `namespace/name`.
    #[error(
        "ConfigMap data.config key {key:?} must be \"namespace/name\" (namespace may be \"*\")"
    )]
    Key {
        /// The offending key.
        key: String,
    },
    /// An entry has the wrong shape.
    #[error("ConfigMap data.config entry {key:?}: {reason}")]
    Entry {
        /// The key of the entry.
        key: String,
        /// What is wrong.
        reason: String,
    },
}

/// The container-credentials association file cannot be parsed.
#[derive(Debug, thiserror::Error)]
#[error(
    "the association file must be JSON like {{\"identities\":[{{\"namespace\":\"ns\",\"serviceAccount\":\"sa\"}}]}}"
)]
pub struct AssociationsError(#[source] pub serde_json::Error);
