//! IAM roles and their inline policies.

use rusqlite::{Connection, params};
use time::OffsetDateTime;

use super::{Store, StoreError, from_json, from_unix, optional_scalar, scalar, to_json, to_unix};

/// An IAM role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    /// Role name (unique, case-insensitive).
    pub name: String,
    /// Unique id, `AROA` + 17 base32 characters.
    pub id: String,
    /// `arn:aws:iam::ACCOUNT:role<path><name>`.
    pub arn: String,
    /// Path, `/` or `/a/b/`.
    pub path: String,
    /// The trust policy (plain JSON, not URL-encoded).
    pub assume_role_policy_document: String,
    /// Description.
    pub description: Option<String>,
    /// Maximum session duration in seconds (3600..=43200).
    pub max_session_duration: i64,
    /// ARN of the permissions boundary policy.
    pub permissions_boundary: Option<String>,
    /// Tags in insertion order.
    pub tags: Vec<(String, String)>,
    /// Creation time.
    pub create_date: OffsetDateTime,
}

const COLUMNS: &str = "name, id, arn, path, assume_role_policy, description, max_session_duration, \
                       permissions_boundary, tags, create_date";

type RawRole = (
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    i64,
    Option<String>,
    String,
    i64,
);

fn decode(raw: RawRole) -> Result<Role, StoreError> {
    let (name, id, arn, path, doc, description, max, boundary, tags, created) = raw;
    Ok(Role {
        name,
        id,
        arn,
        path,
        assume_role_policy_document: doc,
        description,
        max_session_duration: max,
        permissions_boundary: boundary,
        tags: from_json(&tags, "roles.tags")?,
        create_date: from_unix(created)?,
    })
}

impl Store {
    /// Inserts a role. Returns `false` (and changes nothing) if the name is taken.
    pub fn create_role(&self, role: &Role) -> Result<bool, StoreError> {
        self.write(|tx| {
            if canonical_name(tx, &role.name)?.is_some() {
                return Ok(false);
            }
            tx.execute(
                &format!(
                    "INSERT INTO roles ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
                ),
                params![
                    role.name,
                    role.id,
                    role.arn,
                    role.path,
                    role.assume_role_policy_document,
                    role.description,
                    role.max_session_duration,
                    role.permissions_boundary,
                    to_json(&role.tags),
                    to_unix(role.create_date)
                ],
            )?;
            Ok(true)
        })
    }

    /// The role with this name (case-insensitive, as IAM).
    pub fn get_role_by_name(&self, name: &str) -> Result<Option<Role>, StoreError> {
        self.query_optional(
            &format!("SELECT {COLUMNS} FROM roles WHERE name = ?1"),
            params![name],
            decode,
        )
    }

    /// The role with this ARN (`arn:aws:iam::ACCOUNT:role/path/name`, exact match).
    pub fn get_role_by_arn(&self, arn: &str) -> Result<Option<Role>, StoreError> {
        self.query_optional(
            &format!("SELECT {COLUMNS} FROM roles WHERE arn = ?1"),
            params![arn],
            decode,
        )
    }

    /// Roles whose path starts with `path_prefix`, ordered by name.
    pub fn list_roles(&self, path_prefix: &str) -> Result<Vec<Role>, StoreError> {
        let roles = self.query_all(
            &format!("SELECT {COLUMNS} FROM roles ORDER BY name"),
            [],
            decode,
        )?;
        Ok(roles
            .into_iter()
            .filter(|r| r.path.starts_with(path_prefix))
            .collect())
    }

    /// Replaces the mutable fields of a role (trust policy, description, max session
    /// duration, permissions boundary, tags). Returns `false` if absent.
    pub fn update_role(&self, role: &Role) -> Result<bool, StoreError> {
        self.write_one(
            "UPDATE roles SET assume_role_policy = ?2, description = ?3, max_session_duration = ?4, \
             permissions_boundary = ?5, tags = ?6 WHERE name = ?1",
            params![
                role.name,
                role.assume_role_policy_document,
                role.description,
                role.max_session_duration,
                role.permissions_boundary,
                to_json(&role.tags)
            ],
        )
    }

    /// Deletes a role that has no inline or attached policies.
    /// `Ok(None)` if absent, `Ok(Some(false))` if it still has policies, `Ok(Some(true))` if deleted.
    pub fn delete_role(&self, name: &str) -> Result<Option<bool>, StoreError> {
        self.write(|tx| {
            if canonical_name(tx, name)?.is_none() {
                return Ok(None);
            }
            let inline: i64 = scalar(
                tx,
                "SELECT COUNT(*) FROM role_policies WHERE role_name = ?1",
                params![name],
            )?;
            let attached: i64 = scalar(
                tx,
                "SELECT COUNT(*) FROM role_attachments WHERE role_name = ?1",
                params![name],
            )?;
            if inline > 0 || attached > 0 {
                return Ok(Some(false));
            }
            tx.execute("DELETE FROM roles WHERE name = ?1", params![name])?;
            Ok(Some(true))
        })
    }

    /// Creates or replaces an inline policy. Returns `false` if the role does not exist.
    pub fn put_role_policy(
        &self,
        role_name: &str,
        policy_name: &str,
        document: &str,
    ) -> Result<bool, StoreError> {
        self.write(|tx| {
            let Some(canonical) = canonical_name(tx, role_name)? else {
                return Ok(false);
            };
            tx.execute(
                "INSERT INTO role_policies (role_name, policy_name, document) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (role_name, policy_name) DO UPDATE SET document = excluded.document",
                params![canonical, policy_name, document],
            )?;
            Ok(true)
        })
    }

    /// One inline policy document.
    pub fn get_role_policy(
        &self,
        role_name: &str,
        policy_name: &str,
    ) -> Result<Option<String>, StoreError> {
        Ok(optional_scalar(
            &self.lock(),
            "SELECT document FROM role_policies WHERE role_name = ?1 AND policy_name = ?2",
            params![role_name, policy_name],
        )?)
    }

    /// Inline policies of a role as `(name, document)`, ordered by name.
    pub fn list_role_policies(&self, role_name: &str) -> Result<Vec<(String, String)>, StoreError> {
        self.query_all(
            "SELECT policy_name, document FROM role_policies WHERE role_name = ?1 ORDER BY policy_name",
            params![role_name],
            Ok,
        )
    }

    /// Deletes an inline policy. Returns `false` if absent.
    pub fn delete_role_policy(
        &self,
        role_name: &str,
        policy_name: &str,
    ) -> Result<bool, StoreError> {
        self.write_one(
            "DELETE FROM role_policies WHERE role_name = ?1 AND policy_name = ?2",
            params![role_name, policy_name],
        )
    }

    /// Every identity policy of a role as `(name, document)`: inline policies (by name), then
    /// the default version of each attached managed policy (named by ARN), AWS-managed included.
    pub fn role_policies(&self, role: &Role) -> Result<Vec<(String, String)>, StoreError> {
        let mut out = self.list_role_policies(&role.name)?;
        for arn in self.list_attached_role_policies(&role.name)? {
            if let Some(doc) = self.get_managed_policy_document(&arn)? {
                out.push((arn, doc));
            }
        }
        Ok(out)
    }
}

/// The stored spelling of a role name (names are case-insensitive), or `None` if absent.
pub(super) fn canonical_name(conn: &Connection, name: &str) -> rusqlite::Result<Option<String>> {
    optional_scalar(
        conn,
        "SELECT name FROM roles WHERE name = ?1",
        params![name],
    )
}
