//! The free-space guard. Everything that makes new data asks it first: an upload before it
//! takes a slot ([`crate::api::uploads`]), the inbox before it takes a file
//! ([`crate::sources::inbox`]), a live session before it opens its recording
//! ([`crate::live`]). Below `storage.min_free_mb` they wait, with a message that says how
//! much is free and what to do, so neither SQLite nor a recording is the one to find the disk
//! full. A watcher measures every few seconds as well, tells the event stream when the state
//! changes and wakes whoever waits for space; the state clears by itself when space returns.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::watch;

use crate::sinks::events::{Event, EventHub};

/// How often the watcher measures: `statvfs` costs microseconds, and at this pace a live
/// recording (32 kB/s) or a fast upload moves the free space by little between looks.
const WATCH_INTERVAL: Duration = Duration::from_secs(2);
const MIB: u64 = 1024 * 1024;

/// The free space, as last measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DiskState {
    pub free_mb: u64,
    pub min_free_mb: u64,
    /// Below the minimum: new work waits.
    pub low: bool,
}

/// Why new work waits.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "only {free_mb} MiB are free on {dir}, below storage.min_free_mb = {min_free_mb}: new recordings and files wait until \
     space is freed (delete sessions or other files there, or lower storage.min_free_mb)"
)]
pub struct LowDisk {
    pub free_mb: u64,
    pub min_free_mb: u64,
    pub dir: String,
}

/// The guard of one data dir.
pub struct DiskGuard {
    dir: PathBuf,
    /// `storage.min_free_mb`; changed while running by [`DiskGuard::set_min_free_mb`].
    min_free_mb: AtomicU64,
    state: watch::Sender<DiskState>,
}

impl DiskGuard {
    /// A guard keeping `min_free_mb` free on the filesystem of `dir`, measured once now.
    pub fn new(dir: &Path, min_free_mb: u64) -> Arc<DiskGuard> {
        let state = watch::Sender::new(DiskState { free_mb: u64::MAX, min_free_mb, low: false });
        let guard = DiskGuard { dir: dir.to_path_buf(), min_free_mb: AtomicU64::new(min_free_mb), state };
        let first = guard.measure();
        if first.low {
            tracing::warn!("{}", guard.low_disk(first));
        }
        Arc::new(guard)
    }

    /// Measures now. A filesystem that cannot be measured counts as roomy: the guard must
    /// not stop a daemon whose disk it cannot read (said in the log).
    pub fn measure(&self) -> DiskState {
        let free_mb = match free_bytes(&self.dir) {
            Ok(bytes) => bytes / MIB,
            Err(err) => {
                tracing::warn!(dir = %self.dir.display(), "cannot measure the free space: {err}");
                u64::MAX
            }
        };
        let min_free_mb = self.min_free_mb.load(Ordering::Relaxed);
        let state = DiskState { free_mb, min_free_mb, low: free_mb < min_free_mb };
        // Only a change of state wakes the watchers; the figure is kept either way.
        self.state.send_if_modified(|old| {
            let changed = old.low != state.low;
            *old = state;
            changed
        });
        state
    }

    /// Keeps `min_free_mb` free from now on (a changed setting), measured at once.
    pub fn set_min_free_mb(&self, min_free_mb: u64) -> DiskState {
        self.min_free_mb.store(min_free_mb, Ordering::Relaxed);
        self.measure()
    }

    /// Whether new data may be made now.
    pub fn admit(&self) -> Result<(), LowDisk> {
        let state = self.measure();
        if state.low { Err(self.low_disk(state)) } else { Ok(()) }
    }

    /// Follows the state: changes when it goes low or clears.
    pub fn subscribe(&self) -> watch::Receiver<DiskState> {
        self.state.subscribe()
    }

    fn low_disk(&self, state: DiskState) -> LowDisk {
        LowDisk { free_mb: state.free_mb, min_free_mb: state.min_free_mb, dir: self.dir.display().to_string() }
    }

    /// Measures every [`WATCH_INTERVAL`] until `shutdown` resolves, and sends a `storage`
    /// event (and a log line) whenever the state changes, whoever measured it.
    pub async fn watch(self: Arc<Self>, events: EventHub, shutdown: impl Future<Output = ()>) {
        let mut changes = self.subscribe();
        let mut tick = tokio::time::interval(WATCH_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => return,
                _ = tick.tick() => {
                    self.measure();
                }
                changed = changes.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    let state = *changes.borrow_and_update();
                    match state.low {
                        true => tracing::warn!("{}", self.low_disk(state)),
                        false => tracing::info!(free_mb = state.free_mb, "free space is back above storage.min_free_mb; new work resumes"),
                    }
                    events.publish(Event::Storage { free_mb: state.free_mb, min_free_mb: state.min_free_mb, low: state.low });
                }
            }
        }
    }
}

/// Bytes an unprivileged writer may still use on the filesystem of `dir`.
fn free_bytes(dir: &Path) -> std::io::Result<u64> {
    let stat = rustix::fs::statvfs(dir)?;
    Ok(stat.f_bavail.saturating_mul(stat.f_frsize))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_minimum_decides_and_the_message_says_what_to_do() {
        let dir = tempfile::tempdir().expect("tempdir");
        let roomy = DiskGuard::new(dir.path(), 0);
        assert!(roomy.admit().is_ok());
        let free = roomy.measure().free_mb;
        assert!(free > 0 && free < u64::MAX, "measured: {free}");

        let strict = DiskGuard::new(dir.path(), u64::MAX);
        let changes = strict.subscribe();
        let low = strict.admit().expect_err("nothing has that much room");
        let message = low.to_string();
        assert!(message.contains("MiB are free") && message.contains("storage.min_free_mb"), "{message}");
        assert!(strict.measure().low);
        assert!(!changes.has_changed().expect("open"), "low from the start: no change to report");
    }

    #[test]
    fn an_unmeasurable_dir_counts_as_roomy() {
        let guard = DiskGuard::new(Path::new("/nonexistent/scribe-disk-guard"), 1);
        assert!(guard.admit().is_ok());
    }
}
