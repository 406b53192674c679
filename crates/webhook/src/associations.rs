//! The EKS Pod Identity association file (`--watch-container-credentials-config`,
//! webhook.md §3.14): `{"identities":[{"namespace":"ns","serviceAccount":"sa"}]}`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

pub use irsa_mutate::Associations;

/// The association file, reloaded when it changes (including `..data` symlink swaps).
#[derive(Debug)]
pub struct AssociationFile {
    path: PathBuf,
    current: RwLock<Arc<Associations>>,
}

impl AssociationFile {
    /// Loads the file now. A missing file is an empty set; malformed JSON is an error here
    /// (at startup) and only a warning on later reloads, which keep the previous set.
    pub fn load(path: impl Into<PathBuf>) -> Result<Self, std::io::Error> {
        let path = path.into();
        let ids = read(&path)?;
        Ok(Self {
            path,
            current: RwLock::new(Arc::new(ids)),
        })
    }

    /// The current identities.
    pub fn current(&self) -> Arc<Associations> {
        Arc::clone(&self.current.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Re-reads the file; on error the previous set stays.
    pub fn reload(&self) -> Result<(), std::io::Error> {
        let ids = read(&self.path)?;
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(ids);
        Ok(())
    }

    /// Starts a task that reloads the file when it changes, checking every `interval`.
    pub fn watch(self: &Arc<Self>, interval: Duration) -> tokio::task::JoinHandle<()> {
        let me = Arc::clone(self);
        crate::files::watch(vec![self.path.clone()], interval, move || {
            match me.reload() {
                Ok(()) => {
                    tracing::info!(path = %me.path.display(), identities = me.current().len(), "reloaded container-credentials associations")
                }
                Err(err) => {
                    tracing::warn!(path = %me.path.display(), error = %err, "cannot reload container-credentials associations; keeping the previous set")
                }
            }
        })
    }
}

fn read(path: &Path) -> Result<Associations, std::io::Error> {
    let content = match std::fs::read_to_string(path) {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e),
    };
    Associations::parse(&content).map_err(|e| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "{}: not a container-credentials association file: {e}",
                path.display()
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn should_keep_previous_set_on_malformed_reload() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("assoc.json");
        std::fs::write(
            &path,
            r#"{"identities":[{"namespace":"a","serviceAccount":"b"}]}"#,
        )
        .unwrap();
        let file = AssociationFile::load(&path).unwrap();
        std::fs::write(&path, "{oops").unwrap();
        assert!(file.reload().is_err());
        assert!(file.current().contains("a", "b"));
        std::fs::remove_file(&path).unwrap();
        file.reload().unwrap();
        assert!(file.current().is_empty());
    }
}
