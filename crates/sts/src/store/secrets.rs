//! Server secrets: the generated admin key pair and the session-token key.

use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError};

/// Name of the stored admin access key id.
pub const ADMIN_ACCESS_KEY_ID: &str = "admin_access_key_id";
/// Name of the stored admin secret access key.
pub const ADMIN_SECRET_ACCESS_KEY: &str = "admin_secret_access_key";
/// Name of the stored 32-byte session-token encryption key.
pub const SESSION_KEY: &str = "session_key";

impl Store {
    /// A stored secret, if present.
    pub fn secret(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .lock()
            .query_row(
                "SELECT value FROM secrets WHERE name = ?1",
                params![name],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// The stored secret `name`, or the value of `generate` stored under that name.
    /// Returns the value and whether it was just created.
    pub fn secret_or_insert(
        &self,
        name: &str,
        generate: impl FnOnce() -> Vec<u8>,
    ) -> Result<(Vec<u8>, bool), StoreError> {
        self.write(|tx| {
            let existing: Option<Vec<u8>> = tx
                .query_row(
                    "SELECT value FROM secrets WHERE name = ?1",
                    params![name],
                    |r| r.get(0),
                )
                .optional()?;
            if let Some(v) = existing {
                return Ok((v, false));
            }
            let v = generate();
            tx.execute(
                "INSERT INTO secrets (name, value) VALUES (?1, ?2)",
                params![name, v],
            )?;
            Ok((v, true))
        })
    }
}
