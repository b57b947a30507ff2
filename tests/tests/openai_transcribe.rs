//! Files through an OpenAI-compatible transcription server: the real openai-transcribe
//! component against the fake's `/v1/audio/transcriptions`. espeak speech becomes timed
//! words; a server without timestamps gives text alone and the job says so; a file over the
//! server's limit goes as its speech in parts under it, and the times come back continuous.

use std::time::Duration;

use scribe_tests::conversation::{espeak, wav};
use scribe_tests::fake_openai::transcriptions::{MAX_CONTENT, voiced};
use scribe_tests::fake_openai::{FakeOpenAi, Mode};
use scribe_tests::{Events, Setup, TestDaemon};
use serde_json::Value;

const KEY: &str = "sk-openai-transcribe-5e8f";
const SENTENCE: &str = "The quarterly report is ready and the budget review happens on Thursday morning";
/// A guard against a hung test, not a synchronisation delay.
const LIMIT: Duration = Duration::from_secs(300);
/// Canonical PCM: 16 kHz mono.
const RATE: usize = 16_000;

async fn start(model: &str, tune: impl FnOnce(&mut Setup)) -> (TestDaemon, FakeOpenAi) {
    let openai = FakeOpenAi::loopback(Some(KEY), Mode::Full).await;
    let mut setup = Setup::new().with_fake_openai_transcribe(&openai, model, KEY);
    tune(&mut setup);
    (setup.start().await.expect("daemon starts"), openai)
}

/// `SENTENCE` spoken, with a second of silence either side, as 16 kHz samples.
fn spoken(dir: &std::path::Path) -> Vec<f32> {
    let speech = espeak("en-us", SENTENCE, dir).expect("espeak-ng");
    let silence = vec![0.0; RATE];
    [silence.clone(), speech, silence].concat()
}

/// Uploads `bytes` and waits for its job to end; returns the session and the last event.
async fn transcribe(daemon: &TestDaemon, name: &str, bytes: Vec<u8>) -> (String, Value) {
    let mut events = Events::connect(daemon).await.expect("events");
    let id = daemon.upload(name, bytes).await.expect("upload");
    let ended = events
        .until(LIMIT, |e| e["type"] == "job" && e["session_id"] == id.as_str() && (e["status"] == "complete" || e["status"] == "error"))
        .await
        .expect("the job ends");
    assert_eq!(ended["status"], "complete", "{ended}");
    (id, ended)
}

/// A session's words: (text, start ms, end ms).
async fn words(daemon: &TestDaemon, id: &str) -> Vec<(String, u64, u64)> {
    let body = daemon.get_json(&format!("/api/v1/sessions/{id}/words?limit=5000")).await.expect("words");
    let times = |w: &Value, k: &str| w[k].as_u64().expect("a time");
    body["words"].as_array().expect("words").iter().map(|w| (w["text"].as_str().expect("text").to_string(), times(w, "start_ms"), times(w, "end_ms"))).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn espeak_speech_becomes_words_with_times() {
    let dir = tempfile::tempdir().expect("tempdir");
    let samples = spoken(dir.path());
    let file = wav(&samples);
    let (daemon, openai) = start("whisper-1", |_| {}).await;
    openai.set_script(SENTENCE);
    let (id, ended) = transcribe(&daemon, "report.wav", file.clone()).await;
    assert!(ended["message"].is_null(), "nothing to say of a timed transcript: {ended}");

    let got = words(&daemon, &id).await;
    let want: Vec<String> = SENTENCE.split_whitespace().map(str::to_lowercase).collect();
    assert_eq!(got.iter().map(|w| w.0.clone()).collect::<Vec<_>>(), want);
    // Every word lies in the speech, in order; none in the silence around it.
    let speech = voiced(&samples, RATE as u32);
    let (first, last) = ((speech[0].0 * 1000.0) as u64, (speech[speech.len() - 1].1 * 1000.0) as u64);
    assert!(got.iter().all(|(_, s, e)| *s >= first && *e <= last + 20 && s <= e), "{got:?} outside {first}..{last}");
    assert!(got.windows(2).all(|w| w[0].1 <= w[1].1), "{got:?}");
    let session = daemon.get_json(&format!("/api/v1/sessions/{id}")).await.expect("session");
    assert_eq!(session["session"]["provider"], "openai-transcribe");
    assert!(!session["utterances"].as_array().expect("utterances").is_empty(), "segments became utterances: {session}");
    assert!(session["job"]["note"].is_null(), "{session}");

    // The form: the file as it was uploaded (within the limit, so sent whole), the fields
    // asking for word and segment times, the key added by the host.
    let seen = openai.uploads.requests();
    assert_eq!(seen.len(), 1);
    let form = &seen[0];
    assert_eq!((form.file_name.as_deref(), form.content_type.as_deref(), form.file_len), (Some("audio.wav"), Some("audio/wav"), file.len()));
    assert_eq!(form.field("model"), ["whisper-1"]);
    assert_eq!(form.field("response_format"), ["verbose_json"]);
    assert_eq!(form.field("timestamp_granularities[]"), ["word", "segment"]);
    assert_eq!(form.headers.get("authorization").and_then(|v| v.to_str().ok()), Some(format!("Bearer {KEY}").as_str()));

    // This plugin speaks scribe:plugin@0.2.0, whose requests have no task: a translation of
    // the same file is refused with OpenAI's 400, and nothing more is sent to the server.
    let form = reqwest::multipart::Form::new().text("model", "openai-transcribe").part("file", reqwest::multipart::Part::bytes(file).file_name("report.wav"));
    let refused = reqwest::Client::new().post(daemon.url("/v1/audio/translations")).multipart(form).send().await.expect("translation answered");
    assert_eq!(refused.status(), 400);
    let error: Value = refused.json().await.expect("OpenAI's error envelope");
    let message = error["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("openai-transcribe does not translate") && message.contains("0.3.0"), "{error}");
    assert_eq!(error["error"]["param"], "model");
    assert_eq!(openai.uploads.requests().len(), 1, "the session's transcript was reused and no translation was sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_without_timestamps_gives_text_alone_and_the_job_says_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = wav(&spoken(dir.path()));
    // OpenAI's gpt-4o models answer in json or text only.
    let (daemon, openai) = start("gpt-4o-transcribe", |_| {}).await;
    openai.set_script(SENTENCE);
    let (id, ended) = transcribe(&daemon, "first.wav", file.clone()).await;
    let note = ended["message"].as_str().unwrap_or_default().to_string();
    assert!(note.contains("no timestamps") && note.contains("gpt-4o-transcribe"), "{ended}");
    let got = words(&daemon, &id).await;
    assert_eq!(got.len(), SENTENCE.split_whitespace().count(), "{got:?}");
    assert!(got.iter().all(|(_, s, e)| *s == 0 && *e == 0), "text alone has no times: {got:?}");
    let session = daemon.get_json(&format!("/api/v1/sessions/{id}")).await.expect("session");
    assert_eq!(session["job"]["note"], note.as_str(), "the note is kept with the job");

    // Refused once, then asked for json; the next file asks for json straight away.
    let formats = |seen: Vec<scribe_tests::fake_openai::SeenUpload>| seen.iter().map(|f| f.field("response_format").join(",")).collect::<Vec<_>>();
    assert_eq!(formats(openai.uploads.requests()), ["verbose_json", "json"]);
    // Other bytes, so it is a file of its own.
    let mut second = file;
    let last = second.len() - 1;
    second[last] ^= 1;
    transcribe(&daemon, "second.wav", second).await;
    assert_eq!(formats(openai.uploads.requests()), ["verbose_json", "json", "json"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_over_the_limit_goes_in_parts_under_it_with_continuous_times() {
    let dir = tempfile::tempdir().expect("tempdir");
    let utterance = espeak("en-us", "the budget review happens on Thursday", dir.path()).expect("espeak-ng");
    // 60 MB of 16 kHz mono: the utterance again and again, the pauses short enough that the
    // whole file is one stretch of speech to the detector, so every cut is chosen in a pause.
    let period = utterance.len() + RATE * 6 / 5;
    let target_samples = 60 * 1000 * 1000 / 2;
    let mut samples = Vec::with_capacity(target_samples + period);
    while samples.len() < target_samples {
        samples.extend_from_slice(&utterance);
        samples.resize(samples.len() + period - utterance.len(), 0.0);
    }
    let file = wav(&samples);
    assert!(file.len() > 60_000_000);
    let expected = voiced(&samples, RATE as u32);
    let (daemon, openai) = start("whisper-1", |_| {}).await;
    let (id, _) = transcribe(&daemon, "long.wav", file).await;

    let seen = openai.uploads.requests();
    assert!(seen.len() >= 3, "60 MB in parts of at most 25 MiB: {} parts", seen.len());
    assert!(seen.iter().all(|f| f.request_len <= MAX_CONTENT && f.file_name.as_deref() == Some("audio.wav")), "{:?}", seen.iter().map(|f| f.request_len).collect::<Vec<_>>());
    // Each utterance came back once, at its place in the file: the parts' times were mapped
    // back and nothing was cut in two or lost.
    let got = words(&daemon, &id).await;
    assert_eq!(got.len(), expected.len(), "one word per utterance");
    for ((_, start, end), (want_start, want_end)) in got.iter().zip(&expected) {
        let (want_start, want_end) = ((want_start * 1000.0) as i64, (want_end * 1000.0) as i64);
        assert!((*start as i64 - want_start).abs() <= 60 && (*end as i64 - want_end).abs() <= 60, "{start}..{end} for {want_start}..{want_end}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_openai_client_reads_every_format_of_the_fake() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("report.wav");
    std::fs::write(&path, wav(&spoken(dir.path()))).expect("write");
    let fake = FakeOpenAi::loopback(Some(KEY), Mode::Full).await;
    fake.set_script(SENTENCE);
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("clients/openai_transcribe.py");
    let out = tokio::process::Command::new(scribe_tests::test_python()).arg(script).arg(fake.base_url()).arg(KEY).arg(&path).output().await.expect("python runs");
    assert!(out.status.success(), "the client failed: {}", String::from_utf8_lossy(&out.stderr));
    let seen: Value = serde_json::from_slice(&out.stdout).expect("the client's report");
    let verbose = &seen["verbose_json"];
    assert_eq!(verbose["text"], seen["json"], "{seen}");
    assert_eq!(verbose["language"], "english");
    assert_eq!(verbose["words"].as_array().map(Vec::len), Some(SENTENCE.split_whitespace().count()));
    assert!(verbose["words"][0]["start"].as_f64().is_some_and(|s| s >= 0.9), "after the leading second of silence: {verbose}");
    assert!(!verbose["segments"].as_array().expect("segments").is_empty());
    assert_eq!(seen["text"].as_str().map(str::trim), seen["json"].as_str());
    assert!(seen["srt"].as_str().is_some_and(|s| s.starts_with("1\n00:00:0") && s.contains(" --> ")), "{seen}");
    assert!(seen["vtt"].as_str().is_some_and(|s| s.starts_with("WEBVTT\n\n00:00:0")), "{seen}");
    assert_eq!(seen["gpt_4o_json"], seen["json"]);
    assert_eq!(seen["gpt_4o_verbose"]["status"], 400);
    assert_eq!(seen["gpt_4o_verbose"]["param"], "response_format");
    assert_eq!(seen["wrong_key"], serde_json::json!({"status": 401, "code": "invalid_api_key"}));
    assert_eq!(seen["too_large"]["status"], 413);
    assert_eq!(fake.uploads.requests().len(), 9, "every call reached the fake");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_key_reaches_the_server_and_never_the_plugin_or_the_log() {
    use scribe_tests::fake_deepgram::FakeDeepgram;
    use scribe_tests::process::{command, config_text_with_openai_transcribe, serve_logged};

    let dir = tempfile::tempdir().expect("tempdir");
    let deepgram = FakeDeepgram::loopback("dg-unused-key").await;
    let openai = FakeOpenAi::loopback(Some(KEY), Mode::Full).await;
    openai.set_script(SENTENCE);
    let config = dir.path().join("scribed.toml");
    std::fs::write(&config, config_text_with_openai_transcribe(&deepgram, &openai)).expect("config");
    let mut serve = command("serve", &config, &dir.path().join("data"), "dg-unused-key");
    // The plugin logs its form at debug level: its view of the request.
    serve.env("OPENAI_API_KEY", KEY).env("RUST_LOG", "warn,scribed::plugin::capabilities::platform=debug");
    let log = dir.path().join("scribed.log");
    let (mut child, url) = serve_logged(serve, &log);
    let host = url.trim_start_matches("http://");
    let (mut socket, _) = tokio_tungstenite::connect_async(format!("ws://{host}/api/v1/events")).await.expect("events");
    let response = reqwest::Client::new().post(format!("{url}/api/v1/uploads?name=report.wav")).body(wav(&spoken(dir.path()))).send().await.expect("upload");
    assert_eq!(response.status(), 202);
    let ended = tokio::time::timeout(LIMIT, async {
        use futures_util::StreamExt;
        while let Some(Ok(message)) = socket.next().await {
            let event: Value = serde_json::from_str(message.to_text().unwrap_or("null")).unwrap_or(Value::Null);
            if event["type"] == "job" && (event["status"] == "complete" || event["status"] == "error") {
                return event;
            }
        }
        Value::Null
    })
    .await
    .expect("the job ends");
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(ended["status"], "complete", "{ended}");

    let seen = openai.uploads.requests();
    assert_eq!(seen[0].headers.get("authorization").and_then(|v| v.to_str().ok()), Some(format!("Bearer {KEY}").as_str()), "the host added the key");
    let log = std::fs::read_to_string(&log).expect("log");
    let view = log.lines().find(|l| l.contains("/v1/audio/transcriptions with fields")).unwrap_or_else(|| panic!("the plugin logged its form: {log}"));
    assert!(view.contains("timestamp_granularities[]") && !view.to_lowercase().contains("authorization"), "{view}");
    assert!(!log.contains(KEY), "the key appears nowhere in the log");
}
