//! The file pipeline: an audio file in (upload, inbox, CLI), a transcribed session out.
//!
//! [`FilePipeline::submit`] keeps one content-addressed copy of the bytes in the
//! [`AudioStore`], creates the session and queues a job; the same bytes submitted again give
//! back the existing session. [`FilePipeline::retranscribe`] queues a session's audio again
//! for a chosen provider; the new transcript becomes a new version and the old ones stay.
//! [`FilePipeline::run`] works the queue: it checks the audio decodes (a corrupt file fails at
//! once, with no provider call) and stores its waveform, sends it to the batch speech-to-text
//! plugin, stores the words, paragraphs and utterances, has the speakers found when the
//! transcript came without them ([`crate::speakers`]), and completes the session. Rate
//! limits and outages are retried with back-off (a provider's `retry-after` is honoured);
//! credential problems and bad input are not retried, and the session says why. While the
//! disk is low ([`crate::disk`]) due jobs wait, and the next one's session is told. The pass of
//! a recogniser over a file is [`recognise`]; [`FilePipeline::translate`] makes one more for
//! an English translation ([`translation`]). On a cluster the queue is the nodes' shared one
//! ([`crate::queue::files`]): a node works the jobs its plugins can run, whichever node
//! received the file, and finds the recording by its hash in the shared audio store.

mod chunked;
mod recognise;
mod recovery;
mod translation;

pub use translation::TranslateError;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use tokio::sync::watch;

use crate::finish::FinishLine;
use crate::speakers::{self, Speakers};
use crate::sinks::events::{Event, EventHub, JobStatus, LibraryChange};
use crate::speech::Silero;
use crate::disk::{DiskGuard, LowDisk};
use crate::audio::isolated::FileDecoder;
use crate::audio::store::{AudioStore, mime_for};
use crate::queue::files::{Claim, Due, Job, JobAsk, JobState, JobStore};
use crate::clients::library::{AudioFile, Library, LibraryError, NewSession, SessionKind, SessionPatch, SessionStatus, new_session_id, now_ms};
use crate::retry::{Failure, RetryPolicy};
use crate::clients::stt::{AudioEncoding, BatchStt, Task};

/// Words stored per library call: large enough to be quick, small enough for the store's
/// result and request caps.
const WORDS_PER_APPEND: usize = 2_000;
/// Longest the worker sleeps when nothing is due; a new job wakes it sooner.
const IDLE_POLL: Duration = Duration::from_secs(30);

/// What became of a submitted file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submitted {
    pub session_id: String,
    /// Hex SHA-256 of the bytes: their identity.
    pub sha256: String,
    /// True when these bytes were already known: no new session was made.
    pub duplicate: bool,
}

/// A file being submitted.
#[derive(Clone, Copy)]
struct Incoming<'a> {
    file: &'a Path,
    /// The user's file name.
    name: &'a str,
    /// Where it came from, when not the file's name (`openai-api`).
    source: Option<&'a str>,
    ask: &'a JobAsk,
    /// Hex SHA-256 of the bytes.
    sha: &'a str,
    extension: &'a str,
    /// Move the file into the store (else copy it).
    take: bool,
}

/// The batch speech-to-text plugins that are loaded, and which one transcribes new files.
#[derive(Clone, Default)]
pub struct Providers {
    /// Plugin id from `roles.stt_batch`.
    pub default: Option<String>,
    pub plugins: BTreeMap<String, BatchStt>,
    /// The speech detector that cuts files for plugins that want chunks of speech; without
    /// it they get whole files.
    pub speech: Option<Arc<Silero>>,
}

impl Providers {
    fn get(&self, id: Option<&str>) -> Option<&BatchStt> {
        self.plugins.get(id.or(self.default.as_deref())?)
    }

    /// Ids of the loaded plugins, for error messages.
    fn names(&self) -> String {
        self.plugins.keys().cloned().collect::<Vec<_>>().join(", ")
    }
}

/// Why a re-transcription could not be queued.
#[derive(Debug, thiserror::Error)]
pub enum RetranscribeError {
    #[error("no session {0:?}")]
    NotFound(String),
    #[error("{0}")]
    UnknownProvider(String),
    #[error("session {0:?} has no stored audio to transcribe")]
    NoAudio(String),
    #[error("session {0:?} is being transcribed already")]
    Busy(String),
    #[error(transparent)]
    Library(#[from] LibraryError),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// The pipeline.
pub struct FilePipeline {
    jobs: JobStore,
    library: Library,
    providers: Providers,
    audio: AudioStore,
    /// Decodes each file in a child process.
    decoder: FileDecoder,
    events: EventHub,
    policy: RetryPolicy,
    /// Finds the speakers of transcripts that came without them, when a diarizer is set.
    speakers: Option<Arc<Speakers>>,
    /// Where a session goes once its transcript is stored.
    finish: FinishLine,
    /// How many jobs have ended (done, or failed for good): the inbox waits on it.
    ended: watch::Sender<u64>,
    /// Due jobs wait while the disk is low: decoding writes scratch PCM, and transcripts go
    /// to SQLite.
    disk: Arc<DiskGuard>,
    /// Sessions told their job waits, so it is said once while the disk stays low.
    holding: std::sync::Mutex<std::collections::HashSet<String>>,
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

impl FilePipeline {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        jobs: JobStore,
        library: Library,
        providers: Providers,
        audio: AudioStore,
        decoder: FileDecoder,
        events: EventHub,
        policy: RetryPolicy,
        speakers: Option<Arc<Speakers>>,
        finish: FinishLine,
        disk: Arc<DiskGuard>,
    ) -> Arc<FilePipeline> {
        audio.clear_scratch();
        Arc::new(FilePipeline {
            jobs,
            library,
            providers,
            audio,
            decoder,
            events,
            policy,
            speakers,
            finish,
            ended: watch::Sender::new(0),
            disk,
            holding: std::sync::Mutex::new(std::collections::HashSet::new()),
        })
    }

    /// The content-addressed audio store.
    pub fn audio(&self) -> &AudioStore {
        &self.audio
    }

    /// The child-process decoder every file goes through.
    pub fn decoder(&self) -> &FileDecoder {
        &self.decoder
    }

    /// File jobs waiting or running.
    pub async fn queue_depth(&self) -> Result<u64> {
        self.jobs.pending().await
    }

    /// Changes each time a job ends, done or failed for good.
    pub fn jobs_ended(&self) -> watch::Receiver<u64> {
        self.ended.subscribe()
    }

    fn job_ended(&self) {
        self.ended.send_modify(|n| *n += 1);
    }

    /// On a cluster, jobs also end on other nodes: their events, passed on to this node's
    /// hub, wake whoever waits here for a job (the inbox, a compatible API's request).
    /// Runs until `shutdown` resolves.
    pub async fn follow_other_nodes(self: Arc<Self>, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut live = self.events.subscribe(None).live;
        loop {
            let published = tokio::select! {
                () = &mut shutdown => return,
                received = live.recv() => received,
            };
            match published {
                Ok(published) if matches!(published.event, Event::Relayed { .. }) && ends_a_job(&published.json) => self.job_ended(),
                Ok(_) => {}
                // Some were missed: whoever waits looks again.
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => self.job_ended(),
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            }
        }
    }

    fn publish(&self, session_id: &str, status: JobStatus, message: Option<String>) {
        // Nobody listening is fine.
        self.events.publish(Event::Job { session_id: session_id.to_string(), status, message, progress: None });
    }

    /// Takes ownership of `file` (moved into the audio store, or deleted when its bytes are
    /// already known) and queues it. `name` is the user's file name.
    pub async fn submit(&self, file: &Path, name: &str) -> Result<Submitted> {
        self.submit_file(file, name, None, &JobAsk::default(), true).await
    }

    /// Like [`FilePipeline::submit`], for a client of a compatible API (`source`) that asks
    /// for a provider, a language or a prompt. Bytes already known keep their session and
    /// transcript.
    pub async fn submit_asking(&self, file: &Path, name: &str, source: &str, ask: &JobAsk) -> Result<Submitted> {
        self.submit_file(file, name, Some(source), ask, true).await
    }

    /// Queues a copy of `file`, which stays where it is (the inbox decides its fate once the
    /// job ends).
    pub async fn submit_copy(&self, file: &Path, name: &str) -> Result<Submitted> {
        self.submit_file(file, name, None, &JobAsk::default(), false).await
    }

    /// Waits until the session's latest job has ended, and returns it.
    pub async fn until_job_ended(&self, session_id: &str) -> Result<Job> {
        let mut ended = self.jobs_ended();
        loop {
            // Marked before the look, so an end between the look and the wait still wakes it.
            ended.mark_unchanged();
            let job = self.jobs.get(session_id).await?.ok_or_else(|| anyhow::anyhow!("the session {session_id} has no job"))?;
            if matches!(job.state, JobState::Done | JobState::Failed) {
                return Ok(job);
            }
            ended.changed().await?;
        }
    }

    /// The batch plugins a job may name, and the one it gets when it names none.
    pub fn plugins(&self) -> (Vec<String>, Option<String>) {
        (self.providers.plugins.keys().cloned().collect(), self.providers.default.clone())
    }

    /// The first job of these bytes, if any.
    pub async fn job_for(&self, sha256: &str) -> Result<Option<Job>> {
        self.jobs.by_sha(sha256).await
    }

    /// The session's latest job, if it ever had one.
    pub async fn session_job(&self, session_id: &str) -> Result<Option<Job>> {
        self.jobs.get(session_id).await
    }

    async fn submit_file(&self, file: &Path, name: &str, source: Option<&str>, ask: &JobAsk, take: bool) -> Result<Submitted> {
        let extension = Path::new(name)
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .unwrap_or_else(|| "bin".into());
        let path = file.to_path_buf();
        let sha = tokio::task::spawn_blocking(move || crate::audio::store::sha256_file(&path)).await??;
        let session_id = new_session_id(SessionKind::File);
        // The claim comes first and is atomic: of concurrent submissions of the same bytes
        // (a browser retry, a double drop) one makes the session, the others are told its id.
        let job_id = match self.jobs.claim_bytes(&session_id, &sha, &self.audio.path_for(&sha, &extension)).await? {
            Claim::New(id) => id,
            Claim::Known(existing) => {
                if take {
                    let _ = tokio::fs::remove_file(file).await;
                }
                return Ok(Submitted { session_id: existing.session_id, sha256: sha, duplicate: true });
            }
        };
        let incoming = Incoming { file, name, source, ask, sha: &sha, extension: &extension, take };
        if let Err(err) = self.make_session(job_id, &session_id, &incoming).await {
            // Undone, so the bytes can be submitted again; a stop before this point is
            // repaired by [`FilePipeline::reconcile`].
            let _ = self.library.delete_session(session_id.clone()).await;
            if let Err(err) = self.jobs.discard(job_id).await {
                tracing::error!(session = %session_id, "releasing a failed submission's claim failed: {err:#}");
            }
            return Err(err);
        }
        self.events.publish(Event::Library { session_id: session_id.clone(), change: LibraryChange::Created });
        self.publish(&session_id, JobStatus::Queued, None);
        self.jobs.wake().notify_one();
        Ok(Submitted { session_id, sha256: sha, duplicate: false })
    }

    /// Stores the claimed bytes, makes their session and queues the staged job.
    async fn make_session(&self, job_id: i64, session_id: &str, incoming: &Incoming<'_>) -> Result<()> {
        let Incoming { file, name, source, ask, sha, extension, take } = *incoming;
        let stored = self.audio.put(file, sha, extension, take).await?;
        let title = Path::new(name).file_stem().and_then(|s| s.to_str()).unwrap_or(name).to_string();
        let created_ms = now_ms();
        self.library
            .create_session(NewSession {
                id: session_id.to_string(),
                kind: SessionKind::File,
                status: SessionStatus::Queued,
                source: source.unwrap_or(name).to_string(),
                title,
                created_ms,
                provider: None,
            })
            .await?;
        let mime = encoding_for(Path::new(name)).map_or("application/octet-stream", mime_for);
        let record = AudioFile { sha256: sha.to_string(), mime: mime.into(), size_bytes: stored.size, created_ms, peaks: Vec::new() };
        self.library.put_audio_file(session_id.to_string(), record).await?;
        self.jobs.promote(job_id, &stored.path, ask).await?;
        Ok(())
    }

    /// Finds the speakers of a complete session whose newest transcript has none (a live
    /// session's, made by a recogniser that tells no speakers apart): its stored recording is
    /// decoded to the canonical PCM and diarized as after a file job. Returns what went wrong,
    /// for the session's message; the transcript stays either way.
    pub async fn find_speakers(&self, session_id: &str) -> Option<String> {
        let speakers = self.speakers.as_ref()?;
        let versions = self.library.list_versions(session_id.to_string()).await.ok()?;
        let version = versions.last()?;
        let mut words = Vec::new();
        while (words.len() as u64) < version.word_count {
            match self.library.get_words(version.id, words.len() as u64, WORDS_PER_APPEND as u32).await {
                Ok(page) if !page.is_empty() => words.extend(page),
                Ok(_) => break,
                Err(err) => return Some(format!("the speakers are unknown: reading the transcript failed: {err}")),
            }
        }
        if !speakers::needed(&words) {
            return None;
        }
        let structure = match self.library.get_structure(version.id).await {
            Ok(structure) => structure,
            Err(err) => return Some(format!("the speakers are unknown: reading the transcript failed: {err}")),
        };
        let stored = match self.library.get_audio_file(session_id.to_string()).await {
            Ok(Some(file)) => self.audio.find(&file.sha256).await,
            _ => None,
        };
        let Some(recording) = stored else { return Some("the speakers are unknown: the recording is not stored".into()) };
        let pcm = Scratch(self.audio.scratch(&format!("speakers-{session_id}.pcm")));
        if let Err(err) = self.decoder.convert(&recording, Some(&pcm.0), |_| {}).await {
            return Some(format!("the speakers are unknown: the recording does not decode: {err}"));
        }
        speakers_note(session_id, speakers.label(session_id, &version.provider, &words, &structure, &pcm.0).await)
    }

    /// Queues the session's audio again for `provider` (the configured one when `None`).
    pub async fn retranscribe(&self, session_id: &str, provider: Option<&str>) -> Result<String, RetranscribeError> {
        let stt = self.providers.get(provider).ok_or_else(|| {
            RetranscribeError::UnknownProvider(format!(
                "{} is not a loaded speech-to-text plugin for files; loaded: {}",
                provider.or(self.providers.default.as_deref()).unwrap_or("(none configured)"),
                self.providers.names()
            ))
        })?;
        let provider = stt.id().to_string();
        if self.library.get_session(session_id.to_string()).await?.is_none() {
            return Err(RetranscribeError::NotFound(session_id.into()));
        }
        let file = self.library.get_audio_file(session_id.to_string()).await?;
        let stored = match file {
            Some(file) => self.audio.find(&file.sha256).await.map(|path| (file, path)),
            None => None,
        };
        let Some((file, path)) = stored else {
            return Err(RetranscribeError::NoAudio(session_id.into()));
        };
        if self.jobs.get(session_id).await?.is_some_and(|job| matches!(job.state, JobState::Queued | JobState::Running)) {
            return Err(RetranscribeError::Busy(session_id.into()));
        }
        self.jobs.insert(session_id, &file.sha256, &path, Some(&provider)).await.map_err(|_| RetranscribeError::Busy(session_id.into()))?;
        self.set_status(session_id, SessionStatus::Queued, None).await;
        self.publish(session_id, JobStatus::Queued, None);
        self.jobs.wake().notify_one();
        Ok(provider)
    }

    /// Deletes a session with its jobs and stored audio. False when it did not exist.
    pub async fn delete_session(&self, session_id: &str) -> Result<bool, LibraryError> {
        let file = self.library.get_audio_file(session_id.to_string()).await?;
        if !self.library.delete_session(session_id.to_string()).await? {
            return Ok(false);
        }
        if let Err(err) = self.jobs.delete_session(session_id).await {
            tracing::error!(session = session_id, "forgetting the deleted session's jobs failed: {err:#}");
        }
        self.events.publish(Event::Library { session_id: session_id.to_string(), change: LibraryChange::Deleted });
        // One session per distinct file: nothing else refers to these bytes.
        if let Some(file) = file
            && let Err(err) = self.audio.remove(&file.sha256).await
        {
            tracing::error!(session = session_id, "removing the deleted session's audio failed: {err}");
        }
        Ok(true)
    }

    /// Workers the queue wants: as many as the busiest provider has instances, so a
    /// provider allowed N instances transcribes N files at once. Jobs are claimed oldest
    /// first, whichever worker is free.
    pub fn workers(&self) -> usize {
        self.providers.plugins.values().map(BatchStt::instances).max().unwrap_or(1).max(1)
    }

    /// Works the queue until `shutdown` resolves; run [`FilePipeline::workers`] of these.
    pub async fn run(self: Arc<Self>, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        // The queue's database may be away for a while (a cluster's): said once, not at
        // every look.
        let mut failing = false;
        loop {
            // Subscribed before the look, so space returning after it still wakes the wait.
            let mut space = self.disk.subscribe();
            if let Err(low) = self.disk.admit() {
                self.hold_due_job(&low).await;
                tokio::select! {
                    () = &mut shutdown => return,
                    _ = space.changed() => {}
                    // A new job is said to wait at once.
                    () = self.jobs.wake().notified() => {}
                    () = tokio::time::sleep(self.jobs.idle_poll(IDLE_POLL)) => {}
                }
                continue;
            }
            self.holding.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clear();
            let claimed = self.jobs.claim_due(now_ms(), self.policy.max_attempts).await;
            match (&claimed, failing) {
                (Err(err), false) => tracing::error!("file job queue failed: {err:#}; jobs wait until it is back"),
                (Ok(_), true) => tracing::info!("the file job queue is back"),
                _ => {}
            }
            failing = claimed.is_err();
            match claimed {
                Ok(Some(Due::Run(job))) => {
                    self.process(job).await;
                    continue;
                }
                Ok(Some(Due::GivenUp(job))) => {
                    let reason = job.last_error.clone().unwrap_or_default();
                    tracing::error!(session = %job.session_id, "{reason}");
                    self.fail_session(&job, reason).await;
                    continue;
                }
                Ok(None) | Err(_) => {}
            }
            let idle = self.jobs.idle_poll(IDLE_POLL);
            let wait = match self.jobs.next_due_ms().await {
                Ok(Some(due)) => Duration::from_millis(due.saturating_sub(now_ms()).max(0) as u64).min(idle),
                _ => idle,
            };
            tokio::select! {
                () = &mut shutdown => return,
                () = self.jobs.wake().notified() => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Says that the next due job waits for free space, once for its session.
    async fn hold_due_job(&self, low: &LowDisk) {
        let due = match self.jobs.peek_due(now_ms()).await {
            Ok(due) => due,
            Err(err) => {
                tracing::error!("file job queue failed: {err:#}");
                return;
            }
        };
        let Some(job) = due else { return };
        let newly = self.holding.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(job.session_id.clone());
        if newly {
            tracing::warn!(session = %job.session_id, "the file job waits: {low}");
            self.publish(&job.session_id, JobStatus::Queued, Some(format!("waiting: {low}")));
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
        self.publish(&job.session_id, JobStatus::Processing, None);
        match self.transcribe(&job).await {
            Ok(None) => {
                tracing::warn!(session = %job.session_id, "another node took this file job over while it ran here; its result is not stored");
            }
            Ok(Some(Finished { note, language })) => {
                // Finished (exported) before the job counts as done, so whoever waits for it
                // (the inbox, an event client) finds the files. A failed export does not undo
                // the transcript.
                let message = match self.finish.session_done(&job.session_id).await {
                    Ok(()) => note.clone(),
                    Err(err) => Some(format!("transcribed, but {err}")),
                };
                if let Err(err) = self.jobs.finish_done(job.id, note.as_deref(), language.as_deref()).await {
                    tracing::error!("recording a finished job failed: {err:#}");
                }
                self.publish(&job.session_id, JobStatus::Complete, message);
                self.job_ended();
            }
            Err(Failure::Retry { message, after }) if job.attempts < self.policy.max_attempts => {
                let delay = self.policy.delay(job.attempts, after);
                tracing::warn!(session = %job.session_id, attempt = job.attempts, ?delay, "{message}; retrying");
                let _ = self.jobs.retry_at(job.id, now_ms() + delay.as_millis() as i64, &message).await;
                self.set_status(&job.session_id, SessionStatus::Queued, None).await;
                self.publish(&job.session_id, JobStatus::Queued, Some(format!("{message}; retrying in {} s", delay.as_secs().max(1))));
            }
            Err(failure) => {
                let message = failure.into_message();
                tracing::warn!(session = %job.session_id, "file job failed: {message}");
                let _ = self.jobs.finish(job.id, JobState::Failed, Some(&message)).await;
                self.fail_session(&job, message).await;
            }
        }
    }

    /// A job has failed for good: its session says why.
    async fn fail_session(&self, job: &Job, message: String) {
        // A failed re-transcription leaves the session with the transcript it had; the job
        // keeps the reason.
        let had_transcript = job.provider.is_some()
            && self.library.list_versions(job.session_id.clone()).await.is_ok_and(|v| !v.is_empty());
        if had_transcript {
            self.set_status(&job.session_id, SessionStatus::Complete, None).await;
        } else {
            self.set_status(&job.session_id, SessionStatus::Error, Some(message.clone())).await;
        }
        self.publish(&job.session_id, JobStatus::Error, Some(message));
        self.job_ended();
    }

    /// Transcribes a job's file and stores the transcript; the note says what went wrong
    /// short of failing (the speakers could not be found).
    /// `None` when another node of a cluster took the job over meanwhile (this node was
    /// cut off from the database for longer than its lease): nothing is stored.
    async fn transcribe(&self, job: &Job) -> Result<Option<Finished>, Failure> {
        let prepared = self.prepare(job, &format!("job-{}.pcm", job.id), Task::Transcribe).await?;
        let storage = |err: LibraryError| Failure::Retry { message: format!("storing the transcript failed: {err}"), after: None };
        let record = AudioFile {
            sha256: job.sha256.clone(),
            mime: mime_for(prepared.encoding).into(),
            size_bytes: prepared.size_bytes,
            created_ms: now_ms(),
            peaks: prepared.summary.as_ref().map(|s| s.peaks.clone()).unwrap_or_default(),
        };
        self.library.put_audio_file(job.session_id.clone(), record).await.map_err(storage)?;
        let transcript = self.recognise(job, &prepared).await?;
        let queue = |err: anyhow::Error| Failure::Retry { message: format!("the job queue failed: {err:#}"), after: None };
        if !self.jobs.holds(job.id).await.map_err(queue)? {
            return Ok(None);
        }
        let provider = prepared.stt.id().to_string();
        // An earlier attempt stopped after it started a version: this one goes on with it
        // (the same provider, so the same words), instead of leaving it partial beside a
        // new one.
        let started = match job.version_id {
            Some(id) => self.library.list_versions(job.session_id.clone()).await.map_err(storage)?.into_iter().find(|v| v.id == id && v.provider == provider),
            None => None,
        };
        let (version_id, stored) = match started {
            Some(version) => (version.id, usize::try_from(version.word_count).unwrap_or(usize::MAX)),
            None => {
                let version = self.library.create_version(job.session_id.clone(), provider.clone(), now_ms()).await.map_err(storage)?;
                self.jobs.started_version(job.id, version.id).await.map_err(queue)?;
                (version.id, 0)
            }
        };
        for chunk in transcript.words.get(stored..).unwrap_or_default().chunks(WORDS_PER_APPEND) {
            self.library.append_words(version_id, chunk.to_vec()).await.map_err(storage)?;
        }
        let structure = transcript.structure;
        if !structure.paragraphs.is_empty() || !structure.utterances.is_empty() {
            self.library.put_structure(version_id, structure.clone()).await.map_err(storage)?;
        }
        // What the recogniser said of its transcript (no word times), then of the speakers.
        let mut notes = transcript.notes;
        if let (Some(speakers), Some(pcm), Some(_)) = (&self.speakers, &prepared.pcm, &prepared.summary)
            && speakers::needed(&transcript.words)
        {
            let labelled = speakers.label(&job.session_id, &provider, &transcript.words, &structure, &pcm.0).await;
            let failed = labelled.is_err();
            notes.extend(speakers_note(&job.session_id, labelled).map(|n| if failed { format!("transcribed; {n}") } else { n }));
        }
        let note = (!notes.is_empty()).then(|| notes.join("; "));
        let patch = SessionPatch {
            status: Some(SessionStatus::Complete),
            title: None,
            duration_ms: prepared.summary.as_ref().map(|s| s.duration_ms).or(transcript.duration_ms),
            provider: Some(provider),
            error: None,
        };
        self.library.update_session(job.session_id.clone(), patch).await.map_err(storage)?;
        Ok(Some(Finished { note, language: transcript.language }))
    }
}

/// A transcribed job: what the transcription said of itself, and the language heard.
struct Finished {
    note: Option<String>,
    language: Option<String>,
}

/// What a session's message says of its diarization: the diarizer's warnings, or why the
/// transcript is kept without speakers.
fn speakers_note(session_id: &str, labelled: Result<speakers::Labelled, String>) -> Option<String> {
    match labelled {
        Ok(labelled) => (!labelled.warnings.is_empty()).then(|| labelled.warnings.join("; ")),
        Err(message) => {
            tracing::warn!(session = session_id, "the transcript is kept without speakers: {message}");
            Some(format!("the speakers are unknown: {message}"))
        }
    }
}

/// Whether a relayed event (as its clients get it) says a job ended, done or failed.
fn ends_a_job(json: &str) -> bool {
    let Ok(event) = serde_json::from_str::<serde_json::Value>(json) else { return false };
    event["type"] == "job" && matches!(event["status"].as_str(), Some("complete" | "error"))
}

/// A working file removed when its job attempt ends, however it ends.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions() {
        let cases = [("a.WAV", Some(AudioEncoding::Wav)), ("a.m4a", Some(AudioEncoding::Aac)), ("a.ogg", Some(AudioEncoding::OggVorbis)), ("a.txt", None), ("noext", None)];
        for (name, want) in cases {
            assert_eq!(encoding_for(Path::new(name)), want, "{name}");
        }
    }
}
