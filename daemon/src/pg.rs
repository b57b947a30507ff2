//! PostgreSQL connections, made in one place for the two users of a server: the `postgres`
//! capability (a store plugin's database) and the cluster (nodes, events across nodes). The
//! URL's `${VAR}`s are resolved by the caller; here it is parsed, given its timeouts, and
//! turned into a pool that connects on first use.

use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};

use crate::secret::Secret;

/// Longest one statement may run on the server. Guest-written SQL can loop (a recursive CTE),
/// and a daemon's own statements are all short.
pub const STATEMENT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a caller waits for a connection, so a server that is down turns into an error to
/// report instead of a stall.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The connection settings in `url` (`postgres://user:password@host:port/database`, or the
/// key=value form), with the daemon's timeouts and name.
pub fn config(url: &Secret) -> anyhow::Result<tokio_postgres::Config> {
    let mut config: tokio_postgres::Config =
        url.expose().parse().map_err(|err| anyhow::anyhow!("the postgres URL is not valid: {err}"))?;
    if config.get_dbname().is_none() {
        anyhow::bail!("the postgres URL names no database");
    }
    config
        .options(format!("-c statement_timeout={}", STATEMENT_TIMEOUT.as_millis()))
        .application_name("scribed")
        .connect_timeout(CONNECT_TIMEOUT);
    Ok(config)
}

/// A pool of at most `size` connections with `config`; `hook` runs on each new connection
/// before it is used.
pub fn pool(config: tokio_postgres::Config, size: usize, hook: Option<deadpool_postgres::Hook>) -> anyhow::Result<Pool> {
    let manager = Manager::from_config(config, tokio_postgres::NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
    let mut builder = Pool::builder(manager)
        .max_size(size)
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .wait_timeout(Some(CONNECT_TIMEOUT))
        .create_timeout(Some(CONNECT_TIMEOUT));
    if let Some(hook) = hook {
        builder = builder.post_create(hook);
    }
    Ok(builder.build()?)
}
