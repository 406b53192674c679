//! The publication folder: `DIR/.well-known/openid-configuration` and `DIR/<jwks path>`,
//! laid out to be uploaded as-is to S3, GitHub Pages or any static host.
//!
//! Every file is replaced atomically (temporary file in the same directory, fsync, rename,
//! fsync of the directory), so a reader (the server, an `aws s3 sync`) never sees half a
//! document, and a failure leaves no partial files behind.

use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use crate::documents::{Discovery, DiscoveryError, Jwk, JwkSet, JwksError};
use crate::rotation::{self, Added, RotationError};
use crate::url::{DISCOVERY_PATH, IssuerPolicy, IssuerUrl, JwksPathError};

/// Largest document we read back (a JWKS of 100 RSA-4096 keys is ~80 KiB).
pub const MAX_DOCUMENT_BYTES: u64 = 1024 * 1024;

/// File-level failures.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// Reading or writing a file failed.
    #[error("{action} {path}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// Which file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// `init` would overwrite published documents.
    #[error(
        "{0} already exists; refusing to overwrite a published issuer (use `irsa issuer rotate` to \
         change its keys, or pass --force to start over)"
    )]
    Exists(PathBuf),
    /// No keys to publish.
    #[error("no keys given; pass at least one --key")]
    NoKeys,
    /// The discovery document in the folder is unusable.
    #[error("{path} is not a usable discovery document")]
    Discovery {
        /// Which file.
        path: PathBuf,
        /// Why.
        #[source]
        source: DiscoveryError,
    },
    /// The JWKS in the folder is unusable.
    #[error("{path} is not a usable JWKS")]
    Jwks {
        /// Which file.
        path: PathBuf,
        /// Why.
        #[source]
        source: JwksError,
    },
    /// A key to publish is unusable.
    #[error("cannot publish this key")]
    Key(#[source] JwksError),
    /// A file is too large to be one of our documents.
    #[error("{0} is larger than 1 MiB; that is not a discovery document or JWKS")]
    TooLarge(PathBuf),
    /// The JWKS path is unusable.
    #[error(transparent)]
    JwksPath(#[from] JwksPathError),
    /// A rotation step was refused.
    #[error(transparent)]
    Rotation(#[from] RotationError),
}

/// The documents of a publication folder.
#[derive(Debug, Clone)]
pub struct Published {
    /// The folder.
    pub dir: PathBuf,
    /// The discovery document.
    pub discovery: Discovery,
    /// The JWKS.
    pub jwks: JwkSet,
}

impl Published {
    /// Path of the discovery document.
    pub fn discovery_file(&self) -> PathBuf {
        self.dir.join(DISCOVERY_PATH)
    }

    /// Path of the JWKS.
    pub fn jwks_file(&self) -> PathBuf {
        self.dir.join(self.discovery.jwks_path())
    }
}

/// Options of [`init`].
#[derive(Debug, Clone)]
pub struct InitOptions {
    /// The issuer.
    pub issuer: IssuerUrl,
    /// The JWKS path relative to the issuer.
    pub jwks_path: String,
    /// Overwrite existing documents.
    pub force: bool,
}

/// Writes a new publication folder for `keys` (public JWKs).
///
/// The folder may exist (e.g. a Git checkout served by GitHub Pages); files other than the
/// two documents are left alone. Directories created here are removed again on failure.
pub fn init(out: &Path, options: &InitOptions, keys: Vec<Jwk>) -> Result<Published, PublishError> {
    if keys.is_empty() {
        return Err(PublishError::NoKeys);
    }
    let mut jwks = JwkSet::new();
    for key in keys {
        jwks.insert_value(serde_json::Value::Object(key))
            .map_err(PublishError::Key)?;
    }
    let discovery = Discovery::new(&options.issuer, &options.jwks_path, &jwks)?;
    let published = Published {
        dir: out.to_path_buf(),
        discovery,
        jwks,
    };
    let files = [published.discovery_file(), published.jwks_file()];
    if !options.force
        && let Some(existing) = files.iter().find(|f| f.exists())
    {
        return Err(PublishError::Exists(existing.clone()));
    }
    let preexisting = files.clone().map(|f| f.exists());
    let mut created = CreatedDirs::default();
    let result = (|| {
        for file in &files {
            created.create_parents(file)?;
        }
        // JWKS first: a discovery document must never point at a missing JWKS.
        write_atomic(&files[1], &published.jwks.to_json())?;
        write_atomic(&files[0], &published.discovery.to_json())
    })();
    match result {
        Ok(()) => {
            created.keep();
            Ok(published)
        }
        Err(err) => {
            // Remove what this run created; a document that existed before was replaced
            // whole (atomically) only because --force asked for it.
            for (file, existed) in files.iter().zip(preexisting) {
                if !existed {
                    let _ = fs::remove_file(file);
                }
            }
            Err(err)
        }
    }
}

/// Reads the publication folder `dir`.
pub fn load(dir: &Path, policy: IssuerPolicy) -> Result<Published, PublishError> {
    let discovery_file = dir.join(DISCOVERY_PATH);
    let bytes = read_document(&discovery_file)?;
    let discovery =
        Discovery::from_json(&bytes, policy).map_err(|source| PublishError::Discovery {
            path: discovery_file,
            source,
        })?;
    let jwks_file = dir.join(discovery.jwks_path());
    let jwks =
        JwkSet::from_json(&read_document(&jwks_file)?).map_err(|source| PublishError::Jwks {
            path: jwks_file,
            source,
        })?;
    Ok(Published {
        dir: dir.to_path_buf(),
        discovery,
        jwks,
    })
}

/// Publishes more keys in `dir`; returns what changed and the new state.
pub fn rotate_add(
    dir: &Path,
    keys: Vec<Jwk>,
    policy: IssuerPolicy,
) -> Result<(Added, Published), PublishError> {
    let mut published = load(dir, policy)?;
    let mut checked = JwkSet::new();
    for key in keys {
        checked
            .insert_value(serde_json::Value::Object(key))
            .map_err(PublishError::Key)?;
    }
    let added = rotation::add_keys(&mut published.jwks, checked.keys().to_vec());
    if !added.added.is_empty() {
        store(&mut published)?;
    }
    Ok((added, published))
}

/// Stops publishing `kid` in `dir`; returns how many JWK entries went and the new state.
pub fn rotate_retire(
    dir: &Path,
    kid: &str,
    policy: IssuerPolicy,
) -> Result<(usize, Published), PublishError> {
    let mut published = load(dir, policy)?;
    let removed = rotation::retire_kid(&mut published.jwks, kid)?;
    store(&mut published)?;
    Ok((removed, published))
}

/// Writes the JWKS, then the discovery document if its algorithm list changed.
fn store(published: &mut Published) -> Result<(), PublishError> {
    write_atomic(&published.jwks_file(), &published.jwks.to_json())?;
    if published.discovery.sync_algorithms(&published.jwks) {
        write_atomic(&published.discovery_file(), &published.discovery.to_json())?;
    }
    Ok(())
}

/// Reads a document, refusing anything larger than [`MAX_DOCUMENT_BYTES`].
pub fn read_document(path: &Path) -> Result<Vec<u8>, PublishError> {
    let io = |source| PublishError::Io {
        action: "cannot read",
        path: path.to_path_buf(),
        source,
    };
    let meta = fs::metadata(path).map_err(io)?;
    if meta.len() > MAX_DOCUMENT_BYTES {
        return Err(PublishError::TooLarge(path.to_path_buf()));
    }
    fs::read(path).map_err(io)
}

/// Replaces `path` with `bytes` atomically: temp file in the same directory, fsync, rename,
/// fsync of the directory. On failure the temp file is removed and `path` is untouched.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), PublishError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let tmp = dir.join(format!(".{name}.{}.{nonce}.tmp", std::process::id()));
    let io = |action, source| PublishError::Io {
        action,
        path: path.to_path_buf(),
        source,
    };
    let write = || -> io::Result<()> {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()
    };
    if let Err(e) = write() {
        let _ = fs::remove_file(&tmp);
        return Err(io("cannot write", e));
    }
    if let Err(e) = fs::rename(&tmp, path) {
        let _ = fs::remove_file(&tmp);
        return Err(io("cannot replace", e));
    }
    // Make the rename itself durable; not every filesystem supports fsync on a directory.
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Directories created by `init`, removed again (deepest first) unless kept.
#[derive(Default)]
struct CreatedDirs {
    dirs: Vec<PathBuf>,
    keep: bool,
}

impl CreatedDirs {
    fn create_parents(&mut self, file: &Path) -> Result<(), PublishError> {
        let Some(parent) = file.parent() else {
            return Ok(());
        };
        let mut missing = Vec::new();
        let mut cur = Some(parent);
        while let Some(p) = cur {
            if p.as_os_str().is_empty() || p.exists() {
                break;
            }
            missing.push(p.to_path_buf());
            cur = p.parent();
        }
        for dir in missing.into_iter().rev() {
            fs::create_dir(&dir).map_err(|source| PublishError::Io {
                action: "cannot create directory",
                path: dir.clone(),
                source,
            })?;
            self.dirs.push(dir);
        }
        Ok(())
    }

    fn keep(&mut self) {
        self.keep = true;
    }
}

impl Drop for CreatedDirs {
    fn drop(&mut self) {
        if !self.keep {
            for dir in self.dirs.iter().rev() {
                let _ = fs::remove_dir(dir);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn key(kid: &str, n: &str) -> Jwk {
        let Value::Object(m) =
            json!({"use":"sig","kty":"RSA","kid":kid,"alg":"RS256","n":n,"e":"AQAB"})
        else {
            unreachable!()
        };
        m
    }

    fn options(issuer: &str) -> InitOptions {
        InitOptions {
            issuer: IssuerUrl::parse(issuer, IssuerPolicy::Aws).unwrap(),
            jwks_path: "keys.json".into(),
            force: false,
        }
    }

    #[test]
    fn init_writes_the_static_layout_and_refuses_to_overwrite() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("site");
        init(
            &out,
            &options("https://oidc.example.com"),
            vec![key("k1", "a"), key("k1", "a")],
        )
        .unwrap();
        let doc: Value = serde_json::from_slice(
            &fs::read(out.join(".well-known/openid-configuration")).unwrap(),
        )
        .unwrap();
        assert_eq!(doc["jwks_uri"], "https://oidc.example.com/keys.json");
        let jwks: Value =
            serde_json::from_slice(&fs::read(out.join("keys.json")).unwrap()).unwrap();
        assert_eq!(
            jwks["keys"].as_array().unwrap().len(),
            1,
            "duplicate kid published once"
        );
        let again = init(
            &out,
            &options("https://oidc.example.com"),
            vec![key("k2", "b")],
        );
        assert!(matches!(again, Err(PublishError::Exists(_))));
        let mut force = options("https://oidc.example.com");
        force.force = true;
        init(&out, &force, vec![key("k2", "b")]).unwrap();
        assert_eq!(
            load(&out, IssuerPolicy::Aws).unwrap().jwks.kids(),
            vec!["k2"]
        );
        let leftovers: Vec<_> = fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers.len(), 2, "no temp files: {leftovers:?}");
    }

    #[test]
    fn failed_init_leaves_nothing_behind() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("a/b/site");
        let mut private = key("k1", "a");
        private.insert("d".into(), "secret".into());
        assert!(matches!(
            init(&out, &options("https://a.example"), vec![private]),
            Err(PublishError::Key(_))
        ));
        assert!(matches!(
            init(&out, &options("https://a.example"), vec![]),
            Err(PublishError::NoKeys)
        ));
        // A file where a directory must go: creation fails midway.
        fs::create_dir_all(tmp.path().join("x")).unwrap();
        fs::write(tmp.path().join("x/.well-known"), "in the way").unwrap();
        assert!(
            init(
                &tmp.path().join("x"),
                &options("https://a.example"),
                vec![key("k", "a")]
            )
            .is_err()
        );
        assert!(!tmp.path().join("x/keys.json").exists());
        let mut nested = options("https://a.example");
        nested.jwks_path = "deep/er/keys.json".into();
        nested.force = true;
        fs::create_dir_all(tmp.path().join("y/.well-known/openid-configuration")).unwrap();
        assert!(init(&tmp.path().join("y"), &nested, vec![key("k", "a")]).is_err());
        assert!(
            !tmp.path().join("y/deep").exists(),
            "created directories are removed again"
        );
        assert!(!tmp.path().join("a").exists());
    }

    #[test]
    fn rotation_round_trip_keeps_the_discovery_in_sync() {
        let tmp = tempfile::tempdir().unwrap();
        init(
            tmp.path(),
            &options("https://a.example"),
            vec![key("old", "a")],
        )
        .unwrap();
        let ec = json!({"use":"sig","kty":"EC","kid":"new","crv":"P-256","alg":"ES256","x":"eA","y":"eQ"});
        let Value::Object(ec) = ec else {
            unreachable!()
        };
        let (added, p) = rotate_add(tmp.path(), vec![ec], IssuerPolicy::Aws).unwrap();
        assert_eq!(added.added, vec!["new"]);
        let doc: Value = serde_json::from_slice(&fs::read(p.discovery_file()).unwrap()).unwrap();
        assert_eq!(
            doc["id_token_signing_alg_values_supported"],
            json!(["ES256", "RS256"])
        );
        let (removed, p) = rotate_retire(tmp.path(), "old", IssuerPolicy::Aws).unwrap();
        assert_eq!(removed, 1);
        assert_eq!(p.jwks.kids(), vec!["new"]);
        let doc: Value = serde_json::from_slice(&fs::read(p.discovery_file()).unwrap()).unwrap();
        assert_eq!(
            doc["id_token_signing_alg_values_supported"],
            json!(["ES256"])
        );
        let before = fs::read(p.jwks_file()).unwrap();
        assert!(matches!(
            rotate_retire(tmp.path(), "new", IssuerPolicy::Aws),
            Err(PublishError::Rotation(RotationError::LastKey { .. }))
        ));
        assert_eq!(
            fs::read(p.jwks_file()).unwrap(),
            before,
            "refused step writes nothing"
        );
    }

    #[test]
    fn load_names_the_broken_file() {
        let tmp = tempfile::tempdir().unwrap();
        let err = load(tmp.path(), IssuerPolicy::Aws).unwrap_err();
        assert!(err.to_string().contains("openid-configuration"), "{err}");
        init(
            tmp.path(),
            &options("https://a.example"),
            vec![key("k", "a")],
        )
        .unwrap();
        fs::write(tmp.path().join("keys.json"), "{").unwrap();
        let err = load(tmp.path(), IssuerPolicy::Aws).unwrap_err();
        assert!(err.to_string().contains("keys.json"), "{err}");
    }
}
