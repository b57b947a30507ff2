//! Persistent work queues, each in its own SQLite database in the data dir: what is waiting,
//! running, retried or given up survives a crash or a restart. [`files`] holds the file
//! jobs (one per transcription), [`summaries`] the summary requests, [`webhooks`] the webhook
//! deliveries; each keeps its database
//! in a [`Db`], which makes every commit durable and applies their schema.

pub mod files;
pub mod summaries;
pub mod webhooks;

use std::path::Path;
use std::sync::Mutex;

use anyhow::{Context, Result};
use rusqlite::Connection;

/// One queue's database, shared by its workers.
pub struct Db {
    conn: Mutex<Connection>,
    /// What the queue holds, for errors.
    name: &'static str,
}

impl Db {
    /// Opens a queue database: WAL, every commit durable (a queue decides what runs again
    /// after a crash), schema `steps` applied in order and tracked in `PRAGMA user_version`.
    pub fn open(path: &Path, steps: &[&str], name: &'static str) -> Result<Db> {
        let mut conn = Connection::open(path).with_context(|| format!("opening {}", path.display()))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        migrate(&mut conn, steps).with_context(|| format!("migrating {}", path.display()))?;
        Ok(Db { conn: Mutex::new(conn), name })
    }

    /// Runs `f` on the connection. A worker that panicked while holding it leaves an error
    /// for the next caller, not a second panic.
    pub fn with<R>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<R>) -> Result<R> {
        let conn = self.conn.lock().map_err(|_| anyhow::anyhow!("the {} queue is poisoned", self.name))?;
        Ok(f(&conn)?)
    }
}

fn migrate(conn: &mut Connection, steps: &[&str]) -> rusqlite::Result<()> {
    let applied: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    for (index, step) in steps.iter().enumerate().skip(usize::try_from(applied).unwrap_or(0)) {
        let tx = conn.transaction()?;
        tx.execute_batch(step)?;
        tx.pragma_update(None, "user_version", index as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}
