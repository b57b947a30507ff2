//! Which events cross to the other nodes, and their NOTIFY payloads: what a browser on one
//! node wants to see of work done on another (a job's progress and end, a session changing, a
//! summary's status, a live session's status, the inbox's outcome). Level meters and live
//! words stay on the node that captures them; disk, backup and index events are about the
//! node itself.

use crate::sinks::events::{Event, Published, SummaryStatus};

/// The channel every node listens on.
pub const CHANNEL: &str = "scribe_events";
/// PostgreSQL refuses a NOTIFY payload of 8,000 bytes or more; an event that does not fit
/// (a job message quoting a long error) is not passed on, and the library stays the truth.
const MAX_PAYLOAD: usize = 7_900;

/// The payload that passes `published` on to the other nodes, when it is for them.
pub fn outgoing(node: &str, published: &Published) -> Option<String> {
    let crosses = match &published.event {
        Event::Job { .. } | Event::Library { .. } | Event::Live { .. } | Event::InboxFile { .. } => true,
        // A summary being written sends its whole text with each part: only its status goes.
        Event::Summary { status, .. } => *status != SummaryStatus::Partial,
        _ => false,
    };
    if !crosses {
        return None;
    }
    let payload = serde_json::json!({ "node": node, "event": serde_json::from_str::<serde_json::Value>(&published.json).ok()? }).to_string();
    (payload.len() <= MAX_PAYLOAD).then_some(payload)
}

/// An event another node sent.
#[derive(Debug, PartialEq)]
pub struct Incoming {
    pub node: String,
    /// Its fields, without the sending node's sequence number.
    pub fields: serde_json::Map<String, serde_json::Value>,
}

impl Incoming {
    /// Whether it says the library changed (this node's index then catches up).
    pub fn changes_library(&self) -> bool {
        self.fields.get("type").and_then(|t| t.as_str()) == Some("library")
    }
}

/// Reads a payload; `None` for this node's own events (every listener gets them back) and
/// for anything that is not an event.
pub fn incoming(own: &str, payload: &str) -> Option<Incoming> {
    let serde_json::Value::Object(mut message) = serde_json::from_str(payload).ok()? else { return None };
    let node = message.get("node")?.as_str()?.to_string();
    let serde_json::Value::Object(mut fields) = message.remove("event")? else { return None };
    if node == own || !fields.get("type").is_some_and(|t| t.is_string()) {
        return None;
    }
    fields.remove("seq");
    Some(Incoming { node, fields })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sinks::events::{EventHub, JobStatus, LibraryChange};

    fn published(event: Event) -> std::sync::Arc<Published> {
        let hub = EventHub::new();
        let mut live = hub.subscribe(None).live;
        hub.publish(event);
        live.try_recv().expect("published")
    }

    #[test]
    fn jobs_and_library_changes_cross_and_come_back_as_the_senders() {
        let job = published(Event::Job { session_id: "s1".into(), status: JobStatus::Complete, message: None, progress: None });
        let payload = outgoing("nas", &job).expect("a job crosses");
        assert_eq!(incoming("nas", &payload), None, "a node's own events are not relayed back to it");
        let seen = incoming("desktop", &payload).expect("read by another node");
        assert_eq!(seen.node, "nas");
        assert_eq!(seen.fields["status"], "complete");
        assert!(!seen.fields.contains_key("seq"), "the receiving node numbers it");
        assert!(!seen.changes_library());
        let change = published(Event::Library { session_id: "s1".into(), change: LibraryChange::Updated });
        assert!(incoming("desktop", &outgoing("nas", &change).expect("crosses")).expect("read").changes_library());
    }

    #[test]
    fn node_local_and_oversized_events_stay_home() {
        let level = published(Event::Level { session_id: "s".into(), rms: 0.1, peak: 0.2, at_ms: 0 });
        assert_eq!(outgoing("nas", &level), None);
        let storage = published(Event::Storage { free_mb: 1, min_free_mb: 2, low: true });
        assert_eq!(outgoing("nas", &storage), None);
        let long = published(Event::Job { session_id: "s".into(), status: JobStatus::Error, message: Some("x".repeat(MAX_PAYLOAD)), progress: None });
        assert_eq!(outgoing("nas", &long), None);
    }

    #[test]
    fn hostile_payloads_are_ignored() {
        for payload in ["", "null", "[]", r#"{"node":"a"}"#, r#"{"node":1,"event":{"type":"job"}}"#, r#"{"node":"a","event":{"no":"type"}}"#, r#"{"node":"a","event":"job"}"#] {
            assert_eq!(incoming("b", payload), None, "{payload}");
        }
    }
}
