//! The Wyoming server, driven by the PyPI `wyoming` package's client as Home Assistant drives
//! it: `describe`, a spoken command transcribed by the streaming program (the live role's
//! recogniser) and by a program named in `transcribe`, a malformed event, a peer outside
//! `allowed_clients`, and an utterance kept as a library session when asked.

use std::path::Path;

use scribe_tests::wer::{plain_words, wer};
use scribe_tests::{Setup, TestDaemon};
use serde_json::Value;

/// The command espeak-ng says.
const COMMAND: &str = "Turn on the kitchen lights and set the heating to twenty degrees.";
/// Word error rate tiny.en may make of espeak's voice.
const MAX_WER: f64 = 25.0;

/// A daemon with the test model and the Wyoming server on a free loopback port.
async fn daemon(configure: impl FnOnce(&mut scribed::config::WyomingConfig)) -> TestDaemon {
    let mut setup = Setup::new().with_test_model();
    setup.config.wyoming.listen = Some("127.0.0.1:0".parse().expect("addr"));
    configure(&mut setup.config.wyoming);
    setup.start().await.expect("daemon starts")
}

async fn client(daemon: &TestDaemon, wav: &Path, whole: bool) -> Value {
    let port = daemon.daemon.wyoming_addr().expect("the Wyoming server is on").port().to_string();
    let mut args = vec![port.as_ref(), wav.as_os_str()];
    if whole {
        args.push("whole".as_ref());
    }
    scribe_tests::python_client("wyoming_asr.py", &args).await
}

fn spoken(dir: &Path) -> std::path::PathBuf {
    let wav = dir.join("command.wav");
    let ok = std::process::Command::new("espeak-ng").args(["-v", "en-us", "-w"]).arg(&wav).arg(COMMAND).status().expect("espeak-ng runs").success();
    assert!(ok, "espeak-ng failed");
    wav
}

async fn sessions(daemon: &TestDaemon) -> Vec<Value> {
    let list: Value = reqwest::get(daemon.url("/api/v1/sessions")).await.expect("list").json().await.expect("json");
    list["sessions"].as_array().cloned().unwrap_or_default()
}

fn transcript(events: &Value) -> String {
    let events = events.as_array().expect("events");
    events.iter().find(|e| e["type"] == "transcript").and_then(|e| e["text"].as_str()).unwrap_or_else(|| panic!("no transcript: {events:?}")).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn home_assistant_s_wyoming_client_gets_info_and_transcripts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wav = spoken(dir.path());
    let daemon = daemon(|_| {}).await;
    let seen = client(&daemon, &wav, true).await;

    // Every speech-to-text plugin is a program; the live role's streams and comes first.
    let programs = seen["programs"].as_array().expect("programs");
    assert_eq!((programs[0]["name"].as_str(), programs[0]["streaming"].as_bool()), (Some("whisper-live"), Some(true)), "{seen}");
    assert_eq!(programs[0]["models"], serde_json::json!(["tiny.en"]), "the configured model");
    assert_eq!((programs[0]["languages"].as_u64(), programs[0]["english"].as_bool()), (Some(1), Some(true)), "tiny.en is English only");
    let whole = programs.iter().find(|p| p["name"] == "whisper-local").expect("whisper-local is a program");
    assert_eq!(whole["streaming"], false);

    // Streaming: start, chunks, the transcript (all the chunks' text), stop.
    let streaming = seen["streaming"].as_array().expect("events");
    let kinds: Vec<&str> = streaming.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(kinds.first(), Some(&"transcript-start"), "{kinds:?}");
    assert_eq!(&kinds[kinds.len() - 2..], ["transcript", "transcript-stop"], "{kinds:?}");
    assert!(kinds.contains(&"transcript-chunk"), "{kinds:?}");
    let chunks: Vec<&str> = streaming.iter().filter(|e| e["type"] == "transcript-chunk").filter_map(|e| e["text"].as_str()).collect();
    let text = transcript(&seen["streaming"]);
    assert_eq!(chunks.join(" "), text);
    let heard = wer(&plain_words(COMMAND), &plain_words(&text));
    assert!(heard <= MAX_WER, "streaming: WER {heard:.1} %: {text}");

    // A program named in `transcribe` reads the command whole.
    let text = transcript(&seen["whole"]);
    let heard = wer(&plain_words(COMMAND), &plain_words(&text));
    assert!(heard <= MAX_WER, "whisper-local: WER {heard:.1} %: {text}");
    assert!(!seen["whole"].as_array().expect("events").iter().any(|e| e["type"] == "transcript-chunk"), "it does not stream");

    // A malformed event: an error event, then the connection closes.
    assert_eq!((seen["malformed"]["type"].as_str(), seen["malformed"]["then"].as_str()), (Some("error"), None), "{seen}");
    assert!(seen["malformed"]["text"].as_str().is_some_and(|t| t.contains("malformed")), "{seen}");

    // Voice commands stay out of the library by default.
    assert!(sessions(&daemon).await.is_empty(), "no session was kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wyoming_utterances_are_kept_when_asked_and_unlisted_peers_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wav = spoken(dir.path());
    let keeping = daemon(|w| w.store_sessions = true).await;
    let seen = client(&keeping, &wav, false).await;
    let text = transcript(&seen["streaming"]);
    let kept = sessions(&keeping).await;
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!((kept[0]["source"].as_str(), kept[0]["status"].as_str()), (Some("wyoming"), Some("complete")), "{kept:?}");
    let id = kept[0]["id"].as_str().expect("id");
    let words: Value = reqwest::get(keeping.url(&format!("/api/v1/sessions/{id}/words"))).await.expect("words").json().await.expect("json");
    let stored: Vec<&str> = words["words"].as_array().expect("words").iter().filter_map(|w| w["punctuated"].as_str()).collect();
    assert_eq!(stored.join(" "), text, "the session holds what the client was told");

    let guarded = daemon(|w| w.allowed_clients = vec![scribed::config::ClientNet::try_from("10.0.0.0/8".to_string()).expect("net")]).await;
    let refused = client(&guarded, &wav, false).await;
    assert!(refused["programs"]["error"].as_str().is_some_and(|e| e.contains("allowed_clients")), "{refused}");
}
