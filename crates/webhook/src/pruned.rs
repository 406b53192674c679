//! A pruned decode of the admitted Pod: only the fields `irsa-mutate` reads are built into the
//! `serde_json::Value`; everything else is parsed (validated exactly as a full decode would) and
//! dropped without allocating.
//!
//! Building the whole pod as a `Value` (an `IndexMap` and an allocation per key and string,
//! because the workspace enables serde_json's `preserve_order`) was the largest single cost of
//! a `/mutate` request. The pruned pod is safe to mutate because the mutation is surgical: its
//! patch only adds new values at specific paths and never writes back any part of the pod it
//! read (`tests/pruned_decode.rs` checks that the patch and warnings are identical to those of
//! the full pod for every fixture). The pruned pod must never be serialised or returned: use
//! [`crate::admission::decode`] when the whole pod is needed.
//!
//! Two decoders build the same pruned pod: [`scan`], a hand-written single pass that handles
//! the usual bodies and declines anything else, and the serde path below ([`Pruned`]), which
//! decodes what the scanner declines and writes every error message.
//!
//! Exactness rules, so that the mutation cannot tell the difference:
//! * objects on a kept path keep only the listed keys (in their original order, a repeated key
//!   overwriting the earlier value in place, as `serde_json::Map` does);
//! * a value whose JSON type is not the one the shape expects (a string where an object is
//!   expected, ...) is kept whole, so the mutation reports the same error;
//! * skipped values go through the same parser entry points as a full decode (strings are
//!   UTF-8 checked, numbers range checked, nesting counted against serde_json's recursion
//!   limit), so a body is accepted or rejected, with the same message, exactly as before.

pub(crate) mod scan;

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// What to keep of a value.
#[derive(Debug)]
enum Shape {
    /// The whole value.
    Full,
    /// An object: only these keys, each with its shape.
    Object(&'static [(&'static str, Shape)]),
    /// An array: every item, each with this shape.
    Array(&'static Shape),
    /// The pod annotations: only the keys that can be `<prefix>/<name>` for a pod annotation
    /// the mutation reads (whatever the prefix).
    Annotations,
}

/// The pod annotations (`<prefix>/<name>`) the mutation reads.
const POD_ANNOTATIONS: [&str; 3] = ["token-expiration", "fs-group", "skip-containers"];

/// The label the container-credentials mode sets (and checks).
const POD_IDENTITY_LABEL: &str = irsa_mutate::POD_IDENTITY_LABEL;

static NAMED: Shape = Shape::Object(&[("name", Shape::Full)]);
static MOUNT: Shape = Shape::Object(&[("name", Shape::Full), ("mountPath", Shape::Full)]);
static CONTAINER: Shape = Shape::Object(&[
    ("name", Shape::Full),
    ("env", Shape::Array(&NAMED)),
    ("volumeMounts", Shape::Array(&MOUNT)),
]);
static POD: Shape = Shape::Object(&[
    (
        "metadata",
        Shape::Object(&[
            ("namespace", Shape::Full),
            ("annotations", Shape::Annotations),
            (
                "labels",
                Shape::Object(&[(POD_IDENTITY_LABEL, Shape::Full)]),
            ),
        ]),
    ),
    (
        "spec",
        Shape::Object(&[
            ("serviceAccountName", Shape::Full),
            ("volumes", Shape::Array(&NAMED)),
            (
                "securityContext",
                Shape::Object(&[("fsGroup", Shape::Full)]),
            ),
            (
                "nodeSelector",
                Shape::Object(&[
                    ("kubernetes.io/os", Shape::Full),
                    ("beta.kubernetes.io/os", Shape::Full),
                ]),
            ),
            ("containers", Shape::Array(&CONTAINER)),
            ("initContainers", Shape::Array(&CONTAINER)),
        ]),
    ),
]);

impl Shape {
    /// How many keys an object of this shape keeps at most (without repeated keys).
    fn keys(&self) -> usize {
        match self {
            Shape::Object(fields) => fields.len(),
            Shape::Annotations => POD_ANNOTATIONS.len(),
            Shape::Full | Shape::Array(_) => 0,
        }
    }

    /// The shape of `key` inside an object of this shape, `None` when the key is dropped.
    fn child(&self, key: &[u8]) -> Option<&'static Shape> {
        match self {
            Shape::Object(fields) => fields
                .iter()
                .find(|(k, _)| k.as_bytes() == key)
                .map(|(_, s)| s),
            Shape::Annotations => POD_ANNOTATIONS
                .iter()
                .any(|name| {
                    key.strip_suffix(name.as_bytes())
                        .is_some_and(|prefix| prefix.ends_with(b"/"))
                })
                .then_some(&Shape::Full),
            Shape::Full | Shape::Array(_) => None,
        }
    }
}

/// The pruned pod: deserialize it (e.g. as a struct field) from the JSON of a Pod.
#[derive(Debug, Clone, PartialEq)]
pub struct PrunedPod(pub Value);

impl<'de> Deserialize<'de> for PrunedPod {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Pruned(&POD).deserialize(deserializer).map(PrunedPod)
    }
}

/// Parses `json` (a Pod) keeping only what the mutation reads.
pub fn from_slice(json: &[u8]) -> serde_json::Result<Value> {
    serde_json::from_slice::<PrunedPod>(json).map(|p| p.0)
}

/// Deserializes one value with a shape.
#[derive(Clone, Copy)]
struct Pruned(&'static Shape);

impl<'de> DeserializeSeed<'de> for Pruned {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        match self.0 {
            Shape::Full => Value::deserialize(deserializer),
            shape => deserializer.deserialize_any(PrunedVisitor(shape)),
        }
    }
}

struct PrunedVisitor(&'static Shape);

impl<'de> Visitor<'de> for PrunedVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any valid JSON value")
    }

    // Scalars are kept whole, built as serde_json's own `Value` visitor builds them.
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        Pruned(self.0).deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let Shape::Array(item) = self.0 else {
            // Not the expected type: kept whole, so the mutation sees (and reports) it as is.
            return Value::deserialize(SeqAccessDeserializer::new(seq));
        };
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(v) = seq.next_element_seed(Pruned(item))? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        if let Shape::Array(_) = self.0 {
            return Value::deserialize(MapAccessDeserializer::new(map));
        }
        let mut out = Map::new();
        let mut first = true;
        while let Some(Key(key)) = map.next_key()? {
            if std::mem::take(&mut first) && key == RAW_VALUE_TOKEN {
                return raw_value(&mut map);
            }
            match self.0.child(key.as_bytes()) {
                Some(shape) => {
                    let value = map.next_value_seed(Pruned(shape))?;
                    out.insert(key.into_owned(), value);
                }
                None => {
                    map.next_value::<Skip>()?;
                }
            }
        }
        Ok(Value::Object(out))
    }
}

/// An object key, borrowed from the input when it has no escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// A value parsed and dropped. Unlike `serde::de::IgnoredAny` (serde_json's fast skip, which
/// neither checks UTF-8 nor number ranges nor nesting depth) it goes through `deserialize_any`
/// like a full decode, so exactly the same bodies are rejected; it allocates nothing.
struct Skip;

impl<'de> Deserialize<'de> for Skip {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(SkipVisitor)
    }
}

struct SkipVisitor;

impl<'de> Visitor<'de> for SkipVisitor {
    type Value = Skip;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any valid JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Skip, E> {
        Ok(Skip)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Skip, E> {
        Ok(Skip)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Skip, E> {
        Ok(Skip)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Skip, E> {
        Ok(Skip)
    }

    fn visit_str<E>(self, _: &str) -> Result<Skip, E> {
        Ok(Skip)
    }

    fn visit_none<E>(self) -> Result<Skip, E> {
        Ok(Skip)
    }

    fn visit_unit<E>(self) -> Result<Skip, E> {
        Ok(Skip)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Skip, D::Error> {
        Skip::deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Skip, A::Error> {
        while seq.next_element::<Skip>()?.is_some() {}
        Ok(Skip)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Skip, A::Error> {
        match map.next_key::<Key<'de>>()? {
            None => return Ok(Skip),
            Some(Key(key)) if key == RAW_VALUE_TOKEN => return raw_value(&mut map).map(|_| Skip),
            Some(_) => map.next_value::<Skip>()?,
        };
        while map.next_key::<Skip>()?.is_some() {
            map.next_value::<Skip>()?;
        }
        Ok(Skip)
    }
}

/// serde_json's own `Value` reads an object whose *first* key is its private raw-value marker as
/// the JSON text held in that key's string value (and stops there). A full decode does that
/// anywhere in the pod, so the pruned decode does too, to accept and reject the same bodies.
const RAW_VALUE_TOKEN: &str = "$serde_json::private::RawValue";

/// The value after a [`RAW_VALUE_TOKEN`] key, read as serde_json's `Value` reads it.
fn raw_value<'de, A: MapAccess<'de>>(map: &mut A) -> Result<Value, A::Error> {
    struct RawText;
    impl<'de> DeserializeSeed<'de> for RawText {
        type Value = String;
        fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<String, D::Error> {
            deserializer.deserialize_str(self)
        }
    }
    impl Visitor<'_> for RawText {
        type Value = String;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("raw value")
        }
        fn visit_str<E>(self, v: &str) -> Result<String, E> {
            Ok(v.to_owned())
        }
        fn visit_string<E>(self, v: String) -> Result<String, E> {
            Ok(v)
        }
    }
    let text = map.next_value_seed(RawText)?;
    serde_json::from_str(&text).map_err(serde::de::Error::custom)
}
