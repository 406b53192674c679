//! The binary layout of session claims inside a version-2 token (`IRS2`).
//!
//! Sealed tokens are opaque to clients, so the layout only has to be compact and cheap to
//! write and read: every AssumeRole* call writes one, every signed call with temporary
//! credentials reads one. All integers are big-endian; a string is its length (`u16`) and
//! its UTF-8 bytes.
//!
//! ```text
//! flags u8 (1 = session policy, 2 = source identity, 4 = web identity; other bits unset)
//! issued_at u64, expires_at u64
//! access_key_id, secret_access_key, role_arn, role_id, session_name   (strings)
//! [session_policy]                                                    (when flag 1)
//! policy_arns: count u16, then that many strings
//! [source_identity]                                                   (when flag 2)
//! [provider_arn, subject, audience]                                   (when flag 4)
//! ```
//!
//! Decoding refuses anything else: short input, bytes left over, unknown flags, strings
//! that are not UTF-8.

use super::{SessionClaims, WebIdentity};

const SESSION_POLICY: u8 = 1;
const SOURCE_IDENTITY: u8 = 2;
const WEB_IDENTITY: u8 = 4;

/// A string or list longer than the layout can hold (64 KiB - 1).
#[derive(Debug)]
pub(super) struct TooLong;

/// Appends the claims to `out`.
pub(super) fn encode(claims: &SessionClaims, out: &mut Vec<u8>) -> Result<(), TooLong> {
    let mut flags = 0;
    if claims.session_policy.is_some() {
        flags |= SESSION_POLICY;
    }
    if claims.source_identity.is_some() {
        flags |= SOURCE_IDENTITY;
    }
    if claims.web_identity.is_some() {
        flags |= WEB_IDENTITY;
    }
    out.push(flags);
    out.extend_from_slice(&claims.issued_at.to_be_bytes());
    out.extend_from_slice(&claims.expires_at.to_be_bytes());
    for s in [
        &claims.access_key_id,
        &claims.secret_access_key,
        &claims.role_arn,
        &claims.role_id,
        &claims.session_name,
    ] {
        put_str(out, s)?;
    }
    if let Some(p) = &claims.session_policy {
        put_str(out, p)?;
    }
    put_len(out, claims.policy_arns.len())?;
    for arn in &claims.policy_arns {
        put_str(out, arn)?;
    }
    if let Some(si) = &claims.source_identity {
        put_str(out, si)?;
    }
    if let Some(w) = &claims.web_identity {
        for s in [&w.provider_arn, &w.subject, &w.audience] {
            put_str(out, s)?;
        }
    }
    Ok(())
}

fn put_len(out: &mut Vec<u8>, len: usize) -> Result<(), TooLong> {
    let len = u16::try_from(len).map_err(|_| TooLong)?;
    out.extend_from_slice(&len.to_be_bytes());
    Ok(())
}

fn put_str(out: &mut Vec<u8>, s: &str) -> Result<(), TooLong> {
    put_len(out, s.len())?;
    out.extend_from_slice(s.as_bytes());
    Ok(())
}

/// Reads claims written by [`encode`]; `None` for anything else.
pub(super) fn decode(bytes: &[u8]) -> Option<SessionClaims> {
    let mut r = Reader(bytes);
    let flags = r.take(1)?[0];
    if flags & !(SESSION_POLICY | SOURCE_IDENTITY | WEB_IDENTITY) != 0 {
        return None;
    }
    let issued_at = r.u64()?;
    let expires_at = r.u64()?;
    let access_key_id = r.string()?;
    let secret_access_key = r.string()?;
    let role_arn = r.string()?;
    let role_id = r.string()?;
    let session_name = r.string()?;
    let session_policy = r.optional(flags & SESSION_POLICY != 0)?;
    let count = r.u16()?;
    let policy_arns = (0..count).map(|_| r.string()).collect::<Option<Vec<_>>>()?;
    let source_identity = r.optional(flags & SOURCE_IDENTITY != 0)?;
    let web_identity = if flags & WEB_IDENTITY != 0 {
        Some(WebIdentity {
            provider_arn: r.string()?,
            subject: r.string()?,
            audience: r.string()?,
        })
    } else {
        None
    };
    if !r.0.is_empty() {
        return None;
    }
    Some(SessionClaims {
        role_arn,
        role_id,
        session_name,
        access_key_id,
        secret_access_key,
        issued_at,
        expires_at,
        session_policy,
        policy_arns,
        source_identity,
        web_identity,
    })
}

/// The unread rest of the input.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_be_bytes(self.take(2)?.try_into().ok()?))
    }

    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_be_bytes(self.take(8)?.try_into().ok()?))
    }

    fn string(&mut self) -> Option<String> {
        let len = usize::from(self.u16()?);
        let bytes = self.take(len)?;
        std::str::from_utf8(bytes).ok().map(str::to_owned)
    }

    /// A string when `present`, `Some(None)` otherwise; `None` when it should be there and is not.
    fn optional(&mut self, present: bool) -> Option<Option<String>> {
        if present {
            self.string().map(Some)
        } else {
            Some(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> SessionClaims {
        SessionClaims {
            role_arn: "arn:aws:iam::123456789012:role/app".into(),
            role_id: "AROAABCDEFGHIJKLMNOPQ".into(),
            session_name: "s-é".into(),
            access_key_id: "ASIAABCDEFGHIJKLMNOP".into(),
            secret_access_key: "x".repeat(40),
            issued_at: 1_000,
            expires_at: u64::MAX,
            session_policy: Some("{}".into()),
            policy_arns: vec![
                "arn:aws:iam::aws:policy/ReadOnlyAccess".into(),
                String::new(),
            ],
            source_identity: Some("alice".into()),
            web_identity: Some(WebIdentity {
                provider_arn: "arn:aws:iam::123456789012:oidc-provider/i.example".into(),
                subject: "system:serviceaccount:default:app".into(),
                audience: "sts.amazonaws.com".into(),
            }),
        }
    }

    #[test]
    fn every_combination_of_optional_parts_round_trips() {
        for mask in 0..16 {
            let mut c = claims();
            if mask & 1 == 0 {
                c.session_policy = None;
            }
            if mask & 2 == 0 {
                c.source_identity = None;
            }
            if mask & 4 == 0 {
                c.web_identity = None;
            }
            if mask & 8 == 0 {
                c.policy_arns.clear();
            }
            let mut out = Vec::new();
            encode(&c, &mut out).unwrap();
            assert_eq!(decode(&out), Some(c), "mask {mask}");
        }
    }

    #[test]
    fn anything_but_a_whole_encoding_is_refused() {
        let mut out = Vec::new();
        encode(&claims(), &mut out).unwrap();
        for end in 0..out.len() {
            assert_eq!(decode(&out[..end]), None, "cut at {end}");
        }
        let mut longer = out.clone();
        longer.push(0);
        assert_eq!(decode(&longer), None);
        let mut unknown_flag = out.clone();
        unknown_flag[0] |= 8;
        assert_eq!(decode(&unknown_flag), None);
        // The first string (access key id) with a byte that is not UTF-8.
        let mut bad_utf8 = out;
        bad_utf8[1 + 16 + 2] = 0xFF;
        assert_eq!(decode(&bad_utf8), None);
    }

    #[test]
    fn a_string_over_the_length_field_is_an_error_not_a_cut() {
        let mut c = claims();
        c.session_policy = Some("p".repeat(usize::from(u16::MAX) + 1));
        assert!(encode(&c, &mut Vec::new()).is_err());
        c.session_policy = Some("p".repeat(usize::from(u16::MAX)));
        let mut out = Vec::new();
        encode(&c, &mut out).unwrap();
        assert_eq!(decode(&out), Some(c));
    }
}
