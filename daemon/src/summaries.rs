//! Summaries: after a session's transcript is complete, the summarizer plugin turns it into
//! an overview, key points, action items with their transcript times, and decisions.
//!
//! A request (automatic when a session completes without a summary, or `POST
//! /api/v1/sessions/{id}/summary`) is kept in a persistent queue ([`queue`]) and worked by
//! [`Summaries::run`]. The transcript is read from the library as speaker segments
//! ([`parts`]); one longer than `summaries.max_input_tokens` is summarised in parts, each
//! part's summary written separately, then merged (again in groups if even the summaries
//! exceed the budget), with `part N of M` progress events; nothing is truncated. A transcript
//! with too few words is never sent: its state is `empty`. Each plugin call is retried with
//! back-off while the provider is overloaded, rate-limited or unreachable; a refused key is
//! not retried. The summary is stored only when complete, with the model, template and the
//! tokens it cost; a failure leaves any earlier summary in place and says why.

pub mod doc;
mod parts;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, mpsc};

use crate::config::SummariesConfig;
use crate::sinks::events::{Event, EventHub, LibraryChange, SummaryStatus};
use crate::sinks::export::{SessionExport, Transcript};
use crate::retry::{Failure, RetryPolicy};
use crate::plugin::capabilities::progress::ProgressSink;
use crate::clients::library::{Library, LibraryError, SessionStatus, StoredSummary, Summary, now_ms};
use crate::plugin::bindings::summarizer::{CombineRequest, SummaryOutput, SummaryRequest};
use crate::clients::summarizer::{Part, Summarizer, SummaryOutcome};

pub use doc::{ActionItemDoc, SummaryDoc};
pub use crate::queue::summaries::{SummaryJob, SummaryQueue, SummaryState};

/// Longest the worker sleeps when nothing is queued; a new request wakes it sooner.
const IDLE_POLL: Duration = Duration::from_secs(30);

/// Why a summary cannot be requested.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("no summarizer is loaded; set roles.summarizer and see /api/v1/plugins")]
    NoSummarizer,
    #[error("there is no session {0}")]
    NotFound(String),
    #[error("the session is not transcribed yet (it is {0})")]
    NotReady(&'static str),
    #[error("a summary of this session is already being written")]
    Busy,
    #[error(transparent)]
    Library(#[from] LibraryError),
    #[error("the summary queue failed: {0:#}")]
    Queue(anyhow::Error),
}

/// What became of a request.
enum Outcome {
    Stored(SummaryDoc),
    /// Too little to summarise; the message says so.
    Empty(String),
    /// The session was deleted meanwhile.
    Gone,
}

/// Tokens a summary cost over all its calls.
#[derive(Default)]
struct Usage {
    input: Option<u64>,
    output: Option<u64>,
}

impl Usage {
    fn add(&mut self, output: &SummaryOutput) {
        let sum = |total: Option<u64>, more: Option<u64>| match (total, more) {
            (Some(a), Some(b)) => Some(a + b),
            (a, b) => a.or(b),
        };
        self.input = sum(self.input, output.input_tokens);
        self.output = sum(self.output, output.output_tokens);
    }
}

/// Where one request stands while it is written: for events.
struct Progress<'a> {
    session_id: &'a str,
    part: Option<u32>,
    parts: Option<u32>,
}

impl Progress<'_> {
    /// A `summary` event of this request.
    fn event(&self, status: SummaryStatus, message: Option<String>, summary: Option<SummaryDoc>) -> Event {
        Event::Summary {
            session_id: self.session_id.to_string(),
            status,
            message,
            part: self.part,
            parts: self.parts,
            summary,
        }
    }
}

/// The summary service.
pub struct Summaries {
    queue: SummaryQueue,
    library: Library,
    summarizer: Option<Summarizer>,
    /// Summarise completed sessions on their own.
    auto: bool,
    events: EventHub,
    settings: SummariesConfig,
    policy: RetryPolicy,
    /// Told the session of every stored summary (the finish stage, which exports it again).
    stored: mpsc::Sender<String>,
    wake: Notify,
}

impl Summaries {
    /// `auto` is the operator's `summaries.auto`, already off when the summarizer is not
    /// usable (not loaded, or its credentials missing).
    pub fn new(
        queue: SummaryQueue,
        library: Library,
        summarizer: Option<Summarizer>,
        auto: bool,
        events: EventHub,
        settings: SummariesConfig,
        stored: mpsc::Sender<String>,
    ) -> Arc<Summaries> {
        let policy = RetryPolicy {
            max_attempts: settings.max_attempts.max(1),
            base: Duration::from_millis(settings.retry_base_ms),
            max: Duration::from_millis(settings.retry_max_ms),
        };
        Arc::new(Summaries { queue, library, summarizer, auto, events, settings, policy, stored, wake: Notify::new() })
    }

    fn publish(&self, progress: &Progress<'_>, status: SummaryStatus, message: Option<String>, summary: Option<SummaryDoc>) {
        self.events.publish(progress.event(status, message, summary));
    }

    /// A session's transcript is complete: queue its summary when summaries are automatic
    /// and it has none yet (a re-transcription keeps the summary it had).
    pub async fn session_completed(&self, session_id: &str) {
        if !self.auto {
            return;
        }
        match self.library.get_summary(session_id.to_string()).await {
            Ok(Some(_)) => return,
            Ok(None) => {}
            Err(err) => tracing::warn!(session = session_id, "checking for a summary failed: {err}"),
        }
        if let Err(err) = self.enqueue(session_id, None) {
            tracing::error!(session = session_id, "queueing the summary failed: {err:#}");
        }
    }

    /// Asks for a (new) summary of a complete session, with the template named, if any.
    pub async fn request(&self, session_id: &str, template: Option<&str>) -> Result<(), RequestError> {
        if self.summarizer.is_none() {
            return Err(RequestError::NoSummarizer);
        }
        let session = self
            .library
            .get_session(session_id.to_string())
            .await?
            .ok_or_else(|| RequestError::NotFound(session_id.to_string()))?;
        match session.status {
            SessionStatus::Recording => return Err(RequestError::NotReady("recording")),
            SessionStatus::Queued | SessionStatus::Processing => return Err(RequestError::NotReady("being transcribed")),
            SessionStatus::Complete | SessionStatus::Error | SessionStatus::Interrupted => {}
        }
        match self.enqueue(session_id, template) {
            Ok(true) => Ok(()),
            Ok(false) => Err(RequestError::Busy),
            Err(err) => Err(RequestError::Queue(err)),
        }
    }

    fn enqueue(&self, session_id: &str, template: Option<&str>) -> anyhow::Result<bool> {
        let queued = self.queue.enqueue(session_id, template, now_ms())?;
        if queued {
            self.publish(&Progress { session_id, part: None, parts: None }, SummaryStatus::Queued, None, None);
            self.wake.notify_one();
        }
        Ok(queued)
    }

    /// The state of the session's latest summary request.
    pub fn job(&self, session_id: &str) -> Option<SummaryJob> {
        self.queue.get(session_id).unwrap_or_else(|err| {
            tracing::error!(session = session_id, "reading the summary queue failed: {err:#}");
            None
        })
    }

    /// Forgets a deleted session's request.
    pub fn forget(&self, session_id: &str) {
        if let Err(err) = self.queue.delete(session_id) {
            tracing::error!(session = session_id, "forgetting the summary request failed: {err:#}");
        }
    }

    /// Summaries waiting or being written.
    pub fn queue_depth(&self) -> anyhow::Result<u64> {
        self.queue.pending()
    }

    /// Workers to run: as many as the summarizer has instances.
    pub fn workers(&self) -> usize {
        self.summarizer.as_ref().map_or(1, |s| s.instances()).max(1)
    }

    /// Works the queue until `shutdown` resolves. A request cut short by the shutdown is
    /// queued again at the next start.
    pub async fn run(self: Arc<Self>, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            match self.queue.claim(now_ms()) {
                Ok(Some(job)) => {
                    tokio::select! {
                        () = &mut shutdown => return,
                        () = self.process(job) => {}
                    }
                    continue;
                }
                Ok(None) => {}
                Err(err) => tracing::error!("summary queue failed: {err:#}"),
            }
            tokio::select! {
                () = &mut shutdown => return,
                () = self.wake.notified() => {}
                () = tokio::time::sleep(IDLE_POLL) => {}
            }
        }
    }

    async fn process(&self, job: SummaryJob) {
        let id = job.session_id.as_str();
        let progress = Progress { session_id: id, part: None, parts: None };
        let finish = |state, message: Option<&str>| {
            if let Err(err) = self.queue.finish(id, state, message, now_ms()) {
                tracing::error!(session = id, "recording the summary's state failed: {err:#}");
            }
        };
        match self.write(&job).await {
            Ok(Outcome::Stored(doc)) => {
                finish(SummaryState::Done, None);
                self.publish(&progress, SummaryStatus::Complete, None, Some(doc));
                self.events.publish(Event::Library { session_id: id.to_string(), change: LibraryChange::Updated });
                // Gone only when the daemon stops.
                let _ = self.stored.send(id.to_string()).await;
            }
            Ok(Outcome::Empty(message)) => {
                tracing::info!(session = id, "{message}");
                finish(SummaryState::Empty, Some(&message));
                self.publish(&progress, SummaryStatus::Empty, Some(message), None);
            }
            Ok(Outcome::Gone) => self.forget(id),
            Err(message) => {
                tracing::warn!(session = id, "summary failed: {message}");
                finish(SummaryState::Failed, Some(&message));
                self.publish(&progress, SummaryStatus::Error, Some(message), None);
            }
        }
    }

    async fn write(&self, job: &SummaryJob) -> Result<Outcome, String> {
        let id = job.session_id.as_str();
        let summarizer = self.summarizer.as_ref().ok_or_else(|| RequestError::NoSummarizer.to_string())?;
        let export = SessionExport::load_latest(&self.library, id)
            .await
            .map_err(|err| format!("reading the transcript failed: {err}"))?;
        let Some(export) = export else { return Ok(Outcome::Gone) };
        let transcript = Transcript { title: &export.session.title, words: &export.words, speakers: &export.speakers, summary: None };
        let segments = parts::segments(&transcript);
        let words = export.words.len();
        if words < self.settings.min_words as usize {
            return Ok(Outcome::Empty(format!("nothing to summarise: the transcript has {words} words")));
        }
        let title = export.session.title.clone();
        let budget = self.settings.max_input_tokens as usize;
        let split = parts::split(segments.clone(), budget);
        let count = u32::try_from(split.len()).unwrap_or(u32::MAX);
        let mut usage = Usage::default();
        let mut written = Vec::with_capacity(split.len());
        for (index, part_segments) in (1..).zip(split) {
            let progress = Progress { session_id: id, part: (count > 1).then_some(index), parts: (count > 1).then_some(count) };
            let message = (count > 1).then(|| format!("part {index} of {count}"));
            if let Some(message) = &message
                && let Err(err) = self.queue.note(id, message)
            {
                tracing::warn!(session = id, "noting the summary's progress failed: {err:#}");
            }
            self.publish(&progress, SummaryStatus::Writing, message, None);
            let request = SummaryRequest {
                title: title.clone(),
                segments: part_segments,
                template: job.template.clone(),
                part: (count > 1).then_some(Part { index, count }),
            };
            let output = self.attempt(summarizer, &progress, || summarizer.summarize(request.clone(), self.sink(&progress))).await?;
            usage.add(&output);
            written.push(output);
        }
        let mut output = match written.len() {
            1 => written.pop().ok_or("no summary was written")?,
            _ => self.merge(summarizer, id, &title, job.template.as_deref(), written, &mut usage).await?,
        };
        for item in &mut output.summary.action_items {
            item.at_ms = parts::snap(item.at_ms, &segments);
        }
        let doc = SummaryDoc::from(&output.summary);
        let stored = StoredSummary {
            summary: output.summary,
            model: output.model,
            template: job.template.clone(),
            created_ms: now_ms(),
            input_tokens: usage.input,
            output_tokens: usage.output,
        };
        self.library.put_summary(id.to_string(), stored).await.map_err(|err| format!("storing the summary failed: {err}"))?;
        Ok(Outcome::Stored(doc))
    }

    /// Merges part summaries, in groups that fit the budget, until one is left.
    async fn merge(
        &self,
        summarizer: &Summarizer,
        id: &str,
        title: &str,
        template: Option<&str>,
        written: Vec<SummaryOutput>,
        usage: &mut Usage,
    ) -> Result<SummaryOutput, String> {
        let budget = self.settings.max_input_tokens as usize;
        let mut summaries: Vec<Summary> = written.into_iter().map(|o| o.summary).collect();
        loop {
            let groups = merge_groups(summaries, budget);
            let last_round = groups.len() == 1;
            let mut merged = Vec::with_capacity(groups.len());
            for group in groups {
                if group.len() == 1 && !last_round {
                    merged.extend(group);
                    continue;
                }
                let progress = Progress { session_id: id, part: None, parts: None };
                self.publish(&progress, SummaryStatus::Combining, Some(format!("combining {} parts", group.len())), None);
                let request = CombineRequest { title: title.to_string(), parts: group, template: template.map(String::from) };
                let output = self.attempt(summarizer, &progress, || summarizer.combine(request.clone(), self.sink(&progress))).await?;
                usage.add(&output);
                if last_round {
                    return Ok(output);
                }
                merged.push(output.summary);
            }
            summaries = merged;
        }
    }

    /// Partial summaries of a call, as events.
    fn sink(&self, progress: &Progress<'_>) -> ProgressSink {
        let events = self.events.clone();
        let (session_id, part, parts) = (progress.session_id.to_string(), progress.part, progress.parts);
        ProgressSink::new(move |summary| {
            let progress = Progress { session_id: &session_id, part, parts };
            events.publish(progress.event(SummaryStatus::Partial, None, Some(SummaryDoc::from(&summary))));
        })
    }

    /// Runs one plugin call, trying again with back-off while the provider is overloaded,
    /// rate-limited or unreachable, or the sandbox stopped the call.
    async fn attempt<F, Fut>(&self, summarizer: &Summarizer, progress: &Progress<'_>, mut call: F) -> Result<SummaryOutput, String>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = SummaryOutcome>,
    {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let (message, after) = match call().await {
                Ok(Ok(output)) => return Ok(output),
                Ok(Err(err)) => match Failure::classify(err, summarizer.id()) {
                    Failure::Retry { message, after } => (message, after),
                    failure => return Err(failure.into_message()),
                },
                Err(call) => (call.to_string(), None),
            };
            if attempt >= self.policy.max_attempts {
                return Err(format!("{message} (gave up after {attempt} tries)"));
            }
            let delay = self.policy.delay(attempt, after);
            tracing::warn!(session = progress.session_id, attempt, ?delay, "{message}; retrying");
            self.publish(progress, SummaryStatus::Retrying, Some(format!("{message}; trying again in {} ms", delay.as_millis())), None);
            tokio::time::sleep(delay).await;
        }
    }
}

/// Groups summaries for merging: consecutive, each group within `budget` estimated tokens,
/// and at least two per group whenever there are two, so every round shrinks the list.
fn merge_groups(summaries: Vec<Summary>, budget: usize) -> Vec<Vec<Summary>> {
    let size = |s: &Summary| parts::text_tokens(&serde_json::to_string(&SummaryDoc::from(s)).unwrap_or_default());
    let total: usize = summaries.iter().map(size).sum();
    if total <= budget || summaries.len() <= 2 {
        return vec![summaries];
    }
    let mut groups: Vec<Vec<Summary>> = Vec::new();
    let mut current: Vec<Summary> = Vec::new();
    let mut current_size = 0;
    for summary in summaries {
        let cost = size(&summary);
        if current.len() >= 2 && current_size + cost > budget {
            groups.push(std::mem::take(&mut current));
            current_size = 0;
        }
        current_size += cost;
        current.push(summary);
    }
    // A lone summary at the end joins the group before it.
    match groups.last_mut() {
        Some(previous) if current.len() == 1 => previous.extend(current),
        _ if !current.is_empty() => groups.push(current),
        _ => {}
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(overview_chars: usize) -> Summary {
        Summary { title: None, overview: "o".repeat(overview_chars), key_points: vec![], action_items: vec![], decisions: vec![] }
    }

    #[test]
    fn merge_groups_shrink_every_round() {
        let cases = [(10, 1_000_000, vec![10]), (2, 1, vec![2]), (5, 1, vec![2, 3]), (6, 200, vec![2, 2, 2]), (7, 500, vec![3, 4])];
        for (count, budget, want) in cases {
            let groups = merge_groups((0..count).map(|_| summary(300)).collect(), budget);
            let sizes: Vec<usize> = groups.iter().map(Vec::len).collect();
            assert_eq!(sizes, want, "{count} summaries, budget {budget}");
        }
    }
}
