//! Identifier formats: access key ids, secrets, unique ids, ARNs and timestamps.

use std::time::SystemTime;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// RFC 4648 base32 alphabet, as AWS key ids use.
const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// Fills `buf` from the system RNG.
pub(crate) fn fill_random(buf: &mut [u8]) {
    crate::random::fill(buf);
}

/// Lowercase hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

fn base32(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 8 / 5 + 1);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &b in bytes {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(BASE32[((acc >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(BASE32[((acc << (5 - bits)) & 31) as usize] as char);
    }
    out
}

fn unbase32(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.bytes() {
        let v = BASE32.iter().position(|&a| a == c)? as u32;
        acc = (acc << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

/// A new access key id: `prefix` (`ASIA` temporary, `AKIA` long-term) + 16 base32
/// characters. As in AWS, the first 6 decoded bytes carry the 12-digit account id
/// (`(bytes[0..6] & 0x7fffffffff80) >> 7`); the rest is random. A non-numeric account
/// is encoded as 0.
pub fn new_access_key_id(prefix: &str, account_id: &str) -> String {
    let account: u64 = account_id.parse().unwrap_or(0) & 0xff_ffff_ffff;
    let mut random = [0u8; 5];
    fill_random(&mut random);
    let head = (account << 7) | u64::from(random[0] & 0x7f);
    let mut bytes = [0u8; 10];
    bytes[..6].copy_from_slice(&head.to_be_bytes()[2..]);
    bytes[6..].copy_from_slice(&random[1..]);
    [prefix, &base32(&bytes)].concat()
}

/// The account id encoded in an AWS-format access key id (12 digits), if it has one.
pub fn account_from_access_key_id(access_key_id: &str) -> Option<String> {
    let rest = access_key_id.get(4..)?;
    if rest.len() != 16 {
        return None;
    }
    let bytes = unbase32(rest)?;
    let mut head = [0u8; 8];
    head[2..].copy_from_slice(&bytes[..6]);
    let account = (u64::from_be_bytes(head) & 0x7fff_ffff_ff80) >> 7;
    Some(format!("{account:012}"))
}

/// A new 40-character secret access key (`[A-Za-z0-9+/]`, 240 random bits).
pub fn new_secret_access_key() -> String {
    let mut bytes = [0u8; 30];
    fill_random(&mut bytes);
    STANDARD.encode(bytes)
}

/// A new IAM unique id: `prefix` (`AROA` for roles, `ANPA` for policies...) + 17 base32
/// characters, 21 in all.
pub fn new_unique_id(prefix: &str) -> String {
    let mut bytes = [0u8; 11];
    fill_random(&mut bytes);
    let mut id = base32(&bytes);
    id.truncate(17);
    format!("{prefix}{id}")
}

/// The role name of a role ARN, without its path (`role/a/b/name` → `name`).
pub fn role_name_from_arn(role_arn: &str) -> &str {
    arn_parts(role_arn).role_name()
}

/// The `:`-separated fields of an ARN as `str::splitn(6, ':')` cuts them, found by a byte
/// scan (the fields are too short for splitn's searcher to pay off; this runs on every
/// AssumeRole* call).
struct ArnParts<'a> {
    /// The first five pieces; missing ones are `None`.
    fields: [Option<&'a str>; 5],
    /// The sixth piece: everything after the fifth `:`.
    resource: Option<&'a str>,
}

impl<'a> ArnParts<'a> {
    /// The last `/`-separated piece of the resource: a role's name without its path.
    fn role_name(&self) -> &'a str {
        let resource = self.resource.unwrap_or_default();
        resource.rsplit_once('/').map_or(resource, |(_, name)| name)
    }
}

fn arn_parts(arn: &str) -> ArnParts<'_> {
    let mut parts = ArnParts {
        fields: [None; 5],
        resource: None,
    };
    let mut rest = arn;
    for field in &mut parts.fields {
        match rest.bytes().position(|b| b == b':') {
            Some(end) => {
                *field = Some(&rest[..end]);
                rest = &rest[end + 1..];
            }
            None => {
                *field = Some(rest);
                return parts;
            }
        }
    }
    parts.resource = Some(rest);
    parts
}

/// The account field of an ARN (its fifth `:`-separated piece; empty without one).
pub(crate) fn arn_account(arn: &str) -> &str {
    arn_parts(arn).fields[4].unwrap_or_default()
}

/// `arn:PARTITION:sts::ACCOUNT:assumed-role/ROLE/SESSION` for a role ARN (path dropped).
pub fn assumed_role_arn(role_arn: &str, session_name: &str) -> String {
    let parts = arn_parts(role_arn);
    let partition = parts.fields[1].unwrap_or("aws");
    let account = parts.fields[4].unwrap_or_default();
    let role = parts.role_name();
    // Joined without `format!`: this runs on every AssumeRole* call.
    [
        "arn:",
        partition,
        ":sts::",
        account,
        ":assumed-role/",
        role,
        "/",
        session_name,
    ]
    .concat()
}

/// Seconds since the Unix epoch (0 before it).
pub fn unix_seconds(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// ISO-8601 UTC with seconds precision and `Z`, as STS writes `Expiration`.
pub fn iso8601(unix: u64) -> String {
    let t = i64::try_from(unix)
        .ok()
        .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    crate::store::iso8601(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arn_pieces_are_cut_like_splitn() {
        let alphabet = ["arn", ":", "aws", "::", "/", "role/a/b", "x:y", ""];
        let mut seed = 0xd1b5_4a32_d192_ed03u64;
        for _ in 0..5000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let arn: String = (0..seed % 10)
                .map(|i| alphabet[((seed >> (i * 6)) % alphabet.len() as u64) as usize])
                .collect();
            let mut reference = arn.splitn(6, ':');
            let parts = arn_parts(&arn);
            for field in parts.fields {
                assert_eq!(field, reference.next(), "{arn:?}");
            }
            assert_eq!(parts.resource, reference.next(), "{arn:?}");
            let resource = arn.splitn(6, ':').nth(5).unwrap_or_default();
            assert_eq!(
                role_name_from_arn(&arn),
                resource.rsplit('/').next().unwrap()
            );
        }
    }

    #[test]
    fn access_key_id_encodes_the_account_like_aws() {
        for account in ["123456789012", "000000000001", "999999999999"] {
            let id = new_access_key_id("ASIA", account);
            assert_eq!(id.len(), 20, "{id}");
            assert!(id.starts_with("ASIA"));
            assert!(id[4..].bytes().all(|b| BASE32.contains(&b)), "{id}");
            assert_eq!(account_from_access_key_id(&id).as_deref(), Some(account));
        }
        // The example key of Tal Be'ery's note on AWS key ids (account 609629065308).
        assert_eq!(
            account_from_access_key_id("ASIAY34FZKBOKMUTVV7A").as_deref(),
            Some("609629065308")
        );
    }

    #[test]
    fn keys_and_ids_have_aws_shapes() {
        let s = new_secret_access_key();
        assert_eq!(s.len(), 40);
        assert!(
            s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
        );
        let id = new_unique_id("AROA");
        assert_eq!(id.len(), 21);
        assert_ne!(new_unique_id("AROA"), id);
    }

    #[test]
    fn arns() {
        let arn = "arn:aws:iam::123456789012:role/team/app/reader";
        assert_eq!(role_name_from_arn(arn), "reader");
        assert_eq!(
            assumed_role_arn(arn, "s1"),
            "arn:aws:sts::123456789012:assumed-role/reader/s1"
        );
    }

    #[test]
    fn iso8601_is_seconds_precision_utc() {
        assert_eq!(iso8601(1_629_147_173), "2021-08-16T20:52:53Z");
    }
}
