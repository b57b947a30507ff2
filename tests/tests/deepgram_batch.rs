//! The real deepgram-batch component against the fake Deepgram: request shape, credential
//! injection, word parsing, and every error class mapped for the job queue.

use scribe_tests::fake_deepgram::{FakeDeepgram, Fault, Script};
use scribe_tests::{Setup, TestDaemon};
use scribed::plugin::bindings::types::PluginError;
use scribed::clients::stt::{AudioEncoding, AudioFormat, AudioInput, BatchStt};

const KEY: &str = "dg-test-key-5d1e";
const AUDIO: &[u8] = b"RIFF\x24\x00\x00\x00WAVEfmt not really audio, the fake only hashes it";

async fn daemon(fake: &FakeDeepgram, key: &str) -> TestDaemon {
    Setup::new().with_fake_deepgram(fake, key).start().await.expect("daemon starts")
}

fn stt(daemon: &TestDaemon) -> BatchStt {
    BatchStt::new(daemon.daemon.registry().handle("deepgram-batch").expect("loaded").clone()).expect("world")
}

/// Transcribes `audio`, written to a file as the job queue would have it.
async fn transcribe(stt: &BatchStt, audio: &[u8]) -> Result<Result<scribed::clients::stt::Transcript, PluginError>, scribed::plugin::handle::CallError> {
    let file = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(file.path(), audio).expect("write");
    let input = AudioInput::from_path(file.path()).expect("audio");
    let format = AudioFormat { encoding: AudioEncoding::Wav, sample_rate: 16_000, channels: 1 };
    stt.transcribe(format, input, None, None).await
}

async fn fake() -> FakeDeepgram {
    FakeDeepgram::loopback(KEY).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transcribes_through_the_fake_with_the_injected_key() {
    let fake = fake().await;
    fake.script(AUDIO, Script::from_text("Hello there. Second speaker, here.", 4.0));
    let daemon = daemon(&fake, KEY).await;
    let transcript = transcribe(&stt(&daemon), AUDIO).await.expect("no trap").expect("transcribed");
    let words: Vec<(&str, &str, u64, u64, Option<u32>)> = transcript
        .words
        .iter()
        .map(|w| (w.text.as_str(), w.punctuated.as_str(), w.start_ms, w.end_ms, w.speaker))
        .collect();
    assert_eq!(
        words,
        vec![
            ("hello", "Hello", 0, 640, Some(0)),
            ("there", "there.", 800, 1_440, Some(0)),
            ("second", "Second", 1_600, 2_240, Some(1)),
            ("speaker", "speaker,", 2_400, 3_040, Some(1)),
            ("here", "here.", 3_200, 3_840, Some(1)),
        ]
    );
    assert_eq!(transcript.duration_ms, Some(4_000));

    let seen = fake.requests();
    let request = seen.last().expect("one request");
    let query: Vec<(&str, &str)> = request.query.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(query, vec![("model", "nova-3"), ("smart_format", "true"), ("punctuate", "true"), ("diarize", "true")]);
    let header = |name: &str| request.headers.get(name).and_then(|v| v.to_str().ok()).map(String::from);
    assert_eq!(header("authorization"), Some(format!("Token {KEY}")));
    assert_eq!(header("content-type").as_deref(), Some("audio/wav"));
    assert_eq!(request.body_len, AUDIO.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_errors_become_plugin_errors_the_queue_can_act_on() {
    let fake = fake().await;
    fake.script(AUDIO, Script::from_text("Fine.", 1.0));
    let daemon = daemon(&fake, KEY).await;
    let stt = stt(&daemon);

    fake.push_fault(Fault::Status { status: 429, retry_after: Some(3) });
    match transcribe(&stt, AUDIO).await.expect("no trap") {
        Err(PluginError::RateLimited(limit)) => {
            assert_eq!(limit.retry_after_ms, Some(3_000));
            assert!(limit.message.contains("Too many requests"), "{}", limit.message);
            assert!(limit.message.contains("request 00000000-"), "{}", limit.message);
        }
        other => panic!("expected rate-limited, got {other:?}"),
    }
    fake.push_fault(Fault::Status { status: 503, retry_after: None });
    assert!(matches!(transcribe(&stt, AUDIO).await, Ok(Err(PluginError::Unavailable(m))) if m.contains("try again later")));
    fake.push_fault(Fault::Status { status: 402, retry_after: None });
    assert!(matches!(transcribe(&stt, AUDIO).await, Ok(Err(PluginError::Unauthorized(m))) if m.contains("credits")));
    fake.push_fault(Fault::Truncated);
    assert!(matches!(transcribe(&stt, AUDIO).await, Ok(Err(PluginError::Other(m))) if m.contains("could not read")));
    let unknown = transcribe(&stt, b"bytes the fake has no script for").await;
    assert!(matches!(&unknown, Ok(Err(PluginError::BadInput(m))) if m.contains("corrupt or unsupported data")), "{unknown:?}");
    assert!(matches!(transcribe(&stt, b"").await, Ok(Err(PluginError::BadInput(_)))));
    // After all that, the plugin still works: provider errors are values, not traps.
    assert!(matches!(transcribe(&stt, AUDIO).await, Ok(Ok(t)) if t.words.len() == 1));
    assert_eq!(daemon.get_json("/api/v1/plugins/deepgram-batch").await.expect("view")["health"]["restarts"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_key_is_reported_as_unauthorized() {
    let fake = fake().await;
    fake.script(AUDIO, Script::from_text("Never.", 1.0));
    let daemon = daemon(&fake, "not-the-key").await;
    let outcome = transcribe(&stt(&daemon), AUDIO).await.expect("no trap");
    assert!(matches!(&outcome, Err(PluginError::Unauthorized(m)) if m.contains("Invalid credentials.")), "{outcome:?}");
}
