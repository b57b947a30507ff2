//! Typed client of summarizer plugins: one transcript (or one part of it) in, a summary out;
//! or the summaries of a long transcript's parts merged into one.

use crate::plugin::capabilities::progress::ProgressSink;
use crate::plugin::bindings::summarizer::{CombineRequest, SummaryOutput, SummaryRequest};
use crate::plugin::bindings::types::PluginError;
use crate::plugin::handle::{CallError, PluginHandle, WorldBindings};
use crate::plugin::manifest::World;

pub use crate::plugin::bindings::summarizer::{Part, TranscriptSegment};

/// What one call gave: the plugin's summary or its own error; the outer error is the
/// sandbox's (trap, budget, breaker).
pub type SummaryOutcome = Result<Result<SummaryOutput, PluginError>, CallError>;

/// A summarizer plugin.
#[derive(Clone)]
pub struct Summarizer {
    handle: PluginHandle,
}

/// Which export a call runs.
enum Call {
    Summarize(SummaryRequest),
    Combine(CombineRequest),
}

impl Summarizer {
    pub fn new(handle: PluginHandle) -> Result<Summarizer, CallError> {
        if handle.manifest().world != World::Summarizer {
            return Err(handle.wrong_world(World::Summarizer));
        }
        Ok(Summarizer { handle })
    }

    pub fn id(&self) -> &str {
        self.handle.id()
    }

    /// How many summaries the plugin may write at once.
    pub fn instances(&self) -> usize {
        self.handle.services().limits.instances
    }

    /// Summarises a transcript or one part; partial summaries go to `progress`.
    pub async fn summarize(&self, request: SummaryRequest, progress: ProgressSink) -> SummaryOutcome {
        self.call(Call::Summarize(request), progress).await
    }

    /// Merges the summaries of consecutive parts.
    pub async fn combine(&self, request: CombineRequest, progress: ProgressSink) -> SummaryOutcome {
        self.call(Call::Combine(request), progress).await
    }

    async fn call(&self, call: Call, progress: ProgressSink) -> SummaryOutcome {
        self.handle
            .call(move |instance| {
                Box::pin(async move {
                    let WorldBindings::Summarizer(bindings) = &instance.bindings else {
                        return Err(wasmtime::Error::msg("not a summarizer plugin"));
                    };
                    instance.store.data_mut().progress = Some(progress);
                    let result = match &call {
                        Call::Summarize(request) => bindings.call_summarize(&mut instance.store, request).await,
                        Call::Combine(request) => bindings.call_combine(&mut instance.store, request).await,
                    };
                    instance.store.data_mut().progress = None;
                    result
                })
            })
            .await
    }
}
