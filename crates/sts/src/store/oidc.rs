//! IAM OpenID Connect providers.

use rusqlite::params;
use time::OffsetDateTime;

use super::{Store, StoreError, from_json, from_unix, optional_scalar, to_json, to_unix};

/// An IAM OIDC identity provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcProvider {
    /// `arn:aws:iam::ACCOUNT:oidc-provider/<host><path>`.
    pub arn: String,
    /// The issuer without its scheme (`host[:port]/path`), as AWS returns it.
    pub url: String,
    /// Accepted audiences.
    pub client_ids: Vec<String>,
    /// Lowercase hex SHA-1 thumbprints of trusted CA certificates.
    pub thumbprints: Vec<String>,
    /// Tags in insertion order.
    pub tags: Vec<(String, String)>,
    /// Creation time.
    pub create_date: OffsetDateTime,
}

const COLUMNS: &str = "arn, url, client_ids, thumbprints, tags, create_date";

/// The columns of [`COLUMNS`], in order.
type Raw = (String, String, String, String, String, i64);

fn decode(
    (arn, url, client_ids, thumbprints, tags, create_date): Raw,
) -> Result<OidcProvider, StoreError> {
    Ok(OidcProvider {
        arn,
        url,
        client_ids: from_json(&client_ids, "oidc_providers.client_ids")?,
        thumbprints: from_json(&thumbprints, "oidc_providers.thumbprints")?,
        tags: from_json(&tags, "oidc_providers.tags")?,
        create_date: from_unix(create_date)?,
    })
}

impl Store {
    /// Inserts a provider. Returns `false` (and changes nothing) when its URL is taken.
    pub fn create_oidc_provider(&self, p: &OidcProvider) -> Result<bool, StoreError> {
        self.write(|tx| {
            let taken: Option<i64> = optional_scalar(
                tx,
                "SELECT 1 FROM oidc_providers WHERE url = ?1 OR arn = ?2",
                params![p.url, p.arn],
            )?;
            if taken.is_some() {
                return Ok(false);
            }
            tx.execute(
                &format!("INSERT INTO oidc_providers ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"),
                params![
                    p.arn,
                    p.url,
                    to_json(&p.client_ids),
                    to_json(&p.thumbprints),
                    to_json(&p.tags),
                    to_unix(p.create_date)
                ],
            )?;
            Ok(true)
        })
    }

    /// The provider with this ARN.
    pub fn get_oidc_provider(&self, arn: &str) -> Result<Option<OidcProvider>, StoreError> {
        self.query_optional(
            &format!("SELECT {COLUMNS} FROM oidc_providers WHERE arn = ?1"),
            params![arn],
            decode,
        )
    }

    /// The provider whose URL (issuer without `https://`, e.g. `oidc.example.com/id/abc`) is
    /// exactly `host_path` (case-sensitive, trailing slash significant, as in AWS).
    pub fn get_oidc_provider_by_url(
        &self,
        host_path: &str,
    ) -> Result<Option<OidcProvider>, StoreError> {
        self.query_optional(
            &format!("SELECT {COLUMNS} FROM oidc_providers WHERE url = ?1"),
            params![host_path],
            decode,
        )
    }

    /// All providers, ordered by ARN.
    pub fn list_oidc_providers(&self) -> Result<Vec<OidcProvider>, StoreError> {
        self.query_all(
            &format!("SELECT {COLUMNS} FROM oidc_providers ORDER BY arn"),
            [],
            decode,
        )
    }

    /// Replaces the mutable fields (client ids, thumbprints, tags). Returns `false` if absent.
    pub fn update_oidc_provider(&self, p: &OidcProvider) -> Result<bool, StoreError> {
        self.write_one(
            "UPDATE oidc_providers SET client_ids = ?2, thumbprints = ?3, tags = ?4 WHERE arn = ?1",
            params![
                p.arn,
                to_json(&p.client_ids),
                to_json(&p.thumbprints),
                to_json(&p.tags)
            ],
        )
    }

    /// Deletes a provider. Returns `false` if absent.
    pub fn delete_oidc_provider(&self, arn: &str) -> Result<bool, StoreError> {
        self.write_one("DELETE FROM oidc_providers WHERE arn = ?1", params![arn])
    }
}
