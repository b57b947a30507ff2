//! What retention knows of each session's audio (`retention.sqlite3` in the data dir): which
//! sessions are pinned, whose audio was removed (when, and how much it freed) and whose
//! original was replaced by its canonical copy. The host owns the audio bytes, so their
//! lifecycle is recorded here, next to the other host databases, and not in the store
//! plugin's schema.

use std::path::Path;

use anyhow::Result;
use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use crate::queue::Db;

/// Schema steps in order; a released step is never edited.
const MIGRATIONS: &[&str] = &["CREATE TABLE pins (
        session_id  TEXT PRIMARY KEY,
        pinned_ms   INTEGER NOT NULL
    );
    CREATE TABLE removed (
        session_id  TEXT PRIMARY KEY,
        sha256      TEXT NOT NULL,
        bytes       INTEGER NOT NULL,
        reason      TEXT NOT NULL,
        removed_ms  INTEGER NOT NULL
    );
    CREATE TABLE reduced (
        session_id       TEXT PRIMARY KEY,
        original_sha256  TEXT NOT NULL,
        original_bytes   INTEGER NOT NULL,
        reduced_ms       INTEGER NOT NULL
    );"];

/// A session's removed audio.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Removed {
    #[serde(skip)]
    pub sha256: String,
    pub bytes: u64,
    /// Which rule removed it, in words.
    pub reason: String,
    pub removed_ms: i64,
}

impl Removed {
    /// The UTC day it was removed, `YYYY-MM-DD`.
    pub fn day(&self) -> String {
        let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(self.removed_ms.max(0).unsigned_abs());
        humantime::format_rfc3339_seconds(at).to_string().chars().take("YYYY-MM-DD".len()).collect()
    }
}

/// The records.
pub struct AudioRecords {
    db: Db,
}

impl AudioRecords {
    pub fn open(path: &Path) -> Result<AudioRecords> {
        Ok(AudioRecords { db: Db::open(path, MIGRATIONS, "retention")? })
    }

    pub fn set_pinned(&self, session_id: &str, pinned: bool, now_ms: i64) -> Result<()> {
        self.db.with(|conn| {
            if pinned {
                conn.execute("INSERT OR IGNORE INTO pins (session_id, pinned_ms) VALUES (?1, ?2)", params![session_id, now_ms])?;
            } else {
                conn.execute("DELETE FROM pins WHERE session_id = ?1", [session_id])?;
            }
            Ok(())
        })
    }

    pub fn pinned(&self, session_id: &str) -> Result<bool> {
        self.db.with(|conn| {
            conn.query_row("SELECT 1 FROM pins WHERE session_id = ?1", [session_id], |_| Ok(())).optional().map(|r| r.is_some())
        })
    }

    /// Every pinned session.
    pub fn all_pinned(&self) -> Result<std::collections::HashSet<String>> {
        self.db.with(|conn| {
            let mut stmt = conn.prepare("SELECT session_id FROM pins")?;
            stmt.query_map([], |row| row.get(0))?.collect()
        })
    }

    pub fn mark_removed(&self, session_id: &str, removed: &Removed) -> Result<()> {
        self.db.with(|conn| {
            conn.execute(
                "INSERT OR REPLACE INTO removed (session_id, sha256, bytes, reason, removed_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![session_id, removed.sha256, removed.bytes as i64, removed.reason, removed.removed_ms],
            )?;
            Ok(())
        })
    }

    pub fn removed(&self, session_id: &str) -> Result<Option<Removed>> {
        self.db.with(|conn| {
            conn.query_row(
                "SELECT sha256, bytes, reason, removed_ms FROM removed WHERE session_id = ?1",
                [session_id],
                |row| {
                    Ok(Removed {
                        sha256: row.get(0)?,
                        bytes: u64::try_from(row.get::<_, i64>(1)?).unwrap_or(0),
                        reason: row.get(2)?,
                        removed_ms: row.get(3)?,
                    })
                },
            )
            .optional()
        })
    }

    /// Every session whose audio was removed.
    pub fn all_removed(&self) -> Result<std::collections::HashSet<String>> {
        self.db.with(|conn| {
            let mut stmt = conn.prepare("SELECT session_id FROM removed")?;
            stmt.query_map([], |row| row.get(0))?.collect()
        })
    }

    /// Records that the session's original (`sha256`, `bytes`) gave way to its canonical copy.
    pub fn mark_reduced(&self, session_id: &str, sha256: &str, bytes: u64, now_ms: i64) -> Result<()> {
        self.db.with(|conn| {
            conn.execute(
                "INSERT OR REPLACE INTO reduced (session_id, original_sha256, original_bytes, reduced_ms) VALUES (?1, ?2, ?3, ?4)",
                params![session_id, sha256, bytes as i64, now_ms],
            )?;
            Ok(())
        })
    }

    /// Every session that keeps only its canonical copy, or whose original was found to be
    /// the smaller one (then `original_bytes` is 0: nothing was replaced).
    pub fn all_reduced(&self) -> Result<std::collections::HashSet<String>> {
        self.db.with(|conn| {
            let mut stmt = conn.prepare("SELECT session_id FROM reduced")?;
            stmt.query_map([], |row| row.get(0))?.collect()
        })
    }

    /// Forgets a deleted session.
    pub fn forget(&self, session_id: &str) -> Result<()> {
        self.db.with(|conn| {
            for table in ["pins", "removed", "reduced"] {
                conn.execute(&format!("DELETE FROM {table} WHERE session_id = ?1"), [session_id])?;
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_removals_and_forgetting() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("retention.sqlite3");
        let records = AudioRecords::open(&path).expect("open");
        records.set_pinned("a", true, 5).expect("pin");
        records.set_pinned("a", true, 9).expect("pin twice");
        records.set_pinned("b", true, 5).expect("pin");
        records.set_pinned("b", false, 6).expect("unpin");
        assert!(records.pinned("a").expect("read"));
        assert!(!records.pinned("b").expect("read"));
        let removed = Removed { sha256: "ab".into(), bytes: 10, reason: "older than 3 days".into(), removed_ms: 7 };
        records.mark_removed("c", &removed).expect("mark");
        drop(records);

        let records = AudioRecords::open(&path).expect("reopen");
        assert_eq!(records.removed("c").expect("read"), Some(removed));
        let day = Removed { removed_ms: 1_796_601_600_000, ..records.removed("c").expect("read").expect("some") };
        assert_eq!(day.day(), "2026-12-07");
        assert_eq!(records.all_pinned().expect("read").into_iter().collect::<Vec<_>>(), vec!["a".to_string()]);
        records.forget("c").expect("forget");
        assert_eq!(records.removed("c").expect("read"), None);
    }
}
