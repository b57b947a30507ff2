//! The file-job queue every node of a cluster shares, in the cluster's PostgreSQL database
//! (table `file_jobs`, made with the cluster's other tables in [`crate::cluster::schema`]).
//!
//! A node claims the oldest due job its plugins can run with `FOR UPDATE SKIP LOCKED`, so
//! two nodes never take the same one. The claim is a lease: the job names its node, and it
//! lapses once the lease's first term has passed and that node has stopped saying it is
//! alive (its heartbeat in `cluster_nodes` is older than `cluster.node_timeout_secs`).
//! Another node then takes the job over, counting the attempt, so a file that kills every
//! node that touches it is given up like on a single daemon. A node that starts again under
//! its name queues at once the jobs it was running. Every job queued wakes the nodes through
//! NOTIFY (the cluster's listener passes it on); the workers also look again every heartbeat,
//! for leases that lapsed.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use deadpool_postgres::{Object, Pool};
use tokio::sync::OnceCell;

use super::{Claim, Due, Job, JobAsk, JobState, Runnable};
use crate::cluster::Cluster;

/// Connections one node's queue keeps: its workers each hold one for a statement at a time,
/// and submissions and status requests share the rest.
const POOL_SIZE: usize = 4;
/// Tries at claiming some bytes when the job that held them goes between the two looks.
const CLAIM_TRIES: usize = 3;

const COLUMNS: &str = "j.id, j.session_id, j.sha256, j.path, j.provider, j.state, j.attempts, j.next_attempt_ms, \
                       j.last_error, j.note, j.language, j.prompt, j.heard_language, j.version_id";

/// The jobs this node may claim: `$1` now (ms), `$2` the loaded plugins, `$3` whether the
/// node's own choice for files is loaded, `$4` the node timeout (s). A running job is
/// claimable once its lease's first term is over and its node has gone quiet.
const CLAIMABLE: &str = "(j.provider = ANY($2) OR (j.provider IS NULL AND $3)) AND (\
        (j.state = 'queued' AND j.next_attempt_ms <= $1) \
        OR (j.state = 'running' AND j.lease_until < clock_timestamp() AND NOT EXISTS (\
            SELECT 1 FROM cluster_nodes n WHERE n.name = j.owner \
            AND n.heartbeat_at > clock_timestamp() - make_interval(secs => $4))))";
/// The longest waiting first.
const OLDEST: &str = "ORDER BY j.next_attempt_ms, j.id LIMIT 1";

/// The queue as one node sees it.
pub struct SharedJobs {
    pool: Pool,
    node: String,
    runnable: Runnable,
    /// A node gone quiet this long has lost its claims; also a claim's first term.
    node_timeout: Duration,
    /// How often the node says it is alive: how often idle workers look for lapsed leases.
    heartbeat: Duration,
    /// Set once the tables exist and this node's own interrupted jobs are queued again.
    ready: OnceCell<()>,
}

fn job_from_row(row: &tokio_postgres::Row) -> Result<Job, tokio_postgres::Error> {
    Ok(Job {
        id: row.try_get(0)?,
        session_id: row.try_get(1)?,
        sha256: row.try_get(2)?,
        path: row.try_get::<_, String>(3)?.into(),
        provider: row.try_get(4)?,
        state: JobState::parse(row.try_get(5)?),
        attempts: u32::try_from(row.try_get::<_, i32>(6)?).unwrap_or(0),
        next_attempt_ms: row.try_get(7)?,
        last_error: row.try_get(8)?,
        note: row.try_get(9)?,
        language: row.try_get(10)?,
        prompt: row.try_get(11)?,
        heard_language: row.try_get(12)?,
        version_id: row.try_get::<_, Option<i64>>(13)?.and_then(|v| u64::try_from(v).ok()),
    })
}

fn jobs_from_rows(rows: &[tokio_postgres::Row]) -> Result<Vec<Job>> {
    Ok(rows.iter().map(job_from_row).collect::<Result<_, _>>()?)
}

fn path_text(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

impl SharedJobs {
    pub fn new(cluster: &Cluster, runnable: Runnable) -> Result<SharedJobs> {
        Ok(SharedJobs {
            pool: crate::pg::pool(cluster.pg_config(), POOL_SIZE, None)?,
            node: cluster.node().to_string(),
            runnable,
            node_timeout: cluster.node_timeout(),
            heartbeat: cluster.heartbeat(),
            ready: OnceCell::new(),
        })
    }

    pub fn poll(&self) -> Duration {
        self.heartbeat
    }

    /// A connection, once the tables exist and what this node was running when it last
    /// stopped is queued again (it knows it is not working on them).
    async fn client(&self) -> Result<Object> {
        let client = self.pool.get().await.context("reaching the cluster's database")?;
        self.ready
            .get_or_try_init(|| async {
                client.batch_execute(&crate::cluster::schema::script()).await.context("creating the cluster's tables")?;
                let requeued = client
                    .execute("UPDATE file_jobs SET state = 'queued', owner = NULL WHERE owner = $1 AND state = 'running'", &[&self.node])
                    .await?;
                if requeued > 0 {
                    tracing::info!(requeued, "resuming file jobs this node was running when it stopped");
                }
                anyhow::Ok(())
            })
            .await?;
        Ok(client)
    }

    fn timeout_secs(&self) -> f64 {
        self.node_timeout.as_secs_f64()
    }

    pub async fn by_sha(&self, sha256: &str) -> Result<Option<Job>> {
        let client = self.client().await?;
        let row = client.query_opt(&format!("SELECT {COLUMNS} FROM file_jobs j WHERE j.sha256 = $1 ORDER BY j.id LIMIT 1"), &[&sha256]).await?;
        Ok(row.as_ref().map(job_from_row).transpose()?)
    }

    /// Submissions of the same bytes on several nodes take turns on a lock named by the
    /// bytes' hash, so one of them makes the session.
    pub async fn claim_bytes(&self, session_id: &str, sha256: &str, path: &Path) -> Result<Claim> {
        let mut client = self.client().await?;
        for _ in 0..CLAIM_TRIES {
            let tx = client.transaction().await?;
            tx.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", &[&sha256]).await?;
            let known = tx.query_opt(&format!("SELECT {COLUMNS} FROM file_jobs j WHERE j.sha256 = $1 ORDER BY j.id LIMIT 1"), &[&sha256]).await?;
            if let Some(row) = known {
                return Ok(Claim::Known(Box::new(job_from_row(&row)?)));
            }
            let inserted = tx
                .query_opt(
                    "INSERT INTO file_jobs (session_id, sha256, path, state, owner) VALUES ($1, $2, $3, 'staged', $4) \
                     ON CONFLICT DO NOTHING RETURNING id",
                    &[&session_id, &sha256, &path_text(path), &self.node],
                )
                .await?;
            tx.commit().await?;
            if let Some(row) = inserted {
                return Ok(Claim::New(row.try_get(0)?));
            }
        }
        anyhow::bail!("the file's bytes could not be claimed: other submissions kept taking and releasing them")
    }

    pub async fn promote(&self, id: i64, path: &Path, ask: &JobAsk) -> Result<()> {
        let client = self.client().await?;
        client
            .execute(
                "UPDATE file_jobs SET state = 'queued', path = $2, provider = $3, language = $4, prompt = $5, owner = NULL \
                 WHERE id = $1 AND state = 'staged'",
                &[&id, &path_text(path), &ask.provider, &ask.language, &ask.prompt],
            )
            .await?;
        Ok(())
    }

    pub async fn discard(&self, id: i64) -> Result<()> {
        self.client().await?.execute("DELETE FROM file_jobs WHERE id = $1 AND state = 'staged'", &[&id]).await?;
        Ok(())
    }

    /// Only this node's: another node repairs its own after its restart.
    pub async fn staged(&self) -> Result<Vec<Job>> {
        let client = self.client().await?;
        let rows = client.query(&format!("SELECT {COLUMNS} FROM file_jobs j WHERE j.state = 'staged' AND j.owner = $1 ORDER BY j.id"), &[&self.node]).await?;
        jobs_from_rows(&rows)
    }

    pub async fn insert(&self, session_id: &str, sha256: &str, path: &Path, provider: Option<&str>) -> Result<()> {
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO file_jobs (session_id, sha256, path, provider, state) VALUES ($1, $2, $3, $4, 'queued')",
                &[&session_id, &sha256, &path_text(path), &provider],
            )
            .await?;
        Ok(())
    }

    pub async fn pending(&self) -> Result<u64> {
        let client = self.client().await?;
        let row = client.query_one("SELECT COUNT(*) FROM file_jobs WHERE state IN ('queued', 'running')", &[]).await?;
        Ok(row.try_get::<_, i64>(0)?.unsigned_abs())
    }

    pub async fn delete_session(&self, session_id: &str) -> Result<()> {
        self.client().await?.execute("DELETE FROM file_jobs WHERE session_id = $1", &[&session_id]).await?;
        Ok(())
    }

    pub async fn claim_due(&self, now_ms: i64, max_attempts: u32) -> Result<Option<Due>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let row = tx
            .query_opt(
                &format!("SELECT {COLUMNS}, j.owner FROM file_jobs j WHERE {CLAIMABLE} {OLDEST} FOR UPDATE OF j SKIP LOCKED"),
                &[&now_ms, &self.runnable.plugins, &self.runnable.default, &self.timeout_secs()],
            )
            .await?;
        let Some(row) = row else { return Ok(None) };
        let job = job_from_row(&row)?;
        let lapsed_from: Option<String> = if job.state == JobState::Running { row.try_get(14)? } else { None };
        if let Some(node) = &lapsed_from {
            tracing::warn!(session = %job.session_id, node = %node, "taking over a file job: the node working on it went quiet");
        }
        if job.attempts >= max_attempts {
            let reason = format!(
                "the node working on this file stopped {} times (the file may crash it); given up",
                job.attempts
            );
            tx.execute("UPDATE file_jobs SET state = 'failed', last_error = $2, owner = NULL WHERE id = $1", &[&job.id, &reason]).await?;
            tx.commit().await?;
            return Ok(Some(Due::GivenUp(Job { state: JobState::Failed, last_error: Some(reason), ..job })));
        }
        tx.execute(
            "UPDATE file_jobs SET state = 'running', attempts = attempts + 1, owner = $2, \
             lease_until = clock_timestamp() + make_interval(secs => $3) WHERE id = $1",
            &[&job.id, &self.node, &self.timeout_secs()],
        )
        .await?;
        tx.commit().await?;
        Ok(Some(Due::Run(Job { state: JobState::Running, attempts: job.attempts + 1, ..job })))
    }

    pub async fn peek_due(&self, now_ms: i64) -> Result<Option<Job>> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                &format!("SELECT {COLUMNS} FROM file_jobs j WHERE {CLAIMABLE} {OLDEST}"),
                &[&now_ms, &self.runnable.plugins, &self.runnable.default, &self.timeout_secs()],
            )
            .await?;
        Ok(row.as_ref().map(job_from_row).transpose()?)
    }

    pub async fn next_due_ms(&self) -> Result<Option<i64>> {
        let client = self.client().await?;
        let row = client
            .query_one(
                "SELECT MIN(next_attempt_ms) FROM file_jobs j WHERE j.state = 'queued' \
                 AND (j.provider = ANY($1) OR (j.provider IS NULL AND $2))",
                &[&self.runnable.plugins, &self.runnable.default],
            )
            .await?;
        Ok(row.try_get(0)?)
    }

    pub async fn holds(&self, id: i64) -> Result<bool> {
        let client = self.client().await?;
        let row = client.query_opt("SELECT 1 FROM file_jobs WHERE id = $1 AND owner = $2 AND state = 'running'", &[&id, &self.node]).await?;
        Ok(row.is_some())
    }

    pub async fn started_version(&self, id: i64, version_id: u64) -> Result<()> {
        let version_id = i64::try_from(version_id)?;
        let client = self.client().await?;
        client.execute("UPDATE file_jobs SET version_id = $3 WHERE id = $1 AND owner = $2", &[&id, &self.node, &version_id]).await?;
        Ok(())
    }

    /// The end of a job this node holds; a job another node took over is that node's to end.
    pub async fn finish_done(&self, id: i64, note: Option<&str>, heard_language: Option<&str>) -> Result<()> {
        let client = self.client().await?;
        client
            .execute(
                "UPDATE file_jobs SET state = 'done', last_error = NULL, note = $3, heard_language = $4, owner = NULL \
                 WHERE id = $1 AND owner = $2 AND state = 'running'",
                &[&id, &self.node, &note, &heard_language],
            )
            .await?;
        Ok(())
    }

    pub async fn finish(&self, id: i64, state: JobState, error: Option<&str>) -> Result<()> {
        let client = self.client().await?;
        client
            .execute(
                "UPDATE file_jobs SET state = $3, last_error = $4, owner = NULL WHERE id = $1 AND owner = $2 AND state = 'running'",
                &[&id, &self.node, &state.as_str(), &error],
            )
            .await?;
        Ok(())
    }

    pub async fn retry_at(&self, id: i64, at_ms: i64, error: &str) -> Result<()> {
        let client = self.client().await?;
        client
            .execute(
                "UPDATE file_jobs SET state = 'queued', next_attempt_ms = $3, last_error = $4, owner = NULL \
                 WHERE id = $1 AND owner = $2 AND state = 'running'",
                &[&id, &self.node, &at_ms, &error],
            )
            .await?;
        Ok(())
    }

    pub async fn get(&self, session_id: &str) -> Result<Option<Job>> {
        let client = self.client().await?;
        let row = client.query_opt(&format!("SELECT {COLUMNS} FROM file_jobs j WHERE j.session_id = $1 ORDER BY j.id DESC LIMIT 1"), &[&session_id]).await?;
        Ok(row.as_ref().map(job_from_row).transpose()?)
    }
}
