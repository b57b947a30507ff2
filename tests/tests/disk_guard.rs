//! The free-space guard (`storage.min_free_mb`), with the real components and the fake
//! Deepgram: above the free space, an upload gets 507 saying how much is free, a live
//! session is refused, the status says so, and an inbox file waits untouched; started again
//! with the threshold lowered, the daemon takes the waiting file and transcribes it. A
//! recording running when the disk goes low stops with its audio kept, a queued file job
//! waits, and both resume by themselves when space returns.

use std::process::Command;
use std::time::Duration;

use scribe_tests::fake_deepgram::{FakeDeepgram, Script};
use scribe_tests::{Events, Setup, drop_into_inbox};
use scribed::live::{LiveError, SessionSpec};

const KEY: &str = "dg-disk-key";
const SPEECH: &str = "Space was freed and the recording went through.";
/// A guard against a hung test, not a synchronisation delay.
const LIMIT: Duration = Duration::from_secs(120);
/// More MiB than any disk here has free.
const BEYOND_ANY_DISK: u64 = 1 << 40;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_low_disk_refuses_new_work_and_the_inbox_file_waits_until_space_returns() {
    let data = tempfile::tempdir().expect("tempdir");
    let work = tempfile::tempdir().expect("tempdir");
    let wav = work.path().join("talk.wav");
    assert!(Command::new("espeak-ng").arg("-w").arg(&wav).arg(SPEECH).status().expect("espeak-ng").success());
    let bytes = std::fs::read(&wav).expect("wav");
    let fake = FakeDeepgram::loopback(KEY).await;
    fake.default_script(Script::from_text(SPEECH, 3.0));
    let setup = |min_free_mb: u64| {
        let mut setup = Setup { data_dir: Some(data.path().to_path_buf()), ..Setup::new() }.with_fake_deepgram(&fake, KEY);
        setup.config.inbox.stable_secs = 1;
        setup.config.inbox.rescan_secs = 1;
        setup.config.storage.min_free_mb = min_free_mb;
        setup
    };

    let daemon = setup(BEYOND_ANY_DISK).start().await.expect("daemon starts");
    let status = daemon.get_json("/api/v1/status").await.expect("status");
    assert_eq!(status["disk"]["low"], true, "{status}");
    assert!(status["disk"]["free_mb"].as_u64().is_some_and(|free| free < BEYOND_ANY_DISK), "{status}");

    let upload = reqwest::Client::new().post(daemon.url("/api/v1/uploads?name=talk.wav")).body(bytes.clone()).send().await.expect("answered");
    assert_eq!(upload.status(), 507);
    let refused: serde_json::Value = upload.json().await.expect("json");
    let message = refused.to_string();
    assert!(message.contains("MiB are free") && message.contains("storage.min_free_mb"), "says what is free and what to do: {refused}");
    assert!(std::fs::read_dir(daemon.daemon.data_dir().join("tmp")).map_or(true, |mut d| d.next().is_none()), "nothing of the upload was kept");

    let (_input, rx) = tokio::sync::mpsc::channel(1);
    let spec = SessionSpec { source: "browser".into(), title: None, language: None };
    let live = daemon.daemon.live().start(spec, rx).await;
    assert!(matches!(live, Err(LiveError::LowDisk(_))), "{live:?}");

    let mut events = Events::connect(&daemon).await.expect("events");
    let inbox = daemon.daemon.data_dir().join("inbox");
    drop_into_inbox(&inbox, "talk.wav", &bytes).expect("into the inbox");
    let waiting = events.until(LIMIT, |e| e["type"] == "inbox-file" && e["name"] == "talk.wav").await.expect("the inbox reports the file");
    assert_eq!(waiting["outcome"], "waiting", "{waiting}");
    assert_eq!(std::fs::read(inbox.join("talk.wav")).expect("still there"), bytes, "left untouched");
    let sessions = daemon.get_json("/api/v1/sessions").await.expect("sessions");
    assert_eq!(sessions["total"], 0, "{sessions}");
    // Closed first: an open event stream holds the server, and with it the search index.
    drop(events);
    daemon.daemon.shutdown().await.expect("shutdown");

    // Space "returns": the same data dir with the threshold lowered.
    let daemon = setup(0).start().await.expect("daemon starts again");
    let mut events = Events::connect_from_start(&daemon).await.expect("events");
    let done = events.until(LIMIT, |e| e["type"] == "inbox-file" && e["name"] == "talk.wav").await.expect("the file is taken");
    assert_eq!(done["outcome"], "done", "{done}");
    let sessions = daemon.get_json("/api/v1/sessions?status=complete").await.expect("sessions");
    assert_eq!(sessions["total"], 1, "{sessions}");
    let status = daemon.get_json("/api/v1/status").await.expect("status");
    assert_eq!(status["disk"]["low"], false, "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recording_stops_cleanly_when_the_disk_runs_low() {
    use scribed::live::Input;
    let fake = FakeDeepgram::loopback(KEY).await;
    // What the re-transcription of the kept second hears.
    fake.default_script(Script::from_text(SPEECH, 1.0));
    let mut setup = Setup::new().with_fake_deepgram(&fake, KEY);
    setup.config.storage.min_free_mb = 0;
    let daemon = setup.start().await.expect("daemon starts");
    let mut events = Events::connect(&daemon).await.expect("events");
    let tone: Vec<i16> = (0..16_000).map(|i| ((i as f32 * 0.06).sin() * 9_000.0) as i16).collect();
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    let spec = SessionSpec { source: "USB microphone".into(), ..SessionSpec::default() };
    let id = daemon.daemon.live().start(spec, rx).await.expect("session starts");
    tx.send(Input::Samples(tone)).await.expect("audio");
    // The whole second is recorded once its last level reading is out.
    events.until(LIMIT, |e| e["type"] == "level" && e["session_id"] == id.as_str() && e["at_ms"] == 1000).await.expect("a second recorded");

    // The disk "fills": the same free space, a threshold above it.
    assert!(daemon.daemon.disk().set_min_free_mb(BEYOND_ANY_DISK).low);
    // The event and the stop answer the same change: either may come first.
    let (mut low, mut stopped) = (None, None);
    while low.is_none() || stopped.is_none() {
        let event = events
            .until(LIMIT, |e| e["type"] == "storage" || (e["type"] == "live" && e["session_id"] == id.as_str() && e["status"] == "processing"))
            .await
            .expect("a storage event and the stop");
        if event["type"] == "storage" { low = Some(event) } else { stopped = Some(event) }
    }
    let (low, stopped) = (low.unwrap_or_default(), stopped.unwrap_or_default());
    assert_eq!((low["low"].as_bool(), low["min_free_mb"].as_u64()), (Some(true), Some(BEYOND_ANY_DISK)), "{low}");
    let message = stopped["message"].as_str().unwrap_or_default();
    assert!(message.contains("recording stopped") && message.contains("MiB are free"), "{stopped}");
    let ended = events.until(LIMIT, |e| e["type"] == "live" && e["session_id"] == id.as_str() && e["status"] == "complete").await.expect("stored");
    assert_eq!(ended["status"], "complete");
    let session = daemon.get_json(&format!("/api/v1/sessions/{id}")).await.expect("session");
    assert_eq!(session["session"]["duration_ms"], 1000, "everything recorded is kept: {session}");
    assert!(session["session"]["error"].as_str().is_some_and(|e| e.contains("MiB are free") && e.contains("kept")), "the session says why it is short: {session}");
    assert_eq!(reqwest::get(daemon.url(&format!("/api/v1/sessions/{id}/audio"))).await.expect("audio").status(), 200);

    // No new session while it lasts, and a queued file job waits, said once.
    let (_tx, rx) = tokio::sync::mpsc::channel(1);
    let refused = daemon.daemon.live().start(SessionSpec::default(), rx).await;
    assert!(matches!(refused, Err(LiveError::LowDisk(_))), "{refused:?}");
    let queued = reqwest::Client::new().post(daemon.url(&format!("/api/v1/sessions/{id}/transcribe"))).send().await.expect("send");
    assert_eq!(queued.status(), 202);
    let held = events
        .until(LIMIT, |e| {
            assert!(!(e["type"] == "job" && e["status"] == "processing"), "no job runs while the disk is low: {e}");
            e["type"] == "job" && e["session_id"] == id.as_str() && e["message"].as_str().is_some_and(|m| m.starts_with("waiting"))
        })
        .await
        .expect("the job waits");
    assert!(held["message"].as_str().is_some_and(|m| m.contains("MiB are free")), "{held}");

    // It clears by itself when space returns, and the waiting job runs.
    assert!(!daemon.daemon.disk().set_min_free_mb(0).low);
    let back = events.until(LIMIT, |e| e["type"] == "storage").await.expect("a storage event");
    assert_eq!(back["low"], false, "{back}");
    let ran = events.job_end(&id).await.expect("the job runs");
    assert_eq!(ran["status"], "complete", "{ran}");
    drop(tx);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_during_which_the_disk_goes_low_stops_with_507_and_leaves_nothing() {
    const MIB: usize = 1 << 20;
    let fake = FakeDeepgram::loopback(KEY).await;
    let mut setup = Setup::new().with_fake_deepgram(&fake, KEY);
    setup.config.storage.min_free_mb = 0;
    let daemon = setup.start().await.expect("daemon starts");
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    let body = reqwest::Body::wrap_stream(futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|chunk| (chunk, rx)) }));
    let request = tokio::spawn(reqwest::Client::new().post(daemon.url("/api/v1/uploads?name=long.wav")).body(body).send());
    for _ in 0..4 {
        tx.send(Ok(vec![0u8; MIB])).await.expect("sent");
    }
    // Admitted and being written: its partial file is there (no event says so; the file does).
    let tmp = daemon.daemon.data_dir().join("tmp");
    let partial = || std::fs::read_dir(&tmp).map_or(0, |d| d.flatten().count());
    let deadline = std::time::Instant::now() + LIMIT;
    while partial() == 0 {
        assert!(std::time::Instant::now() < deadline, "the upload never started");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(daemon.daemon.disk().set_min_free_mb(BEYOND_ANY_DISK).low);
    // The next free-space check comes within 16 MiB; the daemon may answer before all is sent.
    for _ in 0..24 {
        if tx.send(Ok(vec![0u8; MIB])).await.is_err() {
            break;
        }
    }
    drop(tx);
    let response = request.await.expect("join").expect("answered");
    assert_eq!(response.status(), 507);
    let said: serde_json::Value = response.json().await.expect("json");
    assert!(said["error"]["message"].as_str().is_some_and(|m| m.contains("MiB are free")), "{said}");
    assert_eq!(partial(), 0, "the partial upload is removed");
    let sessions = daemon.get_json("/api/v1/sessions").await.expect("sessions");
    assert_eq!(sessions["total"], 0, "{sessions}");
}
