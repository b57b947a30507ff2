//! The persistent summary queue (`summaries.sqlite3` in the data dir): one row per session
//! with the state of its latest summary request, so a request survives a restart, and the
//! API can say why a session has no summary (failed, nothing to summarise).

use std::path::Path;
use std::sync::Arc;

use anyhow::Result;
use rusqlite::{OptionalExtension, params};
use serde::Serialize;


/// Schema steps in order; a released step is never edited.
const MIGRATIONS: &[&str] = &["CREATE TABLE summary_jobs (
        session_id  TEXT PRIMARY KEY,
        template    TEXT,
        state       TEXT NOT NULL,
        attempts    INTEGER NOT NULL DEFAULT 0,
        message     TEXT,
        updated_ms  INTEGER NOT NULL
    );
    CREATE INDEX summary_jobs_state ON summary_jobs (state, updated_ms);"];

/// Times a summary is started before a restart stops retrying it: a request that crashes the
/// daemon must not do so forever.
const MAX_STARTS: u32 = 3;

/// Where a session's summary request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SummaryState {
    Queued,
    Running,
    Done,
    Failed,
    /// The transcript had too little in it; no provider was asked.
    Empty,
}

impl SummaryState {
    fn as_str(self) -> &'static str {
        match self {
            SummaryState::Queued => "queued",
            SummaryState::Running => "running",
            SummaryState::Done => "done",
            SummaryState::Failed => "failed",
            SummaryState::Empty => "empty",
        }
    }

    fn parse(text: &str) -> SummaryState {
        match text {
            "running" => SummaryState::Running,
            "done" => SummaryState::Done,
            "failed" => SummaryState::Failed,
            "empty" => SummaryState::Empty,
            _ => SummaryState::Queued,
        }
    }

    /// Whether the request is still to be worked on.
    pub fn active(self) -> bool {
        matches!(self, SummaryState::Queued | SummaryState::Running)
    }
}

/// A session's summary request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SummaryJob {
    #[serde(skip)]
    pub session_id: String,
    pub template: Option<String>,
    pub state: SummaryState,
    #[serde(skip)]
    pub attempts: u32,
    pub message: Option<String>,
    pub updated_ms: i64,
}

fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<SummaryJob> {
    Ok(SummaryJob {
        session_id: row.get(0)?,
        template: row.get(1)?,
        state: SummaryState::parse(&row.get::<_, String>(2)?),
        attempts: row.get(3)?,
        message: row.get(4)?,
        updated_ms: row.get(5)?,
    })
}

const COLUMNS: &str = "session_id, template, state, attempts, message, updated_ms";

/// The queue.
#[derive(Clone)]
pub struct SummaryQueue {
    db: Arc<super::Db>,
}

impl SummaryQueue {
    /// Opens the queue; requests that were running when the daemon stopped are queued again,
    /// unless they have been started too often.
    pub fn open(path: &Path) -> Result<SummaryQueue> {
        let db = super::Db::open(path, MIGRATIONS, "summary")?;
        let requeued = db.with(|c| {
            c.execute(
                "UPDATE summary_jobs SET state = 'failed', message = 'stopped: the daemon stopped while writing this summary too many times' \
                 WHERE state = 'running' AND attempts >= ?1",
                [MAX_STARTS],
            )?;
            c.execute("UPDATE summary_jobs SET state = 'queued' WHERE state = 'running'", [])
        })?;
        if requeued > 0 {
            tracing::info!(requeued, "resuming summaries interrupted by the last stop");
        }
        Ok(SummaryQueue { db: Arc::new(db) })
    }


    /// Requests waiting or being written.
    pub fn pending(&self) -> Result<u64> {
        self.db.with(|c| c.query_row("SELECT COUNT(*) FROM summary_jobs WHERE state IN ('queued', 'running')", [], |r| r.get::<_, i64>(0)))
            .map(|n| n.unsigned_abs())
    }

    /// Queues a request, replacing a finished one. False when one is already queued or
    /// running for the session.
    pub fn enqueue(&self, session_id: &str, template: Option<&str>, now_ms: i64) -> Result<bool> {
        let changed = self.db.with(|c| {
            c.execute(
                "INSERT INTO summary_jobs (session_id, template, state, attempts, message, updated_ms) \
                 VALUES (?1, ?2, 'queued', 0, NULL, ?3) \
                 ON CONFLICT (session_id) DO UPDATE SET template = ?2, state = 'queued', attempts = 0, message = NULL, updated_ms = ?3 \
                 WHERE state NOT IN ('queued', 'running')",
                params![session_id, template, now_ms],
            )
        })?;
        Ok(changed > 0)
    }

    /// Takes the oldest queued request and marks it running.
    pub fn claim(&self, now_ms: i64) -> Result<Option<SummaryJob>> {
        self.db.with(|c| {
            let job = c
                .query_row(
                    &format!("SELECT {COLUMNS} FROM summary_jobs WHERE state = 'queued' ORDER BY updated_ms, session_id LIMIT 1"),
                    [],
                    from_row,
                )
                .optional()?;
            if let Some(job) = &job {
                c.execute(
                    "UPDATE summary_jobs SET state = 'running', attempts = attempts + 1, updated_ms = ?2 WHERE session_id = ?1",
                    params![job.session_id, now_ms],
                )?;
            }
            Ok(job.map(|j| SummaryJob { state: SummaryState::Running, attempts: j.attempts + 1, updated_ms: now_ms, ..j }))
        })
    }

    /// Records how a request ended.
    pub fn finish(&self, session_id: &str, state: SummaryState, message: Option<&str>, now_ms: i64) -> Result<()> {
        self.db.with(|c| {
            c.execute(
                "UPDATE summary_jobs SET state = ?2, message = ?3, updated_ms = ?4 WHERE session_id = ?1",
                params![session_id, state.as_str(), message, now_ms],
            )
        })?;
        Ok(())
    }

    /// Progress text of a running request ("part 2 of 5").
    pub fn note(&self, session_id: &str, message: &str) -> Result<()> {
        self.db.with(|c| c.execute("UPDATE summary_jobs SET message = ?2 WHERE session_id = ?1", params![session_id, message]))?;
        Ok(())
    }

    pub fn get(&self, session_id: &str) -> Result<Option<SummaryJob>> {
        self.db.with(|c| {
            c.query_row(&format!("SELECT {COLUMNS} FROM summary_jobs WHERE session_id = ?1"), [session_id], from_row)
                .optional()
        })
    }

    /// Forgets a deleted session.
    pub fn delete(&self, session_id: &str) -> Result<()> {
        self.db.with(|c| c.execute("DELETE FROM summary_jobs WHERE session_id = ?1", [session_id]))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_run_once_at_a_time_and_resume_after_a_crash() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("summaries.sqlite3");
        let queue = SummaryQueue::open(&path).expect("open");
        assert!(queue.enqueue("s1", None, 10).expect("enqueue"));
        assert!(queue.enqueue("s2", Some("standup"), 20).expect("enqueue"));
        assert!(!queue.enqueue("s1", Some("other"), 30).expect("enqueue"), "s1 is already queued");

        let first = queue.claim(40).expect("claim").expect("job");
        assert_eq!((first.session_id.as_str(), first.state, first.attempts), ("s1", SummaryState::Running, 1));
        assert!(!queue.enqueue("s1", None, 50).expect("enqueue"), "s1 is running");
        queue.finish("s1", SummaryState::Failed, Some("Anthropic rejected the API key"), 60).expect("finish");
        assert!(queue.enqueue("s1", Some("standup"), 70).expect("enqueue"), "a failed summary can be asked for again");
        assert_eq!(queue.get("s1").expect("get").map(|j| (j.state, j.template, j.message)), Some((SummaryState::Queued, Some("standup".into()), None)));

        let second = queue.claim(80).expect("claim").expect("job");
        assert_eq!((second.session_id.as_str(), second.template.as_deref()), ("s2", Some("standup")));
        drop(queue);

        // The daemon died with s2 running: it is queued again, until it has been started too often.
        for start in 1..MAX_STARTS {
            let queue = SummaryQueue::open(&path).expect("reopen");
            assert_eq!(queue.get("s2").expect("get").map(|j| j.state), Some(SummaryState::Queued), "start {start}");
            while queue.claim(90).expect("claim").is_some_and(|j| j.session_id != "s2") {}
        }
        let queue = SummaryQueue::open(&path).expect("reopen");
        let s2 = queue.get("s2").expect("get").expect("row");
        assert_eq!(s2.state, SummaryState::Failed, "{s2:?}");
        queue.delete("s2").expect("delete");
        assert!(queue.get("s2").expect("get").is_none());
    }
}
