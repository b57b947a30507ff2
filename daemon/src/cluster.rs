//! Several daemons, one library: with `[cluster] database_url`, each daemon is a node of a
//! cluster whose meeting place is a PostgreSQL database (the library's, through
//! postgres-store, or another). A node says it is alive there every few seconds (the nodes
//! table, which `/api/v1/status` lists), sends the events other nodes' clients want with
//! NOTIFY, and passes on theirs to its own clients ([`relay`]). When another node changes the
//! library, this node's search index catches up at once, from the store's change sequence as
//! always. The nodes share the file queue in the same database
//! ([`crate::queue::files`], tables in [`schema`]); a job queued anywhere wakes this node's
//! workers through the same listener. No state lives only here: the library is the store's,
//! and a node that loses the database keeps serving, reconnects with back-off, and catches
//! up.

pub mod relay;
pub mod schema;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;
use std::time::Duration;

use anyhow::{Context, Result};
use deadpool_postgres::Pool;
use serde::Serialize;

use crate::clients::library::Library;
use crate::config::ClusterConfig;
use crate::secret::Secret;
use crate::sinks::events::EventHub;

/// Connections a node keeps: the heartbeat, events going out, and a status request.
const POOL_SIZE: usize = 3;
/// The first wait before listening again after the connection was lost; it doubles up to
/// [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// The longest wait between tries to reach the database.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Where a node's generated name is kept, in the data dir.
const NODE_NAME_FILE: &str = "cluster-node";
/// The kernel's host name (Linux).
const HOSTNAME_FILE: &str = "/proc/sys/kernel/hostname";
/// What a node does: everything a single daemon does (uploads, inbox, live, jobs), until
/// nodes can be given a part of it.
const ROLE: &str = "all";

/// This node's part in the cluster.
#[derive(Clone)]
pub struct Cluster {
    inner: Arc<Inner>,
}

struct Inner {
    node: String,
    url: String,
    pool: Pool,
    listen: tokio_postgres::Config,
    heartbeat: Duration,
    node_timeout: Duration,
    started_ms: i64,
    /// What the last heartbeat found.
    seen: Mutex<Seen>,
    /// Whether other nodes' events reach this node now.
    listening: AtomicBool,
    /// Told when a file job is queued anywhere in the cluster.
    work: Arc<Notify>,
}

/// What the last heartbeat found: the nodes, or why the database could not be reached.
#[derive(Default)]
struct Seen {
    problem: Option<String>,
    nodes: Vec<NodeView>,
}

/// A node as `/api/v1/status` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct NodeView {
    pub name: String,
    pub role: String,
    pub url: String,
    pub version: String,
    pub started_ms: i64,
    /// How long before this node's last heartbeat, by the database's clock, the node last
    /// said it was alive.
    pub heartbeat_age_ms: i64,
    /// Whether it did so within `cluster.node_timeout_secs`.
    pub alive: bool,
    /// The file jobs it is running.
    pub claimed_jobs: i64,
}

/// The cluster as this node sees it.
#[derive(Debug, Serialize)]
pub struct ClusterView {
    pub node: String,
    /// Why the database cannot be reached, when it cannot.
    pub database_error: Option<String>,
    /// Whether the other nodes' events reach this node now (false while it reconnects).
    pub listening: bool,
    pub nodes: Vec<NodeView>,
}

impl Cluster {
    /// The cluster's database, its `${VAR}`s resolved; `None` when no cluster is configured.
    pub fn database(config: &ClusterConfig, env: impl Fn(&str) -> Option<String>) -> Result<Option<Secret>> {
        config.database_url.as_deref().map(|url| crate::secret::interpolate(url, env).context("cluster.database_url")).transpose()
    }

    /// The node `config` describes, meeting the others in `database` and serving at `url`.
    pub fn open(config: &ClusterConfig, database: &Secret, data_dir: &Path, url: String) -> Result<Cluster> {
        let pg = crate::pg::config(database).context("cluster.database_url")?;
        let node = match &config.node_name {
            Some(name) => name.clone(),
            None => node_name(data_dir)?,
        };
        Ok(Cluster {
            inner: Arc::new(Inner {
                node,
                url,
                pool: crate::pg::pool(pg.clone(), POOL_SIZE, None)?,
                listen: pg,
                heartbeat: Duration::from_secs(config.heartbeat_secs),
                node_timeout: Duration::from_secs(config.node_timeout_secs),
                started_ms: crate::clients::library::now_ms(),
                seen: Mutex::new(Seen::default()),
                listening: AtomicBool::new(false),
                work: Arc::new(Notify::new()),
            }),
        })
    }

    /// This node's name.
    pub fn node(&self) -> &str {
        &self.inner.node
    }

    /// The database's connection settings, for the queues the nodes share.
    pub fn pg_config(&self) -> tokio_postgres::Config {
        self.inner.listen.clone()
    }

    /// How long a node may be silent before it counts as gone (and loses its claims).
    pub fn node_timeout(&self) -> Duration {
        self.inner.node_timeout
    }

    /// How often a node says it is alive.
    pub fn heartbeat(&self) -> Duration {
        self.inner.heartbeat
    }

    /// Told each time a file job is queued on any node (and when this node starts listening
    /// again, since it may have missed some): the file workers wait on it.
    pub fn work(&self) -> Arc<Notify> {
        self.inner.work.clone()
    }

    /// Starts the node's work until a `shutdown()` future resolves: the heartbeat, events
    /// out, events in. The library, when there is one, hears of other nodes' changes.
    pub fn run<F>(&self, events: &EventHub, library: Option<Library>, shutdown: impl Fn() -> F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        tokio::spawn(self.clone().heartbeats(shutdown()));
        tokio::spawn(self.clone().send_events(events.clone(), shutdown()));
        tokio::spawn(self.clone().receive_events(events.clone(), library, shutdown()));
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.inner.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Keeps what a heartbeat found, logging when the database goes out of reach or comes
    /// back.
    fn note(&self, result: Result<Vec<NodeView>>) {
        let mut seen = self.seen();
        match result {
            Ok(nodes) => {
                if seen.problem.take().is_some() {
                    tracing::info!(node = %self.inner.node, "the cluster's database is reachable again");
                }
                seen.nodes = nodes;
            }
            Err(err) => {
                let text = format!("{err:#}");
                if seen.problem.as_deref() != Some(text.as_str()) {
                    tracing::warn!(node = %self.inner.node, "the cluster's database: {text}");
                }
                seen.problem = Some(text);
                seen.nodes.clear();
            }
        }
    }

    /// Says this node is alive every `heartbeat_secs`, creating the cluster's tables first,
    /// and reads the other nodes' state.
    async fn heartbeats(self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut migrated = false;
        loop {
            let beat = async {
                let client = self.inner.pool.get().await.context("connecting")?;
                if !migrated {
                    client.batch_execute(&schema::script()).await.context("creating the cluster's tables")?;
                    migrated = true;
                }
                client
                    .execute(
                        "INSERT INTO cluster_nodes (name, role, url, version, started_ms, heartbeat_at) \
                         VALUES ($1, $2, $3, $4, $5, clock_timestamp()) ON CONFLICT (name) DO UPDATE SET \
                         role = EXCLUDED.role, url = EXCLUDED.url, version = EXCLUDED.version, \
                         started_ms = EXCLUDED.started_ms, heartbeat_at = EXCLUDED.heartbeat_at",
                        &[&self.inner.node, &ROLE, &self.inner.url, &env!("CARGO_PKG_VERSION"), &self.inner.started_ms],
                    )
                    .await
                    .context("saying this node is alive")?;
                let rows = client
                    .query(
                        "SELECT name, role, url, version, started_ms, \
                         (extract(epoch FROM clock_timestamp() - heartbeat_at) * 1000)::bigint, \
                         (SELECT COUNT(*) FROM file_jobs j WHERE j.owner = n.name AND j.state = 'running') \
                         FROM cluster_nodes n ORDER BY name",
                        &[],
                    )
                    .await
                    .context("reading the nodes")?;
                let timeout = self.inner.node_timeout;
                let nodes = rows.iter().map(|row| node_from_row(row, timeout)).collect::<Result<_, _>>().context("reading the nodes")?;
                anyhow::Ok(nodes)
            };
            let result = beat.await;
            self.note(result);
            tokio::select! {
                () = &mut shutdown => return,
                () = tokio::time::sleep(self.inner.heartbeat) => {}
            }
        }
    }

    /// Sends this node's events for other nodes' clients. Events made while the database is
    /// out of reach are not sent: they are a view of the library, which the other nodes read
    /// for themselves.
    async fn send_events(self, events: EventHub, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut live = events.subscribe(None).live;
        loop {
            let published = tokio::select! {
                () = &mut shutdown => return,
                received = live.recv() => match received {
                    Ok(published) => published,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                        tracing::warn!(missed, "events for the cluster fell behind; some were not sent");
                        continue;
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                },
            };
            let Some(payload) = relay::outgoing(&self.inner.node, &published) else { continue };
            let sent = async {
                let client = self.inner.pool.get().await?;
                client.execute("SELECT pg_notify($1, $2)", &[&relay::CHANNEL, &payload]).await?;
                anyhow::Ok(())
            };
            if let Err(err) = sent.await {
                tracing::debug!("an event was not sent to the cluster: {err:#}");
            }
        }
    }

    /// Listens for the other nodes' events, reconnecting with back-off when the connection is
    /// lost; each (re)connection makes the index catch up with what it may have missed.
    async fn receive_events(self, events: EventHub, library: Option<Library>, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut backoff = FIRST_BACKOFF;
        loop {
            let listened = tokio::select! {
                () = &mut shutdown => return,
                listened = self.listen(&events, library.as_ref(), &mut backoff) => listened,
            };
            self.inner.listening.store(false, Ordering::Relaxed);
            if let Err(err) = listened {
                tracing::debug!(node = %self.inner.node, "listening for the cluster's events: {err:#}");
            }
            tokio::select! {
                () = &mut shutdown => return,
                () = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// One connection's life: LISTEN, then every notification until the connection ends.
    async fn listen(&self, events: &EventHub, library: Option<&Library>, backoff: &mut Duration) -> Result<()> {
        let (client, mut connection) = self.inner.listen.connect(tokio_postgres::NoTls).await?;
        let (tx, mut notifications) = tokio::sync::mpsc::unbounded_channel();
        // The connection delivers notifications only while something polls it.
        let driver = tokio::spawn(async move {
            loop {
                match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                    Some(Ok(tokio_postgres::AsyncMessage::Notification(notification))) => {
                        if tx.send(notification).is_err() {
                            return Ok(());
                        }
                    }
                    Some(Ok(_)) => {}
                    Some(Err(err)) => return Err(err),
                    None => return Ok(()),
                }
            }
        });
        let _stop_driver = AbortOnDrop(driver.abort_handle());
        client.batch_execute(&format!("LISTEN {}; LISTEN {}", relay::CHANNEL, schema::JOBS_CHANNEL)).await?;
        *backoff = FIRST_BACKOFF;
        self.inner.listening.store(true, Ordering::Relaxed);
        // Whatever changed while this node was not listening.
        if let Some(library) = library {
            library.changed_elsewhere();
        }
        self.inner.work.notify_one();
        while let Some(notification) = notifications.recv().await {
            if notification.channel() == schema::JOBS_CHANNEL {
                self.inner.work.notify_one();
                continue;
            }
            let Some(incoming) = relay::incoming(&self.inner.node, notification.payload()) else { continue };
            if incoming.changes_library()
                && let Some(library) = library
            {
                library.changed_elsewhere();
            }
            events.relay(&incoming.node, incoming.fields);
        }
        match driver.await {
            Ok(Err(err)) => Err(err.into()),
            _ => Err(anyhow::anyhow!("the connection closed")),
        }
    }

    /// The nodes as of this node's last heartbeat, and its link to the database; never
    /// waits for the database.
    pub fn view(&self) -> ClusterView {
        let seen = self.seen();
        ClusterView {
            node: self.inner.node.clone(),
            database_error: seen.problem.clone(),
            listening: self.inner.listening.load(Ordering::Relaxed),
            nodes: seen.nodes.clone(),
        }
    }
}

/// A row of `cluster_nodes` with its heartbeat's age.
fn node_from_row(row: &tokio_postgres::Row, timeout: Duration) -> Result<NodeView, tokio_postgres::Error> {
    let age: i64 = row.try_get(5)?;
    Ok(NodeView {
        name: row.try_get(0)?,
        role: row.try_get(1)?,
        url: row.try_get(2)?,
        version: row.try_get(3)?,
        started_ms: row.try_get(4)?,
        heartbeat_age_ms: age,
        alive: u128::try_from(age).is_ok_and(|age| age <= timeout.as_millis()),
        claimed_jobs: row.try_get(6)?,
    })
}

/// Stops a task when dropped.
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// This node's generated name: the host's name and a random suffix, made once and kept in
/// the data dir (two daemons on one host are two nodes).
fn node_name(data_dir: &Path) -> Result<String> {
    let path = data_dir.join(NODE_NAME_FILE);
    if let Ok(name) = std::fs::read_to_string(&path)
        && !name.trim().is_empty()
    {
        return Ok(name.trim().to_string());
    }
    let host = std::fs::read_to_string(HOSTNAME_FILE).map(|h| h.trim().to_string()).ok().filter(|h| !h.is_empty());
    let host = host.unwrap_or_else(|| "scribed".into());
    let mut suffix = [0u8; 3];
    getrandom::fill(&mut suffix).map_err(|err| anyhow::anyhow!("no system randomness for the node's name: {err}"))?;
    let name = format!("{host}-{}", hex::encode(suffix));
    std::fs::write(&path, &name).with_context(|| format!("keeping the node's name in {}", path.display()))?;
    Ok(name)
}
