//! The fast path of [`crate::admission::decode`]: one hand-written pass over the body that
//! validates it and fills the [`PodView`] the mutation reads, borrowing its strings from the
//! body, without serde's per-token dispatch and without building the pod as JSON values.
//!
//! It only ever answers when it is sure: for a well-formed AdmissionReview it fully understands
//! it returns the request, which is exactly what serde's whole decode
//! ([`crate::admission::decode_whole`]) gives; for anything else it returns `None` and the
//! serde path gives the answer, error message included. "Anything else" is bad JSON, a
//! rejected review, and legal but rare forms: escaped object keys, escaped envelope strings,
//! number exponents, lone surrogate escapes, very deep nesting, a repeated envelope field,
//! serde_json's raw-value marker key, a review sent as a JSON array, and any pod field the
//! mutation reads holding a JSON type the API server never sends there (a number as a
//! container name, a string as the env list, ...). So it cannot change what the server
//! answers; `tests/fast_decode.rs` checks this on every fixture and on thousands of corrupted
//! bodies.
//!
//! Pod fields are read as `serde_json::Map` reads them: a repeated key's last value wins.

use std::borrow::Cow;

use irsa_mutate::POD_IDENTITY_LABEL;
use irsa_mutate::view::{
    Annotations, Container, Field, Metadata, Mount, PodView, Spec, insert_annotation,
    keeps_annotation,
};

use crate::admission::{Envelope, PodRequest};

/// serde_json's `Value` reads an object whose *first* key is this private marker as the JSON
/// text held in that key's string value; such bodies are left to serde.
const RAW_VALUE_TOKEN: &str = "$serde_json::private::RawValue";

/// Deepest nesting handled here; serde_json's limit is 128, deeper bodies go to the serde path
/// so that it can refuse them.
const MAX_DEPTH: usize = 100;

/// Longest number handled here: a decimal without exponent this short always fits an `f64`
/// (serde_json refuses only numbers out of `f64` range).
const MAX_NUMBER: usize = 300;

/// Decodes `body` as [`crate::admission::decode`] would, or `None` when not sure.
pub(crate) fn review<'a>(body: &'a [u8]) -> Option<PodRequest<'a>> {
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
    let text = |s: Option<&'a [u8]>| std::str::from_utf8(s.unwrap_or_default()).ok();
    let envelope = Envelope::echo(text(api_version)?, text(kind)?);
    let namespace = match namespace.flatten() {
        Some(n) => Some(Cow::Borrowed(text(Some(n))?)),
        None => None,
    };
    Some(PodRequest::new(
        envelope,
        Cow::Borrowed(text(uid)?),
        namespace,
        pod?,
    ))
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

/// `request`: uid, namespace, the pod.
type Request<'a> = (
    Option<&'a [u8]>,
    Option<Option<&'a [u8]>>,
    Option<PodView<'a>>,
);

/// A JSON string as it appears in the body.
struct Str<'a> {
    /// The bytes between the quotes (valid UTF-8), escapes not decoded.
    raw: &'a [u8],
    /// Whether it has escapes (then `raw` is not the value).
    escaped: bool,
}

/// The length of the leading run of `s` that needs no attention inside a string: no quote,
/// backslash, control character or non-ASCII byte. Eight bytes at a time.
fn plain_run(s: &[u8]) -> usize {
    let mut n = 0;
    for chunk in s.chunks_exact(8) {
        let Ok(word) = <[u8; 8]>::try_from(chunk) else {
            break;
        };
        if let Some(at) = first_special(word) {
            return n + at;
        }
        n += 8;
    }
    n + s[n..]
        .iter()
        .position(|&c| !is_plain(c))
        .unwrap_or(s.len() - n)
}

/// Whether `s` holds only bytes that need no attention inside a JSON string (ASCII from the
/// space up, no quote or backslash): serde_json writes such a string as is.
pub(crate) fn is_plain_text(s: &[u8]) -> bool {
    plain_run(s) == s.len()
}

/// The position of the first byte of `word` that needs attention inside a string (as
/// [`is_plain`]), found for all eight bytes at once.
#[inline(always)]
fn first_special(word: [u8; 8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // High bit of each byte of `v` that is zero (exact for the lowest such byte).
    let zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
    let x = u64::from_le_bytes(word);
    let special = zero(x ^ (ONES * u64::from(b'"')))
        | zero(x ^ (ONES * u64::from(b'\\')))
        | (x.wrapping_sub(ONES * 0x20) & !x & HIGH)
        | (x & HIGH);
    (special != 0).then(|| (special.trailing_zeros() / 8) as usize)
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
    // The short-string case inlined into each caller, the rest out of line.
    #[inline(always)]
    fn string(&mut self) -> Option<Str<'a>> {
        self.eat(b'"')?;
        let start = self.i;
        // Most strings are short and plain: the closing quote within the next eight bytes.
        if let Some(word) = self.b.get(start..start + 8)
            && let Ok(word) = <[u8; 8]>::try_from(word)
            && let Some(at) = first_special(word)
            && word[at] == b'"'
        {
            self.i = start + at + 1;
            return Some(Str {
                raw: &self.b[start..start + at],
                escaped: false,
            });
        }
        self.string_rest(start)
    }

    /// [`Scan::string`] from `start` (just after the opening quote), byte by byte where needed.
    #[inline(never)]
    fn string_rest(&mut self, start: usize) -> Option<Str<'a>> {
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
    fn delimited(
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
        self.delimited(depth, *b"{}", |scan| {
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
        self.delimited(depth, *b"[]", item)
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
                once(&mut pod, scan.pod(2)?)
            }
            _ => scan.skip(2),
        })?;
        Some((uid, namespace, pod))
    }

    /// A string, unescaped (borrowed from the body when it has no escapes).
    fn text(&mut self) -> Option<Cow<'a, str>> {
        self.ws();
        let start = self.i;
        let s = self.string()?;
        if s.escaped {
            serde_json::from_slice(&self.b[start..self.i])
                .ok()
                .map(Cow::Owned)
        } else {
            std::str::from_utf8(s.raw).ok().map(Cow::Borrowed)
        }
    }

    /// A string or `null` (the view's "when a string" fields; other types are left to serde).
    fn opt_text(&mut self) -> Option<Option<Cow<'a, str>>> {
        Some(match self.field(Self::text)? {
            Field::Present(text) => Some(text),
            _ => None,
        })
    }

    /// A field that may be `null` ([`Field::Absent`]), else what `read` reads.
    fn field<T>(&mut self, read: impl FnOnce(&mut Self) -> Option<T>) -> Option<Field<T>> {
        self.ws();
        if self.peek()? == b'n' {
            self.literal(b"null")?;
            return Some(Field::Absent);
        }
        read(self).map(Field::Present)
    }

    /// The members of an object at nesting `depth`: `member` reads the value of the keys it
    /// knows and returns `None` for the others, which are skipped.
    fn members(
        &mut self,
        depth: usize,
        mut member: impl FnMut(&mut Self, &'a [u8]) -> Option<Option<()>>,
    ) -> Option<()> {
        self.object(depth, |scan, key| match member(scan, key) {
            Some(read) => read,
            None => scan.skip(depth + 1),
        })
    }

    /// The pod (`request.object`).
    fn pod(&mut self, depth: usize) -> Option<PodView<'a>> {
        let mut pod = PodView::default();
        let d = depth + 1;
        self.members(depth, |scan, key| {
            Some(match key {
                b"metadata" => scan.field(|s| s.metadata(d)).map(|m| pod.metadata = m),
                b"spec" => scan.field(|s| s.spec(d)).map(|s| {
                    pod.spec = match s {
                        Field::Present(spec) => Some(spec),
                        _ => None,
                    }
                }),
                _ => return None,
            })
        })?;
        Some(pod)
    }

    fn metadata(&mut self, depth: usize) -> Option<Metadata<'a>> {
        let mut m = Metadata::default();
        let d = depth + 1;
        self.members(depth, |scan, key| {
            Some(match key {
                b"namespace" => scan.opt_text().map(|n| m.namespace = n),
                b"annotations" => scan.field(|s| s.annotations(d)).map(|a| m.annotations = a),
                b"labels" => scan.field(|s| s.labels(d)).map(|l| m.labels = l),
                _ => return None,
            })
        })?;
        Some(m)
    }

    /// The annotations the mutation may read (string values only).
    fn annotations(&mut self, depth: usize) -> Option<Annotations<'a>> {
        let mut list = Vec::new();
        self.members(depth, |scan, key| {
            let key = std::str::from_utf8(key)
                .ok()
                .filter(|k| keeps_annotation(k))?;
            Some(scan.text().map(|value| {
                insert_annotation(&mut list, Cow::Borrowed(key), Some(value));
            }))
        })?;
        Some(list)
    }

    /// Whether the labels hold the pod-identity label `= "enabled"` (string values only).
    fn labels(&mut self, depth: usize) -> Option<bool> {
        let mut enabled = false;
        self.members(depth, |scan, key| {
            (key == POD_IDENTITY_LABEL.as_bytes())
                .then(|| scan.text().map(|v| enabled = v == "enabled"))
        })?;
        Some(enabled)
    }

    fn spec(&mut self, depth: usize) -> Option<Spec<'a>> {
        let mut spec = Spec::default();
        let d = depth + 1;
        self.members(depth, |scan, key| {
            Some(match key {
                b"serviceAccountName" => scan.opt_text().map(|n| spec.service_account_name = n),
                b"volumes" => scan.field(|s| s.names(d)).map(|v| spec.volumes = v),
                b"securityContext" => scan
                    .field(|s| s.fs_group_set(d))
                    .map(|sc| spec.security_context = sc),
                b"nodeSelector" => scan
                    .field(|s| s.windows(d))
                    .map(|w| spec.windows = w == Field::Present(true)),
                b"containers" => scan.field(|s| s.containers(d)).map(|c| spec.containers = c),
                b"initContainers" => scan
                    .field(|s| s.containers(d))
                    .map(|c| spec.init_containers = c),
                _ => return None,
            })
        })?;
        Some(spec)
    }

    /// Whether a securityContext sets `fsGroup` (present, not `null`).
    fn fs_group_set(&mut self, depth: usize) -> Option<bool> {
        let mut set = false;
        self.members(depth, |scan, key| {
            (key == b"fsGroup").then(|| {
                scan.field(|s| s.skip(depth + 1))
                    .map(|f| set = f == Field::Present(()))
            })
        })?;
        Some(set)
    }

    /// Whether a nodeSelector asks for Windows nodes.
    fn windows(&mut self, depth: usize) -> Option<bool> {
        let (mut os, mut beta) = (false, false);
        let is_windows = |v: Option<Cow<'_, str>>| v.is_some_and(|v| v == "windows");
        self.members(depth, |scan, key| {
            Some(match key {
                b"kubernetes.io/os" => scan.opt_text().map(|v| os = is_windows(v)),
                b"beta.kubernetes.io/os" => scan.opt_text().map(|v| beta = is_windows(v)),
                _ => return None,
            })
        })?;
        Some(os || beta)
    }

    /// The string names of an array of objects (volumes, env).
    fn names(&mut self, depth: usize) -> Option<Vec<Cow<'a, str>>> {
        let mut names = Vec::new();
        self.array(depth, |scan| {
            let mut name = None;
            scan.members(depth + 1, |scan, key| {
                (key == b"name").then(|| scan.opt_text().map(|n| name = n))
            })?;
            names.extend(name);
            Some(())
        })?;
        Some(names)
    }

    fn containers(&mut self, depth: usize) -> Option<Vec<Option<Container<'a>>>> {
        let mut list = Vec::new();
        self.array(depth, |scan| {
            list.push(Some(scan.container(depth + 1)?));
            Some(())
        })?;
        Some(list)
    }

    fn container(&mut self, depth: usize) -> Option<Container<'a>> {
        let mut c = Container::default();
        let d = depth + 1;
        self.members(depth, |scan, key| {
            Some(match key {
                b"name" => scan.opt_text().map(|n| c.name = n),
                b"env" => scan.field(|s| s.names(d)).map(|e| c.env = e),
                b"volumeMounts" => scan.field(|s| s.mounts(d)).map(|m| c.volume_mounts = m),
                _ => return None,
            })
        })?;
        Some(c)
    }

    fn mounts(&mut self, depth: usize) -> Option<Vec<Mount<'a>>> {
        let mut list = Vec::new();
        self.array(depth, |scan| {
            let mut m = Mount::default();
            scan.members(depth + 1, |scan, key| {
                Some(match key {
                    b"name" => scan.opt_text().map(|n| m.name = n),
                    b"mountPath" => scan.opt_text().map(|p| m.mount_path = p),
                    _ => return None,
                })
            })?;
            list.push(m);
            Some(())
        })?;
        Some(list)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admission;

    fn same(body: &str) {
        let fast = review(body.as_bytes()).unwrap_or_else(|| panic!("not decoded: {body}"));
        let slow = admission::decode_whole(body.as_bytes()).unwrap();
        assert_eq!(fast, slow.view(), "{body}");
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
            "securityContext":{"fsGroup":-1.5},"volumes":[{"name":"v"},{"name":null},{}],
            "nodeSelector":{"kubernetes.io/os":"linux","beta.kubernetes.io/os":"windows"}},
            "status":{"n":[true,false,null,0,-0,12.25,"é"]}}}} "#,
        );
        // Repeated keys: the last value wins, as in serde_json's map.
        same(
            r#"{"request":{"object":{"metadata":{"annotations":{"a/fs-group":"1","b/fs-group":"2",
            "a/fs-group":"3"},"labels":{"eks.amazonaws.com/pod-identity":"enabled",
            "eks.amazonaws.com/pod-identity":"no"}},"spec":{"nodeSelector":{"kubernetes.io/os":
            "windows","kubernetes.io/os":"linux"},"securityContext":{"fsGroup":1,"fsGroup":null},
            "containers":[{"name":"a","name":"b","env":[{"name":"X","name":null}],"env":null}]},
            "spec":{"containers":[{"name":"c","volumeMounts":[{"mountPath":"/a","name":"m",
            "mountPath":null}]}]}}}}"#,
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
            // Types the API server never sends where the mutation reads.
            r#"{"request":{"object":{"spec":{"volumes":"odd"}}}}"#,
            r#"{"request":{"object":{"spec":{"nodeSelector":[1,2]}}}}"#,
            r#"{"request":{"object":{"spec":{"containers":[{"name":1}]}}}}"#,
            r#"{"request":{"object":{"spec":{"containers":["c"]}}}}"#,
            r#"{"request":{"object":{"metadata":{"annotations":{"a/fs-group":1}}}}}"#,
            r#"{"request":{"object":{"metadata":{"labels":{"eks.amazonaws.com/pod-identity":true}}}}}"#,
            r#"{"request":{"object":{"metadata":"m"}}}"#,
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
