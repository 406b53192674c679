//! IAM OpenID Connect providers.

use rusqlite::{OptionalExtension, Row, params};
use time::OffsetDateTime;

use super::{Store, StoreError, from_json, from_unix, to_json, to_unix};

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

fn row(r: &Row<'_>) -> rusqlite::Result<(String, String, String, String, String, i64)> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
    ))
}

fn decode(
    (arn, url, client_ids, thumbprints, tags, create_date): (
        String,
        String,
        String,
        String,
        String,
        i64,
    ),
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
            let taken: Option<i64> = tx
                .query_row(
                    "SELECT 1 FROM oidc_providers WHERE url = ?1 OR arn = ?2",
                    params![p.url, p.arn],
                    |r| r.get(0),
                )
                .optional()?;
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
        let raw = self
            .lock()
            .query_row(
                &format!("SELECT {COLUMNS} FROM oidc_providers WHERE arn = ?1"),
                params![arn],
                row,
            )
            .optional()?;
        raw.map(decode).transpose()
    }

    /// The provider whose URL (issuer without `https://`, e.g. `oidc.example.com/id/abc`) is
    /// exactly `host_path` (case-sensitive, trailing slash significant, as in AWS).
    pub fn get_oidc_provider_by_url(
        &self,
        host_path: &str,
    ) -> Result<Option<OidcProvider>, StoreError> {
        let raw = self
            .lock()
            .query_row(
                &format!("SELECT {COLUMNS} FROM oidc_providers WHERE url = ?1"),
                params![host_path],
                row,
            )
            .optional()?;
        raw.map(decode).transpose()
    }

    /// All providers, ordered by ARN.
    pub fn list_oidc_providers(&self) -> Result<Vec<OidcProvider>, StoreError> {
        let conn = self.lock();
        let mut stmt = conn.prepare(&format!(
            "SELECT {COLUMNS} FROM oidc_providers ORDER BY arn"
        ))?;
        let raws = stmt
            .query_map([], row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        raws.into_iter().map(decode).collect()
    }

    /// Replaces the mutable fields (client ids, thumbprints, tags). Returns `false` if absent.
    pub fn update_oidc_provider(&self, p: &OidcProvider) -> Result<bool, StoreError> {
        self.write(|tx| {
            let n = tx.execute(
                "UPDATE oidc_providers SET client_ids = ?2, thumbprints = ?3, tags = ?4 WHERE arn = ?1",
                params![p.arn, to_json(&p.client_ids), to_json(&p.thumbprints), to_json(&p.tags)],
            )?;
            Ok(n == 1)
        })
    }

    /// Deletes a provider. Returns `false` if absent.
    pub fn delete_oidc_provider(&self, arn: &str) -> Result<bool, StoreError> {
        self.write(|tx| {
            Ok(tx.execute("DELETE FROM oidc_providers WHERE arn = ?1", params![arn])? == 1)
        })
    }
}
