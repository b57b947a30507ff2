//! SQLite for plugins, on rusqlite: one WAL database file per plugin in its data dir.
//!
//! The guest writes SQL, so the connection is fenced: an authorizer refuses `ATTACH`,
//! `DETACH` and `PRAGMA` (which could reach other files or change durability), `VACUUM INTO`
//! is refused, extension loading is never enabled, and results are size-capped. Work runs on
//! the blocking pool so a slow disk never stalls the async executor.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use rusqlite::types::{Value as SqlValue, ValueRef};
use rusqlite::{Connection, ErrorCode, OpenFlags, params_from_iter};

use wasmtime::component::HasData;

use crate::plugin::bindings::sqlite::{self, Rows, SqliteError, Statement, Value};
use crate::plugin::cpu::CpuMeter;
use crate::plugin::grants::Grants;

/// How long a statement waits for a lock held by another connection.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Prepared statements kept per connection; a store plugin uses a few dozen.
const STATEMENT_CACHE: usize = 128;
/// Longest one host call may run SQL. Guest-written SQL can loop (a recursive CTE), and
/// time in the host is not covered by the guest's execution budget.
const STATEMENT_TIMEOUT: Duration = Duration::from_secs(30);
/// SQLite virtual-machine steps between deadline checks: cheap, and a few ms apart.
const PROGRESS_STEPS: std::os::raw::c_int = 10_000;

/// A plugin's database.
#[derive(Clone)]
pub struct SqliteDb {
    conn: Arc<Mutex<Connection>>,
    max_result: u64,
    statement_timeout: Duration,
}

fn authorize(ctx: AuthContext<'_>) -> Authorization {
    match ctx.action {
        AuthAction::Attach { .. } | AuthAction::Detach { .. } | AuthAction::Pragma { .. } => {
            Authorization::Deny
        }
        AuthAction::Function { function_name } if function_name.eq_ignore_ascii_case("load_extension") => {
            Authorization::Deny
        }
        _ => Authorization::Allow,
    }
}

impl SqliteDb {
    /// Opens (creating) `path` in WAL mode with foreign keys on.
    pub fn open(path: &Path, max_result: u64) -> anyhow::Result<SqliteDb> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        // NORMAL in WAL mode loses at most the last transactions on power loss, never
        // consistency; FULL would fsync every word batch.
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        conn.set_limit(rusqlite::limits::Limit::SQLITE_LIMIT_ATTACHED, 0)?;
        conn.authorizer(Some(authorize))?;
        Ok(SqliteDb { conn: Arc::new(Mutex::new(conn)), max_result, statement_timeout: STATEMENT_TIMEOUT })
    }

    async fn with_conn<R: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Connection, u64) -> Result<R, SqliteError> + Send + 'static,
    ) -> Result<R, SqliteError> {
        let conn = self.conn.clone();
        let cap = self.max_result;
        let timeout = self.statement_timeout;
        tokio::task::spawn_blocking(move || {
            let mut guard = conn
                .lock()
                .map_err(|_| SqliteError::Io("database connection poisoned".into()))?;
            // Every use of the connection passes here, so each call sets its own deadline.
            let deadline = Instant::now() + timeout;
            guard.progress_handler(PROGRESS_STEPS, Some(move || Instant::now() > deadline))
                .map_err(|err| SqliteError::Io(err.to_string()))?;
            work(&mut guard, cap)
        })
        .await
        .map_err(|err| SqliteError::Io(format!("sqlite worker failed: {err}")))?
    }

    pub async fn execute(&self, statement: Statement) -> Result<u64, SqliteError> {
        self.with_conn(move |conn, _| run_execute(conn, &statement)).await
    }

    pub async fn query(&self, statement: Statement) -> Result<Rows, SqliteError> {
        self.with_conn(move |conn, cap| run_query(conn, &statement, cap)).await
    }

    pub async fn transaction(&self, statements: Vec<Statement>) -> Result<Vec<u64>, SqliteError> {
        self.with_conn(move |conn, _| {
            let tx = conn.transaction().map_err(map_error)?;
            let mut changed = Vec::with_capacity(statements.len());
            for statement in &statements {
                changed.push(run_execute(&tx, statement)?);
            }
            tx.commit().map_err(map_error)?;
            Ok(changed)
        })
        .await
    }

    pub async fn execute_script(&self, sql: String) -> Result<(), SqliteError> {
        self.with_conn(move |conn, _| {
            refuse_vacuum_into(&sql)?;
            let tx = conn.transaction().map_err(map_error)?;
            tx.execute_batch(&sql).map_err(map_error)?;
            tx.commit().map_err(map_error)
        })
        .await
    }
}

/// `VACUUM INTO 'file'` writes a copy of the database anywhere the daemon can write; the
/// authorizer has no action code for it, so it is refused by inspection.
fn refuse_vacuum_into(sql: &str) -> Result<(), SqliteError> {
    let normalized: String = sql.split_whitespace().collect::<Vec<_>>().join(" ").to_ascii_uppercase();
    if normalized.contains("VACUUM") && normalized.contains(" INTO") {
        return Err(SqliteError::Denied("VACUUM INTO is not allowed".into()));
    }
    Ok(())
}

fn to_sql(value: &Value) -> SqlValue {
    match value {
        Value::Null => SqlValue::Null,
        Value::Integer(n) => SqlValue::Integer(*n),
        Value::Real(x) => SqlValue::Real(*x),
        Value::Text(s) => SqlValue::Text(s.clone()),
        Value::Blob(b) => SqlValue::Blob(b.clone()),
    }
}

fn from_sql(value: ValueRef<'_>) -> Value {
    match value {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(n) => Value::Integer(n),
        ValueRef::Real(x) => Value::Real(x),
        ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Value::Blob(b.to_vec()),
    }
}

fn value_size(value: &Value) -> u64 {
    match value {
        Value::Text(s) => s.len() as u64,
        Value::Blob(b) => b.len() as u64,
        _ => 8,
    }
}

fn run_execute(conn: &Connection, statement: &Statement) -> Result<u64, SqliteError> {
    refuse_vacuum_into(&statement.sql)?;
    let mut prepared = conn.prepare_cached(&statement.sql).map_err(map_error)?;
    let changed = prepared
        .execute(params_from_iter(statement.params.iter().map(to_sql)))
        .map_err(map_error)?;
    Ok(changed as u64)
}

fn run_query(conn: &Connection, statement: &Statement, cap: u64) -> Result<Rows, SqliteError> {
    refuse_vacuum_into(&statement.sql)?;
    let mut prepared = conn.prepare_cached(&statement.sql).map_err(map_error)?;
    let columns: Vec<String> = prepared.column_names().iter().map(|c| c.to_string()).collect();
    let count = columns.len();
    let mut rows = prepared
        .query(params_from_iter(statement.params.iter().map(to_sql)))
        .map_err(map_error)?;
    let mut out = Vec::new();
    let mut size = 0u64;
    while let Some(row) = rows.next().map_err(map_error)? {
        let mut values = Vec::with_capacity(count);
        for index in 0..count {
            let value = from_sql(row.get_ref(index).map_err(map_error)?);
            size += value_size(&value);
            values.push(value);
        }
        if size > cap {
            return Err(SqliteError::TooLarge(cap));
        }
        out.push(values);
    }
    Ok(Rows { columns, rows: out })
}

fn map_error(err: rusqlite::Error) -> SqliteError {
    match &err {
        rusqlite::Error::SqliteFailure(failure, message) => {
            let text = message.clone().unwrap_or_else(|| failure.to_string());
            match failure.code {
                ErrorCode::ConstraintViolation => SqliteError::Constraint(text),
                ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => SqliteError::Busy,
                ErrorCode::OperationInterrupted => SqliteError::Timeout,
                ErrorCode::AuthorizationForStatementDenied => SqliteError::Denied(text),
                ErrorCode::DiskFull
                | ErrorCode::SystemIoFailure
                | ErrorCode::CannotOpen
                | ErrorCode::ReadOnly
                | ErrorCode::DatabaseCorrupt => SqliteError::Io(text),
                _ => SqliteError::Invalid(text),
            }
        }
        _ => SqliteError::Invalid(err.to_string()),
    }
}

/// What the `sqlite` host functions see of one plugin: its grants and its database (opened
/// when the plugin loads, when granted). Nothing per instance.
pub struct SqliteView<'a> {
    pub grants: &'a Grants,
    pub db: Option<&'a SqliteDb>,
    pub cpu: &'a CpuMeter,
}

/// Links `sqlite` through [`SqliteView`].
pub struct SqliteCapability;

impl HasData for SqliteCapability {
    type Data<'a> = SqliteView<'a>;
}

impl SqliteView<'_> {
    /// Runs one database operation for the guest: grant check first, then the operation,
    /// charged to host time.
    async fn sqlite_call<R, F>(&mut self, op: impl FnOnce(SqliteDb) -> F) -> wasmtime::Result<Result<R, SqliteError>>
    where
        F: Future<Output = Result<R, SqliteError>>,
    {
        if let Err(denied) = self.grants.sqlite() {
            return Ok(Err(SqliteError::Denied(denied.0)));
        }
        let Some(db) = self.db.cloned() else {
            return Ok(Err(SqliteError::Io("the plugin's database is not open".into())));
        };
        Ok(self.cpu.host_io(op(db)).await)
    }
}

impl sqlite::Host for SqliteView<'_> {
    async fn execute(&mut self, statement: Statement) -> wasmtime::Result<Result<u64, SqliteError>> {
        self.sqlite_call(|db| async move { db.execute(statement).await }).await
    }

    async fn query(&mut self, statement: Statement) -> wasmtime::Result<Result<Rows, SqliteError>> {
        self.sqlite_call(|db| async move { db.query(statement).await }).await
    }

    async fn transaction(
        &mut self,
        statements: Vec<Statement>,
    ) -> wasmtime::Result<Result<Vec<u64>, SqliteError>> {
        self.sqlite_call(|db| async move { db.transaction(statements).await }).await
    }

    async fn execute_script(&mut self, sql: String) -> wasmtime::Result<Result<(), SqliteError>> {
        self.sqlite_call(|db| async move { db.execute_script(sql).await }).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stmt(sql: &str) -> Statement {
        Statement { sql: sql.into(), params: Vec::new() }
    }

    #[tokio::test]
    async fn fenced_statements_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = SqliteDb::open(&dir.path().join("p.db"), 1 << 20).expect("open");
        db.execute_script("CREATE TABLE t (x INTEGER);".into()).await.expect("create");
        let escape = dir.path().join("copy.db");
        let cases = [
            format!("ATTACH DATABASE '{}' AS other", escape.display()),
            "PRAGMA foreign_keys = OFF".to_string(),
            "PRAGMA journal_mode = DELETE".to_string(),
            format!("VACUUM INTO '{}'", escape.display()),
            format!("vacuum\n main   into '{}'", escape.display()),
            "SELECT load_extension('/tmp/x.so')".to_string(),
        ];
        for sql in cases {
            let result = db.execute(stmt(&sql)).await;
            assert!(result.is_err(), "{sql} must be refused");
        }
        assert!(!escape.exists(), "no file was written outside the database");
        assert!(matches!(db.execute(stmt("INSERT INTO t VALUES (1)")).await, Ok(1)));
    }

    #[tokio::test]
    async fn runaway_statements_are_interrupted() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut db = SqliteDb::open(&dir.path().join("p.db"), 1 << 20).expect("open");
        db.statement_timeout = Duration::from_millis(200);
        let endless = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c";
        assert!(matches!(db.query(stmt(endless)).await, Err(SqliteError::Timeout)));
        // The connection stays usable.
        assert!(db.query(stmt("SELECT 1")).await.is_ok());
    }

    #[tokio::test]
    async fn results_are_capped_and_constraints_mapped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = SqliteDb::open(&dir.path().join("p.db"), 1000).expect("open");
        db.execute_script("CREATE TABLE t (x TEXT PRIMARY KEY);".into()).await.expect("create");
        for i in 0..20 {
            db.execute(Statement { sql: "INSERT INTO t VALUES (?1)".into(), params: vec![Value::Text(format!("{i:0>100}"))] })
                .await
                .expect("insert");
        }
        assert!(matches!(db.query(stmt("SELECT x FROM t")).await, Err(SqliteError::TooLarge(1000))));
        let dup = db
            .execute(Statement { sql: "INSERT INTO t VALUES (?1)".into(), params: vec![Value::Text(format!("{:0>100}", 1))] })
            .await;
        assert!(matches!(dup, Err(SqliteError::Constraint(_))), "{dup:?}");
        // A failed statement inside a transaction rolls the whole transaction back.
        let tx = db
            .transaction(vec![stmt("INSERT INTO t VALUES ('new')"), stmt("INSERT INTO t VALUES ('new')")])
            .await;
        assert!(tx.is_err());
        let rows = db.query(stmt("SELECT COUNT(*) FROM t WHERE x = 'new'")).await.expect("count");
        assert!(matches!(rows.rows.as_slice(), [row] if matches!(row.as_slice(), [Value::Integer(0)])));
    }
}
