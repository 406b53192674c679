//! The fast path of [`crate::admission::decode_pruned`]: one hand-written pass over the body
//! that validates it and builds the pruned pod, without serde's per-token dispatch.
//!
//! It only ever answers when it is sure: for a well-formed AdmissionReview it fully understands
//! it returns the request, which is exactly what the serde path would return; for anything else
//! (bad JSON, a rejected review, and a few legal but rare forms: escaped object keys, escaped
//! envelope strings, number exponents, lone surrogate escapes, very deep nesting, a repeated
//! envelope field, serde_json's raw-value marker key, a review sent as a JSON array) it returns
//! `None` and the serde path gives the answer, error message included. So it cannot change what
//! the server answers; `tests/fast_decode.rs` checks this on every fixture and on thousands of
//! corrupted bodies.

use serde_json::{Map, Value};

use super::{POD, RAW_VALUE_TOKEN, Shape};
use crate::admission::{Envelope, PodRequest};

/// Deepest nesting handled here; serde_json's limit is 128, deeper bodies go to the serde path
/// so that it can refuse them.
const MAX_DEPTH: usize = 100;

/// Longest number handled here: a decimal without exponent this short always fits an `f64`
/// (serde_json refuses only numbers out of `f64` range).
const MAX_NUMBER: usize = 300;

/// Decodes `body` as [`crate::admission::decode_pruned`] would, or `None` when not sure.
pub(crate) fn review(body: &[u8]) -> Option<PodRequest> {
    let mut scan = Scan { b: body, i: 0 };
    let (mut api_version, mut kind, mut request) = (None, None, None);
    scan.object(0, |scan, key| match key {
        b"apiVersion" => once(&mut api_version, scan.plain_string()?),
        b"kind" => once(&mut kind, scan.plain_string()?),
        b"request" => once(&mut request, scan.request()?),
        _ => scan.skip(1),
    })?;
    scan.ws();
    if scan.i != body.len() {
        return None;
    }
    let (uid, namespace, pod) = request?;
    let text = |s: Option<&[u8]>| owned(s.unwrap_or_default());
    let envelope = Envelope::echo(text(api_version)?, text(kind)?);
    let namespace = match namespace.flatten() {
        Some(n) => Some(owned(n)?),
        None => None,
    };
    Some(PodRequest::new(envelope, text(uid)?, namespace, pod?))
}

/// Sets a field seen for the first time; a repeated one is serde's "duplicate field" error.
fn once<T>(slot: &mut Option<T>, value: T) -> Option<()> {
    match slot {
        Some(_) => None,
        None => {
            *slot = Some(value);
            Some(())
        }
    }
}

/// `request`: uid, namespace, the pruned pod.
type Request<'a> = (Option<&'a [u8]>, Option<Option<&'a [u8]>>, Option<Value>);

/// A JSON string as it appears in the body.
struct Str<'a> {
    /// The bytes between the quotes (valid UTF-8), escapes not decoded.
    raw: &'a [u8],
    /// Whether it has escapes (then `raw` is not the value).
    escaped: bool,
}

/// `bytes` as a `String` (they were checked as UTF-8 already; this checks again, cheaply, as
/// only the few strings that are kept go through it).
fn owned(bytes: &[u8]) -> Option<String> {
    String::from_utf8(bytes.to_vec()).ok()
}

/// The length of the leading run of `s` that needs no attention inside a string: no quote,
/// backslash, control character or non-ASCII byte. Eight bytes at a time.
fn plain_run(s: &[u8]) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // High bit of each byte of `v` that is zero (exact for the lowest such byte).
    let zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
    let mut n = 0;
    for chunk in s.chunks_exact(8) {
        let Ok(word) = <[u8; 8]>::try_from(chunk) else {
            break;
        };
        let x = u64::from_le_bytes(word);
        let special = zero(x ^ (ONES * u64::from(b'"')))
            | zero(x ^ (ONES * u64::from(b'\\')))
            | (x.wrapping_sub(ONES * 0x20) & !x & HIGH)
            | (x & HIGH);
        if special != 0 {
            return n + (special.trailing_zeros() / 8) as usize;
        }
        n += 8;
    }
    n + s[n..]
        .iter()
        .position(|&c| !is_plain(c))
        .unwrap_or(s.len() - n)
}

/// Whether a byte inside a string needs no attention.
fn is_plain(c: u8) -> bool {
    (0x20..0x80).contains(&c) && c != b'"' && c != b'\\'
}

struct Scan<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Scan<'a> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    /// Skips JSON whitespace.
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.i += 1;
        }
    }

    /// Skips whitespace, then expects `c`.
    fn eat(&mut self, c: u8) -> Option<()> {
        self.ws();
        (self.peek()? == c).then(|| self.i += 1)
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        self.b[self.i..]
            .starts_with(word)
            .then(|| self.i += word.len())
    }

    /// A string: checked as serde_json checks it (UTF-8, no control characters, valid
    /// escapes), except that `\u` escapes of surrogates are left to the serde path.
    fn string(&mut self) -> Option<Str<'a>> {
        self.eat(b'"')?;
        let start = self.i;
        let (mut escaped, mut ascii) = (false, true);
        loop {
            self.i += plain_run(&self.b[self.i..]);
            match *self.b.get(self.i)? {
                b'"' => break,
                b'\\' => {
                    escaped = true;
                    match *self.b.get(self.i + 1)? {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => self.i += 2,
                        b'u' => {
                            let hex = self.b.get(self.i + 2..self.i + 6)?;
                            let unit = hex
                                .iter()
                                .try_fold(0u32, |n, &h| Some(n << 4 | (h as char).to_digit(16)?))?;
                            if (0xD800..=0xDFFF).contains(&unit) {
                                return None;
                            }
                            self.i += 6;
                        }
                        _ => return None,
                    }
                }
                0..=0x1f => return None,
                _ => {
                    ascii = false;
                    self.i += 1;
                }
            }
        }
        let raw = &self.b[start..self.i];
        if !ascii {
            std::str::from_utf8(raw).ok()?;
        }
        self.i += 1;
        Some(Str { raw, escaped })
    }

    /// A string without escapes.
    fn plain_string(&mut self) -> Option<&'a [u8]> {
        let s = self.string()?;
        (!s.escaped).then_some(s.raw)
    }

    /// A number without exponent, no longer than [`MAX_NUMBER`].
    fn number(&mut self) -> Option<()> {
        let start = self.i;
        let digits = |scan: &mut Self| {
            let from = scan.i;
            while let Some(b'0'..=b'9') = scan.peek() {
                scan.i += 1;
            }
            scan.i > from
        };
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek()? {
            b'0' => self.i += 1,
            b'1'..=b'9' => {
                digits(self);
            }
            _ => return None,
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            if !digits(self) {
                return None;
            }
        }
        let plain = !matches!(self.peek(), Some(b'e' | b'E'));
        (plain && self.i - start <= MAX_NUMBER).then_some(())
    }

    /// Skips one value at nesting `depth`, checking it.
    fn skip(&mut self, depth: usize) -> Option<()> {
        self.ws();
        match self.peek()? {
            b'"' => self.string().map(drop),
            b'{' => self.object(depth, |scan, _| scan.skip(depth + 1)),
            b'[' => self.array(depth, |scan| scan.skip(depth + 1)),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    /// A container (`{`..`}` or `[`..`]`) at nesting `depth`: `each` reads one member or item.
    // Inlined into each caller, as its loop was written out in each before.
    #[inline(always)]
    fn container(
        &mut self,
        depth: usize,
        [open, close]: [u8; 2],
        mut each: impl FnMut(&mut Self) -> Option<()>,
    ) -> Option<()> {
        if depth >= MAX_DEPTH {
            return None;
        }
        self.eat(open)?;
        self.ws();
        if self.peek()? == close {
            self.i += 1;
            return Some(());
        }
        loop {
            each(self)?;
            self.ws();
            let c = self.peek()?;
            self.i += 1;
            match c {
                b',' => {}
                c if c == close => return Some(()),
                _ => return None,
            }
        }
    }

    /// An object at nesting `depth`: `member` reads each value (the cursor is after the colon).
    fn object(
        &mut self,
        depth: usize,
        mut member: impl FnMut(&mut Self, &'a [u8]) -> Option<()>,
    ) -> Option<()> {
        self.container(depth, *b"{}", |scan| {
            let key = scan.plain_string()?;
            if key == RAW_VALUE_TOKEN.as_bytes() {
                return None;
            }
            scan.eat(b':')?;
            member(scan, key)
        })
    }

    /// An array at nesting `depth`: `item` reads each item.
    fn array(&mut self, depth: usize, item: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        self.container(depth, *b"[]", item)
    }

    /// `request`: an object whose `object` is an object (anything else is a rejection, left
    /// to the serde path).
    fn request(&mut self) -> Option<Request<'a>> {
        let (mut uid, mut namespace, mut pod) = (None, None, None);
        self.object(1, |scan, key| match key {
            b"uid" => once(&mut uid, scan.plain_string()?),
            b"namespace" => {
                scan.ws();
                let value = match scan.peek()? {
                    b'n' => scan.literal(b"null").map(|()| None)?,
                    _ => Some(scan.plain_string()?),
                };
                once(&mut namespace, value)
            }
            b"object" => {
                scan.ws();
                if scan.peek()? != b'{' {
                    return None;
                }
                once(&mut pod, scan.pruned(&POD, 2)?)
            }
            _ => scan.skip(2),
        })?;
        Some((uid, namespace, pod))
    }

    /// A value of `shape` at nesting `depth`, pruned as [`super::Pruned`] prunes it.
    fn pruned(&mut self, shape: &'static Shape, depth: usize) -> Option<Value> {
        self.ws();
        let start = self.i;
        match (shape, self.peek()?) {
            (Shape::Object(_) | Shape::Annotations, b'{') => {
                // Room for every key the shape keeps, so the map never grows.
                let mut out = Map::with_capacity(shape.keys());
                self.object(depth, |scan, key| match shape.child(key) {
                    Some(child) => {
                        let value = scan.pruned(child, depth + 1)?;
                        out.insert(owned(key)?, value);
                        Some(())
                    }
                    None => scan.skip(depth + 1),
                })?;
                Some(Value::Object(out))
            }
            (Shape::Array(item), b'[') => {
                let mut items = Vec::new();
                self.array(depth, |scan| {
                    items.push(scan.pruned(item, depth + 1)?);
                    Some(())
                })?;
                Some(Value::Array(items))
            }
            (Shape::Full, b'"') => {
                let s = self.string()?;
                if s.escaped {
                    serde_json::from_slice(&self.b[start..self.i]).ok()
                } else {
                    owned(s.raw).map(Value::String)
                }
            }
            // Kept whole (a `Full` value, or not the JSON type the shape expects): checked
            // here, built by serde_json as the serde path builds it.
            _ => {
                self.skip(depth)?;
                serde_json::from_slice(&self.b[start..self.i]).ok()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admission;

    fn same(body: &str) {
        let fast = review(body.as_bytes()).unwrap_or_else(|| panic!("not decoded: {body}"));
        let slow = admission::decode_pruned_serde(body.as_bytes()).unwrap();
        assert_eq!(fast, slow, "{body}");
        assert_eq!(fast.pod.to_string(), slow.pod.to_string(), "{body}");
    }

    fn undecided(body: &str) {
        assert_eq!(review(body.as_bytes()), None, "{body}");
    }

    #[test]
    fn decodes_what_it_understands_exactly_as_serde() {
        same(r#"{"request":{"uid":"u","object":{}}}"#);
        same(
            r#" { "apiVersion" : "admission.k8s.io/v1beta1" , "kind":"AdmissionReview",
            "request":{"uid":"u","namespace":null,"object":{"metadata":{"namespace":"ns",
            "annotations":{"a/token-expiration":"3600","other":"x\"y\u00e9"},"labels":null},
            "spec":{"serviceAccountName":"s\u0041","containers":[{"name":"c","env":[
            {"name":"A","value":"1"}],"image":"i","ports":[{"containerPort":80}]}],
            "securityContext":{"fsGroup":-1.5},"volumes":"odd","nodeSelector":[1,2]},
            "status":{"n":[true,false,null,0,-0,12.25,"é"]}}}} "#,
        );
    }

    #[test]
    fn leaves_bad_and_rare_bodies_to_serde() {
        for body in [
            "",
            "[]",
            "{}",
            r#"{"request":null}"#,
            r#"{"request":{"object":null}}"#,
            r#"{"request":{"object":{}}} x"#,
            r#"{"request":{"object":{}},}"#,
            r#"{"kind":"a","kind":"b","request":{"object":{}}}"#,
            r#"{"request":{"uid":"\u0075","object":{}}}"#,
            r#"{"request":{"object":{"a":1e5}}}"#,
            r#"{"request":{"object":{"a":01}}}"#,
            r#"{"request":{"object":{"a":"\ud800"}}}"#,
            r#"{"request":{"object":{"a":"tab	"}}}"#,
            r#"{"request":{"object":{"a":"\x"}}}"#,
            r#"{"request":{"object":{"\u0061":1}}}"#,
            r#"{"request":{"object":{"a":{"$serde_json::private::RawValue":"1"}}}}"#,
        ] {
            undecided(body);
        }
        let deep = format!(
            r#"{{"request":{{"object":{{"a":{}{}}}}}}}"#,
            "[".repeat(120),
            "]".repeat(120)
        );
        undecided(&deep);
        undecided(&format!(
            r#"{{"request":{{"object":{{"a":{}}}}}}}"#,
            "9".repeat(400)
        ));
    }

    #[test]
    fn plain_run_stops_where_a_byte_by_byte_scan_stops() {
        let mut x: u32 = 12345;
        for len in 0..40 {
            for _ in 0..200 {
                let s: Vec<u8> = (0..len)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 17;
                        x ^= x << 5;
                        // Mostly plain text, sometimes a byte that needs attention.
                        match x % 16 {
                            0 => [b'"', b'\\', 0x1f, 0x00, 0x80, 0xff, 0x7f, b' ']
                                [(x >> 8) as usize % 8],
                            _ => b'a' + (x >> 8) as u8 % 26,
                        }
                    })
                    .collect();
                let expected = s.iter().position(|&c| !is_plain(c)).unwrap_or(s.len());
                assert_eq!(plain_run(&s), expected, "{s:?}");
            }
        }
    }

    #[test]
    fn invalid_utf8_is_left_to_serde() {
        let mut body = br#"{"request":{"object":{"a":"xx"}}}"#.to_vec();
        let at = body.iter().position(|&b| b == b'x').unwrap_or(0);
        body[at] = 0xff;
        assert_eq!(review(&body), None);
    }
}
