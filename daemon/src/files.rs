//! The file pipeline: an audio file in (upload, later the inbox), a transcribed session out.
//!
//! [`FilePipeline::submit`] hashes the bytes, keeps one content-addressed copy under
//! `<data_dir>/audio/`, creates the session and queues a job; the same bytes submitted again
//! give back the existing session. [`FilePipeline::run`] works the queue: it checks the audio
//! decodes (a corrupt file fails at once, with no provider call), sends it to the batch
//! speech-to-text plugin, stores the words, and completes the session. Rate limits and outages
//! are retried with back-off (a provider's `retry-after` is honoured); credential problems and
//! bad input are not retried, and the session says why.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use tokio::sync::{Notify, broadcast};

use crate::api::Event;
use crate::audio;
use crate::jobs::{Job, JobState, JobStore};
use crate::library::{Library, NewSession, SessionKind, SessionPatch, SessionStatus};
use crate::plugin::bindings::types::PluginError;
use crate::stt::{AudioEncoding, AudioFormat, AudioInput, BatchStt};

/// Words stored per library call: large enough to be quick, small enough for the store's
/// result and request caps.
const WORDS_PER_APPEND: usize = 2_000;
/// Longest the worker sleeps when nothing is due; a new job wakes it sooner.
const IDLE_POLL: Duration = Duration::from_secs(30);

/// Retry settings, from `[files]`.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub base: Duration,
    pub max: Duration,
}

impl RetryPolicy {
    /// Wait before attempt `attempts + 1`: exponential from `base`, capped, unless the
    /// provider said how long.
    pub fn delay(&self, attempts: u32, retry_after: Option<Duration>) -> Duration {
        retry_after.unwrap_or_else(|| {
            let factor = 1u32.checked_shl(attempts.saturating_sub(1).min(16)).unwrap_or(u32::MAX);
            self.base.saturating_mul(factor).min(self.max)
        })
    }
}

/// What became of a submitted file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submitted {
    pub session_id: String,
    /// Hex SHA-256 of the bytes: their identity.
    pub sha256: String,
    /// True when these bytes were already known: no new session was made.
    pub duplicate: bool,
}

/// The pipeline.
pub struct FilePipeline {
    jobs: JobStore,
    library: Library,
    stt: Option<BatchStt>,
    audio_dir: PathBuf,
    events: broadcast::Sender<Event>,
    wake: Notify,
    policy: RetryPolicy,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The encoding a file's extension implies.
pub fn encoding_for(path: &Path) -> Option<AudioEncoding> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    Some(match ext.as_str() {
        "wav" | "wave" => AudioEncoding::Wav,
        "flac" => AudioEncoding::Flac,
        "mp3" => AudioEncoding::Mp3,
        "ogg" | "oga" => AudioEncoding::OggVorbis,
        "opus" => AudioEncoding::OggOpus,
        "webm" => AudioEncoding::WebmOpus,
        "m4a" | "mp4" | "aac" => AudioEncoding::Aac,
        _ => return None,
    })
}

fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher)?;
    Ok(hex::encode(hasher.finalize()))
}

fn new_session_id() -> String {
    let mut bytes = [0u8; 8];
    // Falls back to the clock: ids need to be unique, not secret.
    if getrandom::fill(&mut bytes).is_err() {
        bytes = now_ms().to_le_bytes();
    }
    format!("f{}", hex::encode(bytes))
}

impl FilePipeline {
    pub fn new(
        jobs: JobStore,
        library: Library,
        stt: Option<BatchStt>,
        audio_dir: PathBuf,
        events: broadcast::Sender<Event>,
        policy: RetryPolicy,
    ) -> Arc<FilePipeline> {
        Arc::new(FilePipeline { jobs, library, stt, audio_dir, events, wake: Notify::new(), policy })
    }

    fn publish(&self, session_id: &str, status: &str, message: Option<String>) {
        // Nobody listening is fine.
        let _ = self.events.send(Event::Job { session_id: session_id.to_string(), status: status.to_string(), message });
    }

    /// Takes ownership of `file` (moved into the audio store, or deleted when its bytes are
    /// already known) and queues it. `name` is the user's file name.
    pub async fn submit(&self, file: &Path, name: &str) -> Result<Submitted> {
        self.submit_file(file, name, true).await
    }

    /// Queues a copy of `file`, which stays where it is (the inbox decides its fate once the
    /// job ends).
    pub async fn submit_copy(&self, file: &Path, name: &str) -> Result<Submitted> {
        self.submit_file(file, name, false).await
    }

    /// The job for these bytes, if any.
    pub fn job_for(&self, sha256: &str) -> Result<Option<Job>> {
        self.jobs.by_sha(sha256)
    }

    async fn submit_file(&self, file: &Path, name: &str, take: bool) -> Result<Submitted> {
        let extension = Path::new(name)
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .unwrap_or_else(|| "bin".into());
        let source = file.to_path_buf();
        let sha = tokio::task::spawn_blocking(move || sha256_file(&source)).await??;
        if let Some(existing) = self.jobs.by_sha(&sha)? {
            if take {
                let _ = tokio::fs::remove_file(file).await;
            }
            return Ok(Submitted { session_id: existing.session_id, sha256: sha, duplicate: true });
        }
        let stored = self.audio_dir.join(&sha[..2]).join(format!("{sha}.{extension}"));
        if let Some(dir) = stored.parent() {
            tokio::fs::create_dir_all(dir).await?;
        }
        if !take || tokio::fs::rename(file, &stored).await.is_err() {
            // A copy (or another filesystem): written under a temporary name first, so a
            // crash never leaves a partial file under the content's name.
            let partial = stored.with_extension("partial");
            tokio::fs::copy(file, &partial).await.context("storing the audio")?;
            tokio::fs::rename(&partial, &stored).await.context("storing the audio")?;
            if take {
                let _ = tokio::fs::remove_file(file).await;
            }
        }
        let session_id = new_session_id();
        let title = Path::new(name).file_stem().and_then(|s| s.to_str()).unwrap_or(name).to_string();
        self.library
            .create_session(NewSession {
                id: session_id.clone(),
                kind: SessionKind::File,
                status: SessionStatus::Queued,
                source: name.to_string(),
                title,
                created_ms: now_ms(),
                provider: None,
            })
            .await?;
        self.jobs.insert(&session_id, &sha, &stored)?;
        self.publish(&session_id, "queued", None);
        self.wake.notify_one();
        Ok(Submitted { session_id, sha256: sha, duplicate: false })
    }

    /// Works the queue until `shutdown` resolves.
    pub async fn run(self: Arc<Self>, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            match self.jobs.claim_due(now_ms()) {
                Ok(Some(job)) => {
                    self.process(job).await;
                    continue;
                }
                Ok(None) => {}
                Err(err) => tracing::error!("file job queue failed: {err:#}"),
            }
            let wait = match self.jobs.next_due_ms() {
                Ok(Some(due)) => Duration::from_millis(due.saturating_sub(now_ms()).max(0) as u64).min(IDLE_POLL),
                _ => IDLE_POLL,
            };
            tokio::select! {
                () = &mut shutdown => return,
                () = self.wake.notified() => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    async fn set_status(&self, session_id: &str, status: SessionStatus, error: Option<String>) {
        let patch = SessionPatch { status: Some(status), title: None, duration_ms: None, provider: None, error };
        if let Err(err) = self.library.update_session(session_id.to_string(), patch).await {
            tracing::error!(session = session_id, "updating the session failed: {err}");
        }
    }

    async fn process(&self, job: Job) {
        self.set_status(&job.session_id, SessionStatus::Processing, None).await;
        self.publish(&job.session_id, "processing", None);
        match self.transcribe(&job).await {
            Ok(()) => {
                if let Err(err) = self.jobs.finish(job.id, JobState::Done, None) {
                    tracing::error!("recording a finished job failed: {err:#}");
                }
                self.publish(&job.session_id, "complete", None);
            }
            Err(Failure::Retry { message, after }) if job.attempts < self.policy.max_attempts => {
                let delay = self.policy.delay(job.attempts, after);
                tracing::warn!(session = %job.session_id, attempt = job.attempts, ?delay, "{message}; retrying");
                let _ = self.jobs.retry_at(job.id, now_ms() + delay.as_millis() as i64, &message);
                self.set_status(&job.session_id, SessionStatus::Queued, None).await;
                self.publish(&job.session_id, "queued", Some(format!("{message}; retrying in {} s", delay.as_secs().max(1))));
            }
            Err(Failure::Retry { message, .. } | Failure::Final(message)) => {
                tracing::warn!(session = %job.session_id, "file job failed: {message}");
                let _ = self.jobs.finish(job.id, JobState::Failed, Some(&message));
                self.set_status(&job.session_id, SessionStatus::Error, Some(message.clone())).await;
                self.publish(&job.session_id, "error", Some(message));
            }
        }
    }

    async fn transcribe(&self, job: &Job) -> Result<(), Failure> {
        let stt = self.stt.as_ref().ok_or_else(|| {
            Failure::Final("no speech-to-text plugin is configured (roles.stt_batch)".into())
        })?;
        let path = job.path.clone();
        let encoding = encoding_for(&path).ok_or_else(|| Failure::Final("unsupported file type".into()))?;
        // Decoding first catches corrupt files before anything is sent or paid for, and
        // measures the duration.
        let summary = tokio::task::spawn_blocking(move || audio::convert(&path, &mut |_| Ok(())))
            .await
            .map_err(|err| Failure::Final(format!("decoding failed: {err}")))?
            .map_err(|err| Failure::Final(err.to_string()))?;
        let input = AudioInput::from_path(&job.path).map_err(|err| Failure::Final(format!("the stored audio is unreadable: {err}")))?;
        let format = AudioFormat {
            encoding,
            sample_rate: summary.source_rate,
            channels: u8::try_from(summary.source_channels).unwrap_or(u8::MAX),
        };
        let transcript = match stt.transcribe(format, input, None).await {
            Ok(Ok(transcript)) => transcript,
            Ok(Err(err)) => return Err(Failure::from_plugin(err)),
            Err(call) => return Err(Failure::Retry { message: call.to_string(), after: None }),
        };
        let provider = stt.id().to_string();
        let storage = |err: crate::library::LibraryError| Failure::Retry { message: format!("storing the transcript failed: {err}"), after: None };
        let version = self.library.create_version(job.session_id.clone(), provider.clone(), now_ms()).await.map_err(storage)?;
        for chunk in transcript.words.chunks(WORDS_PER_APPEND) {
            self.library.append_words(version.id, chunk.to_vec()).await.map_err(storage)?;
        }
        let patch = SessionPatch {
            status: Some(SessionStatus::Complete),
            title: None,
            duration_ms: Some(summary.duration_ms),
            provider: Some(provider),
            error: None,
        };
        self.library.update_session(job.session_id.clone(), patch).await.map_err(storage)?;
        Ok(())
    }
}

/// How a job attempt failed.
enum Failure {
    /// Worth another attempt, after the provider's delay when it gave one.
    Retry { message: String, after: Option<Duration> },
    /// Will not get better by retrying.
    Final(String),
}

impl Failure {
    fn from_plugin(err: PluginError) -> Failure {
        match err {
            PluginError::RateLimited(limit) => Failure::Retry {
                message: limit.message,
                after: limit.retry_after_ms.map(Duration::from_millis),
            },
            PluginError::Unavailable(message) => Failure::Retry { message, after: None },
            PluginError::Unauthorized(message) => {
                Failure::Final(format!("{message} — check the provider's API key in the daemon's environment"))
            }
            PluginError::BadInput(message) | PluginError::Denied(message) | PluginError::Other(message) => {
                Failure::Final(message)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delays() {
        let policy = RetryPolicy { max_attempts: 5, base: Duration::from_secs(2), max: Duration::from_secs(10) };
        let cases = [
            (1, None, 2),
            (2, None, 4),
            (3, None, 8),
            (4, None, 10),
            (30, None, 10),
            (1, Some(7), 7),
        ];
        for (attempts, after, want) in cases {
            assert_eq!(policy.delay(attempts, after.map(Duration::from_secs)), Duration::from_secs(want), "{attempts} {after:?}");
        }
    }

    #[test]
    fn extensions() {
        let cases = [("a.WAV", Some(AudioEncoding::Wav)), ("a.m4a", Some(AudioEncoding::Aac)), ("a.ogg", Some(AudioEncoding::OggVorbis)), ("a.txt", None), ("noext", None)];
        for (name, want) in cases {
            assert_eq!(encoding_for(Path::new(name)), want, "{name}");
        }
    }
}
