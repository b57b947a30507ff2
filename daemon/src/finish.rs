//! The "session finished" stage: what happens once a session's transcript is complete,
//! whichever pipeline made it (a file job, a live session, a re-transcription).
//!
//! Pipelines hand a [`SessionDone`] over a bounded channel ([`FinishLine::session_done`]);
//! the [`Finisher`] writes the session's exports into the outbox, answers the pipeline, and
//! then asks for the summary when summaries are automatic. When a summary is stored the
//! summary service tells the finisher, which writes the exports again so they carry it. This
//! is the only place that writes the outbox or requests a summary on its own.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use crate::clients::library::Library;
use crate::sinks::outbox::Outbox;
use crate::summaries::Summaries;

/// Sessions waiting to be finished. A pipeline that finds the queue full waits for room:
/// back-pressure, never a lost session. Exports take milliseconds, so this is generous.
const WAITING: usize = 64;

/// A session whose transcript is complete.
pub struct SessionDone {
    pub session_id: String,
    /// Answered once the exports are written, with why they failed if they did: a file job
    /// counts as done only then, so whoever waits for it finds the files.
    exported: oneshot::Sender<Result<(), String>>,
}

/// Why a finished session's exports are missing.
#[derive(Debug, thiserror::Error)]
pub enum FinishError {
    #[error("the export to the outbox failed: {0}")]
    Export(String),
    #[error("the daemon is stopping; the session was not exported")]
    Stopped,
}

/// The pipelines' end of the stage; cheap to clone.
#[derive(Clone)]
pub struct FinishLine {
    done: mpsc::Sender<SessionDone>,
}

impl FinishLine {
    /// Hands over a completed session and waits until its exports are written.
    pub async fn session_done(&self, session_id: &str) -> Result<(), FinishError> {
        let (exported, answer) = oneshot::channel();
        let done = SessionDone { session_id: session_id.to_string(), exported };
        self.done.send(done).await.map_err(|_| FinishError::Stopped)?;
        answer.await.map_err(|_| FinishError::Stopped)?.map_err(FinishError::Export)
    }
}

/// The stage itself: run it once with [`Finisher::run`].
pub struct Finisher {
    library: Library,
    outbox: Option<Outbox>,
    summaries: Option<Arc<Summaries>>,
    done: mpsc::Receiver<SessionDone>,
    /// Sessions whose summary was just stored.
    summarized: mpsc::Receiver<String>,
}

impl Finisher {
    /// The stage, the line pipelines send on, and the sender the summary service reports
    /// stored summaries on (see [`Summaries::new`]).
    pub fn new(library: Library, outbox: Option<Outbox>) -> (Finisher, FinishLine, mpsc::Sender<String>) {
        let (done_tx, done) = mpsc::channel(WAITING);
        let (summarized_tx, summarized) = mpsc::channel(WAITING);
        let finisher = Finisher { library, outbox, summaries: None, done, summarized };
        (finisher, FinishLine { done: done_tx }, summarized_tx)
    }

    /// The summary service automatic summaries are requested from.
    pub fn with_summaries(mut self, summaries: Option<Arc<Summaries>>) -> Finisher {
        self.summaries = summaries;
        self
    }

    /// Finishes sessions until every sender is gone. It does not stop at shutdown on its
    /// own: a file job that completes while the daemon stops still gets its exports.
    pub async fn run(mut self) {
        loop {
            tokio::select! {
                done = self.done.recv() => match done {
                    Some(done) => self.finish(done).await,
                    None => break,
                },
                Some(session_id) = self.summarized.recv() => {
                    if let Err(err) = self.export(&session_id).await {
                        tracing::error!(session = %session_id, "exporting the summary to the outbox failed: {err}");
                    }
                }
            }
        }
    }

    async fn finish(&self, done: SessionDone) {
        let SessionDone { session_id, exported } = done;
        let result = self.export(&session_id).await;
        if let Err(err) = &result {
            tracing::error!(session = %session_id, "exporting to the outbox failed: {err}");
        }
        // The pipeline may have stopped waiting (shutdown); the exports are written anyway.
        let _ = exported.send(result);
        if let Some(summaries) = &self.summaries {
            summaries.session_completed(&session_id).await;
        }
    }

    async fn export(&self, session_id: &str) -> Result<(), String> {
        let Some(outbox) = &self.outbox else { return Ok(()) };
        let files = outbox.write(&self.library, session_id).await.map_err(|err| format!("{err:#}"))?;
        tracing::info!(session = session_id, files = files.len(), "exported to the outbox");
        Ok(())
    }
}
