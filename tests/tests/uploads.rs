//! Uploads through the whole file pipeline: real daemon, real sqlite-store and
//! deepgram-batch components, the fake Deepgram, audio made by sox.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use scribe_tests::fake_deepgram::{FakeDeepgram, Fault, Script};
use scribe_tests::{Events, Setup, TestDaemon};

const KEY: &str = "dg-upload-key";

/// A WAV of `seconds` of a sine at `hz`: different parameters, different bytes.
fn tone(dir: &Path, hz: u32, seconds: u32) -> Vec<u8> {
    let path = dir.join(format!("tone-{hz}-{seconds}.wav"));
    let status = Command::new("sox")
        .args(["-n", "-r", "16000", "-c", "1"])
        .arg(&path)
        .args(["synth", &seconds.to_string(), "sine", &hz.to_string()])
        .status()
        .expect("sox runs (install sox)");
    assert!(status.success());
    std::fs::read(path).expect("read")
}

async fn daemon(fake: &FakeDeepgram, key: &str, tune: impl FnOnce(&mut Setup)) -> TestDaemon {
    let mut setup = Setup::new().with_fake_deepgram(fake, key);
    setup.config.files.retry_base_secs = 1;
    tune(&mut setup);
    setup.start().await.expect("daemon starts")
}

async fn upload(daemon: &TestDaemon, name: &str, bytes: Vec<u8>) -> (u16, serde_json::Value) {
    let response = reqwest::Client::new()
        .post(daemon.url(&format!("/api/v1/uploads?name={name}")))
        .header("content-type", "audio/wav")
        .body(bytes)
        .send()
        .await
        .expect("send");
    let status = response.status().as_u16();
    (status, response.json().await.expect("json"))
}

/// An upload over a raw socket, so the test can read the answer of a server that stops
/// reading the body (an HTTP client library reports a broken pipe instead). Sends
/// `Content-Length: declared`, or else `chunked` bytes of `send` zeros, as far as the server
/// accepts them.
async fn raw_upload(daemon: &TestDaemon, name: &str, declared: Option<u64>, send: usize) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(daemon.daemon.addr()).await.expect("connect");
    let framing = match declared {
        Some(len) => format!("Content-Length: {len}"),
        None => "Transfer-Encoding: chunked".to_string(),
    };
    let head = format!(
        "POST /api/v1/uploads?name={name} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n{framing}\r\nConnection: close\r\n\r\n",
        daemon.port()
    );
    stream.write_all(head.as_bytes()).await.expect("head");
    let chunk = vec![0u8; 64 * 1024];
    let mut sent = 0;
    while sent < send {
        let frame = [format!("{:x}\r\n", chunk.len()).into_bytes(), chunk.clone(), b"\r\n".to_vec()].concat();
        if stream.write_all(&frame).await.is_err() {
            break; // the server stopped reading: expected past the cap
        }
        sent += chunk.len();
    }
    if declared.is_none() && sent >= send {
        let _ = stream.write_all(b"0\r\n\r\n").await;
    }
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    String::from_utf8_lossy(&answer).into_owned()
}

fn session_id(body: &serde_json::Value) -> String {
    body["session_id"].as_str().expect("session id").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_becomes_a_transcribed_session_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fake = FakeDeepgram::loopback(KEY).await;
    let audio = tone(dir.path(), 440, 2);
    fake.script(&audio, Script::from_text("Testing one two. Three.", 2.0));
    let daemon = daemon(&fake, KEY, |_| {}).await;
    let mut events = Events::connect(&daemon).await.expect("events");

    let (status, body) = upload(&daemon, "standup.wav", audio.clone()).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["duplicate"], false);
    let id = session_id(&body);
    let end = events.job_end(&id).await.expect("job ends");
    assert_eq!(end["status"], "complete", "{end}");

    let session = daemon.get_json(&format!("/api/v1/sessions/{id}")).await.expect("session");
    assert_eq!(session["session"]["status"], "complete");
    assert_eq!(session["session"]["title"], "standup");
    assert_eq!(session["session"]["provider"], "deepgram-batch");
    assert_eq!(session["session"]["duration_ms"], 2_000);
    let srt = reqwest::get(daemon.url(&format!("/api/v1/sessions/{id}/export?format=srt"))).await.expect("srt").text().await.expect("srt");
    assert!(srt.starts_with("1\n00:00:00,000 --> "), "{srt}");
    assert!(srt.contains("Testing one two."), "{srt}");

    // The same bytes under another name: the same session, no second provider call.
    let (status, again) = upload(&daemon, "copy of standup.wav", audio).await;
    assert_eq!(status, 202);
    assert_eq!((again["duplicate"].clone(), session_id(&again)), (serde_json::json!(true), id));
    assert_eq!(fake.requests().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_are_retried_after_the_stated_delay_and_bad_keys_are_not() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fake = FakeDeepgram::loopback(KEY).await;
    let audio = tone(dir.path(), 330, 1);
    fake.script(&audio, Script::from_text("Patience pays.", 1.0));
    fake.push_fault(Fault::Status { status: 429, retry_after: Some(2) });
    let daemon = daemon(&fake, KEY, |_| {}).await;
    let mut events = Events::connect(&daemon).await.expect("events");
    let (_, body) = upload(&daemon, "busy.wav", audio).await;
    let id = session_id(&body);
    let retrying = events
        .until(Duration::from_secs(60), |e| e["session_id"] == id.as_str() && e["status"] == "queued" && e["message"].is_string())
        .await
        .expect("a retry is announced");
    assert!(retrying["message"].as_str().is_some_and(|m| m.contains("Too many requests") && m.contains("retrying in 2 s")), "{retrying}");
    assert_eq!(events.job_end(&id).await.expect("ends")["status"], "complete");
    let seen = fake.requests();
    assert_eq!(seen.len(), 2);
    let waited = seen[1].at - seen[0].at;
    assert!(waited >= Duration::from_millis(1_900), "retried after {waited:?}, asked for 2 s");

    // A rejected key: the session says so, and nothing is retried.
    let other = FakeDeepgram::loopback(KEY).await;
    let audio = tone(dir.path(), 550, 1);
    other.script(&audio, Script::from_text("Never.", 1.0));
    let wrong = self::daemon(&other, "wrong-key", |_| {}).await;
    let mut events = Events::connect(&wrong).await.expect("events");
    let (_, body) = upload(&wrong, "denied.wav", audio).await;
    let id = session_id(&body);
    let end = events.job_end(&id).await.expect("ends");
    assert_eq!(end["status"], "error");
    let message = end["message"].as_str().unwrap_or_default();
    assert!(message.contains("Invalid credentials") && message.contains("API key"), "{message}");
    let session = wrong.get_json(&format!("/api/v1/sessions/{id}")).await.expect("session");
    assert_eq!(session["session"]["error"].as_str(), Some(message));
    assert_eq!(other.requests().len(), 1, "a 401 is not retried");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_uploads_fail_clearly_and_leave_nothing_behind() {
    let fake = FakeDeepgram::loopback(KEY).await;
    let daemon = daemon(&fake, KEY, |s| s.config.files.max_upload_mb = 1).await;
    let mut events = Events::connect(&daemon).await.expect("events");

    // Declared too large: refused before the body is read.
    let answer = raw_upload(&daemon, "big.wav", Some(3 * 1024 * 1024), 0).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("\"code\":\"too_large\""), "{answer}");
    // Streamed without a length: refused once the cap is passed.
    let answer = raw_upload(&daemon, "big.wav", None, 3 * 1024 * 1024).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    let tmp = daemon.daemon.data_dir().join("tmp");
    let left: Vec<_> = std::fs::read_dir(&tmp).map(|d| d.flatten().collect()).unwrap_or_default();
    assert!(left.is_empty(), "no partial upload kept: {left:?}");

    let (status, _) = upload(&daemon, "notes.txt", b"hello".to_vec()).await;
    assert_eq!(status, 415);
    let (status, _) = upload(&daemon, "empty.wav", Vec::new()).await;
    assert_eq!(status, 400);

    // Text dressed as a WAV: accepted, then failed on decoding without a provider call.
    let (status, body) = upload(&daemon, "../../etc/fake.wav", b"definitely not audio".to_vec()).await;
    assert_eq!(status, 202);
    let id = session_id(&body);
    let end = events.job_end(&id).await.expect("ends");
    assert_eq!(end["status"], "error");
    assert!(end["message"].as_str().is_some_and(|m| m.contains("unsupported audio") && m.contains("not a recognised audio format")), "{end}");
    assert!(fake.requests().is_empty(), "nothing was sent to the provider");
    let session = daemon.get_json(&format!("/api/v1/sessions/{id}")).await.expect("session");
    assert_eq!(session["session"]["source"], "fake.wav", "the name is reduced to its file name");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_plays_back_is_retranscribed_and_deleted_with_its_audio() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fake = FakeDeepgram::loopback(KEY).await;
    let audio = tone(dir.path(), 660, 3);
    fake.script(&audio, Script::from_text("First point here. Second point. And a reply.", 3.0));
    let daemon = daemon(&fake, KEY, |s| {
        let settings = &mut s.config.plugins.get_mut("deepgram-batch").expect("configured").settings;
        settings.insert("utterances".into(), toml::Value::Boolean(true));
    })
    .await;
    let mut events = Events::connect(&daemon).await.expect("events");
    let (_, body) = upload(&daemon, "review.wav", audio.clone()).await;
    let id = session_id(&body);
    assert_eq!(events.job_end(&id).await.expect("ends")["status"], "complete");

    // Paragraphs (implied by smart_format) and utterances, as the provider grouped them.
    let session = daemon.get_json(&format!("/api/v1/sessions/{id}")).await.expect("session");
    let paragraphs = session["paragraphs"].as_array().expect("paragraphs");
    let speakers: Vec<Option<u64>> = paragraphs.iter().map(|p| p["speaker"].as_u64()).collect();
    assert_eq!(speakers, vec![Some(0), Some(1), Some(0)], "the script changes speaker every sentence");
    assert_eq!((paragraphs[1]["sentences"][0]["text"].as_str(), paragraphs[1]["start_ms"].as_u64()), (Some("Second point."), Some(1_125)));
    let utterances = session["utterances"].as_array().expect("utterances");
    assert_eq!(utterances.len(), 3);
    assert_eq!(session["audio"]["mime"], "audio/wav");
    assert_eq!(session["audio"]["size_bytes"], audio.len());
    assert_eq!(session["job"]["state"], "done");

    // The waveform: one peak per 100 ms, level for a steady tone (sox synthesises at -3 dBFS,
    // 0.71 of full scale); reducible.
    let waveform = daemon.get_json(&format!("/api/v1/sessions/{id}/waveform")).await.expect("waveform");
    let peaks = waveform["peaks"].as_array().expect("peaks");
    assert_eq!((waveform["window_ms"].as_u64(), peaks.len()), (Some(100), 30));
    assert!(peaks.iter().all(|p| p.as_u64().is_some_and(|p| (170..=190).contains(&p))), "{peaks:?}");
    let reduced = daemon.get_json(&format!("/api/v1/sessions/{id}/waveform?points=7")).await.expect("waveform");
    assert_eq!((reduced["window_ms"].as_u64(), reduced["peaks"].as_array().map(Vec::len)), (Some(500), Some(6)));

    // Playback: the whole file, and a byte range of it.
    let url = daemon.url(&format!("/api/v1/sessions/{id}/audio"));
    let whole = reqwest::get(&url).await.expect("audio");
    assert_eq!(whole.headers().get("content-type").and_then(|v| v.to_str().ok()), Some("audio/wav"));
    assert_eq!(whole.headers().get("accept-ranges").and_then(|v| v.to_str().ok()), Some("bytes"));
    assert_eq!(whole.bytes().await.expect("bytes").as_ref(), audio.as_slice());
    let part = reqwest::Client::new().get(&url).header("range", "bytes=100-199").send().await.expect("range");
    assert_eq!(part.status().as_u16(), 206);
    let want_range = format!("bytes 100-199/{}", audio.len());
    assert_eq!(part.headers().get("content-range").and_then(|v| v.to_str().ok()), Some(want_range.as_str()));
    assert_eq!(part.bytes().await.expect("bytes").as_ref(), &audio[100..200]);
    let beyond = reqwest::Client::new().get(&url).header("range", "bytes=99999999-").send().await.expect("range");
    assert_eq!(beyond.status().as_u16(), 416);

    // Re-transcription: a new version, the old one kept.
    let client = reqwest::Client::new();
    let unknown = client
        .post(daemon.url(&format!("/api/v1/sessions/{id}/transcribe")))
        .json(&serde_json::json!({ "provider": "sqlite-store" }))
        .send()
        .await
        .expect("send");
    assert_eq!(unknown.status().as_u16(), 400, "a store is not a speech-to-text plugin");
    let redo = client
        .post(daemon.url(&format!("/api/v1/sessions/{id}/transcribe")))
        .json(&serde_json::json!({ "provider": "deepgram-batch" }))
        .send()
        .await
        .expect("send");
    assert_eq!(redo.status().as_u16(), 202);
    assert_eq!(events.job_end(&id).await.expect("ends")["status"], "complete");
    let session = daemon.get_json(&format!("/api/v1/sessions/{id}")).await.expect("session");
    let versions = session["versions"].as_array().expect("versions");
    assert_eq!(versions.len(), 2, "{versions:?}");
    assert!(versions.iter().all(|v| v["word_count"] == 8 && v["provider"] == "deepgram-batch"), "{versions:?}");
    assert_eq!((session["session"]["status"].as_str(), session["job"]["provider"].as_str()), (Some("complete"), Some("deepgram-batch")));
    let old = versions[0]["id"].as_u64().expect("id");
    let words = daemon.get_json(&format!("/api/v1/sessions/{id}/words?version={old}")).await.expect("old words");
    assert_eq!(words["words"][0]["punctuated"], "First");
    assert_eq!(fake.requests().len(), 2);

    // A re-transcription that fails leaves the session with the transcript it had; the job
    // keeps the reason.
    fake.push_fault(Fault::Status { status: 401, retry_after: None });
    let failed = client.post(daemon.url(&format!("/api/v1/sessions/{id}/transcribe"))).send().await.expect("send");
    assert_eq!(failed.status().as_u16(), 202, "no body: the configured provider");
    assert_eq!(events.job_end(&id).await.expect("ends")["status"], "error");
    let session = daemon.get_json(&format!("/api/v1/sessions/{id}")).await.expect("session");
    assert_eq!((session["session"]["status"].as_str(), session["versions"].as_array().map(Vec::len)), (Some("complete"), Some(2)));
    assert!(session["job"]["last_error"].as_str().is_some_and(|e| e.contains("Invalid credentials")), "{}", session["job"]);

    // Deleting removes the stored audio; the same bytes later make a new session.
    let stored = daemon.daemon.data_dir().join("audio");
    let count_files = || walk(&stored).len();
    assert_eq!(count_files(), 1);
    let deleted = client.delete(daemon.url(&format!("/api/v1/sessions/{id}"))).send().await.expect("delete");
    assert_eq!(deleted.status().as_u16(), 204);
    assert_eq!(count_files(), 0, "the audio went with the session");
    assert_eq!(reqwest::get(&url).await.expect("audio").status().as_u16(), 404);
    let (_, again) = upload(&daemon, "review.wav", audio).await;
    assert_eq!(again["duplicate"], false);
    assert_ne!(session_id(&again), id);
}

/// Every file under `dir`.
fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opus_goes_unconverted_to_a_provider_that_decodes_it() {
    let fake = FakeDeepgram::loopback(KEY).await;
    let note = scribe_tests::ogg_opus(2);
    fake.script(&note, Script::from_text("A voice note.", 2.0));
    let daemon = daemon(&fake, KEY, |_| {}).await;
    let mut events = Events::connect(&daemon).await.expect("events");
    let (status, body) = upload(&daemon, "voice-note.opus", note.clone()).await;
    assert_eq!(status, 202, "{body}");
    let id = session_id(&body);
    assert_eq!(events.job_end(&id).await.expect("ends")["status"], "complete");
    let seen = fake.requests();
    assert_eq!(seen[0].body_len, note.len(), "the original bytes were sent");
    assert_eq!(seen[0].headers.get("content-type").and_then(|v| v.to_str().ok()), Some("audio/ogg"));
    let session = daemon.get_json(&format!("/api/v1/sessions/{id}")).await.expect("session");
    assert_eq!(session["session"]["duration_ms"], 2_000, "measured by the provider");
    assert_eq!(session["audio"]["mime"], "audio/ogg");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_uploads_of_the_same_bytes_make_one_session() {
    // Browser retries, the PWA's outbox and double drops send the same file at once; the
    // losers of the race got 500s and left sessions queued forever.
    let dir = tempfile::tempdir().expect("tempdir");
    let fake = FakeDeepgram::loopback(KEY).await;
    let audio = tone(dir.path(), 610, 1);
    fake.script(&audio, Script::from_text("Only once.", 1.0));
    let daemon = daemon(&fake, KEY, |s| s.config.files.max_attempts = 3).await;
    let mut events = Events::connect(&daemon).await.expect("events");
    let client = reqwest::Client::new();
    let uploads: Vec<_> = (0..50)
        .map(|i| {
            let request = client
                .post(daemon.url(&format!("/api/v1/uploads?name=same-{i}.wav")))
                .body(audio.clone())
                .send();
            tokio::spawn(async move {
                let response = request.await.expect("send");
                (response.status().as_u16(), response.json::<serde_json::Value>().await.expect("json"))
            })
        })
        .collect();
    let mut answers = Vec::new();
    for upload in uploads {
        answers.push(upload.await.expect("task"));
    }
    let accepted: Vec<&serde_json::Value> = answers.iter().filter(|(status, _)| *status == 202).map(|(_, body)| body).collect();
    assert_eq!(accepted.len(), 50, "every upload is accepted: {answers:?}");
    assert_eq!(accepted.iter().filter(|b| b["duplicate"] == false).count(), 1, "{accepted:?}");
    let id = session_id(accepted[0]);
    assert!(accepted.iter().all(|b| session_id(b) == id), "every answer names the one session: {accepted:?}");
    assert_eq!(events.job_end(&id).await.expect("ends")["status"], "complete");
    let files = daemon.get_json("/api/v1/sessions?kind=file").await.expect("list");
    assert_eq!(files["total"], 1, "{files}");
    assert_eq!(fake.requests().len(), 1);
    let status = daemon.get_json("/api/v1/status").await.expect("status");
    assert_eq!(status["queues"]["files"], 0, "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_that_crashed_the_decoder_fail_alone_and_the_daemon_goes_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fake = FakeDeepgram::loopback(KEY).await;
    let good = tone(dir.path(), 720, 1);
    fake.script(&good, Script::from_text("Still here.", 1.0));
    let daemon = daemon(&fake, KEY, |_| {}).await;
    let mut events = Events::connect(&daemon).await.expect("events");
    for (name, bytes) in scribe_tests::corpus::crashers() {
        let (status, body) = upload(&daemon, name, bytes).await;
        assert_eq!(status, 202, "{name}: {body}");
        let end = events.job_end(&session_id(&body)).await.expect("ends");
        assert_eq!(end["status"], "error", "{name}: {end}");
        let message = end["message"].as_str().unwrap_or_default();
        assert!(message.contains("corrupt") || message.contains("unsupported"), "{name}: {message}");
    }
    assert!(fake.requests().is_empty(), "nothing undecodable reached the provider");
    let (_, body) = upload(&daemon, "good.wav", good).await;
    assert_eq!(events.job_end(&session_id(&body)).await.expect("ends")["status"], "complete");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audio_past_the_duration_limit_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fake = FakeDeepgram::loopback(KEY).await;
    let daemon = daemon(&fake, KEY, |s| s.config.files.max_duration_secs = 60).await;
    let mut events = Events::connect(&daemon).await.expect("events");
    // Two minutes of silence compress to a few KB of FLAC.
    let path = dir.path().join("quiet.flac");
    let status = Command::new("sox").args(["-n", "-r", "16000", "-c", "1"]).arg(&path).args(["trim", "0", "120"]).status().expect("sox");
    assert!(status.success());
    let (_, body) = upload(&daemon, "quiet.flac", std::fs::read(&path).expect("read")).await;
    let end = events.job_end(&session_id(&body)).await.expect("ends");
    assert_eq!(end["status"], "error");
    assert!(end["message"].as_str().is_some_and(|m| m.contains("longer than 1m") && m.contains("files.max_duration_secs")), "{end}");
    assert!(fake.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_uploads_are_dropped_and_their_number_is_capped() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let fake = FakeDeepgram::loopback(KEY).await;
    let daemon = daemon(&fake, KEY, |s| s.config.files.upload_idle_secs = 1).await;
    let addr = daemon.daemon.addr();
    let head = format!("POST /api/v1/uploads?name=slow.wav HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 100000\r\n\r\nRIFF");
    // A client that starts an upload and goes quiet is dropped, and its temp file with it.
    let mut stalled = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stalled.write_all(head.as_bytes()).await.expect("head");
    let mut answer = Vec::new();
    let _ = stalled.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408") && answer.contains("upload_stalled"), "{answer}");
    let tmp = daemon.daemon.data_dir().join("tmp");
    let left: Vec<_> = std::fs::read_dir(&tmp).map(|d| d.flatten().collect()).unwrap_or_default();
    assert!(left.is_empty(), "no stalled upload kept: {left:?}");

    // Sixteen uploads trickling a byte at a time hold every slot: the next one waits for a
    // slot as long as an upload may stay silent, then is told to come back.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut trickles = Vec::new();
    for _ in 0..16 {
        let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        stream.write_all(head.as_bytes()).await.expect("head");
        let mut stopped = stopped.clone();
        trickles.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(200));
            loop {
                tokio::select! {
                    _ = stopped.changed() => return,
                    _ = tick.tick() => if stream.write_all(b"x").await.is_err() { return },
                }
            }
        }));
    }
    // The trickles are being received once their temp files exist.
    tokio::time::timeout(Duration::from_secs(30), async {
        while std::fs::read_dir(&tmp).map(|d| d.count()).unwrap_or(0) < 16 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("sixteen uploads in progress");
    let extra = raw_upload(&daemon, "extra.wav", Some(10), 0).await;
    assert!(extra.starts_with("HTTP/1.1 503"), "{extra}");
    assert!(extra.contains("\"code\":\"busy\"") && extra.to_ascii_lowercase().contains("retry-after: 5"), "{extra}");
    let _ = stop.send(true);
    for trickle in trickles {
        let _ = trickle.await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rejection_is_a_json_error() {
    let fake = FakeDeepgram::loopback(KEY).await;
    let daemon = daemon(&fake, KEY, |_| {}).await;
    let client = reqwest::Client::new();
    // A path id that is not UTF-8, and a method the path does not take: axum answers both
    // by itself, in plain text or with no body. (A body past the default limit is answered
    // the same way, but the server closes on the unread rest, so a client may see a reset
    // instead of the answer: no test can wait for it reliably.)
    let cases = [
        (client.get(daemon.url("/api/v1/sessions/%FF%FE")), 400),
        (client.delete(daemon.url("/api/v1/status")), 405),
    ];
    for (request, want) in cases {
        let response = request.send().await.expect("send");
        let status = response.status().as_u16();
        let content_type = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
        let body: serde_json::Value = response.json().await.unwrap_or_else(|err| panic!("{want}: not JSON ({content_type}): {err}"));
        assert_eq!(status, want, "{body}");
        assert!(body["error"]["code"].is_string() && body["error"]["message"].is_string(), "{body}");
    }
}
