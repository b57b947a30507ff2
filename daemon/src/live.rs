//! Live sessions: speech from a microphone or a browser, transcribed as it is spoken.
//!
//! A source (device capture, the browser ingest socket) delivers canonical 16 kHz mono
//! samples as [`Input`]; [`LiveSessions::start`] creates the session in the library and runs
//! it ([`session`]): frames ([`frames`]) are recorded ([`recording`]), metered and gated
//! ([`gate`]), and sent through the reliable [`link`] to the live speech-to-text plugin,
//! whose times the [`timeline`] keeps on the session's clock; or, when a local batch
//! recogniser plays the live role, read again and again by the [`local`] policy
//! ([`heard`], [`agreement`], [`pace`]). Recordings a crash interrupted are kept and marked
//! at the next start ([`LiveSessions::recover`]). A voice command that should not become a
//! session goes through the same recogniser as an [`utterance`].

pub mod agreement;
pub mod convert;
pub mod frames;
pub mod gate;
pub mod heard;
pub mod link;
pub mod local;
pub mod pace;
pub mod recording;
pub mod session;
pub mod timeline;
pub mod utterance;
pub mod voiced;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::{mpsc, watch};

use crate::audio::TARGET_RATE;
use crate::audio::store::AudioStore;
use crate::config::LiveConfig as LiveSettings;
use crate::disk::DiskGuard;
use crate::sinks::events::{Event, EventHub, LibraryChange};
use crate::files::FilePipeline;
use crate::finish::FinishLine;
use crate::clients::library::{Library, LibraryError, NewSession, SessionKind, SessionPatch, SessionStatus, new_session_id, now_ms};
use crate::plugin::handle::PluginHandle;
use crate::plugin::roles::RoleChoice;
use crate::clients::stt::{AudioEncoding, AudioFormat, BatchStt, LiveConfig, LiveStt};
use crate::speech::Silero;
use link::{Link, LinkSettings};
use local::{LocalLink, LocalSettings};
use recording::Recording;
use session::{SessionRun, Transcriber};

/// Chunks a source may queue before the session takes them: about a minute of audio at
/// typical callback sizes, far more than a busy session ever lags.
pub const INPUT_QUEUE: usize = 4096;

/// What a source delivers.
#[derive(Debug)]
pub enum Input {
    /// 16 kHz mono samples, any count.
    Samples(Vec<i16>),
    /// The source failed (device unplugged); the session ends with this message.
    Failed(String),
    /// Make the words of the audio so far final now; the session goes on.
    Finalize,
}

/// Why a session could not be started or found.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error("no live speech-to-text plugin is loaded (roles.stt_live)")]
    NoProvider,
    #[error("{0} live sessions are running already (live.max_sessions)")]
    TooMany(usize),
    #[error("no running live session {0:?}")]
    NotFound(String),
    #[error("the library is unavailable")]
    NoLibrary,
    #[error(transparent)]
    Library(#[from] LibraryError),
    #[error("the recording cannot be written: {0}")]
    Io(#[from] std::io::Error),
    /// The disk is nearly full: no recording starts.
    #[error(transparent)]
    LowDisk(#[from] crate::disk::LowDisk),
}

/// What a new session is.
#[derive(Debug, Clone, Default)]
pub struct SessionSpec {
    /// Where the audio comes from: a device name or "browser".
    pub source: String,
    pub title: Option<String>,
    pub language: Option<String>,
}

/// A running session, as listed by the API.
#[derive(Debug, Clone, Serialize)]
pub struct RunningSession {
    pub id: String,
    pub source: String,
    pub started_ms: i64,
    /// The plugin transcribing it, and why it was chosen.
    pub provider: RoleChoice,
}

struct Running {
    info: RunningSession,
    stop: watch::Sender<bool>,
    done: watch::Receiver<Option<SessionStatus>>,
}

/// The live sessions of the daemon.
#[derive(Clone)]
pub struct LiveSessions {
    inner: Arc<Inner>,
}

struct Inner {
    library: Option<Library>,
    provider: Option<(PluginHandle, RoleChoice)>,
    /// The speech detector, for pauses when a local recogniser plays the live role.
    speech: Option<Arc<Silero>>,
    files: Option<Arc<FilePipeline>>,
    finish: Option<FinishLine>,
    audio: AudioStore,
    dir: PathBuf,
    events: EventHub,
    settings: LiveSettings,
    disk: Arc<DiskGuard>,
    running: Mutex<HashMap<String, Running>>,
}

impl LiveSessions {
    /// `dir` holds recordings in progress.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        library: Option<Library>,
        provider: Option<(PluginHandle, RoleChoice)>,
        speech: Option<Arc<Silero>>,
        files: Option<Arc<FilePipeline>>,
        finish: Option<FinishLine>,
        audio: AudioStore,
        dir: PathBuf,
        events: EventHub,
        settings: LiveSettings,
        disk: Arc<DiskGuard>,
    ) -> LiveSessions {
        LiveSessions {
            inner: Arc::new(Inner { library, provider, speech, files, finish, audio, dir, events, settings, disk, running: Mutex::new(HashMap::new()) }),
        }
    }

    fn running(&self) -> std::sync::MutexGuard<'_, HashMap<String, Running>> {
        self.inner.running.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn settings(&self) -> &LiveSettings {
        &self.inner.settings
    }

    /// The plugin new sessions use (`roles.stt_live`), and why.
    pub fn provider(&self) -> Option<&RoleChoice> {
        self.inner.provider.as_ref().map(|(_, choice)| choice)
    }

    /// Sessions running now.
    pub fn list(&self) -> Vec<RunningSession> {
        let mut list: Vec<RunningSession> = self.running().values().map(|r| r.info.clone()).collect();
        list.sort_by_key(|r| r.started_ms);
        list
    }

    /// Creates a session fed by `input` and runs it in the background; returns its id.
    pub async fn start(&self, spec: SessionSpec, input: mpsc::Receiver<Input>) -> Result<String, LiveError> {
        let inner = &self.inner;
        let library = inner.library.clone().ok_or(LiveError::NoLibrary)?;
        let (provider, choice) = inner.provider.as_ref().ok_or(LiveError::NoProvider)?;
        if self.running().len() >= inner.settings.max_sessions {
            return Err(LiveError::TooMany(inner.settings.max_sessions));
        }
        inner.disk.admit()?;
        let transcriber = self.transcriber(provider, spec.language.clone())?;
        let provider_id = transcriber.provider().to_string();
        let id = new_session_id(SessionKind::Live);
        let created_ms = now_ms();
        let title = spec.title.clone().filter(|t| !t.trim().is_empty()).unwrap_or_else(|| format!("Recording from {}", spec.source));
        library
            .create_session(NewSession {
                id: id.clone(),
                kind: SessionKind::Live,
                status: SessionStatus::Recording,
                source: spec.source.clone(),
                title,
                created_ms,
                provider: Some(provider_id.clone()),
            })
            .await?;
        let version = library.create_version(id.clone(), provider_id, created_ms).await?;
        let recording = match Recording::create(&inner.dir, &id, Duration::from_secs(inner.settings.flush_secs)) {
            Ok(recording) => recording,
            Err(err) => {
                // The session exists already: it says why it has no audio.
                let patch = SessionPatch {
                    status: Some(SessionStatus::Error),
                    title: None,
                    duration_ms: None,
                    provider: None,
                    error: Some(format!("the recording could not be started: {err}")),
                };
                if let Err(update) = library.update_session(id.clone(), patch).await {
                    tracing::error!(session = %id, "marking a session that could not record failed: {update}");
                }
                return Err(err.into());
            }
        };
        let run = SessionRun {
            id: id.clone(),
            library,
            version_id: version.id,
            events: inner.events.clone(),
            settings: inner.settings.clone(),
            audio: inner.audio.clone(),
            files: inner.files.clone(),
            finish: inner.finish.clone(),
            provider: choice.clone(),
            disk: inner.disk.clone(),
        };
        let (stop_tx, stop_rx) = watch::channel(false);
        let (done_tx, done_rx) = watch::channel(None);
        self.running().insert(
            id.clone(),
            Running {
                info: RunningSession { id: id.clone(), source: spec.source, started_ms: created_ms, provider: choice.clone() },
                stop: stop_tx,
                done: done_rx,
            },
        );
        inner.events.publish(Event::Library { session_id: id.clone(), change: LibraryChange::Created });
        let sessions = self.clone();
        let session_id = id.clone();
        tokio::spawn(async move {
            let status = session::run(run, transcriber, recording, input, stop_rx).await;
            sessions.running().remove(&session_id);
            let _ = done_tx.send(Some(status));
        });
        Ok(id)
    }

    /// What transcribes a new session: the live plugin through the reliable link, or a
    /// batch recogniser through the local policy.
    fn transcriber(&self, provider: &PluginHandle, language: Option<String>) -> Result<Transcriber, LiveError> {
        let settings = &self.inner.settings;
        if provider.manifest().live_policy.is_some() {
            let stt = BatchStt::new(provider.clone()).map_err(|_| LiveError::NoProvider)?;
            let local = LocalSettings {
                step: Duration::from_millis(settings.local_step_ms),
                pause: Duration::from_millis(settings.local_pause_ms),
                language,
                finish_timeout: Duration::from_secs(settings.finish_timeout_secs),
            };
            return Ok(Transcriber::Local(Box::new(LocalLink::new(stt, self.inner.speech.clone(), local))));
        }
        let stt = LiveStt::new(provider).map_err(|_| LiveError::NoProvider)?;
        let config = LiveConfig {
            format: AudioFormat { encoding: AudioEncoding::Linear16, sample_rate: TARGET_RATE, channels: 1 },
            language,
        };
        let link = Link::new(
            stt,
            config,
            LinkSettings {
                reconnect_base: Duration::from_millis(settings.reconnect_base_ms),
                reconnect_max: Duration::from_millis(settings.reconnect_max_ms),
                max_outage: Duration::from_secs(settings.max_outage_secs),
                speed_limit: f64::from(settings.send_speed_limit),
                finish_timeout: Duration::from_secs(settings.finish_timeout_secs),
            },
        );
        Ok(Transcriber::Link(Box::new(link)))
    }

    /// Asks a running session to stop; it then finishes in the background.
    pub fn stop(&self, id: &str) -> Result<(), LiveError> {
        let running = self.running();
        let session = running.get(id).ok_or_else(|| LiveError::NotFound(id.into()))?;
        let _ = session.stop.send(true);
        Ok(())
    }

    /// Waits until a session has ended and returns its final status; none when it is not
    /// running (anymore).
    pub async fn finished(&self, id: &str) -> Option<SessionStatus> {
        let mut done = self.running().get(id).map(|r| r.done.clone())?;
        let status = done.wait_for(Option::is_some).await.ok()?;
        *status
    }

    /// Stops every session and waits for them to be stored (daemon shutdown).
    pub async fn stop_all(&self) {
        let ids: Vec<String> = self.running().keys().cloned().collect();
        for id in &ids {
            let _ = self.stop(id);
        }
        for id in &ids {
            self.finished(id).await;
        }
    }

    /// Keeps the recordings a crash interrupted: each becomes the session's audio, and the
    /// session is marked interrupted with its transcript so far.
    pub async fn recover(&self) {
        let Some(library) = &self.inner.library else { return };
        for (id, pcm) in recording::leftovers(&self.inner.dir) {
            match library.get_session(id.clone()).await {
                Ok(Some(_)) => {}
                Ok(None) => {
                    tracing::warn!(session = %id, "a recording without a session was left behind; removing it");
                    let _ = tokio::fs::remove_file(&pcm).await;
                    continue;
                }
                Err(err) => {
                    tracing::error!(session = %id, "cannot check an interrupted recording: {err}");
                    continue;
                }
            }
            let stored = match recording::store(&pcm, &self.inner.audio).await {
                Ok(stored) => stored,
                Err(err) => {
                    tracing::error!(session = %id, "keeping an interrupted recording failed: {err:#}");
                    continue;
                }
            };
            let (file, duration_ms) = (stored.audio_file(), stored.duration_ms);
            let message = "the daemon stopped while recording; the audio up to the last flush is kept".to_string();
            let patch = SessionPatch {
                status: Some(SessionStatus::Interrupted),
                title: None,
                duration_ms: Some(duration_ms),
                provider: None,
                error: Some(message),
            };
            let result = async {
                library.put_audio_file(id.clone(), file).await?;
                library.update_session(id.clone(), patch).await
            }
            .await;
            match result {
                Ok(_) => tracing::warn!(session = %id, duration_ms, "live session was interrupted; its recording is kept"),
                Err(err) => tracing::error!(session = %id, "marking an interrupted session failed: {err}"),
            }
        }
    }
}
