//! Two daemons on loopback as the nodes of one cluster: one PostgreSQL database holds the
//! library (postgres-store), and the nodes meet in another on the same server ([cluster]), as
//! the README advises, where they share the file queue. What one node does is seen from the
//! other: its events, the library, search, and the list of nodes. A file that comes in on
//! one node is transcribed by the node that can, and a node killed mid-job loses it to the
//! other.

use std::time::Duration;

use std::path::Path;

use scribe_tests::fake_deepgram::{FakeDeepgram, Fault, Script};
use scribe_tests::postgres::{ROLE_PASSWORD, TestDatabase};
use scribe_tests::wer::{plain_words, wer};
use scribe_tests::{Events, Setup, TestDaemon, human_speech, process, sox_tone};

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

/// The variable the nodes read the databases' password from.
const PASSWORD_VAR: &str = "SCRIBE_DB_PASSWORD";

/// A node of the cluster in `db`, its recordings in `audio` (the folder the nodes share).
fn member(db: &Databases, name: &str, audio: &Path) -> Setup {
    // Both roles have the same password, which the setup puts in SCRIBE_DB_PASSWORD.
    let mut setup = Setup::new().with_postgres_store(&db.library);
    setup.config.cluster.database_url = Some(db.cluster.url_with_password_from(PASSWORD_VAR));
    setup.config.cluster.node_name = Some(name.into());
    setup.config.cluster.heartbeat_secs = 1;
    setup.config.storage.audio_dir = Some(audio.to_path_buf());
    setup
}

/// A node that transcribes files with the fake Deepgram. A [`member`] alone has no key and
/// no model, so it takes no file job from the shared queue.
fn node(db: &Databases, fake: &FakeDeepgram, name: &str, audio: &Path) -> Setup {
    member(db, name, audio).with_fake_deepgram(fake, KEY)
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

    let a = node(&db, &fake, "nas", work.path()).start().await.expect("node a");
    // No key and no model: b takes no file job, so a's workers transcribe what a receives.
    let b = member(&db, "desktop", work.path()).start().await.expect("node b");
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
    cluster_at(&daemon.url(""), ready).await
}

/// [`cluster_until`] for the daemon serving at `url` (its own process).
async fn cluster_at(url: &str, ready: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
    let deadline = tokio::time::Instant::now() + LIMIT;
    loop {
        let status: serde_json::Value = reqwest::get(format!("{url}/api/v1/status")).await.expect("status").json().await.expect("json");
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

    let a = node(&db, &fake, "nas", work.path()).start().await.expect("node a");
    // No key and no model: b takes no file job, so a's workers transcribe what a receives.
    let b = member(&db, "desktop", work.path()).start().await.expect("node b");
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_in_one_nodes_inbox_is_transcribed_by_the_node_with_the_model() {
    const SAID: &str = "Ever tried. Ever failed. No matter. Try again. Fail again. Fail better.";
    let db = Databases::on(scribe_tests::postgres::server()).await;
    let audio = tempfile::tempdir().expect("the shared audio folder");
    let clip = human_speech().await.expect("the human speech clip");
    // The NAS has no model and no key: whisper-local loads without its model there, so
    // the NAS takes no job, and the desktop (tiny.en installed) takes them all.
    let mut nas = member(&db, "nas", audio.path());
    nas.config.inbox.stable_secs = 1;
    let a = nas.start().await.expect("the nas");
    let b = member(&db, "desktop", audio.path()).with_test_model().start().await.expect("the desktop");
    let mut events_a = Events::connect(&a).await.expect("events of the nas");

    scribe_tests::drop_into_inbox(&a.daemon.data_dir().join("inbox"), "beckett.wav", &std::fs::read(&clip).expect("clip")).expect("into the inbox");
    let created = events_a.until(LIMIT, |e| e["type"] == "library" && e["change"] == "created").await.expect("the nas takes the file");
    let session = created["session_id"].as_str().expect("session id").to_string();
    let done = events_a.job_end(&session).await.expect("the job ends");
    assert_eq!((done["status"].as_str(), done["node"].as_str()), (Some("complete"), Some("desktop")), "{done}");
    // The job's end on the desktop settles the file in the NAS's inbox.
    let filed = events_a.until(LIMIT, |e| e["type"] == "inbox-file" && e["name"] == "beckett.wav").await.expect("the inbox settles the file");
    assert_eq!(filed["outcome"], "done", "{filed}");

    let detail = b.get_json(&format!("/api/v1/sessions/{session}")).await.expect("the session");
    assert_eq!(detail["session"]["provider"], "whisper-local", "{detail}");
    let heard = plain_words(&b.stored_words(&session).await.expect("words").join(" "));
    assert!(wer(&plain_words(SAID), &heard) <= 10.0, "{heard:?}");
    for daemon in [&a, &b] {
        let mut events = Events::connect(daemon).await.expect("events");
        daemon.indexed(&mut events).await.expect("index");
        assert_eq!(daemon.search_ids("failed").await.expect("search"), vec![session.clone()]);
    }
}

/// A node of a cluster as its own process: the default config pointed at the fake
/// Deepgram, the library in postgres-store, short heartbeats so a killed node is noticed
/// within seconds.
struct Process {
    name: &'static str,
    child: std::process::Child,
    url: String,
}

impl Process {
    fn start(db: &Databases, fake: &FakeDeepgram, name: &'static str, dir: &Path, audio: &Path) -> Process {
        let library = db.library.url_with_password_from(PASSWORD_VAR);
        let cluster = db.cluster.url_with_password_from(PASSWORD_VAR);
        let text = process::config_text(fake)
            .replacen("store = \"sqlite-store\"", "store = \"postgres-store\"", 1)
            .replacen(
                "[plugins.postgres-store]\nenabled = false\npostgres_url = \"postgres://scribe:${SCRIBE_DB_PASSWORD}@127.0.0.1:5432/scribe\"",
                &format!("[plugins.postgres-store]\nenabled = true\npostgres_url = \"{library}\""),
                1,
            )
            .replacen("heartbeat_secs = 5\n", &format!("heartbeat_secs = 1\ndatabase_url = \"{cluster}\"\nnode_name = \"{name}\"\n"), 1)
            .replacen("node_timeout_secs = 30", "node_timeout_secs = 3", 1)
            .replacen("min_free_mb = 1024\n", &format!("min_free_mb = 1024\naudio_dir = {:?}\n", audio), 1);
        assert!(
            text.contains("\"postgres-store\"") && text.contains(&library) && text.contains(&cluster) && text.contains("node_timeout_secs = 3") && text.contains("audio_dir"),
            "config edits applied"
        );
        let config = dir.join(format!("{name}.toml"));
        std::fs::write(&config, text).expect("config");
        let mut command = process::command("serve", &config, &dir.join(name), KEY);
        command.env(PASSWORD_VAR, ROLE_PASSWORD);
        let (child, url) = process::serve_with(command);
        Process { name, child, url }
    }

    /// The node's cluster view once one of its nodes satisfies `wanted`.
    async fn cluster_until(&self, wanted: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
        cluster_at(&self.url, |cluster| cluster["nodes"].as_array().is_some_and(|nodes| nodes.iter().any(&wanted))).await
    }

    fn kill(&mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaped");
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_job_loses_it_to_the_other() {
    let db = Databases::on(scribe_tests::postgres::server()).await;
    let fake = FakeDeepgram::loopback(KEY).await;
    let work = tempfile::tempdir().expect("tempdir");
    let audio = sox_tone(work.path(), 587, 16_000, 1).expect("tone");
    fake.script(&audio, Script::from_text("Finished by the other node.", 1.0));
    // The first request hangs: its node is killed while it waits.
    fake.push_fault(Fault::Latency(Duration::from_secs(600)));
    let shared = work.path().join("audio");
    let mut nodes = [
        Process::start(&db, &fake, "left", work.path(), &shared),
        Process::start(&db, &fake, "right", work.path(), &shared),
    ];
    let response = reqwest::Client::new().post(format!("{}/api/v1/uploads?name=tone.wav", nodes[0].url)).body(audio).send().await.expect("upload");
    assert_eq!(response.status(), 202);
    let session = response.json::<serde_json::Value>().await.expect("json")["session_id"].as_str().expect("id").to_string();
    tokio::time::timeout(LIMIT, fake.wait_for_requests(1)).await.expect("a node took the job");

    // The node holding the job says so.
    let holding = |n: &serde_json::Value| n["claimed_jobs"] == 1;
    let view = nodes[0].cluster_until(holding).await;
    let holder = view["nodes"].as_array().into_iter().flatten().find(|n| holding(n)).and_then(|n| n["name"].as_str()).expect("holder").to_string();
    let (killed, survivor) = if nodes[0].name == holder { (0, 1) } else { (1, 0) };
    let mut events = Events::at(&nodes[survivor].url).await.expect("events of the survivor");
    nodes[killed].kill();

    let done = events.job_end(&session).await.expect("the survivor finishes the job");
    assert_eq!(done["status"], "complete", "{done}");
    let detail: serde_json::Value =
        reqwest::get(format!("{}/api/v1/sessions/{session}", nodes[survivor].url)).await.expect("get").json().await.expect("json");
    assert_eq!(detail["versions"].as_array().map(Vec::len), Some(1), "exactly one transcript version: {detail}");
    assert_eq!(fake.requests().len(), 2, "the killed node's attempt and the survivor's");
    // The killed node is listed as gone, holding nothing.
    let dead = nodes[killed].name;
    nodes[survivor].cluster_until(|n| n["name"] == dead && n["alive"] == false && n["claimed_jobs"] == 0).await;
}

/// The shared queue as three nodes' workers use it, straight on the database: no heartbeat
/// runs, so a claim lapses as soon as its first term (the node timeout) is over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shared_queue_gives_each_job_to_one_node_that_can_run_it() {
    use scribed::queue::files::{Due, JobState, JobStore, Runnable};
    let db = TestDatabase::create_on(scribe_tests::postgres::server()).await.expect("database");
    let dir = tempfile::tempdir().expect("tempdir");
    let url = scribed::secret::Secret::new(db.server.url(&db.role, ROLE_PASSWORD, &db.name));
    let queue = |name: &str, plugins: &[&str], default: bool| {
        let config = scribed::config::ClusterConfig { node_name: Some(name.into()), heartbeat_secs: 1, node_timeout_secs: 2, ..Default::default() };
        let cluster = scribed::cluster::Cluster::open(&config, &url, dir.path(), "http://127.0.0.1:1/".into()).expect("node");
        JobStore::shared(&cluster, Runnable { plugins: plugins.iter().map(|p| p.to_string()).collect(), default }).expect("queue")
    };
    let run = |due: Option<Due>| match due {
        Some(Due::Run(job)) => job,
        other => panic!("expected a job to run, got {other:?}"),
    };
    let cloud = queue("cloud", &["deepgram-batch"], true);
    let local = queue("local", &["whisper-local"], false);
    let path = Path::new("/shared/audio");

    // Each node takes only what its plugins can run.
    cloud.insert("named", "aa", path, Some("whisper-local")).await.expect("insert");
    cloud.insert("default", "bb", path, None).await.expect("insert");
    let taken = run(local.claim_due(i64::MAX, 3).await.expect("claim"));
    assert_eq!((taken.session_id.as_str(), taken.attempts), ("named", 1));
    assert!(local.claim_due(i64::MAX, 3).await.expect("claim").is_none(), "the default's job is not for a node without it");
    assert_eq!(run(cloud.claim_due(i64::MAX, 3).await.expect("claim")).session_id, "default");
    assert!(cloud.claim_due(i64::MAX, 3).await.expect("claim").is_none(), "nothing else it can run");

    // Two nodes' workers claiming at once take every job exactly once.
    let other = queue("other", &["deepgram-batch"], true);
    for n in 0..40 {
        cloud.insert(&format!("many{n}"), &format!("many{n}"), path, None).await.expect("insert");
    }
    let claim_all = |store: JobStore| async move {
        let mut ids = Vec::new();
        while let Some(due) = store.claim_due(i64::MAX, 3).await.expect("claim") {
            ids.push(run(Some(due)).id);
        }
        ids
    };
    let (a, b) = tokio::join!(tokio::spawn(claim_all(cloud.clone())), tokio::spawn(claim_all(other.clone())));
    let (a, b) = (a.expect("a node's claims"), b.expect("the other's"));
    let mut all: Vec<i64> = a.iter().chain(&b).copied().collect();
    all.sort_unstable();
    all.dedup();
    assert_eq!((all.len(), a.len() + b.len()), (40, 40), "each job once: {a:?} {b:?}");

    // A node that went quiet loses its job once the lease's first term is over; the attempt
    // counts, and the late node can no longer end it.
    let spare = queue("spare", &["whisper-local"], false);
    let deadline = tokio::time::Instant::now() + LIMIT;
    let retaken = loop {
        if let Some(due) = spare.claim_due(i64::MAX, 3).await.expect("claim") {
            break run(Some(due));
        }
        assert!(tokio::time::Instant::now() < deadline, "the lapsed claim was never taken over");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!((retaken.id, retaken.attempts), (taken.id, 2));
    assert!(!local.holds(taken.id).await.expect("holds") && spare.holds(taken.id).await.expect("holds"));
    local.finish_done(taken.id, None, None).await.expect("a late end is ignored");
    assert_eq!(spare.get("named").await.expect("get").map(|j| j.state), Some(JobState::Running));

    // It stops that node too: the third node that finds it gives it up, with the reason.
    let last = queue("last", &["whisper-local"], false);
    let deadline = tokio::time::Instant::now() + LIMIT;
    let given_up = loop {
        match last.claim_due(i64::MAX, 2).await.expect("claim") {
            Some(Due::GivenUp(job)) => break job,
            Some(other) => panic!("expected the job to be given up, got {other:?}"),
            None => {}
        }
        assert!(tokio::time::Instant::now() < deadline, "the job was never given up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(given_up.last_error.as_deref().is_some_and(|e| e.contains("stopped 2 times")), "{given_up:?}");
    assert_eq!(last.get("named").await.expect("get").map(|j| j.state), Some(JobState::Failed));

    // A node that starts again under its name queues what it was running at once.
    let restarted = queue("cloud", &["deepgram-batch"], true);
    let resumed = run(restarted.claim_due(i64::MAX, 3).await.expect("claim"));
    assert_eq!((resumed.session_id.as_str(), resumed.attempts), ("default", 2));
}
