//! The AWS Query protocol as STS and IAM speak it: form-encoded (or query-string)
//! parameters in, XML out.
//!
//! [`QueryRequest`] holds the parameters with typed getters (including the
//! `Name.member.N[.Field]` list encoding); [`AwsError`] is the error every handler
//! returns; [`xml`] writes the response envelopes.

mod error;
pub mod xml;

use std::collections::BTreeMap;

pub use error::{AwsError, ErrorKind, Violations, is_name_char};
pub use xml::{XmlWriter, error_response, success_response};

/// STS API version (`Version=2011-06-15`).
pub const STS_VERSION: &str = "2011-06-15";
/// IAM API version (`Version=2010-05-08`).
pub const IAM_VERSION: &str = "2010-05-08";

/// Which AWS service a request is addressed to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// AWS Security Token Service.
    Sts,
    /// AWS Identity and Access Management.
    Iam,
}

impl Service {
    /// The XML namespace of responses.
    pub fn namespace(self) -> &'static str {
        match self {
            Service::Sts => "https://sts.amazonaws.com/doc/2011-06-15/",
            Service::Iam => "https://iam.amazonaws.com/doc/2010-05-08/",
        }
    }

    /// The SigV4 service name of the credential scope.
    pub fn signing_name(self) -> &'static str {
        match self {
            Service::Sts => "sts",
            Service::Iam => "iam",
        }
    }

    /// The API version string.
    pub fn version(self) -> &'static str {
        match self {
            Service::Sts => STS_VERSION,
            Service::Iam => IAM_VERSION,
        }
    }
}

/// A parsed Query API request: `Action`, `Version` and every other parameter.
///
/// Parameters are kept in the order they came (body first, then query string); a lookup
/// finds the first occurrence of a name. Names and values that needed no decoding (no `%`
/// or `+`, valid UTF-8: an ARN, a token) are slices of one copy of the request text, not
/// strings of their own.
#[derive(Clone, Default)]
pub struct QueryRequest {
    /// The `Action` parameter.
    pub action: String,
    /// The `Version` parameter (empty when absent).
    pub version: String,
    /// The form body and query string, when valid UTF-8, one after the other.
    text: String,
    /// Every parameter except `Action` and `Version`, duplicates included.
    params: Vec<(Text, Text)>,
}

/// A parameter name or value.
#[derive(Debug, Clone)]
enum Text {
    /// `text[start..end]`.
    Span(usize, usize),
    /// Decoded from `%XX`/`+` escapes, or from input that is not UTF-8.
    Owned(String),
}

impl std::fmt::Debug for QueryRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Names only: values carry tokens and policies.
        f.debug_struct("QueryRequest")
            .field("action", &self.action)
            .field("version", &self.version)
            .field(
                "params",
                &self.unique_pairs().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl PartialEq for QueryRequest {
    /// Same action, version and parameters (first occurrence of each name).
    fn eq(&self, other: &QueryRequest) -> bool {
        fn params(r: &QueryRequest) -> BTreeMap<&str, &str> {
            r.unique_pairs().collect()
        }
        self.action == other.action
            && self.version == other.version
            && params(self) == params(other)
    }
}

impl Eq for QueryRequest {}

impl QueryRequest {
    /// Parses parameters from the URL query string and (for form posts) the body.
    /// Body parameters win over query parameters of the same name.
    pub fn parse(query: Option<&str>, form_body: Option<&[u8]>) -> Result<QueryRequest, AwsError> {
        let mut r = QueryRequest::default();
        let (mut action, mut version) = (None, None);
        for input in [form_body, query.map(str::as_bytes)].into_iter().flatten() {
            // Where `input` starts in `text`, when it is valid UTF-8 (then its pieces without
            // escapes are slices of it); otherwise every piece is decoded on its own.
            let base = std::str::from_utf8(input).ok().map(|s| {
                let base = r.text.len();
                r.text.push_str(s);
                base
            });
            let text = |piece: &[u8]| match base {
                Some(base) if !has_escapes(piece) => {
                    // `piece` is a sub-slice of `input`: its offset is the address difference.
                    let start = base + (piece.as_ptr() as usize - input.as_ptr() as usize);
                    Text::Span(start, start + piece.len())
                }
                _ => Text::Owned(form_decode(piece)),
            };
            for (name, value) in form_pair_slices(input) {
                let name = text(name);
                // `Action` and `Version` go to their fields, never into the list.
                let slot = match r.resolve(&name) {
                    "Action" => &mut action,
                    "Version" => &mut version,
                    _ => {
                        r.params.push((name, text(value)));
                        continue;
                    }
                };
                if slot.is_none() {
                    *slot = Some(r.resolve(&text(value)).to_owned());
                }
            }
        }
        let (action, version) = (action.unwrap_or_default(), version.unwrap_or_default());
        if action.is_empty() {
            return Err(AwsError::missing_action());
        }
        r.action = action;
        r.version = version;
        Ok(r)
    }

    /// Builds a request from parts (tests, in-process callers).
    pub fn new<'a>(
        action: &str,
        version: &str,
        params: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> QueryRequest {
        QueryRequest {
            action: action.to_owned(),
            version: version.to_owned(),
            text: String::new(),
            params: params
                .into_iter()
                .map(|(k, v)| (Text::Owned(k.to_owned()), Text::Owned(v.to_owned())))
                .collect(),
        }
    }

    fn resolve<'a>(&'a self, t: &'a Text) -> &'a str {
        match t {
            Text::Span(start, end) => &self.text[*start..*end],
            Text::Owned(s) => s,
        }
    }

    /// Every (name, value), in order, duplicates included.
    fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.params
            .iter()
            .map(|(k, v)| (self.resolve(k), self.resolve(v)))
    }

    /// The first (name, value) of each name that starts with `prefix`, in order.
    fn unique_pairs_with<'a>(
        &'a self,
        prefix: &'a str,
    ) -> impl Iterator<Item = (&'a str, &'a str)> {
        let mut seen = std::collections::HashSet::new();
        self.pairs()
            .filter(move |(k, _)| k.starts_with(prefix) && seen.insert(*k))
    }

    /// The first (name, value) of each name, in order.
    fn unique_pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.unique_pairs_with("")
    }

    /// A required parameter. Absent → AWS's `Value null at 'name' ... Member must not be null`.
    pub fn required(&self, name: &str) -> Result<&str, AwsError> {
        self.optional(name).ok_or_else(|| {
            AwsError::validation(format!(
                "1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null",
                field_name(name)
            ))
        })
    }

    /// An optional parameter.
    pub fn optional(&self, name: &str) -> Option<&str> {
        self.pairs().find(|(k, _)| *k == name).map(|(_, v)| v)
    }

    /// An optional integer parameter; a non-integer is a `ValidationError`.
    pub fn optional_i64(&self, name: &str) -> Result<Option<i64>, AwsError> {
        match self.optional(name) {
            None => Ok(None),
            Some(v) => v.trim().parse::<i64>().map(Some).map_err(|_| {
                AwsError::validation(format!(
                    "1 validation error detected: Value '{v}' at '{}' failed to satisfy constraint: Member must be a number",
                    field_name(name)
                ))
            }),
        }
    }

    /// An optional boolean parameter (`true`/`false`, case-insensitive).
    pub fn optional_bool(&self, name: &str) -> Result<Option<bool>, AwsError> {
        match self.optional(name) {
            None => Ok(None),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(v) => Err(AwsError::validation(format!(
                "1 validation error detected: Value '{v}' at '{}' failed to satisfy constraint: Member must be a boolean",
                field_name(name)
            ))),
        }
    }

    /// A list of strings encoded as `Name.member.1`, `Name.member.2`, ... ordered by index.
    pub fn list(&self, name: &str) -> Vec<String> {
        let prefix = format!("{name}.member.");
        let mut items: Vec<(u32, &str)> = self
            .unique_pairs_with(&prefix)
            .filter_map(|(k, v)| {
                k.strip_prefix(&prefix)
                    .and_then(|n| n.parse::<u32>().ok())
                    .map(|n| (n, v))
            })
            .collect();
        items.sort_by_key(|(n, _)| *n);
        items.into_iter().map(|(_, v)| v.to_owned()).collect()
    }

    /// True when the list parameter was sent at all (even empty: botocore sends `Name=`).
    pub fn has_list(&self, name: &str) -> bool {
        let prefix = format!("{name}.member.");
        self.pairs()
            .any(|(k, _)| k == name || k.starts_with(&prefix))
    }

    /// A list of structures encoded as `Name.member.N.Field`, ordered by index; each map holds
    /// the fields of one member (e.g. `Tags.member.1.Key` → `{"Key": ..}`).
    pub fn struct_list(&self, name: &str) -> Vec<BTreeMap<String, String>> {
        let mut by_index: BTreeMap<u32, BTreeMap<String, String>> = BTreeMap::new();
        for (k, v) in self.unique_pairs_with(name) {
            let Some(rest) = k
                .strip_prefix(name)
                .and_then(|r| r.strip_prefix(".member."))
            else {
                continue;
            };
            let Some((n, field)) = rest.split_once('.') else {
                continue;
            };
            let Ok(n) = n.parse::<u32>() else { continue };
            by_index
                .entry(n)
                .or_default()
                .insert(field.to_owned(), v.to_owned());
        }
        by_index.into_values().collect()
    }

    /// `Tags.member.N.Key` / `.Value` pairs in order.
    pub fn tags(&self, name: &str) -> Vec<(String, String)> {
        self.struct_list(name)
            .into_iter()
            .map(|m| {
                (
                    m.get("Key").cloned().unwrap_or_default(),
                    m.get("Value").cloned().unwrap_or_default(),
                )
            })
            .collect()
    }
}

/// The lowerCamelCase field name AWS prints in validation messages (`RoleName` → `roleName`).
pub fn field_name(param: &str) -> String {
    let mut chars = param.chars();
    match chars.next() {
        Some(first) => first.to_ascii_lowercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}

/// Decodes `application/x-www-form-urlencoded` pairs exactly as the WHATWG URL standard
/// (and the `form_urlencoded` crate) does: split on `&`, skip empty pieces, split each at
/// the first `=`, `+` is a space, `%XX` is a byte (a `%` not followed by two hex digits
/// stays), invalid UTF-8 becomes U+FFFD. The runs between escapes (all of a token, most
/// of an ARN) are copied whole, not byte by byte.
pub fn form_pairs(input: &[u8]) -> Vec<(String, String)> {
    form_pair_slices(input)
        .map(|(name, value)| (form_decode(name), form_decode(value)))
        .collect()
}

/// The still-encoded (name, value) pieces of a form, each a sub-slice of `input`.
fn form_pair_slices(input: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    // `&` found by memchr's vectorised scan: a ~1 KB token is one stride, not a byte loop.
    let mut rest = Some(input);
    std::iter::from_fn(move || {
        let all = rest?;
        let (piece, next) = match memchr::memchr(b'&', all) {
            Some(i) => (&all[..i], Some(&all[i + 1..])),
            None => (all, None),
        };
        rest = next;
        Some(piece)
    })
    .filter(|piece| !piece.is_empty())
    .map(|piece| match memchr::memchr(b'=', piece) {
        Some(i) => (&piece[..i], &piece[i + 1..]),
        // The empty value is cut from `input` too (its end), like every other piece.
        None => (piece, &piece[piece.len()..]),
    })
}

/// Whether `input` has a `%` or `+` (a vectorised scan: tokens are ~1 KB without either).
fn has_escapes(input: &[u8]) -> bool {
    memchr::memchr2(b'%', b'+', input).is_some()
}

fn form_decode(input: &[u8]) -> String {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(input.len());
    let mut rest = input;
    // Runs without `%` or `+` (most of an ARN) are copied whole, found by memchr.
    while let Some(i) = memchr::memchr2(b'%', b'+', rest) {
        out.extend_from_slice(&rest[..i]);
        let escaped = match rest.get(i + 1..i + 3) {
            Some(&[h, l]) if rest[i] == b'%' => hex(h).zip(hex(l)).map(|(h, l)| h << 4 | l),
            _ => None,
        };
        match (rest[i], escaped) {
            (_, Some(decoded)) => {
                out.push(decoded);
                rest = &rest[i + 3..];
            }
            (b'+', None) => {
                out.push(b' ');
                rest = &rest[i + 1..];
            }
            // A `%` without two hex digits stays as it is.
            (b, None) => {
                out.push(b);
                rest = &rest[i + 1..];
            }
        }
    }
    out.extend_from_slice(rest);
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// A fresh request id (a random UUID v4, as AWS uses), formatted without allocating per byte.
pub fn new_request_id() -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut b = [0u8; 16];
    crate::store::random_fill(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let mut out = String::with_capacity(36);
    for (i, byte) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        out.push(HEX[usize::from(byte >> 4)] as char);
        out.push(HEX[usize::from(byte & 15)] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_decoding_matches_the_url_standard() {
        let fixed: &[&[u8]] = &[
            b"",
            b"&&",
            b"a=1&b=2",
            b"a&=b&c==d&",
            b"x=%41%2b%2B+y%20z",
            b"bad=%&bad2=%4&bad3=%zz&bad4=%4g%",
            b"utf8=%C3%A9&raw=\xc3\xa9&broken=%C3&broken2=\xff",
            b"plus=a+b+&pct=100%25",
        ];
        for input in fixed {
            let expected: Vec<(String, String)> = serde_urlencoded::from_bytes(input).unwrap();
            assert_eq!(
                form_pairs(input),
                expected,
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
        // Random inputs over an alphabet rich in separators, escapes and non-UTF-8 bytes.
        let alphabet = b"ab=&+%%0aAfFgz9\xc3\xa9\xff ";
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..2000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = (seed % 24) as usize;
            let input: Vec<u8> = (0..len)
                .map(|i| alphabet[((seed >> (i % 8 * 8)) as usize + i * 7) % alphabet.len()])
                .collect();
            let expected: Vec<(String, String)> = serde_urlencoded::from_bytes(&input).unwrap();
            assert_eq!(form_pairs(&input), expected, "{input:?}");
        }
    }

    #[test]
    fn request_ids_are_uuid_v4() {
        let a = new_request_id();
        let b = new_request_id();
        assert_ne!(a, b);
        let groups: Vec<&str> = a.split('-').collect();
        assert_eq!(
            groups.iter().map(|g| g.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert!(a.bytes().all(|c| c == b'-' || c.is_ascii_hexdigit()));
        assert!(!a.bytes().any(|c| c.is_ascii_uppercase()));
        assert_eq!(&groups[2][..1], "4");
        assert!(matches!(&groups[3][..1], "8" | "9" | "a" | "b"));
    }

    #[test]
    fn the_first_of_duplicate_names_wins_everywhere() {
        let body = b"Action=ListRoles&Action=Other&L.member.1=a&L.member.1=b&L.member.01=c\
&T.member.1.Key=k&T.member.1.Key=k2&T.member.1.Value=v&Name=n%31&Name=n2";
        let q = QueryRequest::parse(Some("Name=n3&Q=q+1"), Some(body)).unwrap();
        assert_eq!(q.action, "ListRoles");
        assert_eq!(q.optional("Name"), Some("n1"));
        assert_eq!(q.optional("Q"), Some("q 1"));
        // `L.member.1` once (its first value), `L.member.01` is another name of index 1.
        assert_eq!(q.list("L"), ["a", "c"]);
        assert_eq!(q.tags("T"), vec![("k".to_owned(), "v".to_owned())]);
        assert!(q.has_list("L") && q.has_list("T") && !q.has_list("M"));
        assert_eq!(
            q,
            QueryRequest::new(
                "ListRoles",
                "",
                [
                    ("L.member.1", "a"),
                    ("L.member.01", "c"),
                    ("T.member.1.Key", "k"),
                    ("T.member.1.Value", "v"),
                    ("Name", "n1"),
                    ("Q", "q 1"),
                ]
            )
        );
        assert!(!format!("{q:?}").contains("n1"), "values stay out of Debug");
    }

    #[test]
    fn parameters_agree_with_a_plain_decode_of_every_pair() {
        // Random bodies and query strings over separators, escapes and non-UTF-8 bytes; the
        // reference decodes every pair to strings and keeps the first of each name.
        let alphabet = b"ANab=&+%%0aAfF9\xc3\xa9\xff ";
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..3000 {
            let mut random = |len: u64| -> Vec<u8> {
                let len = next() % len;
                (0..len)
                    .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                    .collect()
            };
            let body = [b"Action=A&".to_vec(), random(40)].concat();
            let query = String::from_utf8_lossy(&random(16)).into_owned();
            let q = QueryRequest::parse(Some(&query), Some(&body)).unwrap();
            let mut first = BTreeMap::new();
            for (k, v) in form_pairs(&body)
                .into_iter()
                .chain(form_pairs(query.as_bytes()))
            {
                first.entry(k).or_insert(v);
            }
            assert_eq!(q.action, first["Action"]);
            assert_eq!(q.version, first.get("Version").cloned().unwrap_or_default());
            for (k, v) in &first {
                if k != "Action" && k != "Version" {
                    assert_eq!(
                        q.optional(k),
                        Some(v.as_str()),
                        "{k:?} in {body:?} {query:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn names_without_a_value_and_empty_values_are_empty_strings() {
        for body in [
            &b"Action=X&Flag&Other=1&Empty=&Last"[..],
            b"Flag&Action=X&Empty=&Other=1&Last=",
        ] {
            let q = QueryRequest::parse(Some("Q&R="), Some(body)).unwrap();
            for name in ["Flag", "Empty", "Last", "Q", "R"] {
                assert_eq!(q.optional(name), Some(""), "{name}");
            }
            assert_eq!(q.optional("Other"), Some("1"));
        }
    }

    #[test]
    fn a_body_that_is_not_utf8_is_decoded_piece_by_piece() {
        let body = b"Action=X&Raw=a\xffb&Ok=plain&Esc=%C3%A9";
        let q = QueryRequest::parse(Some("Ok=ignored&More=m"), Some(body)).unwrap();
        assert_eq!(q.optional("Raw"), Some("a\u{FFFD}b"));
        assert_eq!(q.optional("Ok"), Some("plain"));
        assert_eq!(q.optional("Esc"), Some("é"));
        assert_eq!(q.optional("More"), Some("m"));
    }

    #[test]
    fn parses_form_and_query() {
        let body = b"Action=CreateRole&Version=2010-05-08&RoleName=r%2B1&Tags.member.2.Key=b&Tags.member.1.Key=a\
&Tags.member.1.Value=x&Tags.member.2.Value=y&ClientIDList.member.10=j&ClientIDList.member.2=b";
        let q = QueryRequest::parse(Some("Extra=1&RoleName=ignored"), Some(body)).unwrap();
        assert_eq!(q.action, "CreateRole");
        assert_eq!(q.version, IAM_VERSION);
        assert_eq!(q.required("RoleName").unwrap(), "r+1");
        assert_eq!(q.optional("Extra"), Some("1"));
        assert_eq!(
            q.tags("Tags"),
            vec![("a".into(), "x".into()), ("b".into(), "y".into())]
        );
        assert_eq!(
            q.list("ClientIDList"),
            vec!["b".to_string(), "j".to_string()]
        );
        let err = q.required("Path").unwrap_err();
        assert_eq!(
            err.message,
            "1 validation error detected: Value null at 'path' failed to satisfy constraint: Member must not be null"
        );
        assert_eq!(
            QueryRequest::parse(Some("Version=1"), None)
                .unwrap_err()
                .code,
            "MissingAction"
        );
    }
}
