//! Typed client of speech-to-text plugins.

use crate::plugin::bindings::stt_batch::{BatchRequest, BatchTranscript};
use crate::plugin::bindings::types::PluginError;
use crate::plugin::handle::{CallError, PluginHandle, WorldBindings};
use crate::plugin::manifest::World;

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
    pub async fn transcribe(
        &self,
        request: BatchRequest,
    ) -> Result<Result<BatchTranscript, PluginError>, CallError> {
        self.handle
            .call(move |instance| {
                Box::pin(async move {
                    match &instance.bindings {
                        WorldBindings::SttBatch(b) => b.call_transcribe(&mut instance.store, &request).await,
                        _ => Err(wasmtime::Error::msg("not an stt-batch plugin")),
                    }
                })
            })
            .await
    }
}

pub use crate::plugin::bindings::stt_batch::{BatchRequest as Request, BatchTranscript as Transcript};
