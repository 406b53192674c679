//! The request context: condition keys (case-insensitive) with one or many values.

use std::collections::HashMap;

/// Request context keys and values. Keys are case-insensitive (`aws:SourceIp` ≡
/// `AWS:sourceip`); each key has one value or a list of values (multi-valued keys such
/// as `aws:TagKeys` or `<issuer>:amr`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Context {
    entries: HashMap<String, Vec<String>>,
}

impl Context {
    /// An empty context.
    pub fn new() -> Context {
        Context::default()
    }

    /// Builder: sets `key` to a single value (replacing any previous value).
    pub fn with(mut self, key: &str, value: impl Into<String>) -> Context {
        self.set(key, value);
        self
    }

    /// Builder: sets `key` to a list of values (a multi-valued key).
    pub fn with_values<I, S>(mut self, key: &str, values: I) -> Context
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.set_values(key, values);
        self
    }

    /// Sets `key` to a single value.
    pub fn set(&mut self, key: &str, value: impl Into<String>) {
        self.entries
            .insert(key.to_ascii_lowercase(), vec![value.into()]);
    }

    /// Sets `key` to a list of values.
    pub fn set_values<I, S>(&mut self, key: &str, values: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.entries.insert(
            key.to_ascii_lowercase(),
            values.into_iter().map(Into::into).collect(),
        );
    }

    /// Removes `key`.
    pub fn remove(&mut self, key: &str) {
        self.entries.remove(&key.to_ascii_lowercase());
    }

    /// The values of `key` (any case), if present.
    pub fn values(&self, key: &str) -> Option<&[String]> {
        if key.bytes().any(|b| b.is_ascii_uppercase()) {
            self.get(&key.to_ascii_lowercase())
        } else {
            self.get(key)
        }
    }

    /// Lookup with an already lower-cased key (the hot path; no allocation).
    pub(crate) fn get(&self, lower_key: &str) -> Option<&[String]> {
        self.entries.get(lower_key).map(Vec::as_slice)
    }

    /// True when no key is set.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Iterates over (lower-cased key, values).
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[String])> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v.as_slice()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_case_insensitive() {
        let c = Context::new()
            .with("AWS:SourceIp", "10.0.0.1")
            .with_values("aws:TagKeys", ["a", "b"]);
        assert_eq!(c.values("aws:sourceip").unwrap(), ["10.0.0.1"]);
        assert_eq!(c.values("AWS:TAGKEYS").unwrap().len(), 2);
        assert!(c.values("aws:other").is_none());
    }
}
