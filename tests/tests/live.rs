//! Live sessions end to end: browser audio over the ingest socket, the real deepgram-live
//! component, the fake Deepgram's live endpoint, the events socket and the stored library.

use std::time::Duration;

use scribe_tests::fake_anthropic::FakeAnthropic;
use scribe_tests::fake_deepgram::{FakeDeepgram, LiveFault, Script};
use scribe_tests::live::{Ingest, final_words, script_text, speech, spoken_script};
use scribe_tests::{Events, Setup, TestDaemon};

const KEY: &str = "dg-live-key";
/// Guard against a hung test, not a synchronisation delay.
const LIMIT: Duration = Duration::from_secs(120);

async fn daemon(fake: &FakeDeepgram, tweak: impl FnOnce(&mut scribed::config::LiveConfig)) -> TestDaemon {
    let mut setup = Setup::new().with_fake_deepgram(fake, KEY);
    setup.config.live.reconnect_base_ms = 100;
    tweak(&mut setup.config.live);
    setup.start().await.expect("daemon starts")
}

fn base(daemon: &TestDaemon) -> String {
    daemon.url("").trim_end_matches('/').to_string()
}

/// The stored words of a session's newest transcript, as displayed, with their times.
async fn stored_words(daemon: &TestDaemon, id: &str) -> Vec<(String, u64, u64)> {
    let words = daemon.get_json(&format!("/api/v1/sessions/{id}/words?limit=10000")).await.expect("words");
    words["words"]
        .as_array()
        .expect("a word list")
        .iter()
        .map(|w| {
            let text = w["punctuated"].as_str().unwrap_or_default().to_string();
            (text, w["start_ms"].as_u64().unwrap_or(0), w["end_ms"].as_u64().unwrap_or(0))
        })
        .collect()
}

fn assert_monotonic(words: &[(String, u64, u64)]) {
    for pair in words.windows(2) {
        assert!(pair[0].1 <= pair[1].1 && pair[0].2 <= pair[1].1 + 1, "times go forward: {pair:?}");
    }
    assert!(words.iter().all(|w| w.1 <= w.2), "{words:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_audio_at_48k_stereo_becomes_stored_words_with_the_right_duration() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fake = FakeDeepgram::loopback(KEY).await;
    let text = "The quick brown fox jumps over the lazy dog.";
    let stereo = speech(dir.path(), "fox", text, 48_000, 2);
    let seconds = stereo.len() as f64 / 2.0 / 48_000.0;
    fake.live_default(Script::from_text(text, seconds - 0.5));
    // A summarizer too: a completed live session is summarised like a file.
    let anthropic = FakeAnthropic::loopback("sk-ant-live").await;
    let mut setup = Setup::new().with_fake_deepgram(&fake, KEY).with_fake_anthropic(&anthropic, "sk-ant-live");
    setup.config.summaries.min_words = 5;
    let daemon = setup.start().await.expect("daemon starts");
    let mut events = Events::connect(&daemon).await.expect("events");

    // Another site's page may not stream into the daemon.
    let mut foreign = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
        daemon.url("/api/v1/live/ingest").replacen("http", "ws", 1),
    )
    .expect("request");
    foreign.headers_mut().insert("origin", "http://evil.example".parse().expect("header"));
    match tokio_tungstenite::connect_async(foreign).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => assert_eq!(response.status(), 403),
        other => panic!("a foreign origin was not refused: {other:?}"),
    }

    let mut ingest = Ingest::start(&base(&daemon), 48_000, 2, "From the browser").await.expect("ingest starts");
    ingest.send(&stereo, 48_000, 2, 40, false).await.expect("audio sent");
    let ended = ingest.stop(LIMIT).await.expect("session ends");
    assert_eq!(ended["status"], "complete", "{:?}", ingest.received);
    let id = ingest.session_id.clone();

    // The words came back on the ingest socket and on the events socket, and were stored.
    let script = script_text(&Script::from_text(text, 1.0).words);
    assert_eq!(final_words(&ingest.received), script);
    let stored = stored_words(&daemon, &id).await;
    assert_eq!(stored.iter().map(|w| w.0.clone()).collect::<Vec<_>>(), script);
    assert_monotonic(&stored);
    let complete = events.until(LIMIT, |e| e["type"] == "live" && e["session_id"] == id.as_str() && e["status"] == "complete").await;
    assert!(complete.is_ok(), "the events socket saw the session complete");
    let summary = events.until(LIMIT, |e| e["type"] == "summary" && e["session_id"] == id.as_str() && e["status"] == "complete").await;
    assert!(summary.is_ok_and(|e| e["summary"]["key_points"][0].as_str().is_some_and(|p| p.contains("quick brown fox"))));

    // Resampled to 16 kHz mono at the right rate: the stored duration is the sent duration.
    let session: serde_json::Value = daemon.get_json(&format!("/api/v1/sessions/{id}")).await.expect("session");
    let duration = session["session"]["duration_ms"].as_u64().expect("duration") as f64 / 1000.0;
    assert!((duration - seconds).abs() < 0.05, "stored {duration} s, sent {seconds} s");
    assert_eq!(session["session"]["kind"], "live");
    assert_eq!(session["session"]["source"], "browser");
    let audio = reqwest::get(daemon.url(&format!("/api/v1/sessions/{id}/audio"))).await.expect("audio");
    assert_eq!(audio.status(), 200);
    let wav = audio.bytes().await.expect("audio bytes");
    assert_eq!(&wav[..4], b"RIFF");
    assert_eq!(u32::from_le_bytes([wav[24], wav[25], wav[26], wav[27]]), 16_000, "a 16 kHz WAV");

    // The recording can be transcribed again in batch; the live version stays.
    fake.default_script(Script::from_text("Batch words.", 1.0));
    let queued = reqwest::Client::new()
        .post(daemon.url(&format!("/api/v1/sessions/{id}/transcribe")))
        .json(&serde_json::json!({"provider": "deepgram-batch"}))
        .send()
        .await
        .expect("re-transcribe");
    assert_eq!(queued.status(), 202);
    let job = events.job_end(&id).await.expect("batch job ends");
    assert_eq!(job["status"], "complete", "{job}");
    let session = daemon.get_json(&format!("/api/v1/sessions/{id}")).await.expect("session");
    let providers: Vec<&str> = session["versions"].as_array().expect("versions").iter().filter_map(|v| v["provider"].as_str()).collect();
    assert_eq!(providers, ["deepgram-live", "deepgram-batch"]);

    // The stream followed the protocol: the key in the header, lowercase booleans, and a
    // CloseStream answered by Metadata and a normal close.
    let connections = fake.live_connections();
    assert_eq!(connections.len(), 1);
    let connection = &connections[0];
    assert_eq!(connection.headers.get("authorization").and_then(|v| v.to_str().ok()), Some(&*format!("Token {KEY}")));
    assert!(connection.query.iter().any(|(k, v)| k == "interim_results" && v == "true"));
    assert_eq!(connection.close_streams, 1);
    assert_eq!(connection.empty_frames, 0);
    assert_eq!(connection.closed_with, Some((1000, String::new())));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_dropped_connections_lose_and_repeat_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fake = FakeDeepgram::loopback(KEY).await;
    let parts = [
        (700, "The first sentence is spoken clearly."),
        (700, "Then the network fails in the middle of the talk."),
        (700, "Words after the outage must arrive exactly once."),
        (700, "And the timeline keeps moving forward."),
    ];
    let (pcm, script) = spoken_script(dir.path(), &parts, 700);
    fake.live_script(&pcm, script.clone());
    // The first connection drops without a close frame, the second with a server error.
    fake.push_live_fault(LiveFault::DropAfter { seconds: 4.0, close: None });
    fake.push_live_fault(LiveFault::DropAfter { seconds: 3.0, close: Some((1011, "NET-0000".into())) });
    let daemon = daemon(&fake, |_| {}).await;

    let mut ingest = Ingest::start(&base(&daemon), 16_000, 1, "Flaky network").await.expect("ingest starts");
    ingest.send(&pcm, 16_000, 1, 20, false).await.expect("audio sent");
    let ended = ingest.stop(LIMIT).await.expect("session ends");
    assert_eq!(ended["status"], "complete", "{:?}", ingest.received);

    let connections = fake.live_connections();
    assert_eq!(connections.len(), 3, "two drops, two reconnects");
    assert_eq!(connections[0].closed_with, Some((1006, String::new())));
    assert_eq!(connections[1].closed_with, Some((1011, "NET-0000".into())));
    let stored = stored_words(&daemon, &ingest.session_id).await;
    let texts: Vec<String> = stored.iter().map(|w| w.0.clone()).collect();
    assert_eq!(texts, script_text(&script.words), "the script exactly once");
    assert_monotonic(&stored);
    // Every word sits where it was spoken on the session's clock, whichever connection
    // heard it.
    for (word, (text, start, _)) in script.words.iter().zip(&stored) {
        let spoken = (word.start * 1000.0) as i64;
        assert!((*start as i64 - spoken).abs() <= 60, "{text} stored at {start} ms, spoken at {spoken} ms");
    }
    let reconnects: Vec<_> = ingest.received.iter().filter(|e| e["type"] == "live" && e["status"] == "reconnecting").collect();
    assert_eq!(reconnects.len(), 2, "each drop is reported: {reconnects:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifteen_seconds_of_silence_keep_the_connection_alive() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fake = FakeDeepgram::loopback(KEY).await;
    let parts = [(300, "Before the long pause."), (15_000, "After fifteen seconds of silence.")];
    let (pcm, script) = spoken_script(dir.path(), &parts, 500);
    fake.live_script(&pcm, script.clone());
    let daemon = daemon(&fake, |_| {}).await;

    // In real time, as a microphone delivers it: the silence lasts 15 s on the wall clock.
    let mut ingest = Ingest::start(&base(&daemon), 16_000, 1, "Long pause").await.expect("ingest starts");
    ingest.send(&pcm, 16_000, 1, 100, true).await.expect("audio sent");
    let ended = ingest.stop(LIMIT).await.expect("session ends");
    assert_eq!(ended["status"], "complete", "{:?}", ingest.received);

    let connections = fake.live_connections();
    assert_eq!(connections.len(), 1, "one connection throughout");
    let connection = &connections[0];
    assert!(connection.keep_alives >= 3, "KeepAlive during the silence: {connection:?}");
    assert!(connection.finalizes >= 1, "Finalize when the speech paused: {connection:?}");
    assert_eq!(connection.closed_with, Some((1000, String::new())), "closed by CloseStream, not NET-0001");
    // Silence is not streamed: far less audio went out than was recorded.
    let sent_seconds = connection.audio_bytes as f64 / 32_000.0;
    let recorded_seconds = pcm.len() as f64 / 16_000.0;
    assert!(sent_seconds < recorded_seconds - 10.0, "sent {sent_seconds:.1} s of {recorded_seconds:.1} s");
    let stored = stored_words(&daemon, &ingest.session_id).await;
    assert_eq!(stored.iter().map(|w| w.0.clone()).collect::<Vec<_>>(), script_text(&script.words));
    assert!(!ingest.received.iter().any(|e| e["status"] == "reconnecting"), "no reconnect");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_events_client_is_dropped_and_the_others_get_every_event() {
    use futures_util::StreamExt;
    let fake = FakeDeepgram::loopback(KEY).await;
    // A level event per 20 ms frame: many small events, quickly.
    let daemon = daemon(&fake, |live| {
        live.frame_ms = 20;
        live.level_interval_ms = 20;
        live.idle_stop_secs = 0;
    })
    .await;

    // The stalled client: a tiny receive buffer, and it never reads after the handshake.
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("buffer size");
    let stream = socket.connect(daemon.daemon.addr()).await.expect("connect");
    let (mut stalled, _) = tokio_tungstenite::client_async(daemon.url("/api/v1/events").replacen("http", "ws", 1), stream)
        .await
        .expect("stalled client connects");

    // A healthy client reads everything, concurrently.
    let mut healthy = Events::connect(&daemon).await.expect("events");
    let mut ingest = Ingest::start(&base(&daemon), 16_000, 1, "Flood").await.expect("ingest starts");
    let id = ingest.session_id.clone();
    let reader = {
        let id = id.clone();
        tokio::spawn(async move {
            let mut seqs = Vec::new();
            let mut levels = 0;
            loop {
                let event = healthy.until(LIMIT, |_| true).await.expect("the healthy client keeps receiving");
                if let Some(seq) = event["seq"].as_u64() {
                    seqs.push(seq);
                }
                levels += usize::from(event["type"] == "level" && event["session_id"] == id.as_str());
                if event["type"] == "live" && event["session_id"] == id.as_str() && event["status"] == "complete" {
                    return (seqs, levels);
                }
            }
        })
    };
    // Four minutes of quiet audio, as fast as the socket takes it.
    let mut quiet = vec![0i16; 240 * 16_000];
    scribe_tests::live::dither(&mut quiet, 3);
    ingest.send(&quiet, 16_000, 1, 100, false).await.expect("audio sent");
    let ended = ingest.stop(LIMIT).await.expect("session ends");
    assert_eq!(ended["status"], "complete");

    let (seqs, levels) = reader.await.expect("reader");
    assert_eq!(levels, 240 * 1000 / 20, "every level event reached the healthy client");
    assert!(seqs.windows(2).all(|p| p[1] == p[0] + 1), "no gaps in the healthy client's sequence");

    // The stalled client was cut off: what it has buffered ends, it does not hang.
    let drained = tokio::time::timeout(LIMIT, async {
        let mut received = 0usize;
        while let Some(Ok(message)) = stalled.next().await {
            if message.is_close() {
                break;
            }
            received += 1;
        }
        received
    })
    .await
    .expect("the stalled client was disconnected");
    assert!(drained < levels, "the stalled client did not get everything ({drained} of {levels})");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_virtual_alsa_microphone_is_transcribed_end_to_end() {
    use scribe_tests::process::{command, config_text, serve_with};
    let work = tempfile::tempdir().expect("tempdir");
    let home = work.path().join("home");
    std::fs::create_dir_all(&home).expect("home");
    let text = "Testing the virtual microphone with known speech.";
    let stereo = speech(work.path(), "mic", text, 48_000, 2);
    let raw = home.join("speech.raw");
    std::fs::write(&raw, scribe_tests::live::bytes(&stereo)).expect("raw speech");
    // ALSA's file plugin reads the capture data from `infile` (as fast as it is asked: no
    // pacing); `plug` converts it to whatever rate and format cpal opens the device with.
    let asoundrc = format!(
        r#"pcm.scribefile {{
    type file
    slave.pcm null
    file "/dev/null"
    infile "{}"
    format "raw"
}}
pcm.scribetest {{
    type plug
    slave {{ pcm "scribefile" format S16_LE rate 48000 channels 2 }}
    hint {{ show on description "Scribe test speech" }}
}}
"#,
        raw.display()
    );
    std::fs::write(home.join(".asoundrc"), asoundrc).expect("asoundrc");

    let fake = FakeDeepgram::loopback(KEY).await;
    let seconds = stereo.len() as f64 / 2.0 / 48_000.0;
    fake.live_default(Script::from_text(text, seconds - 0.5));
    let config = config_text(&fake).replacen("idle_stop_secs = 600", "idle_stop_secs = 5", 1);
    let config_path = work.path().join("scribed.toml");
    std::fs::write(&config_path, config).expect("config");
    let mut serve = command("serve", &config_path, &work.path().join("data"), KEY);
    serve.env("HOME", &home);
    let (mut daemon, url) = serve_with(serve);

    let listed = reqwest::get(format!("{url}/api/v1/devices")).await.expect("devices").text().await.expect("body");
    assert!(listed.contains("scribetest"), "{listed}");
    let mut events = {
        let (socket, _) = tokio_tungstenite::connect_async(format!("{}/api/v1/events", url.replacen("http", "ws", 1))).await.expect("events");
        socket
    };
    let client = reqwest::Client::new();
    let started = client.post(format!("{url}/api/v1/live")).json(&serde_json::json!({"device": "scribetest"})).send().await.expect("start");
    assert_eq!(started.status(), 201);
    let started: serde_json::Value = started.json().await.expect("json");
    let id = started["id"].as_str().expect("id").to_string();
    assert_eq!(started["source"], "Scribe test speech");

    // Final words reach the events client; the session stops itself in the silence after
    // the file (or by request, whichever comes first) and completes.
    let script = script_text(&Script::from_text(text, 1.0).words);
    let mut seen = Vec::new();
    let mut stop_sent = false;
    tokio::time::timeout(LIMIT, async {
        use futures_util::StreamExt;
        while let Some(Ok(message)) = events.next().await {
            let event: serde_json::Value = serde_json::from_str(message.to_text().unwrap_or("{}")).unwrap_or_default();
            if event["session_id"] != id.as_str() {
                continue;
            }
            seen.push(event.clone());
            if !stop_sent && final_words(&seen) == script {
                stop_sent = true;
                let stop = client.post(format!("{url}/api/v1/live/{id}/stop")).send().await.expect("stop");
                assert!(stop.status() == 202 || stop.status() == 404, "{}", stop.status());
            }
            if event["type"] == "live" && event["status"] == "complete" {
                break;
            }
        }
    })
    .await
    .expect("the session completes");
    assert_eq!(final_words(&seen), script, "{seen:?}");
    let words: serde_json::Value = client.get(format!("{url}/api/v1/sessions/{id}/words")).send().await.expect("words").json().await.expect("json");
    let stored: Vec<&str> = words["words"].as_array().expect("words").iter().filter_map(|w| w["punctuated"].as_str()).collect();
    assert_eq!(stored, script);
    let session: serde_json::Value = client.get(format!("{url}/api/v1/sessions/{id}")).send().await.expect("session").json().await.expect("json");
    let duration = session["session"]["duration_ms"].as_u64().expect("duration");
    assert!(duration as f64 >= seconds * 1000.0 - 50.0, "the whole file was recorded: {duration} ms of {seconds} s");
    daemon.kill().expect("stop the daemon");
    let _ = daemon.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_outage_is_finished_by_batch_transcription_of_the_recording() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fake = FakeDeepgram::loopback(KEY).await;
    for _ in 0..100 {
        fake.push_live_fault(LiveFault::Refuse(503));
    }
    fake.default_script(Script::from_text("Transcribed from the recording.", 1.0));
    let daemon = daemon(&fake, |live| {
        live.max_outage_secs = 1;
        live.reconnect_max_ms = 200;
    })
    .await;
    let mut events = Events::connect(&daemon).await.expect("events");
    let pcm = speech(dir.path(), "outage", "Nobody is listening right now.", 16_000, 1);
    let mut ingest = Ingest::start(&base(&daemon), 16_000, 1, "Offline").await.expect("ingest starts");
    ingest.send(&pcm, 16_000, 1, 100, true).await.expect("audio sent");
    let ended = ingest.stop(LIMIT).await.expect("session ends");
    assert_eq!(ended["status"], "queued", "handed to batch transcription: {:?}", ingest.received);
    let offline = ingest.received.iter().find(|e| e["type"] == "live" && e["status"] == "offline").expect("the outage is reported");
    assert!(offline["message"].as_str().unwrap_or_default().contains("transcribed from the file"), "{offline}");

    let id = ingest.session_id.clone();
    let job = events.job_end(&id).await.expect("the batch job ends");
    assert_eq!(job["status"], "complete", "{job}");
    let session = daemon.get_json(&format!("/api/v1/sessions/{id}")).await.expect("session");
    assert_eq!(session["session"]["status"], "complete");
    let providers: Vec<&str> = session["versions"].as_array().expect("versions").iter().filter_map(|v| v["provider"].as_str()).collect();
    assert_eq!(providers, ["deepgram-live", "deepgram-batch"], "the (empty) live version is kept");
    let stored = stored_words(&daemon, &id).await;
    assert_eq!(stored.iter().map(|w| w.0.as_str()).collect::<Vec<_>>(), ["Transcribed", "from", "the", "recording."]);
    assert!(fake.live_connections().len() >= 2, "reconnects were tried");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_device_ends_the_session_with_its_audio_kept_and_silence_stops_it() {
    use scribed::live::{Input, SessionSpec};
    let fake = FakeDeepgram::loopback(KEY).await;
    let daemon = daemon(&fake, |live| live.idle_stop_secs = 1).await;
    let mut events = Events::connect(&daemon).await.expect("events");
    let tone: Vec<i16> = (0..16_000).map(|i| ((i as f32 * 0.06).sin() * 9_000.0) as i16).collect();

    // A device that fails after a second of audio.
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    let spec = SessionSpec { source: "USB microphone".into(), ..SessionSpec::default() };
    let id = daemon.daemon.live().start(spec, rx).await.expect("session starts");
    tx.send(Input::Samples(tone.clone())).await.expect("audio");
    tx.send(Input::Failed("the input device failed: device unplugged".into())).await.expect("failure");
    let failed = events.until(LIMIT, |e| e["type"] == "live" && e["session_id"] == id.as_str() && e["status"] == "error").await.expect("error");
    let message = failed["message"].as_str().unwrap_or_default();
    assert!(message.contains("unplugged") && message.contains("kept"), "{message}");
    let session = daemon.get_json(&format!("/api/v1/sessions/{id}")).await.expect("session");
    assert_eq!(session["session"]["status"], "error");
    assert_eq!(session["session"]["duration_ms"], 1000);
    let audio = reqwest::get(daemon.url(&format!("/api/v1/sessions/{id}/audio"))).await.expect("audio");
    assert_eq!(audio.status(), 200);

    // A microphone left on in silence: the session stops itself.
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    let spec = SessionSpec { source: "USB microphone".into(), ..SessionSpec::default() };
    let id = daemon.daemon.live().start(spec, rx).await.expect("session starts");
    tx.send(Input::Samples(tone)).await.expect("audio");
    tx.send(Input::Samples(vec![0; 32_000])).await.expect("silence");
    let stopped = events.until(LIMIT, |e| e["type"] == "live" && e["session_id"] == id.as_str() && e["status"] == "processing").await.expect("stops");
    assert_eq!(stopped["message"], "stopped after 1 s of silence");
    drop(tx);
}

/// The fake itself, against docs/protocols/deepgram.md §1: what a real client would run into.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fake_follows_the_live_protocol() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let fake = FakeDeepgram::loopback(KEY).await;
    let url = format!("{}/v1/listen?model=nova-3&encoding=linear16&sample_rate=16000&interim_results=true", fake.ws_url());
    let close_of = |message: Option<Result<Message, tokio_tungstenite::tungstenite::Error>>| match message {
        Some(Ok(Message::Close(Some(frame)))) => (u16::from(frame.code), frame.reason.to_string()),
        other => panic!("expected a close frame, got {other:?}"),
    };

    // The browser form of the key: a subprotocol, echoed; the request id on the 101.
    let mut request = url.as_str().into_client_request().expect("request");
    request.headers_mut().insert("sec-websocket-protocol", format!("token, {KEY}").parse().expect("header"));
    let (mut socket, response) = tokio_tungstenite::connect_async(request).await.expect("upgrade");
    assert_eq!(response.headers().get("sec-websocket-protocol").and_then(|v| v.to_str().ok()), Some("token"));
    assert!(response.headers().get("dg-request-id").is_some());
    // Nothing sent for 10 s: NET-0001.
    let idle = tokio::time::timeout(LIMIT, socket.next()).await.expect("closed in time");
    assert_eq!(close_of(idle), (1011, "NET-0001".into()));

    let mut request = url.as_str().into_client_request().expect("request");
    request.headers_mut().insert("authorization", format!("token {KEY}").parse().expect("header"));
    let (mut socket, _) = tokio_tungstenite::connect_async(request.clone()).await.expect("upgrade");
    socket.send(Message::Text("{\"type\":\"Nonsense\"}".into())).await.expect("send");
    assert_eq!(close_of(socket.next().await), (1008, "DATA-0000".into()));

    let (mut socket, _) = tokio_tungstenite::connect_async(request.clone()).await.expect("upgrade");
    socket.send(Message::Binary(Vec::new().into())).await.expect("send");
    assert_eq!(close_of(socket.next().await).0, 1000, "an empty frame ends the stream");
    assert_eq!(fake.live_connections()[2].empty_frames, 1);

    // CloseStream: Metadata, then a normal close.
    let (mut socket, _) = tokio_tungstenite::connect_async(request.clone()).await.expect("upgrade");
    socket.send(Message::Binary(vec![0u8; 640].into())).await.expect("audio");
    socket.send(Message::Text("{\"type\":\"CloseStream\"}".into())).await.expect("send");
    let metadata = socket.next().await.expect("a message").expect("ok");
    let metadata: serde_json::Value = serde_json::from_str(metadata.to_text().expect("text")).expect("json");
    assert_eq!(metadata["type"], "Metadata");
    assert_eq!(metadata["duration"], 0.02);
    assert_eq!(close_of(socket.next().await).0, 1000);

    // Capitalised booleans and wrong keys are refused at the handshake.
    let bad = url.replace("interim_results=true", "interim_results=True");
    let mut request = bad.as_str().into_client_request().expect("request");
    request.headers_mut().insert("authorization", format!("Token {KEY}").parse().expect("header"));
    match tokio_tungstenite::connect_async(request).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => assert_eq!(response.status(), 400),
        other => panic!("expected 400, got {other:?}"),
    }
    let mut request = url.as_str().into_client_request().expect("request");
    request.headers_mut().insert("authorization", "Token wrong".parse().expect("header"));
    match tokio_tungstenite::connect_async(request).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 401);
            assert!(response.headers().get("dg-error").is_some() && response.headers().get("dg-request-id").is_some());
        }
        other => panic!("expected 401, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ingest_socket_that_never_starts_is_closed_with_a_reason() {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    let fake = FakeDeepgram::loopback(KEY).await;
    let daemon = daemon(&fake, |_| {}).await;
    let url = format!("ws://{}/api/v1/live/ingest", daemon.daemon.addr());
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.expect("ingest socket");
    // Nothing is sent: the daemon says why and closes, instead of holding the socket.
    let mut said = None;
    let closed = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(message) = socket.next().await {
            match message {
                Ok(Message::Text(text)) => said = Some(text.to_string()),
                Ok(Message::Close(_)) | Err(_) => return true,
                Ok(_) => {}
            }
        }
        true
    })
    .await
    .expect("closed within the start timeout");
    assert!(closed);
    let said = said.expect("an error message before the close");
    assert!(said.contains("\"error\"") && said.contains("no start message within 10 s"), "{said}");
    assert_eq!(daemon.get_json("/api/v1/sessions").await.expect("sessions")["total"], 0);
}

/// The `auto` roles: Deepgram when its key is set, the offline recognisers when it is not;
/// the status page, the ingest socket and the stored session say which and why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_roles_choose_deepgram_with_a_key_and_whisper_without() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = "Good morning everybody.";
    let pcm = speech(dir.path(), "morning", text, 16_000, 1);

    let fake = FakeDeepgram::loopback(KEY).await;
    fake.live_default(Script::from_text(text, pcm.len() as f64 / 16_000.0 - 0.5));
    let keyed = Setup::new().with_test_model().with_fake_deepgram(&fake, KEY).start().await.expect("daemon starts");
    let status = keyed.get_json("/api/v1/status").await.expect("status");
    assert_eq!(status["roles"]["stt_live"]["plugin"], "deepgram-live", "{status}");
    assert_eq!(status["roles"]["stt_batch"]["plugin"], "deepgram-batch", "{status}");
    let mut ingest = Ingest::start(&base(&keyed), 16_000, 1, "keyed").await.expect("ingest starts");
    assert_eq!(ingest.started["provider"]["plugin"], "deepgram-live", "{}", ingest.started);
    ingest.send(&pcm, 16_000, 1, 40, false).await.expect("audio sent");
    assert_eq!(ingest.stop(LIMIT).await.expect("session ends")["status"], "complete", "{:?}", ingest.received);
    assert_eq!(final_words(&ingest.received), script_text(&Script::from_text(text, 1.0).words), "the fake's words");
    assert_eq!(fake.live_connections().len(), 1, "the session streamed to Deepgram");
    drop(keyed);

    // The same daemon without the key: whisper-live hears the speech itself.
    let keyless = Setup::new().with_test_model().start().await.expect("daemon starts");
    let status = keyless.get_json("/api/v1/status").await.expect("status");
    for (role, plugin) in [("stt_live", "whisper-live"), ("stt_batch", "whisper-local")] {
        assert_eq!(status["roles"][role]["plugin"], plugin, "{status}");
        let reason = status["roles"][role]["reason"].as_str().unwrap_or_default();
        assert!(reason.contains("DEEPGRAM_API_KEY"), "the reason names the missing key: {reason}");
    }
    let mut ingest = Ingest::start(&base(&keyless), 16_000, 1, "keyless").await.expect("ingest starts");
    assert_eq!(ingest.started["provider"]["plugin"], "whisper-live", "{}", ingest.started);
    ingest.send(&pcm, 16_000, 1, 40, false).await.expect("audio sent");
    assert_eq!(ingest.stop(LIMIT).await.expect("session ends")["status"], "complete", "{:?}", ingest.received);
    let heard = scribe_tests::wer::plain_words(&final_words(&ingest.received).join(" "));
    assert_eq!(heard, scribe_tests::wer::plain_words(text), "whisper-live's words");
    let recording = ingest.received.iter().find(|e| e["type"] == "live" && e["status"] == "recording").expect("a recording event");
    assert!(recording["message"].as_str().is_some_and(|m| m.contains("whisper-live") && m.contains("DEEPGRAM_API_KEY")), "{recording}");
    let session = keyless.get_json(&format!("/api/v1/sessions/{}", ingest.session_id)).await.expect("session");
    assert_eq!(session["session"]["provider"], "whisper-live", "{session}");
}
