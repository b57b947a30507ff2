//! The last stage of a session's audio: retention. Stored audio (see
//! [`crate::audio::store`]) is removed by the `[retention]` rules: by age, oldest first
//! above a size limit, and originals giving way to their 16 kHz canonical copy. Transcripts,
//! summaries, words and search entries stay; the session says its audio was removed, and
//! when ([`records`]). Pinned sessions, and audio being recorded, transcribed or played, are
//! exempt. Which audio goes is decided by [`plan`]; [`Retention::run`] sweeps daily and
//! whenever new audio may have crossed a limit, and [`Retention::sweep`] with `dry_run`
//! lists what would go.

pub mod plan;
pub mod records;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde::Serialize;
use tokio::sync::broadcast::error::RecvError;

use crate::clients::library::{Library, Session, SessionFilter, SessionKind, SessionStatus, now_ms};
use crate::config::RetentionConfig;
use crate::files::FilePipeline;
use crate::queue::files::JobState;
use crate::sinks::events::{Event, EventHub, JobStatus, LibraryChange, LiveStatus, Published};
use plan::{Candidate, Limits, Removal};
use records::{AudioRecords, Removed};

/// How often the rules run with nothing else prompting them: age limits are in days.
const DAILY: Duration = Duration::from_secs(24 * 60 * 60);
/// How long after its last request a session's audio counts as being played: a player
/// fetches ranges as it goes, and a paused one may resume.
const PLAYBACK_GRACE: Duration = Duration::from_secs(30 * 60);
/// Sessions read per library call.
const PAGE: u32 = 500;
/// Bytes of canonical audio per ms: 16 kHz mono 16-bit.
const CANONICAL_BYTES_PER_MS: u64 = 32;
/// A WAV header.
const WAV_HEADER_BYTES: u64 = 44;

/// An original that would give way to its canonical copy.
#[derive(Debug, Clone, Serialize)]
pub struct Reduction {
    pub session_id: String,
    pub title: String,
    pub original_bytes: u64,
    /// Size of the 16 kHz copy, from the session's duration.
    pub canonical_bytes: u64,
}

/// What a sweep removed, or with `dry_run` would remove.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub dry_run: bool,
    pub removals: Vec<Removal>,
    pub reductions: Vec<Reduction>,
    /// Space freed (or that would be).
    pub freed_bytes: u64,
    /// Audio stored before the sweep.
    pub stored_bytes: u64,
    /// Sessions left alone because they came into use or failed; with why.
    pub skipped: Vec<String>,
}

/// A session with audio on disk, as a sweep found it.
struct Held {
    session: Session,
    sha256: String,
    path: std::path::PathBuf,
    bytes: u64,
}

/// The stage.
pub struct Retention {
    config: RetentionConfig,
    records: AudioRecords,
    library: Library,
    files: Arc<FilePipeline>,
    events: EventHub,
    /// When each session's audio was last requested for playback.
    played: Mutex<HashMap<String, Instant>>,
    /// One sweep at a time: the daily one, a limit crossed, or one asked for.
    sweeping: tokio::sync::Mutex<()>,
}

impl Retention {
    pub fn open(
        config: RetentionConfig,
        path: &Path,
        library: Library,
        files: Arc<FilePipeline>,
        events: EventHub,
    ) -> Result<Arc<Retention>> {
        let records = AudioRecords::open(path).context("opening the retention records")?;
        Ok(Arc::new(Retention {
            config,
            records,
            library,
            files,
            events,
            played: Mutex::new(HashMap::new()),
            sweeping: tokio::sync::Mutex::new(()),
        }))
    }

    /// Pins or unpins a session: a pinned one keeps its audio.
    pub fn set_pinned(&self, session_id: &str, pinned: bool) -> Result<()> {
        self.records.set_pinned(session_id, pinned, now_ms())
    }

    pub fn pinned(&self, session_id: &str) -> Result<bool> {
        self.records.pinned(session_id)
    }

    /// Whether, when and why the session's audio was removed.
    pub fn removed(&self, session_id: &str) -> Result<Option<Removed>> {
        self.records.removed(session_id)
    }

    /// Notes that the session's audio is being played.
    pub fn playing(&self, session_id: &str) {
        self.played().insert(session_id.to_string(), Instant::now());
    }

    /// Forgets a deleted session.
    pub fn forget(&self, session_id: &str) {
        self.played().remove(session_id);
        if let Err(err) = self.records.forget(session_id) {
            tracing::warn!(session = session_id, "forgetting the deleted session's retention records failed: {err:#}");
        }
    }

    fn played(&self) -> std::sync::MutexGuard<'_, HashMap<String, Instant>> {
        self.played.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether the session's audio is being recorded, transcribed or played.
    async fn in_use(&self, session: &Session) -> Result<bool> {
        let settled = matches!(session.status, SessionStatus::Complete | SessionStatus::Error | SessionStatus::Interrupted);
        let job_active = self.files.session_job(&session.id).await?.is_some_and(|job| matches!(job.state, JobState::Staged | JobState::Queued | JobState::Running));
        let played = self.played().get(&session.id).is_some_and(|at| at.elapsed() < PLAYBACK_GRACE);
        Ok(!settled || job_active || played)
    }

    /// Every session whose audio is on disk.
    async fn held(&self) -> Result<Vec<Held>> {
        let removed = self.records.all_removed()?;
        let filter = SessionFilter { kind: None, status: None, created_from_ms: None, created_before_ms: None };
        let mut sessions = Vec::new();
        let mut cursor = None;
        loop {
            let page = self.library.list_sessions(filter, cursor, PAGE).await?;
            sessions.extend(page.sessions);
            cursor = page.next_cursor;
            if cursor.is_none() {
                break;
            }
        }
        let mut held = Vec::new();
        for session in sessions.into_iter().filter(|s| !removed.contains(&s.id)) {
            let Some(file) = self.library.get_audio_file(session.id.clone()).await? else { continue };
            let Some(path) = self.files.audio().find(&file.sha256).await else { continue };
            let bytes = tokio::fs::metadata(&path).await.map(|m| m.len()).unwrap_or(0);
            held.push(Held { session, sha256: file.sha256, path, bytes });
        }
        Ok(held)
    }

    /// Applies the rules once; with `dry_run` only says what would go.
    pub async fn sweep(&self, dry_run: bool) -> Result<Report> {
        let _one = self.sweeping.lock().await;
        let pinned = self.records.all_pinned()?;
        let reduced = self.records.all_reduced()?;
        let held = self.held().await?;
        let mut candidates = Vec::with_capacity(held.len());
        for h in &held {
            let keep = pinned.contains(&h.session.id) || self.in_use(&h.session).await?;
            candidates.push(Candidate {
                session_id: h.session.id.clone(),
                title: h.session.title.clone(),
                created_ms: h.session.created_ms,
                bytes: h.bytes,
                keep,
            });
        }
        let limits = Limits { audio_days: self.config.audio_days, max_audio_bytes: self.max_audio_bytes() };
        let removals = plan::plan(candidates.clone(), limits, now_ms());
        let removed: HashSet<&str> = removals.iter().map(|r| r.session_id.as_str()).collect();
        let reductions: Vec<Reduction> = if self.config.keep_originals {
            Vec::new()
        } else {
            held.iter()
                .zip(&candidates)
                .filter(|(h, c)| !c.keep && !removed.contains(c.session_id.as_str()) && !reduced.contains(&h.session.id))
                .filter(|(h, _)| h.session.kind == SessionKind::File && h.session.status == SessionStatus::Complete)
                .filter_map(|(h, _)| {
                    let canonical_bytes = h.session.duration_ms? * CANONICAL_BYTES_PER_MS + WAV_HEADER_BYTES;
                    (canonical_bytes < h.bytes).then(|| Reduction {
                        session_id: h.session.id.clone(),
                        title: h.session.title.clone(),
                        original_bytes: h.bytes,
                        canonical_bytes,
                    })
                })
                .collect()
        };
        let mut report = Report {
            dry_run,
            stored_bytes: held.iter().map(|h| h.bytes).sum(),
            freed_bytes: 0,
            removals: Vec::new(),
            reductions: Vec::new(),
            skipped: Vec::new(),
        };
        if dry_run {
            report.freed_bytes = removals.iter().map(|r| r.bytes).sum::<u64>()
                + reductions.iter().map(|r| r.original_bytes - r.canonical_bytes).sum::<u64>();
            report.removals = removals;
            report.reductions = reductions;
            return Ok(report);
        }
        let by_id: HashMap<&str, &Held> = held.iter().map(|h| (h.session.id.as_str(), h)).collect();
        for removal in removals {
            let Some(h) = by_id.get(removal.session_id.as_str()) else { continue };
            match self.remove(h, &removal).await {
                Ok(()) => {
                    report.freed_bytes += removal.bytes;
                    report.removals.push(removal);
                }
                Err(why) => report.skipped.push(format!("{}: {why:#}", removal.session_id)),
            }
        }
        for reduction in reductions {
            let Some(h) = by_id.get(reduction.session_id.as_str()) else { continue };
            match self.reduce(h).await {
                Ok(canonical_bytes) => {
                    report.freed_bytes += reduction.original_bytes.saturating_sub(canonical_bytes);
                    report.reductions.push(Reduction { canonical_bytes, ..reduction });
                }
                Err(why) => report.skipped.push(format!("{}: {why:#}", reduction.session_id)),
            }
        }
        Ok(report)
    }

    /// Whether the session came into use since the sweep looked: then it keeps its audio.
    async fn still_free(&self, session_id: &str) -> Result<()> {
        let session = self.library.get_session(session_id.to_string()).await?.context("the session was deleted")?;
        anyhow::ensure!(!self.in_use(&session).await?, "its audio came into use");
        anyhow::ensure!(!self.records.pinned(session_id)?, "it was pinned");
        Ok(())
    }

    async fn remove(&self, h: &Held, removal: &Removal) -> Result<()> {
        self.still_free(&h.session.id).await?;
        // Recorded first: a stop between the two leaves a session that says its audio is
        // gone while the file lingers (the next sweep finds nothing to do), never a session
        // pointing at audio that is not there without saying so.
        let removed = Removed { sha256: h.sha256.clone(), bytes: h.bytes, reason: removal.reason.clone(), removed_ms: now_ms() };
        self.records.mark_removed(&h.session.id, &removed)?;
        self.files.audio().remove(&h.sha256).await.with_context(|| format!("removing {}", h.path.display()))?;
        tracing::info!(session = %h.session.id, bytes = h.bytes, reason = %removal.reason, "audio removed by retention");
        self.events.publish(Event::Library { session_id: h.session.id.clone(), change: LibraryChange::Updated });
        Ok(())
    }

    /// Replaces the session's original with its canonical copy; returns the copy's size.
    async fn reduce(&self, h: &Held) -> Result<u64> {
        self.still_free(&h.session.id).await?;
        let audio = self.files.audio();
        let pcm = audio.scratch(&format!("canonical-{}.pcm", h.session.id));
        if let Some(dir) = pcm.parent() {
            tokio::fs::create_dir_all(dir).await?;
        }
        let converted = self.files.decoder().convert(&h.path, Some(&pcm), |_| {}).await;
        if let Err(err) = converted {
            let _ = tokio::fs::remove_file(&pcm).await;
            // Not tried again: the original stays.
            self.records.mark_reduced(&h.session.id, &h.sha256, 0, now_ms())?;
            anyhow::bail!("the original does not decode, so it stays: {err}");
        }
        let canonical = crate::live::recording::store(&pcm, audio).await?;
        if canonical.stored.sha256 == h.sha256 {
            self.records.mark_reduced(&h.session.id, &h.sha256, 0, now_ms())?;
            return Ok(h.bytes);
        }
        let mut record = canonical.audio_file();
        record.created_ms = h.session.created_ms;
        self.library.put_audio_file(h.session.id.clone(), record).await?;
        self.records.mark_reduced(&h.session.id, &h.sha256, h.bytes, now_ms())?;
        audio.remove(&h.sha256).await.with_context(|| format!("removing {}", h.path.display()))?;
        tracing::info!(session = %h.session.id, original = h.bytes, canonical = canonical.stored.size, "original audio replaced by its canonical copy");
        self.events.publish(Event::Library { session_id: h.session.id.clone(), change: LibraryChange::Updated });
        Ok(canonical.stored.size)
    }

    /// The size limit in bytes, when one is set.
    fn max_audio_bytes(&self) -> Option<u64> {
        self.config.max_audio_gb.map(|gb| (gb * 1e9) as u64)
    }

    /// Whether the stored audio is above `max_audio_gb`: a walk of the audio store, far
    /// cheaper than a sweep's look at every session.
    async fn over_limit(&self) -> bool {
        let Some(max) = self.max_audio_bytes() else { return false };
        let audio = self.files.audio().clone();
        tokio::task::spawn_blocking(move || audio.stored_bytes()).await.is_ok_and(|bytes| bytes > max)
    }

    /// Sweeps at start and daily, and when new audio crossed `max_audio_gb` or a transcribed
    /// file may leave an original to shrink (`keep_originals = false`), until `shutdown`.
    /// Nothing runs while no rule is set.
    pub async fn run(self: Arc<Self>, shutdown: impl Future<Output = ()>) {
        if !self.config.active() {
            return;
        }
        tokio::pin!(shutdown);
        let prompted = self.config.max_audio_gb.is_some() || !self.config.keep_originals;
        let mut events = self.events.subscribe(None).live;
        let mut next_daily = tokio::time::Instant::now();
        let mut due = false;
        loop {
            if due {
                match self.sweep(false).await {
                    Ok(report) if !report.removals.is_empty() || !report.reductions.is_empty() => tracing::info!(
                        removed = report.removals.len(),
                        reduced = report.reductions.len(),
                        freed_bytes = report.freed_bytes,
                        "retention swept"
                    ),
                    Ok(_) => {}
                    Err(err) => tracing::warn!("retention failed; it tries again later: {err:#}"),
                }
            }
            due = tokio::select! {
                () = &mut shutdown => return,
                () = tokio::time::sleep_until(next_daily) => {
                    next_daily += DAILY;
                    // The first pass (at start) is this one too.
                    true
                }
                () = audio_added(&mut events), if prompted => !self.config.keep_originals || self.over_limit().await,
            };
        }
    }
}

/// Resolves when an event says audio was stored or a transcript finished (or events were
/// missed, which may have said so).
async fn audio_added(events: &mut tokio::sync::broadcast::Receiver<Arc<Published>>) {
    loop {
        match events.recv().await {
            Ok(published) => {
                if matches!(
                    published.event,
                    Event::Job { status: JobStatus::Complete, .. }
                        | Event::Live { status: LiveStatus::Complete, .. }
                        | Event::Library { change: LibraryChange::Created, .. }
                ) {
                    return;
                }
            }
            Err(RecvError::Lagged(_)) => return,
            Err(RecvError::Closed) => std::future::pending().await,
        }
    }
}
