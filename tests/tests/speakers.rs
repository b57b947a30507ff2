//! Speakers through the daemon, offline: whisper-local transcribes a conversation of two
//! voices, diarize-local finds who spoke when, the summary's action item gets its owner, and
//! voice profiles name a voice again in a later session.

use std::time::Duration;

use scribe_tests::conversation::{self, Conversation, Voice};
use scribe_tests::fake_anthropic::FakeAnthropic;
use scribe_tests::{Events, Setup, TestDaemon, speech_detector_dir};
use scribed::clients::diarizer::{Diarizer, SpeakerCount};
use scribed::plugin::capabilities::audio::AudioInput;
use scribed::plugin::capabilities::work_progress::WorkSink;
use scribed::speakers::parts;
use scribed::speech::Silero;
use serde_json::Value;

const AN_KEY: &str = "sk-ant-speakers-test-51c2";
/// Guard against a hung test, not a synchronisation delay.
const LIMIT: Duration = Duration::from_secs(300);
/// Share of the words inside a reference turn that must carry that turn's speaker.
const MIN_WORDS_RIGHT: f64 = 0.9;

fn vad() -> Silero {
    Silero::load(&speech_detector_dir().join(scribed::speech::MODEL_FILE)).expect("speech detector")
}

/// Uploads a conversation, waits for its job to end and returns the session id.
async fn transcribe(daemon: &TestDaemon, name: &str, talk: &Conversation) -> String {
    let mut events = Events::connect(daemon).await.expect("events");
    let id = daemon.upload(name, conversation::wav(&talk.audio)).await.expect("upload");
    let end = events.until(LIMIT, |e| e["type"] == "job" && e["session_id"] == id.as_str() && (e["status"] == "complete" || e["status"] == "error")).await.expect("job ends");
    assert_eq!(end["status"], "complete", "{end}");
    id
}

async fn words(daemon: &TestDaemon, id: &str) -> Vec<Value> {
    let words = daemon.get_json(&format!("/api/v1/sessions/{id}/words?limit=5000")).await.expect("words");
    words["words"].as_array().cloned().unwrap_or_default()
}

/// For each reference speaker, the stored speaker most of its words carry; asserts that
/// nearly every word inside a reference turn carries its turn's speaker.
fn speaker_of_each_voice(talk: &Conversation, words: &[Value]) -> Vec<u64> {
    let voices = talk.turns.iter().map(|t| t.speaker).max().map_or(0, |m| m + 1);
    let mut found = Vec::new();
    for voice in 0..voices {
        let inside: Vec<Option<u64>> = words
            .iter()
            .filter(|w| {
                let (start, end) = (w["start_ms"].as_u64().unwrap_or(0), w["end_ms"].as_u64().unwrap_or(0));
                talk.turns.iter().any(|t| t.speaker == voice && start >= t.start_ms && end <= t.end_ms)
            })
            .map(|w| w["speaker"].as_u64())
            .collect();
        assert!(!inside.is_empty(), "voice {voice} has words");
        let mut counts: Vec<(u64, usize)> = Vec::new();
        for s in inside.iter().flatten() {
            match counts.iter_mut().find(|(x, _)| x == s) {
                Some((_, n)) => *n += 1,
                None => counts.push((*s, 1)),
            }
        }
        let (speaker, right) = counts.into_iter().max_by_key(|(_, n)| *n).expect("a speaker");
        assert!(right as f64 >= MIN_WORDS_RIGHT * inside.len() as f64, "voice {voice}: {right} of {} words carry speaker {speaker}: {inside:?}", inside.len());
        found.push(speaker);
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conversation_gets_two_speakers_and_its_action_item_the_right_owner() {
    let vad = vad();
    let human = conversation::human_voice(conversation::TWO_CITIES, &vad).await.expect("clip");
    let synthetic = conversation::synthetic_voice("en-us+m3", &vad).expect("espeak");
    let talk = conversation::conversation(&[&human, &synthetic], &[0, 1, 0, 1, 0, 1]);
    let anthropic = FakeAnthropic::loopback(AN_KEY).await;
    let daemon = Setup::new().with_test_model().with_diarizer().with_fake_anthropic(&anthropic, AN_KEY).start().await.expect("daemon starts");
    let mut events = Events::connect(&daemon).await.expect("events");
    let id = transcribe(&daemon, "meeting.wav", &talk).await;

    let session = daemon.get_json(&format!("/api/v1/sessions/{id}")).await.expect("session");
    let versions = session["versions"].as_array().expect("versions");
    assert_eq!(versions.len(), 2, "the recogniser's version stays beside the one with speakers: {versions:?}");
    assert_eq!(versions[0]["provider"], "whisper-local");
    assert_eq!(versions[1]["provider"], "whisper-local+diarize-local");
    let stored = words(&daemon, &id).await;
    let speakers = speaker_of_each_voice(&talk, &stored);
    assert_ne!(speakers[0], speakers[1], "two voices, two speakers");
    let distinct: std::collections::BTreeSet<u64> = stored.iter().filter_map(|w| w["speaker"].as_u64()).collect();
    assert_eq!(distinct.len(), 2, "{distinct:?}");
    let utterances = session["utterances"].as_array().expect("utterances");
    assert!(utterances.iter().all(|u| u["speaker"].as_u64().is_some()), "every utterance has a speaker");

    // The summary waited for the speakers: the promise is the synthetic voice's.
    let summary = events
        .until(LIMIT, |e| e["type"] == "summary" && e["session_id"] == id.as_str() && ["complete", "error", "empty"].contains(&e["status"].as_str().unwrap_or("")))
        .await
        .expect("summary");
    assert_eq!(summary["status"], "complete", "{summary}");
    let items = summary["summary"]["action_items"].as_array().expect("action items");
    let promise = items.iter().find(|i| i["text"].as_str().is_some_and(|t| t.to_lowercase().contains("send the notes"))).expect("the promise is an action item");
    assert_eq!(promise["owner"], format!("Speaker {}", speakers[1] + 1), "{items:?}");
}

/// Largest diarization error rate accepted on human voices, percent (as for the engine).
const MAX_DER: f64 = 10.0;
/// Time either side of a reference turn's edges left out of the error rate.
const COLLAR_MS: u64 = 250;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_recording_runs_as_parts_on_two_instances_and_its_speakers_are_linked() {
    let vad = vad();
    let a = conversation::human_voice(conversation::TWO_CITIES, &vad).await.expect("clip");
    let b = conversation::human_voice(conversation::ENDGAME, &vad).await.expect("clip");
    // Three rounds of the same two readers: each part hears both.
    let talk = conversation::repeated(&conversation::conversation(&[&a, &b], &[0, 1, 0, 1, 0, 1, 0, 1, 0, 1]), 150);
    let mut setup = Setup::new().with_diarizer();
    setup.config.plugins.get_mut("diarize-local").expect("diarize-local is configured").instances = Some(2);
    let daemon = setup.start().await.expect("daemon starts");
    let handle = daemon.daemon.registry().handle("diarize-local").expect("diarize-local is loaded").clone();
    let diarizer = Diarizer::new(handle).expect("a diarizer");
    assert_eq!(diarizer.instances(), 2);
    let pcm: Vec<u8> = talk.audio.iter().flat_map(|s| ((s * 32768.0).clamp(-32768.0, 32767.0) as i16).to_le_bytes()).collect();
    let reported = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = {
        let reported = reported.clone();
        WorkSink::new(move |f| reported.lock().expect("progress").push(f))
    };
    // Parts of at least a minute: two of 77 s, side by side.
    let found = parts::diarize(&diarizer, AudioInput::from_memory(pcm.into()), SpeakerCount::Any, Duration::from_secs(60), sink)
        .await
        .expect("the sandbox call")
        .expect("a diarization");
    assert_eq!(found.speakers.len(), 2, "each reader is one speaker across both parts: {:?}", found.turns);
    let hypothesis: Vec<conversation::Turn> = found.turns.iter().map(|t| conversation::Turn { start_ms: t.start_ms, end_ms: t.end_ms, speaker: t.speaker as usize }).collect();
    let der = conversation::der(&talk.turns, &hypothesis, COLLAR_MS);
    assert!(der <= MAX_DER, "DER {der:.1} %");
    let reported = reported.lock().expect("progress").clone();
    // One figure for both parts: it only grows, to the end (each part's own would run from
    // 0 to 1 twice).
    assert!(reported.len() > 2 && reported.windows(2).all(|w| w[0] <= w[1]), "progress of both parts together: {reported:?}");
    assert_eq!(reported.last(), Some(&1.0), "{reported:?}");
}

/// Renames `speaker` of session `id` to `name`.
async fn name_speaker(daemon: &TestDaemon, id: &str, speaker: u64, name: &str) {
    let response = reqwest::Client::new()
        .put(daemon.url(&format!("/api/v1/sessions/{id}/speakers/{speaker}")))
        .json(&serde_json::json!({ "name": name }))
        .send()
        .await
        .expect("rename");
    assert_eq!(response.status().as_u16(), 204);
}

/// The session's speakers as the API lists them: (number, name, recognised).
async fn names(daemon: &TestDaemon, id: &str) -> Vec<(u64, Option<String>, bool)> {
    let session = daemon.get_json(&format!("/api/v1/sessions/{id}")).await.expect("session");
    session["speakers"]
        .as_array()
        .expect("speakers")
        .iter()
        .map(|s| (s["speaker"].as_u64().unwrap_or(0), s["name"].as_str().map(String::from), s["voice"]["recognised"] == true))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_named_voice_is_recognised_in_a_later_session_until_it_is_forgotten() {
    let vad = vad();
    // The reader's recording in two halves: session A hears the first, B and C the second.
    let whole = conversation::human_voice(conversation::TWO_CITIES, &vad).await.expect("clip");
    let half = whole.phrases.len() / 2;
    let reader = Voice { audio: whole.audio.clone(), phrases: whole.phrases[..half].to_vec() };
    let same_reader = Voice { audio: whole.audio, phrases: whole.phrases[half..].to_vec() };
    let other = conversation::human_voice(conversation::ENDGAME, &vad).await.expect("clip");
    let synthetic = conversation::synthetic_voice("en-us+m3", &vad).expect("espeak");
    let daemon = Setup::new().with_test_model().with_diarizer().start().await.expect("daemon starts");

    // Session A: the reader and a synthetic voice; the reader is named.
    let a_talk = conversation::conversation(&[&reader, &synthetic], &[0, 1, 0, 1]);
    let a = transcribe(&daemon, "a.wav", &a_talk).await;
    let a_speakers = speaker_of_each_voice(&a_talk, &words(&daemon, &a).await);
    name_speaker(&daemon, &a, a_speakers[0], "Charles").await;
    let profiles = daemon.get_json("/api/v1/speakers").await.expect("profiles");
    assert_eq!(profiles["profiles"][0]["name"], "Charles");
    assert_eq!(profiles["profiles"][0]["sessions"], 1);
    assert!(profiles["profiles"][0].get("embedding").is_none(), "embeddings are never exported");

    // Session B: the same reader in another part of the recording, and another voice.
    let b_talk = conversation::conversation(&[&same_reader, &other], &[0, 1, 0, 1]);
    let b = transcribe(&daemon, "b.wav", &b_talk).await;
    let b_speakers = speaker_of_each_voice(&b_talk, &words(&daemon, &b).await);
    let b_names = names(&daemon, &b).await;
    let reader_b = b_names.iter().find(|(n, ..)| *n == b_speakers[0]).expect("the reader");
    assert_eq!((reader_b.1.as_deref(), reader_b.2), (Some("Charles"), true), "{b_names:?}");
    let other_b = b_names.iter().find(|(n, ..)| *n == b_speakers[1]).expect("the other voice");
    assert_eq!(other_b.1, None, "a different voice is not given the name: {b_names:?}");

    // The enrolment was wrong after all: forgotten, the profile (of one voice) is gone.
    let forgot = reqwest::Client::new()
        .post(daemon.url(&format!("/api/v1/sessions/{a}/speakers/{}/forget", a_speakers[0])))
        .send()
        .await
        .expect("forget");
    assert_eq!(forgot.status().as_u16(), 204);
    let profiles = daemon.get_json("/api/v1/speakers").await.expect("profiles");
    assert_eq!(profiles["profiles"], serde_json::json!([]));
    let again = reqwest::Client::new()
        .post(daemon.url(&format!("/api/v1/sessions/{a}/speakers/{}/forget", a_speakers[0])))
        .send()
        .await
        .expect("forget again");
    assert_eq!(again.status().as_u16(), 409, "nothing left to forget");

    // Session C, the same voices in another order: nobody is named now.
    let c_talk = conversation::conversation(&[&same_reader, &other], &[1, 0, 1, 0]);
    let c = transcribe(&daemon, "c.wav", &c_talk).await;
    assert!(names(&daemon, &c).await.iter().all(|(_, name, _)| name.is_none()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_session_is_diarized_when_it_ends() {
    let vad = vad();
    let human = conversation::human_voice(conversation::TWO_CITIES, &vad).await.expect("clip");
    let synthetic = conversation::synthetic_voice("en-us+m3", &vad).expect("espeak");
    let talk = conversation::conversation(&[&human, &synthetic], &[0, 1, 0]);
    let pcm: Vec<i16> = talk.audio.iter().map(|s| (s * 32768.0).clamp(-32768.0, 32767.0) as i16).collect();
    let daemon = Setup::new().with_test_model().with_diarizer().start().await.expect("daemon starts");
    let mut events = Events::connect(&daemon).await.expect("events");
    let mut ingest = scribe_tests::live::Ingest::start(&daemon.url(""), 16_000, 1, "live meeting").await.expect("ingest");
    ingest.send(&pcm, 16_000, 1, 40, true).await.expect("audio sent");
    let ended = ingest.stop(LIMIT).await.expect("session ends");
    let id = ingest.session_id.clone();
    // A recogniser that fell behind has the recording transcribed as a file: that path
    // finds the speakers too.
    if ended["status"] == "queued" {
        events.job_end(&id).await.expect("job ends");
    }
    let session = daemon.get_json(&format!("/api/v1/sessions/{id}")).await.expect("session");
    let newest = session["versions"].as_array().and_then(|v| v.last()).cloned().unwrap_or_default();
    assert!(newest["provider"].as_str().is_some_and(|p| p.ends_with("+diarize-local")), "{newest}");
    let speakers = speaker_of_each_voice(&talk, &words(&daemon, &id).await);
    assert_ne!(speakers[0], speakers[1], "two voices, two speakers");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_diarizer_model_keeps_the_transcript_and_names_the_file() {
    let data = tempfile::tempdir().expect("tempdir");
    let broken = data.path().join("models/broken-speakers");
    std::fs::create_dir_all(&broken).expect("dir");
    let installed = scribe_tests::diarizer_model_dir();
    for file in ["campplus_cn_en_common.pt", scribed::speech::MODEL_FILE] {
        std::fs::copy(installed.join(file), broken.join(file)).expect("copy");
    }
    // Half of the segmentation checkpoint: its zip directory is gone.
    let weights = std::fs::read(installed.join("pytorch_model.bin")).expect("weights");
    std::fs::write(broken.join("pytorch_model.bin"), &weights[..weights.len() / 2]).expect("truncated");
    let mut setup = Setup { data_dir: Some(data.path().to_path_buf()), ..Setup::new().with_test_model() };
    setup.config.plugins.get_mut("diarize-local").expect("configured").model = Some("broken-speakers".into());
    let daemon = setup.start().await.expect("daemon starts");

    let vad = vad();
    let human = conversation::human_voice(conversation::TWO_CITIES, &vad).await.expect("clip");
    let talk = conversation::conversation(&[&human], &[0]);
    let mut events = Events::connect(&daemon).await.expect("events");
    let id = daemon.upload("speech.wav", conversation::wav(&talk.audio)).await.expect("upload");
    let end = events.job_end(&id).await.expect("job ends");
    assert_eq!(end["status"], "complete", "the transcript is kept: {end}");
    let message = end["message"].as_str().unwrap_or_default();
    assert!(message.contains("speakers are unknown") && message.contains("pytorch_model.bin"), "{message}");
    let session = daemon.get_json(&format!("/api/v1/sessions/{id}")).await.expect("session");
    assert_eq!(session["versions"].as_array().map(Vec::len), Some(1), "{session}");
    let stored = words(&daemon, &id).await;
    assert!(!stored.is_empty() && stored.iter().all(|w| w["speaker"].is_null()), "words without speakers");
    let view = daemon.get_json("/api/v1/plugins/diarize-local").await.expect("plugin view");
    assert_eq!(view["state"], "healthy", "{view}");
}
