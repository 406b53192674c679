//! ServiceAccount-to-role mappings from the `pod-identity-webhook` ConfigMap
//! (`--watch-config-map`, webhook.md §4.2).

use std::collections::HashMap;

use serde_json::Value;

/// Name of the watched ConfigMap (fixed upstream).
pub const CONFIG_MAP_NAME: &str = "pod-identity-webhook";

/// One mapping of `data.config`. Field semantics are upstream's: a missing `Audience` is `""`
/// (no audience, *not* `--token-audience`), a missing `UseRegionalSTS` is `false`, and a
/// `TokenExpiration` of 0 means the flag value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mapping {
    /// `RoleARN`.
    pub role_arn: String,
    /// `Audience`.
    pub audience: String,
    /// `UseRegionalSTS`.
    pub use_regional_sts: bool,
    /// `TokenExpiration` in seconds; 0 means the flag value.
    pub token_expiration: i64,
}

/// The parsed mappings, keyed `namespace/name` (namespace may be the literal `*`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mappings(HashMap<String, Mapping>);

impl Mappings {
    /// Looks up `ns/name`, then `*/name` (the only wildcard upstream honours).
    pub fn get(&self, namespace: &str, name: &str) -> Option<&Mapping> {
        self.0
            .get(&format!("{namespace}/{name}"))
            .or_else(|| self.0.get(&format!("*/{name}")))
    }

    /// Number of mappings.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Parses `data.config`. Keys without exactly one `/` (upstream panics on them) and entries
    /// that are not objects are skipped with a warning; the result says how many were skipped.
    pub fn parse(config: &str) -> Result<(Self, Vec<String>), serde_json::Error> {
        let raw: serde_json::Map<String, Value> = serde_json::from_str(config)?;
        let mut out = HashMap::new();
        let mut skipped = Vec::new();
        for (key, value) in raw {
            let valid_key = matches!(key.split_once('/'), Some((ns, name)) if !ns.is_empty() && !name.is_empty() && !name.contains('/'));
            let Value::Object(fields) = value else {
                skipped.push(format!("{key}: value is not an object"));
                continue;
            };
            if !valid_key {
                skipped.push(format!("{key}: key must be <namespace>/<serviceaccount>"));
                continue;
            }
            let mut m = Mapping::default();
            // Go's encoding/json matches field names case-insensitively.
            for (field, v) in fields {
                match field.to_ascii_lowercase().as_str() {
                    "rolearn" => m.role_arn = v.as_str().unwrap_or_default().to_owned(),
                    "audience" => m.audience = v.as_str().unwrap_or_default().to_owned(),
                    "useregionalsts" => m.use_regional_sts = v.as_bool().unwrap_or(false),
                    "tokenexpiration" => m.token_expiration = v.as_i64().unwrap_or(0),
                    _ => {}
                }
            }
            out.insert(key, m);
        }
        Ok((Self(out), skipped))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn should_parse_go_style_fields_and_wildcards() {
        let (m, skipped) = Mappings::parse(
            r#"{"ns/a":{"RoleARN":"arn:aws:iam::1:role/a","UseRegionalSTS":true},
                "*/b":{"rolearn":"arn:aws:iam::1:role/b","audience":"x","TokenExpiration":3600},
                "bad":{"RoleARN":"r"}, "ns/c": 5}"#,
        )
        .unwrap();
        assert_eq!(skipped.len(), 2);
        let a = m.get("ns", "a").unwrap();
        assert!(a.use_regional_sts);
        assert_eq!(a.audience, "");
        let b = m.get("other", "b").unwrap();
        assert_eq!(b.token_expiration, 3600);
        assert!(m.get("ns", "bad").is_none());
        assert!(Mappings::parse("[").is_err());
    }
}
