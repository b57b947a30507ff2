//! The persistent webhook deliveries (`webhooks.sqlite3` in the data dir): one row per event
//! and receiver, with its state, so a delivery survives a receiver that is down and a
//! restart, and the API can show what was sent and why not.

use std::path::Path;
use std::sync::Arc;

use anyhow::Result;
use rusqlite::params;
use serde::Serialize;

/// Schema steps in order; a released step is never edited.
const MIGRATIONS: &[&str] = &["CREATE TABLE deliveries (
        id          TEXT PRIMARY KEY,
        endpoint    TEXT NOT NULL,
        event       TEXT NOT NULL,
        session_id  TEXT,
        payload     TEXT NOT NULL,
        state       TEXT NOT NULL,
        attempts    INTEGER NOT NULL DEFAULT 0,
        created_ms  INTEGER NOT NULL,
        next_ms     INTEGER NOT NULL,
        last_status INTEGER,
        last_error  TEXT,
        done_ms     INTEGER
    );
    CREATE INDEX deliveries_due ON deliveries (state, next_ms);
    CREATE INDEX deliveries_recent ON deliveries (created_ms);"];

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryState {
    /// Waiting for its next attempt.
    Pending,
    Delivered,
    /// Given up: refused, gone, or out of time.
    Failed,
}

impl DeliveryState {
    fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
        }
    }

    fn parse(text: &str) -> DeliveryState {
        match text {
            "delivered" => DeliveryState::Delivered,
            "failed" => DeliveryState::Failed,
            _ => DeliveryState::Pending,
        }
    }
}

/// One event for one receiver.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Delivery {
    /// The `webhook-id`: the same on every attempt, so a receiver drops repeats.
    pub id: String,
    pub endpoint: String,
    pub event: String,
    pub session_id: Option<String>,
    #[serde(skip)]
    pub payload: String,
    pub state: DeliveryState,
    pub attempts: u32,
    pub created_ms: i64,
    pub next_ms: i64,
    /// The receiver's last HTTP status.
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
    pub done_ms: Option<i64>,
}

const COLUMNS: &str = "id, endpoint, event, session_id, payload, state, attempts, created_ms, next_ms, last_status, last_error, done_ms";

fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Delivery> {
    Ok(Delivery {
        id: row.get(0)?,
        endpoint: row.get(1)?,
        event: row.get(2)?,
        session_id: row.get(3)?,
        payload: row.get(4)?,
        state: DeliveryState::parse(&row.get::<_, String>(5)?),
        attempts: row.get(6)?,
        created_ms: row.get(7)?,
        next_ms: row.get(8)?,
        last_status: row.get(9)?,
        last_error: row.get(10)?,
        done_ms: row.get(11)?,
    })
}

/// What an attempt came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Attempted {
    Delivered { status: u16 },
    /// Tried again at `next_ms`.
    Retry { status: Option<u16>, error: String, next_ms: i64 },
    Failed { status: Option<u16>, error: String },
}

/// The queue.
#[derive(Clone)]
pub struct WebhookQueue {
    db: Arc<super::Db>,
}

impl WebhookQueue {
    pub fn open(path: &Path) -> Result<WebhookQueue> {
        Ok(WebhookQueue { db: Arc::new(super::Db::open(path, MIGRATIONS, "webhook")?) })
    }

    /// Adds a delivery, due at once.
    pub fn enqueue(&self, id: &str, endpoint: &str, event: &str, session_id: Option<&str>, payload: &str, now_ms: i64) -> Result<()> {
        self.db.with(|c| {
            c.execute(
                "INSERT OR IGNORE INTO deliveries (id, endpoint, event, session_id, payload, state, attempts, created_ms, next_ms) \
                 VALUES (?1, ?2, ?3, ?4, ?5, 'pending', 0, ?6, ?6)",
                params![id, endpoint, event, session_id, payload, now_ms],
            )
        })?;
        Ok(())
    }

    /// Pending deliveries due by `now_ms`, oldest first.
    pub fn due(&self, now_ms: i64, limit: u32) -> Result<Vec<Delivery>> {
        self.db.with(|c| {
            let sql = format!("SELECT {COLUMNS} FROM deliveries WHERE state = 'pending' AND next_ms <= ?1 ORDER BY next_ms, created_ms LIMIT ?2");
            c.prepare(&sql)?.query_map(params![now_ms, limit], from_row)?.collect()
        })
    }

    /// When the next pending delivery is due.
    pub fn next_due_ms(&self) -> Result<Option<i64>> {
        self.db.with(|c| c.query_row("SELECT MIN(next_ms) FROM deliveries WHERE state = 'pending'", [], |r| r.get(0)))
    }

    /// Records an attempt.
    pub fn attempted(&self, id: &str, outcome: &Attempted, now_ms: i64) -> Result<()> {
        let (state, status, error, next_ms, done_ms) = match outcome {
            Attempted::Delivered { status } => (DeliveryState::Delivered, Some(*status), None, now_ms, Some(now_ms)),
            Attempted::Retry { status, error, next_ms } => (DeliveryState::Pending, *status, Some(error.as_str()), *next_ms, None),
            Attempted::Failed { status, error } => (DeliveryState::Failed, *status, Some(error.as_str()), now_ms, Some(now_ms)),
        };
        self.db.with(|c| {
            c.execute(
                "UPDATE deliveries SET state = ?2, attempts = attempts + 1, last_status = ?3, last_error = ?4, next_ms = ?5, done_ms = ?6 WHERE id = ?1",
                params![id, state.as_str(), status, error, next_ms, done_ms],
            )
        })?;
        Ok(())
    }

    /// The most recent deliveries, newest first.
    pub fn recent(&self, limit: u32) -> Result<Vec<Delivery>> {
        self.db.with(|c| {
            let sql = format!("SELECT {COLUMNS} FROM deliveries ORDER BY created_ms DESC, id LIMIT ?1");
            c.prepare(&sql)?.query_map([limit], from_row)?.collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deliveries_move_from_pending_to_delivered_or_failed_and_survive_a_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("webhooks.sqlite3");
        let queue = WebhookQueue::open(&path).expect("open");
        queue.enqueue("msg_a", "http://a/", "session.completed", Some("s1"), "{}", 100).expect("enqueue");
        queue.enqueue("msg_a", "http://a/", "session.completed", Some("s1"), "{}", 100).expect("a repeat is ignored");
        queue.enqueue("msg_b", "http://b/", "live.started", None, "{}", 200).expect("enqueue");
        assert_eq!(queue.due(150, 10).expect("due").len(), 1);
        queue.attempted("msg_a", &Attempted::Retry { status: Some(503), error: "503".into(), next_ms: 1_000 }, 150).expect("retry");
        assert_eq!(queue.next_due_ms().expect("next"), Some(200));
        queue.attempted("msg_b", &Attempted::Failed { status: None, error: "refused".into() }, 250).expect("failed");
        drop(queue);
        let queue = WebhookQueue::open(&path).expect("reopen");
        let due = queue.due(1_000, 10).expect("due");
        assert_eq!((due.len(), due[0].attempts, due[0].last_status), (1, 1, Some(503)));
        queue.attempted("msg_a", &Attempted::Delivered { status: 204 }, 1_001).expect("delivered");
        let recent = queue.recent(10).expect("recent");
        let states: Vec<(&str, DeliveryState, u32)> = recent.iter().map(|d| (d.id.as_str(), d.state, d.attempts)).collect();
        assert_eq!(states, vec![("msg_b", DeliveryState::Failed, 1), ("msg_a", DeliveryState::Delivered, 2)]);
        assert_eq!(queue.next_due_ms().expect("next"), None);
    }
}
