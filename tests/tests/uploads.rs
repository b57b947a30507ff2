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
    let fake = FakeDeepgram::start("127.0.0.1:0".parse().expect("addr"), KEY).await.expect("fake");
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
    let fake = FakeDeepgram::start("127.0.0.1:0".parse().expect("addr"), KEY).await.expect("fake");
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
    let other = FakeDeepgram::start("127.0.0.1:0".parse().expect("addr"), KEY).await.expect("fake");
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
    let fake = FakeDeepgram::start("127.0.0.1:0".parse().expect("addr"), KEY).await.expect("fake");
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
