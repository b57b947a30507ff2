//! `--api`: how long the daemon's OpenAI-compatible API takes beyond its provider's own time:
//! a client's multipart request → the file streamed to disk → the file job (decode, the
//! library session, the audio stored) → openai-transcribe in the sandbox posting the audio as
//! a form to the fake OpenAI server → the transcript stored → the job's end → the answer
//! rendered. The fake's own time (from the request's arrival to its answer) is subtracted.
//! Files of several lengths, each sent with bytes of its own so none is a duplicate.
//!
//! Then the same with whisper-local (tiny.en) behind the API, offline: the request's time
//! beside whisper-local's own, the same audio decoded and given to the plugin in one call
//! in-process (the API cuts it at pauses instead, so the two readings differ a little).

use std::time::{Duration, Instant};

use anyhow::{Result, ensure};
use scribe_tests::fake_openai::{FakeOpenAi, Mode};
use scribe_tests::{Setup, TestDaemon};
use scribed::clients::stt::{AudioEncoding, AudioFormat, BatchStt};
use scribed::plugin::capabilities::audio::AudioInput;

const KEY: &str = "bench-openai-key";
/// Lengths measured, seconds of 16 kHz mono speech.
const LENGTHS: &[u64] = &[10, 60, 600];
/// Lengths measured with whisper-local, seconds: it reads at about real time on one core.
const LOCAL_LENGTHS: &[u64] = &[10, 60];
/// Requests per length; the median is reported.
const RUNS: usize = 5;
const RATE: usize = 16_000;

/// `seconds` of a spoken sentence repeated with pauses, as a WAV file; `variant` changes one
/// sample, so every file is new to the daemon.
fn speech(utterance: &[f32], seconds: u64, variant: usize) -> Vec<u8> {
    let mut samples = Vec::with_capacity(seconds as usize * RATE);
    while samples.len() < seconds as usize * RATE {
        samples.extend_from_slice(utterance);
        samples.resize(samples.len() + RATE / 2, 0.0);
    }
    samples.truncate(seconds as usize * RATE);
    samples[0] = variant as f32 / 32768.0;
    scribe_tests::conversation::wav(&samples)
}

async fn transcribe(daemon: &TestDaemon, client: &reqwest::Client, wav: Vec<u8>) -> Result<usize> {
    transcribe_with(daemon, client, "whisper-1", wav).await
}

async fn transcribe_with(daemon: &TestDaemon, client: &reqwest::Client, model: &str, wav: Vec<u8>) -> Result<usize> {
    let form = reqwest::multipart::Form::new().text("model", model.to_string()).part("file", reqwest::multipart::Part::bytes(wav).file_name("bench.wav"));
    let response = client.post(daemon.url("/v1/audio/transcriptions")).multipart(form).send().await?;
    ensure!(response.status().is_success(), "transcription: {}", response.status());
    let body: serde_json::Value = response.json().await?;
    Ok(body["text"].as_str().unwrap_or_default().split_whitespace().count())
}

pub async fn run() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let utterance = scribe_tests::conversation::espeak("en-us", "the budget review happens on Thursday morning", dir.path())?;
    let openai = FakeOpenAi::loopback(Some(KEY), Mode::Full).await;
    let daemon = Setup::new().with_fake_openai_transcribe(&openai, "whisper-1", KEY).start().await?;
    let client = reqwest::Client::new();
    // One request first, unmeasured: instantiating the plugin.
    transcribe(&daemon, &client, speech(&utterance, 5, 0)).await?;
    println!("POST /v1/audio/transcriptions through openai-transcribe and the fake OpenAI server, median of {RUNS}:");
    let mut variant = 1;
    for &seconds in LENGTHS {
        let mut totals = Vec::with_capacity(RUNS);
        let mut daemon_shares = Vec::with_capacity(RUNS);
        let mut words = 0;
        for _ in 0..RUNS {
            let wav = speech(&utterance, seconds, variant);
            variant += 1;
            let before = openai.uploads.requests().len();
            let started = Instant::now();
            words = transcribe(&daemon, &client, wav).await?;
            let total = started.elapsed();
            let seen = openai.uploads.requests();
            let finished = openai.uploads.finished();
            let fake: Duration = seen[before..].iter().zip(&finished[before..]).map(|(r, f)| f.duration_since(r.at)).sum();
            totals.push(total);
            daemon_shares.push(total.saturating_sub(fake));
        }
        totals.sort();
        daemon_shares.sort();
        println!(
            "  {seconds:>4} s of audio ({:.1} MB WAV, {words} words): total {:.1?}, excluding the fake {:.1?}",
            (seconds as usize * RATE * 2) as f64 / 1e6,
            totals[RUNS / 2],
            daemon_shares[RUNS / 2]
        );
    }
    daemon.daemon.shutdown().await?;
    local(&utterance).await
}

/// whisper-local's own time for `wav`: decoded, then read in one call on its instance.
async fn plugin_time(stt: &BatchStt, wav: &[u8], dir: &std::path::Path) -> Result<Duration> {
    let path = dir.join("direct.wav");
    std::fs::write(&path, wav)?;
    let mut pcm: Vec<u8> = Vec::new();
    scribed::audio::convert(&path, &mut |chunk| {
        pcm.extend(chunk.iter().flat_map(|s| s.to_le_bytes()));
        Ok(())
    })?;
    let duration = Duration::from_millis(pcm.len() as u64 * 1000 / (2 * RATE as u64));
    let format = AudioFormat { encoding: AudioEncoding::Linear16, sample_rate: RATE as u32, channels: 1 };
    let started = Instant::now();
    let read = stt.transcribe(format, AudioInput::from_memory(pcm.into()), None, Some(duration)).await;
    ensure!(matches!(read, Ok(Ok(_))), "whisper-local failed: {read:?}");
    Ok(started.elapsed())
}

/// The API with whisper-local behind it, beside whisper-local's own time.
async fn local(utterance: &[f32]) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let daemon = Setup::new().with_test_model().start().await?;
    let client = reqwest::Client::new();
    let handle = daemon.daemon.registry().handle("whisper-local").cloned().ok_or_else(|| anyhow::anyhow!("whisper-local is not loaded"))?;
    let stt = BatchStt::new(handle)?;
    // Unmeasured: the model loads, the instance starts.
    transcribe_with(&daemon, &client, "whisper-local", speech(utterance, 5, 0)).await?;
    plugin_time(&stt, &speech(utterance, 5, 0), dir.path()).await?;
    println!("POST /v1/audio/transcriptions with whisper-local (tiny.en) behind it, median of {RUNS}:");
    let mut variant = 1_000;
    for &seconds in LOCAL_LENGTHS {
        let (mut totals, mut own) = (Vec::with_capacity(RUNS), Vec::with_capacity(RUNS));
        for _ in 0..RUNS {
            let wav = speech(utterance, seconds, variant);
            variant += 1;
            let started = Instant::now();
            transcribe_with(&daemon, &client, "whisper-local", wav.clone()).await?;
            totals.push(started.elapsed());
            own.push(plugin_time(&stt, &wav, dir.path()).await?);
        }
        totals.sort();
        own.sort();
        let (total, plugin) = (totals[RUNS / 2], own[RUNS / 2]);
        println!("  {seconds:>4} s of audio: request {total:.2?}, whisper-local alone {plugin:.2?}, difference {:.2?}", total.saturating_sub(plugin));
    }
    daemon.daemon.shutdown().await?;
    Ok(())
}
