//! Live text with no keys: the default config streams a browser's audio through whisper-live
//! by the host's local policy (LocalAgreement-2), with interim text and finals while the
//! speaker is still talking, and the same words a file transcription would give.

use std::time::{Duration, Instant};

use scribe_tests::live::{Ingest, collect, final_words, first_text, has_words};
use scribe_tests::wer::{plain_words, wer};
use scribe_tests::{Events, Setup, TWO_CITIES, TestDaemon};
use serde_json::Value;

/// Guard against a hung test, not a synchronisation delay.
const LIMIT: Duration = Duration::from_secs(300);
/// How much worse than batch the live transcript may be on an idle machine: the issue's
/// goal. Measured 0.0–0.8 (before invented words were dropped at pauses, up to 3.4).
const IDLE_WER_POINTS: f64 = 3.0;
/// Frames a browser sends, ms.
const FRAME_MS: u32 = 40;

/// The human reading of `two_cities.wav` as 16 kHz mono samples.
async fn two_cities() -> Vec<i16> {
    let clip = scribe_tests::human_speech().await.expect("clips").with_file_name("two_cities.wav");
    let mut samples = Vec::new();
    scribed::audio::convert(&clip, &mut |chunk| {
        samples.extend_from_slice(chunk);
        Ok(())
    })
    .expect("the clip decodes");
    samples
}

/// Both tests time the daemon's answers, and one loads the machine: they take turns.
static MACHINE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Processes that keep every core busy until dropped.
struct CpuHog(Vec<std::process::Child>);

impl CpuHog {
    fn start(processes: usize) -> CpuHog {
        let spawn = || std::process::Command::new("yes").stdout(std::process::Stdio::null()).spawn().expect("yes runs");
        CpuHog((0..processes).map(|_| spawn()).collect())
    }
}

impl Drop for CpuHog {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Words said twice in a row across the transcript that the text does not say twice.
fn doubled(heard: &[String], said: &[String]) -> Vec<String> {
    let said_text = format!(" {} ", said.join(" "));
    let mut found = Vec::new();
    for n in 1..=3 {
        for i in n..=heard.len().saturating_sub(n) {
            if heard[i - n..i] == heard[i..i + n] {
                let repeat = format!(" {} {} ", heard[i - n..i].join(" "), heard[i..i + n].join(" "));
                if !said_text.contains(&repeat) {
                    found.push(repeat.trim().to_string());
                }
            }
        }
    }
    found
}

/// The clip transcribed as a file by whisper-local, then again by whisper-live (any batch
/// plugin can re-transcribe a session), which loads whisper-live's model before the live
/// session is timed. Returns whisper-local's words.
async fn batch_words(daemon: &TestDaemon, pcm: &[i16]) -> Vec<String> {
    let wav = scribe_tests::corpus::wav(16_000, 1, pcm);
    let mut events = Events::connect(daemon).await.expect("events");
    let id = daemon.upload("two_cities.wav", wav).await.expect("upload");
    assert_eq!(events.job_end(&id).await.expect("the job ends")["status"], "complete");
    let words = daemon.stored_words(&id).await.expect("words");
    let redo = reqwest::Client::new()
        .post(daemon.url(&format!("/api/v1/sessions/{id}/transcribe")))
        .json(&serde_json::json!({ "provider": "whisper-live" }))
        .send()
        .await
        .expect("send");
    assert_eq!(redo.status().as_u16(), 202);
    assert_eq!(events.job_end(&id).await.expect("the job ends")["status"], "complete");
    plain_words(&words.join(" "))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyless_live_speech_shows_interim_text_and_finals_while_streaming() {
    let pcm = two_cities().await;
    let _machine = MACHINE.lock().await;
    let daemon = Setup::new().with_test_model().start().await.expect("daemon starts");
    let status = daemon.get_json("/api/v1/status").await.expect("status");
    assert_eq!(status["roles"]["stt_live"]["plugin"], "whisper-live", "{status}");
    let batch = batch_words(&daemon, &pcm).await;

    let (seen, _, collector) = collect(Events::connect(&daemon).await.expect("events"), LIMIT);
    let base = daemon.url("").trim_end_matches('/').to_string();
    let mut ingest = Ingest::start(&base, 16_000, 1, "offline live").await.expect("ingest starts");
    let started = Instant::now();
    ingest.send(&pcm, 16_000, 1, FRAME_MS, true).await.expect("audio streamed in real time");
    let streamed = Instant::now();
    let ended = ingest.stop(LIMIT).await.expect("session ends");
    assert_eq!(ended["status"], "complete", "{:?}", ingest.received);
    tokio::time::timeout(LIMIT, collector).await.expect("the collector ends").expect("collector");

    let ours: Vec<(Instant, Value)> = seen.lock().expect("lock").iter().filter(|(_, e)| e["session_id"] == ingest.session_id.as_str()).cloned().collect();
    let while_streaming = |final_: bool| ours.iter().filter(|(at, e)| *at < streamed && has_words(e, final_)).count();
    let (interims, finals) = (while_streaming(false), while_streaming(true));
    assert!(interims >= 3, "interim text while the speaker talks: {interims} of {ours:?}");
    assert!(finals >= 2, "finals while the speaker talks: {finals}");

    // Latency from the first word's start (on the session's clock) to its first text.
    let (first_interim, first_final) = first_text(&ours, started).expect("final text");
    let first_interim = first_interim.expect("interim text");
    eprintln!("first interim after {first_interim:?}, first final after {first_final:?}; {interims} interims and {finals} finals while streaming");
    // The goals on an idle machine are 2.5 s and 4 s; the bounds leave room for a
    // slower machine and a reading that loops.
    assert!(first_interim <= Duration::from_secs(6), "first interim after {first_interim:?}");
    assert!(first_final <= Duration::from_secs(10), "first final after {first_final:?}");

    // The same words a file transcription gives, none doubled across commits.
    let said = plain_words(TWO_CITIES);
    let events: Vec<Value> = ours.into_iter().map(|(_, e)| e).collect();
    let live = plain_words(&final_words(&events).join(" "));
    let stored = daemon.stored_words(&ingest.session_id).await.expect("words");
    assert_eq!(stored.len(), live.len(), "every final word is stored once");
    let (live_wer, batch_wer) = (wer(&said, &live), wer(&said, &batch));
    eprintln!("WER live {live_wer:.1} %, batch {batch_wer:.1} %\nlive: {}", live.join(" "));
    assert!(live_wer <= batch_wer + IDLE_WER_POINTS, "live WER {live_wer:.1} % against batch {batch_wer:.1} %: {}", live.join(" "));
    let twice = doubled(&live, &said);
    assert!(twice.is_empty(), "doubled across commits: {twice:?} in {}", live.join(" "));
}

/// How long the machine is kept busy, as the issue asks.
const HOG: Duration = Duration::from_secs(20);
/// Busy processes per core: enough that a reading takes several times the longest step.
const HOG_PER_CORE: usize = 16;
/// How much worse than batch the live transcript may be when the load left finals only.
const UNDER_LOAD_WER_POINTS: f64 = 6.0;
/// Wait for the last live words after stop, s (see the busy-machine test).
const FINISH_SECS: u64 = 120;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_machine_gets_finals_only_then_interim_text_again_and_every_word() {
    let clip = two_cities().await;
    let pause = vec![0i16; 16_000];
    // Three readings of the passage: finals only are read at pauses, and the reader pauses
    // only between readings, so interim text comes back at the second pause after the load
    // (two fast readings), with the third reading still to be heard.
    let pcm: Vec<i16> = [&clip[..], &pause, &clip, &pause, &clip].concat();
    let _machine = MACHINE.lock().await;
    let mut setup = Setup::new().with_test_model();
    // The backlog a loaded machine leaves may take longer to read at stop than the default
    // allows (the session would then be finished from the file, as tested elsewhere); here
    // every live word is to be final.
    setup.config.live.finish_timeout_secs = FINISH_SECS;
    let daemon = setup.start().await.expect("daemon starts");
    let batch = batch_words(&daemon, &clip).await;

    let (seen, mut count, collector) = collect(Events::connect(&daemon).await.expect("events"), LIMIT);
    let base = daemon.url("").trim_end_matches('/').to_string();
    let mut ingest = Ingest::start(&base, 16_000, 1, "busy machine").await.expect("ingest starts");
    let session = ingest.session_id.clone();
    let ours = move |e: &Value| e["session_id"] == session.as_str();
    let load = async {
        // The load comes once interim text flows, and stays for HOG.
        count.wait_for(|_| seen.lock().expect("lock").iter().any(|(_, e)| ours(e) && has_words(e, false))).await.expect("events");
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        let hog = CpuHog::start(cores * HOG_PER_CORE);
        let started = Instant::now();
        tokio::time::sleep(HOG).await;
        drop(hog);
        (started, Instant::now())
    };
    let (sent, (hog_started, hog_stopped)) = tokio::join!(ingest.send(&pcm, 16_000, 1, FRAME_MS, true), load);
    sent.expect("audio streamed in real time");
    let ended = ingest.stop(LIMIT).await.expect("session ends");
    assert_eq!(ended["status"], "complete", "{:?}", ingest.received);
    tokio::time::timeout(LIMIT, collector).await.expect("the collector ends").expect("collector");

    let seen: Vec<(Instant, Value)> = seen.lock().expect("lock").iter().filter(|(_, e)| ours(e)).cloned().collect();
    let says = |e: &Value, text: &str| e["type"] == "live" && e["message"].as_str().is_some_and(|m| m.contains(text));
    let finals_only = seen.iter().find(|(_, e)| says(e, "finals only")).cloned();
    let (behind_at, behind) = finals_only.unwrap_or_else(|| panic!("no finals-only event under load: {:?}", seen.iter().filter(|(_, e)| e["type"] == "live").collect::<Vec<_>>()));
    assert_eq!(behind["status"], "behind");
    // The daemon shares the machine with the load, and so does this test's own clock: when
    // the event is seen may lag when it was sent, so only the order is asserted.
    assert!(behind_at > hog_started, "finals only came with the load");
    let back = seen.iter().find(|(at, e)| *at > behind_at && says(e, "interim text again")).map(|(at, _)| *at).expect("interim text comes back after the load");
    assert!(seen.iter().any(|(at, e)| *at > back.max(hog_stopped) && has_words(e, false)), "interim words after the machine recovered");
    assert!(!seen.iter().any(|(at, e)| *at > behind_at && *at < back && has_words(e, false)), "no interim text while finals only");

    // Nothing lost: the recording is every sample sent, every word is final and stored.
    let session = daemon.get_json(&format!("/api/v1/sessions/{}", ingest.session_id)).await.expect("session");
    let recorded = session["session"]["duration_ms"].as_u64().expect("duration");
    let sent_ms = pcm.len() as u64 / 16;
    assert!(recorded.abs_diff(sent_ms) <= u64::from(FRAME_MS), "recorded {recorded} ms of {sent_ms} ms");
    let events: Vec<Value> = seen.iter().map(|(_, e)| e.clone()).collect();
    let live = plain_words(&final_words(&events).join(" "));
    let stored = daemon.stored_words(&ingest.session_id).await.expect("words");
    assert_eq!(stored.len(), live.len(), "every final word is stored once");
    let said = plain_words(&format!("{TWO_CITIES} {TWO_CITIES} {TWO_CITIES}"));
    let (live_wer, batch_wer) = (wer(&said, &live), wer(&plain_words(TWO_CITIES), &batch));
    eprintln!("under load: WER live {live_wer:.1} %, batch {batch_wer:.1} %\nlive: {}", live.join(" "));
    // Finals only, an utterance is read once, whole, and tiny.en may skip one of the novel's
    // repeated phrases where readings that agree would not: the bound is wider than idle.
    assert!(live_wer <= batch_wer + UNDER_LOAD_WER_POINTS, "live WER {live_wer:.1} % against batch {batch_wer:.1} %: {}", live.join(" "));
}
