//! The cluster's tables in its database: the nodes, and the file jobs they share
//! ([`crate::queue::files`]). Nodes starting together take turns through an advisory lock;
//! every statement is one that a second run leaves as it is.

/// The advisory lock key the cluster's migrations hold ("scribeCL" as a big-endian integer).
const MIGRATION_LOCK: i64 = 0x7363_7269_6265_434c;
/// The channel on which a job queued anywhere wakes every node's workers.
pub const JOBS_CHANNEL: &str = "scribe_jobs";

/// The script every node runs once it reaches the database.
pub fn script() -> String {
    format!(
        "BEGIN;
        SELECT pg_advisory_xact_lock({MIGRATION_LOCK});
        CREATE TABLE IF NOT EXISTS cluster_nodes (
            name         TEXT PRIMARY KEY,
            role         TEXT NOT NULL,
            url          TEXT NOT NULL,
            version      TEXT NOT NULL,
            started_ms   BIGINT NOT NULL,
            heartbeat_at TIMESTAMPTZ NOT NULL
        );
        CREATE TABLE IF NOT EXISTS file_jobs (
            id              BIGSERIAL PRIMARY KEY,
            session_id      TEXT NOT NULL,
            sha256          TEXT NOT NULL,
            path            TEXT NOT NULL,
            provider        TEXT,
            state           TEXT NOT NULL,
            attempts        INTEGER NOT NULL DEFAULT 0,
            next_attempt_ms BIGINT NOT NULL DEFAULT 0,
            last_error      TEXT,
            note            TEXT,
            language        TEXT,
            prompt          TEXT,
            heard_language  TEXT,
            version_id      BIGINT,
            owner           TEXT,
            lease_until     TIMESTAMPTZ
        );
        CREATE UNIQUE INDEX IF NOT EXISTS file_jobs_first_by_sha ON file_jobs (sha256) WHERE provider IS NULL;
        CREATE UNIQUE INDEX IF NOT EXISTS file_jobs_active_by_session ON file_jobs (session_id) WHERE state IN ('queued', 'running');
        CREATE INDEX IF NOT EXISTS file_jobs_due ON file_jobs (state, next_attempt_ms);
        CREATE INDEX IF NOT EXISTS file_jobs_by_session ON file_jobs (session_id);
        CREATE OR REPLACE FUNCTION scribe_file_job_queued() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('{JOBS_CHANNEL}', '');
            RETURN NULL;
        END $$;
        CREATE OR REPLACE TRIGGER file_jobs_queued AFTER INSERT OR UPDATE OF state ON file_jobs
            FOR EACH ROW WHEN (NEW.state = 'queued') EXECUTE FUNCTION scribe_file_job_queued();
        COMMIT;"
    )
}
