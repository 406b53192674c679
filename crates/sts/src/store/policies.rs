//! Customer-managed policies, their versions and role attachments.

use rusqlite::{Connection, params};
use time::OffsetDateTime;

use super::roles::canonical_name;
use super::{
    Store, StoreError, aws_managed_policy, from_json, from_unix, optional_scalar, scalar, to_json,
    to_unix,
};

/// A managed policy (customer-managed from the database, or AWS-managed built in).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedPolicy {
    /// `arn:aws:iam::ACCOUNT:policy<path><name>` or `arn:aws:iam::aws:policy/<name>`.
    pub arn: String,
    /// Policy name.
    pub name: String,
    /// Unique id, `ANPA` + 17 base32 characters.
    pub id: String,
    /// Path.
    pub path: String,
    /// Description.
    pub description: Option<String>,
    /// Default version id (`v1`, `v2`, ...).
    pub default_version_id: String,
    /// Tags in insertion order.
    pub tags: Vec<(String, String)>,
    /// Number of roles it is attached to.
    pub attachment_count: i64,
    /// Creation time.
    pub create_date: OffsetDateTime,
    /// Last update (new default version).
    pub update_date: OffsetDateTime,
}

/// One version of a managed policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyVersion {
    /// `v1`, `v2`, ...
    pub version_id: String,
    /// The document (plain JSON).
    pub document: String,
    /// Whether this is the default version.
    pub is_default: bool,
    /// Creation time.
    pub create_date: OffsetDateTime,
}

const COLUMNS: &str = "p.arn, p.name, p.id, p.path, p.description, p.default_version, p.tags, \
    (SELECT COUNT(*) FROM role_attachments a WHERE a.policy_arn = p.arn), p.create_date, p.update_date";

/// The columns of [`COLUMNS`], in order.
type Raw = (
    String,
    String,
    String,
    String,
    Option<String>,
    String,
    String,
    i64,
    i64,
    i64,
);

fn decode(raw: Raw) -> Result<ManagedPolicy, StoreError> {
    let (
        arn,
        name,
        id,
        path,
        description,
        default_version_id,
        tags,
        attachment_count,
        created,
        updated,
    ) = raw;
    Ok(ManagedPolicy {
        arn,
        name,
        id,
        path,
        description,
        default_version_id,
        tags: from_json(&tags, "managed_policies.tags")?,
        attachment_count,
        create_date: from_unix(created)?,
        update_date: from_unix(updated)?,
    })
}

const VERSION_COLUMNS: &str = "v.version_id, v.document, v.create_date, p.default_version \
    FROM policy_versions v JOIN managed_policies p ON p.arn = v.policy_arn";

fn decode_version(
    (version_id, document, created, default): (String, String, i64, String),
) -> Result<PolicyVersion, StoreError> {
    Ok(PolicyVersion {
        is_default: version_id == default,
        version_id,
        document,
        create_date: from_unix(created)?,
    })
}

/// How many roles the policy is attached to.
fn attachment_count(conn: &Connection, arn: &str) -> rusqlite::Result<i64> {
    scalar(
        conn,
        "SELECT COUNT(*) FROM role_attachments WHERE policy_arn = ?1",
        params![arn],
    )
}

/// How many versions the policy has.
fn version_count(conn: &Connection, arn: &str) -> rusqlite::Result<i64> {
    scalar(
        conn,
        "SELECT COUNT(*) FROM policy_versions WHERE policy_arn = ?1",
        params![arn],
    )
}

/// Whether a customer-managed policy with this ARN exists.
fn policy_exists(conn: &Connection, arn: &str) -> rusqlite::Result<bool> {
    let found: Option<i64> = optional_scalar(
        conn,
        "SELECT 1 FROM managed_policies WHERE arn = ?1",
        params![arn],
    )?;
    Ok(found.is_some())
}

/// The outcome of a managed-policy write that can hit IAM's rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyWrite {
    /// Done.
    Ok,
    /// The policy (or role) does not exist.
    NotFound,
    /// The name/ARN is already taken.
    Exists,
    /// A quota was hit (5 versions per policy, 10 managed policies per role).
    LimitExceeded,
    /// The policy is still attached somewhere, or the version is the default one.
    Conflict,
}

impl Store {
    /// Creates a customer-managed policy with version `v1` as default.
    pub fn create_managed_policy(
        &self,
        p: &ManagedPolicy,
        document: &str,
    ) -> Result<PolicyWrite, StoreError> {
        self.write(|tx| {
            if policy_exists(tx, &p.arn)? {
                return Ok(PolicyWrite::Exists);
            }
            tx.execute(
                "INSERT INTO managed_policies (arn, name, id, path, description, default_version, next_version, \
                 tags, create_date, update_date) VALUES (?1, ?2, ?3, ?4, ?5, 'v1', 2, ?6, ?7, ?7)",
                params![p.arn, p.name, p.id, p.path, p.description, to_json(&p.tags), to_unix(p.create_date)],
            )?;
            tx.execute(
                "INSERT INTO policy_versions (policy_arn, version_id, document, create_date) VALUES (?1, 'v1', ?2, ?3)",
                params![p.arn, document, to_unix(p.create_date)],
            )?;
            Ok(PolicyWrite::Ok)
        })
    }

    /// A managed policy by ARN (customer-managed or AWS-managed).
    pub fn get_managed_policy(&self, arn: &str) -> Result<Option<ManagedPolicy>, StoreError> {
        if let Some(aws) = aws_managed_policy(arn) {
            let count = attachment_count(&self.lock(), arn)?;
            return Ok(Some(aws.to_managed(count)));
        }
        self.query_optional(
            &format!("SELECT {COLUMNS} FROM managed_policies p WHERE p.arn = ?1"),
            params![arn],
            decode,
        )
    }

    /// Customer-managed policies, ordered by name.
    pub fn list_managed_policies(&self) -> Result<Vec<ManagedPolicy>, StoreError> {
        self.query_all(
            &format!("SELECT {COLUMNS} FROM managed_policies p ORDER BY p.name"),
            [],
            decode,
        )
    }

    /// The default version's document of a managed policy (customer- or AWS-managed).
    pub fn get_managed_policy_document(&self, arn: &str) -> Result<Option<String>, StoreError> {
        if let Some(aws) = aws_managed_policy(arn) {
            return Ok(Some(aws.document.to_owned()));
        }
        Ok(optional_scalar(
            &self.lock(),
            "SELECT v.document FROM managed_policies p JOIN policy_versions v \
             ON v.policy_arn = p.arn AND v.version_id = p.default_version WHERE p.arn = ?1",
            params![arn],
        )?)
    }

    /// One version of a managed policy.
    pub fn get_policy_version(
        &self,
        arn: &str,
        version_id: &str,
    ) -> Result<Option<PolicyVersion>, StoreError> {
        if let Some(aws) = aws_managed_policy(arn) {
            return Ok((version_id == aws.version_id).then(|| PolicyVersion {
                version_id: aws.version_id.to_owned(),
                document: aws.document.to_owned(),
                is_default: true,
                create_date: aws.created(),
            }));
        }
        self.query_optional(
            &format!("SELECT {VERSION_COLUMNS} WHERE v.policy_arn = ?1 AND v.version_id = ?2"),
            params![arn, version_id],
            decode_version,
        )
    }

    /// Versions of a customer-managed policy, newest first.
    pub fn list_policy_versions(&self, arn: &str) -> Result<Vec<PolicyVersion>, StoreError> {
        self.query_all(
            &format!(
                "SELECT {VERSION_COLUMNS} WHERE v.policy_arn = ?1 \
                 ORDER BY v.create_date DESC, CAST(SUBSTR(v.version_id, 2) AS INTEGER) DESC"
            ),
            params![arn],
            decode_version,
        )
    }

    /// Adds a version (at most 5 per policy), optionally making it the default.
    pub fn create_policy_version(
        &self,
        arn: &str,
        document: &str,
        set_default: bool,
        now: OffsetDateTime,
    ) -> Result<(PolicyWrite, Option<String>), StoreError> {
        self.write(|tx| {
            let next: Option<i64> =
                optional_scalar(tx, "SELECT next_version FROM managed_policies WHERE arn = ?1", params![arn])?;
            let Some(next) = next else { return Ok((PolicyWrite::NotFound, None)) };
            if version_count(tx, arn)? >= 5 {
                return Ok((PolicyWrite::LimitExceeded, None));
            }
            let version = format!("v{next}");
            tx.execute(
                "INSERT INTO policy_versions (policy_arn, version_id, document, create_date) VALUES (?1, ?2, ?3, ?4)",
                params![arn, version, document, to_unix(now)],
            )?;
            tx.execute("UPDATE managed_policies SET next_version = ?2 WHERE arn = ?1", params![arn, next + 1])?;
            if set_default {
                tx.execute(
                    "UPDATE managed_policies SET default_version = ?2, update_date = ?3 WHERE arn = ?1",
                    params![arn, version, to_unix(now)],
                )?;
            }
            Ok((PolicyWrite::Ok, Some(version)))
        })
    }

    /// Deletes a non-default version.
    pub fn delete_policy_version(
        &self,
        arn: &str,
        version_id: &str,
    ) -> Result<PolicyWrite, StoreError> {
        self.write(|tx| {
            let default: Option<String> = optional_scalar(
                tx,
                "SELECT default_version FROM managed_policies WHERE arn = ?1",
                params![arn],
            )?;
            let Some(default) = default else {
                return Ok(PolicyWrite::NotFound);
            };
            if default == version_id {
                return Ok(PolicyWrite::Conflict);
            }
            let n = tx.execute(
                "DELETE FROM policy_versions WHERE policy_arn = ?1 AND version_id = ?2",
                params![arn, version_id],
            )?;
            Ok(if n == 1 {
                PolicyWrite::Ok
            } else {
                PolicyWrite::NotFound
            })
        })
    }

    /// Deletes a customer-managed policy that is attached nowhere and has only its default version.
    pub fn delete_managed_policy(&self, arn: &str) -> Result<PolicyWrite, StoreError> {
        self.write(|tx| {
            if !policy_exists(tx, arn)? {
                return Ok(PolicyWrite::NotFound);
            }
            if attachment_count(tx, arn)? > 0 || version_count(tx, arn)? > 1 {
                return Ok(PolicyWrite::Conflict);
            }
            tx.execute("DELETE FROM managed_policies WHERE arn = ?1", params![arn])?;
            Ok(PolicyWrite::Ok)
        })
    }

    /// Attaches a managed policy to a role (idempotent). The caller checks that both exist.
    pub fn attach_role_policy(
        &self,
        role_name: &str,
        arn: &str,
    ) -> Result<PolicyWrite, StoreError> {
        self.write(|tx| {
            let Some(role) = canonical_name(tx, role_name)? else {
                return Ok(PolicyWrite::NotFound);
            };
            let count: i64 = scalar(
                tx,
                "SELECT COUNT(*) FROM role_attachments WHERE role_name = ?1 AND policy_arn <> ?2",
                params![role, arn],
            )?;
            if count >= 10 {
                return Ok(PolicyWrite::LimitExceeded);
            }
            tx.execute(
                "INSERT OR IGNORE INTO role_attachments (role_name, policy_arn) VALUES (?1, ?2)",
                params![role, arn],
            )?;
            Ok(PolicyWrite::Ok)
        })
    }

    /// Detaches a managed policy. Returns `false` if it was not attached.
    pub fn detach_role_policy(&self, role_name: &str, arn: &str) -> Result<bool, StoreError> {
        self.write_one(
            "DELETE FROM role_attachments WHERE role_name = ?1 AND policy_arn = ?2",
            params![role_name, arn],
        )
    }

    /// ARNs of the managed policies attached to a role, in attachment order.
    pub fn list_attached_role_policies(&self, role_name: &str) -> Result<Vec<String>, StoreError> {
        self.query_all(
            "SELECT policy_arn FROM role_attachments WHERE role_name = ?1 ORDER BY rowid",
            params![role_name],
            |(arn,): (String,)| Ok(arn),
        )
    }
}

impl Store {
    /// Makes an existing version the default. Returns `false` if the policy or version is absent.
    pub fn set_default_policy_version(
        &self,
        arn: &str,
        version_id: &str,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        self.write(|tx| {
            let exists: Option<i64> = optional_scalar(
                tx,
                "SELECT 1 FROM policy_versions WHERE policy_arn = ?1 AND version_id = ?2",
                params![arn, version_id],
            )?;
            if exists.is_none() {
                return Ok(false);
            }
            tx.execute(
                "UPDATE managed_policies SET default_version = ?2, update_date = ?3 WHERE arn = ?1",
                params![arn, version_id, to_unix(now)],
            )?;
            Ok(true)
        })
    }
}
