//! The operations of a mutation, described rather than built: [`mutate`](crate::mutate) turns
//! them into a [`json_patch::Patch`] (serde values), [`mutate_json`](crate::mutate_json)
//! writes them straight as JSON text, byte for byte what serde_json writes for that `Patch`
//! (keys in insertion order, as the workspace's `preserve_order` keeps them), without building
//! a JSON tree, a map or a JSON pointer per operation.

use json_patch::jsonptr::{PointerBuf, Token};
use json_patch::{AddOperation, Patch, PatchOperation};
use serde_json::{Map, Value};

use crate::config::POD_IDENTITY_LABEL;

/// One token of a patch path.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Tok<'a> {
    /// An object key (or `-`, the end of an array).
    Key(&'a str),
    /// An array index.
    Index(usize),
}

/// An `add` operation: the path (at most 5 tokens) and the value to add.
#[derive(Debug)]
pub(crate) struct Op<'a> {
    path: [Tok<'a>; 5],
    len: usize,
    value: Val<'a>,
}

/// The projected token volume.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Volume<'a> {
    pub name: &'a str,
    /// Empty: no `audience` key.
    pub audience: &'a str,
    pub expiration: i64,
    pub token_path: &'a str,
}

/// An item appended to a container list.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Item<'a> {
    /// `{"name": name, "value": value}`
    Var(&'a str, &'a str),
    /// `{"name": name, "readOnly": true, "mountPath": mount_path}`
    Mount(&'a str, &'a str),
}

/// The value of an operation.
#[derive(Debug, PartialEq)]
pub(crate) enum Val<'a> {
    /// `{"labels": {<pod-identity label>: "enabled"}}`
    MetadataWithLabel,
    /// `{<pod-identity label>: "enabled"}`
    Labels,
    /// `"enabled"`
    Enabled,
    /// `[volume]`
    Volumes(Volume<'a>),
    /// `volume`
    Volume(Volume<'a>),
    /// `{"fsGroup": group}`
    SecurityContext(i64),
    /// `group`
    FsGroup(i64),
    /// `[item, ...]`
    Items(Vec<Item<'a>>),
    /// `item`
    Item(Item<'a>),
}

impl<'a> Op<'a> {
    /// An `add` of `value` at the path made of `tokens` (at most 5).
    pub(crate) fn add(tokens: &[Tok<'a>], value: Val<'a>) -> Self {
        let mut path = [Tok::Key(""); 5];
        path[..tokens.len()].copy_from_slice(tokens);
        Self {
            path,
            len: tokens.len(),
            value,
        }
    }

    fn tokens(&self) -> &[Tok<'a>] {
        &self.path[..self.len]
    }
}

/// The ops as a [`Patch`] of serde values.
pub(crate) fn to_patch(ops: &[Op<'_>]) -> Patch {
    Patch(
        ops.iter()
            .map(|op| {
                let path = PointerBuf::from_tokens(op.tokens().iter().map(|t| match *t {
                    Tok::Key(k) => Token::new(k),
                    Tok::Index(i) => Token::new(i.to_string()),
                }));
                PatchOperation::Add(AddOperation {
                    path,
                    value: op.value.to_value(),
                })
            })
            .collect(),
    )
}

/// A JSON object from its entries, in order.
fn object<const N: usize>(entries: [(&str, Value); N]) -> Value {
    Value::Object(
        entries
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect::<Map<String, Value>>(),
    )
}

impl Val<'_> {
    fn to_value(&self) -> Value {
        let label = || object([(POD_IDENTITY_LABEL, Value::from("enabled"))]);
        match self {
            Val::MetadataWithLabel => object([("labels", label())]),
            Val::Labels => label(),
            Val::Enabled => Value::from("enabled"),
            Val::Volumes(v) => Value::Array(vec![v.to_value()]),
            Val::Volume(v) => v.to_value(),
            Val::SecurityContext(g) => object([("fsGroup", Value::from(*g))]),
            Val::FsGroup(g) => Value::from(*g),
            Val::Items(items) => Value::Array(items.iter().map(|i| i.to_value()).collect()),
            Val::Item(item) => item.to_value(),
        }
    }

    fn write(&self, out: &mut Vec<u8>) {
        match self {
            Val::MetadataWithLabel => {
                out.extend_from_slice(br#"{"labels":"#);
                Val::Labels.write(out);
                out.push(b'}');
            }
            Val::Labels => {
                out.push(b'{');
                string(out, POD_IDENTITY_LABEL);
                out.extend_from_slice(br#":"enabled"}"#);
            }
            Val::Enabled => out.extend_from_slice(br#""enabled""#),
            Val::Volumes(v) => {
                out.push(b'[');
                v.write(out);
                out.push(b']');
            }
            Val::Volume(v) => v.write(out),
            Val::SecurityContext(g) => {
                out.extend_from_slice(br#"{"fsGroup":"#);
                integer(out, *g);
                out.push(b'}');
            }
            Val::FsGroup(g) => integer(out, *g),
            Val::Items(items) => {
                out.push(b'[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    item.write(out);
                }
                out.push(b']');
            }
            Val::Item(item) => item.write(out),
        }
    }
}

impl Volume<'_> {
    fn to_value(self) -> Value {
        let mut token = Map::new();
        if !self.audience.is_empty() {
            token.insert("audience".to_owned(), Value::from(self.audience));
        }
        token.insert("expirationSeconds".to_owned(), Value::from(self.expiration));
        token.insert("path".to_owned(), Value::from(self.token_path));
        let source = object([("serviceAccountToken", Value::Object(token))]);
        object([
            ("name", Value::from(self.name)),
            (
                "projected",
                object([("sources", Value::Array(vec![source]))]),
            ),
        ])
    }

    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(br#"{"name":"#);
        string(out, self.name);
        out.extend_from_slice(br#","projected":{"sources":[{"serviceAccountToken":{"#);
        if !self.audience.is_empty() {
            out.extend_from_slice(br#""audience":"#);
            string(out, self.audience);
            out.push(b',');
        }
        out.extend_from_slice(br#""expirationSeconds":"#);
        integer(out, self.expiration);
        out.extend_from_slice(br#","path":"#);
        string(out, self.token_path);
        out.extend_from_slice(b"}}]}}");
    }
}

impl Item<'_> {
    fn to_value(self) -> Value {
        match self {
            Item::Var(name, value) => {
                object([("name", Value::from(name)), ("value", Value::from(value))])
            }
            Item::Mount(name, mount_path) => object([
                ("name", Value::from(name)),
                ("readOnly", Value::Bool(true)),
                ("mountPath", Value::from(mount_path)),
            ]),
        }
    }

    fn write(&self, out: &mut Vec<u8>) {
        match *self {
            Item::Var(name, value) => {
                out.extend_from_slice(br#"{"name":"#);
                string(out, name);
                out.extend_from_slice(br#","value":"#);
                string(out, value);
            }
            Item::Mount(name, mount_path) => {
                out.extend_from_slice(br#"{"name":"#);
                string(out, name);
                out.extend_from_slice(br#","readOnly":true,"mountPath":"#);
                string(out, mount_path);
            }
        }
        out.push(b'}');
    }
}

/// Writes the ops as the JSON text of their [`Patch`] (see the module documentation).
pub(crate) fn write_json(ops: &[Op<'_>], out: &mut Vec<u8>) {
    // Containers usually get the same env vars and mount: an equal value written just before is
    // copied instead of written again. (Where each op's value was written.)
    let mut written: Vec<std::ops::Range<usize>> = Vec::with_capacity(ops.len());
    out.push(b'[');
    for (i, op) in ops.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(br#"{"op":"add","path":""#);
        for token in op.tokens() {
            out.push(b'/');
            match *token {
                // JSON Pointer escaping, then JSON string escaping.
                Tok::Key(k) if k.bytes().any(|b| b == b'~' || b == b'/') => {
                    let encoded = Token::new(k);
                    string_contents(out, encoded.encoded());
                }
                Tok::Key(k) => string_contents(out, k),
                Tok::Index(n) => integer(out, n as i64),
            }
        }
        out.extend_from_slice(br#"","value":"#);
        let start = out.len();
        // Only the last few ops: enough for the previous container, and bounded for pods with
        // thousands of containers.
        let from = i.saturating_sub(8);
        let same = ops[from..i].iter().position(|o| o.value == op.value);
        match same {
            Some(same) => out.extend_from_within(written[from + same].clone()),
            None => op.value.write(out),
        }
        written.push(start..out.len());
        out.push(b'}');
    }
    out.push(b']');
}

/// A JSON string, escaped as serde_json escapes it.
fn string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    string_contents(out, s);
    out.push(b'"');
}

/// The inside of a JSON string: copied as is when nothing needs escaping (the usual case),
/// else escaped by serde_json itself.
fn string_contents(out: &mut Vec<u8>, s: &str) {
    if !needs_escape(s.as_bytes()) {
        out.extend_from_slice(s.as_bytes());
    } else {
        // serde_json writes the quotes too: keep only what is between them. Writing into a
        // `Vec` cannot fail.
        let at = out.len();
        let _ = serde_json::to_writer(&mut *out, s);
        out.remove(at);
        out.pop();
    }
}

/// Whether `s` has a byte JSON must escape: `"`, `\\` or a control character (below 0x20).
/// Eight bytes at a time (the usual "has a byte less than n" word tricks, exact for n <= 128).
fn needs_escape(s: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let has_below = |w: u64, n: u64| w.wrapping_sub(ONES * n) & !w & HIGH != 0;
    let mut chunks = s.chunks_exact(8);
    for chunk in &mut chunks {
        let w = u64::from_le_bytes(chunk.try_into().unwrap_or_default());
        if has_below(w, 0x20)
            || has_below(w ^ (ONES * u64::from(b'"')), 1)
            || has_below(w ^ (ONES * u64::from(b'\\')), 1)
        {
            return true;
        }
    }
    chunks
        .remainder()
        .iter()
        .any(|&b| b < 0x20 || b == b'"' || b == b'\\')
}

fn integer(out: &mut Vec<u8>, n: i64) {
    // Writing an integer into a `Vec` cannot fail.
    let _ = serde_json::to_writer(&mut *out, &n);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn needs_escape_finds_every_escaped_byte_at_every_position() {
        let naive = |s: &[u8]| s.iter().any(|&b| b < 0x20 || b == b'"' || b == b'\\');
        for len in [0, 1, 7, 8, 9, 16, 23] {
            for at in 0..len {
                for byte in 0..=255u8 {
                    let mut s = vec![b'a'; len];
                    s[at] = byte;
                    // Neighbours that sit right next to the thresholds.
                    if at + 1 < len {
                        s[at + 1] = 0x20;
                    }
                    if at > 0 {
                        s[at - 1] = 0xff;
                    }
                    assert_eq!(needs_escape(&s), naive(&s), "{s:?}");
                }
            }
        }
    }
}
