//! The daemon's OpenAI-compatible API, driven by the official `openai` client: whisper-local
//! transcribes offline behind `/v1/audio/transcriptions` in every response format, with word
//! and segment times, streamed; a translation and a wrong token get OpenAI's errors; and the
//! file becomes a library session like an upload.

use scribe_tests::wer::{plain_words, wer};
use scribe_tests::{BECKETT, Setup};
use serde_json::Value;

/// Word error rate tiny.en reaches on the clip (it heard it word for word when measured).
const MAX_WER: f64 = 15.0;
/// A guard against a hung test, not a synchronisation delay.
const LIMIT: std::time::Duration = std::time::Duration::from_secs(300);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_openai_client_transcribes_through_the_daemon_offline() {
    let (daemon, token, seen) = scribe_tests::client_against_offline_daemon("openai_daemon.py").await;

    // The words match the speech, whatever the format.
    let text = seen["json"].as_str().expect("text");
    let said = plain_words(BECKETT);
    let heard = wer(&said, &plain_words(text));
    assert!(heard <= MAX_WER, "WER {heard:.1} %: {text}");
    assert_eq!(seen["plugin"], "whisper-local", "the alias went to roles.stt_batch");
    assert_eq!(seen["text"].as_str().map(str::trim), Some(text));
    assert!(seen["srt"].as_str().is_some_and(|s| s.starts_with("1\n00:00:") && s.contains(" --> ")), "{seen}");
    assert!(seen["vtt"].as_str().is_some_and(|s| s.starts_with("WEBVTT\n\n00:00:")), "{seen}");
    let verbose = &seen["verbose_json"];
    assert_eq!(verbose["text"].as_str(), Some(text));
    let words = verbose["words"].as_array().expect("words");
    assert_eq!(words.len(), plain_words(text).len(), "{verbose}");
    let starts: Vec<f64> = words.iter().map(|w| w["start"].as_f64().expect("start")).collect();
    assert!(starts.windows(2).all(|w| w[0] <= w[1]) && words.iter().all(|w| w["end"].as_f64() >= w["start"].as_f64()), "{words:?}");
    let duration = verbose["duration"].as_f64().expect("duration");
    assert!(starts.last().is_some_and(|s| *s < duration), "{verbose}");
    assert!(!verbose["segments"].as_array().expect("segments").is_empty());
    assert_eq!(verbose["language"], "en", "the language whisper-local heard, though the client named none");
    assert_eq!(seen["stream"]["done"].as_str(), Some(text));
    assert_eq!(seen["stream"]["joined"].as_str(), Some(text), "the deltas add up to the text");
    assert!(seen["stream"]["deltas"].as_u64().is_some_and(|n| n > 1));
    let models = seen["models"].to_string();
    assert!(models.contains("whisper-local") && models.contains("whisper-1"), "{models}");

    assert_eq!(seen["translation"]["status"], 400, "{seen}");
    assert!(seen["translation"]["message"].as_str().is_some_and(|m| m.contains("English only and cannot translate")), "tiny.en: {seen}");
    assert_eq!(seen["granularities_without_verbose"], serde_json::json!({"status": 400, "param": "timestamp_granularities"}));
    assert_eq!(seen["wrong_token"]["status"], 401);

    // One session for the one file, however often it was sent, made by the API.
    let client = reqwest::Client::new();
    let sessions: Value = client.get(daemon.url("/api/v1/sessions")).bearer_auth(token.expose()).send().await.expect("list").json().await.expect("json");
    let sessions = sessions["sessions"].as_array().expect("sessions");
    assert_eq!(sessions.len(), 1, "{sessions:?}");
    assert_eq!((sessions[0]["source"].as_str(), sessions[0]["title"].as_str(), sessions[0]["status"].as_str()), (Some("openai-api"), Some("beckett"), Some("complete")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_hangs_up_loses_nothing() {
    let clip = scribe_tests::human_speech().await.expect("clips");
    let daemon = Setup::new().with_test_model().start().await.expect("daemon starts");
    let mut events = scribe_tests::Events::connect(&daemon).await.expect("events");
    let form = reqwest::multipart::Form::new()
        .text("model", "whisper-1")
        .part("file", reqwest::multipart::Part::bytes(std::fs::read(&clip).expect("clip")).file_name("hangup.wav"));
    let request = reqwest::Client::new().post(daemon.url("/v1/audio/transcriptions")).multipart(form).send();
    let call = tokio::spawn(request);
    // The session exists once the file is in: the client goes away before its answer.
    let queued = events.until(LIMIT, |e| e["type"] == "job" && e["status"] == "queued").await.expect("the job is queued");
    call.abort();
    let id = queued["session_id"].as_str().expect("session").to_string();
    let ended = events.until(LIMIT, |e| e["type"] == "job" && e["session_id"] == id.as_str() && e["status"] != "queued" && e["status"] != "processing").await.expect("the job ends");
    assert_eq!(ended["status"], "complete", "{ended}");
    let words = daemon.stored_words(&id).await.expect("words");
    assert!(wer(&plain_words(BECKETT), &plain_words(&words.join(" "))) <= MAX_WER, "{words:?}");
    let session = daemon.get_json(&format!("/api/v1/sessions/{id}")).await.expect("session");
    assert_eq!((session["session"]["source"].as_str(), session["session"]["title"].as_str()), (Some("openai-api"), Some("hangup")));
}

/// Spanish speech, as `languages.rs` has base transcribe it.
const SPANISH: &str = "Buenos días. Hoy hablamos del tiempo y del tren a Madrid. El tren sale a las ocho de la mañana.";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multilingual_model_translates_spanish_speech_into_english() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wav = dir.path().join("buenos-dias.wav");
    // Slower than espeak's 175 words a minute: base hears the Spanish voice better.
    let spoken = std::process::Command::new("espeak-ng").args(["-v", "es", "-s", "130", "-w"]).arg(&wav).arg(SPANISH).status().expect("espeak-ng");
    assert!(spoken.success());
    let mut setup = Setup::new().with_test_model();
    setup.config.plugins.get_mut("whisper-local").expect("configured").model = Some("base".into());
    setup.config.server.auth = scribed::config::AuthMode::Always;
    let daemon = setup.start().await.expect("daemon starts");
    let token = daemon.daemon.new_token.clone().expect("a token was generated");
    let base = daemon.url("").trim_end_matches('/').to_string();
    let seen = scribe_tests::python_client("openai_translate.py", &[base.as_ref(), token.expose().as_ref(), wav.as_os_str()]).await;

    // English, not Spanish: measured, base reads this voice as "Good morning. Today we talk
    // about the time and the morning. The train goes to ...".
    let text = seen["json"].as_str().expect("text").to_lowercase();
    assert!(text.contains("good morning") && text.contains("today"), "{seen}");
    assert!(!text.contains("buenos") && !text.contains("hoy"), "{seen}");
    let verbose = &seen["verbose_json"];
    assert_eq!(verbose["language"], "english", "the output's language, as OpenAI documents it");
    assert_eq!(verbose["text"].as_str().map(str::to_lowercase).as_deref(), Some(text.as_str()));
    let segments = verbose["segments"].as_array().expect("segments");
    assert!(!segments.is_empty() && segments.iter().all(|s| s["end"].as_f64() >= s["start"].as_f64()), "{verbose}");
    assert!(segments.iter().all(|s| s["end"].as_f64().is_some_and(|e| e <= verbose["duration"].as_f64().unwrap_or_default() + 0.5)), "{verbose}");
    assert!(seen["srt"].as_str().is_some_and(|s| s.starts_with("1\n00:00:") && s.to_lowercase().contains("morning")), "{seen}");

    // One session for the file, and the library keeps what was said, in Spanish.
    let client = reqwest::Client::new();
    let sessions: Value = client.get(daemon.url("/api/v1/sessions")).bearer_auth(token.expose()).send().await.expect("list").json().await.expect("json");
    let sessions = sessions["sessions"].as_array().expect("sessions");
    assert_eq!(sessions.len(), 1, "{sessions:?}");
    let id = sessions[0]["id"].as_str().expect("id");
    let words: Value = client.get(daemon.url(&format!("/api/v1/sessions/{id}/words?limit=5000"))).bearer_auth(token.expose()).send().await.expect("words").json().await.expect("json");
    let words = words["words"].as_array().expect("words").iter().filter_map(|w| w["punctuated"].as_str()).collect::<Vec<_>>().join(" ").to_lowercase();
    assert!(words.contains("buenos") && words.contains("tren"), "the transcript is the Spanish: {words}");
}
