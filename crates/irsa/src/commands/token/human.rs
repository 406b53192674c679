//! Human wording for times and verification failures.

use irsa_jose::JwtError;

/// `2026-01-01 00:00:00 UTC`.
pub(super) fn utc(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian calendar).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// `1h 2m 3s`.
pub(super) fn duration(secs: i64) -> String {
    let s = secs.unsigned_abs();
    let (d, h, m, s) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60, s % 60);
    let mut parts = Vec::new();
    if d > 0 {
        parts.push(format!("{d}d"));
    }
    if h > 0 {
        parts.push(format!("{h}h"));
    }
    if m > 0 {
        parts.push(format!("{m}m"));
    }
    if s > 0 || parts.is_empty() {
        parts.push(format!("{s}s"));
    }
    parts.join(" ")
}

/// `in 1h` / `5m ago` / `now`.
pub(super) fn ago_or_in(t: i64, now: i64) -> String {
    match t.saturating_sub(now) {
        0 => "now".to_owned(),
        d if d > 0 => format!("in {}", duration(d)),
        d => format!("{} ago", duration(d)),
    }
}

/// One clear sentence per verification failure, with what to check.
pub(super) fn explain(err: &JwtError, now: i64, keys: &str) -> String {
    match err {
        JwtError::Expired { exp, leeway, .. } => format!(
            "the token expired {} ago, at {} (now {}, allowed clock skew {leeway}s); \
             mint or request a new one",
            duration(now.saturating_sub(*exp)),
            utc(*exp),
            utc(now)
        ),
        JwtError::NotYetValid { nbf, .. } => format!(
            "the token is not valid yet: nbf is {} ({} from now); check the clocks of the \
             issuer and this machine",
            utc(*nbf),
            duration(nbf.saturating_sub(now))
        ),
        JwtError::IssuedInFuture { iat, .. } => format!(
            "the token claims it was issued at {}, {} in the future; check the clocks",
            utc(*iat),
            duration(iat.saturating_sub(now))
        ),
        JwtError::KeyNotFound { kid: Some(kid) } => format!(
            "no key with kid {kid:?} ({keys}); publish the JWKS of the key that signed the \
             token (`irsa keys jwks`), or the token comes from another issuer"
        ),
        JwtError::KeyNotFound { kid: None } => format!(
            "the token has no kid and no key can verify its algorithm ({keys}); publish the \
             key, with `--legacy-empty-kid` for clusters before 1.16"
        ),
        JwtError::BadSignature => format!(
            "bad signature: no published key with a matching kid verifies it ({keys}); the \
             token was altered or signed by a different key"
        ),
        JwtError::WrongIssuer { expected, found } => format!(
            "wrong issuer: the token says iss {found:?} but {expected:?} was expected; they \
             must match byte for byte (trailing slash included), as AWS compares them"
        ),
        JwtError::WrongAudience { expected, found } => format!(
            "wrong audience: the token is for {found:?}, none of which is accepted \
             ({expected:?}); mint it with --audience or pass the right --audience here"
        ),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(1_767_225_600), "2026-01-01 00:00:00 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc(-1), "1969-12-31 23:59:59 UTC");
    }

    #[test]
    fn formats_durations() {
        assert_eq!(duration(0), "0s");
        assert_eq!(duration(3723), "1h 2m 3s");
        assert_eq!(duration(-90_000), "1d 1h");
        assert_eq!(ago_or_in(10, 0), "in 10s");
        assert_eq!(ago_or_in(0, 60), "1m ago");
    }
}
