//! The persistent file-job queue. A file's first job is unique by the SHA-256 of its bytes,
//! so the same bytes never become two sessions: the job is claimed
//! ([`JobStore::claim_bytes`], state `staged`) before its session is made, in one step that
//! concurrent submissions of the same bytes cannot both win. A re-transcription is a later
//! job for the same session with a chosen provider. A session has at most one job queued or
//! running. A job interrupted by a stop is queued again and counts that as an attempt: a file
//! that kills the daemon every time is given up after the configured attempts instead of
//! looping.
//!
//! The queue lives in the daemon's own SQLite database ([`local`]) or, on a node of a
//! cluster, in the cluster's PostgreSQL database ([`shared`]), where every node claims what
//! its plugins can run and a claim is a lease that lapses when its node stops.

mod local;
mod shared;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use anyhow::Result;

use crate::cluster::Cluster;

/// A job's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    /// Claimed for a new file whose session is being made; not yet workable.
    Staged,
    Queued,
    Running,
    Done,
    Failed,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Staged => "staged",
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Done => "done",
            JobState::Failed => "failed",
        }
    }

    fn parse(s: &str) -> JobState {
        match s {
            "staged" => JobState::Staged,
            "running" => JobState::Running,
            "done" => JobState::Done,
            "failed" => JobState::Failed,
            _ => JobState::Queued,
        }
    }
}

/// One job.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub id: i64,
    pub session_id: String,
    pub sha256: String,
    /// The stored audio file.
    pub path: PathBuf,
    /// The speech-to-text plugin chosen for a re-transcription; `None` is the configured one.
    pub provider: Option<String>,
    pub state: JobState,
    pub attempts: u32,
    pub next_attempt_ms: i64,
    pub last_error: Option<String>,
    /// What a finished transcription said of itself: what its transcript lacks (no word
    /// times), why its speakers are missing.
    pub note: Option<String>,
    /// The language the client named, for the recogniser.
    pub language: Option<String>,
    /// Words the client said to expect, for a recogniser that reads a prompt.
    pub prompt: Option<String>,
    /// The language the recogniser heard (or was told), once the job is done.
    pub heard_language: Option<String>,
    /// The transcript version an attempt of this job started: an attempt cut short by a
    /// stop goes on with it, instead of leaving a partial version beside a new one.
    pub version_id: Option<u64>,
}

/// What a client asked of a new file's job; all `None` is the configured provider's choice.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobAsk {
    pub provider: Option<String>,
    pub language: Option<String>,
    pub prompt: Option<String>,
}

/// What claiming a file's bytes found.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// Ours: the staged job's id. Make the session, then [`JobStore::promote`] it.
    New(i64),
    /// The bytes have a first job already (maybe still staged by a concurrent submission).
    Known(Box<Job>),
}

/// What the next due job is.
#[derive(Debug, Clone, PartialEq)]
pub enum Due {
    /// Marked running, its attempt counted.
    Run(Job),
    /// Interrupted by the daemon stopping as many times as attempts are allowed (a file
    /// that crashes the process): marked failed with the reason, not run again.
    GivenUp(Job),
}


/// What this node's plugins can run: a job naming a plugin needs it loaded, and a job naming
/// none needs the node's `roles.stt_batch` loaded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Runnable {
    /// The loaded batch speech-to-text plugins.
    pub plugins: Vec<String>,
    /// Whether the node's own choice for files is among them.
    pub default: bool,
}

/// The queue, in whichever database holds it.
#[derive(Clone)]
pub struct JobStore {
    backend: Arc<Backend>,
    /// Told when a job may be due: queued here, or (on a cluster) on any node.
    wake: Arc<Notify>,
}

enum Backend {
    Local(local::LocalJobs),
    Shared(shared::SharedJobs),
}

/// Calls the same method of whichever queue backs the store: the local one's are
/// synchronous (SQLite, a few milliseconds), the shared one's await the database.
macro_rules! on_backend {
    ($store:ident, $method:ident($($arg:expr),*)) => {
        match &*$store.backend {
            Backend::Local(local) => local.$method($($arg),*),
            Backend::Shared(shared) => shared.$method($($arg),*).await,
        }
    };
}

impl JobStore {
    /// The queue of a daemon that works alone, at `path`; jobs that were running when the
    /// daemon stopped are queued again.
    pub fn open(path: &Path) -> Result<JobStore> {
        Ok(JobStore { backend: Arc::new(Backend::Local(local::LocalJobs::open(path)?)), wake: Arc::new(Notify::new()) })
    }

    /// The queue every node of `cluster` shares, in its database; this node takes only
    /// what `runnable` says it can run. Nothing is read until it is first used, so a node
    /// starts while the database is away.
    pub fn shared(cluster: &Cluster, runnable: Runnable) -> Result<JobStore> {
        Ok(JobStore { backend: Arc::new(Backend::Shared(shared::SharedJobs::new(cluster, runnable)?)), wake: cluster.work() })
    }

    /// Told when a job may be due; idle workers wait on it.
    pub fn wake(&self) -> &Notify {
        &self.wake
    }

    /// How long an idle worker waits before looking again when nothing woke it: on a
    /// cluster, leases of stopped nodes lapse without a wake-up.
    pub fn idle_poll(&self, alone: Duration) -> Duration {
        match &*self.backend {
            Backend::Local(_) => alone,
            Backend::Shared(shared) => shared.poll().min(alone),
        }
    }

    /// The first job of these bytes, if any: it names their session.
    pub async fn by_sha(&self, sha256: &str) -> Result<Option<Job>> {
        on_backend!(self, by_sha(sha256))
    }

    /// Claims `sha256` for a new file: atomically, either a staged job for `session_id` is
    /// made, or the job that already holds these bytes is returned.
    pub async fn claim_bytes(&self, session_id: &str, sha256: &str, path: &Path) -> Result<Claim> {
        on_backend!(self, claim_bytes(session_id, sha256, path))
    }

    /// A staged job's session exists now: the job joins the queue, with what the client asked
    /// of it (a provider, a language, a prompt).
    pub async fn promote(&self, id: i64, path: &Path, ask: &JobAsk) -> Result<()> {
        on_backend!(self, promote(id, path, ask))
    }

    /// Drops a staged job whose session could not be made; the bytes are free again.
    pub async fn discard(&self, id: i64) -> Result<()> {
        on_backend!(self, discard(id))
    }

    /// Jobs this daemon left staged by a stop between claiming the bytes and making the
    /// session.
    pub async fn staged(&self) -> Result<Vec<Job>> {
        on_backend!(self, staged())
    }

    /// Queues a job. Fails when the bytes already have a first job (`provider` none) or the
    /// session already has a job queued or running.
    pub async fn insert(&self, session_id: &str, sha256: &str, path: &Path, provider: Option<&str>) -> Result<()> {
        on_backend!(self, insert(session_id, sha256, path, provider))
    }

    /// Jobs waiting or running.
    pub async fn pending(&self) -> Result<u64> {
        on_backend!(self, pending())
    }

    /// Forgets a deleted session's jobs.
    pub async fn delete_session(&self, session_id: &str) -> Result<()> {
        on_backend!(self, delete_session(session_id))
    }

    /// Takes the next due job this daemon can run and marks it running, its attempt counted
    /// (and durable) before any work starts. A job already tried `max_attempts` times is
    /// one whose worker stopped during it, every time (a retry is only queued while attempts
    /// are left): it is failed instead.
    pub async fn claim_due(&self, now_ms: i64, max_attempts: u32) -> Result<Option<Due>> {
        on_backend!(self, claim_due(now_ms, max_attempts))
    }

    /// The job [`JobStore::claim_due`] would take now, left queued.
    pub async fn peek_due(&self, now_ms: i64) -> Result<Option<Job>> {
        on_backend!(self, peek_due(now_ms))
    }

    /// The earliest time a queued job this daemon can run becomes due.
    pub async fn next_due_ms(&self) -> Result<Option<i64>> {
        on_backend!(self, next_due_ms())
    }

    /// Whether this daemon still holds the running job `id`: on a cluster, another node
    /// takes over a job whose lease lapsed, and the first one's result is then not stored.
    pub async fn holds(&self, id: i64) -> Result<bool> {
        match &*self.backend {
            Backend::Local(_) => Ok(true),
            Backend::Shared(shared) => shared.holds(id).await,
        }
    }

    /// Marks a job done, with what its transcription said of itself and the language heard.
    /// Remembers the transcript version an attempt started, before words go into it.
    pub async fn started_version(&self, id: i64, version_id: u64) -> Result<()> {
        on_backend!(self, started_version(id, version_id))
    }

    pub async fn finish_done(&self, id: i64, note: Option<&str>, heard_language: Option<&str>) -> Result<()> {
        on_backend!(self, finish_done(id, note, heard_language))
    }

    pub async fn finish(&self, id: i64, state: JobState, error: Option<&str>) -> Result<()> {
        on_backend!(self, finish(id, state, error))
    }

    /// Puts a job back in the queue to run again at `at_ms`.
    pub async fn retry_at(&self, id: i64, at_ms: i64, error: &str) -> Result<()> {
        on_backend!(self, retry_at(id, at_ms, error))
    }

    /// The session's latest job.
    pub async fn get(&self, session_id: &str) -> Result<Option<Job>> {
        on_backend!(self, get(session_id))
    }
}
