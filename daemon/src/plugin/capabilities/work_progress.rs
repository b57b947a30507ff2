//! `work-progress`: how far a long call (a diarization) has come, passed on as a fraction.
//!
//! The caller installs a [`WorkSink`] for the call; reports closer together than
//! [`MIN_INTERVAL`] are dropped (each one supersedes the last; the final one, `done ==
//! total`, always goes through), which bounds what a plugin can push into the event hub.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::plugin::bindings::diarizer::scribe::plugin0_2_0::work_progress;
use wasmtime::component::HasData;

/// Least time between two reports passed on: progress bars need a few updates a second.
pub const MIN_INTERVAL: Duration = Duration::from_millis(250);

/// Receives the progress of one call, as a fraction from 0 to 1.
#[derive(Clone)]
pub struct WorkSink {
    deliver: Arc<dyn Fn(f64) + Send + Sync>,
    last: Option<Instant>,
}

impl WorkSink {
    pub fn new(deliver: impl Fn(f64) + Send + Sync + 'static) -> WorkSink {
        WorkSink { deliver: Arc::new(deliver), last: None }
    }

    /// Passes `fraction` on as it is (a caller combining several calls' progress).
    pub fn report(&self, fraction: f64) {
        (self.deliver)(fraction.clamp(0.0, 1.0));
    }

    fn offer(&mut self, done: u64, total: u64) {
        if total == 0 {
            return;
        }
        let now = Instant::now();
        let finished = done >= total;
        if !finished && self.last.is_some_and(|last| now.duration_since(last) < MIN_INTERVAL) {
            return;
        }
        self.last = Some(now);
        (self.deliver)((done.min(total) as f64) / total as f64);
    }
}

/// What the `work-progress` host function sees of one instance: the sink the current
/// call's caller installed, if any.
pub struct WorkProgressView<'a> {
    pub sink: Option<&'a mut WorkSink>,
}

/// Links `work-progress` through [`WorkProgressView`].
pub struct WorkProgressCapability;

impl HasData for WorkProgressCapability {
    type Data<'a> = WorkProgressView<'a>;
}

impl work_progress::Host for WorkProgressView<'_> {
    async fn report(&mut self, done: u64, total: u64) -> wasmtime::Result<()> {
        if let Some(sink) = &mut self.sink {
            sink.offer(done, total);
        }
        Ok(())
    }
}
