//! Issuer URL rules: what AWS IAM accepts as an OIDC provider URL, and how the
//! discovery and JWKS URLs are derived from it.
//!
//! The issuer string is never normalised: the `iss` claim, the discovery document's
//! `issuer`, the IAM provider URL and the trust-policy condition keys must be byte-for-byte
//! identical, so we keep exactly what the user typed and only refuse or warn.

use std::fmt;

/// Length limit of an IAM OIDC provider URL (`CreateOpenIDConnectProvider.Url`).
pub const MAX_ISSUER_LEN: usize = 255;

/// The path of the discovery document below the issuer (OpenID Connect Discovery 1.0, 4).
pub const DISCOVERY_PATH: &str = ".well-known/openid-configuration";

/// How strictly an issuer URL is checked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum IssuerPolicy {
    /// What AWS IAM accepts: `https://`, no port, no query, no fragment, no userinfo.
    #[default]
    Aws,
    /// A local test issuer: additionally allows `http://` and an explicit port.
    AllowInsecureHttp,
}

/// A non-fatal remark about an issuer URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IssuerWarning {
    /// The issuer ends in `/`; it then must end in `/` everywhere (see the message).
    TrailingSlash,
    /// The host has upper-case letters; IAM matches the issuer case-sensitively.
    UpperCaseHost,
    /// An `http://` issuer or a port: fine for local tests, never accepted by AWS.
    NotAcceptedByAws,
}

impl fmt::Display for IssuerWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TrailingSlash => f.write_str(
                "the issuer URL ends with '/': the `iss` claim, --service-account-issuer, the IAM \
                 provider URL and the trust-policy condition keys (`host/:sub`) must then all end \
                 with '/' too; drop the slash unless that is really what you want",
            ),
            Self::UpperCaseHost => f.write_str(
                "the issuer host has upper-case letters: AWS compares issuers case-sensitively, so \
                 every place that names the issuer must use exactly this spelling",
            ),
            Self::NotAcceptedByAws => f.write_str(
                "this issuer uses http:// or a port: good for a local test issuer, but AWS IAM will \
                 not accept it as an OIDC provider URL",
            ),
        }
    }
}

/// Why an issuer URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IssuerUrlError {
    /// Empty or whitespace around the value.
    #[error(
        "the issuer URL is empty or has leading/trailing whitespace; give e.g. https://oidc.example.com"
    )]
    Blank,
    /// Longer than IAM allows.
    #[error("the issuer URL is {0} characters long; AWS IAM allows at most 255")]
    TooLong(usize),
    /// Not `https://` (or `http://` when insecure issuers are allowed).
    #[error(
        "the issuer URL must start with https:// (AWS IAM accepts nothing else); \
         for a local test issuer on loopback pass --allow-insecure-http"
    )]
    Scheme,
    /// `http://` without the opt-in.
    #[error(
        "the issuer URL uses http://, which AWS IAM rejects; use https://, or pass \
         --allow-insecure-http for a local test issuer"
    )]
    InsecureHttp,
    /// A port was given without the opt-in.
    #[error(
        "the issuer URL has a port ({0}); AWS IAM rejects provider URLs with a port: serve the \
         documents on 443 (S3, CloudFront, any static host), or pass --allow-insecure-http for a \
         local test issuer"
    )]
    Port(String),
    /// A `?query`.
    #[error(
        "the issuer URL has a query string; OIDC issuers and AWS IAM provider URLs may not have one"
    )]
    Query,
    /// A `#fragment`.
    #[error("the issuer URL has a fragment ('#'); OIDC issuers may not have one")]
    Fragment,
    /// `user@host`.
    #[error("the issuer URL has user information ('user@'); remove it")]
    UserInfo,
    /// No host.
    #[error("the issuer URL has no host; give e.g. https://oidc.example.com")]
    NoHost,
    /// Characters that are not allowed in a URL.
    #[error(
        "the issuer URL contains {0:?}, which is not allowed in a URL; percent-encode it or remove it"
    )]
    BadCharacter(char),
    /// The discovery URL was given instead of the issuer.
    #[error(
        "the issuer URL ends with /.well-known/openid-configuration: give the issuer itself (the \
         part before /.well-known), exactly as in --service-account-issuer"
    )]
    DiscoveryUrlGiven,
}

/// A checked issuer URL, kept byte-for-byte as given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuerUrl {
    raw: String,
    scheme_len: usize,
    host_end: usize,
    warnings: Vec<IssuerWarning>,
}

impl IssuerUrl {
    /// Checks `raw` against `policy`.
    pub fn parse(raw: &str, policy: IssuerPolicy) -> Result<Self, IssuerUrlError> {
        if raw.is_empty() || raw.trim() != raw {
            return Err(IssuerUrlError::Blank);
        }
        if raw.len() > MAX_ISSUER_LEN {
            return Err(IssuerUrlError::TooLong(raw.len()));
        }
        if let Some(c) = raw.chars().find(|c| {
            c.is_whitespace()
                || c.is_control()
                || matches!(c, '"' | '<' | '>' | '\\' | '^' | '`' | '{' | '|' | '}')
        }) {
            return Err(IssuerUrlError::BadCharacter(c));
        }
        let mut warnings = Vec::new();
        let (scheme_len, insecure) = if raw.starts_with("https://") {
            (8, false)
        } else if raw.starts_with("http://") {
            (7, true)
        } else {
            return Err(IssuerUrlError::Scheme);
        };
        if insecure {
            if policy != IssuerPolicy::AllowInsecureHttp {
                return Err(IssuerUrlError::InsecureHttp);
            }
            warnings.push(IssuerWarning::NotAcceptedByAws);
        }
        if raw.contains('#') {
            return Err(IssuerUrlError::Fragment);
        }
        if raw.contains('?') {
            return Err(IssuerUrlError::Query);
        }
        let rest = &raw[scheme_len..];
        let authority_len = rest.find('/').unwrap_or(rest.len());
        let authority = &rest[..authority_len];
        if authority.contains('@') {
            return Err(IssuerUrlError::UserInfo);
        }
        let host = split_port(authority)?;
        if host.0.is_empty() {
            return Err(IssuerUrlError::NoHost);
        }
        if let Some(port) = host.1 {
            if policy != IssuerPolicy::AllowInsecureHttp {
                return Err(IssuerUrlError::Port(port.to_owned()));
            }
            if !warnings.contains(&IssuerWarning::NotAcceptedByAws) {
                warnings.push(IssuerWarning::NotAcceptedByAws);
            }
        }
        if host.0.chars().any(|c| c.is_ascii_uppercase()) {
            warnings.push(IssuerWarning::UpperCaseHost);
        }
        let path = &rest[authority_len..];
        if path
            .trim_end_matches('/')
            .ends_with(&format!("/{DISCOVERY_PATH}"))
        {
            return Err(IssuerUrlError::DiscoveryUrlGiven);
        }
        if raw.ends_with('/') {
            warnings.push(IssuerWarning::TrailingSlash);
        }
        Ok(Self {
            raw: raw.to_owned(),
            scheme_len,
            host_end: scheme_len + authority_len,
            warnings,
        })
    }

    /// The issuer exactly as given.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// Remarks worth showing the user.
    pub fn warnings(&self) -> &[IssuerWarning] {
        &self.warnings
    }

    /// `host[:port]`.
    pub fn authority(&self) -> &str {
        &self.raw[self.scheme_len..self.host_end]
    }

    /// The path part (possibly empty, never with a query).
    pub fn path(&self) -> &str {
        &self.raw[self.host_end..]
    }

    /// The issuer without `https://`: the IAM provider "URL" as IAM stores it, and the
    /// prefix of the trust-policy condition keys (`<this>:sub`, `<this>:aud`).
    pub fn host_path(&self) -> &str {
        &self.raw[self.scheme_len..]
    }

    /// Whether the URL uses `http://`.
    pub fn is_insecure(&self) -> bool {
        self.scheme_len == 7
    }

    /// The URL a client fetches discovery from: the issuer with any trailing `/` removed,
    /// then `/.well-known/openid-configuration` (OpenID Connect Discovery 1.0, section 4).
    pub fn discovery_url(&self) -> String {
        self.child_url(DISCOVERY_PATH)
    }

    /// The URL of a file published next to the discovery document, e.g. the JWKS.
    pub fn child_url(&self, relative: &str) -> String {
        format!("{}/{}", self.raw.trim_end_matches('/'), relative)
    }

    /// If `url` names a file below this issuer, its path relative to the issuer.
    pub fn relative_path_of<'a>(&self, url: &'a str) -> Option<&'a str> {
        let base = self.raw.trim_end_matches('/');
        url.strip_prefix(base)?
            .strip_prefix('/')
            .filter(|p| !p.is_empty())
    }
}

impl fmt::Display for IssuerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

/// Splits `host[:port]` (with `[v6]` literals) into host and optional port.
fn split_port(authority: &str) -> Result<(&str, Option<&str>), IssuerUrlError> {
    if let Some(v6) = authority.strip_prefix('[') {
        let end = v6.find(']').ok_or(IssuerUrlError::NoHost)?;
        let after = &v6[end + 1..];
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p),
            None if after.is_empty() => None,
            None => return Err(IssuerUrlError::NoHost),
        };
        return Ok((&authority[..end + 2], port));
    }
    Ok(match authority.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    })
}

/// Why a JWKS path was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the JWKS path {path:?} is not usable: give a relative path made of letters, digits, '.', '_', \
     '-' and '/' separators, without '..' or empty segments (e.g. keys.json or openid/v1/jwks)"
)]
pub struct JwksPathError {
    /// The refused value.
    pub path: String,
}

/// Checks a JWKS path relative to the issuer (`keys.json`, `openid/v1/jwks`).
///
/// The same rule guards the server: only paths that pass it are ever mapped to files.
pub fn check_jwks_path(path: &str) -> Result<(), JwksPathError> {
    let bad = || JwksPathError {
        path: path.to_owned(),
    };
    if path.is_empty() || path.len() > 200 || path == DISCOVERY_PATH {
        return Err(bad());
    }
    for segment in path.split('/') {
        let ok = !segment.is_empty()
            && segment != "."
            && segment != ".."
            && segment
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if !ok {
            return Err(bad());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn aws(raw: &str) -> Result<IssuerUrl, IssuerUrlError> {
        IssuerUrl::parse(raw, IssuerPolicy::Aws)
    }

    fn local(raw: &str) -> Result<IssuerUrl, IssuerUrlError> {
        IssuerUrl::parse(raw, IssuerPolicy::AllowInsecureHttp)
    }

    #[test]
    fn accepts_what_aws_accepts_byte_for_byte() {
        let u = aws("https://oidc.example.com").unwrap();
        assert_eq!(u.as_str(), "https://oidc.example.com");
        assert!(u.warnings().is_empty());
        assert_eq!(u.host_path(), "oidc.example.com");
        assert_eq!(
            u.discovery_url(),
            "https://oidc.example.com/.well-known/openid-configuration"
        );
        let s3 = aws("https://s3.eu-west-1.amazonaws.com/my-bucket/cluster-a").unwrap();
        assert_eq!(s3.path(), "/my-bucket/cluster-a");
        assert_eq!(
            s3.host_path(),
            "s3.eu-west-1.amazonaws.com/my-bucket/cluster-a"
        );
        assert_eq!(
            s3.child_url("keys.json"),
            "https://s3.eu-west-1.amazonaws.com/my-bucket/cluster-a/keys.json"
        );
    }

    #[test]
    fn trailing_slash_is_kept_and_warned_about() {
        let u = aws("https://oidc.example.com/").unwrap();
        assert_eq!(u.as_str(), "https://oidc.example.com/");
        assert_eq!(u.warnings(), &[IssuerWarning::TrailingSlash]);
        assert_eq!(u.host_path(), "oidc.example.com/");
        assert_eq!(
            u.child_url("keys.json"),
            "https://oidc.example.com/keys.json"
        );
        assert_eq!(
            u.discovery_url(),
            "https://oidc.example.com/.well-known/openid-configuration"
        );
    }

    #[test]
    fn refuses_what_aws_refuses() {
        assert_eq!(
            aws("http://oidc.example.com"),
            Err(IssuerUrlError::InsecureHttp)
        );
        assert_eq!(aws("ftp://oidc.example.com"), Err(IssuerUrlError::Scheme));
        assert_eq!(aws("oidc.example.com"), Err(IssuerUrlError::Scheme));
        assert_eq!(
            aws("https://oidc.example.com:8443"),
            Err(IssuerUrlError::Port("8443".into()))
        );
        assert_eq!(
            aws("https://oidc.example.com/?a=b"),
            Err(IssuerUrlError::Query)
        );
        assert_eq!(
            aws("https://oidc.example.com#x"),
            Err(IssuerUrlError::Fragment)
        );
        assert_eq!(
            aws("https://me@oidc.example.com"),
            Err(IssuerUrlError::UserInfo)
        );
        assert_eq!(aws("https://"), Err(IssuerUrlError::NoHost));
        assert_eq!(aws("https:///path"), Err(IssuerUrlError::NoHost));
        assert_eq!(aws(" https://a.example"), Err(IssuerUrlError::Blank));
        assert_eq!(aws(""), Err(IssuerUrlError::Blank));
        assert_eq!(
            aws("https://a.example/x y"),
            Err(IssuerUrlError::BadCharacter(' '))
        );
        assert_eq!(
            aws("https://a.example/.well-known/openid-configuration"),
            Err(IssuerUrlError::DiscoveryUrlGiven)
        );
        let long = format!("https://a.example/{}", "x".repeat(250));
        assert_eq!(aws(&long), Err(IssuerUrlError::TooLong(long.len())));
    }

    #[test]
    fn insecure_opt_in_allows_loopback_http_and_ports_only() {
        let u = local("http://127.0.0.1:45678").unwrap();
        assert!(u.is_insecure());
        assert_eq!(u.authority(), "127.0.0.1:45678");
        assert_eq!(u.warnings(), &[IssuerWarning::NotAcceptedByAws]);
        let v6 = local("http://[::1]:8080/issuer").unwrap();
        assert_eq!(v6.path(), "/issuer");
        assert!(local("https://[::1]").unwrap().warnings().is_empty());
        // Query, fragment and userinfo are never valid issuers.
        assert_eq!(local("http://127.0.0.1:1/?x"), Err(IssuerUrlError::Query));
        assert_eq!(local("http://u@127.0.0.1:1"), Err(IssuerUrlError::UserInfo));
    }

    #[test]
    fn warns_about_upper_case_hosts() {
        let u = aws("https://OIDC.example.com").unwrap();
        assert_eq!(u.warnings(), &[IssuerWarning::UpperCaseHost]);
    }

    #[test]
    fn relative_paths_below_the_issuer() {
        let u = aws("https://a.example/cluster").unwrap();
        assert_eq!(
            u.relative_path_of("https://a.example/cluster/keys.json"),
            Some("keys.json")
        );
        assert_eq!(
            u.relative_path_of("https://a.example/other/keys.json"),
            None
        );
        assert_eq!(u.relative_path_of("https://a.example/cluster"), None);
    }

    #[test]
    fn jwks_paths() {
        for ok in ["keys.json", "openid/v1/jwks", "jwks-2024_01.json"] {
            assert_eq!(check_jwks_path(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "/keys.json",
            "../keys.json",
            "a/../b",
            "a//b",
            "./keys",
            "keys.json/",
            "%2e%2e",
            "a\\b",
            ".well-known/openid-configuration",
            "ключи",
        ] {
            assert!(check_jwks_path(bad).is_err(), "{bad}");
        }
    }
}
