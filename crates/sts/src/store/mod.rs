//! Durable state of the local STS/IAM endpoint in an embedded SQLite database.
//!
//! - WAL journal with `synchronous=FULL`: a write is on disk before the call returns, so
//!   every acknowledged IAM write survives `kill -9` or a power cut.
//! - The schema is versioned with `PRAGMA user_version` and upgraded by [`MIGRATIONS`].
//! - `:memory:` opens a throwaway database.
//!
//! All functions are synchronous and serialised by one connection lock; the server calls
//! them from blocking threads (`spawn_blocking`), never from its async workers.
//!
//! [`Store::generation`] changes whenever the state may have changed: at once after every
//! write through this `Store`, and, for a file shared with other processes (replicas),
//! when SQLite's `PRAGMA data_version` shows another connection's commit (checked at most
//! every [`EXTERNAL_CHECK_INTERVAL`]). In-memory views ([`crate::cache`]) are keyed by it.

mod aws_managed;
mod oidc;
mod policies;
mod roles;
mod secrets;

use std::path::Path;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, TryLockError};
use std::time::{Duration, Instant};

use rusqlite::types::FromSql;
use rusqlite::{Connection, OpenFlags, OptionalExtension, Params, Row, Transaction};
use time::OffsetDateTime;

pub use aws_managed::{AWS_MANAGED_POLICIES, AwsManagedPolicy, aws_managed_policy};
pub use oidc::OidcProvider;
pub use policies::{ManagedPolicy, PolicyVersion, PolicyWrite};
pub use roles::Role;
pub use secrets::{ADMIN_ACCESS_KEY_ID, ADMIN_SECRET_ACCESS_KEY, SESSION_KEY};

/// Errors of the state database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite failed (disk full, permissions, corruption...).
    #[error(
        "state database error; check that the state file is writable and not used by another version of irsa"
    )]
    Sqlite(#[from] rusqlite::Error),
    /// The database was written by a newer irsa.
    #[error(
        "state database has schema version {found}, newer than this irsa understands ({supported}); upgrade irsa"
    )]
    TooNew {
        /// Version found in the file.
        found: i64,
        /// Newest version this build knows.
        supported: i64,
    },
    /// The state file could not be created.
    #[error("cannot create the state file {path}; check that its directory exists and is writable")]
    Create {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A read on the blocking thread pool was cancelled (the server is shutting down).
    #[error("a state database read was cancelled because the server is shutting down")]
    Cancelled,
    /// A stored value could not be decoded.
    #[error("state database holds an invalid value in {0}; the file may have been edited by hand")]
    Corrupt(&'static str),
}

/// Schema migrations; entry `i` upgrades from version `i` to `i + 1`.
pub const MIGRATIONS: &[&str] = &[
    // 0 -> 1: initial schema.
    r#"
    CREATE TABLE secrets (
        name  TEXT PRIMARY KEY,
        value BLOB NOT NULL
    );
    CREATE TABLE oidc_providers (
        arn         TEXT PRIMARY KEY,
        url         TEXT NOT NULL UNIQUE,
        client_ids  TEXT NOT NULL,
        thumbprints TEXT NOT NULL,
        tags        TEXT NOT NULL,
        create_date INTEGER NOT NULL
    );
    CREATE TABLE roles (
        name                 TEXT NOT NULL PRIMARY KEY COLLATE NOCASE,
        id                   TEXT NOT NULL UNIQUE,
        arn                  TEXT NOT NULL UNIQUE,
        path                 TEXT NOT NULL,
        assume_role_policy   TEXT NOT NULL,
        description          TEXT,
        max_session_duration INTEGER NOT NULL,
        permissions_boundary TEXT,
        tags                 TEXT NOT NULL,
        create_date          INTEGER NOT NULL
    );
    CREATE TABLE role_policies (
        role_name   TEXT NOT NULL COLLATE NOCASE REFERENCES roles(name) ON DELETE CASCADE,
        policy_name TEXT NOT NULL,
        document    TEXT NOT NULL,
        PRIMARY KEY (role_name, policy_name)
    );
    CREATE TABLE managed_policies (
        arn             TEXT PRIMARY KEY,
        name            TEXT NOT NULL,
        id              TEXT NOT NULL UNIQUE,
        path            TEXT NOT NULL,
        description     TEXT,
        default_version TEXT NOT NULL,
        next_version    INTEGER NOT NULL,
        tags            TEXT NOT NULL,
        create_date     INTEGER NOT NULL,
        update_date     INTEGER NOT NULL
    );
    CREATE TABLE policy_versions (
        policy_arn  TEXT NOT NULL REFERENCES managed_policies(arn) ON DELETE CASCADE,
        version_id  TEXT NOT NULL,
        document    TEXT NOT NULL,
        create_date INTEGER NOT NULL,
        PRIMARY KEY (policy_arn, version_id)
    );
    CREATE TABLE role_attachments (
        role_name  TEXT NOT NULL COLLATE NOCASE REFERENCES roles(name) ON DELETE CASCADE,
        policy_arn TEXT NOT NULL,
        PRIMARY KEY (role_name, policy_arn)
    );
    "#,
];

/// How often [`Store::generation`] asks SQLite whether another process committed to a
/// shared state file (the staleness bound of in-memory views across replicas).
pub const EXTERNAL_CHECK_INTERVAL: Duration = Duration::from_millis(100);

/// The state database.
#[derive(Debug)]
pub struct Store {
    conn: Mutex<Connection>,
    /// Bumped after every write (and on another process's commit, see [`Store::generation`]).
    generation: AtomicU64,
    /// For a file: `PRAGMA data_version` as last seen, and when it was last checked.
    external: Option<ExternalWrites>,
}

#[derive(Debug)]
struct ExternalWrites {
    started: Instant,
    /// Milliseconds since `started` of the last check.
    checked_ms: AtomicU64,
    data_version: AtomicI64,
}

impl Store {
    /// Opens (creating if needed) the database at `path`, or a throwaway one for `:memory:`,
    /// and brings its schema up to date.
    pub fn open(path: &str) -> Result<Store, StoreError> {
        let conn = if path == ":memory:" {
            Connection::open_in_memory()?
        } else {
            create_private(Path::new(path))?;
            Connection::open_with_flags(
                Path::new(path),
                OpenFlags::SQLITE_OPEN_READ_WRITE
                    | OpenFlags::SQLITE_OPEN_CREATE
                    | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?
        };
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        if path != ":memory:" {
            let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
            if !mode.eq_ignore_ascii_case("wal") {
                tracing::warn!(
                    mode,
                    "SQLite refused WAL mode; writes stay durable but slower"
                );
            }
        }
        conn.execute_batch("PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;")?;
        let external = if path == ":memory:" {
            None
        } else {
            Some(ExternalWrites {
                started: Instant::now(),
                checked_ms: AtomicU64::new(0),
                data_version: AtomicI64::new(data_version(&conn)?),
            })
        };
        let mut store = Store {
            conn: Mutex::new(conn),
            generation: AtomicU64::new(0),
            external,
        };
        store.migrate()?;
        Ok(store)
    }

    /// Opens a throwaway in-memory database.
    pub fn in_memory() -> Result<Store, StoreError> {
        Store::open(":memory:")
    }

    /// The schema version of the open database.
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        Ok(self
            .lock()
            .query_row("PRAGMA user_version", [], |r| r.get(0))?)
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        let conn = self.conn.get_mut().unwrap_or_else(|e| e.into_inner());
        let current: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        let supported = MIGRATIONS.len() as i64;
        if current > supported {
            return Err(StoreError::TooNew {
                found: current,
                supported,
            });
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
            let tx = conn.transaction()?;
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", (i + 1) as i64)?;
            tx.commit()?;
        }
        Ok(())
    }

    /// A number that changes whenever the state may have changed. Writes through this
    /// `Store` change it before they return; commits by other processes sharing the file
    /// are noticed at most [`EXTERNAL_CHECK_INTERVAL`] later (the check is skipped while
    /// this process holds the connection, and never blocks).
    pub fn generation(&self) -> u64 {
        if let Some(ext) = &self.external {
            let now_ms = ext.started.elapsed().as_millis() as u64;
            let last = ext.checked_ms.load(Ordering::Relaxed);
            if now_ms.saturating_sub(last) >= EXTERNAL_CHECK_INTERVAL.as_millis() as u64
                && ext
                    .checked_ms
                    .compare_exchange(last, now_ms, Ordering::Relaxed, Ordering::Relaxed)
                    .is_ok()
            {
                self.check_external(ext);
            }
        }
        self.generation.load(Ordering::Acquire)
    }

    /// Bumps the generation when another connection committed since the last check.
    fn check_external(&self, ext: &ExternalWrites) {
        let conn = match self.conn.try_lock() {
            Ok(c) => c,
            Err(TryLockError::Poisoned(e)) => e.into_inner(),
            // Busy: our own write is in progress and bumps the generation itself; the
            // next check comes soon.
            Err(TryLockError::WouldBlock) => {
                ext.checked_ms.store(0, Ordering::Relaxed);
                return;
            }
        };
        match data_version(&conn) {
            Ok(v) => {
                if ext.data_version.swap(v, Ordering::Relaxed) != v {
                    self.generation.fetch_add(1, Ordering::AcqRel);
                }
            }
            Err(e) => {
                // Cannot tell: assume a change, so nothing stale is served.
                tracing::warn!(error = %e, "cannot read PRAGMA data_version");
                self.generation.fetch_add(1, Ordering::AcqRel);
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite inconsistent (transactions roll back).
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` in one transaction, committed (and fsynced) before returning.
    fn write<T>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let out = f(&tx);
        let out = match out {
            Ok(v) => tx.commit().map(|()| v).map_err(StoreError::from),
            Err(e) => Err(e),
        };
        // Before the caller can acknowledge the write: in-memory views must not serve
        // what it replaced.
        self.generation.fetch_add(1, Ordering::AcqRel);
        out
    }

    /// Runs the one statement `sql` as a write; whether it changed exactly one row (`false`:
    /// the row it names is absent).
    fn write_one(&self, sql: &str, params: impl Params) -> Result<bool, StoreError> {
        self.write(|tx| Ok(tx.execute(sql, params)? == 1))
    }

    /// The row `sql` selects, if any, read as the tuple `R` of its columns and decoded.
    fn query_optional<R, T>(
        &self,
        sql: &str,
        params: impl Params,
        decode: impl FnOnce(R) -> Result<T, StoreError>,
    ) -> Result<Option<T>, StoreError>
    where
        R: for<'r> TryFrom<&'r Row<'r>, Error = rusqlite::Error>,
    {
        let raw = self
            .lock()
            .query_row(sql, params, |r| R::try_from(r))
            .optional()?;
        raw.map(decode).transpose()
    }

    /// Every row `sql` selects, in order, read as tuples `R` of its columns and decoded.
    fn query_all<R, T>(
        &self,
        sql: &str,
        params: impl Params,
        decode: impl FnMut(R) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError>
    where
        R: for<'r> TryFrom<&'r Row<'r>, Error = rusqlite::Error>,
    {
        let conn = self.lock();
        let mut stmt = conn.prepare(sql)?;
        let raws = stmt
            .query_map(params, |r| R::try_from(r))?
            .collect::<rusqlite::Result<Vec<R>>>()?;
        raws.into_iter().map(decode).collect()
    }
}

/// The first column of the one row `sql` selects (e.g. a `COUNT(*)`).
fn scalar<T: FromSql>(conn: &Connection, sql: &str, params: impl Params) -> rusqlite::Result<T> {
    conn.query_row(sql, params, |r| r.get(0))
}

/// The first column of the row `sql` selects, or `None` when it selects none.
fn optional_scalar<T: FromSql>(
    conn: &Connection,
    sql: &str,
    params: impl Params,
) -> rusqlite::Result<Option<T>> {
    conn.query_row(sql, params, |r| r.get(0)).optional()
}

fn data_version(conn: &Connection) -> Result<i64, StoreError> {
    Ok(conn
        .prepare_cached("PRAGMA data_version")?
        .query_row([], |r| r.get(0))?)
}

/// Creates a missing state file readable by its owner only: it holds the admin secret and
/// the session-token key. SQLite gives the `-wal`/`-shm` files the same mode.
fn create_private(path: &Path) -> Result<(), StoreError> {
    if path.exists() {
        return Ok(());
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(source) => Err(StoreError::Create {
            path: path.display().to_string(),
            source,
        }),
    }
}

pub(crate) fn to_unix(t: OffsetDateTime) -> i64 {
    t.unix_timestamp()
}

pub(crate) fn from_unix(s: i64) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp(s).map_err(|_| StoreError::Corrupt("a timestamp"))
}

pub(crate) fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".to_owned())
}

pub(crate) fn from_json<T: serde::de::DeserializeOwned>(
    s: &str,
    what: &'static str,
) -> Result<T, StoreError> {
    serde_json::from_str(s).map_err(|_| StoreError::Corrupt(what))
}

/// Formats a timestamp as AWS does in IAM/STS responses: ISO-8601 UTC, seconds, `Z`.
pub fn iso8601(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    let Ok(year) = u16::try_from(t.year()) else {
        // Years before 1 AD (unreachable from real clocks): the general formatter.
        return format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        );
    };
    // Written digit by digit: this runs twice per STS call (`Expiration`, `aws:CurrentTime`).
    let mut out = String::with_capacity(20);
    let mut digits = |n: u16, width: u32, sep: char| {
        for i in (0..width).rev() {
            out.push(char::from(b'0' + (n / 10u16.pow(i) % 10) as u8));
        }
        out.push(sep);
    };
    digits(year, 4, '-');
    digits(u8::from(t.month()).into(), 2, '-');
    digits(t.day().into(), 2, 'T');
    digits(t.hour().into(), 2, ':');
    digits(t.minute().into(), 2, ':');
    digits(t.second().into(), 2, 'Z');
    out
}

/// Random characters from the base32 alphabet `A-Z2-7` (used in AWS unique ids).
pub fn random_base32(n: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut bytes = vec![0u8; n];
    random_fill(&mut bytes);
    bytes
        .iter()
        .map(|b| ALPHABET[(b & 31) as usize] as char)
        .collect()
}

/// Fills `buf` from the system RNG (aws-lc-rs).
pub fn random_fill(buf: &mut [u8]) {
    crate::random::fill(buf);
}
