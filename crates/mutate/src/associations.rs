//! The EKS Pod Identity association file (`--watch-container-credentials-config`,
//! webhook.md §3.14).

use std::collections::{HashMap, HashSet};

use serde::Deserialize;

use crate::error::AssociationsError;

/// The `(namespace, serviceAccount)` pairs that use container-credentials mode. Exact matches
/// only; no role is stored (the Pod Identity agent resolves roles on its side).
///
/// Kept by namespace, so that [`Associations::contains`] (asked for every admitted pod) is a
/// borrowed hash lookup whatever the number of associations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Associations {
    by_namespace: HashMap<String, HashSet<String>>,
    len: usize,
}

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
        self.by_namespace
            .get(namespace)
            .is_some_and(|names| names.contains(service_account))
    }

    /// Adds an association.
    pub fn insert(&mut self, namespace: impl Into<String>, service_account: impl Into<String>) {
        let added = self
            .by_namespace
            .entry(namespace.into())
            .or_default()
            .insert(service_account.into());
        self.len += usize::from(added);
    }

    /// Number of associations.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are none (container-credentials mode is then never used).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl<N: Into<String>, S: Into<String>> FromIterator<(N, S)> for Associations {
    fn from_iter<I: IntoIterator<Item = (N, S)>>(iter: I) -> Self {
        let mut out = Self::default();
        for (namespace, service_account) in iter {
            out.insert(namespace, service_account);
        }
        out
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
        assert!(!a.contains("baz", "ns-foo-sa"));
        assert_eq!(a.len(), 2);
    }

    #[test]
    fn counts_repeated_pairs_once() {
        let a: Associations = [("a", "x"), ("a", "x"), ("a", "y"), ("b", "x")]
            .into_iter()
            .collect();
        assert_eq!(a.len(), 3);
        assert!(a.contains("a", "y") && a.contains("b", "x") && !a.contains("b", "y"));
        assert_eq!(
            a,
            [("b", "x"), ("a", "y"), ("a", "x")].into_iter().collect()
        );
    }

    #[test]
    fn empty_content_is_empty_and_bad_json_is_an_error() {
        assert!(Associations::parse("  \n").unwrap().is_empty());
        assert!(Associations::parse("{\"identities\":[{\"namespace\":1}]}").is_err());
    }
}
