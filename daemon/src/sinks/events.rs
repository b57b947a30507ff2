//! The event hub: every stage publishes what happened (job progress, live session status,
//! transcript updates, level meter, library changes) and UI clients receive it over
//! `GET /api/v1/events`. It only serves clients: no stage waits on it to learn what another
//! did (the finish stage, the pipelines' job counter and the library's write counter do
//! that). Statuses are enums here and strings only in the JSON clients get.
//!
//! Each event gets a sequence number and is serialised once. The hub keeps the most recent
//! events in a ring, so a client that reconnects with the last number it saw resumes with no
//! gap; fan-out is a `broadcast` channel, so publishing never waits for a client: one that
//! falls too far behind lags and is disconnected by its connection task.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use tokio::sync::broadcast;

/// Events kept for clients that resume (`since`): at five level updates a second for a few
/// sessions, about a minute of history.
const RING: usize = 4096;
/// Events a subscriber may fall behind before it counts as lagging.
const FAN_OUT: usize = 4096;

/// One word in a transcript event.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct EventWord {
    /// The word as it should be displayed.
    pub text: String,
    pub start_ms: u64,
    pub end_ms: u64,
    pub confidence: f32,
    pub speaker: Option<u32>,
}

/// Where a file job stands.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    Queued,
    Processing,
    Complete,
    Error,
}

/// How far a file's transcription has got, when it goes as chunks of speech.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct JobProgress {
    /// Chunks transcribed, of `total`.
    pub done: u32,
    pub total: u32,
    /// `done` of `total` in percent, rounded down.
    pub percent: u8,
    /// Seconds left at the pace so far; unknown before the first chunk is done.
    pub eta_secs: Option<u64>,
}

impl JobProgress {
    pub fn new(done: usize, total: usize, eta_secs: Option<u64>) -> JobProgress {
        let percent = (done * 100).checked_div(total).unwrap_or(100).min(100) as u8;
        JobProgress { done: done as u32, total: total as u32, percent, eta_secs }
    }
}

/// Where a live session stands, or how its provider link is.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LiveStatus {
    Recording,
    Processing,
    /// Handed to the file pipeline: the live transcript was incomplete.
    Queued,
    Complete,
    Error,
    Connected,
    Reconnecting,
    Offline,
    /// A local recogniser is falling behind: interim text less often, or finals only.
    Behind,
}

impl LiveStatus {
    /// The session is over: nothing more comes from its live side.
    pub fn ends_session(self) -> bool {
        matches!(self, LiveStatus::Complete | LiveStatus::Error | LiveStatus::Queued)
    }
}

/// How the library changed.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LibraryChange {
    Created,
    Updated,
    Deleted,
}

/// What the inbox did with a file.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum InboxOutcome {
    Kept,
    Done,
    Deleted,
    Failed,
    /// Its content changed while it was being transcribed; the new content was taken.
    Superseded,
    /// Left where it is while the disk is low (`storage.min_free_mb`); taken once space
    /// returns.
    Waiting,
}

/// Where a summary stands.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SummaryStatus {
    Queued,
    Writing,
    Combining,
    Partial,
    Retrying,
    Complete,
    Empty,
    Error,
}

/// Where a backup is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BackupStage {
    Databases,
    Audio,
    Done,
    Failed,
}

/// What a finished backup did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct BackupSummary {
    pub files: usize,
    /// Size of everything the backup holds.
    pub bytes: u64,
    /// Bytes written this time (databases, and audio that was copied).
    pub copied_bytes: u64,
    /// Audio files hard-linked, copied, and already there from an earlier backup.
    pub audio_linked: usize,
    pub audio_copied: usize,
    pub audio_present: usize,
    /// Sessions the manifest lists.
    pub sessions: usize,
    pub seconds: f64,
}

/// A backup's state (see [`crate::backup`]), for `GET /api/v1/backup` and `backup` events.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BackupStatus {
    pub dest: std::path::PathBuf,
    pub stage: BackupStage,
    pub done_bytes: u64,
    pub total_bytes: u64,
    pub message: Option<String>,
    pub summary: Option<BackupSummary>,
}

/// Something that happened, as pushed to clients.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Event {
    /// A file job moved (with a message for progress, retries and errors), or got further.
    Job {
        session_id: String,
        status: JobStatus,
        message: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        progress: Option<JobProgress>,
    },
    /// The inbox finished with a file.
    InboxFile { name: String, outcome: InboxOutcome },
    /// A live session moved, or its provider link changed.
    Live { session_id: String, status: LiveStatus, message: Option<String> },
    /// Words of a live session. An interim update replaces the previous interim one; a final
    /// update is appended and never changes.
    Transcript {
        session_id: String,
        is_final: bool,
        /// The speaker paused after these words.
        speech_final: bool,
        /// These words answer a client's request to finalize (Deepgram's `Finalize`).
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        from_finalize: bool,
        start_ms: u64,
        end_ms: u64,
        words: Vec<EventWord>,
    },
    /// Input level of a live session over the last interval, 0.0..=1.0 of full scale.
    Level { session_id: String, rms: f32, peak: f32, at_ms: u64 },
    /// The library changed.
    Library { session_id: String, change: LibraryChange },
    /// The search index caught up with the library up to store change `watermark`.
    Indexed { watermark: u64, documents: u64 },
    /// A summary moved: `writing` carries `part` of `parts` for a long transcript, `partial`
    /// the summary as far as it is written, `complete` the stored summary, `empty` and
    /// `error` a message.
    Summary {
        session_id: String,
        status: SummaryStatus,
        message: Option<String>,
        part: Option<u32>,
        parts: Option<u32>,
        summary: Option<crate::summaries::doc::SummaryDoc>,
    },
    /// The free space went below `storage.min_free_mb` (new work waits) or came back.
    Storage { free_mb: u64, min_free_mb: u64, low: bool },
    /// A backup moved: its stage, bytes done of the stage's total, and at the end its
    /// summary or why it failed.
    Backup(Box<BackupStatus>),
    /// An event of another node of the cluster, passed on to this node's clients as that
    /// node sent it, with its `node` (see [`EventHub::relay`]). No stage of this node acts on
    /// it: the node where it happened did.
    #[serde(skip)]
    Relayed { node: String, session_id: Option<String> },
}

impl Event {
    /// The session an event belongs to, for clients that follow one session.
    pub fn session_id(&self) -> Option<&str> {
        match self {
            Event::Job { session_id, .. }
            | Event::Live { session_id, .. }
            | Event::Transcript { session_id, .. }
            | Event::Level { session_id, .. }
            | Event::Library { session_id, .. }
            | Event::Summary { session_id, .. } => Some(session_id),
            Event::Relayed { session_id, .. } => session_id.as_deref(),
            Event::InboxFile { .. } | Event::Indexed { .. } | Event::Storage { .. } | Event::Backup(_) => None,
        }
    }
}

/// An event as published: numbered and serialised once for every client.
#[derive(Debug)]
pub struct Published {
    pub seq: u64,
    pub event: Event,
    /// `{"seq":N,"type":...}`.
    pub json: String,
}

#[derive(Serialize)]
struct Numbered<'a> {
    seq: u64,
    #[serde(flatten)]
    event: &'a Event,
}

/// What a new subscriber gets: the events it missed and the live feed after them.
pub struct Subscription {
    /// Events after the requested sequence number still in the ring, oldest first.
    pub backlog: Vec<Arc<Published>>,
    /// True when some requested events are gone from the ring: the client must reload.
    pub gap: bool,
    pub live: broadcast::Receiver<Arc<Published>>,
}

struct Ring {
    next_seq: u64,
    recent: VecDeque<Arc<Published>>,
}

/// Cloneable handle of the hub.
#[derive(Clone)]
pub struct EventHub {
    ring: Arc<Mutex<Ring>>,
    tx: broadcast::Sender<Arc<Published>>,
}

impl Default for EventHub {
    fn default() -> Self {
        EventHub::new()
    }
}

impl EventHub {
    pub fn new() -> EventHub {
        EventHub {
            ring: Arc::new(Mutex::new(Ring { next_seq: 1, recent: VecDeque::with_capacity(RING) })),
            tx: broadcast::channel(FAN_OUT).0,
        }
    }

    fn ring(&self) -> std::sync::MutexGuard<'_, Ring> {
        self.ring.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Numbers and sends `event`; never waits for subscribers.
    pub fn publish(&self, event: Event) {
        // The event types serialise infallibly (strings, numbers, options).
        self.send(event, |seq, event| serde_json::to_string(&Numbered { seq, event }).unwrap_or_default());
    }

    /// Passes on an event of `node` (its JSON fields, as that node's clients got them) to
    /// this node's clients, numbered here and marked with the node.
    pub fn relay(&self, node: &str, mut fields: serde_json::Map<String, serde_json::Value>) {
        let session_id = fields.get("session_id").and_then(|id| id.as_str()).map(String::from);
        fields.insert("node".into(), node.into());
        self.send(Event::Relayed { node: node.into(), session_id }, |seq, _| {
            fields.insert("seq".into(), seq.into());
            serde_json::Value::Object(fields).to_string()
        });
    }

    fn send(&self, event: Event, json: impl FnOnce(u64, &Event) -> String) {
        let mut ring = self.ring();
        let seq = ring.next_seq;
        ring.next_seq += 1;
        let json = json(seq, &event);
        let published = Arc::new(Published { seq, event, json });
        if ring.recent.len() == RING {
            ring.recent.pop_front();
        }
        ring.recent.push_back(published.clone());
        // Sent under the lock, so a subscriber's backlog and live feed meet without a gap.
        let _ = self.tx.send(published);
    }

    /// Subscribes; with `since`, the backlog holds the events numbered after it.
    pub fn subscribe(&self, since: Option<u64>) -> Subscription {
        let ring = self.ring();
        let live = self.tx.subscribe();
        let Some(since) = since else {
            return Subscription { backlog: Vec::new(), gap: false, live };
        };
        let oldest = ring.recent.front().map_or(ring.next_seq, |p| p.seq);
        let gap = since.saturating_add(1) < oldest;
        let backlog = ring.recent.iter().filter(|p| p.seq > since).cloned().collect();
        Subscription { backlog, gap, live }
    }

    /// The number the next event will get.
    pub fn next_seq(&self) -> u64 {
        self.ring().next_seq
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn level(n: u64) -> Event {
        Event::Level { session_id: "s".into(), rms: 0.0, peak: 0.0, at_ms: n }
    }

    #[test]
    fn numbers_serialise_and_resume() {
        let hub = EventHub::new();
        let mut first = hub.subscribe(None).live;
        hub.publish(level(0));
        hub.publish(level(1));
        let got = first.try_recv().expect("first event");
        assert_eq!(got.seq, 1);
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&got.json).expect("json"),
            serde_json::json!({"seq": 1, "type": "level", "session_id": "s", "rms": 0.0, "peak": 0.0, "at_ms": 0})
        );
        let resumed = hub.subscribe(Some(1));
        assert!(!resumed.gap);
        assert_eq!(resumed.backlog.iter().map(|p| p.seq).collect::<Vec<_>>(), vec![2]);
        hub.publish(level(2));
        let mut live = resumed.live;
        assert_eq!(live.try_recv().expect("live after backlog").seq, 3);
    }

    #[test]
    fn a_resume_older_than_the_ring_reports_a_gap() {
        let hub = EventHub::new();
        for n in 0..(RING as u64 + 10) {
            hub.publish(level(n));
        }
        let cases = [(0, true), (9, true), (10, false), (RING as u64 + 10, false)];
        for (since, gap) in cases {
            let sub = hub.subscribe(Some(since));
            assert_eq!(sub.gap, gap, "since {since}");
            assert_eq!(sub.backlog.first().map(|p| p.seq), (since < RING as u64 + 10).then(|| since.max(10) + 1));
        }
    }
}
