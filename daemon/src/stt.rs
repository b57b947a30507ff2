//! Typed client of speech-to-text plugins.

use crate::plugin::bindings::stt_batch::{BatchRequest, BatchTranscript};
use crate::plugin::bindings::types::PluginError;
use crate::plugin::handle::{CallError, PluginHandle, WorldBindings};
use crate::plugin::manifest::World;

pub use crate::host::audio::AudioInput;
pub use crate::plugin::bindings::types::{AudioEncoding, AudioFormat};

/// A batch transcription plugin.
#[derive(Clone)]
pub struct BatchStt {
    handle: PluginHandle,
}

impl BatchStt {
    pub fn new(handle: PluginHandle) -> Result<BatchStt, CallError> {
        if handle.manifest().world != World::SttBatch {
            return Err(handle.wrong_world(World::SttBatch));
        }
        Ok(BatchStt { handle })
    }

    /// Transcribes one file. The outer error is the sandbox's (trap, timeout, breaker); the
    /// inner one is the plugin's own answer (provider refused, bad input, ...).
    /// The plugin's id.
    pub fn id(&self) -> &str {
        self.handle.id()
    }

    /// The plugin streams `audio` to its provider or reads it through the `audio` import;
    /// the request carries its format and size.
    pub async fn transcribe(
        &self,
        format: AudioFormat,
        audio: AudioInput,
        language: Option<String>,
    ) -> Result<Result<BatchTranscript, PluginError>, CallError> {
        let request = BatchRequest { format, size: audio.size, language };
        self.handle
            .call(move |instance| {
                Box::pin(async move {
                    let WorldBindings::SttBatch(bindings) = &instance.bindings else {
                        return Err(wasmtime::Error::msg("not an stt-batch plugin"));
                    };
                    instance.store.data_mut().audio = Some(audio);
                    let result = bindings.call_transcribe(&mut instance.store, &request).await;
                    instance.store.data_mut().audio = None;
                    result
                })
            })
            .await
    }
}

pub use crate::plugin::bindings::stt_batch::BatchTranscript as Transcript;
