//! Change detection for mounted files (TLS certificate, association file).
//!
//! Kubernetes updates Secret and ConfigMap volumes by writing a new timestamped directory and
//! atomically swapping the `..data` symlink, so inotify on the file name misses the change
//! (upstream's watcher listens for events on the configured name only). Polling the *resolved*
//! file's identity once a second catches every form of update (in-place write, rename over,
//! symlink swap) with negligible cost: one `stat` per file per second.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// What identifies a file's content cheaply: device, inode, size and modification time of the
/// file a path resolves to (symlinks followed). `None` when the file is missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint(Option<(u64, u64, u64, SystemTime)>);

impl Fingerprint {
    /// Reads the fingerprint of `path`.
    pub fn of(path: &Path) -> Self {
        use std::os::unix::fs::MetadataExt as _;
        Self(std::fs::metadata(path).ok().map(|m| {
            (
                m.dev(),
                m.ino(),
                m.len(),
                m.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            )
        }))
    }
}

/// Polls `paths` every `interval` and calls `on_change` after any of them changed. Runs until
/// the returned task is aborted (or the runtime stops).
pub fn watch(
    paths: Vec<PathBuf>,
    interval: Duration,
    mut on_change: impl FnMut() + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut last: Vec<Fingerprint> = paths.iter().map(|p| Fingerprint::of(p)).collect();
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tick.tick().await;
            let now: Vec<Fingerprint> = paths.iter().map(|p| Fingerprint::of(p)).collect();
            if now != last {
                last = now;
                on_change();
            }
        }
    })
}
