//! One live session, from first sample to stored transcript.
//!
//! Two tasks per session, so the provider never holds up the recording:
//! - the capture side ([`run`]) frames the source's samples, appends them to the recording,
//!   publishes the level meter, gates silence and hands frames to the provider side; it ends
//!   on stop, at the end of the source, on a source failure, after the idle time, or when
//!   the disk runs low ([`crate::disk`]: what was recorded is kept, and the session says so);
//! - the provider side ([`drive`]) runs the [`Link`]: sends frames, delivers socket events,
//!   ticks, publishes transcript updates as they come and hands finals to a writer that
//!   appends them to the session's transcript version in order.
//!
//! At the end the recording becomes a WAV in the audio store and the session completes. When
//! the provider could not transcribe everything live (long outage, refused key), the session
//! is queued for batch transcription of its recording instead of failing.

use std::sync::Arc;

use tokio::sync::{mpsc, watch};

use super::frames::{Feed, Frame, Framer};
use super::gate::{self, Gate, Meter};
use super::link::{Link, LinkEvent};
use super::local::LocalLink;
use super::recording::{self, Recording};
use super::Input;
use crate::audio::store::AudioStore;
use crate::config::LiveConfig as LiveSettings;
use crate::disk::DiskGuard;
use crate::sinks::events::{Event, EventHub, EventWord, LibraryChange, LiveStatus};
use crate::files::FilePipeline;
use crate::finish::FinishLine;
use crate::clients::library::{Library, SessionPatch, SessionStatus, Word};
use crate::clients::stt::TranscriptUpdate;
use crate::plugin::roles::RoleChoice;

/// Everything a session needs besides its link and recording.
pub struct SessionRun {
    pub id: String,
    pub library: Library,
    pub version_id: u64,
    pub events: EventHub,
    pub settings: LiveSettings,
    pub audio: AudioStore,
    /// Where the session goes once its transcript is complete.
    pub finish: Option<FinishLine>,
    /// Transcribes the recording when the live transcript is incomplete.
    pub files: Option<Arc<FilePipeline>>,
    /// The live plugin and why it was chosen, said when recording starts.
    pub provider: RoleChoice,
    /// A recording stops when the disk runs low.
    pub disk: Arc<DiskGuard>,
}

/// Why the capture side ended.
#[derive(Debug, Clone)]
enum End {
    Stopped,
    SourceEnded,
    Idle(u64),
    Failed(String),
    /// The disk went below `storage.min_free_mb`; why.
    LowDisk(String),
}

/// The capture side's per-frame work: record, meter, gate.
struct FrameIntake {
    session_id: String,
    events: EventHub,
    recording: Recording,
    gate: Gate,
    meter: Meter,
    frames: mpsc::UnboundedSender<Feed>,
}

impl FrameIntake {
    /// Records a frame, meters it and passes it on with the gate's verdict.
    fn frame(&mut self, frame: Frame) -> Result<(), String> {
        self.recording.append(&frame.samples).map_err(|err| format!("writing the recording failed: {err}"))?;
        let level = gate::level(&frame.samples);
        if let Some(level) = self.meter.push(&frame, level) {
            self.events.publish(Event::Level { session_id: self.session_id.clone(), rms: level.rms, peak: level.peak, at_ms: frame.end_ms() });
        }
        let verdict = self.gate.push(&frame, level);
        for earlier in verdict.preroll {
            let _ = self.frames.send(Feed::Frame(earlier, true));
        }
        let _ = self.frames.send(Feed::Frame(frame, verdict.send));
        Ok(())
    }
}

impl SessionRun {
    fn status(&self, status: LiveStatus, message: Option<String>) {
        self.events.publish(Event::Live { session_id: self.id.clone(), status, message });
    }

    async fn patch(&self, status: Option<SessionStatus>, duration_ms: Option<u64>, provider: Option<String>, error: Option<String>) {
        let patch = SessionPatch { status, title: None, duration_ms, provider, error };
        if let Err(err) = self.library.update_session(self.id.clone(), patch).await {
            tracing::error!(session = %self.id, "updating the live session failed: {err}");
        }
    }

    /// Closes the recording and stores it as the session's audio; returns its length.
    async fn keep_recording(&self, recording: Recording) -> anyhow::Result<u64> {
        let pcm = recording.finish()?;
        let stored = recording::store(&pcm, &self.audio).await?;
        self.library.put_audio_file(self.id.clone(), stored.audio_file()).await?;
        Ok(stored.duration_ms)
    }
}

/// Runs the session until it ends and is stored; `stop` ends it on request. Returns the
/// final status.
pub async fn run(
    session: SessionRun,
    transcriber: Transcriber,
    recording: Recording,
    mut input: mpsc::Receiver<Input>,
    mut stop: watch::Receiver<bool>,
) -> SessionStatus {
    let settings = session.settings.clone();
    let mut framer = Framer::new(settings.frame_ms);
    let (frames_tx, frames_rx) = mpsc::unbounded_channel::<Feed>();
    let provider = transcriber.provider().to_string();
    let driver = tokio::spawn(drive(transcriber, frames_rx, session.id.clone(), session.events.clone(), session.library.clone(), session.version_id));
    let mut intake = FrameIntake {
        session_id: session.id.clone(),
        events: session.events.clone(),
        recording,
        gate: Gate::new(settings.silence_threshold_db, settings.hangover_ms, settings.preroll_ms),
        meter: Meter::new(settings.level_interval_ms),
        frames: frames_tx,
    };
    session.status(LiveStatus::Recording, Some(format!("transcribing with {} ({})", session.provider.plugin, session.provider.reason)));

    let idle_limit = settings.idle_stop_secs.saturating_mul(1000);
    let mut disk = session.disk.subscribe();
    let mut disk_watched = true;
    let end = loop {
        tokio::select! {
            changed = stop.changed() => {
                if changed.is_err() || *stop.borrow() {
                    break End::Stopped;
                }
            }
            changed = disk.changed(), if disk_watched => {
                if changed.is_err() {
                    disk_watched = false;
                    continue;
                }
                // Stopped while there is room for the recording's end and its databases.
                if disk.borrow_and_update().low && let Err(low) = session.disk.admit() {
                    break End::LowDisk(low.to_string());
                }
            }
            message = input.recv() => match message {
                Some(Input::Samples(samples)) => {
                    if let Some(err) = framer.push(&samples).into_iter().find_map(|f| intake.frame(f).err()) {
                        break End::Failed(err);
                    }
                    if idle_limit > 0 && intake.gate.silent_ms() >= idle_limit {
                        break End::Idle(settings.idle_stop_secs);
                    }
                }
                Some(Input::Failed(message)) => break End::Failed(message),
                // The framer's partial frame stays: less than a frame holds no word.
                Some(Input::Finalize) => {
                    let _ = intake.frames.send(Feed::Finalize);
                }
                None => break End::SourceEnded,
            },
        }
    };
    if let Some(frame) = framer.flush()
        && let Err(err) = intake.frame(frame)
    {
        tracing::error!(session = %session.id, "{err}");
    }
    let FrameIntake { recording, frames, .. } = intake;
    drop(frames);
    let message = match &end {
        End::Idle(secs) => Some(format!("stopped after {secs} s of silence")),
        End::Failed(message) => Some(message.clone()),
        End::LowDisk(message) => Some(format!("recording stopped: {message}")),
        End::Stopped | End::SourceEnded => None,
    };
    session.status(LiveStatus::Processing, message.clone());
    session.patch(Some(SessionStatus::Processing), None, None, None).await;

    let stored = match session.keep_recording(recording).await {
        Ok(duration_ms) => Some(duration_ms),
        Err(err) => {
            tracing::error!(session = %session.id, "keeping the recording failed: {err:#}");
            None
        }
    };
    let complete = driver.await.unwrap_or(false);

    let (status, error) = match (&end, stored) {
        (_, None) => (SessionStatus::Error, Some("the recording could not be stored".to_string())),
        (End::Failed(message), Some(_)) => (SessionStatus::Error, Some(format!("{message}; the audio up to then is kept"))),
        // Complete as far as it went: the session says why it is short.
        (End::LowDisk(message), Some(_)) if complete => (SessionStatus::Complete, Some(format!("recording stopped: {message}; the audio up to then is kept"))),
        _ if complete => (SessionStatus::Complete, None),
        _ => match &session.files {
            // The recording is whole on disk: transcribe it as a file, keeping the live
            // words as their own version.
            Some(files) => match files.retranscribe(&session.id, None).await {
                Ok(batch) => {
                    session.patch(None, stored, Some(provider), None).await;
                    session.status(LiveStatus::Queued, Some(format!("live transcription was incomplete; transcribing the recording with {batch}")));
                    return SessionStatus::Queued;
                }
                Err(err) => (SessionStatus::Error, Some(format!("live transcription was incomplete and the recording could not be queued: {err}"))),
            },
            None => (SessionStatus::Error, Some("live transcription was incomplete".to_string())),
        },
    };
    // The live words carry no speakers when the recogniser tells none apart: find them now,
    // before the session counts as complete, so its summary has them.
    let note = match (&session.files, status) {
        (Some(files), SessionStatus::Complete) => files.find_speakers(&session.id).await,
        _ => None,
    };
    let message = message.or(note);
    let label = if status == SessionStatus::Complete { LiveStatus::Complete } else { LiveStatus::Error };
    session.patch(Some(status), stored, Some(provider), error.clone()).await;
    session.status(label, error.or(message));
    session.events.publish(Event::Library { session_id: session.id.clone(), change: LibraryChange::Updated });
    if status == SessionStatus::Complete
        && let Some(finish) = &session.finish
        && let Err(err) = finish.session_done(&session.id).await
    {
        tracing::error!(session = %session.id, "finishing the session failed: {err}");
    }
    status
}

/// What transcribes a session: a live plugin through the reliable link, or a local batch
/// recogniser through the local policy.
pub enum Transcriber {
    Link(Box<Link>),
    Local(Box<LocalLink>),
}

impl Transcriber {
    pub fn provider(&self) -> &str {
        match self {
            Transcriber::Link(link) => link.provider(),
            Transcriber::Local(local) => local.provider(),
        }
    }
}

/// The provider side: runs the transcriber until the capture side is done, then finishes
/// it. True when the provider transcribed everything.
async fn drive(
    transcriber: Transcriber,
    mut frames: mpsc::UnboundedReceiver<Feed>,
    session_id: String,
    events: EventHub,
    library: Library,
    version_id: u64,
) -> bool {
    let (finals_tx, finals_rx) = mpsc::unbounded_channel::<Vec<Word>>();
    let writer = tokio::spawn(write_finals(library, version_id, session_id.clone(), finals_rx));
    let mut publish = |link_events: Vec<LinkEvent>| {
        for event in link_events {
            let (update, from_finalize) = match event {
                LinkEvent::Update(update) => (update, false),
                LinkEvent::Finalized(update) => (update, true),
                LinkEvent::State { status, message } => {
                    events.publish(Event::Live { session_id: session_id.clone(), status, message });
                    continue;
                }
            };
            events.publish(transcript_event(&session_id, &update, from_finalize));
            if update.is_final && !update.words.is_empty() {
                let _ = finals_tx.send(update.words);
            }
        }
    };
    let complete = match transcriber {
        Transcriber::Link(link) => super::link::drive(*link, &mut frames, &mut publish).await,
        Transcriber::Local(local) => super::local::drive(*local, &mut frames, &mut publish).await,
    };
    drop(finals_tx);
    let stored = writer.await.unwrap_or(false);
    complete && stored
}

/// Appends finals in order. False when one could not be stored.
async fn write_finals(library: Library, version_id: u64, session_id: String, mut finals: mpsc::UnboundedReceiver<Vec<Word>>) -> bool {
    let mut ok = true;
    while let Some(words) = finals.recv().await {
        if let Err(err) = library.append_words(version_id, words).await {
            tracing::error!(session = %session_id, "storing live words failed: {err}");
            ok = false;
        }
    }
    ok
}

fn transcript_event(session_id: &str, update: &TranscriptUpdate, from_finalize: bool) -> Event {
    Event::Transcript {
        session_id: session_id.to_string(),
        is_final: update.is_final,
        speech_final: update.speech_final,
        from_finalize,
        start_ms: update.start_ms,
        end_ms: update.end_ms,
        words: update
            .words
            .iter()
            .map(|w| EventWord {
                text: w.punctuated.clone(),
                start_ms: w.start_ms,
                end_ms: w.end_ms,
                confidence: w.confidence,
                speaker: w.speaker,
            })
            .collect(),
    }
}
