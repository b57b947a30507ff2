//! The inbox: a watched folder whose audio files are transcribed.
//!
//! Change events (notify), a periodic rescan (network shares send no events) and a scan at
//! start-up all lead to the same [`Inbox::scan`]. A file is taken once its size and
//! modification time have been stable for the configured window; its SHA-256 is its
//! identity, so the same bytes under two names, or a file still there after a restart, give
//! one session. When the job ends the file is kept, moved to `done/` or deleted; a failed
//! file moves to `failed/` with a `.error.txt` saying why, and is never retried
//! automatically.
//!
//! A writer that pauses longer than the window gets its file taken half-written. When the
//! same path then changes, the new content is taken and the session of the old content is
//! dropped as superseded: always when the file grew from the old bytes, and otherwise when
//! the old job had not finished (a finished transcript of different bytes is a recording of
//! its own). A file whose size or modification time changed since it was hashed is never
//! moved or deleted. Writers that want none of this write `NAME.part` and rename it when done.
//!
//! While the disk is low ([`crate::disk`]) nothing is taken: files stay where they are, each
//! said once (`waiting`), and are taken as soon as space returns.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result};
use notify::event::{AccessKind, AccessMode};
use notify::{EventKind, RecursiveMode, Watcher};
use tokio::sync::mpsc;

use crate::sinks::events::{Event, EventHub, InboxOutcome};
use crate::config::{AfterSuccess, InboxConfig};
use crate::disk::DiskGuard;
use crate::files::FilePipeline;
use crate::queue::files::JobState;

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
    taken: Option<Taken>,
    /// What was taken from this path before it changed; dropped once the new content is.
    superseded: Option<Taken>,
    /// Its job has ended and the file was dealt with (only a kept file stays here).
    settled: bool,
    /// Stable, but left where it is while the disk is low (said once).
    waiting: bool,
}

/// Content of a path handed to the pipeline.
#[derive(Clone)]
struct Taken {
    sha256: String,
    session_id: String,
    /// Size when it was taken, bytes.
    size: u64,
    /// Its session was made for this file (not one of the same bytes from elsewhere), so
    /// it may be dropped when the file turns out to be unfinished.
    made_here: bool,
}

impl Candidate {
    fn new(size: u64, modified: Option<SystemTime>, superseded: Option<Taken>) -> Candidate {
        Candidate { size, modified, stable_since: Instant::now(), taken: None, superseded, settled: false, waiting: false }
    }
}

/// The watcher.
pub struct Inbox {
    dir: PathBuf,
    config: InboxConfig,
    pipeline: Arc<FilePipeline>,
    events: EventHub,
    /// Files wait where they are while the disk is low.
    disk: Arc<DiskGuard>,
    seen: HashMap<PathBuf, Candidate>,
}

impl Inbox {
    pub fn new(
        dir: PathBuf,
        config: InboxConfig,
        pipeline: Arc<FilePipeline>,
        events: EventHub,
        disk: Arc<DiskGuard>,
    ) -> Result<Inbox> {
        for sub in ["", DONE_DIR, FAILED_DIR] {
            std::fs::create_dir_all(dir.join(sub)).with_context(|| format!("creating the inbox {}", dir.display()))?;
        }
        Ok(Inbox { dir, config, pipeline, events, disk, seen: HashMap::new() })
    }

    fn wanted(&self, path: &Path) -> bool {
        // Names that are not UTF-8 are taken too, titled with their readable part.
        let Some(name) = path.file_name().map(|n| n.to_string_lossy()) else { return false };
        if name.starts_with('.') || PARTIAL_SUFFIXES.iter().any(|s| name.ends_with(s)) {
            return false;
        }
        let ext = path.extension().map(|e| e.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
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
            let candidate = self.seen.entry(path.clone()).or_insert_with(|| Candidate::new(size, modified, None));
            if candidate.size != size || candidate.modified != modified {
                // Still being written (or replaced): start the stability window again. What
                // was taken from the old content is settled once the new content is.
                let superseded = candidate.taken.take().or(candidate.superseded.take());
                *candidate = Candidate::new(size, modified, superseded);
            }
            if candidate.settled {
                continue;
            }
            match candidate.taken.clone() {
                None => {
                    let waited = candidate.stable_since.elapsed();
                    if waited < stable {
                        let left = stable - waited;
                        next = Some(next.map_or(left, |n| n.min(left)));
                        continue;
                    }
                    let name = file_name(&path);
                    // Nothing is taken while the disk is low: the file stays as it is, said
                    // once, and is taken when space returns (the guard wakes the watcher).
                    if let Err(low) = self.disk.admit() {
                        if !candidate.waiting {
                            candidate.waiting = true;
                            tracing::warn!(file = %path.display(), "inbox file waits: {low}");
                            self.events.publish(Event::InboxFile { name, outcome: InboxOutcome::Waiting });
                        }
                        continue;
                    }
                    match self.pipeline.submit_copy(&path, &name).await {
                        Ok(submitted) => {
                            tracing::info!(file = %path.display(), session = %submitted.session_id, duplicate = submitted.duplicate, "inbox file taken");
                            let taken = Taken {
                                sha256: submitted.sha256.clone(),
                                session_id: submitted.session_id,
                                size,
                                made_here: !submitted.duplicate,
                            };
                            let superseded = self.seen.get_mut(&path).and_then(|c| {
                                c.taken = Some(taken.clone());
                                c.superseded.take()
                            });
                            if let Some(old) = superseded {
                                self.supersede(&path, old, &taken).await;
                            }
                            self.settle(&path, &taken.sha256).await;
                        }
                        Err(err) => tracing::error!(file = %path.display(), "could not queue an inbox file: {err:#}"),
                    }
                }
                Some(taken) => self.settle(&path, &taken.sha256).await,
            }
        }
        next
    }

    /// `path` changed after `old` was taken from it and now holds `new`: drops the old
    /// content's session when it was a partial write or had not been transcribed yet.
    async fn supersede(&self, path: &Path, old: Taken, new: &Taken) {
        if old.session_id == new.session_id || !old.made_here {
            return;
        }
        let grew = new.size > old.size && {
            let (path, len) = (path.to_path_buf(), old.size);
            tokio::task::spawn_blocking(move || crate::audio::store::sha256_file_prefix(&path, len))
                .await
                .is_ok_and(|prefix| prefix.is_ok_and(|sha| sha == old.sha256))
        };
        let unfinished = match self.pipeline.job_for(&old.sha256).await {
            Ok(Some(job)) => !matches!(job.state, JobState::Done),
            Ok(None) => false,
            Err(err) => {
                tracing::error!("reading the job queue failed: {err:#}");
                false
            }
        };
        if !grew && !unfinished {
            return;
        }
        match self.pipeline.delete_session(&old.session_id).await {
            Ok(_) => {
                tracing::info!(file = %path.display(), session = %old.session_id, "the file changed after it was taken; its earlier session is superseded");
                self.events.publish(Event::InboxFile { name: file_name(path), outcome: InboxOutcome::Superseded });
            }
            Err(err) => tracing::error!(session = %old.session_id, "dropping a superseded session failed: {err}"),
        }
    }

    /// Applies the outcome of the file's job, when there is one.
    async fn settle(&mut self, path: &Path, sha256: &str) {
        let job = match self.pipeline.job_for(sha256).await {
            Ok(Some(job)) if matches!(job.state, JobState::Done | JobState::Failed) => job,
            Ok(_) => return,
            Err(err) => {
                tracing::error!("reading the job queue failed: {err:#}");
                return;
            }
        };
        // A file written to since it was hashed is not what was transcribed: it is left
        // where it is, and the next scan takes the new content.
        let unchanged = std::fs::metadata(path).is_ok_and(|meta| {
            self.seen.get(path).is_some_and(|c| c.size == meta.len() && c.modified == meta.modified().ok())
        });
        if !unchanged {
            return;
        }
        let (outcome, result) = match (job.state, self.config.after_success) {
            (JobState::Done, AfterSuccess::Keep) => (InboxOutcome::Kept, Ok(())),
            (JobState::Done, AfterSuccess::Move) => (InboxOutcome::Done, move_into(path, &self.dir.join(DONE_DIR)).map(|_| ())),
            (JobState::Done, AfterSuccess::Delete) => (InboxOutcome::Deleted, std::fs::remove_file(path)),
            (JobState::Failed, _) => (
                InboxOutcome::Failed,
                move_into(path, &self.dir.join(FAILED_DIR)).and_then(|moved| {
                    let reason = job.last_error.clone().unwrap_or_else(|| "the transcription failed".into());
                    let mut note = moved.into_os_string();
                    note.push(".error.txt");
                    std::fs::write(note, format!("{reason}\n"))
                }),
            ),
            (JobState::Staged | JobState::Queued | JobState::Running, _) => return,
        };
        if let Err(err) = result {
            tracing::error!(file = %path.display(), "could not move a finished inbox file: {err}");
            return;
        }
        if outcome == InboxOutcome::Kept {
            // Stays known, so it is neither taken nor reported again on every scan.
            if let Some(c) = self.seen.get_mut(path) {
                c.settled = true;
            }
        } else {
            self.seen.remove(path);
        }
        self.events.publish(Event::InboxFile { name: file_name(path), outcome });
    }

    /// Watches and scans until `shutdown` resolves. A job ending wakes it too.
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) {
        let mut jobs_ended = self.pipeline.jobs_ended();
        let mut disk = self.disk.subscribe();
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
            tokio::select! {
                () = &mut shutdown => return,
                _ = changes.recv() => {}
                // A job that ended may free a file waiting for its outcome.
                ended = jobs_ended.changed() => {
                    if ended.is_err() {
                        return;
                    }
                }
                // Space came back (or went): files left waiting are taken now.
                changed = disk.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
                () = tokio::time::sleep(wait) => {}
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

/// A file's name for titles and events; names that are not UTF-8 keep their readable part.
fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(|| "audio".into(), |n| n.to_string_lossy().into_owned())
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
