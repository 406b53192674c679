//! The key rotation plan: what changes in the published JWKS, and the safe order of steps.
//!
//! Pure: takes and returns values; `publish` does the file work.

use std::fmt::Write as _;

use crate::documents::{Jwk, JwkSet, kid_of, same_key};

/// Why a rotation step was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RotationError {
    /// The kid is not in the JWKS.
    #[error("no key with kid {kid:?} is published; published kids: {known}")]
    UnknownKid {
        /// The kid asked for.
        kid: String,
        /// The kids present, comma separated.
        known: String,
    },
    /// Retiring would leave no usable key.
    #[error(
        "refusing to retire {kid:?}: it is the last published key, and every token would stop \
         verifying; add the new key first (irsa issuer rotate --add-key NEW.pem)"
    )]
    LastKey {
        /// The kid asked for.
        kid: String,
    },
    /// The empty kid names the legacy copies; retire by the real kid instead.
    #[error(
        "give the kid of a real key; copies with an empty kid are retired together with their key"
    )]
    EmptyKid,
}

/// What adding keys changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Added {
    /// Kids newly published.
    pub added: Vec<String>,
    /// Kids that were already published (nothing to do).
    pub already_published: Vec<String>,
}

/// Adds keys to the set; a key whose kid and material are already there is skipped.
pub fn add_keys(jwks: &mut JwkSet, keys: Vec<Jwk>) -> Added {
    let mut out = Added::default();
    for key in keys {
        let kid = kid_of(&key).unwrap_or_default().to_owned();
        if jwks.insert(key) {
            out.added.push(kid);
        } else {
            out.already_published.push(kid);
        }
    }
    out
}

/// Removes every key with `kid`, plus empty-kid legacy copies of the same key material.
/// Returns how many JWK entries were removed.
pub fn retire_kid(jwks: &mut JwkSet, kid: &str) -> Result<usize, RotationError> {
    if kid.is_empty() {
        return Err(RotationError::EmptyKid);
    }
    let retired: Vec<Jwk> = jwks
        .keys()
        .iter()
        .filter(|k| kid_of(k) == Some(kid))
        .cloned()
        .collect();
    if retired.is_empty() {
        return Err(RotationError::UnknownKid {
            kid: kid.to_owned(),
            known: jwks.kids().join(", "),
        });
    }
    let remaining_kids = jwks.kids().into_iter().filter(|k| *k != kid).count();
    if remaining_kids == 0 {
        return Err(RotationError::LastKey {
            kid: kid.to_owned(),
        });
    }
    let before = jwks.keys().len();
    jwks.keys_mut().retain(|k| {
        let this_kid = kid_of(k);
        let legacy_copy = this_kid == Some("") && retired.iter().any(|r| same_key(r, k));
        this_kid != Some(kid) && !legacy_copy
    });
    Ok(before - jwks.keys().len())
}

/// Where a rotation stands, for [`procedure`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage<'a> {
    /// The new key was just published next to the old ones.
    Added {
        /// The new kid.
        new: &'a str,
        /// The kids published before it (to retire later).
        old: &'a [&'a str],
    },
    /// The old key (this kid) was just retired.
    Retired(&'a str),
}

/// The safe signing-key rotation procedure, with this issuer's values filled in and the
/// steps marked `done`, `todo`, or `check` (must have happened before this stage).
///
/// Order matters: verifiers (AWS STS caches JWKS, kube-apiserver verifies with its key files)
/// must know the new key before any token is signed with it, and the old key must stay
/// published until every token it signed has expired.
pub fn procedure(issuer: &str, jwks_uri: &str, stage: Stage<'_>) -> String {
    let (new, old) = match stage {
        Stage::Added { new, old } if !old.is_empty() => (new, old.join(" / ")),
        Stage::Added { new, .. } => (new, "OLD_KID".to_owned()),
        Stage::Retired(kid) => ("NEW_KID", kid.to_owned()),
    };
    let earlier = match stage {
        Stage::Added { .. } => "todo",
        Stage::Retired(_) => "check",
    };
    let mut s = String::new();
    let _ = writeln!(s, "Safe signing-key rotation for {issuer}:");
    let mut step = |n: u8, mark: &str, text: String| {
        let _ = writeln!(s, "  {n}. [{mark}] {text}");
    };
    step(
        1,
        if matches!(stage, Stage::Added { .. }) {
            "done"
        } else {
            "check"
        },
        format!(
            "Publish the new public key (kid {new}) next to the old one: upload the folder, then \
             check {jwks_uri} lists both kids."
        ),
    );
    step(
        2,
        earlier,
        "Add the new public key as an extra --service-account-key-file on every kube-apiserver \
         (keep the old one); restart the API servers. They now verify both keys."
            .into(),
    );
    step(
        3,
        earlier,
        "Wait at least the JWKS cache lifetime (Cache-Control max-age=3600, i.e. 1 hour) so AWS \
         STS and other verifiers have fetched the new key set."
            .into(),
    );
    step(
        4,
        earlier,
        "Switch --service-account-signing-key-file to the new private key and restart the API \
         servers. New tokens carry the new kid."
            .into(),
    );
    step(
        5,
        earlier,
        "Wait the maximum token lifetime (--service-account-max-token-expiration; kubelet \
         refreshes projected tokens at 80% of their TTL or after 24 h, so wait at least 24 h)."
            .into(),
    );
    let retire = match stage {
        Stage::Added { .. } => format!(
            "Retire the old key ({old}): `irsa issuer rotate --dir DIR --retire-kid KID`, upload \
             the folder, and remove the old public key from --service-account-key-file."
        ),
        Stage::Retired(_) => format!(
            "Retire the old key (kid {old}): upload the folder so the JWKS drops it, and remove \
             the old public key from --service-account-key-file."
        ),
    };
    step(
        6,
        if matches!(stage, Stage::Retired(_)) {
            "done"
        } else {
            "todo"
        },
        retire,
    );
    s
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn key(kid: &str, n: &str) -> Jwk {
        let Value::Object(m) =
            json!({"use":"sig","kty":"RSA","kid":kid,"alg":"RS256","n":n,"e":"AQAB"})
        else {
            unreachable!()
        };
        m
    }

    fn set(keys: &[Jwk]) -> JwkSet {
        let mut s = JwkSet::new();
        for k in keys {
            s.insert(k.clone());
        }
        s
    }

    #[test]
    fn adding_is_idempotent() {
        let mut jwks = set(&[key("old", "a")]);
        let first = add_keys(&mut jwks, vec![key("new", "b")]);
        assert_eq!(first.added, vec!["new"]);
        let again = add_keys(&mut jwks, vec![key("new", "b")]);
        assert!(again.added.is_empty());
        assert_eq!(again.already_published, vec!["new"]);
        assert_eq!(jwks.kids(), vec!["old", "new"]);
    }

    #[test]
    fn retiring_removes_the_key_and_its_legacy_copy_only() {
        let mut jwks = set(&[key("old", "a"), key("", "a"), key("new", "b"), key("", "b")]);
        assert_eq!(retire_kid(&mut jwks, "old"), Ok(2));
        assert_eq!(jwks.keys(), &[key("new", "b"), key("", "b")]);
    }

    #[test]
    fn refuses_unknown_last_and_empty_kids() {
        let mut jwks = set(&[key("only", "a"), key("", "a")]);
        assert_eq!(
            retire_kid(&mut jwks, "nope"),
            Err(RotationError::UnknownKid {
                kid: "nope".into(),
                known: "only".into()
            })
        );
        assert_eq!(
            retire_kid(&mut jwks, "only"),
            Err(RotationError::LastKey { kid: "only".into() })
        );
        assert_eq!(retire_kid(&mut jwks, ""), Err(RotationError::EmptyKid));
        assert_eq!(jwks.keys().len(), 2, "a refused step changes nothing");
    }

    #[test]
    fn procedure_names_the_order_and_the_values() {
        let text = procedure(
            "https://oidc.example.com",
            "https://oidc.example.com/keys.json",
            Stage::Added {
                new: "NEWKID",
                old: &["OLDKID"],
            },
        );
        let publish = text
            .find("1. [done] Publish the new public key (kid NEWKID)")
            .unwrap();
        let verify = text.find("--service-account-key-file").unwrap();
        let switch = text
            .find("Switch --service-account-signing-key-file")
            .unwrap();
        let retire = text.find("6. [todo] Retire the old key (OLDKID)").unwrap();
        assert!(publish < verify && verify < switch && switch < retire);
        assert!(text.contains("https://oidc.example.com/keys.json"));
        let retired = procedure(
            "https://a.example",
            "https://a.example/k",
            Stage::Retired("OLD"),
        );
        assert!(retired.contains("2. [check]"), "{retired}");
        assert!(
            retired.contains("6. [done] Retire the old key (kid OLD)"),
            "{retired}"
        );
    }
}
