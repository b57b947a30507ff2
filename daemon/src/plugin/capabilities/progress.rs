//! `progress`: a summarizer's partial summaries, passed on to the UI while it writes.
//!
//! The caller of `summarize` installs a [`ProgressSink`] for the call; partials arriving
//! faster than [`MIN_INTERVAL`] are dropped (each one replaces the previous, so nothing is
//! lost but intermediate states), which bounds what a plugin can push into the event hub.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::plugin::bindings::summarizer::scribe::plugin::progress;
use crate::plugin::bindings::types::Summary;
use wasmtime::component::HasData;

/// Least time between two partials passed on: 20 updates a second reads as smooth text and
/// keeps a flooding plugin from crowding other events out of the hub's ring.
pub const MIN_INTERVAL: Duration = Duration::from_millis(50);

/// Receives the partial summaries of one call.
#[derive(Clone)]
pub struct ProgressSink {
    deliver: Arc<dyn Fn(Summary) + Send + Sync>,
    last: Option<Instant>,
}

impl ProgressSink {
    pub fn new(deliver: impl Fn(Summary) + Send + Sync + 'static) -> ProgressSink {
        ProgressSink { deliver: Arc::new(deliver), last: None }
    }

    fn offer(&mut self, summary: Summary) {
        let now = Instant::now();
        if self.last.is_some_and(|last| now.duration_since(last) < MIN_INTERVAL) {
            return;
        }
        self.last = Some(now);
        (self.deliver)(summary);
    }
}

/// What the `progress` host function sees of one instance: the sink the current call's
/// caller installed (the per-instance state), if any.
pub struct ProgressView<'a> {
    pub sink: Option<&'a mut ProgressSink>,
}

/// Links `progress` through [`ProgressView`].
pub struct ProgressCapability;

impl HasData for ProgressCapability {
    type Data<'a> = ProgressView<'a>;
}

impl progress::Host for ProgressView<'_> {
    async fn partial(&mut self, summary: Summary) -> wasmtime::Result<()> {
        // Outside a summarize call (or for a caller that does not listen) it goes nowhere.
        if let Some(sink) = &mut self.sink {
            sink.offer(summary);
        }
        Ok(())
    }
}
