//! The daemon's Deepgram-compatible pre-recorded API, driven by the official `deepgram-sdk`
//! pointed at the daemon: whisper-local transcribes offline behind `POST /v1/listen`, the
//! answer parses as Deepgram's, and the file becomes a library session.

use scribe_tests::wer::{plain_words, wer};
use scribe_tests::BECKETT;
use serde_json::Value;

/// Word error rate tiny.en reaches on the clip (it heard it word for word when measured).
const MAX_WER: f64 = 15.0;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_deepgram_sdk_transcribes_a_file_through_the_daemon_offline() {
    let (daemon, token, seen) = scribe_tests::client_against_offline_daemon("deepgram_prerecorded.py").await;

    let smart = &seen["smart"];
    let transcript = smart["transcript"].as_str().expect("transcript");
    let heard = wer(&plain_words(BECKETT), &plain_words(transcript));
    assert!(heard <= MAX_WER, "WER {heard:.1} %: {transcript}");
    assert!(transcript.contains('.'), "smart_format keeps the punctuation: {transcript}");
    assert_eq!(smart["models"], serde_json::json!(["whisper-local"]), "nova-3 went to roles.stt_batch");
    let words = smart["words"].as_array().expect("words");
    assert_eq!(words.len(), plain_words(transcript).len());
    assert!(words.iter().all(|w| w["punctuated_word"].is_string() && w["end"].as_f64() >= w["start"].as_f64()), "{words:?}");
    assert!(words.windows(2).all(|w| w[0]["start"].as_f64() <= w[1]["start"].as_f64()));
    assert!(smart["duration"].as_f64().is_some_and(|d| d > 0.0));
    assert!(!smart["utterances"].as_array().expect("utterances").is_empty());
    // Without punctuate or smart_format, Deepgram's transcript is plain lower-case words.
    let plain = seen["plain"]["transcript"].as_str().expect("plain");
    assert_eq!(plain, plain_words(transcript).join(" "));
    assert!(seen["plain"]["utterances"].is_null(), "utterances only when asked");
    assert_eq!(seen["url"]["status"], 400, "{seen}");
    assert!(seen["url"]["body"]["err_msg"].as_str().is_some_and(|m| m.contains("remote")), "{seen}");
    assert_eq!(seen["wrong_token"]["status"], 401);

    // The request id is the library session, made by this API; the same bytes twice are one.
    let id = smart["request_id"].as_str().expect("request id");
    let session = reqwest::Client::new().get(daemon.url(&format!("/api/v1/sessions/{id}"))).bearer_auth(token.expose()).send().await.expect("get");
    let session: Value = session.json().await.expect("json");
    assert_eq!((session["session"]["source"].as_str(), session["session"]["status"].as_str()), (Some("deepgram-api"), Some("complete")), "{session}");
}
