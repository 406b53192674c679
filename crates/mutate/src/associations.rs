//! The EKS Pod Identity association file (`--watch-container-credentials-config`,
//! webhook.md §3.14).

use std::collections::HashSet;

use serde::Deserialize;

use crate::error::AssociationsError;

/// The `(namespace, serviceAccount)` pairs that use container-credentials mode. Exact matches
/// only; no role is stored (the Pod Identity agent resolves roles on its side).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Associations(HashSet<(String, String)>);

impl Associations {
    /// Parses the file content:
    /// `{"identities":[{"namespace":"ns","serviceAccount":"sa"}]}`. Empty content is an empty
    /// set, as upstream treats an empty file.
    pub fn parse(content: &str) -> Result<Self, AssociationsError> {
        #[derive(Deserialize)]
        struct File {
            #[serde(default)]
            identities: Vec<Identity>,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Identity {
            namespace: String,
            service_account: String,
        }
        if content.trim().is_empty() {
            return Ok(Self::default());
        }
        let file: File = serde_json::from_str(content).map_err(AssociationsError)?;
        Ok(file
            .identities
            .into_iter()
            .map(|i| (i.namespace, i.service_account))
            .collect())
    }

    /// Whether `namespace/service_account` is associated.
    pub fn contains(&self, namespace: &str, service_account: &str) -> bool {
        // Borrowed lookup without allocating a key tuple.
        self.0
            .iter()
            .any(|(n, s)| n == namespace && s == service_account)
    }

    /// Adds an association.
    pub fn insert(&mut self, namespace: impl Into<String>, service_account: impl Into<String>) {
        self.0.insert((namespace.into(), service_account.into()));
    }

    /// Number of associations.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none (container-credentials mode is then never used).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<N: Into<String>, S: Into<String>> FromIterator<(N, S)> for Associations {
    fn from_iter<I: IntoIterator<Item = (N, S)>>(iter: I) -> Self {
        Self(
            iter.into_iter()
                .map(|(n, s)| (n.into(), s.into()))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_upstream_format() {
        let a = Associations::parse(
            r#"{"identities":[{"namespace":"foo","serviceAccount":"ns-foo-sa"},{"namespace":"bar","serviceAccount":"ns-bar-sa"}]}"#,
        )
        .unwrap();
        assert!(a.contains("foo", "ns-foo-sa"));
        assert!(a.contains("bar", "ns-bar-sa"));
        assert!(!a.contains("foo", "ns-bar-sa"));
        assert_eq!(a.len(), 2);
    }

    #[test]
    fn empty_content_is_empty_and_bad_json_is_an_error() {
        assert!(Associations::parse("  \n").unwrap().is_empty());
        assert!(Associations::parse("{\"identities\":[{\"namespace\":1}]}").is_err());
    }
}
