//! Keeps the index in step with the store: after a library write (the library client counts
//! them, and the indexer also looks every [`POLL`]) it waits a moment to gather more changes,
//! reads the changed sessions from the store, replaces their documents and commits once,
//! recording the last store change it covered. At start-up the same catch-up repairs
//! whatever a crash left out.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use super::{SearchIndex, SegmentDoc, SessionDoc};
use crate::sinks::events::{Event, EventHub};
use crate::sinks::export::{SessionExport, Transcript};
use crate::clients::library::{Library, LibraryError, StoredSummary, kind_name, status_name};

/// Changes read from the store per step; each step is one commit.
const CHANGES_PER_COMMIT: u32 = 200;
/// Longest the indexer waits without a write before it looks for changes anyway (a change
/// made by another client of the same store).
const POLL: Duration = Duration::from_secs(30);

/// The indexing service.
pub struct Indexer {
    index: Arc<SearchIndex>,
    library: Library,
    events: EventHub,
    /// Changes are gathered this long before one commit.
    batch: Duration,
    wake: Notify,
}

/// A summary as one searchable text.
fn summary_text(stored: &StoredSummary) -> String {
    let s = &stored.summary;
    let mut parts: Vec<&str> = s.title.iter().map(String::as_str).collect();
    parts.push(&s.overview);
    parts.extend(s.key_points.iter().map(String::as_str));
    parts.extend(s.action_items.iter().map(|a| a.text.as_str()));
    parts.extend(s.decisions.iter().map(String::as_str));
    parts.join(" ")
}

/// Everything the index holds of a session, read from the store; none when it is gone.
pub async fn session_doc(library: &Library, id: &str) -> Result<Option<SessionDoc>, LibraryError> {
    let Some(export) = SessionExport::load_latest(library, id).await? else { return Ok(None) };
    let transcript = Transcript { title: &export.session.title, words: &export.words, speakers: &export.speakers, summary: None };
    let segments = transcript
        .segment_words()
        .into_iter()
        .map(|words| SegmentDoc {
            speaker: transcript.speaker_name(words.first().and_then(|w| w.speaker)),
            // Snippets split the text at spaces: each word stays one piece, with its time.
            words: words
                .iter()
                .filter_map(|w| {
                    let shown = if w.punctuated.trim().is_empty() { w.text.trim() } else { w.punctuated.trim() };
                    (!shown.is_empty()).then(|| (shown.replace(' ', "\u{a0}"), w.start_ms))
                })
                .collect(),
        })
        .collect();
    let session = &export.session;
    Ok(Some(SessionDoc {
        id: session.id.clone(),
        kind: kind_name(session.kind).into(),
        status: status_name(session.status).into(),
        created_ms: session.created_ms,
        title: session.title.clone(),
        summary: export.summary.as_ref().map(summary_text),
        segments,
    }))
}

impl Indexer {
    pub fn new(index: Arc<SearchIndex>, library: Library, events: EventHub, batch: Duration) -> Arc<Indexer> {
        Arc::new(Indexer { index, library, events, batch, wake: Notify::new() })
    }

    pub fn index(&self) -> &Arc<SearchIndex> {
        &self.index
    }

    /// Empties the index; the indexer then rebuilds it from the store.
    pub async fn rebuild(&self) -> anyhow::Result<()> {
        let index = self.index.clone();
        tokio::task::spawn_blocking(move || index.clear()).await??;
        self.wake.notify_one();
        Ok(())
    }

    /// Indexes every change after the watermark. Returns the sessions indexed.
    pub async fn catch_up(&self) -> anyhow::Result<usize> {
        let mut indexed = 0;
        loop {
            let after = self.index.watermark();
            let changes = self.library.changes_since(after, CHANGES_PER_COMMIT).await?;
            let Some(last) = changes.last().map(|c| c.seq) else {
                if indexed > 0 {
                    self.events.publish(Event::Indexed { watermark: after, documents: self.index.documents() });
                }
                return Ok(indexed);
            };
            let mut staged = Vec::with_capacity(changes.len());
            for change in changes {
                let doc = session_doc(&self.library, &change.session_id).await?;
                staged.push((change.session_id, doc));
            }
            indexed += staged.len();
            let index = self.index.clone();
            tokio::task::spawn_blocking(move || {
                index.stage(staged)?;
                index.commit(last)
            })
            .await??;
        }
    }

    /// Keeps the index current until `shutdown` resolves.
    pub async fn run(self: Arc<Self>, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut writes = self.library.writes();
        loop {
            match self.catch_up().await {
                Ok(0) => {}
                Ok(sessions) => tracing::debug!(sessions, "search index updated"),
                Err(err) => tracing::error!("updating the search index failed: {err:#}"),
            }
            // Wait for a write to the store: level meters, summary partials and other events
            // for clients never send the indexer to the store.
            tokio::select! {
                () = &mut shutdown => return,
                () = self.wake.notified() => {}
                () = tokio::time::sleep(POLL) => {}
                _ = writes.changed() => {}
            }
            // Gather what else changes meanwhile (a burst of finals, a summary after a
            // transcript) into one commit.
            tokio::select! {
                () = &mut shutdown => return,
                () = tokio::time::sleep(self.batch) => {}
            }
        }
    }
}
