//! `--live-local`: live text with no keys, on the daemon's defaults (whisper-live under the
//! host's local policy, the speech detector installed), over the human speech clips of
//! moonshine-voice, each streamed in real time through the ingest socket as a browser does:
//!
//! - how long after a clip's first word starts its first interim and first final text show;
//! - how long after each word ends it first shows, and when it becomes final;
//! - the CPU share of one core while streaming (this process: daemon and sending client);
//! - WER of the live transcript and of whisper-local's batch transcript of the same clip,
//!   against the clip's text where it is known, else against the batch transcript.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use scribe_tests::live::{Ingest, collect, final_words, first_text, has_words};
use scribe_tests::wer::{plain_words, wer};
use scribe_tests::{BECKETT, Events, Setup, TWO_CITIES, TestDaemon};
use serde_json::Value;

/// Frames a browser sends, ms.
const FRAME_MS: u32 = 40;
/// Guard against a hung session.
const LIMIT: Duration = Duration::from_secs(300);
/// A word shown earlier is the same word when it starts this close, ms: readings of more
/// audio move a word's times a little.
const SAME_WORD_MS: u64 = 300;

/// One clip's figures.
struct Clip {
    name: String,
    seconds: f64,
    /// None when the clip only got finals.
    first_interim: Option<Duration>,
    first_final: Duration,
    /// From each final word's end to its first showing and to its final.
    shown: Vec<Duration>,
    finalised: Vec<Duration>,
    cpu_percent: f64,
    live_wer: f64,
    batch_wer: f64,
    /// Words of the text the WERs are against.
    reference_words: usize,
}

fn percentile(samples: &[Duration], p: f64) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort();
    sorted.get(((sorted.len() as f64 * p) as usize).min(sorted.len().saturating_sub(1))).copied().unwrap_or_default()
}

fn p50_p90(samples: &[Duration]) -> String {
    format!("p50 {:.2} s, p90 {:.2} s (n {})", percentile(samples, 0.5).as_secs_f64(), percentile(samples, 0.9).as_secs_f64(), samples.len())
}

/// The clip's text when moonshine-voice's README gives it.
fn known_text(name: &str) -> Option<&'static str> {
    match name {
        "two_cities.wav" => Some(TWO_CITIES),
        "beckett.wav" => Some(BECKETT),
        _ => None,
    }
}

/// whisper-local's words for the clip, uploaded as a file.
async fn batch(daemon: &TestDaemon, name: &str, pcm: &[i16]) -> Result<Vec<String>> {
    let mut events = Events::connect(daemon).await?;
    let id = daemon.upload(name, scribe_tests::corpus::wav(16_000, 1, pcm)).await?;
    let end = events.job_end(&id).await?;
    ensure!(end["status"] == "complete", "batch transcription of {name} failed: {end}");
    Ok(plain_words(&daemon.stored_words(&id).await?.join(" ")))
}

/// A word's text for matching across readings.
fn key(word: &Value) -> String {
    plain_words(word["text"].as_str().unwrap_or_default()).join(" ")
}

/// For each final word, from its end to when a word like it first showed and to its final.
fn word_latencies(seen: &[(Instant, Value)], started: Instant) -> (Vec<Duration>, Vec<Duration>) {
    let (mut shown, mut finalised) = (Vec::new(), Vec::new());
    for (final_at, event) in seen.iter().filter(|(_, e)| has_words(e, true)) {
        for word in event["words"].as_array().into_iter().flatten() {
            let (Some(start), Some(end)) = (word["start_ms"].as_u64(), word["end_ms"].as_u64()) else { continue };
            let said = started + Duration::from_millis(end);
            let first = seen
                .iter()
                .filter(|(_, e)| e["type"] == "transcript")
                .find(|(_, e)| e["words"].as_array().into_iter().flatten().any(|w| key(w) == key(word) && w["start_ms"].as_u64().is_some_and(|s| s.abs_diff(start) <= SAME_WORD_MS)))
                .map_or(*final_at, |(at, _)| *at);
            shown.push(first.saturating_duration_since(said));
            finalised.push(final_at.saturating_duration_since(said));
        }
    }
    (shown, finalised)
}

/// A clip's figures; none when whisper-local hears no words in it (the package's chimes).
async fn clip(daemon: &TestDaemon, path: &std::path::Path) -> Result<Option<Clip>> {
    let name = path.file_name().and_then(|n| n.to_str()).context("clip name")?.to_string();
    let mut pcm = Vec::new();
    scribed::audio::convert(path, &mut |chunk| {
        pcm.extend_from_slice(chunk);
        Ok(())
    })?;
    let batch = batch(daemon, &name, &pcm).await?;
    if batch.is_empty() {
        println!("{name}: no words in a file transcription, skipped");
        return Ok(None);
    }
    let (seen, _, collector) = collect(Events::connect(daemon).await?, LIMIT);
    let base = daemon.url("").trim_end_matches('/').to_string();
    let mut ingest = Ingest::start(&base, 16_000, 1, &name).await?;
    let (cpu0, started) = (super::live::cpu_time().context("cpu time")?, Instant::now());
    ingest.send(&pcm, 16_000, 1, FRAME_MS, true).await?;
    let (cpu, wall) = (super::live::cpu_time().context("cpu time")? - cpu0, started.elapsed());
    let ended = ingest.stop(LIMIT).await?;
    ensure!(ended["status"] == "complete", "the live session of {name} ended {ended}");
    tokio::time::timeout(LIMIT, collector).await??;

    let ours: Vec<(Instant, Value)> = seen.lock().map_err(|_| anyhow::anyhow!("lock"))?.iter().filter(|(_, e)| e["session_id"] == ingest.session_id.as_str()).cloned().collect();
    let (first_interim, first_final) = first_text(&ours, started).context("no final text")?;
    let (shown, finalised) = word_latencies(&ours, started);
    let events: Vec<Value> = ours.into_iter().map(|(_, e)| e).collect();
    let live = plain_words(&final_words(&events).join(" "));
    let reference = known_text(&name).map_or_else(|| batch.clone(), plain_words);
    if live != batch {
        println!("{name}\n  live:  {}\n  batch: {}", live.join(" "), batch.join(" "));
    }
    Ok(Some(Clip {
        name,
        seconds: pcm.len() as f64 / 16_000.0,
        first_interim,
        first_final,
        shown,
        finalised,
        cpu_percent: cpu.as_secs_f64() / wall.as_secs_f64() * 100.0,
        live_wer: wer(&reference, &live),
        batch_wer: wer(&reference, &batch),
        reference_words: reference.len(),
    }))
}

pub async fn run() -> Result<()> {
    let dir = scribe_tests::human_speech().await?.parent().context("clips folder")?.to_path_buf();
    let mut paths: Vec<_> = std::fs::read_dir(&dir)?.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.extension().is_some_and(|x| x == "wav")).collect();
    paths.sort();
    let daemon = Setup::new().with_test_model().start().await?;
    let roles = daemon.get_json("/api/v1/status").await?;
    println!("live role: {}", roles["roles"]["stt_live"]);
    let mut clips = Vec::new();
    for path in &paths {
        let Some(clip) = clip(&daemon, path).await? else { continue };
        println!(
            "{} ({:.1} s): first interim {}, first final {:.2} s after the first word; words shown {}, final {}; CPU {:.0} % of a core; WER live {:.1} %, batch {:.1} %",
            clip.name,
            clip.seconds,
            clip.first_interim.map_or("none".to_string(), |d| format!("{:.2} s", d.as_secs_f64())),
            clip.first_final.as_secs_f64(),
            p50_p90(&clip.shown),
            p50_p90(&clip.finalised),
            clip.cpu_percent,
            clip.live_wer,
            clip.batch_wer
        );
        clips.push(clip);
    }
    let all = |f: fn(&Clip) -> Vec<Duration>| clips.iter().flat_map(f).collect::<Vec<_>>();
    println!("first interim after the first word, over {} clips: {}", clips.len(), p50_p90(&all(|c| c.first_interim.into_iter().collect())));
    println!("first final after the first word: {}", p50_p90(&all(|c| vec![c.first_final])));
    println!("every word, end to first shown: {}", p50_p90(&all(|c| c.shown.clone())));
    println!("every word, end to final: {}", p50_p90(&all(|c| c.finalised.clone())));
    let seconds: f64 = clips.iter().map(|c| c.seconds).sum();
    let cpu = clips.iter().map(|c| c.cpu_percent * c.seconds).sum::<f64>() / seconds.max(f64::EPSILON);
    println!("CPU while streaming, weighted by length: {cpu:.0} % of one core");
    let words = clips.iter().map(|c| c.reference_words as f64).sum::<f64>().max(1.0);
    let weighted = |f: fn(&Clip) -> f64| clips.iter().map(|c| f(c) * c.reference_words as f64).sum::<f64>() / words;
    println!("WER weighted by words: live {:.1} %, batch {:.1} %", weighted(|c| c.live_wer), weighted(|c| c.batch_wer));
    daemon.daemon.shutdown().await?;
    Ok(())
}
