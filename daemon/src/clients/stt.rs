//! Typed client of speech-to-text plugins.

use std::time::Duration;

use crate::plugin::batch_world::{BatchTranscript, Request};
pub use crate::plugin::batch_world::Task;
use crate::plugin::bindings::types::PluginError;
use crate::plugin::handle::{CallError, Instance, PluginHandle, WorldBindings, encoding_name};
use futures_util::future::BoxFuture;
use crate::plugin::manifest::World;

pub use crate::plugin::capabilities::audio::AudioInput;
pub use crate::plugin::bindings::types::{AudioEncoding, AudioFormat};

/// A batch transcription plugin.
#[derive(Clone)]
pub struct BatchStt {
    handle: PluginHandle,
    /// Encodings the plugin said it accepts (its `describe`), by WIT name.
    encodings: Vec<String>,
    /// The largest file it said it accepts, bytes.
    max_file_bytes: Option<u64>,
}

impl BatchStt {
    pub fn new(handle: PluginHandle) -> Result<BatchStt, CallError> {
        if handle.manifest().world != World::SttBatch {
            return Err(handle.wrong_world(World::SttBatch));
        }
        Ok(BatchStt { handle, encodings: Vec::new(), max_file_bytes: None })
    }

    /// Records what the plugin declared it takes: its encodings and its largest file.
    pub fn accepting(mut self, encodings: Vec<String>, max_file_bytes: Option<u64>) -> BatchStt {
        self.encodings = encodings;
        self.max_file_bytes = max_file_bytes;
        self
    }

    /// The largest file the plugin takes, bytes (a provider's upload limit); a longer
    /// recording goes to it in parts.
    pub fn max_file_bytes(&self) -> Option<u64> {
        self.max_file_bytes
    }

    /// Whether the plugin declared it accepts `encoding`.
    pub fn accepts(&self, encoding: AudioEncoding) -> bool {
        self.encodings.iter().any(|e| e == encoding_name(encoding))
    }

    /// How many files the plugin may transcribe at once.
    pub fn instances(&self) -> usize {
        self.handle.services().limits.instances
    }

    /// The longest chunk of speech the plugin wants per call, when it wants files cut at
    /// speech (its manifest's `speech_chunk_seconds`).
    pub fn speech_chunk(&self) -> Option<Duration> {
        self.handle.manifest().speech_chunk_seconds.map(|s| Duration::from_secs(u64::from(s)))
    }

    /// The plugin's id.
    pub fn id(&self) -> &str {
        self.handle.id()
    }

    /// Transcribes one file of `duration` (when measured). The outer error is the sandbox's
    /// (trap, timeout, breaker); the inner one is the plugin's own answer (provider refused,
    /// bad input, ...). The plugin streams `audio` to its provider or reads it through the
    /// `audio` import; the request carries its format and size.
    pub async fn transcribe(
        &self,
        format: AudioFormat,
        audio: AudioInput,
        language: Option<String>,
        duration: Option<Duration>,
    ) -> Result<Result<BatchTranscript, PluginError>, CallError> {
        self.transcribe_asking(format, audio, language, None, Task::Transcribe, duration).await
    }

    /// Like [`BatchStt::transcribe`], with words to expect (`prompt`) for a recogniser that
    /// reads one (0.2.0's `stt-batch`), and the task: a translation into English is asked
    /// of a 0.3.0 recogniser only (an older one refuses it as bad input).
    pub async fn transcribe_asking(
        &self,
        format: AudioFormat,
        audio: AudioInput,
        language: Option<String>,
        prompt: Option<String>,
        task: Task,
        duration: Option<Duration>,
    ) -> Result<Result<BatchTranscript, PluginError>, CallError> {
        let request = Request { format, size: audio.size, language, prompt, task };
        let call = transcribe_call(&self.handle, request, audio, duration);
        self.handle.share_loaded_model().await;
        self.handle.call(call).await
    }

    /// The plugin on an instance of its own, for re-reading a live session's audio.
    pub fn dedicated(&self) -> LocalRecogniser {
        LocalRecogniser { handle: self.handle.clone(), dedicated: self.handle.dedicated() }
    }
}

/// A batch recogniser on an instance of its own, reading a live session's growing buffer
/// again and again (see [`crate::live::local`]).
pub struct LocalRecogniser {
    handle: PluginHandle,
    dedicated: crate::plugin::handle::Dedicated,
}

impl LocalRecogniser {
    pub fn id(&self) -> &str {
        self.dedicated.id()
    }

    /// Transcribes `pcm` (16 kHz mono linear16), under the budget of its length. `prompt` is
    /// what was said just before it, for a recogniser that reads it (0.2.0's `stt-batch`).
    pub async fn transcribe(
        &mut self,
        pcm: std::sync::Arc<[u8]>,
        language: Option<String>,
        prompt: Option<String>,
    ) -> Result<Result<BatchTranscript, PluginError>, CallError> {
        let duration = Duration::from_millis(pcm.len() as u64 * 1000 / (2 * u64::from(crate::audio::TARGET_RATE)));
        let format = AudioFormat { encoding: AudioEncoding::Linear16, sample_rate: crate::audio::TARGET_RATE, channels: 1 };
        let audio = AudioInput::from_memory(pcm);
        let request = Request { format, size: audio.size, language, prompt, task: Task::Transcribe };
        let call = transcribe_call(&self.handle, request, audio, Some(duration));
        self.handle.share_loaded_model().await;
        self.dedicated.call(call).await
    }
}

/// The `transcribe` call on an instance, with the budget for `duration` of audio added.
fn transcribe_call(
    handle: &PluginHandle,
    request: Request,
    audio: AudioInput,
    duration: Option<Duration>,
) -> impl for<'a> FnOnce(&'a mut Instance) -> BoxFuture<'a, wasmtime::Result<Result<BatchTranscript, PluginError>>> + Send + 'static {
    // A recogniser running in the sandbox works in proportion to the audio, and a short
    // clip still costs it a whole window.
    let extra = match (handle.services().limits.cpu_budget_per_audio_second, duration) {
        (Some(per_second), Some(duration)) => per_second.mul_f64(duration.max(MIN_BUDGETED_AUDIO).as_secs_f64()),
        _ => Duration::ZERO,
    };
    move |instance: &mut Instance| -> BoxFuture<'_, _> {
        Box::pin(async move {
            let WorldBindings::SttBatch(bindings) = &instance.bindings else {
                return Err(wasmtime::Error::msg("not an stt-batch plugin"));
            };
            instance.store.data_mut().audio = Some(audio);
            instance.store.data_mut().audio_format = Some(request.format);
            instance.store.data_mut().call_budget += extra;
            let result = bindings.call_transcribe(&mut instance.store, &request).await;
            instance.store.data_mut().audio = None;
            instance.store.data_mut().audio_format = None;
            result
        })
    }
}

/// Audio a recogniser's budget is sized for at least: Whisper encodes fixed 30 s windows, so
/// a 2 s clip costs it as much as 30 s of speech (a 1.79 s clip ran past a budget sized for
/// its length).
const MIN_BUDGETED_AUDIO: Duration = Duration::from_secs(30);

pub use crate::plugin::batch_world::BatchTranscript as Transcript;

pub use crate::plugin::bindings::stt_live::LiveConfig;
pub use crate::plugin::bindings::types::{TranscriptUpdate, Word};
pub use crate::plugin::bindings::websocket::SocketEvent;

/// What one call into a live plugin gave: the updates it produced, or its own error; the
/// outer error is the sandbox's.
pub type LiveOutcome = Result<Result<Vec<TranscriptUpdate>, PluginError>, CallError>;

/// A live speech-to-text plugin, on an instance of its own for one session.
pub struct LiveStt {
    dedicated: crate::plugin::handle::Dedicated,
}

macro_rules! live_call {
    ($self:ident, |$bindings:ident, $store:ident| $body:expr) => {
        $self
            .dedicated
            .call(move |instance| {
                Box::pin(async move {
                    let WorldBindings::SttLive($bindings) = &instance.bindings else {
                        return Err(wasmtime::Error::msg("not an stt-live plugin"));
                    };
                    let $store = &mut instance.store;
                    $body.await
                })
            })
            .await
    };
}

impl LiveStt {
    pub fn new(handle: &PluginHandle) -> Result<LiveStt, CallError> {
        if handle.manifest().world != World::SttLive {
            return Err(handle.wrong_world(World::SttLive));
        }
        Ok(LiveStt { dedicated: handle.dedicated() })
    }

    pub fn id(&self) -> &str {
        self.dedicated.id()
    }

    /// Starts (or restarts, after a lost connection) the plugin's stream.
    pub async fn start(&mut self, config: LiveConfig) -> LiveOutcome {
        live_call!(self, |bindings, store| bindings.call_start(store, &config))
    }

    /// One frame of canonical audio, as little-endian bytes.
    pub async fn push(&mut self, frame: Vec<u8>) -> LiveOutcome {
        live_call!(self, |bindings, store| bindings.call_push_audio(store, &frame))
    }

    /// Hands the plugin an event of one of its sockets.
    pub async fn deliver(&mut self, socket: u64, event: SocketEvent) -> LiveOutcome {
        live_call!(self, |bindings, store| bindings.call_on_socket_event(store, socket, &event))
    }

    pub async fn tick(&mut self, now_ms: u64) -> LiveOutcome {
        live_call!(self, |bindings, store| bindings.call_tick(store, now_ms))
    }

    pub async fn finish(&mut self) -> LiveOutcome {
        live_call!(self, |bindings, store| bindings.call_finish(store))
    }

    /// The next socket event for [`LiveStt::deliver`]; cancel-safe.
    pub async fn socket_event(&mut self) -> (u64, SocketEvent) {
        self.dedicated.socket_event().await
    }

    /// Whether the plugin still has a connection open or events queued.
    pub fn sockets_busy(&self) -> bool {
        self.dedicated.sockets_busy()
    }

    /// Drops the instance and its sockets; the next call starts afresh.
    pub fn reset(&mut self) {
        self.dedicated.reset();
    }
}
