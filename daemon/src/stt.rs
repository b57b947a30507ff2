//! Typed client of speech-to-text plugins.

use std::time::Duration;

use crate::plugin::bindings::stt_batch::{BatchRequest, BatchTranscript};
use crate::plugin::bindings::types::PluginError;
use crate::plugin::handle::{CallError, PluginHandle, WorldBindings, encoding_name};
use crate::plugin::manifest::World;

pub use crate::host::audio::AudioInput;
pub use crate::plugin::bindings::types::{AudioEncoding, AudioFormat};

/// A batch transcription plugin.
#[derive(Clone)]
pub struct BatchStt {
    handle: PluginHandle,
    /// Encodings the plugin said it accepts (its `describe`), by WIT name.
    encodings: Vec<String>,
}

impl BatchStt {
    pub fn new(handle: PluginHandle) -> Result<BatchStt, CallError> {
        if handle.manifest().world != World::SttBatch {
            return Err(handle.wrong_world(World::SttBatch));
        }
        Ok(BatchStt { handle, encodings: Vec::new() })
    }

    /// Records the encodings the plugin declared.
    pub fn accepting(mut self, encodings: Vec<String>) -> BatchStt {
        self.encodings = encodings;
        self
    }

    /// Whether the plugin declared it accepts `encoding`.
    pub fn accepts(&self, encoding: AudioEncoding) -> bool {
        self.encodings.iter().any(|e| e == encoding_name(encoding))
    }

    /// How many files the plugin may transcribe at once.
    pub fn instances(&self) -> usize {
        self.handle.services().limits.instances
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
        let request = BatchRequest { format, size: audio.size, language };
        // A recogniser running in the sandbox works in proportion to the audio.
        let extra = match (self.handle.services().limits.cpu_budget_per_audio_second, duration) {
            (Some(per_second), Some(duration)) => per_second.mul_f64(duration.as_secs_f64()),
            _ => Duration::ZERO,
        };
        self.handle
            .call(move |instance| {
                Box::pin(async move {
                    let WorldBindings::SttBatch(bindings) = &instance.bindings else {
                        return Err(wasmtime::Error::msg("not an stt-batch plugin"));
                    };
                    instance.store.data_mut().audio = Some(audio);
                    instance.store.data_mut().call_budget += extra;
                    let result = bindings.call_transcribe(&mut instance.store, &request).await;
                    instance.store.data_mut().audio = None;
                    result
                })
            })
            .await
    }
}

pub use crate::plugin::bindings::stt_batch::BatchTranscript as Transcript;
