//! Live sessions end to end: browser audio over the ingest socket, the real deepgram-live
//! component, the fake Deepgram's live endpoint, the events socket and the stored library.

use std::time::Duration;

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
    let daemon = daemon(&fake, |_| {}).await;
    let mut events = Events::connect(&daemon).await.expect("events");

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

    // Resampled to 16 kHz mono at the right rate: the stored duration is the sent duration.
    let session = daemon.get_json(&format!("/api/v1/sessions/{id}")).await.expect("session");
    let duration = session["session"]["duration_ms"].as_u64().expect("duration") as f64 / 1000.0;
    assert!((duration - seconds).abs() < 0.05, "stored {duration} s, sent {seconds} s");
    assert_eq!(session["session"]["kind"], "live");
    assert_eq!(session["session"]["source"], "browser");
    let audio = reqwest::get(daemon.url(&format!("/api/v1/sessions/{id}/audio"))).await.expect("audio");
    assert_eq!(audio.status(), 200);
    let wav = audio.bytes().await.expect("audio bytes");
    assert_eq!(&wav[..4], b"RIFF");
    assert_eq!(u32::from_le_bytes([wav[24], wav[25], wav[26], wav[27]]), 16_000, "a 16 kHz WAV");

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
    let sentences = [
        "The first sentence is spoken clearly.",
        "Then the network fails in the middle of the talk.",
        "Words after the outage must arrive exactly once.",
        "And the timeline keeps moving forward.",
    ];
    let (pcm, script) = spoken_script(dir.path(), &sentences, 700);
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
