//! The file-job queue of a daemon that works alone, in its own SQLite database
//! (`jobs.sqlite3` in the data dir). A restart finds every job where it was; a job that was
//! running when the daemon died is queued again on open, and counts that as an attempt.

use std::path::{Path, PathBuf};

use anyhow::Result;
use rusqlite::{OptionalExtension, params};

use super::{Claim, Due, Job, JobAsk, JobState};

/// The queue in its SQLite database.
pub struct LocalJobs {
    db: crate::queue::Db,
}

/// Schema steps in order, tracked in `PRAGMA user_version`; a released step is never edited.
const MIGRATIONS: &[&str] = &[
    // 1: one job per file.
    "CREATE TABLE IF NOT EXISTS jobs (
        id              INTEGER PRIMARY KEY AUTOINCREMENT,
        session_id      TEXT NOT NULL UNIQUE,
        sha256          TEXT NOT NULL UNIQUE,
        path            TEXT NOT NULL,
        state           TEXT NOT NULL,
        attempts        INTEGER NOT NULL DEFAULT 0,
        next_attempt_ms INTEGER NOT NULL DEFAULT 0,
        last_error      TEXT
    );
    CREATE INDEX IF NOT EXISTS jobs_due ON jobs (state, next_attempt_ms);",
    // 2: re-transcriptions: several jobs per session and file, one of them active.
    "CREATE TABLE jobs_v2 (
        id              INTEGER PRIMARY KEY AUTOINCREMENT,
        session_id      TEXT NOT NULL,
        sha256          TEXT NOT NULL,
        path            TEXT NOT NULL,
        provider        TEXT,
        state           TEXT NOT NULL,
        attempts        INTEGER NOT NULL DEFAULT 0,
        next_attempt_ms INTEGER NOT NULL DEFAULT 0,
        last_error      TEXT
    );
    INSERT INTO jobs_v2 (id, session_id, sha256, path, state, attempts, next_attempt_ms, last_error)
        SELECT id, session_id, sha256, path, state, attempts, next_attempt_ms, last_error FROM jobs;
    DROP TABLE jobs;
    ALTER TABLE jobs_v2 RENAME TO jobs;
    CREATE UNIQUE INDEX jobs_first_by_sha ON jobs (sha256) WHERE provider IS NULL;
    CREATE UNIQUE INDEX jobs_active_by_session ON jobs (session_id) WHERE state IN ('queued', 'running');
    CREATE INDEX jobs_due ON jobs (state, next_attempt_ms);",
    // 3: a finished job's note.
    "ALTER TABLE jobs ADD COLUMN note TEXT;",
    // 4: what the client asked of the recogniser.
    "ALTER TABLE jobs ADD COLUMN language TEXT; ALTER TABLE jobs ADD COLUMN prompt TEXT;",
    // 5: the language the recogniser heard.
    "ALTER TABLE jobs ADD COLUMN heard_language TEXT;",
    // 6: the version an attempt started.
    "ALTER TABLE jobs ADD COLUMN version_id INTEGER;",
];

fn job_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Job> {
    Ok(Job {
        id: row.get(0)?,
        session_id: row.get(1)?,
        sha256: row.get(2)?,
        path: PathBuf::from(row.get::<_, String>(3)?),
        provider: row.get(4)?,
        state: JobState::parse(&row.get::<_, String>(5)?),
        attempts: row.get(6)?,
        next_attempt_ms: row.get(7)?,
        last_error: row.get(8)?,
        note: row.get(9)?,
        language: row.get(10)?,
        prompt: row.get(11)?,
        heard_language: row.get(12)?,
        version_id: row.get::<_, Option<i64>>(13)?.and_then(|v| u64::try_from(v).ok()),
    })
}

/// The first job of some bytes is their oldest. It is claimed with no provider (the unique
/// index on those makes concurrent claims of the same bytes have one winner) and may be given
/// one when it is promoted; re-transcriptions come later.
const FIRST: &str = "ORDER BY id LIMIT 1";
/// The next due job: queued, its time come, the longest waiting first.
const DUE: &str = "WHERE state = 'queued' AND next_attempt_ms <= ?1 ORDER BY next_attempt_ms, id LIMIT 1";
const COLUMNS: &str = "id, session_id, sha256, path, provider, state, attempts, next_attempt_ms, last_error, note, language, prompt, heard_language, version_id";

impl LocalJobs {
    /// Opens the queue and requeues jobs that were running when the daemon stopped.
    pub fn open(path: &Path) -> Result<LocalJobs> {
        let db = crate::queue::Db::open(path, MIGRATIONS, "file job")?;
        let requeued = db.with(|c| c.execute("UPDATE jobs SET state = 'queued' WHERE state = 'running'", []))?;
        if requeued > 0 {
            tracing::info!(requeued, "resuming file jobs interrupted by the last stop");
        }
        Ok(LocalJobs { db })
    }


    /// The first job of these bytes, if any: it names their session.
    pub fn by_sha(&self, sha256: &str) -> Result<Option<Job>> {
        self.db.with(|c| c.query_row(&format!("SELECT {COLUMNS} FROM jobs WHERE sha256 = ?1 {FIRST}"), [sha256], job_from_row).optional())
    }

    /// Claims `sha256` for a new file: atomically, either a staged job for `session_id` is
    /// made, or the job that already holds these bytes is returned.
    pub fn claim_bytes(&self, session_id: &str, sha256: &str, path: &Path) -> Result<Claim> {
        self.db.with(|c| {
            let tx = c.unchecked_transaction()?;
            let known = tx
                .query_row(&format!("SELECT {COLUMNS} FROM jobs WHERE sha256 = ?1 {FIRST}"), [sha256], job_from_row)
                .optional()?;
            if let Some(job) = known {
                return Ok(Claim::Known(Box::new(job)));
            }
            tx.execute(
                "INSERT INTO jobs (session_id, sha256, path, state) VALUES (?1, ?2, ?3, 'staged')",
                params![session_id, sha256, path.to_string_lossy()],
            )?;
            let id = tx.last_insert_rowid();
            tx.commit()?;
            Ok(Claim::New(id))
        })
    }

    /// A staged job's session exists now: the job joins the queue, with what the client asked
    /// of it (a provider, a language, a prompt).
    pub fn promote(&self, id: i64, path: &Path, ask: &JobAsk) -> Result<()> {
        self.db.with(|c| {
            c.execute(
                "UPDATE jobs SET state = 'queued', path = ?2, provider = ?3, language = ?4, prompt = ?5 WHERE id = ?1 AND state = 'staged'",
                params![id, path.to_string_lossy(), ask.provider, ask.language, ask.prompt],
            )
        })?;
        Ok(())
    }

    /// Drops a staged job whose session could not be made; the bytes are free again.
    pub fn discard(&self, id: i64) -> Result<()> {
        self.db.with(|c| c.execute("DELETE FROM jobs WHERE id = ?1 AND state = 'staged'", [id]))?;
        Ok(())
    }

    /// Jobs left staged by a stop between claiming the bytes and making the session.
    pub fn staged(&self) -> Result<Vec<Job>> {
        self.db.with(|c| {
            let mut stmt = c.prepare(&format!("SELECT {COLUMNS} FROM jobs WHERE state = 'staged' ORDER BY id"))?;
            stmt.query_map([], job_from_row)?.collect::<rusqlite::Result<Vec<_>>>()
        })
    }

    /// Queues a job. Fails when the bytes already have a first job (`provider` none) or the
    /// session already has a job queued or running.
    pub fn insert(&self, session_id: &str, sha256: &str, path: &Path, provider: Option<&str>) -> Result<()> {
        self.db.with(|c| {
            c.execute(
                "INSERT INTO jobs (session_id, sha256, path, provider, state) VALUES (?1, ?2, ?3, ?4, 'queued')",
                params![session_id, sha256, path.to_string_lossy(), provider],
            )
        })?;
        Ok(())
    }

    /// Jobs waiting or running.
    pub fn pending(&self) -> Result<u64> {
        self.db.with(|c| c.query_row("SELECT COUNT(*) FROM jobs WHERE state IN ('queued', 'running')", [], |r| r.get::<_, i64>(0)))
            .map(|n| n.unsigned_abs())
    }

    /// Forgets a deleted session's jobs.
    pub fn delete_session(&self, session_id: &str) -> Result<()> {
        self.db.with(|c| c.execute("DELETE FROM jobs WHERE session_id = ?1", [session_id]))?;
        Ok(())
    }

    /// Takes the next due job and marks it running, its attempt counted (and durable)
    /// before any work starts. A job already tried `max_attempts` times is one the daemon
    /// stopped during, every time (a retry is only queued while attempts are left): it is
    /// failed instead.
    pub fn claim_due(&self, now_ms: i64, max_attempts: u32) -> Result<Option<Due>> {
        self.db.with(|c| {
            let Some(job) = c
                .query_row(
                    &format!("SELECT {COLUMNS} FROM jobs {DUE}"),
                    [now_ms],
                    job_from_row,
                )
                .optional()?
            else {
                return Ok(None);
            };
            if job.attempts >= max_attempts {
                let reason = format!(
                    "the daemon stopped while working on this file {} times (the file may crash it); given up",
                    job.attempts
                );
                c.execute("UPDATE jobs SET state = 'failed', last_error = ?2 WHERE id = ?1", params![job.id, reason])?;
                return Ok(Some(Due::GivenUp(Job { state: JobState::Failed, last_error: Some(reason), ..job })));
            }
            c.execute("UPDATE jobs SET state = 'running', attempts = attempts + 1 WHERE id = ?1", [job.id])?;
            Ok(Some(Due::Run(Job { state: JobState::Running, attempts: job.attempts + 1, ..job })))
        })
    }

    /// The job [`LocalJobs::claim_due`] would take now, left queued.
    pub fn peek_due(&self, now_ms: i64) -> Result<Option<Job>> {
        self.db.with(|c| {
            c.query_row(
                &format!("SELECT {COLUMNS} FROM jobs {DUE}"),
                [now_ms],
                job_from_row,
            )
            .optional()
        })
    }

    /// The earliest time a queued job becomes due.
    pub fn next_due_ms(&self) -> Result<Option<i64>> {
        self.db.with(|c| c.query_row("SELECT MIN(next_attempt_ms) FROM jobs WHERE state = 'queued'", [], |r| r.get(0)))
    }

    /// Marks a job done, with what its transcription said of itself and the language heard.
    pub fn started_version(&self, id: i64, version_id: u64) -> Result<()> {
        let version_id = i64::try_from(version_id)?;
        self.db.with(|c| c.execute("UPDATE jobs SET version_id = ?2 WHERE id = ?1", params![id, version_id]))?;
        Ok(())
    }

    pub fn finish_done(&self, id: i64, note: Option<&str>, heard_language: Option<&str>) -> Result<()> {
        self.db.with(|c| {
            c.execute("UPDATE jobs SET state = 'done', last_error = NULL, note = ?2, heard_language = ?3 WHERE id = ?1", params![id, note, heard_language])
        })?;
        Ok(())
    }

    pub fn finish(&self, id: i64, state: JobState, error: Option<&str>) -> Result<()> {
        self.db.with(|c| c.execute("UPDATE jobs SET state = ?2, last_error = ?3 WHERE id = ?1", params![id, state.as_str(), error]))?;
        Ok(())
    }

    /// Puts a job back in the queue to run again at `at_ms`.
    pub fn retry_at(&self, id: i64, at_ms: i64, error: &str) -> Result<()> {
        self.db.with(|c| {
            c.execute(
                "UPDATE jobs SET state = 'queued', next_attempt_ms = ?2, last_error = ?3 WHERE id = ?1",
                params![id, at_ms, error],
            )
        })?;
        Ok(())
    }

    /// The session's latest job.
    pub fn get(&self, session_id: &str) -> Result<Option<Job>> {
        self.db.with(|c| {
            c.query_row(
                &format!("SELECT {COLUMNS} FROM jobs WHERE session_id = ?1 ORDER BY id DESC LIMIT 1"),
                [session_id],
                job_from_row,
            )
            .optional()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(due: Option<Due>, what: &str) -> Job {
        match due {
            Some(Due::Run(job)) => job,
            other => panic!("{what}: expected a job to run, got {other:?}"),
        }
    }

    #[test]
    fn claim_retry_and_resume_after_a_crash() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("jobs.sqlite3");
        let store = LocalJobs::open(&path).expect("open");
        store.insert("s1", "aa", Path::new("/a"), None).expect("insert");
        store.insert("s2", "bb", Path::new("/b"), None).expect("insert");
        assert!(store.insert("s3", "aa", Path::new("/c"), None).is_err(), "same bytes, second job refused");

        let first = run(store.claim_due(0, 5).expect("claim"), "job");
        assert_eq!((first.session_id.as_str(), first.attempts, first.state), ("s1", 1, JobState::Running));
        store.retry_at(first.id, 5_000, "rate limited").expect("retry");
        let second = run(store.claim_due(0, 5).expect("claim"), "job");
        assert_eq!(second.session_id, "s2");
        assert!(store.claim_due(4_999, 5).expect("claim").is_none(), "s1 not due yet, s2 running");
        assert_eq!(store.next_due_ms().expect("due"), Some(5_000));
        store.started_version(second.id, 41).expect("version started");
        drop(store);

        // The daemon died with s2 running: it is queued again on open, with the version its
        // attempt started.
        let store = LocalJobs::open(&path).expect("reopen");
        let resumed = run(store.claim_due(0, 5).expect("claim"), "job");
        assert_eq!((resumed.session_id.as_str(), resumed.attempts, resumed.version_id), ("s2", 2, Some(41)));
        store.finish(resumed.id, JobState::Done, None).expect("finish");
        let again = run(store.claim_due(10_000, 5).expect("claim"), "job");
        assert_eq!((again.session_id.as_str(), again.attempts, again.last_error.as_deref()), ("s1", 2, Some("rate limited")));
        store.finish(again.id, JobState::Failed, Some("bad audio")).expect("finish");
        assert!(store.claim_due(i64::MAX, 5).expect("claim").is_none());
        assert_eq!(store.get("s1").expect("get").map(|j| j.state), Some(JobState::Failed));

        // A re-transcription: a second job for the same session and bytes, one active at a time.
        store.insert("s1", "aa", Path::new("/a"), Some("other-stt")).expect("re-transcription queued");
        assert!(store.insert("s1", "aa", Path::new("/a"), Some("other-stt")).is_err(), "one active job per session");
        let redo = run(store.claim_due(i64::MAX, 5).expect("claim"), "job");
        assert_eq!((redo.session_id.as_str(), redo.provider.as_deref(), redo.attempts), ("s1", Some("other-stt"), 1));
        assert_eq!(store.by_sha("aa").expect("by sha").map(|j| j.provider), Some(None), "bytes still name their first job");
        store.delete_session("s1").expect("delete");
        assert!(store.by_sha("aa").expect("by sha").is_none());
    }

    #[test]
    fn a_version_one_queue_is_migrated() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("jobs.sqlite3");
        let conn = rusqlite::Connection::open(&path).expect("open");
        conn.execute_batch(MIGRATIONS[0]).expect("v1 schema");
        conn.execute("INSERT INTO jobs (session_id, sha256, path, state, attempts) VALUES ('s1', 'aa', '/a', 'running', 2)", [])
            .expect("v1 row");
        drop(conn);
        let store = LocalJobs::open(&path).expect("migrates");
        let job = run(store.claim_due(0, 5).expect("claim"), "the old job survives");
        assert_eq!((job.session_id.as_str(), job.attempts, job.provider), ("s1", 3, None));
    }

    #[test]
    fn concurrent_claims_of_the_same_bytes_have_one_winner() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = LocalJobs::open(&dir.path().join("jobs.sqlite3")).expect("open");
        let claims: Vec<Claim> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..50)
                .map(|i| {
                    let store = &store;
                    scope.spawn(move || store.claim_bytes(&format!("s{i}"), "same", Path::new("/a")).expect("claim"))
                })
                .collect();
            handles.into_iter().map(|h| h.join().expect("thread")).collect()
        });
        let winners: Vec<i64> = claims.iter().filter_map(|c| if let Claim::New(id) = c { Some(*id) } else { None }).collect();
        assert_eq!(winners.len(), 1, "{claims:?}");
        for claim in &claims {
            if let Claim::Known(job) = claim {
                assert_eq!((job.id, job.state), (winners[0], JobState::Staged), "losers are told the winner's job");
            }
        }
        assert!(store.claim_due(i64::MAX, 5).expect("claim").is_none(), "a staged job is not workable");
        assert_eq!(store.staged().expect("staged").len(), 1);
        store.promote(winners[0], Path::new("/stored"), &JobAsk::default()).expect("promote");
        let job = run(store.claim_due(i64::MAX, 5).expect("claim"), "promoted");
        assert_eq!(job.path, Path::new("/stored"));

        // A claim whose session could not be made frees the bytes.
        let Claim::New(id) = store.claim_bytes("t1", "other", Path::new("/b")).expect("claim") else { panic!("new bytes") };
        store.discard(id).expect("discard");
        assert!(matches!(store.claim_bytes("t2", "other", Path::new("/b")).expect("claim"), Claim::New(_)));
    }

    #[test]
    fn a_file_that_stops_the_daemon_every_time_is_given_up() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("jobs.sqlite3");
        let store = LocalJobs::open(&path).expect("open");
        store.insert("s1", "aa", Path::new("/a"), None).expect("insert");
        // Claimed, and the daemon dies before the job ends: three times with three attempts.
        for attempt in 1..=3 {
            let job = run(LocalJobs::open(&path).expect("reopen").claim_due(0, 3).expect("claim"), "interrupted job");
            assert_eq!(job.attempts, attempt);
        }
        let store = LocalJobs::open(&path).expect("reopen");
        match store.claim_due(0, 3).expect("claim") {
            Some(Due::GivenUp(job)) => {
                let reason = job.last_error.unwrap_or_default();
                assert!(reason.contains("stopped while working on this file 3 times"), "{reason}");
            }
            other => panic!("expected the job to be given up, got {other:?}"),
        }
        assert_eq!(store.get("s1").expect("get").map(|j| j.state), Some(JobState::Failed));
        assert!(store.claim_due(i64::MAX, 3).expect("claim").is_none());
    }
}
