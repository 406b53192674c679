//! A tiny XML writer for AWS Query-protocol responses (escaping included).

use super::{AwsError, Service};

/// Builds XML text element by element. Text and attribute values are escaped.
#[derive(Debug, Default, Clone)]
pub struct XmlWriter {
    buf: String,
}

impl XmlWriter {
    /// An empty writer.
    pub fn new() -> XmlWriter {
        XmlWriter::default()
    }

    /// An empty writer with room for `capacity` bytes.
    pub fn with_capacity(capacity: usize) -> XmlWriter {
        XmlWriter {
            buf: String::with_capacity(capacity),
        }
    }

    /// Opens `<tag>`.
    pub fn open(&mut self, tag: &str) -> &mut XmlWriter {
        self.buf.push('<');
        self.buf.push_str(tag);
        self.buf.push('>');
        self
    }

    /// Closes `</tag>`.
    pub fn close(&mut self, tag: &str) -> &mut XmlWriter {
        self.buf.push_str("</");
        self.buf.push_str(tag);
        self.buf.push('>');
        self
    }

    /// Writes `<tag>text</tag>` with `text` escaped.
    pub fn elem(&mut self, tag: &str, text: &str) -> &mut XmlWriter {
        self.open(tag);
        escape_into(&mut self.buf, text);
        self.close(tag)
    }

    /// Writes `<tag>text</tag>` when `text` is present; nothing otherwise.
    pub fn opt_elem(&mut self, tag: &str, text: Option<&str>) -> &mut XmlWriter {
        if let Some(text) = text {
            self.elem(tag, text);
        }
        self
    }

    /// Writes `<tag>` + whatever `body` writes + `</tag>`.
    pub fn with(&mut self, tag: &str, body: impl FnOnce(&mut XmlWriter)) -> &mut XmlWriter {
        self.open(tag);
        body(self);
        self.close(tag)
    }

    /// Writes a Query-protocol list: `<tag><member>..</member>...</tag>`.
    pub fn members<T>(
        &mut self,
        tag: &str,
        items: &[T],
        mut item: impl FnMut(&mut XmlWriter, &T),
    ) -> &mut XmlWriter {
        self.open(tag);
        for it in items {
            self.open("member");
            item(self, it);
            self.close("member");
        }
        self.close(tag)
    }

    /// Writes a list of plain strings: `<tag><member>s</member>...</tag>`.
    pub fn string_members(&mut self, tag: &str, items: &[String]) -> &mut XmlWriter {
        self.members(tag, items, |w, s| {
            escape_into(&mut w.buf, s);
        })
    }

    /// Appends already-built XML (must come from another `XmlWriter`).
    pub fn raw(&mut self, xml: &str) -> &mut XmlWriter {
        self.buf.push_str(xml);
        self
    }

    /// The XML written so far.
    pub fn finish(self) -> String {
        self.buf
    }
}

/// Escapes `&`, `<`, `>`, `"` and `'`, and drops characters XML 1.0 cannot carry.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    escape_into(&mut out, text);
    out
}

/// Whether `b` is escaped or dropped: `&<>"'`, control characters other than tab, and the
/// lead byte of U+F000..U+FFFF (U+FFFE and U+FFFF are not XML characters).
#[inline(always)]
fn needs_care(b: u8) -> bool {
    (b < 0x20) & (b != b'\t')
        | (b == b'&')
        | (b == b'<')
        | (b == b'>')
        | (b == b'"')
        | (b == b'\'')
        | (b == 0xEF)
}

/// Whether any byte of `bytes` [`needs_care`]. Checked 32 bytes at a time without an early
/// exit inside a chunk, which the compiler turns into vector compares: a session token
/// (several hundred bytes, checked on every AssumeRole* call) costs a few instructions per
/// 32 bytes instead of several per byte.
fn any_needs_care(bytes: &[u8]) -> bool {
    let chunk_needs_care = |chunk: &[u8]| chunk.iter().fold(false, |acc, &b| acc | needs_care(b));
    let mut chunks = bytes.chunks_exact(32);
    if chunks.by_ref().any(chunk_needs_care) {
        return true;
    }
    // The tail (most ids and ARNs are all tail) padded to a whole chunk with a plain byte.
    let tail = chunks.remainder();
    let mut padded = [b'a'; 32];
    padded[..tail.len()].copy_from_slice(tail);
    chunk_needs_care(&padded)
}

fn escape_into(out: &mut String, text: &str) {
    // Fast path: most values (ids, ARNs, base64 tokens) need no escaping at all.
    if !any_needs_care(text.as_bytes()) {
        out.push_str(text);
        return;
    }
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
}

/// The success envelope: `<{Action}Response xmlns=..>[<{Action}Result>result</..>]<ResponseMetadata>
/// <RequestId>..</RequestId></ResponseMetadata></{Action}Response>`. An empty `result` omits the
/// `Result` element (as AWS does for actions without output, e.g. `DeleteRole`).
pub fn success_response(service: Service, action: &str, result: &str, request_id: &str) -> String {
    let mut w = XmlWriter::with_capacity(result.len() + 2 * action.len() + 200);
    let b = &mut w.buf;
    b.push('<');
    b.push_str(action);
    b.push_str("Response xmlns=\"");
    b.push_str(service.namespace());
    b.push_str("\">");
    if !result.is_empty() {
        b.push('<');
        b.push_str(action);
        b.push_str("Result>");
        b.push_str(result);
        b.push_str("</");
        b.push_str(action);
        b.push_str("Result>");
    }
    w.with("ResponseMetadata", |w| {
        w.elem("RequestId", request_id);
    });
    let b = &mut w.buf;
    b.push_str("</");
    b.push_str(action);
    b.push_str("Response>");
    w.finish()
}

/// The error envelope: `<ErrorResponse xmlns=..><Error><Type>..</Type><Code>..</Code><Message>..
/// </Message></Error><RequestId>..</RequestId></ErrorResponse>`.
pub fn error_response(service: Service, error: &AwsError, request_id: &str) -> String {
    let mut w = XmlWriter::new();
    w.raw(&format!(
        "<ErrorResponse xmlns=\"{}\">",
        service.namespace()
    ));
    w.with("Error", |w| {
        w.elem("Type", error.kind.as_str())
            .elem("Code", &error.code)
            .elem("Message", &error.message);
    });
    w.elem("RequestId", request_id);
    w.close("ErrorResponse");
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chunked_check_finds_every_special_byte_at_every_position() {
        for b in 0..=255u8 {
            let special =
                matches!(b, b'&' | b'<' | b'>' | b'"' | b'\'' | 0xEF) || (b < 0x20 && b != b'\t');
            assert_eq!(needs_care(b), special, "byte {b:#x}");
            // Positions in the first chunk, the second and the remainder of 70 bytes.
            for at in [0, 5, 31, 32, 50, 63, 64, 69] {
                let mut bytes = vec![b'a'; 70];
                bytes[at] = b;
                assert_eq!(any_needs_care(&bytes), special, "byte {b:#x} at {at}");
            }
        }
        assert!(!any_needs_care(b""));
    }

    #[test]
    fn escapes_and_wraps() {
        let mut w = XmlWriter::new();
        w.elem("Arn", "a<b>&\"c'")
            .string_members("L", &["x".into(), "y&".into()]);
        assert_eq!(
            w.finish(),
            "<Arn>a&lt;b&gt;&amp;&quot;c&apos;</Arn><L><member>x</member><member>y&amp;</member></L>"
        );
        let xml = success_response(Service::Iam, "DeleteRole", "", "r-1");
        assert_eq!(
            xml,
            "<DeleteRoleResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><ResponseMetadata>\
             <RequestId>r-1</RequestId></ResponseMetadata></DeleteRoleResponse>"
        );
        let ok = success_response(Service::Sts, "GetCallerIdentity", "<Arn>a</Arn>", "r-3");
        assert_eq!(
            ok,
            "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\
             <GetCallerIdentityResult><Arn>a</Arn></GetCallerIdentityResult><ResponseMetadata>\
             <RequestId>r-3</RequestId></ResponseMetadata></GetCallerIdentityResponse>"
        );
        assert_eq!(escape("plain ASCII.text-1/+="), "plain ASCII.text-1/+=");
        assert_eq!(escape("tab\tnew\nline\u{7}"), "tab\tnew\nline");
        assert_eq!(escape("\u{FFFE}é\u{FFFF}\u{FFFD}"), "é\u{FFFD}");
        let err = error_response(Service::Sts, &AwsError::validation("bad\u{1}"), "r-2");
        assert_eq!(
            err,
            "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type>\
             <Code>ValidationError</Code><Message>bad</Message></Error><RequestId>r-2</RequestId></ErrorResponse>"
        );
    }
}
