//! `sqlite-store`: the library's system of record in one SQLite file (`store` world), the
//! embedded default.
//!
//! The library itself is the store kit's; this plugin gives it the host's `sqlite`
//! capability (one WAL database file for this plugin, in its data dir; the host enables
//! foreign keys, so deleting a session cascades to everything that belongs to it) and the
//! schema in SQLite's dialect.

mod schema;

use scribe_plugin_api::store_0_3::library::StoreError;
use scribe_plugin_api::store_0_3::sqlite::{self, SqliteError};
use scribe_store_kit::{Database, Result, Row, Statement, Store, Value};

fn storage(err: SqliteError) -> StoreError {
    match err {
        SqliteError::Constraint(msg) => StoreError::Conflict(msg),
        SqliteError::Invalid(msg) => StoreError::Storage(format!("invalid statement: {msg}")),
        SqliteError::Denied(msg) => StoreError::Storage(format!("sqlite denied: {msg}")),
        SqliteError::Busy => StoreError::Storage("database busy".into()),
        SqliteError::Timeout => StoreError::Storage("statement timed out".into()),
        SqliteError::TooLarge(n) => StoreError::Storage(format!("result too large ({n} bytes)")),
        SqliteError::Io(msg) => StoreError::Storage(msg),
    }
}

fn to_sqlite(value: &Value) -> sqlite::Value {
    match value {
        Value::Null => sqlite::Value::Null,
        Value::Integer(n) => sqlite::Value::Integer(*n),
        Value::Real(x) => sqlite::Value::Real(*x),
        Value::Text(s) => sqlite::Value::Text(s.clone()),
        Value::Blob(b) => sqlite::Value::Blob(b.clone()),
    }
}

fn from_sqlite(value: sqlite::Value) -> Value {
    match value {
        sqlite::Value::Null => Value::Null,
        sqlite::Value::Integer(n) => Value::Integer(n),
        sqlite::Value::Real(x) => Value::Real(x),
        sqlite::Value::Text(s) => Value::Text(s),
        sqlite::Value::Blob(b) => Value::Blob(b),
    }
}

fn statement(statement: &Statement) -> sqlite::Statement {
    sqlite::Statement { sql: statement.sql.clone(), params: statement.params.iter().map(to_sqlite).collect() }
}

/// The host's `sqlite` capability as the kit's database.
pub struct Sqlite;

impl Database for Sqlite {
    const ID: &'static str = "sqlite-store";
    const NAME: &'static str = "SQLite library store";

    fn query(query: &Statement) -> Result<Vec<Row>> {
        let rows = sqlite::query(&statement(query)).map_err(storage)?;
        Ok(rows.rows.into_iter().map(|row| Row(row.into_iter().map(from_sqlite).collect())).collect())
    }

    fn execute(execute: &Statement) -> Result<u64> {
        sqlite::execute(&statement(execute)).map_err(storage)
    }

    fn transaction(statements: &[Statement]) -> Result<()> {
        let statements: Vec<_> = statements.iter().map(statement).collect();
        sqlite::transaction(&statements).map_err(storage).map(drop)
    }

    fn migrate() -> Result<u32> {
        sqlite::execute_script(schema::MIGRATIONS_TABLE).map_err(storage)?;
        let applied = Self::query(&Statement { sql: "SELECT COALESCE(MAX(version), 0) FROM schema_migrations".into(), params: Vec::new() })?
            .first()
            .map(|row| row.u64(0))
            .transpose()?
            .unwrap_or(0);
        for (index, step) in schema::MIGRATIONS.iter().enumerate() {
            let version = index as u64 + 1;
            if version <= applied {
                continue;
            }
            let script = format!("{step}\nINSERT INTO schema_migrations (version) VALUES ({version});");
            sqlite::execute_script(&script).map_err(storage)?;
        }
        Ok(schema::MIGRATIONS.len() as u32)
    }
}

/// The library in SQLite.
pub type SqliteStore = Store<Sqlite>;

scribe_plugin_api::register_plugin!(store_0_3, SqliteStore);
