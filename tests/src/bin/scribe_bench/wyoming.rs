//! `--wyoming`: Wyoming time-to-transcript for a 3 s voice command, from `audio-stop` to the
//! `transcript` event, as Home Assistant waits for it. The command (espeak-ng) is sent in
//! chunks of 1,024 samples at the pace a microphone gives them. Measured for the daemon's
//! streaming program (whisper-live) and a program that reads the command whole
//! (whisper-local), both tiny.en, and beside them wyoming-faster-whisper (Home Assistant's
//! own Whisper server) on the same `model.bin`, greedy, on every core, when `cargo xtask bench
//! --wyoming` installed it (`SCRIBE_BENCH_PYTHON`).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use scribe_tests::Setup;
use scribed::wyoming::wire::{self, Event};
use serde_json::json;
use tokio::io::BufReader;
use tokio::net::TcpStream;

/// What the command says.
const COMMAND: &str = "Turn on the kitchen lights";
/// Length of the command with its trailing silence, ms: what a voice satellite sends before
/// its own speech detector ends the command.
const COMMAND_MS: usize = 3_000;
/// Silence after the words in the tight case, ms: a satellite that ends the command early.
const TIGHT_SILENCE_MS: usize = 300;
const RATE: usize = 16_000;
/// Samples per chunk, as Home Assistant sends them.
const CHUNK: usize = 1_024;
/// Commands per program; the median is reported.
const RUNS: usize = 7;
/// Longest wait for a Python server to answer `describe` after it starts.
const SERVER_START: Duration = Duration::from_secs(120);

/// Sends `pcm` as one command to `program` (the server's default when `None`); returns the
/// time from `audio-stop` to the transcript, and its text.
async fn command(addr: SocketAddr, program: Option<&str>, pcm: &[i16]) -> Result<(Duration, String)> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    let format = json!({"rate": RATE, "width": 2, "channels": 1});
    let mut transcribe = json!({"language": "en"});
    if let Some(name) = program {
        transcribe["name"] = name.into();
    }
    wire::write(&mut write, &Event::new("transcribe", transcribe)).await?;
    wire::write(&mut write, &Event::new("audio-start", format.clone())).await?;
    let pace = Duration::from_secs_f64(CHUNK as f64 / RATE as f64);
    let started = Instant::now();
    for (i, chunk) in pcm.chunks(CHUNK).enumerate() {
        let mut event = Event::new("audio-chunk", format.clone());
        event.payload = Some(chunk.iter().flat_map(|s| s.to_le_bytes()).collect());
        wire::write(&mut write, &event).await?;
        // A microphone's pace, not a wait for an event: the audio exists only this fast.
        tokio::time::sleep_until((started + pace * (i as u32 + 1)).into()).await;
    }
    wire::write(&mut write, &Event::new("audio-stop", json!({}))).await?;
    let stopped = Instant::now();
    loop {
        let Some(event) = wire::read(&mut read).await? else { bail!("the server closed the connection") };
        match event.kind.as_str() {
            "transcript" => return Ok((stopped.elapsed(), event.data["text"].as_str().unwrap_or_default().to_string())),
            "error" => bail!("the server answered an error: {:?}", event.data),
            _ => {}
        }
    }
}

/// The median time-to-transcript of [`RUNS`] commands, after one unmeasured.
async fn measure(label: &str, addr: SocketAddr, program: Option<&str>, pcm: &[i16]) -> Result<()> {
    command(addr, program, pcm).await.with_context(|| format!("{label}: the first command"))?;
    let mut times = Vec::with_capacity(RUNS);
    let mut text = String::new();
    for _ in 0..RUNS {
        let (took, heard) = command(addr, program, pcm).await?;
        times.push(took);
        text = heard;
    }
    times.sort();
    let ms = |d: Duration| d.as_millis();
    println!("  {label:<58} median {:>5} ms (fastest {}, slowest {}): {text:?}", ms(times[RUNS / 2]), ms(times[0]), ms(times[RUNS - 1]));
    Ok(())
}

/// wyoming-faster-whisper on a free loopback port, once it answers `describe`.
async fn faster_whisper_server(python: &str, dir: &std::path::Path) -> Result<(tokio::process::Child, SocketAddr)> {
    let addr = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut child = tokio::process::Command::new(python)
        .args(["-m", "wyoming_faster_whisper", "--uri", &format!("tcp://{addr}"), "--language", "en", "--beam-size", "1"])
        .args(["--cpu-threads", &cores.to_string(), "--model"])
        .arg(scribe_tests::test_model_dir())
        .arg("--data-dir")
        .arg(dir)
        .kill_on_drop(true)
        .spawn()
        .context("starting wyoming-faster-whisper")?;
    let deadline = Instant::now() + SERVER_START;
    loop {
        if let Ok(mut stream) = TcpStream::connect(addr).await {
            wire::write(&mut stream, &Event::new("describe", json!({}))).await?;
            if wire::read(&mut BufReader::new(stream)).await?.is_some_and(|e| e.kind == "info") {
                return Ok((child, addr));
            }
        }
        if let Some(status) = child.try_wait()? {
            bail!("wyoming-faster-whisper exited: {status}");
        }
        if Instant::now() > deadline {
            bail!("wyoming-faster-whisper did not answer within {SERVER_START:?}");
        }
        // Polling a port a child process has yet to open: it announces nothing else.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub async fn run() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let speech = scribe_tests::conversation::espeak("en-us", COMMAND, dir.path())?;
    let words: Vec<i16> = speech.iter().map(|s| (s * 32767.0) as i16).collect();
    let with_silence = |ms: usize| {
        let mut pcm = words.clone();
        pcm.resize(ms * RATE / 1000, 0);
        pcm
    };
    let cases = [
        (format!("{} s command", COMMAND_MS / 1000), with_silence(COMMAND_MS)),
        (format!("{TIGHT_SILENCE_MS} ms after the words"), with_silence(words.len() * 1000 / RATE + TIGHT_SILENCE_MS)),
    ];
    let mut setup = Setup::new().with_test_model();
    setup.config.wyoming.listen = Some("127.0.0.1:0".parse()?);
    let daemon = setup.start().await?;
    let addr = daemon.daemon.wyoming_addr().context("the Wyoming server is on")?;
    println!("Wyoming: a command of {} ms of speech sent at a microphone's pace; audio-stop to transcript, {RUNS} runs:", words.len() * 1000 / RATE);
    for (case, pcm) in &cases {
        measure(&format!("scribed, whisper-live (streams), {case}"), addr, None, pcm).await?;
        measure(&format!("scribed, whisper-local (whole), {case}"), addr, Some("whisper-local"), pcm).await?;
    }
    daemon.daemon.shutdown().await?;
    match std::env::var("SCRIBE_BENCH_PYTHON") {
        Ok(python) => {
            let (_server, addr) = faster_whisper_server(&python, dir.path()).await?;
            for (case, pcm) in &cases {
                measure(&format!("wyoming-faster-whisper 3.8.1, {case}"), addr, None, pcm).await?;
            }
        }
        Err(_) => eprintln!("SCRIBE_BENCH_PYTHON is not set: no wyoming-faster-whisper row (cargo xtask bench --wyoming sets it)"),
    }
    Ok(())
}
