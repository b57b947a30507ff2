//! `--diarize`: the offline diarizer as users run it, the diarize-local component in the
//! release daemon: diarization error rate on the test mixes, and the time and peak memory for
//! an hour of conversation. Beside it, the same engine built natively (what the wasm sandbox
//! costs).
//!
//! The hour is the two-voice test conversation (two human readers in turns) repeated; its
//! reference turns are known, so the hour's DER is reported too.

use std::time::Instant;

use anyhow::{Context, Result};
use scribe_diarize::cluster::SpeakerCount as Count;
use scribe_diarize::pipeline::{self, Models};
use scribe_tests::conversation::{self, Turn};
use scribe_tests::{Setup, diarizer_model_dir};
use scribed::clients::diarizer::{Diarization, Diarizer, SpeakerCount};
use scribed::clients::stt::AudioInput;
use scribed::plugin::capabilities::work_progress::WorkSink;
use scribed::speakers::parts;

/// The usual collar either side of a reference boundary, ms.
const COLLAR_MS: u64 = 250;
/// Length of the long recording, seconds.
const HOUR_SECONDS: usize = 3600;

fn pcm(audio: &[f32]) -> std::sync::Arc<[u8]> {
    audio.iter().flat_map(|s| ((s * 32768.0).clamp(-32768.0, 32767.0) as i16).to_le_bytes()).collect::<Vec<u8>>().into()
}

fn turns(d: &Diarization) -> Vec<Turn> {
    d.turns.iter().map(|t| Turn { start_ms: t.start_ms, end_ms: t.end_ms, speaker: t.speaker as usize }).collect()
}

/// Peak resident set size of this process so far (Linux `VmHWM`), MiB.
fn peak_rss_mib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    Some(line.split_whitespace().nth(1)?.parse::<u64>().ok()? / 1024)
}

pub async fn run() -> Result<()> {
    let models_dir = diarizer_model_dir();
    let read = |file: &str| std::fs::read(models_dir.join(file)).map_err(|e| e.to_string());
    let native = Models::load(read).context("loading the networks natively")?;
    let two = {
        let a = conversation::human_voice(conversation::TWO_CITIES, &native.vad).await?;
        let b = conversation::human_voice(conversation::ENDGAME, &native.vad).await?;
        conversation::conversation(&[&a, &b], &[0, 1, 0, 1, 0, 1, 0, 1, 0, 1])
    };
    let three = {
        let a = conversation::human_voice(conversation::TWO_CITIES, &native.vad).await?;
        let b = conversation::human_voice(conversation::ENDGAME, &native.vad).await?;
        let c = conversation::synthetic_voice("en-us+m3", &native.vad)?;
        conversation::conversation(&[&a, &b, &c], &[0, 1, 2, 0, 2, 1, 0, 1, 2, 1, 0, 2])
    };
    let hour = conversation::repeated(&two, HOUR_SECONDS);

    let daemon = Setup::new().with_diarizer().start().await?;
    let handle = daemon.daemon.registry().handle("diarize-local").context("diarize-local is loaded")?.clone();
    let diarizer = Diarizer::new(handle.clone())?;
    let component = |audio: &[f32], count: SpeakerCount| {
        let (diarizer, input) = (diarizer.clone(), AudioInput::from_memory(pcm(audio)));
        async move {
            let started = Instant::now();
            let result = parts::diarize(&diarizer, input, count, parts::MIN_PART, WorkSink::new(|_| {})).await?.map_err(|e| anyhow::anyhow!("{e:?}"))?;
            anyhow::Ok((result, started.elapsed()))
        }
    };
    // The first call loads the networks; it is timed apart.
    let (_, load) = component(&two.audio[..conversation::RATE], SpeakerCount::Any).await?;
    println!(
        "diarize-local component (release daemon, wasm, {} instances; recordings of {} min or more run as parts side by side), networks loaded in {:.2} s",
        diarizer.instances(),
        2 * parts::MIN_PART.as_secs() / 60,
        load.as_secs_f64()
    );
    println!("  {:<34} {:>8} {:>9} {:>8} {:>9}", "mix", "audio s", "time s", "RTF", "DER %");
    for (name, talk, count) in [
        ("two human voices", &two, SpeakerCount::Any),
        ("three voices", &three, SpeakerCount::Any),
        ("three voices, count given", &three, SpeakerCount::Exact(3)),
        ("an hour of two voices", &hour, SpeakerCount::Any),
    ] {
        let (result, took) = component(&talk.audio, count).await?;
        let seconds = talk.audio.len() as f64 / conversation::RATE as f64;
        let der = conversation::der(&talk.turns, &turns(&result), COLLAR_MS);
        println!(
            "  {name:<34} {seconds:>8.1} {:>9.2} {:>8.4} {der:>9.1}   speakers {}",
            took.as_secs_f64(),
            took.as_secs_f64() / seconds,
            result.speakers.len()
        );
    }
    let guest = handle.instance_memory().map_or(0, |b| b >> 20);
    println!("  peak guest linear memory: {guest} MiB; peak RSS of the process (daemon and bench): {} MiB", peak_rss_mib().unwrap_or(0));

    // The same engine natively, single-threaded as in the sandbox: what the sandbox costs.
    let started = Instant::now();
    let result = pipeline::diarize(&native, &hour.audio, Count::Any, &mut |_: f32| {})?;
    let took = started.elapsed().as_secs_f64();
    let der = conversation::der(&hour.turns, &result.turns.iter().map(|t| Turn { start_ms: t.start_ms, end_ms: t.end_ms, speaker: t.speaker }).collect::<Vec<_>>(), COLLAR_MS);
    println!("native engine (same code, release, one thread): an hour in {took:.2} s (RTF {:.4}), DER {der:.1} %", took / HOUR_SECONDS as f64);
    daemon.daemon.shutdown().await?;
    Ok(())
}
