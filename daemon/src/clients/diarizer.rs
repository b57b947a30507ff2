//! Typed client of diarizer plugins: a recording's canonical PCM in, speaker turns and one
//! voice embedding per speaker out.

use std::time::Duration;

use crate::plugin::bindings::types::PluginError;
use crate::plugin::capabilities::audio::AudioInput;
use crate::plugin::capabilities::work_progress::WorkSink;
use crate::plugin::handle::{CallError, PluginHandle, WorldBindings};
use crate::plugin::manifest::World;

pub use crate::plugin::bindings::diarizer::{Diarization, SpeakerCount, SpeakerTurn};

/// What one call gave: the plugin's diarization or its own error; the outer error is the
/// sandbox's (trap, budget, breaker).
pub type DiarizeOutcome = Result<Result<Diarization, PluginError>, CallError>;

/// Bytes of canonical PCM per second (16 kHz mono 16-bit).
const PCM_BYTES_PER_SECOND: u64 = 32_000;

/// A diarizer plugin.
#[derive(Clone)]
pub struct Diarizer {
    handle: PluginHandle,
}

impl Diarizer {
    pub fn new(handle: PluginHandle) -> Result<Diarizer, CallError> {
        if handle.manifest().world != World::Diarizer {
            return Err(handle.wrong_world(World::Diarizer));
        }
        Ok(Diarizer { handle })
    }

    pub fn id(&self) -> &str {
        self.handle.id()
    }

    /// Calls it may run at once (see [`crate::speakers::parts`]).
    pub fn instances(&self) -> usize {
        self.handle.services().limits.instances
    }

    /// Diarizes `pcm` (the canonical 16 kHz mono s16le audio of a session); the fraction
    /// done goes to `progress`.
    pub async fn diarize(&self, pcm: AudioInput, speakers: SpeakerCount, progress: WorkSink) -> DiarizeOutcome {
        // The whole recording is one call: an hour needs far more than one request's budget.
        let extra = match self.handle.services().limits.cpu_budget_per_audio_second {
            Some(per_second) => per_second.mul_f64(pcm.size as f64 / PCM_BYTES_PER_SECOND as f64),
            None => Duration::ZERO,
        };
        let request = crate::plugin::bindings::diarizer::DiarizeRequest { size: pcm.size, speakers };
        self.handle
            .call(move |instance| {
                Box::pin(async move {
                    let WorldBindings::Diarizer(bindings) = &instance.bindings else {
                        return Err(wasmtime::Error::msg("not a diarizer plugin"));
                    };
                    let state = instance.store.data_mut();
                    state.audio = Some(pcm);
                    state.work_progress = Some(progress);
                    state.call_budget += extra;
                    let result = bindings.call_diarize(&mut instance.store, request).await;
                    let state = instance.store.data_mut();
                    state.audio = None;
                    state.work_progress = None;
                    result
                })
            })
            .await
    }
}
