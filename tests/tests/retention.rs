//! Audio retention with the real store, index and audio store and the fake Deepgram.
//! Sessions are aged by setting their creation time in the store (no waiting). Past
//! `audio_days` the audio goes while the transcript, search hits and exports stay; a pinned
//! session and one whose file is still to be transcribed keep theirs; the dry run (API and
//! CLI) changes nothing. Restarted with `max_audio_gb`, the oldest audio goes first; with
//! `keep_originals = false`, a transcribed original gives way to its 16 kHz copy.

use std::path::Path;
use std::time::Duration;

use scribe_tests::fake_deepgram::{FakeDeepgram, Fault, Script};
use scribe_tests::{Events, Setup, TestDaemon, sox_tone};
use serde_json::Value;

const KEY: &str = "dg-retention-key";
/// A guard against a hung test, not a synchronisation delay.
const LIMIT: Duration = Duration::from_secs(120);
const DAY_MS: i64 = 86_400_000;

/// Sets a session's creation time in the store's own database, as if it were that old.
fn age(data_dir: &Path, session: &str, days: i64) {
    let db = rusqlite::Connection::open(data_dir.join("plugin-data/sqlite-store/sqlite-store.sqlite3")).expect("store db");
    db.busy_timeout(Duration::from_secs(10)).expect("timeout");
    let now: i64 = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis() as i64;
    let changed = db.execute("UPDATE sessions SET created_ms = ?1 WHERE id = ?2", rusqlite::params![now - days * DAY_MS, session]).expect("age");
    assert_eq!(changed, 1);
}

async fn post(daemon: &TestDaemon, path: &str, body: Value) -> reqwest::Response {
    reqwest::Client::new().post(daemon.url(path)).json(&body).send().await.expect("answered")
}

async fn sweep(daemon: &TestDaemon, dry_run: bool) -> Value {
    let response = post(daemon, "/api/v1/retention", serde_json::json!({ "dry_run": dry_run })).await;
    assert_eq!(response.status(), 200);
    response.json().await.expect("report")
}

fn removed_ids(report: &Value) -> Vec<&str> {
    report["removals"].as_array().expect("removals").iter().filter_map(|r| r["session_id"].as_str()).collect()
}

/// Where the audio store keeps these bytes (a `.wav` upload).
fn stored_at(data_dir: &Path, bytes: &[u8]) -> std::path::PathBuf {
    use sha2::Digest;
    let sha = hex::encode(sha2::Sha256::digest(bytes));
    data_dir.join("audio").join(&sha[..2]).join(format!("{sha}.wav"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_removes_old_audio_keeps_transcripts_and_spares_pinned_and_busy_sessions() {
    let data = tempfile::tempdir().expect("tempdir");
    let work = tempfile::tempdir().expect("tempdir");
    let fake = FakeDeepgram::loopback(KEY).await;
    let setup = |configure: &dyn Fn(&mut scribed::config::RetentionConfig)| {
        let mut setup = Setup { data_dir: Some(data.path().to_path_buf()), ..Setup::new() }.with_fake_deepgram(&fake, KEY);
        setup.config.search.commit_interval_ms = 50;
        // C's retry stays far off, whatever the outage says: its job waits through the test.
        setup.config.files.retry_base_secs = 3_600;
        setup.config.files.retry_max_secs = 3_600;
        configure(&mut setup.config.retention);
        setup
    };
    let daemon = setup(&|r| r.audio_days = Some(30)).start().await.expect("daemon starts");
    let mut events = Events::connect(&daemon).await.expect("events");

    // A: old; B: old and pinned; D: new; E: ten days old. Each says its own word.
    let mut ids = std::collections::BTreeMap::new();
    let mut files = std::collections::BTreeMap::new();
    for (name, hz, word) in [("a", 300, "aardvark"), ("b", 400, "bison"), ("d", 600, "dingo"), ("e", 700, "emu")] {
        let bytes = sox_tone(work.path(), hz, 44100, 2).expect("sox");
        fake.script(&bytes, Script::from_text(&format!("the {word} spoke"), 1.0));
        files.insert(name, stored_at(data.path(), &bytes));
        let id = daemon.upload(&format!("{name}.wav"), bytes).await.expect("upload");
        assert_eq!(events.job_end(&id).await.expect("job ends")["status"], "complete");
        ids.insert(name, id);
    }
    // C: old, and its file waits to be transcribed again after an outage.
    let c_bytes = sox_tone(work.path(), 500, 44100, 2).expect("sox");
    fake.push_fault(Fault::Status { status: 503, retry_after: Some(3_600) });
    files.insert("c", stored_at(data.path(), &c_bytes));
    let c = daemon.upload("c.wav", c_bytes).await.expect("upload");
    events.until(LIMIT, |e| e["type"] == "job" && e["session_id"] == c.as_str() && e["status"] == "queued" && e["message"].is_string()).await.expect("C waits for a retry");
    for (session, days) in [(&ids["a"], 40), (&ids["b"], 50), (&c, 60), (&ids["e"], 10)] {
        age(data.path(), session, days);
    }
    let pinned = reqwest::Client::new()
        .patch(daemon.url(&format!("/api/v1/sessions/{}", ids["b"])))
        .json(&serde_json::json!({ "pinned": true }))
        .send()
        .await
        .expect("pin");
    assert_eq!(pinned.status(), 200);
    assert_eq!(pinned.json::<Value>().await.expect("json")["pinned"], true);

    let a_audio = files["a"].clone();
    assert!(a_audio.exists(), "A's audio is stored");
    let a_bytes = std::fs::metadata(&a_audio).expect("size").len();
    let dry = sweep(&daemon, true).await;
    assert_eq!(removed_ids(&dry), [ids["a"].as_str()], "{dry}");
    assert_eq!(dry["freed_bytes"], a_bytes, "{dry}");
    assert_eq!(dry["removals"][0]["reason"], "older than 30 days");
    let cli = std::process::Command::new(scribe_tests::process::bin())
        .args(["retention", "--dry-run", "--url", &daemon.url("")])
        .output()
        .expect("scribed retention");
    let said = String::from_utf8_lossy(&cli.stdout);
    assert!(cli.status.success() && said.contains(&ids["a"]) && said.contains("would free"), "{said}{}", String::from_utf8_lossy(&cli.stderr));
    assert!(a_audio.exists(), "the dry runs changed nothing");
    let detail = daemon.get_json(&format!("/api/v1/sessions/{}", ids["a"])).await.expect("session");
    assert_eq!(detail["audio"]["state"], "kept");

    let done = sweep(&daemon, false).await;
    assert_eq!(removed_ids(&done), [ids["a"].as_str()], "{done}");
    assert!(!a_audio.exists(), "A's audio is gone from the disk");
    for kept in ["b", "c", "d", "e"] {
        assert!(files[kept].exists(), "{kept} keeps its audio");
    }
    let detail = daemon.get_json(&format!("/api/v1/sessions/{}", ids["a"])).await.expect("session");
    assert_eq!(detail["audio"]["state"], "removed", "{detail}");
    assert_eq!(detail["audio"]["url"], Value::Null);
    assert!(detail["audio"]["removed"]["removed_ms"].as_i64().is_some_and(|ms| ms > 0), "{detail}");
    assert_eq!(daemon.stored_words(&ids["a"]).await.expect("words"), ["the", "aardvark", "spoke"]);
    let gone = reqwest::get(daemon.url(&format!("/api/v1/sessions/{}/audio", ids["a"]))).await.expect("audio");
    assert_eq!(gone.status(), 410);
    let said: Value = gone.json().await.expect("json");
    assert!(said["error"]["message"].as_str().is_some_and(|m| m.contains("removed on") && m.contains("older than 30 days")), "{said}");
    let export = reqwest::get(daemon.url(&format!("/api/v1/sessions/{}/export?format=txt", ids["a"]))).await.expect("export");
    assert_eq!(export.status(), 200);
    assert!(export.text().await.expect("text").contains("aardvark"));
    daemon.indexed(&mut events).await.expect("indexed");
    assert_eq!(daemon.search_ids("aardvark").await.expect("search"), [ids["a"].clone()], "A is still found");
    drop(events);
    daemon.daemon.shutdown().await.expect("shutdown");

    // Over the size limit, the oldest unexempt audio goes first: E (10 days) before D (new);
    // B is pinned and C still waits for its transcription.
    let sizes = stored_audio_bytes(data.path());
    let max_gb = (sizes - 1) as f64 / 1e9;
    let daemon = setup(&|r| r.max_audio_gb = Some(max_gb)).start().await.expect("daemon starts again");
    let mut events = Events::connect_from_start(&daemon).await.expect("events");
    events.until(LIMIT, |e| e["type"] == "library" && e["session_id"] == ids["e"].as_str()).await.expect("E's audio goes");
    let e = daemon.get_json(&format!("/api/v1/sessions/{}", ids["e"])).await.expect("session");
    assert_eq!(e["audio"]["state"], "removed", "{e}");
    assert_eq!(e["audio"]["removed"]["reason"].as_str().map(|r| r.starts_with("all audio took more than")), Some(true), "{e}");
    for kept in [&ids["b"], &c, &ids["d"]] {
        let detail = daemon.get_json(&format!("/api/v1/sessions/{kept}")).await.expect("session");
        assert_eq!(detail["audio"]["state"], "kept", "{kept}: {detail}");
    }
    drop(events);
    daemon.daemon.shutdown().await.expect("shutdown");

    // keep_originals = false: D's 44.1 kHz stereo original gives way to its 16 kHz copy.
    let d_before = stored_audio_bytes(data.path());
    let daemon = setup(&|r| r.keep_originals = false).start().await.expect("daemon starts a third time");
    let mut events = Events::connect_from_start(&daemon).await.expect("events");
    events.until(LIMIT, |e| e["type"] == "library" && e["session_id"] == ids["d"].as_str()).await.expect("D is reduced");
    let d = daemon.get_json(&format!("/api/v1/sessions/{}", ids["d"])).await.expect("session");
    let duration = d["session"]["duration_ms"].as_u64().expect("duration");
    // 16 kHz mono 16-bit is 32 bytes a millisecond; the resampler may round the end.
    let size = d["audio"]["size_bytes"].as_u64().expect("size");
    assert!(size.abs_diff(duration * 32 + 44) < 32 * 20, "{d}");
    assert_eq!(d["audio"]["mime"], "audio/wav");
    let served = reqwest::get(daemon.url(&format!("/api/v1/sessions/{}/audio", ids["d"]))).await.expect("audio");
    assert_eq!(served.status(), 200);
    let wav = served.bytes().await.expect("bytes");
    let reader = hound::WavReader::new(std::io::Cursor::new(wav.to_vec())).expect("a WAV");
    assert_eq!((reader.spec().sample_rate, reader.spec().channels), (16_000, 1));
    assert!(!files["d"].exists(), "the original is gone");
    let d_after = stored_audio_bytes(data.path());
    assert!(d_after < d_before, "less audio is stored: {d_after} < {d_before}");
    assert_eq!(daemon.stored_words(&ids["d"]).await.expect("words"), ["the", "dingo", "spoke"]);
    let b = daemon.get_json(&format!("/api/v1/sessions/{}", ids["b"])).await.expect("session");
    assert_eq!(b["pinned"], true, "pins last across restarts");
}

/// Bytes of audio in the data dir's store.
fn stored_audio_bytes(data_dir: &Path) -> u64 {
    scribed::audio::store::AudioStore::new(data_dir.join("audio")).stored_bytes()
}
