//! The cluster's tables in its database. Nodes starting together take turns through an
//! advisory lock; every statement is one that a second run leaves as it is.

/// The advisory lock key the cluster's migrations hold ("scribeCL" as a big-endian integer).
const MIGRATION_LOCK: i64 = 0x7363_7269_6265_434c;

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
        COMMIT;"
    )
}
