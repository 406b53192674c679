//! A strict, small PEM reader (RFC 7468, plus the RFC 1421 headers openssl writes for
//! encrypted traditional keys, so those can be reported rather than misread).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::KeyError;

/// One `-----BEGIN LABEL-----` ... `-----END LABEL-----` block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PemBlock {
    /// The label, e.g. `RSA PRIVATE KEY`.
    pub label: String,
    /// RFC 1421 headers such as `Proc-Type: 4,ENCRYPTED`, in order.
    pub headers: Vec<(String, String)>,
    /// The decoded body.
    pub der: Vec<u8>,
}

impl PemBlock {
    /// True when the block carries `Proc-Type: 4,ENCRYPTED` (openssl's legacy encryption).
    pub fn is_legacy_encrypted(&self) -> bool {
        self.headers
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case("Proc-Type") && v.contains("ENCRYPTED"))
    }
}

/// Splits `input` into its PEM blocks, in order. Text outside blocks is ignored (openssl
/// writes explanatory text before certificates). Errors on an unterminated block, a
/// mismatched END label or a body that is not base64; a file with no block at all gives
/// [`KeyError::NoPemBlock`] with a hint about what it looks like instead.
pub fn pem_blocks(input: &[u8]) -> Result<Vec<PemBlock>, KeyError> {
    let text = match std::str::from_utf8(input) {
        Ok(t) => t,
        Err(_) if !contains(input, b"-----BEGIN ") => {
            return Err(KeyError::NoPemBlock {
                found: describe_non_pem(input),
            });
        }
        Err(_) => {
            return Err(KeyError::MalformedPem {
                index: 0,
                reason: "the file is not valid UTF-8 text".into(),
            });
        }
    };
    let mut blocks = Vec::new();
    let mut lines = text.lines().map(str::trim_end);
    while let Some(line) = lines.next() {
        let Some(label) = boundary(line.trim_start(), "BEGIN") else {
            continue;
        };
        let index = blocks.len() + 1;
        let mut headers = Vec::new();
        let mut body = String::new();
        let mut in_headers = true;
        let mut ended = false;
        for line in lines.by_ref() {
            let line = line.trim_start();
            if let Some(end) = boundary(line, "END") {
                if end != label {
                    return Err(KeyError::MalformedPem {
                        index,
                        reason: format!("block BEGIN {label} ends with END {end}"),
                    });
                }
                ended = true;
                break;
            }
            if line.starts_with("-----") {
                return Err(KeyError::MalformedPem {
                    index,
                    reason: format!("block {label} has no END line before {line:?}"),
                });
            }
            if in_headers {
                if let Some((k, v)) = line.split_once(':') {
                    headers.push((k.trim().to_owned(), v.trim().to_owned()));
                    continue;
                }
                if line.is_empty() {
                    continue;
                }
                in_headers = false;
            }
            body.extend(line.chars().filter(|c| !c.is_ascii_whitespace()));
        }
        if !ended {
            return Err(KeyError::MalformedPem {
                index,
                reason: format!("block {label} has no END line"),
            });
        }
        let der = STANDARD
            .decode(body.as_bytes())
            .map_err(|_| KeyError::MalformedPem {
                index,
                reason: format!("the body of block {label} is not valid base64"),
            })?;
        blocks.push(PemBlock {
            label: label.to_owned(),
            headers,
            der,
        });
    }
    if blocks.is_empty() {
        return Err(KeyError::NoPemBlock {
            found: describe_non_pem(input),
        });
    }
    Ok(blocks)
}

fn boundary<'a>(line: &'a str, kind: &str) -> Option<&'a str> {
    let rest = line
        .strip_prefix("-----")?
        .strip_prefix(kind)?
        .strip_prefix(' ')?;
    rest.strip_suffix("-----")
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Says what a file without PEM blocks looks like, for the error message.
fn describe_non_pem(input: &[u8]) -> String {
    let trimmed = input.trim_ascii();
    if trimmed.is_empty() {
        return "the file is empty".into();
    }
    for prefix in ["ssh-rsa ", "ecdsa-sha2-", "ssh-ed25519 "] {
        if trimmed.starts_with(prefix.as_bytes()) {
            return "an OpenSSH public key; convert it with `ssh-keygen -e -m PKCS8 -f FILE`"
                .into();
        }
    }
    if trimmed.starts_with(b"{") {
        return "JSON, not a PEM key (a JWK cannot be used here)".into();
    }
    if trimmed.first() == Some(&0x30) {
        return "binary data that looks like DER; convert it with `openssl pkey -inform DER`"
            .into();
    }
    "no -----BEGIN ...----- line".into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_blocks_and_headers_and_ignores_text() {
        let input = "junk before\n-----BEGIN A-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: x\n\nAAEC\r\n-----END A-----\n-----BEGIN B C-----\nAw==\n-----END B C-----\n";
        let blocks = pem_blocks(input.as_bytes()).unwrap();
        assert_eq!(blocks.len(), 2);
        assert_eq!(blocks[0].label, "A");
        assert!(blocks[0].is_legacy_encrypted());
        assert_eq!(blocks[0].der, vec![0, 1, 2]);
        assert_eq!(blocks[1].label, "B C");
        assert_eq!(blocks[1].der, vec![3]);
        assert!(!blocks[1].is_legacy_encrypted());
    }

    #[test]
    fn rejects_broken_pem() {
        let cases: &[&[u8]] = &[
            b"-----BEGIN A-----\nAAEC\n",
            b"-----BEGIN A-----\nAAEC\n-----END B-----\n",
            b"-----BEGIN A-----\n!!!!\n-----END A-----\n",
            b"-----BEGIN A-----\nAAEC\n-----BEGIN B-----\n",
        ];
        for case in cases {
            assert!(
                matches!(pem_blocks(case), Err(KeyError::MalformedPem { .. })),
                "{case:?}"
            );
        }
    }

    #[test]
    fn explains_non_pem() {
        let hint = |b: &[u8]| match pem_blocks(b) {
            Err(KeyError::NoPemBlock { found }) => found,
            other => panic!("{other:?}"),
        };
        assert!(hint(b"").contains("empty"));
        assert!(hint(b"  \n").contains("empty"));
        assert!(hint(b"ssh-rsa AAAA user@host").contains("ssh-keygen -e -m PKCS8"));
        assert!(hint(b"{\"kty\":\"RSA\"}").contains("JSON"));
        assert!(hint(&[0x30, 0x82, 0xff, 0x00]).contains("DER"));
        assert!(hint(b"hello").contains("BEGIN"));
    }
}
