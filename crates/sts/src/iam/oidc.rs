//! OpenID Connect providers: Create/Get/List/Delete, client ids, thumbprints, tags.

use time::OffsetDateTime;

use super::{applied, check_tags, merge_tags, remove_tags, store_err, write_tags};
use crate::protocol::{AwsError, QueryRequest, Violations, XmlWriter};
use crate::server::AppState;
use crate::store::{OidcProvider, iso8601};

/// Parses a provider URL. Returns the stored form (`host[:port]/path`, no scheme).
///
/// AWS rules: `https://` only, no port, no query or fragment, ≤ 255 characters. With
/// `allow_http` (loopback tests), `http://` and ports are accepted too.
pub fn provider_url(url: &str, allow_http: bool) -> Result<String, AwsError> {
    let invalid = || AwsError::validation("Invalid Open ID Connect Provider URL");
    let rest = if let Some(rest) = url.strip_prefix("https://") {
        rest
    } else if let Some(rest) = url.strip_prefix("http://").filter(|_| allow_http) {
        rest
    } else {
        return Err(invalid());
    };
    if rest.contains(['?', '#', '@']) || rest.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid());
    }
    let host_port = rest.split('/').next().unwrap_or("");
    let (host, port) = match host_port.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (host_port, None),
    };
    if host.is_empty()
        || !host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
    {
        return Err(invalid());
    }
    if let Some(p) = port
        && (!allow_http || p.parse::<u16>().is_err())
    {
        return Err(invalid());
    }
    Ok(rest.to_owned())
}

fn check_client_ids(v: &mut Violations, ids: &[String]) {
    if ids.iter().any(|c| c.is_empty() || c.chars().count() > 255) {
        v.add(
            "clientIDList",
            None,
            "Member must satisfy constraint: [Member must have length less than or equal to 255, Member must have length greater than or equal to 1]",
        );
    }
}

fn check_thumbprints(v: &mut Violations, prints: &[String]) {
    if prints.iter().any(|t| t.chars().count() != 40) {
        v.add(
            "thumbprintList",
            None,
            "Member must satisfy constraint: [Member must have length less than or equal to 40, Member must have length greater than or equal to 40]",
        );
    }
}

fn thumbprints_valid(prints: &[String]) -> Result<Vec<String>, AwsError> {
    if prints.len() > 5 {
        return Err(AwsError::invalid_input(
            "Thumbprint list must contain fewer than 5 entries.",
        ));
    }
    if prints
        .iter()
        .any(|t| !t.chars().all(|c| c.is_ascii_hexdigit()))
    {
        return Err(AwsError::invalid_input(
            "Thumbprints must be 40 hexadecimal characters (a SHA-1 fingerprint).",
        ));
    }
    Ok(prints.iter().map(|t| t.to_ascii_lowercase()).collect())
}

fn dedup(list: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(list.len());
    for item in list {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

pub(super) fn create(
    state: &AppState,
    r: &QueryRequest,
    now: OffsetDateTime,
) -> Result<String, AwsError> {
    let url = r.required("Url")?;
    let client_ids = dedup(r.list("ClientIDList"));
    let thumbprints = r.list("ThumbprintList");
    let tags = r.tags("Tags");
    let mut v = Violations::new();
    check_client_ids(&mut v, &client_ids);
    check_thumbprints(&mut v, &thumbprints);
    if url.chars().count() > 255 {
        v.add(
            "url",
            None,
            "Member must have length less than or equal to 255",
        );
    }
    v.finish()?;
    let thumbprints = thumbprints_valid(&thumbprints)?;
    if client_ids.len() > 100 {
        return Err(AwsError::limit_exceeded(
            "Cannot exceed quota for ClientIdsPerOpenIdConnectProvider: 100",
        ));
    }
    check_tags(&tags)?;
    let stored = provider_url(url, state.config.allow_http_issuers)?;
    if url.starts_with("http://") {
        tracing::warn!(
            url,
            "registering an http:// OIDC provider (--allow-http-issuers); AWS requires https without a port"
        );
    }
    if state.store.list_oidc_providers().map_err(store_err)?.len() >= 100 {
        return Err(AwsError::limit_exceeded(
            "Cannot exceed quota for OpenIdConnectProvidersPerAccount: 100",
        ));
    }
    let provider = OidcProvider {
        arn: format!(
            "arn:aws:iam::{}:oidc-provider/{stored}",
            state.config.account_id
        ),
        url: stored,
        client_ids,
        thumbprints,
        tags,
        create_date: now,
    };
    if !state
        .store
        .create_oidc_provider(&provider)
        .map_err(store_err)?
    {
        return Err(AwsError::entity_already_exists(format!(
            "Provider with url {url} already exists."
        )));
    }
    let mut w = XmlWriter::new();
    w.elem("OpenIDConnectProviderArn", &provider.arn);
    write_tags(&mut w, &provider.tags);
    Ok(w.finish())
}

fn load(state: &AppState, r: &QueryRequest, deleting: bool) -> Result<OidcProvider, AwsError> {
    let arn = r.required("OpenIDConnectProviderArn")?;
    state
        .store
        .get_oidc_provider(arn)
        .map_err(store_err)?
        .ok_or_else(|| {
            if deleting {
                AwsError::no_such_entity(format!("OpenId connect Provider {arn} cannot be found."))
            } else {
                AwsError::no_such_entity(format!("OpenIDConnect Provider not found for arn {arn}"))
            }
        })
}

fn save(state: &AppState, p: &OidcProvider) -> Result<String, AwsError> {
    applied(state.store.update_oidc_provider(p), || {
        AwsError::no_such_entity(format!(
            "OpenIDConnect Provider not found for arn {}",
            p.arn
        ))
    })
}

pub(super) fn get(state: &AppState, r: &QueryRequest) -> Result<String, AwsError> {
    let p = load(state, r, false)?;
    let mut w = XmlWriter::new();
    w.string_members("ThumbprintList", &p.thumbprints)
        .elem("CreateDate", &iso8601(p.create_date))
        .string_members("ClientIDList", &p.client_ids)
        .elem("Url", &p.url);
    write_tags(&mut w, &p.tags);
    Ok(w.finish())
}

pub(super) fn list(state: &AppState) -> Result<String, AwsError> {
    let all = state.store.list_oidc_providers().map_err(store_err)?;
    let mut w = XmlWriter::new();
    w.members("OpenIDConnectProviderList", &all, |w, p| {
        w.elem("Arn", &p.arn);
    });
    Ok(w.finish())
}

pub(super) fn delete(state: &AppState, r: &QueryRequest) -> Result<String, AwsError> {
    let p = load(state, r, true)?;
    state
        .store
        .delete_oidc_provider(&p.arn)
        .map_err(store_err)?;
    Ok(String::new())
}

pub(super) fn add_client_id(state: &AppState, r: &QueryRequest) -> Result<String, AwsError> {
    let id = r.required("ClientID")?.to_owned();
    let mut v = Violations::new();
    v.length("clientID", &id, 1, 255);
    v.finish()?;
    let mut p = load(state, r, false)?;
    if !p.client_ids.contains(&id) {
        if p.client_ids.len() >= 100 {
            return Err(AwsError::limit_exceeded(
                "Cannot exceed quota for ClientIdsPerOpenIdConnectProvider: 100",
            ));
        }
        p.client_ids.push(id);
    }
    save(state, &p)
}

pub(super) fn remove_client_id(state: &AppState, r: &QueryRequest) -> Result<String, AwsError> {
    let id = r.required("ClientID")?;
    let mut p = load(state, r, false)?;
    p.client_ids.retain(|c| c != id);
    save(state, &p)
}

pub(super) fn update_thumbprint(state: &AppState, r: &QueryRequest) -> Result<String, AwsError> {
    let prints = r.list("ThumbprintList");
    let mut v = Violations::new();
    check_thumbprints(&mut v, &prints);
    v.finish()?;
    let prints = thumbprints_valid(&prints)?;
    let mut p = load(state, r, false)?;
    p.thumbprints = prints;
    save(state, &p)
}

pub(super) fn tag(state: &AppState, r: &QueryRequest) -> Result<String, AwsError> {
    let mut p = load(state, r, false)?;
    merge_tags(&mut p.tags, r.tags("Tags"))?;
    save(state, &p)
}

pub(super) fn untag(state: &AppState, r: &QueryRequest) -> Result<String, AwsError> {
    let mut p = load(state, r, false)?;
    remove_tags(&mut p.tags, &r.list("TagKeys"));
    save(state, &p)
}

pub(super) fn list_tags(state: &AppState, r: &QueryRequest) -> Result<String, AwsError> {
    let p = load(state, r, false)?;
    let (tags, next) = super::page(r, &p.tags)?;
    let mut w = XmlWriter::new();
    write_tags(&mut w, tags);
    super::write_page_end(&mut w, next);
    Ok(w.finish())
}

#[cfg(test)]
mod tests {
    use super::provider_url;

    #[test]
    fn url_rules() {
        assert_eq!(
            provider_url("https://oidc.example.com/id/ABC", false).unwrap(),
            "oidc.example.com/id/ABC"
        );
        assert_eq!(
            provider_url("https://auth.example.com/", false).unwrap(),
            "auth.example.com/"
        );
        for bad in [
            "http://x.example.com",
            "https://x:8443",
            "https://x/?a=1",
            "https://x/#f",
            "https://",
            "ftp://x",
        ] {
            let e = provider_url(bad, false).unwrap_err();
            assert_eq!(e.message, "Invalid Open ID Connect Provider URL", "{bad}");
        }
        assert_eq!(
            provider_url("http://127.0.0.1:8080", true).unwrap(),
            "127.0.0.1:8080"
        );
        assert!(provider_url("http://127.0.0.1:99999", true).is_err());
    }
}
