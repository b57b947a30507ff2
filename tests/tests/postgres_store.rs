//! What only postgres-store has: a database that several daemons share, a role that the host
//! checks before any of the plugin's SQL runs, a start that waits for the database, and the
//! `postgres` capability's conversions, caps and deadline. The library suite itself runs on
//! both stores in `store.rs`.

use scribe_tests::Setup;
use scribe_tests::postgres::{ROLE_PASSWORD, TestDatabase, server};
use scribed::clients::library::{NewSession, SessionKind, SessionStatus};
use scribed::plugin::bindings::postgres::{PostgresError, Statement, Value};
use scribed::plugin::capabilities::postgres::PostgresDb;

fn session(id: &str) -> NewSession {
    NewSession {
        id: id.into(),
        kind: SessionKind::File,
        status: SessionStatus::Queued,
        source: format!("{id}.wav"),
        title: id.into(),
        created_ms: 1,
        provider: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_daemons_starting_together_migrate_once_and_share_the_library() {
    let db = TestDatabase::create().await.expect("a test database");
    let (a, b) = tokio::join!(Setup::new().with_postgres_store(&db).start(), Setup::new().with_postgres_store(&db).start());
    let (a, b) = (a.expect("first daemon"), b.expect("second daemon"));
    let (library_a, library_b) = (a.daemon.library().expect("library on a"), b.daemon.library().expect("library on b"));

    library_a.create_session(session("from-a")).await.expect("create on a");
    library_b.create_session(session("from-b")).await.expect("create on b");
    for library in [library_a, library_b] {
        let seen = library.get_session("from-a".into()).await.expect("get");
        assert!(seen.is_some(), "a session made on a is in the library of both");
        assert!(library.get_session("from-b".into()).await.expect("get").is_some());
        let changes = library.changes_since(0, 10).await.expect("changes");
        let order: Vec<_> = changes.iter().map(|c| c.session_id.as_str()).collect();
        assert_eq!(order, ["from-a", "from-b"], "one change sequence, in commit order");
    }
    let duplicate = library_b.create_session(session("from-a")).await;
    assert!(matches!(duplicate, Err(scribed::clients::library::LibraryError::Conflict(_))), "{duplicate:?}");
    let client = connect(&db).await;
    let steps = client.query_one("SELECT count(*) FROM schema_migrations", &[]).await.expect("migrations");
    assert_eq!(steps.get::<_, i64>(0), 1, "each step recorded once");
}

/// A connection to `db` as its owner.
async fn connect(db: &TestDatabase) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(&server().url(&db.role, ROLE_PASSWORD, &db.name), tokio_postgres::NoTls)
        .await
        .expect("connect as the role");
    tokio::spawn(connection);
    client
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_that_reaches_the_servers_files_is_refused_before_any_sql() {
    let db = TestDatabase::create().await.expect("a test database");
    // The owner of the database, made able to read the server's files: a plugin's SQL could
    // then read any file the server can (`pg_read_file`, `COPY FROM`).
    db.admin(&format!("GRANT pg_read_server_files TO {}", db.role)).await.expect("grant");
    let daemon = Setup::new().with_postgres_store(&db).start().await.expect("the daemon starts without its library");
    assert!(daemon.daemon.library().is_none(), "no library through a dangerous role");
    let status = daemon.get_json("/api/v1/status").await.expect("status");
    let error = status["library_error"].as_str().unwrap_or_default();
    assert!(error.contains("postgres-store") && error.contains("may reach the server's files"), "{status}");
    // Nothing was created in the database: the check ran before the migration.
    let tables = connect(&db)
        .await
        .query_one("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'", &[])
        .await
        .expect("count tables");
    assert_eq!(tables.get::<_, i64>(0), 0, "no table was created");

    // So is a role that may become a superuser (SET ROLE), and the superuser itself.
    let member = TestDatabase::create().await.expect("a test database");
    member.admin(&format!("CREATE ROLE {}_admin SUPERUSER NOLOGIN; GRANT {}_admin TO {}", member.role, member.role, member.role)).await.expect("grant");
    let daemon = Setup::new().with_postgres_store(&member).start().await.expect("starts");
    assert!(daemon.daemon.library().is_none(), "no library through a role that can become a superuser");
    let status = daemon.get_json("/api/v1/status").await.expect("status");
    assert!(status["library_error"].as_str().unwrap_or_default().contains("superuser"), "{status}");

    let mut superuser = Setup::new().with_postgres_store(&db);
    superuser.config.plugins.get_mut("postgres-store").expect("configured").postgres_url =
        Some(server().url(&server().superuser, "${SCRIBE_DB_PASSWORD}", &db.name));
    let superuser = superuser.env("SCRIBE_DB_PASSWORD", &server().password).start().await.expect("starts");
    assert!(superuser.daemon.library().is_none());
    let status = superuser.get_json("/api/v1/status").await.expect("status");
    assert!(status["library_error"].as_str().unwrap_or_default().contains("superuser"), "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_started_before_its_database_waits_for_it() {
    let server = scribe_tests::postgres::private();
    let db = TestDatabase::create_on(server).await.expect("a test database");
    server.control("stop").expect("stop the server");
    let mut starting = tokio::spawn(Setup::new().with_postgres_store(&db).start());
    // Without the wait the start would be over at once, without a library.
    let early = tokio::time::timeout(std::time::Duration::from_secs(3), &mut starting).await;
    assert!(early.is_err(), "the start waits while the database refuses connections");
    server.control("start").expect("start the server");
    let daemon = starting.await.expect("start task").expect("the daemon starts");
    let library = daemon.daemon.library().expect("the library, once the database is up");
    library.create_session(session("after-the-wait")).await.expect("create");
    assert!(library.get_session("after-the-wait".into()).await.expect("get").is_some());
}

/// The capability as a plugin meets it, on a database of its own.
async fn capability() -> (TestDatabase, PostgresDb) {
    let db = TestDatabase::create().await.expect("a test database");
    let url = scribed::secret::Secret::new(db.server.url(&db.role, ROLE_PASSWORD, &db.name));
    let pg = PostgresDb::open(&url, 1_000).expect("open");
    (db, pg)
}

fn stmt(sql: &str, params: Vec<Value>) -> Statement {
    Statement { sql: sql.into(), params }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_capability_converts_caps_and_maps_what_the_server_says() {
    let (_db, pg) = capability().await;
    pg.execute_script("CREATE TABLE t (id BIGINT PRIMARY KEY, small INT, name TEXT, data BYTEA, score REAL)".into()).await.expect("create");
    let insert = "INSERT INTO t (id, small, name, data, score) VALUES ($1, $2, $3, $4, $5)";
    let row = |id: i64| vec![Value::Integer(id), Value::Integer(7), Value::Text(format!("row {id}")), Value::Blob(vec![1, 2]), Value::Real(0.5)];
    assert_eq!(pg.execute(stmt(insert, row(1))).await.expect("insert"), 1);
    let rows = pg.query(stmt("SELECT id, small, name, data, score, small > 1, NULL::text FROM t", vec![])).await.expect("select");
    assert_eq!(rows.columns, ["id", "small", "name", "data", "score", "?column?", "text"]);
    assert!(
        matches!(rows.rows[0].as_slice(), [Value::Integer(1), Value::Integer(7), Value::Text(name), Value::Blob(data), Value::Real(score), Value::Integer(1), Value::Null]
            if name == "row 1" && data == &[1, 2] && *score == 0.5),
        "{:?}",
        rows.rows
    );

    let duplicate = pg.execute(stmt(insert, row(1))).await;
    assert!(matches!(duplicate, Err(PostgresError::Constraint(_))), "{duplicate:?}");
    let too_big = pg.execute(stmt(insert, vec![Value::Integer(2), Value::Integer(1 << 40), Value::Null, Value::Null, Value::Null])).await;
    assert!(matches!(&too_big, Err(PostgresError::Invalid(why)) if why.contains("cast the placeholder")), "{too_big:?}");
    let text_for_number = pg.execute(stmt(insert, vec![Value::Text("3".into()), Value::Null, Value::Null, Value::Null, Value::Null])).await;
    assert!(matches!(text_for_number, Err(PostgresError::Invalid(_))), "{text_for_number:?}");
    let unsupported = pg.query(stmt("SELECT now() AS at", vec![])).await;
    assert!(matches!(&unsupported, Err(PostgresError::Invalid(why)) if why.contains("at::text")), "{unsupported:?}");
    let large = pg.query(stmt("SELECT repeat('x', 2000)", vec![])).await;
    assert!(matches!(large, Err(PostgresError::TooLarge(1_000))), "{large:?}");
    // A transaction with a failing statement leaves nothing behind.
    let failed = pg.transaction(vec![stmt(insert, row(5)), stmt(insert, row(1))]).await;
    assert!(matches!(failed, Err(PostgresError::Constraint(_))), "{failed:?}");
    let count = pg.query(stmt("SELECT count(*) FROM t", vec![])).await.expect("count");
    assert!(matches!(count.rows.as_slice(), [row] if matches!(row.as_slice(), [Value::Integer(1)])), "{:?}", count.rows);
    let denied = pg.execute(stmt("SELECT pg_read_file('/etc/passwd')", vec![])).await;
    assert!(matches!(denied, Err(PostgresError::Denied(_))), "{denied:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_past_the_deadline_is_cancelled_even_when_the_plugin_lifted_the_timeout() {
    let (_db, pg) = capability().await;
    let pg = pg.with_deadline(std::time::Duration::from_secs(1));
    // The plugin's SQL may lift the server's statement timeout for its own session.
    pg.execute_script("SET statement_timeout = 0".into()).await.expect("set");
    let started = std::time::Instant::now();
    let endless = pg.query(stmt("SELECT pg_sleep(600)", vec![])).await;
    assert!(matches!(endless, Err(PostgresError::Timeout)), "{endless:?}");
    assert!(started.elapsed() < std::time::Duration::from_secs(30), "ended by the host's deadline, not the server");
    // The next call gets a connection with the server's timeout again, and works.
    let timeout = pg.query(stmt("SELECT current_setting('statement_timeout')", vec![])).await.expect("setting");
    assert!(matches!(timeout.rows.as_slice(), [row] if matches!(row.as_slice(), [Value::Text(t)] if t == "30s")), "{:?}", timeout.rows);
}
