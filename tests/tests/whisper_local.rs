//! Offline transcription through the real daemon and the real whisper-local component with
//! the real tiny.en model: human speech, espeak speech across the 30 s window boundary,
//! silence, a broken model, and a manifest that grants no network.

use std::path::Path;
use std::process::Command;

use scribe_tests::wer::{plain_words, wer};
use scribe_tests::{BECKETT, Events, Setup, TWO_CITIES, TestDaemon, human_speech, test_model_dir};
use scribed::plugin::bindings::types::PluginError;
use scribed::clients::stt::{AudioEncoding, AudioFormat, AudioInput, BatchStt};

/// Uploads `bytes`, waits for the job and returns the session and its words.
async fn transcribe(daemon: &TestDaemon, name: &str, bytes: Vec<u8>) -> (serde_json::Value, Vec<serde_json::Value>) {
    let mut events = Events::connect(daemon).await.expect("events");
    let id = daemon.upload(name, bytes).await.expect("upload");
    let end = events.job_end(&id).await.expect("job ends");
    let session = daemon.get_json(&format!("/api/v1/sessions/{id}")).await.expect("session");
    assert_eq!(end["status"], "complete", "{end} {session}");
    let words = daemon.get_json(&format!("/api/v1/sessions/{id}/words?limit=1000")).await.expect("words");
    (session, words["words"].as_array().cloned().unwrap_or_default())
}

fn check_times(words: &[serde_json::Value], duration_ms: u64) {
    let mut last_start = 0;
    for w in words {
        let (start, end) = (w["start_ms"].as_u64().expect("start"), w["end_ms"].as_u64().expect("end"));
        assert!(start >= last_start, "word starts are monotonic: {w}");
        assert!(start <= end && end <= duration_ms + 50, "{w} inside 0..{duration_ms} ms");
        last_start = start;
    }
}

/// `sox INPUT… OUT EFFECT…`, returning the file's bytes.
fn sox(inputs: &[&str], out: &Path, effects: &[&str]) -> Vec<u8> {
    let status = Command::new("sox").args(inputs).arg(out).args(effects).status().expect("sox runs");
    assert!(status.success(), "sox {inputs:?} {effects:?}");
    std::fs::read(out).expect("read")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn human_speech_is_transcribed_offline_with_word_times() {
    const SAID: &str = "Ever tried. Ever failed. No matter. Try again. Fail again. Fail better.";
    let clip = human_speech().await.expect("the human speech clip");
    let daemon = Setup::new().with_test_model().start().await.expect("daemon starts");
    let (session, words) = transcribe(&daemon, "beckett.wav", std::fs::read(&clip).expect("clip")).await;
    assert_eq!(session["session"]["provider"], "whisper-local");
    let text: Vec<String> = words.iter().filter_map(|w| w["punctuated"].as_str()).map(String::from).collect();
    let rate = wer(&plain_words(SAID), &plain_words(&text.join(" ")));
    eprintln!("beckett.wav: WER {rate:.1} %: {}", text.join(" "));
    assert!(rate <= 10.0, "WER {rate:.1} %: {text:?}");
    let duration = session["session"]["duration_ms"].as_u64().expect("duration");
    check_times(&words, duration);
    assert!(words.iter().all(|w| w["text"].as_str().is_some_and(|t| !t.is_empty() && t == t.to_lowercase())), "plain words: {words:?}");
    let utterances = session["utterances"].as_array().expect("utterances");
    assert!(!utterances.is_empty(), "segments become utterances: {session}");
}

/// WER, %, of the human clips together, with whisper-local's `weights` setting at `weights`.
async fn human_clips_wer(weights: &str) -> f64 {
    let clips = human_speech().await.expect("clips").with_file_name("");
    let mut setup = Setup::new().with_test_model();
    let plugin = setup.config.plugins.get_mut("whisper-local").expect("whisper-local");
    plugin.settings.insert("weights".into(), toml::Value::String(weights.into()));
    let daemon = setup.start().await.expect("daemon starts");
    let (mut said, mut heard) = (Vec::new(), Vec::new());
    for (clip, text) in [("two_cities.wav", TWO_CITIES), ("beckett.wav", BECKETT)] {
        let (_, words) = transcribe(&daemon, clip, std::fs::read(clips.join(clip)).expect("clip")).await;
        said.extend(plain_words(text));
        heard.extend(words.iter().filter_map(|w| w["text"].as_str()).flat_map(plain_words));
    }
    let rate = wer(&said, &heard);
    eprintln!("weights = {weights}: WER {rate:.1} % on {} words: {}", said.len(), heard.join(" "));
    rate
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_bit_weights_hear_the_human_clips_as_well_as_f32() {
    let (f32_rate, q8_rate) = (human_clips_wer("f32").await, human_clips_wer("q8").await);
    assert!((q8_rate - f32_rate).abs() <= 1.0, "q8 WER {q8_rate:.1} % against f32 {f32_rate:.1} %");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_file_keeps_its_words_across_the_window_boundary_and_silence_stays_empty() {
    let dir = tempfile::tempdir().expect("tempdir");
    let daemon = Setup::new().with_test_model().start().await.expect("daemon starts");

    // 20 s of digital silence: complete, and not a word invented.
    let silence = sox(&["-n", "-r", "16000", "-c", "1"], &dir.path().join("silence.wav"), &["trim", "0", "20"]);
    let (session, words) = transcribe(&daemon, "silence.wav", silence).await;
    assert!(words.is_empty(), "no text from silence: {words:?}");
    assert_eq!(session["session"]["duration_ms"], 20_000);

    // espeak speech, 44.1 kHz stereo FLAC, over 40 s with a sentence across the 30 s mark:
    // the host converts to 16 kHz mono, the plugin seeks by segment.
    let first = "The lighthouse keeper climbed the stairs every evening and lit the great lamp for the ships. \
                 Fishermen far out at sea looked for its beam when the fog rolled in from the north.";
    let second = "In the morning he wrote the weather in a small book, and the book is now in the museum.";
    let (a, b) = (dir.path().join("a.wav"), dir.path().join("b.wav"));
    // At 150 words a minute (espeak's default is 175) tiny.en reads the voice more reliably.
    for (text, path) in [(first, &a), (second, &b)] {
        assert!(Command::new("espeak-ng").args(["-s", "150", "-w"]).arg(path).arg(text).status().expect("espeak-ng").success());
    }
    // a, a pause that puts b's start just before 30 s, b, and a again; 44.1 kHz stereo.
    let gap = (29.0 - sox_seconds(&a)).max(0.5);
    sox(&["-n", "-r", "22050", "-c", "1"], &dir.path().join("gap.wav"), &["trim", "0", &format!("{gap:.2}")]);
    let padded = dir.path().join("padded.flac");
    let parts = [a.clone(), dir.path().join("gap.wav"), b.clone(), a.clone()];
    // No dither: the same input every run, so the recogniser's result is reproducible.
    let status = Command::new("sox").arg("-D").args(&parts).args(["-r", "44100", "-c", "2"]).arg(&padded).status().expect("sox");
    assert!(status.success());
    let total = sox_seconds(&padded);
    assert!(total > 40.0, "{total} s");
    let (session, words) = transcribe(&daemon, "lighthouse.flac", std::fs::read(&padded).expect("flac")).await;
    let heard: Vec<String> = plain_words(&words.iter().filter_map(|w| w["punctuated"].as_str()).collect::<Vec<_>>().join(" "));
    let said = plain_words(&format!("{first} {second} {first}"));
    let rate = wer(&said, &heard);
    eprintln!("espeak {total:.1} s: WER {rate:.1} %: {}", heard.join(" "));
    // This voice is fragile for tiny.en, cut in chunks: measured 22.4 % with f32 weights and
    // 28.2 % with 8-bit ones (23.5 % both, whole); the bound catches a broken recogniser,
    // the boundary words below what this test is for.
    assert!(rate <= 32.0, "WER {rate:.1} %: {heard:?}");
    // The second part, spoken across the boundary, is there: tiny.en misreads a word or
    // three of this voice ("book" as "walk", measured 16 of 19 found); a part lost at a cut
    // or a window's end would take the whole sentence.
    let second_words = plain_words(second);
    let found = second_words.iter().filter(|w| heard.contains(w)).count();
    assert!(found * 10 >= second_words.len() * 8, "{found} of {} boundary words: {heard:?}", second_words.len());
    check_times(&words, session["session"]["duration_ms"].as_u64().expect("duration"));
    assert!(words.last().and_then(|w| w["start_ms"].as_u64()).is_some_and(|s| s > 30_000), "words after 30 s");
}

fn sox_seconds(path: &Path) -> f64 {
    let out = Command::new("soxi").arg("-D").arg(path).output().expect("soxi");
    String::from_utf8_lossy(&out.stdout).trim().parse().expect("seconds")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_transcribe_two_files_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut setup = Setup::new().with_test_model();
    setup.config.plugins.get_mut("whisper-local").expect("configured").instances = Some(2);
    let daemon = setup.start().await.expect("daemon starts");
    let mut events = Events::connect(&daemon).await.expect("events");
    let mut ids = Vec::new();
    for (i, text) in ["Two files at once.", "Another file in parallel."].iter().enumerate() {
        let wav = dir.path().join(format!("{i}.wav"));
        assert!(Command::new("espeak-ng").arg("-w").arg(&wav).arg(text).status().expect("espeak-ng").success());
        ids.push(daemon.upload(&format!("{i}.wav"), std::fs::read(&wav).expect("wav")).await.expect("upload"));
    }
    // Both are being transcribed before either is done.
    let mut processing = std::collections::HashSet::new();
    while processing.len() < 2 {
        let event = events
            .until(std::time::Duration::from_secs(120), |e| e["type"] == "job" && (e["status"] == "processing" || e["status"] == "complete"))
            .await
            .expect("job events");
        assert_eq!(event["status"], "processing", "a job finished before the other started: {event}");
        processing.insert(event["session_id"].as_str().unwrap_or_default().to_string());
    }
    let mut done = std::collections::HashSet::new();
    while done.len() < 2 {
        let end = events
            .until(std::time::Duration::from_secs(120), |e| e["type"] == "job" && (e["status"] == "complete" || e["status"] == "error"))
            .await
            .expect("job ends");
        assert_eq!(end["status"], "complete", "{end}");
        done.insert(end["session_id"].as_str().unwrap_or_default().to_string());
    }
    let mut words = Vec::new();
    for id in &ids {
        let got = daemon.get_json(&format!("/api/v1/sessions/{id}/words")).await.expect("words");
        words.push(got["words"].as_array().map_or(0, Vec::len));
    }
    assert!(words.iter().all(|&n| n >= 3), "both transcribed: {words:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_model_is_a_clear_error_and_the_daemon_carries_on() {
    let data = tempfile::tempdir().expect("tempdir");
    let broken = data.path().join("models/broken.en");
    std::fs::create_dir_all(&broken).expect("dir");
    for file in ["config.json", "vocabulary.txt"] {
        std::fs::copy(test_model_dir().join(file), broken.join(file)).expect("copy");
    }
    // The first megabyte of the real weights: a header that promises more than is there.
    let weights = std::fs::read(test_model_dir().join("model.bin")).expect("model.bin");
    std::fs::write(broken.join("model.bin"), &weights[..1 << 20]).expect("truncated");
    let mut setup = Setup { data_dir: Some(data.path().to_path_buf()), ..Setup::new() };
    setup.config.plugins.get_mut("whisper-local").expect("configured").model = Some("broken.en".into());
    let daemon = setup.start().await.expect("daemon starts");
    let dir = tempfile::tempdir().expect("tempdir");
    // Speech: a file with none never reaches the model.
    let wav = dir.path().join("speech.wav");
    assert!(Command::new("espeak-ng").arg("-w").arg(&wav).arg("The model is broken.").status().expect("espeak-ng").success());
    let mut events = Events::connect(&daemon).await.expect("events");
    let id = daemon.upload("speech.wav", std::fs::read(&wav).expect("wav")).await.expect("upload");
    let end = events.job_end(&id).await.expect("job ends");
    assert_eq!(end["status"], "error", "{end}");
    let session = daemon.get_json(&format!("/api/v1/sessions/{id}")).await.expect("session");
    let error = session["session"]["error"].as_str().unwrap_or_default().to_string();
    assert!(error.contains("broken.en") && error.contains("model.bin") && error.contains("truncated"), "{error}");
    // The daemon still serves, and the plugin is not the worse for it.
    let view = daemon.get_json("/api/v1/plugins/whisper-local").await.expect("plugin view");
    assert_eq!(view["state"], "healthy", "{view}");
}

// Before the cut at speech nothing was invented, but the first word's time stretched over
// the leading silence (start 0 ms, end 20.66 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn speech_between_long_silences_gives_no_invented_words() {
    const SAID: &str = "Ever tried. Ever failed. No matter. Try again. Fail again. Fail better.";
    /// Silence before and after the speech, s: most of a 30 s window each.
    const SILENCE_S: f64 = 20.0;
    /// How far a word's time may fall outside the clip: the clip's own edges are quiet.
    const SLACK_MS: f64 = 500.0;
    let clip = human_speech().await.expect("the human speech clip");
    let dir = tempfile::tempdir().expect("tempdir");
    let padded = dir.path().join("padded.wav");
    let seconds = SILENCE_S.to_string();
    let bytes = sox(&[clip.to_str().expect("path")], &padded, &["pad", &seconds, &seconds]);
    let daemon = Setup::new().with_test_model().start().await.expect("daemon starts");
    let (session, words) = transcribe(&daemon, "padded.wav", bytes).await;
    let text: Vec<String> = words.iter().filter_map(|w| w["punctuated"].as_str()).map(String::from).collect();
    let rate = wer(&plain_words(SAID), &plain_words(&text.join(" ")));
    assert!(rate <= 10.0, "WER {rate:.1} %, nothing invented in the silences: {text:?}");
    let (speech_from, speech_to) = (SILENCE_S * 1000.0, (SILENCE_S + sox_seconds(&clip)) * 1000.0);
    for w in &words {
        let (start, end) = (w["start_ms"].as_f64().expect("start"), w["end_ms"].as_f64().expect("end"));
        assert!(start >= speech_from - SLACK_MS && end <= speech_to + SLACK_MS, "{w} inside the speech ({speech_from}..{speech_to} ms)");
    }
    check_times(&words, session["session"]["duration_ms"].as_u64().expect("duration"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_too_big_for_the_memory_limit_is_refused_before_loading() {
    // An installed `base` (the test model's files under that name: only the size check runs).
    let data = tempfile::tempdir().expect("tempdir");
    let base = data.path().join("models/base");
    std::fs::create_dir_all(&base).expect("dir");
    for file in ["config.json", "vocabulary.txt", "model.bin"] {
        std::fs::copy(test_model_dir().join(file), base.join(file)).expect("copy");
    }
    let mut setup = Setup { data_dir: Some(data.path().to_path_buf()), ..Setup::new() };
    let plugin = setup.config.plugins.get_mut("whisper-local").expect("configured");
    plugin.model = Some("base".into());
    plugin.memory_limit_mb = Some(500);
    let daemon = setup.start().await.expect("daemon starts");
    let view = daemon.get_json("/api/v1/plugins/whisper-local").await.expect("plugin view");
    let problems = view["problems"].to_string();
    assert!(
        problems.contains("plugins.whisper-local.model = \\\"base\\\" needs about 540 MiB per instance")
            && problems.contains("memory_limit_mb allows 500 MiB"),
        "{view}"
    );
    assert_eq!(view["configured"], false, "{view}");
    assert_eq!(view["model"], serde_json::Value::Null, "no model is handed to the plugin: {view}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_manifest_grants_no_network_even_when_the_operator_does() {
    // The hostile plugin under whisper-local's own manifest and default grants tries HTTP:
    // nothing is asked for, nothing granted, nothing sent. (An operator who grants an origin
    // the manifest does not ask for gets a configuration error at start.)
    let server = scribe_tests::recorder::Recorder::start().await.expect("server");
    let manifest = std::fs::read_to_string(scribe_tests::plugins_dir().join("whisper-local/plugin.toml")).expect("manifest");
    assert!(manifest.contains("outbound_hosts = []"), "{manifest}");
    let parsed: toml::Table = toml::from_str(&manifest).expect("manifest parses");
    let extra = format!("model_files = {}", parsed["model_files"]);
    let setup = Setup::new().with_hostile_manifest(&[], &extra, "model = \"tiny.en\"").with_test_model();
    let daemon = setup.start().await.expect("daemon starts");
    let handle = daemon.daemon.registry().handle("hostile").expect("loaded");
    let stt = BatchStt::new(handle.clone()).expect("stt-batch");
    let file = tempfile::NamedTempFile::new().expect("temp");
    std::fs::write(file.path(), [0u8; 640]).expect("write");
    let format = AudioFormat { encoding: AudioEncoding::Linear16, sample_rate: 16_000, channels: 1 };
    let outcome = stt.transcribe(format, AudioInput::from_path(file.path()).expect("audio"), Some(format!("fetch {}", server.url("/"))), None).await;
    match outcome {
        Ok(Err(PluginError::Denied(message))) => assert!(message.contains("manifest"), "{message}"),
        other => panic!("expected a denial, got {other:?}"),
    }
    assert!(server.requests().is_empty(), "nothing reached the server");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_clip_that_overran_its_budget_is_transcribed() {
    // espeak saying "The word is nickel. nickel." (1.79 s) ran past a budget sized for its
    // length on every attempt, and the overruns paused the plugin for every other file.
    let clip = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/audio/whisper-budget-nickel.wav");
    let daemon = Setup::new().with_test_model().start().await.expect("daemon starts");
    let (session, _) = transcribe(&daemon, "nickel.wav", std::fs::read(&clip).expect("fixture")).await;
    assert_eq!(session["session"]["duration_ms"], 1_785, "{session}");
    let plugin = daemon.get_json("/api/v1/plugins/whisper-local").await.expect("plugin");
    assert_eq!(plugin["health"]["budget_timeouts"], 0, "{plugin}");
    assert_eq!(plugin["state"], "healthy", "{plugin}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whisper_live_reads_the_prompt_it_is_given() {
    // espeak saying a name and a word tiny.en has not learnt: alone it hears other words;
    // with the text said before as the prompt (a 0.2.0 request), it spells them.
    let dir = tempfile::tempdir().expect("temp dir");
    let pcm: std::sync::Arc<[u8]> = scribe_tests::live::speech(dir.path(), "name", "Kwabena wrote the Scribed daemon in Rust.", 16_000, 1)
        .into_iter()
        .flat_map(i16::to_le_bytes)
        .collect();
    let daemon = Setup::new().with_test_model().start().await.expect("daemon starts");
    let handle = daemon.daemon.registry().handle("whisper-live").expect("whisper-live is loaded");
    let mut recogniser = BatchStt::new(handle.clone()).expect("stt-batch").dedicated();
    let mut read = async |prompt: Option<&str>| {
        let transcript = recogniser.transcribe(pcm.clone(), None, prompt.map(String::from)).await.expect("the call runs").expect("transcribes");
        transcript.words.iter().map(|w| w.punctuated.as_str()).collect::<Vec<_>>().join(" ")
    };
    let alone = read(None).await;
    assert!(!alone.contains("Kwabena") && !alone.contains("daemon"), "{alone}");
    let told = read(Some("Kwabena. The Scribed daemon.")).await;
    assert!(told.contains("Kwabena") && told.contains("Scribed daemon"), "{told}");
    assert!(plain_words(&told).ends_with(&plain_words("in Rust")), "the audio's words, not the prompt: {told}");
}
