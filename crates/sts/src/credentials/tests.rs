use std::time::{Duration, SystemTime};

use super::*;

fn at(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
}

fn session() -> NewSession {
    let mut s = NewSession::new(
        "arn:aws:iam::123456789012:role/team/reader",
        "AROAABCDEFGHIJKLMNOPQ",
        "s-1",
        3600,
    );
    s.session_policy = Some(r#"{"Version":"2012-10-17","Statement":[]}"#.into());
    s.policy_arns = vec!["arn:aws:iam::aws:policy/ReadOnlyAccess".into()];
    s.web_identity = Some(WebIdentity {
        provider_arn: "arn:aws:iam::123456789012:oidc-provider/issuer.example/x".into(),
        subject: "system:serviceaccount:default:app".into(),
        audience: "sts.amazonaws.com".into(),
    });
    s
}

#[test]
fn issue_then_open_round_trips_every_claim() {
    let key = SessionKey::generate();
    let creds = issue(&key, session(), at(1_000_000)).unwrap();
    assert_eq!(creds.access_key_id.len(), 20);
    assert!(creds.access_key_id.starts_with("ASIA"));
    assert_eq!(
        account_from_access_key_id(&creds.access_key_id).as_deref(),
        Some("123456789012")
    );
    assert_eq!(creds.secret_access_key.len(), 40);
    assert_eq!(creds.expiration, 1_003_600);
    assert_eq!(creds.expiration_iso8601(), iso8601(1_003_600));

    let claims = open(&key, &creds.session_token, at(1_003_599)).unwrap();
    assert_eq!(claims, creds.claims);
    assert_eq!(claims.access_key_id, creds.access_key_id);
    assert_eq!(claims.secret_access_key, creds.secret_access_key);
    assert_eq!(claims.issued_at, 1_000_000);
    assert_eq!(claims.account_id(), "123456789012");
    assert_eq!(claims.role_name(), "reader");
    assert_eq!(
        claims.assumed_role_arn(),
        "arn:aws:sts::123456789012:assumed-role/reader/s-1"
    );
    assert_eq!(claims.assumed_role_id(), "AROAABCDEFGHIJKLMNOPQ:s-1");
    assert_eq!(claims.policy_arns.len(), 1);
    assert_eq!(
        claims.web_identity.as_ref().unwrap().subject,
        "system:serviceaccount:default:app"
    );
}

#[test]
fn another_replica_with_the_same_key_bytes_opens_it() {
    let bytes = SessionKey::generate_bytes();
    let creds = issue(&SessionKey::from_bytes(&bytes), session(), at(10)).unwrap();
    let replica = SessionKey::from_slice(&bytes).unwrap();
    assert!(open(&replica, &creds.session_token, at(11)).is_ok());
    assert!(SessionKey::from_slice(&bytes[..31]).is_none());
}

#[test]
fn every_issue_has_fresh_keys() {
    let key = SessionKey::generate();
    let a = issue(&key, session(), at(10)).unwrap();
    let b = issue(&key, session(), at(10)).unwrap();
    assert_ne!(a.access_key_id, b.access_key_id);
    assert_ne!(a.secret_access_key, b.secret_access_key);
    assert_ne!(a.session_token, b.session_token);
}

#[test]
fn expired_at_the_expiry_second() {
    let key = SessionKey::generate();
    let creds = issue(&key, session(), at(100)).unwrap();
    assert_eq!(
        open(&key, &creds.session_token, at(3700)),
        Err(CredentialError::Expired { expired_at: 3700 })
    );
    assert!(open_ignoring_expiry(&key, &creds.session_token).is_ok());
}

#[test]
fn wrong_key_is_invalid() {
    let creds = issue(&SessionKey::generate(), session(), at(100)).unwrap();
    assert_eq!(
        open(&SessionKey::generate(), &creds.session_token, at(101)),
        Err(CredentialError::Invalid)
    );
}

#[test]
fn any_flipped_bit_is_invalid() {
    let key = SessionKey::generate();
    let creds = issue(&key, session(), at(100)).unwrap();
    let raw = STANDARD.decode(&creds.session_token).unwrap();
    for i in 0..raw.len() {
        let mut bad = raw.clone();
        bad[i] ^= 0x01;
        let token = STANDARD.encode(&bad);
        assert_eq!(
            open(&key, &token, at(101)),
            Err(CredentialError::Invalid),
            "byte {i}"
        );
    }
    // Truncated, extended, garbage, empty.
    let t = &creds.session_token;
    for token in [
        &t[..t.len() - 4],
        &format!("{t}AAAA"),
        "not base64!",
        "",
        "SVJTMQ==",
    ] {
        assert_eq!(open(&key, token, at(101)), Err(CredentialError::Invalid));
    }
}

/// A token in the layout of earlier releases: `IRS1`, JSON claims.
fn version_1_token(key: &SessionKey, claims: &SessionClaims) -> String {
    let mut buf = serde_json::to_vec(claims).unwrap();
    let nonce = [7u8; NONCE_LEN];
    let aad = header(key, VERSION_JSON);
    key.key
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(&aad),
            &mut buf,
        )
        .unwrap();
    STANDARD.encode([&aad[..], &nonce, &buf].concat())
}

#[test]
fn tokens_of_earlier_releases_still_open() {
    let key = SessionKey::generate();
    let creds = issue(&key, session(), at(100)).unwrap();
    assert!(
        STANDARD
            .decode(&creds.session_token)
            .unwrap()
            .starts_with(b"IRS2")
    );
    let old = version_1_token(&key, &creds.claims);
    assert_eq!(open(&key, &old, at(101)), Ok(creds.claims.clone()));
    assert_eq!(
        open(&key, &old, at(3700)),
        Err(CredentialError::Expired { expired_at: 3700 })
    );
    assert_eq!(
        open(&SessionKey::generate(), &old, at(101)),
        Err(CredentialError::Invalid)
    );
    // The version is authenticated: relabelling either kind as the other is refused.
    for (token, other) in [(&old, b"IRS2"), (&creds.session_token, b"IRS1")] {
        let mut raw = STANDARD.decode(token).unwrap();
        raw[..4].copy_from_slice(other);
        let relabelled = STANDARD.encode(&raw);
        assert_eq!(
            open(&key, &relabelled, at(101)),
            Err(CredentialError::Invalid)
        );
    }
}

#[test]
fn open_for_checks_the_access_key_id() {
    let key = SessionKey::generate();
    let a = issue(&key, session(), at(100)).unwrap();
    let b = issue(&key, session(), at(100)).unwrap();
    assert!(open_for(&key, &a.access_key_id, &a.session_token, at(101)).is_ok());
    assert_eq!(
        open_for(&key, &b.access_key_id, &a.session_token, at(101)),
        Err(CredentialError::Invalid)
    );
}

#[test]
fn tokens_tolerate_surrounding_whitespace() {
    let key = SessionKey::generate();
    let creds = issue(&key, session(), at(100)).unwrap();
    let token = format!(" {}\n", creds.session_token);
    assert!(open(&key, &token, at(101)).is_ok());
}

#[test]
fn debug_output_hides_secrets() {
    let key = SessionKey::generate();
    let creds = issue(&key, session(), at(100)).unwrap();
    for text in [
        format!("{creds:?}"),
        format!("{:?}", creds.claims),
        format!("{key:?}"),
    ] {
        assert!(!text.contains(&creds.secret_access_key), "{text}");
        assert!(!text.contains(&creds.session_token), "{text}");
    }
}

#[test]
fn iso8601_matches_rfc3339_in_utc() {
    use time::format_description::well_known::Rfc3339;
    // Epoch, a leap day, end of a year, the fixture above, far future, the last second of 9999.
    for unix in [
        0u64,
        951_782_400,
        1_703_980_799,
        1_003_600,
        4_102_444_800,
        253_402_300_799,
    ] {
        let t = time::OffsetDateTime::from_unix_timestamp(unix as i64).unwrap();
        assert_eq!(iso8601(unix), t.format(&Rfc3339).unwrap(), "{unix}");
    }
}
