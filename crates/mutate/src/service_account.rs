//! Per-ServiceAccount settings: from the ServiceAccount's own annotations (webhook.md §2.1) or
//! from the `pod-identity-webhook` ConfigMap mappings (§4.2).

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use crate::config::MIN_TOKEN_EXPIRATION;
use crate::error::ConfigMapError;

/// What a ServiceAccount's `<prefix>/...` annotations say. Absent or invalid annotations are
/// `None` (the flag value applies), exactly as upstream parses them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceAccountInfo {
    /// `<prefix>/role-arn`; `None` when absent or empty (the ServiceAccount has no role).
    pub role_arn: Option<String>,
    /// `<prefix>/audience`; `Some("")` means "no audience" (the API server's defaults).
    pub audience: Option<String>,
    /// `<prefix>/sts-regional-endpoints`, parsed like Go's `strconv.ParseBool`.
    pub use_regional_sts: Option<bool>,
    /// `<prefix>/token-expiration` in seconds, already raised to at least 600.
    pub token_expiration: Option<i64>,
}

impl ServiceAccountInfo {
    /// Parses the annotations of a ServiceAccount. Keys that do not start with `<prefix>/` are
    /// ignored; invalid values are ignored (the flag value then applies), as upstream does.
    pub fn from_annotations(annotations: &BTreeMap<String, String>, prefix: &str) -> Self {
        let get = |key: &str| {
            annotations
                .iter()
                .find(|(k, _)| annotation_key_matches(k, prefix, key))
                .map(|(_, v)| v.as_str())
        };
        Self {
            role_arn: get("role-arn").filter(|v| !v.is_empty()).map(str::to_owned),
            audience: get("audience").map(str::to_owned),
            use_regional_sts: get("sts-regional-endpoints").and_then(parse_go_bool),
            token_expiration: get("token-expiration").and_then(parse_expiration),
        }
    }

    /// Parses the `metadata.annotations` of a ServiceAccount object given as JSON (non-string
    /// values are ignored).
    pub fn from_service_account(service_account: &Value, prefix: &str) -> Self {
        let annotations = service_account
            .pointer("/metadata/annotations")
            .and_then(Value::as_object)
            .map(|map| {
                map.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                    .collect()
            })
            .unwrap_or_default();
        Self::from_annotations(&annotations, prefix)
    }
}

/// Whether `key` is `<prefix>/<name>`.
pub(crate) fn annotation_key_matches(key: &str, prefix: &str, name: &str) -> bool {
    key.len() == prefix.len() + 1 + name.len()
        && key.starts_with(prefix)
        && key.as_bytes()[prefix.len()] == b'/'
        && key.ends_with(name)
}

/// Go's `strconv.ParseBool`.
pub fn parse_go_bool(value: &str) -> Option<bool> {
    match value {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// A token-expiration annotation: a base-10 int64, raised to at least 600.
pub(crate) fn parse_expiration(value: &str) -> Option<i64> {
    parse_go_int64(value).map(|v| v.max(MIN_TOKEN_EXPIRATION))
}

/// Go's `strconv.ParseInt(value, 10, 64)`: optional sign, ASCII digits, no spaces.
fn parse_go_int64(value: &str) -> Option<i64> {
    let digits = value.strip_prefix(['+', '-']).unwrap_or(value);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok()
}

/// Whether a role ARN has the shape upstream checks
/// (`^arn:aws[a-z0-9-]*:iam::\d{12}:role\/[\w-\/.@+=,]+$`). Upstream (and irsa) only warn on a
/// mismatch; the value is still used.
pub fn role_arn_looks_valid(arn: &str) -> bool {
    // Read left to right (no substring searches: this runs for every admitted pod). The
    // partition suffix and the account cannot contain ':', so the first ":iam::" and
    // ":role/" are exactly where these runs end.
    let Some(rest) = arn.strip_prefix("arn:aws") else {
        return false;
    };
    let partition = rest
        .bytes()
        .take_while(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        .count();
    let Some(rest) = rest[partition..].strip_prefix(":iam::") else {
        return false;
    };
    let account = rest.bytes().take_while(u8::is_ascii_digit).count();
    let Some(name) = rest[account..].strip_prefix(":role/") else {
        return false;
    };
    account == 12
        && !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || "-/.@+=,".contains(c))
}

/// One mapping of the ConfigMap's `data.config`. Upstream semantics: a missing `Audience` is
/// `""` (no audience, *not* `--token-audience`), a missing `UseRegionalSTS` is `false` (not the
/// flag), and a `TokenExpiration` of 0 means the flag value (other values are used as-is).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigMapMapping {
    /// `RoleARN`.
    pub role_arn: String,
    /// `Audience`.
    pub audience: String,
    /// `UseRegionalSTS`.
    pub use_regional_sts: bool,
    /// `TokenExpiration` in seconds; 0 means the flag value.
    pub token_expiration: i64,
}

/// All mappings of the ConfigMap, keyed `namespace/name` (namespace may be the literal `*`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigMapMappings(HashMap<String, ConfigMapMapping>);

impl ConfigMapMappings {
    /// Parses `data.config` (a JSON object). Field names match case-insensitively, as Go's JSON
    /// decoder does. Unlike upstream (which panics on them), keys that are not `namespace/name`
    /// are rejected with an error naming the key.
    pub fn parse(config: &str) -> Result<Self, ConfigMapError> {
        let raw: serde_json::Map<String, Value> =
            serde_json::from_str(config).map_err(ConfigMapError::Json)?;
        let mut out = HashMap::with_capacity(raw.len());
        for (key, value) in raw {
            let valid = matches!(key.split_once('/'),
                Some((ns, name)) if !ns.is_empty() && !name.is_empty() && !name.contains('/'));
            if !valid {
                return Err(ConfigMapError::Key { key });
            }
            let Value::Object(fields) = value else {
                return Err(ConfigMapError::Entry {
                    key,
                    reason: "the value is not a JSON object".to_owned(),
                });
            };
            let mut mapping = ConfigMapMapping::default();
            for (field, v) in fields {
                let bad = |expected: &str| ConfigMapError::Entry {
                    key: key.clone(),
                    reason: format!("field {field} must be {expected}"),
                };
                match field.to_ascii_lowercase().as_str() {
                    "rolearn" => {
                        mapping.role_arn = v.as_str().ok_or_else(|| bad("a string"))?.into()
                    }
                    "audience" => {
                        mapping.audience = v.as_str().ok_or_else(|| bad("a string"))?.into()
                    }
                    "useregionalsts" => {
                        mapping.use_regional_sts = v.as_bool().ok_or_else(|| bad("a boolean"))?
                    }
                    "tokenexpiration" => {
                        mapping.token_expiration = v.as_i64().ok_or_else(|| bad("an integer"))?
                    }
                    _ => {}
                }
            }
            out.insert(key, mapping);
        }
        Ok(Self(out))
    }

    /// Reads `data.config` of a ConfigMap object given as JSON. A ConfigMap without
    /// `data.config` has no mappings.
    pub fn from_config_map(config_map: &Value) -> Result<Self, ConfigMapError> {
        match config_map.pointer("/data/config") {
            None | Some(Value::Null) => Ok(Self::default()),
            Some(Value::String(config)) => Self::parse(config),
            Some(_) => Err(ConfigMapError::NotAString),
        }
    }

    /// Looks up `namespace/name`, then `*/name` (the only wildcard upstream honours). The
    /// boolean says whether the wildcard entry matched.
    pub fn get(&self, namespace: &str, name: &str) -> Option<(&ConfigMapMapping, bool)> {
        if let Some(m) = self.0.get(&format!("{namespace}/{name}")) {
            return Some((m, false));
        }
        self.0.get(&format!("*/{name}")).map(|m| (m, true))
    }

    /// Number of mappings.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no mappings.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Everything known about the pod's ServiceAccount when a pod is admitted.
#[derive(Debug, Clone, Copy, Default)]
pub struct ServiceAccountLookup<'a> {
    /// The ServiceAccount from the cache (role or not); `None` when it was not found.
    pub cached: Option<&'a ServiceAccountInfo>,
    /// The ConfigMap mapping for `namespace/name` or `*/name`, if any.
    pub config_map: Option<&'a ConfigMapMapping>,
    /// Whether `config_map` came from the `*/name` wildcard (container-credentials mode only
    /// consults exact entries, as upstream).
    pub config_map_wildcard: bool,
}

impl<'a> ServiceAccountLookup<'a> {
    /// A lookup with only a cached ServiceAccount (or none).
    pub fn cached(info: Option<&'a ServiceAccountInfo>) -> Self {
        Self {
            cached: info,
            ..Self::default()
        }
    }

    /// Adds the ConfigMap lookup result of [`ConfigMapMappings::get`].
    pub fn with_config_map(mut self, hit: Option<(&'a ConfigMapMapping, bool)>) -> Self {
        self.config_map = hit.map(|(m, _)| m);
        self.config_map_wildcard = hit.is_some_and(|(_, w)| w);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn annotations(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect()
    }

    #[test]
    fn parses_annotations_with_upstream_rules() {
        let info = ServiceAccountInfo::from_annotations(
            &annotations(&[
                (
                    "eks.amazonaws.com/role-arn",
                    "arn:aws:iam::111122223333:role/r",
                ),
                ("eks.amazonaws.com/audience", ""),
                ("eks.amazonaws.com/sts-regional-endpoints", "T"),
                ("eks.amazonaws.com/token-expiration", "10"),
                ("other.example/role-arn", "ignored"),
            ]),
            "eks.amazonaws.com",
        );
        assert_eq!(
            info.role_arn.as_deref(),
            Some("arn:aws:iam::111122223333:role/r")
        );
        assert_eq!(info.audience.as_deref(), Some(""));
        assert_eq!(info.use_regional_sts, Some(true));
        assert_eq!(info.token_expiration, Some(600));
    }

    #[test]
    fn invalid_or_empty_values_are_ignored() {
        let info = ServiceAccountInfo::from_annotations(
            &annotations(&[
                ("p/role-arn", ""),
                ("p/sts-regional-endpoints", "yes"),
                ("p/token-expiration", " 3600"),
            ]),
            "p",
        );
        assert_eq!(info, ServiceAccountInfo::default());
    }

    /// The regex-like reading `role_arn_looks_valid` replaced (substring searches).
    fn role_arn_by_search(arn: &str) -> bool {
        let Some(rest) = arn.strip_prefix("arn:aws") else {
            return false;
        };
        let Some((partition, rest)) = rest.split_once(":iam::") else {
            return false;
        };
        let Some((account, name)) = rest.split_once(":role/") else {
            return false;
        };
        partition
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && account.len() == 12
            && account.bytes().all(|b| b.is_ascii_digit())
            && !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_alphanumeric() || c == '_' || "-/.@+=,".contains(c))
    }

    #[test]
    fn role_arn_shape_agrees_with_the_search_based_reading() {
        let parts = [
            "arn:aws",
            "-us-gov",
            "X",
            ":iam::",
            "111122223333",
            "4",
            ":role/",
            "r",
            "/",
            ":",
            "é",
            "",
        ];
        let mut checked = 0;
        for a in parts {
            for b in parts {
                for c in parts {
                    for d in parts {
                        for e in parts {
                            let arn = format!("{a}{b}{c}{d}{e}");
                            assert_eq!(
                                role_arn_looks_valid(&arn),
                                role_arn_by_search(&arn),
                                "{arn}"
                            );
                            checked += usize::from(role_arn_looks_valid(&arn));
                        }
                    }
                }
            }
        }
        assert!(checked > 0, "no valid ARN among the combinations");
    }

    #[test]
    fn role_arn_shape() {
        assert!(role_arn_looks_valid(
            "arn:aws:iam::111122223333:role/a/b.c@d+e=f,g_h-i"
        ));
        assert!(role_arn_looks_valid("arn:aws-cn:iam::111122223333:role/r"));
        assert!(!role_arn_looks_valid("arn:aws:iam::11112222333:role/r"));
        assert!(!role_arn_looks_valid("arn:aws:iam::111122223333:user/r"));
        assert!(!role_arn_looks_valid("s3-reader"));
    }

    #[test]
    fn config_map_exact_then_wildcard() {
        let m = ConfigMapMappings::parse(
            r#"{"ns/sa":{"RoleARN":"a","useRegionalSTS":true},"*/sa":{"rolearn":"b","TokenExpiration":3600}}"#,
        )
        .unwrap();
        let (exact, wildcard) = m.get("ns", "sa").unwrap();
        assert_eq!(
            (exact.role_arn.as_str(), exact.use_regional_sts, wildcard),
            ("a", true, false)
        );
        let (other, wildcard) = m.get("other", "sa").unwrap();
        assert_eq!(
            (other.role_arn.as_str(), other.token_expiration, wildcard),
            ("b", 3600, true)
        );
        assert!(m.get("ns", "nope").is_none());
    }

    #[test]
    fn config_map_rejects_bad_keys_and_types() {
        assert!(matches!(
            ConfigMapMappings::parse(r#"{"nokey":{}}"#),
            Err(ConfigMapError::Key { .. })
        ));
        assert!(matches!(
            ConfigMapMappings::parse(r#"{"a/b":{"TokenExpiration":"1"}}"#),
            Err(ConfigMapError::Entry { .. })
        ));
    }
}
