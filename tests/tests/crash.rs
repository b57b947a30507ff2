//! The daemon killed with SIGKILL in the middle of a file job: after a restart the job runs
//! again and completes once, with no duplicate session.

use std::process::Command;
use std::time::Duration;

use scribe_tests::fake_deepgram::{FakeDeepgram, Fault, Script};
use scribe_tests::process::{config_text, serve};

const KEY: &str = "dg-crash-key";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_cut_by_sigkill_completes_once_after_restart() {
    let work = tempfile::tempdir().expect("tempdir");
    let fake = FakeDeepgram::loopback(KEY).await;
    fake.default_script(Script::from_text("Survived the crash.", 1.0));
    // The first request hangs long enough for the kill.
    fake.push_fault(Fault::Latency(Duration::from_secs(600)));
    let config_path = work.path().join("scribed.toml");
    std::fs::write(&config_path, config_text(&fake)).expect("config");
    let data = work.path().join("data");

    let audio = work.path().join("crash.wav");
    let status = Command::new("sox").args(["-n", "-r", "16000", "-c", "1"]).arg(&audio).args(["synth", "1", "sine", "500"]).status().expect("sox");
    assert!(status.success());

    let (mut first, url) = serve(&config_path, &data, KEY);
    let response = reqwest::Client::new()
        .post(format!("{url}/api/v1/uploads?name=crash.wav"))
        .body(std::fs::read(&audio).expect("read"))
        .send()
        .await
        .expect("upload");
    assert_eq!(response.status(), 202);
    let body: serde_json::Value = response.json().await.expect("json");
    let id = body["session_id"].as_str().expect("id").to_string();
    let arrived = |n| tokio::time::timeout(Duration::from_secs(120), fake.wait_for_requests(n));
    arrived(1).await.expect("the first attempt reached the provider");
    first.kill().expect("SIGKILL");
    first.wait().expect("reaped");

    let (mut second, url) = serve(&config_path, &data, KEY);
    arrived(2).await.expect("the interrupted job was resumed after the restart");
    let mut events = {
        let (socket, _) = tokio_tungstenite::connect_async(format!("{}/api/v1/events", url.replacen("http", "ws", 1))).await.expect("events");
        socket
    };
    // The job may already be done by now; ask the library, and otherwise wait for its event.
    let status = |v: &serde_json::Value| v["session"]["status"].as_str().unwrap_or_default().to_string();
    let session: serde_json::Value = reqwest::get(format!("{url}/api/v1/sessions/{id}")).await.expect("get").json().await.expect("json");
    if status(&session) != "complete" {
        use futures_util::StreamExt;
        tokio::time::timeout(Duration::from_secs(120), async {
            while let Some(Ok(message)) = events.next().await {
                let event: serde_json::Value = serde_json::from_str(message.to_text().unwrap_or("{}")).unwrap_or_default();
                if event["session_id"] == id.as_str() && event["status"] == "complete" {
                    break;
                }
            }
        })
        .await
        .expect("the resumed job completes");
    }
    let list: serde_json::Value = reqwest::get(format!("{url}/api/v1/sessions")).await.expect("list").json().await.expect("json");
    assert_eq!(list["total"], 1, "no duplicate session: {list}");
    assert_eq!(list["sessions"][0]["id"], id.as_str());
    assert_eq!(list["sessions"][0]["status"], "complete");
    assert_eq!(fake.requests().len(), 2, "one aborted attempt, one that completed");
    second.kill().expect("stop");
    let _ = second.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_session_cut_by_sigkill_is_interrupted_with_its_audio_playable() {
    use scribe_tests::live::{Ingest, dither};
    let work = tempfile::tempdir().expect("tempdir");
    let fake = FakeDeepgram::loopback(KEY).await;
    fake.live_default(Script::from_text("Words before the crash.", 2.0));
    let config_path = work.path().join("scribed.toml");
    std::fs::write(&config_path, config_text(&fake)).expect("config");
    let data = work.path().join("data");

    let (mut first, url) = serve(&config_path, &data, KEY);
    let mut ingest = Ingest::start(&url, 16_000, 1, "Cut short").await.expect("ingest starts");
    // Five seconds in real time: the recording is forced to disk every two.
    let mut audio: Vec<i16> = (0..80_000).map(|i| ((i as f32 * 0.05).sin() * 8_000.0) as i16).collect();
    dither(&mut audio, 5);
    ingest.send(&audio, 16_000, 1, 100, true).await.expect("audio sent");
    tokio::time::timeout(Duration::from_secs(60), fake.wait_live(|c| c.first().is_some_and(|c| c.audio_bytes > 0)))
        .await
        .expect("audio reached the provider");
    first.kill().expect("SIGKILL");
    first.wait().expect("reaped");

    let (mut second, url) = serve(&config_path, &data, KEY);
    let session: serde_json::Value = reqwest::get(format!("{url}/api/v1/sessions/{}", ingest.session_id)).await.expect("get").json().await.expect("json");
    assert_eq!(session["session"]["status"], "interrupted", "{session}");
    let duration = session["session"]["duration_ms"].as_u64().expect("duration");
    assert!((2_000..=5_000).contains(&duration), "audio up to the last flush: {duration} ms");
    let audio = reqwest::get(format!("{url}/api/v1/sessions/{}/audio", ingest.session_id)).await.expect("audio");
    assert_eq!(audio.status(), 200);
    let wav = audio.bytes().await.expect("bytes");
    assert_eq!(&wav[..4], b"RIFF");
    assert_eq!((wav.len() as u64 - 44) / 32, duration, "the WAV holds the recorded audio");
    second.kill().expect("stop");
    let _ = second.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_search_index_catches_up_after_sigkill_between_store_and_index() {
    use futures_util::StreamExt;
    let work = tempfile::tempdir().expect("tempdir");
    let fake = FakeDeepgram::loopback(KEY).await;
    fake.default_script(Script::from_text("The phoenix rises from the ashes.", 3.0));
    // Commits wait ten minutes: the transcript is in the store long before it is indexed.
    let config = config_text(&fake).replacen("commit_interval_ms = 1000", "commit_interval_ms = 600000", 1);
    assert!(config.contains("commit_interval_ms = 600000"));
    let config_path = work.path().join("scribed.toml");
    std::fs::write(&config_path, config).expect("config");
    let data = work.path().join("data");
    let audio = work.path().join("phoenix.wav");
    let status = Command::new("sox").args(["-n", "-r", "16000", "-c", "1"]).arg(&audio).args(["synth", "1", "sine", "300"]).status().expect("sox");
    assert!(status.success());

    let (mut first, url) = serve(&config_path, &data, KEY);
    let (mut events, _) = tokio_tungstenite::connect_async(format!("{}/api/v1/events", url.replacen("http", "ws", 1))).await.expect("events");
    let response = reqwest::Client::new()
        .post(format!("{url}/api/v1/uploads?name=phoenix.wav"))
        .body(std::fs::read(&audio).expect("read"))
        .send()
        .await
        .expect("upload");
    assert_eq!(response.status(), 202);
    let id = response.json::<serde_json::Value>().await.expect("json")["session_id"].as_str().expect("id").to_string();
    tokio::time::timeout(Duration::from_secs(120), async {
        while let Some(Ok(message)) = events.next().await {
            let event: serde_json::Value = serde_json::from_str(message.to_text().unwrap_or("{}")).unwrap_or_default();
            if event["type"] == "job" && event["session_id"] == id.as_str() && event["status"] == "complete" {
                break;
            }
        }
    })
    .await
    .expect("the transcript is stored");
    let search = |url: String| async move {
        reqwest::get(format!("{url}/api/v1/search?q=phoenix%20")).await.expect("search").json::<serde_json::Value>().await.expect("json")
    };
    assert_eq!(search(url.clone()).await["total"], 0, "stored but not yet indexed");
    first.kill().expect("SIGKILL");
    first.wait().expect("reaped");

    // The same configuration: the start-up catch-up, not a timer, brings it in.
    let (mut second, url) = serve(&config_path, &data, KEY);
    // `since=0` replays this run's events, so an `indexed` event sent before the socket
    // opened is not missed.
    let (mut events, _) = tokio_tungstenite::connect_async(format!("{}/api/v1/events?since=0", url.replacen("http", "ws", 1))).await.expect("events");
    tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(Ok(message)) = events.next().await {
            let event: serde_json::Value = serde_json::from_str(message.to_text().unwrap_or("{}")).unwrap_or_default();
            if event["type"] == "indexed" {
                break;
            }
        }
    })
    .await
    .expect("the index catches up at start");
    let page = search(url.clone()).await;
    assert_eq!(page["sessions"][0]["session_id"], id.as_str(), "{page}");
    let hits = page["sessions"][0]["hits"].as_array().expect("hits").clone();
    let hit = hits.iter().find(|h| h["field"] == "transcript").expect("a transcript hit");
    assert_eq!(hit["start_ms"].as_u64(), Some(3_000 / 6), "the second word's time: {hit}");
    second.kill().expect("stop");
    let _ = second.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_stop_leaves_half_done_is_repaired_at_the_next_start() {
    use scribe_tests::{Events, Setup};
    use scribed::clients::library::{AudioFile, NewSession, SessionKind, SessionStatus, new_session_id, now_ms};
    let work = tempfile::tempdir().expect("tempdir");
    let fake = FakeDeepgram::loopback(KEY).await;
    fake.default_script(Script::from_text("Picked up again.", 1.0));
    let data = work.path().join("data");
    let setup = || {
        let mut setup = Setup::new().with_fake_deepgram(&fake, KEY);
        setup.data_dir = Some(data.clone());
        setup
    };

    // The states a SIGKILL between two steps of a submission leaves behind.
    let first = setup().start().await.expect("daemon starts");
    let library = first.daemon.library().expect("library").clone();
    let audio = work.path().join("stranded.wav");
    let status = Command::new("sox").args(["-n", "-r", "16000", "-c", "1"]).arg(&audio).args(["synth", "1", "sine", "640"]).status().expect("sox");
    assert!(status.success());
    let bytes = std::fs::read(&audio).expect("read");
    let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes));
    let stored = data.join("audio").join(&sha[..2]).join(format!("{sha}.wav"));
    std::fs::create_dir_all(stored.parent().expect("shard")).expect("shard");
    std::fs::write(&stored, &bytes).expect("store");
    let session = |id: &str, status| NewSession {
        id: id.to_string(),
        kind: SessionKind::File,
        status,
        source: format!("{id}.wav"),
        title: id.to_string(),
        created_ms: now_ms(),
        provider: None,
    };
    // 1. Session and audio made, job never queued.
    let with_audio = new_session_id(SessionKind::File);
    library.create_session(session(&with_audio, SessionStatus::Queued)).await.expect("session");
    let record = AudioFile { sha256: sha.clone(), mime: "audio/wav".into(), size_bytes: bytes.len() as u64, created_ms: now_ms(), peaks: Vec::new() };
    library.put_audio_file(with_audio.clone(), record).await.expect("audio record");
    // 2. A session that says processing, with nothing behind it.
    let empty = new_session_id(SessionKind::File);
    library.create_session(session(&empty, SessionStatus::Processing)).await.expect("session");
    first.daemon.shutdown().await.expect("stops");
    // 3. Bytes claimed, their session never made; 4. an upload cut off mid-body.
    let jobs = scribed::queue::files::JobStore::open(&data.join("jobs.sqlite3")).expect("jobs");
    jobs.claim_bytes("never-made", &"ab".repeat(32), std::path::Path::new("/nowhere.wav")).await.expect("claim");
    drop(jobs);
    std::fs::create_dir_all(data.join("tmp")).expect("tmp");
    std::fs::write(data.join("tmp").join("upload-0123456789abcdef.part"), vec![0u8; 4096]).expect("partial upload");

    let second = setup().start().await.expect("daemon restarts");
    let mut events = Events::connect(&second).await.expect("events");
    let now = second.get_json(&format!("/api/v1/sessions/{with_audio}")).await.expect("session");
    if now["session"]["status"] != "complete" {
        assert_eq!(events.job_end(&with_audio).await.expect("ends")["status"], "complete");
    }
    assert!(second.get_json(&format!("/api/v1/sessions/{empty}")).await.is_err(), "the empty session is removed");
    let list = second.get_json("/api/v1/sessions").await.expect("list");
    assert_eq!(list["total"], 1, "{list}");
    let queue = rusqlite::Connection::open(data.join("jobs.sqlite3")).expect("open");
    let staged: i64 = queue.query_row("SELECT COUNT(*) FROM jobs WHERE state = 'staged'", [], |r| r.get(0)).expect("count");
    assert_eq!(staged, 0, "the orphan claim is released");
    let leftovers: Vec<_> = std::fs::read_dir(data.join("tmp")).expect("tmp").flatten().collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let status = second.get_json("/api/v1/status").await.expect("status");
    assert_eq!(status["queues"]["files"], 0, "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_upload_leaves_no_temp_file_and_no_session() {
    use tokio::io::AsyncWriteExt;
    let work = tempfile::tempdir().expect("tempdir");
    let fake = FakeDeepgram::loopback(KEY).await;
    let config_path = work.path().join("scribed.toml");
    std::fs::write(&config_path, config_text(&fake)).expect("config");
    let data = work.path().join("data");
    let (mut first, url) = serve(&config_path, &data, KEY);
    let addr = url.trim_start_matches("http://").trim_end_matches('/').to_string();
    let mut stream = tokio::net::TcpStream::connect(&addr).await.expect("connect");
    let head = format!("POST /api/v1/uploads?name=cut.wav HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 10000000\r\n\r\n");
    stream.write_all(head.as_bytes()).await.expect("head");
    stream.write_all(&vec![7u8; 1 << 20]).await.expect("first megabyte");
    // The daemon has it on disk when its temp file has grown.
    let tmp = data.join("tmp");
    let received = || std::fs::read_dir(&tmp).map(|d| d.flatten().any(|e| e.metadata().is_ok_and(|m| m.len() > 0))).unwrap_or(false);
    tokio::time::timeout(Duration::from_secs(30), async {
        while !received() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the upload reached the temp dir");
    first.kill().expect("SIGKILL");
    first.wait().expect("reaped");
    drop(stream);

    let (mut second, url) = serve(&config_path, &data, KEY);
    let leftovers: Vec<_> = std::fs::read_dir(&tmp).map(|d| d.flatten().collect()).unwrap_or_default();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let list: serde_json::Value = reqwest::get(format!("{url}/api/v1/sessions")).await.expect("list").json().await.expect("json");
    assert_eq!(list["total"], 0, "{list}");
    second.kill().expect("stop");
    let _ = second.wait();
}
