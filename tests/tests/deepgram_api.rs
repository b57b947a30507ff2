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

/// The words of a socket's final `Results`, in order.
fn finals(messages: &[Value]) -> Vec<&Value> {
    messages.iter().filter(|m| m["type"] == "Results" && m["is_final"] == true).collect()
}

fn transcript_of(results: &[&Value]) -> String {
    results.iter().filter_map(|m| m["channel"]["alternatives"][0]["transcript"].as_str()).filter(|t| !t.is_empty()).collect::<Vec<_>>().join(" ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_deepgram_sdk_streams_live_through_the_daemon_offline() {
    let (daemon, token, seen) = scribe_tests::client_against_offline_daemon("deepgram_live.py").await;

    for (run, punctuated) in [("wav", true), ("linear16", false)] {
        let stream = &seen[run];
        assert_eq!(stream["errors"], serde_json::json!([]), "{run}: the socket closed normally: {stream}");
        assert_eq!(stream["closed"], true, "{run}: the daemon closed the socket after CloseStream");
        let messages = stream["messages"].as_array().expect("messages");
        let finals = finals(messages);
        let transcript = transcript_of(&finals);
        let heard = wer(&plain_words(BECKETT), &plain_words(&transcript));
        assert!(heard <= MAX_WER, "{run}: WER {heard:.1} %: {transcript}");
        assert_eq!(transcript.contains('.'), punctuated, "{run}: punctuation only with smart_format: {transcript}");
        for result in &finals {
            let words = result["channel"]["alternatives"][0]["words"].as_array().expect("words");
            assert!(words.iter().all(|w| w["word"].is_string() && w["end"].as_f64() >= w["start"].as_f64()), "{run}: {result}");
            assert_eq!(words.iter().all(|w| w["punctuated_word"].is_string()), punctuated, "{run}: {result}");
        }

        // Finalize is answered, before the second half was sent, by a final from_finalize
        // that ends within the first half.
        let finalized_at = stream["finalized_at"].as_u64().expect("finalized_at") as usize;
        let answer = messages[..finalized_at].iter().find(|m| m["from_finalize"] == true).expect("a from_finalize result");
        assert_eq!(answer["is_final"], true, "{run}: {answer}");
        let half_s = 9.96 / 2.0;
        assert!(answer["start"].as_f64().expect("start") + answer["duration"].as_f64().expect("duration") <= half_s + 0.5, "{run}: {answer}");
        let before: Vec<&Value> = finals.iter().copied().filter(|m| m["start"].as_f64() < Some(half_s)).collect();
        assert!(!transcript_of(&before).is_empty(), "{run}: the first half's words were made final: {stream}");
        // "Try" is where the half ends: the part of it before Finalize is read again with
        // the rest, not lost.
        assert!(plain_words(&transcript).contains(&"try".to_string()), "{run}: {transcript}");

        // Metadata comes last, for the session the audio became.
        let metadata = messages.last().expect("messages");
        assert_eq!(metadata["type"], "Metadata", "{run}: {metadata}");
        assert_eq!(metadata["sha256"], stream["sent_sha256"], "{run}: the hash of the bytes sent");
        assert!((metadata["duration"].as_f64().expect("duration") - 9.96).abs() < 0.1, "{run}: {metadata}");
        let id = metadata["request_id"].as_str().expect("request id");
        assert!(finals.iter().all(|m| m["metadata"]["request_id"] == id), "{run}");
        let session = reqwest::Client::new().get(daemon.url(&format!("/api/v1/sessions/{id}"))).bearer_auth(token.expose()).send().await.expect("get");
        let session: Value = session.json().await.expect("json");
        assert_eq!((session["session"]["source"].as_str(), session["session"]["status"].as_str()), (Some("deepgram-api"), Some("complete")), "{run}: {session}");
        let words = reqwest::Client::new().get(daemon.url(&format!("/api/v1/sessions/{id}/words"))).bearer_auth(token.expose()).send().await.expect("words");
        let words: Value = words.json().await.expect("json");
        let stored = words["words"].as_array().map_or(0, Vec::len);
        assert_eq!(stored, plain_words(&transcript).len(), "{run}: the library keeps the words the client got");
    }
    let wav = seen["wav"]["messages"].as_array().expect("messages");
    assert!(wav.iter().any(|m| m["type"] == "SpeechStarted"), "vad_events");
    assert!(wav.iter().any(|m| m["type"] == "Results" && m["is_final"] == false), "interim_results");
    assert!(wav.iter().any(|m| m["type"] == "UtteranceEnd"), "utterance_end_ms");
    let plain = seen["linear16"]["messages"].as_array().expect("messages");
    assert!(!plain.iter().any(|m| m["type"] == "SpeechStarted" || m["is_final"] == false), "nothing that was not asked for");
    assert_eq!(seen["wrong_token"]["status"], 401);
}
