//! PostgreSQL for plugins, on tokio-postgres: a pool of connections to the one database the
//! operator granted (`plugins.<id>.postgres_url`, with `${VAR}` for the password).
//!
//! The address and credentials stay here; the plugin sends SQL and values. Its SQL runs with
//! the granted role's rights, so the fence is the role: a connection whose role could read or
//! write the server's files or run programs (a superuser or a member of one, or a member of
//! `pg_read_server_files`, `pg_write_server_files` or `pg_execute_server_program`) is refused
//! before any statement runs. Every statement has the server's `statement_timeout` (see
//! [`crate::pg`]) and the host's own deadline, and results are size-capped like sqlite's.

use std::time::Duration;

use deadpool_postgres::Pool;
use futures_util::future::BoxFuture;
use tokio_postgres::Row;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use wasmtime::component::HasData;

use crate::plugin::bindings::postgres::{self, PostgresError, Rows, Statement, Value};
use crate::plugin::cpu::CpuMeter;
use crate::plugin::grants::Grants;
use crate::secret::Secret;

/// Connections per plugin: a store runs one instance, so one is busy at a time; the second
/// stands by while a broken one is replaced.
const POOL_SIZE: usize = 2;
/// Time for a statement's answer to arrive once the server has finished it.
const ANSWER_MARGIN: Duration = Duration::from_secs(5);
/// Longest one call may take: connecting, the server's statement timeout, and the answer.
const DEADLINE: Duration = Duration::from_secs(
    crate::pg::CONNECT_TIMEOUT.as_secs() + crate::pg::STATEMENT_TIMEOUT.as_secs() + ANSWER_MARGIN.as_secs(),
);
/// The first wait before trying an unreachable server again; it doubles up to [`MAX_WAIT`].
const FIRST_WAIT: Duration = Duration::from_secs(1);
const MAX_WAIT: Duration = Duration::from_secs(15);
/// Prepared statements kept per connection; a store plugin uses a few dozen.
const STATEMENT_CACHE: usize = 128;
/// Roles whose members reach the server's files or programs; a plugin's SQL must not.
const DANGEROUS_ROLES: [&str; 3] = ["pg_read_server_files", "pg_write_server_files", "pg_execute_server_program"];

/// A plugin's database.
#[derive(Clone)]
pub struct PostgresDb {
    pool: Pool,
    max_result: u64,
    deadline: Duration,
}

impl std::fmt::Debug for PostgresDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresDb").field("max_result", &self.max_result).finish_non_exhaustive()
    }
}

/// Why a role may not serve a plugin, or the error that kept us from asking.
async fn check_role(client: &tokio_postgres::Client) -> Result<(), String> {
    // A member of a superuser role can SET ROLE to it, so membership counts as being one.
    let checked = client
        .query_one(
            "SELECT current_user::text, \
             EXISTS (SELECT 1 FROM pg_roles r WHERE r.rolsuper AND pg_has_role(current_user, r.oid, 'MEMBER')), \
             pg_has_role(current_user, $1, 'MEMBER') OR pg_has_role(current_user, $2, 'MEMBER') \
             OR pg_has_role(current_user, $3, 'MEMBER')",
            &[&DANGEROUS_ROLES[0], &DANGEROUS_ROLES[1], &DANGEROUS_ROLES[2]],
        )
        .await
        .and_then(|row| Ok((row.try_get::<_, String>(0)?, row.try_get::<_, bool>(1)?, row.try_get::<_, bool>(2)?)));
    let (role, superuser, server_access) = checked.map_err(|err| format!("checking the database role: {err}"))?;
    if superuser || server_access {
        return Err(format!(
            "the database role {role} is a superuser or may reach the server's files; a plugin's SQL runs \
             with it. Grant a role that owns only the library's database (CREATE ROLE scribe LOGIN PASSWORD …; \
             CREATE DATABASE scribe OWNER scribe)"
        ));
    }
    Ok(())
}

impl PostgresDb {
    /// A pool for `url` (`postgres://user:password@host:port/database`, or the key=value
    /// form). Nothing connects until the first call.
    pub fn open(url: &Secret, max_result: u64) -> anyhow::Result<PostgresDb> {
        let check = deadpool_postgres::Hook::async_fn(|client, _| {
            Box::pin(async move { check_role(client).await.map_err(|why| deadpool_postgres::HookError::Message(why.into())) })
        });
        let pool = crate::pg::pool(crate::pg::config(url)?, POOL_SIZE, Some(check))?;
        Ok(PostgresDb { pool, max_result, deadline: DEADLINE })
    }

    /// Waits up to `limit` for the server to take connections, trying again with doubling
    /// waits while it refuses them (a home server's database may start after the daemon).
    /// Any other answer (the role refused, a wrong password) returns at once.
    pub async fn wait_until_reachable(&self, limit: Duration) -> Result<(), PostgresError> {
        let deadline = tokio::time::Instant::now() + limit;
        let mut wait = FIRST_WAIT;
        loop {
            match self.client().await {
                Err(PostgresError::Unavailable(why)) if tokio::time::Instant::now() + wait < deadline => {
                    tracing::warn!("the database is not reachable yet ({why}); trying again in {wait:?}");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(MAX_WAIT);
                }
                other => return other.map(drop),
            }
        }
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, PostgresError> {
        use deadpool_postgres::PoolError;
        self.pool.get().await.map_err(|err| match err {
            PoolError::PostCreateHook(deadpool_postgres::HookError::Message(why)) => PostgresError::Denied(why.into_owned()),
            PoolError::Backend(err) => map_error(err),
            other => PostgresError::Unavailable(other.to_string()),
        })
    }

    /// Runs `op` on a pooled connection, within the host's deadline. The server's
    /// `statement_timeout` normally ends a long statement first, but the plugin's SQL may
    /// change it for its session; past the deadline the host cancels the statement itself and
    /// never uses that connection again.
    async fn with_client<R>(
        &self,
        op: impl for<'c> FnOnce(&'c mut deadpool_postgres::Object) -> BoxFuture<'c, Result<R, PostgresError>>,
    ) -> Result<R, PostgresError> {
        let mut client = self.client().await?;
        let cancel = client.cancel_token();
        let outcome = tokio::time::timeout(self.deadline, op(&mut client)).await;
        match outcome {
            Ok(result) => {
                // Statements a plugin made once (a query built from its input) would otherwise
                // stay prepared for the connection's life, here and on the server.
                if client.statement_cache.size() > STATEMENT_CACHE {
                    client.statement_cache.clear();
                }
                result
            }
            Err(_) => {
                tokio::spawn(async move {
                    if let Err(err) = cancel.cancel_query(tokio_postgres::NoTls).await {
                        tracing::warn!("cancelling a plugin's statement past its deadline: {err}");
                    }
                });
                drop(deadpool_postgres::Object::take(client));
                Err(PostgresError::Timeout)
            }
        }
    }

    pub async fn execute(&self, statement: Statement) -> Result<u64, PostgresError> {
        self.with_client(|client| {
            Box::pin(async move {
                let prepared = client.prepare_cached(&statement.sql).await.map_err(map_error)?;
                client.execute(&prepared, &params(&statement)).await.map_err(map_error)
            })
        })
        .await
    }

    pub async fn query(&self, statement: Statement) -> Result<Rows, PostgresError> {
        let cap = self.max_result;
        self.with_client(|client| {
            Box::pin(async move {
                let prepared = client.prepare_cached(&statement.sql).await.map_err(map_error)?;
                let rows = client.query(&prepared, &params(&statement)).await.map_err(map_error)?;
                to_rows(&prepared, &rows, cap)
            })
        })
        .await
    }

    pub async fn transaction(&self, statements: Vec<Statement>) -> Result<Vec<u64>, PostgresError> {
        self.with_client(|client| {
            Box::pin(async move {
                let tx = client.transaction().await.map_err(map_error)?;
                let mut changed = Vec::with_capacity(statements.len());
                for statement in &statements {
                    let prepared = tx.prepare_cached(&statement.sql).await.map_err(map_error)?;
                    changed.push(tx.execute(&prepared, &params(statement)).await.map_err(map_error)?);
                }
                tx.commit().await.map_err(map_error)?;
                Ok(changed)
            })
        })
        .await
    }

    pub async fn execute_script(&self, sql: String) -> Result<(), PostgresError> {
        self.with_client(|client| {
            Box::pin(async move {
                let tx = client.transaction().await.map_err(map_error)?;
                tx.batch_execute(&sql).await.map_err(map_error)?;
                tx.commit().await.map_err(map_error)
            })
        })
        .await
    }

    /// The same database with another deadline for a call (tests shorten it).
    pub fn with_deadline(mut self, deadline: Duration) -> PostgresDb {
        self.deadline = deadline;
        self
    }
}

fn params(statement: &Statement) -> Vec<&(dyn ToSql + Sync)> {
    statement.params.iter().map(|value| value as &(dyn ToSql + Sync)).collect()
}

/// A guest value in the type the server inferred for its placeholder.
impl ToSql for Value {
    fn to_sql(&self, ty: &Type, out: &mut bytes::BytesMut) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        let mismatch = |what: &str| -> Box<dyn std::error::Error + Sync + Send> {
            format!("{what} does not fit a parameter of type {ty}; cast the placeholder in the SQL").into()
        };
        match (self, ty) {
            (Value::Null, _) => Ok(IsNull::Yes),
            (Value::Integer(n), &Type::INT8) => n.to_sql(ty, out),
            (Value::Integer(n), &Type::INT4) => i32::try_from(*n).map_err(|_| mismatch("an integer this large"))?.to_sql(ty, out),
            (Value::Integer(n), &Type::INT2) => i16::try_from(*n).map_err(|_| mismatch("an integer this large"))?.to_sql(ty, out),
            (Value::Integer(n), &Type::BOOL) => (*n != 0).to_sql(ty, out),
            (Value::Integer(n), &Type::FLOAT8) => (*n as f64).to_sql(ty, out),
            (Value::Real(x), &Type::FLOAT8) => x.to_sql(ty, out),
            (Value::Real(x), &Type::FLOAT4) => (*x as f32).to_sql(ty, out),
            (Value::Text(s), &Type::TEXT | &Type::VARCHAR | &Type::BPCHAR | &Type::NAME | &Type::UNKNOWN) => {
                s.as_str().to_sql(ty, out)
            }
            (Value::Blob(b), &Type::BYTEA) => b.as_slice().to_sql(ty, out),
            (Value::Integer(_), _) => Err(mismatch("an integer")),
            (Value::Real(_), _) => Err(mismatch("a real")),
            (Value::Text(_), _) => Err(mismatch("text")),
            (Value::Blob(_), _) => Err(mismatch("a blob")),
        }
    }

    fn accepts(_: &Type) -> bool {
        // Every placeholder is offered the value; `to_sql` says which types it fits.
        true
    }

    to_sql_checked!();
}

fn column(row: &Row, index: usize, ty: &Type) -> Result<Value, tokio_postgres::Error> {
    fn or_null<T>(value: Option<T>, wrap: impl FnOnce(T) -> Value) -> Value {
        value.map_or(Value::Null, wrap)
    }
    Ok(match *ty {
        Type::INT8 => or_null(row.try_get::<_, Option<i64>>(index)?, Value::Integer),
        Type::INT4 => or_null(row.try_get::<_, Option<i32>>(index)?, |n| Value::Integer(n.into())),
        Type::INT2 => or_null(row.try_get::<_, Option<i16>>(index)?, |n| Value::Integer(n.into())),
        Type::OID => or_null(row.try_get::<_, Option<u32>>(index)?, |n| Value::Integer(n.into())),
        Type::BOOL => or_null(row.try_get::<_, Option<bool>>(index)?, |b| Value::Integer(b.into())),
        Type::FLOAT8 => or_null(row.try_get::<_, Option<f64>>(index)?, Value::Real),
        Type::FLOAT4 => or_null(row.try_get::<_, Option<f32>>(index)?, |x| Value::Real(x.into())),
        Type::BYTEA => or_null(row.try_get::<_, Option<Vec<u8>>>(index)?, Value::Blob),
        // Text and the types that read as text (varchar, name, citext...).
        _ => or_null(row.try_get::<_, Option<String>>(index)?, Value::Text),
    })
}

fn to_rows(prepared: &tokio_postgres::Statement, rows: &[Row], cap: u64) -> Result<Rows, PostgresError> {
    let columns: Vec<String> = prepared.columns().iter().map(|c| c.name().to_string()).collect();
    let mut out = Vec::with_capacity(rows.len());
    let mut size = 0u64;
    for row in rows {
        let mut values = Vec::with_capacity(columns.len());
        for (index, col) in prepared.columns().iter().enumerate() {
            let value = column(row, index, col.type_()).map_err(|_| {
                PostgresError::Invalid(format!(
                    "column {} has type {}, which the postgres capability does not pass; cast it in the SQL ({}::text)",
                    col.name(),
                    col.type_(),
                    col.name()
                ))
            })?;
            size += match &value {
                Value::Text(s) => s.len() as u64,
                Value::Blob(b) => b.len() as u64,
                _ => 8,
            };
            values.push(value);
        }
        if size > cap {
            return Err(PostgresError::TooLarge(cap));
        }
        out.push(values);
    }
    Ok(Rows { columns, rows: out })
}

fn map_error(err: tokio_postgres::Error) -> PostgresError {
    let Some(db) = err.as_db_error() else {
        // No answer from the server: the connection failed or closed, or a value could not
        // be sent or read (the plugin's to fix).
        let lost = err.is_closed() || std::error::Error::source(&err).is_some_and(|source| source.is::<std::io::Error>());
        let text = super::error_chain(&err);
        return if lost { PostgresError::Unavailable(text) } else { PostgresError::Invalid(text) };
    };
    let text = db.message().to_string();
    let code = db.code();
    match code.code() {
        class if class.starts_with("23") => PostgresError::Constraint(text),
        class if class.starts_with("08") || class.starts_with("53") || class.starts_with("57P") => {
            PostgresError::Unavailable(text)
        }
        _ if *code == SqlState::T_R_SERIALIZATION_FAILURE || *code == SqlState::T_R_DEADLOCK_DETECTED => {
            PostgresError::Conflict(text)
        }
        _ if *code == SqlState::QUERY_CANCELED => PostgresError::Timeout,
        _ if *code == SqlState::INSUFFICIENT_PRIVILEGE => PostgresError::Denied(text),
        _ => PostgresError::Invalid(text),
    }
}

/// What the `postgres` host functions see of one plugin: its grants and its pool (made when
/// the plugin loads, when granted). Nothing per instance.
pub struct PostgresView<'a> {
    pub grants: &'a Grants,
    pub db: Option<&'a PostgresDb>,
    pub cpu: &'a CpuMeter,
}

/// Links `postgres` through [`PostgresView`].
pub struct PostgresCapability;

impl HasData for PostgresCapability {
    type Data<'a> = PostgresView<'a>;
}

impl PostgresView<'_> {
    /// Runs one database operation for the guest: grant check first, then the operation,
    /// charged to host time.
    async fn postgres_call<R, F>(&mut self, op: impl FnOnce(PostgresDb) -> F) -> wasmtime::Result<Result<R, PostgresError>>
    where
        F: Future<Output = Result<R, PostgresError>>,
    {
        if let Err(denied) = self.grants.postgres() {
            return Ok(Err(PostgresError::Denied(denied.0)));
        }
        let Some(db) = self.db.cloned() else {
            return Ok(Err(PostgresError::Unavailable("the plugin's database is not configured".into())));
        };
        Ok(self.cpu.host_io(op(db)).await)
    }
}

impl postgres::Host for PostgresView<'_> {
    async fn execute(&mut self, statement: Statement) -> wasmtime::Result<Result<u64, PostgresError>> {
        self.postgres_call(|db| async move { db.execute(statement).await }).await
    }

    async fn query(&mut self, statement: Statement) -> wasmtime::Result<Result<Rows, PostgresError>> {
        self.postgres_call(|db| async move { db.query(statement).await }).await
    }

    async fn transaction(&mut self, statements: Vec<Statement>) -> wasmtime::Result<Result<Vec<u64>, PostgresError>> {
        self.postgres_call(|db| async move { db.transaction(statements).await }).await
    }

    async fn execute_script(&mut self, sql: String) -> wasmtime::Result<Result<(), PostgresError>> {
        self.postgres_call(|db| async move { db.execute_script(sql).await }).await
    }
}
