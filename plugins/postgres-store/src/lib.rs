//! `postgres-store`: the library's system of record in a PostgreSQL database that several
//! daemons share (`store` world of 0.3.0).
//!
//! The library itself is the store kit's; this plugin gives it the host's `postgres`
//! capability (the host holds the connections to the database the operator granted; this
//! plugin never sees where it is or how to log in) and the schema in PostgreSQL's dialect.

mod schema;

use scribe_plugin_api::store_0_3::library::StoreError;
use scribe_plugin_api::store_0_3::postgres::{self, PostgresError};
use scribe_store_kit::{Database, Result, Row, Statement, Store, Value, dollar_placeholders};

/// Tries of a call that a concurrent transaction made fail (a deadlock between two nodes'
/// writes, a serialization failure): the failed call changed nothing, and a second try
/// almost always passes.
const CONFLICT_TRIES: usize = 3;

fn storage(err: PostgresError) -> StoreError {
    match err {
        PostgresError::Constraint(msg) => StoreError::Conflict(msg),
        PostgresError::Invalid(msg) => StoreError::Storage(format!("invalid statement: {msg}")),
        PostgresError::Denied(msg) => StoreError::Storage(format!("postgres denied: {msg}")),
        PostgresError::Conflict(msg) => StoreError::Storage(format!("concurrent change: {msg}")),
        PostgresError::Timeout => StoreError::Storage("statement timed out".into()),
        PostgresError::TooLarge(n) => StoreError::Storage(format!("result too large ({n} bytes)")),
        PostgresError::Unavailable(msg) => StoreError::Storage(format!("database unavailable: {msg}")),
    }
}

/// Runs `call`, again when a concurrent transaction made it fail.
fn retried<T>(mut call: impl FnMut() -> std::result::Result<T, PostgresError>) -> Result<T> {
    let mut tries = 1;
    loop {
        match call() {
            Err(PostgresError::Conflict(_)) if tries < CONFLICT_TRIES => tries += 1,
            other => return other.map_err(storage),
        }
    }
}

fn to_postgres(value: &Value) -> postgres::Value {
    match value {
        Value::Null => postgres::Value::Null,
        Value::Integer(n) => postgres::Value::Integer(*n),
        Value::Real(x) => postgres::Value::Real(*x),
        Value::Text(s) => postgres::Value::Text(s.clone()),
        Value::Blob(b) => postgres::Value::Blob(b.clone()),
    }
}

fn from_postgres(value: postgres::Value) -> Value {
    match value {
        postgres::Value::Null => Value::Null,
        postgres::Value::Integer(n) => Value::Integer(n),
        postgres::Value::Real(x) => Value::Real(x),
        postgres::Value::Text(s) => Value::Text(s),
        postgres::Value::Blob(b) => Value::Blob(b),
    }
}

fn statement(statement: &Statement) -> postgres::Statement {
    postgres::Statement { sql: dollar_placeholders(&statement.sql), params: statement.params.iter().map(to_postgres).collect() }
}

/// The host's `postgres` capability as the kit's database.
pub struct Postgres;

impl Database for Postgres {
    const ID: &'static str = "postgres-store";
    const NAME: &'static str = "PostgreSQL library store";

    fn query(query: &Statement) -> Result<Vec<Row>> {
        let query = statement(query);
        let rows = retried(|| postgres::query(&query))?;
        Ok(rows.rows.into_iter().map(|row| Row(row.into_iter().map(from_postgres).collect())).collect())
    }

    fn execute(execute: &Statement) -> Result<u64> {
        let execute = statement(execute);
        retried(|| postgres::execute(&execute))
    }

    fn transaction(statements: &[Statement]) -> Result<()> {
        let statements: Vec<_> = statements.iter().map(statement).collect();
        retried(|| postgres::transaction(&statements)).map(drop)
    }

    fn migrate() -> Result<u32> {
        let script = schema::script();
        retried(|| postgres::execute_script(&script))?;
        Ok(schema::migrations().len() as u32)
    }
}

/// The library in PostgreSQL.
pub type PostgresStore = Store<Postgres>;

scribe_plugin_api::register_plugin!(store_0_3, PostgresStore);
