//! The request context: condition keys (case-insensitive) with one or many values.

use std::borrow::Cow;

/// Request context keys and values. Keys are case-insensitive (`aws:SourceIp` ≡
/// `AWS:sourceip`); each key has one value or a list of values (multi-valued keys such
/// as `aws:TagKeys` or `<issuer>:amr`).
///
/// A request carries a handful of keys (an `AssumeRoleWithWebIdentity` trust check has
/// eight, a call with fifty session tags about a hundred), so they are kept in a list in the
/// order they were set and looked up by a linear scan: cheaper, for that size, than hashing
/// every key on every set and lookup. Two contexts are equal when they hold the same keys
/// with the same values, whatever the order.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// (lower-cased key, values). Keys named in code are stored without a copy.
    entries: Vec<(Cow<'static, str>, Values)>,
}

/// The values of one key: most keys have exactly one, which needs no list of its own.
#[derive(Debug, Clone)]
enum Values {
    One([String; 1]),
    Many(Vec<String>),
}

impl Values {
    fn as_slice(&self) -> &[String] {
        match self {
            Values::One(v) => v,
            Values::Many(v) => v,
        }
    }
}

impl PartialEq for Context {
    fn eq(&self, other: &Context) -> bool {
        self.entries.len() == other.entries.len()
            && self
                .entries
                .iter()
                .all(|(k, v)| other.get(k) == Some(v.as_slice()))
    }
}

impl Eq for Context {}

impl Context {
    /// An empty context.
    pub fn new() -> Context {
        Context::default()
    }

    /// An empty context with room for `n` keys.
    pub fn with_capacity(n: usize) -> Context {
        Context {
            entries: Vec::with_capacity(n),
        }
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

    /// Builder: [`Context::set_key`].
    pub fn with_key(
        mut self,
        key: impl Into<Cow<'static, str>>,
        value: impl Into<String>,
    ) -> Context {
        self.set_key(key, value);
        self
    }

    /// Sets `key` to a single value.
    pub fn set(&mut self, key: &str, value: impl Into<String>) {
        self.set_key(key.to_owned(), value);
    }

    /// [`Context::set`] without copying the key: a `&'static str` already in lower case is
    /// kept as is, a `String` is lower-cased in place (the keys every request carries are
    /// set this way).
    pub fn set_key(&mut self, key: impl Into<Cow<'static, str>>, value: impl Into<String>) {
        self.put(key.into(), Values::One([value.into()]));
    }

    /// Sets `key` to a list of values.
    pub fn set_values<I, S>(&mut self, key: &str, values: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let values = Values::Many(values.into_iter().map(Into::into).collect());
        self.put(Cow::Owned(key.to_owned()), values);
    }

    /// Sets `key` (lower-cased in place if it is not already) to `values`, replacing a key
    /// set before in any case.
    fn put(&mut self, mut key: Cow<'static, str>, values: Values) {
        if key.bytes().any(|b| b.is_ascii_uppercase()) {
            key.to_mut().make_ascii_lowercase();
        }
        match self.position(&key) {
            Some(i) => self.entries[i].1 = values,
            None => self.entries.push((key, values)),
        }
    }

    /// Where `key` (any case) is in the list.
    fn position(&self, key: &str) -> Option<usize> {
        self.entries
            .iter()
            .position(|(k, _)| k.len() == key.len() && k.eq_ignore_ascii_case(key))
    }

    /// Removes `key`.
    pub fn remove(&mut self, key: &str) {
        if let Some(i) = self.position(key) {
            self.entries.remove(i);
        }
    }

    /// The values of `key` (any case), if present.
    pub fn values(&self, key: &str) -> Option<&[String]> {
        self.position(key).map(|i| self.entries[i].1.as_slice())
    }

    /// Lookup with an already lower-cased key (the hot path: an exact comparison).
    pub(crate) fn get(&self, lower_key: &str) -> Option<&[String]> {
        self.entries
            .iter()
            .find(|(k, _)| k == lower_key)
            .map(|(_, v)| v.as_slice())
    }

    /// True when no key is set.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Iterates over (lower-cased key, values), in the order the keys were first set.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[String])> {
        self.entries.iter().map(|(k, v)| (k.as_ref(), v.as_slice()))
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

    #[test]
    fn setting_a_key_again_in_another_case_replaces_it() {
        let mut c = Context::new().with("aws:SourceIp", "10.0.0.1");
        c.set("AWS:SOURCEIP", "10.0.0.2");
        assert_eq!(c.iter().count(), 1);
        assert_eq!(c.values("aws:sourceip").unwrap(), ["10.0.0.2"]);
        c.remove("Aws:SourceIP");
        assert!(c.is_empty());
    }

    #[test]
    fn keys_set_without_a_copy_are_the_same_keys_as_any_other() {
        let mut c = Context::new()
            .with_key("aws:sourceip", "10.0.0.1")
            .with_key("aws:CurrentTime", "2026-01-01T00:00:00Z")
            .with_key(
                String::from("Issuer.Example:Sub"),
                "system:serviceaccount:a:b",
            );
        assert_eq!(c.values("AWS:SourceIp").unwrap(), ["10.0.0.1"]);
        assert_eq!(c.get("aws:currenttime").unwrap(), ["2026-01-01T00:00:00Z"]);
        c.set("AWS:SOURCEIP", "10.0.0.2");
        c.set_key("aws:currenttime", "2027-01-01T00:00:00Z");
        assert_eq!(c.iter().count(), 3);
        assert_eq!(
            c.get("issuer.example:sub").unwrap(),
            ["system:serviceaccount:a:b"]
        );
        assert_eq!(c.values("aws:sourceip").unwrap(), ["10.0.0.2"]);
        assert_eq!(
            c,
            Context::new()
                .with("aws:CurrentTime", "2027-01-01T00:00:00Z")
                .with("aws:SourceIp", "10.0.0.2")
                .with("issuer.example:SUB", "system:serviceaccount:a:b")
        );
        assert!(c.iter().all(|(k, _)| k == k.to_ascii_lowercase()));
    }

    #[test]
    fn equality_ignores_the_order_keys_were_set_in() {
        let a = Context::new().with("k1", "a").with("k2", "b");
        let b = Context::new().with("K2", "b").with("k1", "a");
        assert_eq!(a, b);
        assert_ne!(a, Context::new().with("k1", "a").with("k2", "c"));
        assert_ne!(a, Context::new().with("k1", "a"));
    }
}
