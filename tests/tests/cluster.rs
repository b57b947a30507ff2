//! Two daemons on loopback as the nodes of one cluster: one PostgreSQL database holds the
//! library (postgres-store), and the nodes meet in another on the same server ([cluster]), as
//! the README advises. What one node does is
//! seen from the other: its events, the library, search, and the list of nodes.

use std::time::Duration;

use scribe_tests::fake_deepgram::{FakeDeepgram, Script};
use scribe_tests::postgres::TestDatabase;
use scribe_tests::{Events, Setup, TestDaemon, sox_tone};

const KEY: &str = "cluster-test-key";
/// A guard against a hung test, not a wait for something to happen.
const LIMIT: Duration = Duration::from_secs(60);

/// The library's database and the cluster's.
struct Databases {
    library: TestDatabase,
    cluster: TestDatabase,
}

impl Databases {
    async fn on(server: &'static scribe_tests::postgres::Server) -> Databases {
        let library = TestDatabase::create_on(server).await.expect("the library's database");
        let cluster = TestDatabase::create_on(server).await.expect("the cluster's database");
        Databases { library, cluster }
    }
}

fn node(db: &Databases, fake: &FakeDeepgram, name: &str) -> Setup {
    // Both roles have the same password, which the setup puts in SCRIBE_DB_PASSWORD.
    let mut setup = Setup::new().with_postgres_store(&db.library).with_fake_deepgram(fake, KEY);
    setup.config.cluster.database_url = Some(db.cluster.url_with_password_from("SCRIBE_DB_PASSWORD"));
    setup.config.cluster.node_name = Some(name.into());
    setup.config.cluster.heartbeat_secs = 1;
    setup
}

/// Whether a cluster status lists both nodes, alive.
fn both_alive(cluster: &serde_json::Value) -> bool {
    cluster["nodes"].as_array().is_some_and(|nodes| nodes.len() == 2 && nodes.iter().all(|n| n["alive"] == true))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_on_one_node_is_seen_and_found_on_the_other() {
    let db = Databases::on(scribe_tests::postgres::server()).await;
    let fake = FakeDeepgram::loopback(KEY).await;
    let work = tempfile::tempdir().expect("tempdir");
    let audio = sox_tone(work.path(), 523, 16_000, 1).expect("tone");
    fake.script(&audio, Script::from_text("The quarterly figures arrive on Thursday.", 1.0));

    let a = node(&db, &fake, "nas").start().await.expect("node a");
    let b = node(&db, &fake, "desktop").start().await.expect("node b");
    let mut events_b = Events::connect(&b).await.expect("events of b");

    let session = a.upload("figures.wav", audio).await.expect("upload to a");
    let done = events_b
        .until(LIMIT, |e| e["type"] == "job" && e["session_id"] == session && e["status"] == "complete")
        .await
        .expect("b's clients see a's job finish");
    assert_eq!(done["node"], "nas", "{done}");
    assert!(done["seq"].as_u64().is_some(), "numbered by b: {done}");

    // b's index caught up on a's change without a write of its own.
    b.indexed(&mut events_b).await.expect("b's index catches up");
    assert_eq!(b.search_ids("quarterly").await.expect("search on b"), vec![session.clone()]);
    let mut events_a = Events::connect(&a).await.expect("events of a");
    a.indexed(&mut events_a).await.expect("a's index");
    assert_eq!(a.search_ids("quarterly").await.expect("search on a"), vec![session.clone()]);
    assert_eq!(b.stored_words(&session).await.expect("words from b").join(" "), "The quarterly figures arrive on Thursday.");

    // Both nodes list both, alive, with their addresses.
    for daemon in [&a, &b] {
        let cluster = cluster_until(daemon, both_alive).await;
        let names: Vec<_> = cluster["nodes"].as_array().expect("nodes").iter().map(|n| n["name"].as_str().unwrap_or_default().to_string()).collect();
        assert_eq!(names, ["desktop", "nas"], "{cluster}");
        assert!(cluster["database_error"].is_null(), "{cluster}");
    }
    let cluster = cluster_until(&a, both_alive).await;
    let nas = cluster["nodes"].as_array().expect("nodes").iter().find(|n| n["name"] == "nas").cloned().expect("nas listed");
    assert_eq!(nas["url"], a.url("/"), "{nas}");
    assert_eq!(cluster["node"], "nas");
}

/// Polls `daemon`'s cluster status until `ready` holds: no event says that a node has
/// reconnected, so this looks every 200 ms, for at most [`LIMIT`].
async fn cluster_until(daemon: &TestDaemon, ready: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
    let deadline = tokio::time::Instant::now() + LIMIT;
    loop {
        let status = daemon.get_json("/api/v1/status").await.expect("status");
        if ready(&status["cluster"]) {
            return status["cluster"].clone();
        }
        assert!(tokio::time::Instant::now() < deadline, "the cluster never got there: {status}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_nodes_reconnect_after_the_database_restarts() {
    // A cluster of this test's own: it is stopped and started under the nodes.
    let server = scribe_tests::postgres::private();
    let db = Databases::on(server).await;
    let fake = FakeDeepgram::loopback(KEY).await;
    let work = tempfile::tempdir().expect("tempdir");
    let before = sox_tone(work.path(), 440, 16_000, 1).expect("tone");
    fake.script(&before, Script::from_text("Before the restart.", 1.0));
    let after = sox_tone(work.path(), 660, 16_000, 1).expect("tone");
    fake.script(&after, Script::from_text("After the restart.", 1.0));

    let a = node(&db, &fake, "nas").start().await.expect("node a");
    let b = node(&db, &fake, "desktop").start().await.expect("node b");
    let connected = |c: &serde_json::Value| c["listening"] == true && c["database_error"].is_null();
    cluster_until(&b, connected).await;
    let mut events_b = Events::connect(&b).await.expect("events of b");
    let first = a.upload("before.wav", before).await.expect("upload");
    events_b.until(LIMIT, |e| e["type"] == "job" && e["session_id"] == first && e["status"] == "complete").await.expect("seen on b");

    server.control("stop").expect("stop the server");
    for daemon in [&a, &b] {
        let down = cluster_until(daemon, |c| c["listening"] == false && c["database_error"].is_string()).await;
        assert!(down["nodes"].as_array().is_some_and(|n| n.is_empty()), "{down}");
    }
    // A file sent while the library's database is away is refused, so the client knows to
    // send it again; nothing of it stays behind to stop that.
    let refused = reqwest::Client::new().post(a.url("/api/v1/uploads?name=after.wav")).body(after.clone()).send().await.expect("answer");
    assert!(refused.status().is_server_error(), "{}", refused.status());
    server.control("start").expect("start the server again");
    for daemon in [&a, &b] {
        cluster_until(daemon, |c| connected(c) && c["nodes"].as_array().is_some_and(|n| n.len() == 2)).await;
    }

    // Events cross again, and the library is whole on both nodes.
    let second = a.upload("after.wav", after).await.expect("upload after the restart");
    let done = events_b
        .until(LIMIT, |e| e["type"] == "job" && e["session_id"] == second && e["status"] == "complete")
        .await
        .expect("seen on b after the restart");
    assert_eq!(done["node"], "nas");
    b.indexed(&mut events_b).await.expect("b's index");
    assert_eq!(b.search_ids("restart").await.expect("search on b").len(), 2);
    for (session, text) in [(&first, "Before the restart."), (&second, "After the restart.")] {
        assert_eq!(b.stored_words(session).await.expect("words").join(" "), text);
    }
    let sessions = b.get_json("/api/v1/sessions").await.expect("sessions");
    assert_eq!(sessions["total"], 2, "the refused upload left no session: {sessions}");
}
