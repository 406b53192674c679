//! The SQLite state: durability settings, schema versioning, and state that survives a
//! server restart (same file, same admin keys and session key).

mod iam_support;

use std::sync::Arc;

use iam_support::*;
use irsa_sts::server::{AppState, ServerConfig};
use irsa_sts::store::{MIGRATIONS, Store, StoreError};

#[test]
fn file_store_uses_wal_full_sync_and_versioned_schema() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let store = Store::open(path.to_str().unwrap()).unwrap();
    assert_eq!(store.schema_version().unwrap(), MIGRATIONS.len() as i64);
    drop(store);
    #[cfg(unix)]
    {
        // It holds the admin secret and the session-token key.
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let raw = rusqlite::Connection::open(&path).unwrap();
    let mode: String = raw
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    // A file from a newer irsa is refused instead of being misread.
    raw.pragma_update(None, "user_version", 99).unwrap();
    drop(raw);
    match Store::open(path.to_str().unwrap()) {
        Err(StoreError::TooNew {
            found: 99,
            supported,
        }) => assert_eq!(supported, MIGRATIONS.len() as i64),
        other => panic!("expected TooNew, got {other:?}"),
    }
}

#[tokio::test]
async fn generated_secrets_and_iam_state_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let open = || Arc::new(Store::open(path.to_str().unwrap()).unwrap());

    let first = AppState::new(ServerConfig::default(), open()).unwrap();
    assert!(first.admin_generated);
    assert!(first.admin.access_key_id.starts_with("AKIA"));
    let t = TestServer::with_store(Store::open(path.to_str().unwrap()).unwrap(), false).await;
    t.iam()
        .create_role()
        .role_name("persisted")
        .assume_role_policy_document(trust_policy("oidc.example.com", "default:x"))
        .send()
        .await
        .unwrap();
    t.stop().await;

    let second = AppState::new(ServerConfig::default(), open()).unwrap();
    assert!(!second.admin_generated);
    assert_eq!(second.admin, first.admin);
    assert_eq!(
        second.session_key.fingerprint(),
        first.session_key.fingerprint()
    );
    let role = second
        .store
        .get_role_by_name("PERSISTED")
        .unwrap()
        .expect("role names are case-insensitive");
    assert_eq!(role.arn, "arn:aws:iam::123456789012:role/persisted");
    assert_eq!(
        second.store.get_role_by_arn(&role.arn).unwrap().unwrap().id,
        role.id
    );
}
