//! What only postgres-store has: a database that several daemons share, and a role that the
//! host checks before any of the plugin's SQL runs. The library suite itself runs on both
//! stores in `store.rs`.

use scribe_tests::Setup;
use scribe_tests::postgres::{ROLE_PASSWORD, TestDatabase, server};
use scribed::clients::library::{NewSession, SessionKind, SessionStatus};

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

    // The superuser is refused the same way.
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
