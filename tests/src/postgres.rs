//! A throwaway PostgreSQL server for the tests: Debian's `pg_virtualenv` (postgresql-common)
//! makes a cluster on a free port, runs a command, and drops the cluster when the command
//! ends. The command here waits on its standard input, which closes when the test process
//! exits, however it exits; so one cluster serves every test of a binary and never outlives
//! it. Each test gets a database of its own, owned by a role of its own that is not a
//! superuser, as an operator would set it up.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use anyhow::{Context, Result, anyhow};

/// The line the cluster's command prints, with what a client needs.
const MARKER: &str = "SCRIBE_TEST_PG";
/// The password of every test role (a throwaway cluster on loopback).
pub const ROLE_PASSWORD: &str = "scribe-test-password";

/// The running cluster.
pub struct Server {
    pub port: u16,
    pub superuser: String,
    pub password: String,
    /// Where pg_virtualenv keeps the cluster's configuration, for `pg_ctlcluster`.
    version: String,
    conf_root: String,
    sys_conf: String,
    _cluster: Child,
}

/// Starts a cluster. One at a time: pg_virtualenv takes the first port no running server
/// holds, so two starting together would pick the same one.
fn start() -> Result<Server> {
    static STARTING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = STARTING.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    start_one()
}

fn start_one() -> Result<Server> {
    // `-t`: the cluster's files in a temporary directory, even as root, so no cluster of the
    // machine's (nor a stale one from a killed run) is in the way.
    let mut cluster = Command::new("pg_virtualenv")
        .args(["-t", "sh", "-c", &format!(
            "printf '{MARKER} %s %s %s %s %s %s\\n' \"$PGPORT\" \"$PGUSER\" \"$PGPASSWORD\" \"$PGVERSION\" \"$PG_CLUSTER_CONF_ROOT\" \"$PGSYSCONFDIR\"; exec cat"
        )])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("starting pg_virtualenv (Debian's postgresql and postgresql-common; .ci/run installs them)")?;
    let stdout = cluster.stdout.take().ok_or_else(|| anyhow!("pg_virtualenv has no stdout"))?;
    for line in BufReader::new(stdout).lines() {
        let line = line?;
        if let Some(rest) = line.strip_prefix(MARKER) {
            let parts: Vec<&str> = rest.split_whitespace().collect();
            let [port, user, password, version, conf_root, sys_conf] = parts.as_slice() else {
                return Err(anyhow!("pg_virtualenv said {line:?}"));
            };
            return Ok(Server {
                port: port.parse()?,
                superuser: user.to_string(),
                password: password.to_string(),
                version: version.to_string(),
                conf_root: conf_root.to_string(),
                sys_conf: sys_conf.to_string(),
                _cluster: cluster,
            });
        }
    }
    Err(anyhow!("pg_virtualenv ended without starting a cluster"))
}

/// The test binary's cluster, started on first use.
pub fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| start().expect("a throwaway PostgreSQL cluster"))
}

/// A cluster of one test's own, for a test that stops and starts the server; it lasts as
/// long as the test process.
pub fn private() -> &'static Server {
    // The binary's shared cluster first: started while this one is stopped, it would take
    // this one's port, and this one's clients would reach it instead.
    server();
    Box::leak(Box::new(start().expect("a throwaway PostgreSQL cluster")))
}

impl Server {
    /// Stops the server (`fast`: connected clients are cut off), or starts it again.
    pub fn control(&self, action: &str) -> Result<()> {
        let status = Command::new("pg_ctlcluster")
            .args([self.version.as_str(), "regress", action])
            .args(if action == "stop" { &["-m", "fast"][..] } else { &[][..] })
            .env("PG_CLUSTER_CONF_ROOT", &self.conf_root)
            .env("PGSYSCONFDIR", &self.sys_conf)
            .status()
            .context("running pg_ctlcluster")?;
        anyhow::ensure!(status.success(), "pg_ctlcluster {action}: {status}");
        Ok(())
    }

    /// A connection URL; the password stays a `${VAR}` reference when `password` is one.
    pub fn url(&self, user: &str, password: &str, database: &str) -> String {
        format!("postgres://{user}:{password}@127.0.0.1:{}/{database}", self.port)
    }

    /// Runs `sql` (one statement, or several in one transaction) as the superuser in
    /// `database`.
    pub async fn admin(&self, database: &str, sql: &str) -> Result<()> {
        let (client, connection) =
            tokio_postgres::connect(&self.url(&self.superuser, &self.password, database), tokio_postgres::NoTls).await?;
        tokio::spawn(connection);
        client.batch_execute(sql).await.with_context(|| format!("running {sql}"))?;
        Ok(())
    }
}

/// A database of one test, with its owner.
pub struct TestDatabase {
    pub name: String,
    pub role: String,
    pub server: &'static Server,
}

impl TestDatabase {
    /// A new database on the binary's cluster, owned by a new login role without special
    /// rights.
    pub async fn create() -> Result<TestDatabase> {
        TestDatabase::create_on(server()).await
    }

    /// The same on `server`.
    pub async fn create_on(server: &'static Server) -> Result<TestDatabase> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let suffix = format!("{}_{n}", std::process::id());
        let db = TestDatabase { name: format!("scribe_{suffix}"), role: format!("scribe_{suffix}"), server };
        server.admin("postgres", &format!("CREATE ROLE {} LOGIN PASSWORD '{ROLE_PASSWORD}'", db.role)).await?;
        // Alone: a database is not created inside the transaction of a several-statement query.
        server.admin("postgres", &format!("CREATE DATABASE {} OWNER {}", db.name, db.role)).await?;
        Ok(db)
    }

    /// The URL a daemon is given, with the password as `${var}`.
    pub fn url_with_password_from(&self, var: &str) -> String {
        self.server.url(&self.role, &format!("${{{var}}}"), &self.name)
    }

    /// Runs `sql` in this database as the superuser.
    pub async fn admin(&self, sql: &str) -> Result<()> {
        self.server.admin(&self.name, sql).await
    }
}
