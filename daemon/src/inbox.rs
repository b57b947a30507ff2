//! The inbox: a watched folder whose audio files are transcribed.
//!
//! Change events (notify), a periodic rescan (network shares send no events) and a scan at
//! start-up all lead to the same [`Inbox::scan`]. A file is taken once its size and
//! modification time have been stable for the configured window; its SHA-256 is its
//! identity, so the same bytes under two names, or a file still there after a restart, give
//! one session. When the job ends the file is kept, moved to `done/` or deleted; a failed
//! file moves to `failed/` with a `.error.txt` saying why, and is never retried
//! automatically.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result};
use notify::event::{AccessKind, AccessMode};
use notify::{EventKind, RecursiveMode, Watcher};
use tokio::sync::{broadcast, mpsc};

use crate::events::{Event, EventHub};
use crate::config::{AfterSuccess, InboxConfig};
use crate::files::FilePipeline;
use crate::jobs::JobState;

/// Sub-folders the inbox writes to; never scanned.
const DONE_DIR: &str = "done";
const FAILED_DIR: &str = "failed";
/// Suffixes of files still being written by browsers and copy tools.
const PARTIAL_SUFFIXES: &[&str] = &[".part", ".crdownload", ".tmp", ".partial", "~"];

/// What the inbox knows about one file.
struct Candidate {
    size: u64,
    modified: Option<SystemTime>,
    stable_since: Instant,
    /// Set once the file was handed to the pipeline.
    sha256: Option<String>,
    /// Its job has ended and the file was dealt with (only a kept file stays here).
    settled: bool,
}

/// The watcher.
pub struct Inbox {
    dir: PathBuf,
    config: InboxConfig,
    pipeline: Arc<FilePipeline>,
    events: EventHub,
    seen: HashMap<PathBuf, Candidate>,
}

impl Inbox {
    pub fn new(
        dir: PathBuf,
        config: InboxConfig,
        pipeline: Arc<FilePipeline>,
        events: EventHub,
    ) -> Result<Inbox> {
        for sub in ["", DONE_DIR, FAILED_DIR] {
            std::fs::create_dir_all(dir.join(sub)).with_context(|| format!("creating the inbox {}", dir.display()))?;
        }
        Ok(Inbox { dir, config, pipeline, events, seen: HashMap::new() })
    }

    fn wanted(&self, path: &Path) -> bool {
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else { return false };
        if name.starts_with('.') || PARTIAL_SUFFIXES.iter().any(|s| name.ends_with(s)) {
            return false;
        }
        let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).unwrap_or_default();
        self.config.extensions.iter().any(|e| e.eq_ignore_ascii_case(&ext))
    }

    /// One pass over the folder. Returns how long until a candidate may become stable.
    pub async fn scan(&mut self) -> Option<Duration> {
        let stable = Duration::from_secs(self.config.stable_secs);
        let mut present = Vec::new();
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(err) => {
                tracing::error!(dir = %self.dir.display(), "cannot read the inbox: {err}");
                return None;
            }
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_file() && self.wanted(&path) {
                present.push((path, meta.len(), meta.modified().ok()));
            }
        }
        self.seen.retain(|path, _| present.iter().any(|(p, _, _)| p == path));
        let mut next: Option<Duration> = None;
        for (path, size, modified) in present {
            let candidate = self.seen.entry(path.clone()).or_insert_with(|| Candidate {
                size,
                modified,
                stable_since: Instant::now(),
                sha256: None,
                settled: false,
            });
            if candidate.size != size || candidate.modified != modified {
                // Still being written (or replaced): start the stability window again.
                *candidate = Candidate { size, modified, stable_since: Instant::now(), sha256: None, settled: false };
            }
            if candidate.settled {
                continue;
            }
            match candidate.sha256.clone() {
                None => {
                    let waited = candidate.stable_since.elapsed();
                    if waited < stable {
                        let left = stable - waited;
                        next = Some(next.map_or(left, |n| n.min(left)));
                        continue;
                    }
                    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("audio").to_string();
                    match self.pipeline.submit_copy(&path, &name).await {
                        Ok(submitted) => {
                            tracing::info!(file = %path.display(), session = %submitted.session_id, duplicate = submitted.duplicate, "inbox file taken");
                            if let Some(c) = self.seen.get_mut(&path) {
                                c.sha256 = Some(submitted.sha256.clone());
                            }
                            self.settle(&path, &submitted.sha256);
                        }
                        Err(err) => tracing::error!(file = %path.display(), "could not queue an inbox file: {err:#}"),
                    }
                }
                Some(sha) => self.settle(&path, &sha),
            }
        }
        next
    }

    /// Applies the outcome of the file's job, when there is one.
    fn settle(&mut self, path: &Path, sha256: &str) {
        let job = match self.pipeline.job_for(sha256) {
            Ok(Some(job)) => job,
            Ok(None) => return,
            Err(err) => {
                tracing::error!("reading the job queue failed: {err:#}");
                return;
            }
        };
        let (outcome, result) = match (job.state, self.config.after_success) {
            (JobState::Done, AfterSuccess::Keep) => ("kept", Ok(())),
            (JobState::Done, AfterSuccess::Move) => ("done", move_into(path, &self.dir.join(DONE_DIR)).map(|_| ())),
            (JobState::Done, AfterSuccess::Delete) => ("deleted", std::fs::remove_file(path)),
            (JobState::Failed, _) => (
                "failed",
                move_into(path, &self.dir.join(FAILED_DIR)).and_then(|moved| {
                    let reason = job.last_error.clone().unwrap_or_else(|| "the transcription failed".into());
                    let mut note = moved.into_os_string();
                    note.push(".error.txt");
                    std::fs::write(note, format!("{reason}\n"))
                }),
            ),
            (JobState::Queued | JobState::Running, _) => return,
        };
        if let Err(err) = result {
            tracing::error!(file = %path.display(), "could not move a finished inbox file: {err}");
            return;
        }
        if outcome == "kept" {
            // Stays known, so it is neither taken nor reported again on every scan.
            if let Some(c) = self.seen.get_mut(path) {
                c.settled = true;
            }
        } else {
            self.seen.remove(path);
        }
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
        self.events.publish(Event::InboxFile { name, outcome: outcome.into() });
    }

    /// Watches and scans until `shutdown` resolves. A job ending wakes it too.
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) {
        let mut events = self.events.subscribe(None).live;
        let (tx, mut changes) = mpsc::channel::<()>(1);
        let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            // Opening and reading are not changes, and the scan itself opens the folder and
            // hashing reads the files: waking on those would rescan in a loop.
            if event.is_ok_and(|e| !is_change(&e.kind)) {
                return;
            }
            // One pending wake-up is enough: a scan sees every change.
            let _ = tx.try_send(());
        })
        .and_then(|mut w| w.watch(&self.dir, RecursiveMode::NonRecursive).map(|()| w));
        let _watcher = match watcher {
            Ok(w) => Some(w),
            Err(err) => {
                tracing::warn!(dir = %self.dir.display(), "no change events for the inbox ({err}); relying on rescans");
                None
            }
        };
        let rescan = Duration::from_secs(self.config.rescan_secs.max(1));
        tokio::pin!(shutdown);
        loop {
            let wait = self.scan().await.map_or(rescan, |until_stable| until_stable.min(rescan));
            let rescan_due = tokio::time::sleep(wait);
            tokio::pin!(rescan_due);
            loop {
                tokio::select! {
                    () = &mut shutdown => return,
                    _ = changes.recv() => break,
                    event = events.recv() => match event {
                        // A finished job may free a kept file; other events do not concern
                        // the inbox.
                        Ok(published) if !matches!(published.event, Event::Job { .. }) => {}
                        Err(broadcast::error::RecvError::Closed) => return,
                        _ => break,
                    },
                    () = &mut rescan_due => break,
                }
            }
        }
    }
}

/// Whether an event can mean a file appeared, grew, finished or went. Reads and opens
/// cannot; a close after writing can (a copy just finished).
fn is_change(kind: &EventKind) -> bool {
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        _ => true,
    }
}

/// Moves `path` into `dir`, adding a number when the name is taken. Returns the new path.
fn move_into(path: &Path, dir: &Path) -> std::io::Result<PathBuf> {
    let name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    let mut target = dir.join(&name);
    let mut n = 1;
    while target.exists() {
        let mut numbered = name.clone();
        numbered.push(format!(".{n}"));
        target = dir.join(numbered);
        n += 1;
    }
    std::fs::rename(path, &target)?;
    Ok(target)
}

#[cfg(test)]
mod tests {
    use notify::event::{CreateKind, ModifyKind, RenameMode};

    use super::*;

    #[test]
    fn only_changes_wake_the_scanner() {
        let wakes = [
            (EventKind::Create(CreateKind::File), true),
            (EventKind::Modify(ModifyKind::Name(RenameMode::To)), true),
            (EventKind::Access(AccessKind::Close(AccessMode::Write)), true),
            (EventKind::Remove(notify::event::RemoveKind::File), true),
            // The scan's own opendir and the hasher's reads.
            (EventKind::Access(AccessKind::Open(AccessMode::Any)), false),
            (EventKind::Access(AccessKind::Close(AccessMode::Read)), false),
            (EventKind::Access(AccessKind::Read), false),
        ];
        for (kind, want) in wakes {
            assert_eq!(is_change(&kind), want, "{kind:?}");
        }
    }
}
