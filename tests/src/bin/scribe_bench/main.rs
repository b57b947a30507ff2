//! `cargo xtask bench`: the figures that go into issue notes, measured on the real daemon
//! and components (not timed tests).
//!
//! - start-up to serving, with a cold and with a warm compiled-component cache;
//! - per-call overhead of a plugin call carrying one 20 ms audio frame (640 bytes);
//! - RSS of this process after start-up with all plugins loaded;
//! - with `--audio FILE`: decode + resample speed as a multiple of real time, and the peak
//!   RSS while converting (the output is discarded, as the point is the ingest path);
//! - with `--e2e FILE`: FILE dropped into the inbox of a daemon using the fake Deepgram, timed
//!   to the provider request, to the session's completion and to the file being filed;
//! - with `--whisper FILE [--reference TEXT]`: whisper-local (tiny.en) on FILE, as the wasm
//!   component called on the whole file, as the same code built natively, and through the
//!   daemon (upload, cut at speech, chunks on 1 and 2 instances), side by side with
//!   faster-whisper on the same weights (see [`side_by_side`]): load time, real-time factor,
//!   word error rate, memory; and the speech detector's time per hour of audio;
//! - with `--live`: the live path (see [`live`]);
//! - with `--live-local`: live text with no keys, on human speech (see [`live_local`]);
//! - with `--diarize`: the offline diarizer's error rate on the test mixes, and its time and
//!   memory for an hour of conversation (see [`diarize`]);
//! - with `--summary`: summaries end to end with the fake Anthropic (see [`summary`]);
//! - with `--api`: the OpenAI-compatible API's time beyond its provider's (see [`api`]);
//! - with `--wyoming`: Wyoming time-to-transcript for a voice command, beside
//!   wyoming-faster-whisper (see [`wyoming`]);
//! - with `--search`: search latency and index build over 10,000 sessions, beside SQLite
//!   FTS5 (see [`search`]);
//! - with `--disk`: the cost of one free-space check (see [`disk`]);
//! - with `--backup`: backup and restore of 1,000 generated sessions (see [`backup`]);
//! - with `--cluster`: how soon one node's clients and index see another node's work (see
//!   [`cluster`]).

mod api;
mod backup;
mod cluster;
mod diarize;
mod disk;
mod live;
mod live_local;
mod search;
mod side_by_side;
mod wyoming;
mod summary;

use std::time::{Duration, Instant};

use scribe_tests::fake_deepgram::{FakeDeepgram, Script};
use scribe_tests::process::memory_after;
use scribe_tests::{Events, Setup, rss_bytes};
use scribe_whisper::model::Precision;
use scribe_whisper::transcribe::{Engine, ModelFiles, Samples};
use scribed::clients::stt::{AudioEncoding, AudioFormat, AudioInput, BatchStt};

/// Calls measured after warm-up; enough for a stable p99.
const CALLS: usize = 20_000;
const WARMUP: usize = 500;
const FRAME_BYTES: usize = 640;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(file) = args.iter().position(|a| a == "--audio").and_then(|i| args.get(i + 1)) {
        return audio(std::path::Path::new(file));
    }
    if let Some(file) = args.iter().position(|a| a == "--whisper").and_then(|i| args.get(i + 1)) {
        let reference = match args.iter().position(|a| a == "--reference").and_then(|i| args.get(i + 1)) {
            Some(path) => Some(std::fs::read_to_string(path)?),
            None => None,
        };
        let arg = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
        let parts = Parts { only: arg("--only"), weights: arg("--weights"), texts: arg("--texts") };
        return whisper(std::path::Path::new(file), reference.as_deref(), &parts).await;
    }
    if args.iter().any(|a| a == "--live-local") {
        return live_local::run().await;
    }
    if args.iter().any(|a| a == "--live") {
        return live::run().await;
    }
    if args.iter().any(|a| a == "--search") {
        return search::run();
    }
    if args.iter().any(|a| a == "--diarize") {
        return diarize::run().await;
    }
    if args.iter().any(|a| a == "--api") {
        return api::run().await;
    }
    if args.iter().any(|a| a == "--wyoming") {
        return wyoming::run().await;
    }
    if args.iter().any(|a| a == "--summary") {
        return summary::run().await;
    }
    if args.iter().any(|a| a == "--backup") {
        return backup::run().await;
    }
    if args.iter().any(|a| a == "--cluster") {
        return cluster::run().await;
    }
    if args.iter().any(|a| a == "--disk") {
        return disk::run();
    }
    if let Some(file) = args.iter().position(|a| a == "--e2e").and_then(|i| args.get(i + 1)) {
        return end_to_end(std::path::Path::new(file)).await;
    }
    let cache = tempfile::tempdir()?;
    let setup = || {
        let mut s = Setup::new().with_hostile(&[], "");
        s.config.cache_dir = Some(cache.path().to_path_buf());
        s
    };
    let cold = setup().start().await?;
    let cold_startup = cold.daemon.startup;
    cold.daemon.shutdown().await?;
    let warm = setup().start().await?;
    println!("startup cold cache: {:?}", cold_startup);
    println!("startup warm cache: {:?}", warm.daemon.startup);
    if let Some(rss) = rss_bytes() {
        println!("rss after start (bench process, 5 plugins): {} MiB", rss >> 20);
    }

    let handle = warm.daemon.registry().handle("hostile").cloned().ok_or_else(|| anyhow::anyhow!("hostile missing"))?;
    let stt = BatchStt::new(handle)?;
    let frame = tempfile::NamedTempFile::new()?;
    std::fs::write(frame.path(), [0x55u8; FRAME_BYTES])?;
    let audio = AudioInput::from_path(frame.path())?;
    let format = AudioFormat { encoding: AudioEncoding::Linear16, sample_rate: 16_000, channels: 1 };
    // The guest reads the frame through the `audio` import, as an offline recogniser would.
    let command = Some("read".to_string());
    for _ in 0..WARMUP {
        stt.transcribe(format, audio.clone(), command.clone(), None).await?.map_err(|e| anyhow::anyhow!("{e:?}"))?;
    }
    let mut samples = Vec::with_capacity(CALLS);
    for _ in 0..CALLS {
        let t = Instant::now();
        stt.transcribe(format, audio.clone(), command.clone(), None).await?.map_err(|e| anyhow::anyhow!("{e:?}"))?;
        samples.push(t.elapsed());
    }
    samples.sort();
    let pct = |p: f64| samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)];
    let mean: Duration = samples.iter().sum::<Duration>() / samples.len() as u32;
    println!(
        "plugin call with a 20 ms frame ({FRAME_BYTES} B), {CALLS} calls: mean {mean:?}, p50 {:?}, p99 {:?}",
        pct(0.50),
        pct(0.99)
    );
    warm.daemon.shutdown().await?;
    Ok(())
}

/// Peak resident set size of this process, bytes.
fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    Some(line.split_whitespace().nth(1)?.parse::<u64>().ok()? * 1024)
}

fn audio(path: &std::path::Path) -> anyhow::Result<()> {
    let before = peak_rss().unwrap_or(0);
    let started = Instant::now();
    let mut checksum = 0i64;
    let summary = scribed::audio::convert(path, &mut |chunk| {
        checksum = checksum.wrapping_add(chunk.iter().map(|&s| i64::from(s)).sum::<i64>());
        Ok(())
    })?;
    let elapsed = started.elapsed();
    let audio_secs = summary.duration_ms as f64 / 1000.0;
    println!(
        "convert {} ({}, {} Hz, {} ch, {:.0} s of audio): {:.2?}, {:.0}x real time, peak RSS {} MiB (was {} MiB), checksum {checksum}",
        path.display(),
        summary.codec,
        summary.source_rate,
        summary.source_channels,
        audio_secs,
        elapsed,
        audio_secs / elapsed.as_secs_f64(),
        peak_rss().unwrap_or(0) >> 20,
        before >> 20,
    );
    Ok(())
}

/// whisper-local on `path`, side by side with faster-whisper: the component on the whole
/// file and the same recogniser built natively, each with f32 and 8-bit weights; the daemon's
/// path with 1 and 2 instances; then the daemon's memory with 1, 2 and 4 instances.
async fn whisper(path: &std::path::Path, reference: Option<&str>, parts: &Parts) -> anyhow::Result<()> {
    let pcm = tempfile::NamedTempFile::new()?;
    let mut samples: Vec<i16> = Vec::new();
    let summary = scribed::audio::convert(path, &mut |chunk| {
        samples.extend_from_slice(chunk);
        Ok(())
    })?;
    std::fs::write(pcm.path(), samples.iter().flat_map(|s| s.to_le_bytes()).collect::<Vec<u8>>())?;
    let seconds = summary.duration_ms as f64 / 1000.0;
    println!("{}: {seconds:.1} s of audio", path.display());
    let mut rows = Vec::new();
    let weights: Vec<&str> = ["f32", "q8"].into_iter().filter(|w| parts.weights(w)).collect();
    if parts.wants("wasm") {
        for weights in &weights {
            rows.push(component_row(pcm.path(), summary.duration_ms, weights).await?);
        }
    }
    if parts.wants("native") {
        let samples: Vec<f32> = samples.iter().map(|&s| f32::from(s) / 32768.0).collect();
        for weights in &weights {
            rows.push(native_row(&samples, if *weights == "f32" { Precision::F32 } else { Precision::Q8 })?);
        }
    }
    for instances in [1, 2] {
        if parts.wants("daemon") || parts.wants(&format!("daemon-{instances}")) {
            rows.push(daemon_row(path, instances).await?);
        }
    }
    if parts.wants("faster-whisper") {
        rows.extend(side_by_side::faster_whisper(&scribe_tests::test_model_dir(), path)?);
    }
    side_by_side::print(&rows, seconds, reference);
    if let Some(dir) = &parts.texts {
        side_by_side::save_texts(&rows, std::path::Path::new(dir))?;
    }
    if parts.wants("vad") {
        speech_detector_speed(pcm.path(), seconds)?;
    }
    if parts.wants("memory") {
        daemon_memory(path, &weights).await?;
    }
    Ok(())
}

/// Which parts of the `--whisper` bench run: `--only wasm,native,daemon,faster-whisper,vad,memory`
/// (all by default; `daemon-1` or `daemon-2` for one daemon row) and `--weights f32|q8` (both
/// by default), e.g. to profile one row or to keep an hour's file to the rows that finish;
/// `--texts DIR` keeps each row's transcript there, to see where a WER comes from.
struct Parts {
    only: Option<String>,
    weights: Option<String>,
    texts: Option<String>,
}

impl Parts {
    fn wants(&self, part: &str) -> bool {
        self.only.as_deref().is_none_or(|only| only.split(',').any(|p| p == part))
    }

    fn weights(&self, weights: &str) -> bool {
        self.weights.as_deref().is_none_or(|w| w == weights)
    }
}

/// The component on the whole file, twice (the first call loads the model), with its
/// `weights` setting at `weights`.
async fn component_row(pcm: &std::path::Path, duration_ms: u64, weights: &str) -> anyhow::Result<side_by_side::Row> {
    let mut setup = Setup::new().with_test_model();
    let plugin = setup.config.plugins.get_mut("whisper-local").ok_or_else(|| anyhow::anyhow!("whisper-local missing"))?;
    plugin.instances = Some(1);
    plugin.settings.insert("weights".into(), toml::Value::String(weights.into()));
    let daemon = setup.start().await?;
    let handle = daemon.daemon.registry().handle("whisper-local").cloned().ok_or_else(|| anyhow::anyhow!("whisper-local missing"))?;
    let stt = BatchStt::new(handle.clone())?;
    let format = AudioFormat { encoding: AudioEncoding::Linear16, sample_rate: 16_000, channels: 1 };
    let duration = Some(Duration::from_millis(duration_ms));
    let mut times = Vec::new();
    let mut text = String::new();
    for _ in 0..2 {
        let started = Instant::now();
        let transcript = stt.transcribe(format, AudioInput::from_path(pcm)?, None, duration).await?.map_err(|e| anyhow::anyhow!("{e:?}"))?;
        times.push(started.elapsed());
        text = transcript.words.iter().map(|w| w.punctuated.as_str()).collect::<Vec<_>>().join(" ");
    }
    let memory = handle.instance_memory().unwrap_or(0);
    daemon.daemon.shutdown().await?;
    Ok(side_by_side::Row {
        label: format!("whisper-local (wasm, {weights}), whole file"),
        load_s: times[0].saturating_sub(times[1]).as_secs_f64(),
        transcribe_s: times[1].as_secs_f64(),
        text,
        memory_mib: (memory >> 20) as u64,
    })
}

/// The recogniser built natively, at `precision`; memory is the process's peak so far.
fn native_row(samples: &[f32], precision: Precision) -> anyhow::Result<side_by_side::Row> {
    struct Pcm<'a>(&'a [f32]);
    impl Samples for Pcm<'_> {
        fn len(&self) -> usize {
            self.0.len()
        }
        fn read(&mut self, start: usize, count: usize) -> Result<Vec<f32>, String> {
            let end = (start + count).min(self.0.len());
            Ok(self.0[start.min(end)..end].to_vec())
        }
    }
    let dir = scribe_tests::test_model_dir();
    let started = Instant::now();
    let (bin, config, vocab) = (std::fs::read(dir.join("model.bin"))?, std::fs::read(dir.join("config.json"))?, std::fs::read(dir.join("vocabulary.txt"))?);
    let engine = Engine::load(ModelFiles { model_bin: ("model.bin", &bin), config_json: ("config.json", &config), vocabulary: ("vocabulary.txt", &vocab) }, precision)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    drop(bin);
    let load = started.elapsed();
    let started = Instant::now();
    let transcript = engine.transcribe(&mut Pcm(samples), None, &mut |_| {}).map_err(|e| anyhow::anyhow!("{e}"))?;
    let elapsed = started.elapsed();
    Ok(side_by_side::Row {
        label: format!("whisper-local built natively, {}", if precision == Precision::F32 { "f32" } else { "q8" }),
        load_s: load.as_secs_f64(),
        transcribe_s: elapsed.as_secs_f64(),
        text: transcript.segments.iter().flat_map(|s| s.words.iter().map(|w| w.word.as_str())).collect::<String>(),
        memory_mib: peak_rss().unwrap_or(0) >> 20,
    })
}

/// The memory of the daemon the operator runs (its own process) after transcribing `path`
/// with 1, 2 and 4 instances, sharing the loaded model or not, for both kinds of weights.
async fn daemon_memory(path: &std::path::Path, weights: &[&str]) -> anyhow::Result<()> {
    let work = tempfile::tempdir()?;
    println!("\ndaemon memory after transcribing the file (PSS / VmRSS, MiB; VmRSS counts a shared page once per instance):");
    println!("{:<8} {:>10} {:>20} {:>20}", "weights", "instances", "shared", "each its own");
    for weights in weights {
        // Builds this setting's shared snapshot, so that no measured daemon carries the build.
        memory_after(&work.path().join(format!("{weights}-warm-up")), path, &format!("settings = {{ weights = \"{weights}\" }}")).await;
        for instances in [1, 2, 4] {
            let mut cells = Vec::new();
            for share in [true, false] {
                let lines = format!("instances = {instances}\nshare_model = {share}\nsettings = {{ weights = \"{weights}\" }}");
                let memory = memory_after(&work.path().join(format!("{weights}-{instances}-{share}")), path, &lines).await;
                cells.push(format!("{} / {}", memory.proportional >> 20, memory.resident >> 20));
            }
            println!("{weights:<8} {instances:>10} {:>20} {:>20}", cells[0], cells[1]);
        }
    }
    Ok(())
}

/// The path a user's file takes: uploaded to a daemon whose whisper-local runs `instances`
/// instances, decoded, cut at speech, its chunks transcribed side by side. The first upload
/// loads the model in the instances; the file is then transcribed again on the warm
/// instances (`POST /sessions/{id}/transcribe`), which is the time reported.
async fn daemon_row(path: &std::path::Path, instances: u32) -> anyhow::Result<side_by_side::Row> {
    let mut setup = Setup::new().with_test_model();
    setup.config.plugins.get_mut("whisper-local").ok_or_else(|| anyhow::anyhow!("whisper-local missing"))?.instances = Some(instances);
    let daemon = setup.start().await?;
    let mut events = Events::connect(&daemon).await?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("clip.wav");
    let started = Instant::now();
    let id = daemon.upload(name, std::fs::read(path)?).await?;
    job_complete(&mut events, &id).await?;
    let cold = started.elapsed();
    let started = Instant::now();
    let status = reqwest::Client::new().post(daemon.url(&format!("/api/v1/sessions/{id}/transcribe"))).send().await?.status();
    anyhow::ensure!(status.as_u16() == 202, "re-transcription answered {status}");
    job_complete(&mut events, &id).await?;
    let warm = started.elapsed();
    let words = daemon.get_json(&format!("/api/v1/sessions/{id}/words?limit=10000")).await?;
    let text = words["words"].as_array().map(|w| w.iter().filter_map(|w| w["punctuated"].as_str()).collect::<Vec<_>>().join(" ")).unwrap_or_default();
    let handle = daemon.daemon.registry().handle("whisper-local").cloned().ok_or_else(|| anyhow::anyhow!("whisper-local missing"))?;
    let memory = handle.instance_memory().unwrap_or(0) * instances as usize;
    daemon.daemon.shutdown().await?;
    Ok(side_by_side::Row {
        label: format!("whisper-local, daemon, {instances} instance{}", if instances > 1 { "s" } else { "" }),
        load_s: cold.saturating_sub(warm).as_secs_f64(),
        transcribe_s: warm.as_secs_f64(),
        text,
        memory_mib: (memory >> 20) as u64,
    })
}

/// Waits for session `id`'s job to end, which it must do complete.
async fn job_complete(events: &mut Events, id: &str) -> anyhow::Result<()> {
    let end = events
        .until(Duration::from_secs(4 * 3600), |e| e["type"] == "job" && e["session_id"] == id && (e["status"] == "complete" || e["status"] == "error"))
        .await?;
    anyhow::ensure!(end["status"] == "complete", "{end}");
    Ok(())
}

/// The speech detector's time per hour of audio on this clip.
fn speech_detector_speed(pcm: &std::path::Path, seconds: f64) -> anyhow::Result<()> {
    let model = scribed::speech::Silero::load(&scribe_tests::speech_detector_dir().join(scribed::speech::MODEL_FILE))?;
    let started = Instant::now();
    let chunks = scribed::speech::chunks(&model, pcm, 30 * 16_000, |_| {})?;
    let elapsed = started.elapsed();
    let speech: usize = chunks.iter().map(scribed::speech::Chunk::len).sum();
    println!(
        "speech detector: {elapsed:.2?} for {seconds:.1} s ({:.1} s per hour of audio); {} chunks holding {:.1} s of speech",
        elapsed.as_secs_f64() * 3600.0 / seconds,
        chunks.len(),
        speech as f64 / 16_000.0
    );
    Ok(())
}

/// Speaking rate for the scripted transcript: about 150 words a minute.
const WORDS_PER_SECOND: f64 = 2.5;
/// The inbox's stability window for the run: the shortest the config allows.
const STABLE_SECS: u64 = 1;

async fn end_to_end(path: &std::path::Path) -> anyhow::Result<()> {
    const KEY: &str = "bench-key";
    let seconds = scribed::audio::convert(path, &mut |_| Ok(()))?.duration_ms as f64 / 1000.0;
    let words = ((seconds * WORDS_PER_SECOND) as usize).max(1);
    let text = (0..words).map(|i| if i % 12 == 11 { "word." } else { "word" }).collect::<Vec<_>>().join(" ");
    let fake = FakeDeepgram::loopback(KEY).await;
    fake.default_script(Script::from_text(&text, seconds));
    let mut setup = Setup::new().with_fake_deepgram(&fake, KEY);
    setup.config.inbox.stable_secs = STABLE_SECS;
    let daemon = setup.start().await?;
    let mut events = Events::connect(&daemon).await?;
    let inbox = daemon.daemon.data_dir().join("inbox");
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("bench.flac").to_string();
    // Staged next to the inbox and renamed in, so the copy is not part of the measurement.
    let staged = daemon.daemon.data_dir().join(format!(".{name}"));
    std::fs::copy(path, &staged)?;

    let dropped = Instant::now();
    std::fs::rename(&staged, inbox.join(&name))?;
    fake.wait_for_requests(1).await;
    let requested = dropped.elapsed();
    let complete = events
        .until(Duration::from_secs(3_600), |e| e["type"] == "job" && (e["status"] == "complete" || e["status"] == "error"))
        .await?;
    anyhow::ensure!(complete["status"] == "complete", "the job failed: {complete}");
    let completed = dropped.elapsed();
    events.until(Duration::from_secs(600), |e| e["type"] == "inbox-file" && e["name"] == name.as_str()).await?;
    let filed = dropped.elapsed();
    println!(
        "drop to complete, {name} ({seconds:.0} s of audio, {words} words, stability window {STABLE_SECS} s): \
         provider request after {requested:.2?}, session complete after {completed:.2?}, file in done/ after {filed:.2?}; \
         peak RSS of daemon and fake {} MiB (session {})",
        peak_rss().unwrap_or(0) >> 20,
        complete["session_id"].as_str().unwrap_or_default()
    );
    daemon.daemon.shutdown().await?;
    Ok(())
}
